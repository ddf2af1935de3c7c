//! A load driver for a running Portico: floods `POST /login` and reads `GET /users/me`
//! at the same time, then prints throughput, latency percentiles and status counts per
//! route. It shows whether a login storm (bcrypt-bound) stalls unrelated requests.
//!
//! ```sh
//! RATE_LIMIT_ENABLED=false cargo run --release &
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --seconds 10 \
//!     --login-clients 64 --me-clients 16
//! ```
//! Every loop is bounded by `--seconds`; the driver only talks to the URL it is given.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

/// What one request of a route gave.
struct Sample {
    latency: Duration,
    status: u16,
}

#[derive(Debug)]
struct Options {
    url: String,
    seconds: u64,
    login_clients: usize,
    me_clients: usize,
}

fn options() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        seconds: 10,
        login_clients: 64,
        me_clients: 16,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => options.url = value,
            "--seconds" => options.seconds = value.parse().expect("--seconds N"),
            "--login-clients" => options.login_clients = value.parse().expect("--login-clients N"),
            "--me-clients" => options.me_clients = value.parse().expect("--me-clients N"),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

/// Sends `request()` in a loop until `deadline`, recording each answer.
async fn hammer<F, Fut>(deadline: Instant, mut request: F) -> Vec<Sample>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let status = match request().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status
            }
            Err(_) => 0,
        };
        samples.push(Sample {
            latency: started.elapsed(),
            status,
        });
    }
    samples
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[rank]
}

fn report(route: &str, samples: &[Sample], elapsed: Duration) {
    let mut latencies: Vec<Duration> = samples.iter().map(|sample| sample.latency).collect();
    latencies.sort_unstable();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for sample in samples {
        *statuses.entry(sample.status).or_default() += 1;
    }
    let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
    println!(
        "| {route} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {statuses:?} |",
        samples.len(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

#[tokio::main]
async fn main() {
    let options = options();
    let client = Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let email = format!("load-{}@example.com", std::process::id());
    let credentials = json!({"email": email, "password": "correct horse battery"});
    let registered = client
        .post(format!("{}/register", options.url))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201, "registration failed");
    let login: Value = client
        .post(format!("{}/login", options.url))
        .json(&credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let access = login["access_token"].as_str().expect("token").to_owned();

    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut logins = Vec::new();
    for _ in 0..options.login_clients {
        let (client, url, body) = (
            client.clone(),
            format!("{}/login", options.url),
            credentials.clone(),
        );
        logins.push(tokio::spawn(async move {
            hammer(deadline, || client.post(&url).json(&body).send()).await
        }));
    }
    let mut reads = Vec::new();
    for _ in 0..options.me_clients {
        let (client, url, token) = (
            client.clone(),
            format!("{}/users/me", options.url),
            access.clone(),
        );
        reads.push(tokio::spawn(async move {
            hammer(deadline, || client.get(&url).bearer_auth(&token).send()).await
        }));
    }
    let mut login_samples = Vec::new();
    for task in logins {
        login_samples.extend(task.await.expect("login task"));
    }
    let mut read_samples = Vec::new();
    for task in reads {
        read_samples.extend(task.await.expect("read task"));
    }
    // Requests still in flight at the deadline are waited for and counted, so the rate
    // is over the whole time taken, not the nominal duration.
    let elapsed = started.elapsed();
    println!("{options:?}, measured over {:.1} s", elapsed.as_secs_f64());
    println!("| route | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | statuses |");
    println!("|---|---|---|---|---|---|---|---|");
    if options.login_clients > 0 {
        report("POST /login", &login_samples, elapsed);
    }
    if options.me_clients > 0 {
        report("GET /users/me", &read_samples, elapsed);
    }
}
