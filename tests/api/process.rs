//! The real binary as an operator runs it: configuration errors stop it with a clear
//! message, and SIGTERM drains in-flight requests before it exits.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::os::unix::ffi::OsStrExt as _;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens};

/// The binary with an environment of its own, so a variable set on the developer's machine
/// cannot change what a test sees; only what a coverage run needs is passed through.
pub fn portico() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portico"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command.envs(std::env::vars_os().filter(|(name, _)| is_coverage_variable(name)));
    command
}

/// What `cargo llvm-cov` sets for the processes it measures. Without `LLVM_PROFILE_FILE`
/// an instrumented binary writes `default_*.profraw` into its working directory (the
/// repository root) and its lines are missing from the report.
fn is_coverage_variable(name: &OsStr) -> bool {
    name == "LLVM_PROFILE_FILE" || name.as_bytes().starts_with(b"CARGO_LLVM_COV")
}

#[test]
fn a_bad_configuration_stops_the_binary_naming_every_bad_variable() {
    let output = portico()
        .env("PORTICO_BIND", "not-an-address")
        .env("JWT_SECRET", "short")
        .env("BCRYPT_COST", "99")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    for variable in ["PORTICO_BIND", "JWT_SECRET", "BCRYPT_COST"] {
        assert!(
            message.contains(variable),
            "{variable} not named in {message}"
        );
    }
}

#[test]
fn a_secret_that_is_not_utf8_stops_the_binary_instead_of_being_replaced() {
    // Taken for unset, this secret would silently become a random one for the run.
    let secret = OsStr::from_bytes(b"0123456789abcdef\xff0123456789abcdef");
    let output = portico()
        .env("JWT_SECRET", secret)
        // Should the secret be let through, this database URL still stops start-up (it
        // is refused with the configuration) instead of leaving the binary serving and
        // the test waiting for ever.
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("JWT_SECRET: is not valid UTF-8"),
        "JWT_SECRET not named in {message}"
    );
    assert!(
        !message.contains("0123456789abcdef"),
        "secret echoed in {message}"
    );
}

/// Runs the binary to its end, which must come within a few seconds: one that serves
/// instead of stopping is killed, and the test fails rather than waits for ever.
fn run_to_exit(command: &mut Command) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!(
                "the binary kept running: {:?}",
                child.wait_with_output().unwrap()
            );
        }
        std::thread::park_timeout(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The binary's error lines, when it stopped with `output`.
fn error_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "ERROR")
        .collect()
}

#[test]
fn a_database_that_cannot_be_opened_stops_the_binary_saying_so() {
    // A missing folder is made; one whose place is taken by a file cannot be.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("a-file"), b"").unwrap();
    let output = run_to_exit(portico().env("PORTICO_BIND", "127.0.0.1:0").env(
        "DATABASE_URL",
        format!(
            "sqlite://{}",
            folder.path().join("a-file/portico.db").display()
        ),
    ));
    assert_eq!(output.status.code(), Some(1));
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("cannot open the database")),
        "{errors:?}"
    );
}

#[test]
fn an_address_already_in_use_stops_the_binary_saying_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let folder = tempfile::tempdir().unwrap();
    let output = run_to_exit(
        portico()
            .env("PORTICO_BIND", taken.local_addr().unwrap().to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", folder.path().join("portico.db").display()),
            ),
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = error_lines(&output);
    assert!(
        errors.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|message| message.contains("cannot listen on the configured address"))),
        "{errors:?}"
    );
}

/// Starts the binary and waits for the log line that gives its address; the rest of
/// its log arrives on the returned channel, line by line.
pub fn serve(
    folder: &std::path::Path,
    extra: &[(&str, &str)],
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let database = format!("sqlite://{}", folder.join("portico.db").display());
    let mut command = portico();
    command
        .env("PORTICO_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", database)
        .env("SHUTDOWN_GRACE", "10s")
        .stdout(Stdio::piped());
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .find_map(|line| {
            (line["message"] == "portico is serving")
                .then(|| line["address"].as_str().map(str::to_owned))
        })
        .flatten()
        .unwrap();
    // Keep draining the log so the child never blocks on a full pipe.
    let (log, rest) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = log.send(line);
        }
    });
    (child, format!("http://{address}"), rest)
}

#[tokio::test]
async fn the_binary_deletes_ended_sessions_in_the_background() {
    let folder = tempfile::tempdir().unwrap();
    let (mut child, address, log) = serve(
        folder.path(),
        &[
            ("SESSION_PRUNE_INTERVAL", "1s"),
            ("BCRYPT_COST", "4"),
            ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ],
    );
    let app = crate::helpers::TestApp::remote(address);
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(app.logout(&tokens.refresh).await.status(), 204);

    // The ended session's rows go at the next pass, which says how many went.
    let pruned = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = log.recv_timeout(left) else {
                return None;
            };
            let Ok(line) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if line["message"] == "pruned expired and revoked sessions" {
                return line["rows"].as_u64();
            }
        }
    })
    .await
    .unwrap();
    // Stopped as an operator would, so that it exits through its own shutdown.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());
    assert!(
        pruned.is_some_and(|rows| rows >= 1),
        "no pass reported the ended session: {pruned:?}"
    );
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_login_finish_then_stops_serving() {
    drains_an_in_flight_login_on("-TERM").await;
}

#[tokio::test]
async fn sigint_drains_just_like_sigterm() {
    drains_an_in_flight_login_on("-INT").await;
}

async fn drains_an_in_flight_login_on(signal: &str) {
    let folder = tempfile::tempdir().unwrap();
    // A costly hash makes the login slow enough to be in flight when the signal lands.
    let (mut child, address, log) = serve(
        folder.path(),
        &[
            ("BCRYPT_COST", "13"),
            ("RUST_LOG", "info,portico_web=debug"),
        ],
    );
    let client = reqwest::Client::new();
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});
    let registered = client
        .post(format!("{address}/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!("{address}/login");
        async move { client.post(url).json(&credentials).send().await }
    });
    // Signal only once the server has the request in hand.
    let started = tokio::task::spawn_blocking(move || {
        log.iter()
            .any(|line| line.contains("request started") && line.contains("/login"))
    })
    .await
    .unwrap();
    assert!(started, "the server never logged the login's start");
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "in-flight login after {signal}");
    let tokens = Tokens::from_body(&response.json().await.unwrap());
    assert!(!tokens.access.is_empty());

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(
        client
            .get(format!("{address}/health/live"))
            .send()
            .await
            .is_err()
    );
}
