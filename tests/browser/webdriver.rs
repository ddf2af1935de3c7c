//! A small W3C WebDriver client over `reqwest`, just what these tests use: start
//! ChromeDriver, open headless Chromium sessions, find elements, type, click, read text,
//! run a script, take a screenshot.
//!
//! Why not fantoccini: it depends on Mozilla's `webdriver` crate, licensed MPL-2.0, which
//! the dependency policy (`deny.toml`) refuses; thirtyfour brings a driver manager and a
//! second TLS stack. The protocol is a dozen JSON requests, written out here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often a condition is checked while awaited.
const POLL: Duration = Duration::from_millis(50);
/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What an element replaced by the page reads as (see `Browser::read`).
pub const GONE: &str = "(replaced by the page)";
/// The Enter key, as WebDriver's `send_keys` writes it.
pub const ENTER: &str = "\u{E007}";
/// Shift, held down until [`RELEASE`]: `SHIFT + ENTER + RELEASE` is Shift+Enter.
pub const SHIFT: &str = "\u{E008}";
/// Releases every modifier held by `send_keys`.
pub const RELEASE: &str = "\u{E000}";

/// Where a program is: the variable `variable` if set, else the first of `candidates`
/// found on `PATH`.
fn locate(variable: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| candidates.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A running ChromeDriver; dropped, it is killed.
pub struct Driver {
    url: String,
    chromium: PathBuf,
    http: reqwest::Client,
    process: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// Starts ChromeDriver on a free port and waits until it is ready. Panics with what
    /// to install when Chromium or ChromeDriver is missing: these tests never skip.
    pub async fn start() -> Self {
        let (Some(chromium), Some(chromedriver)) = (
            locate(
                "CHROMIUM",
                &["chromium", "chromium-browser", "google-chrome"],
            ),
            locate("CHROMEDRIVER", &["chromedriver"]),
        ) else {
            panic!(
                "the browser tests need Chromium and ChromeDriver: install them with \
                 `apt-get install -y chromium chromium-driver` (as .ci/run does), or set \
                 CHROMIUM and CHROMEDRIVER to their paths"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        // Started directly (no shell in between), so killing it kills the driver.
        let process = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{} does not start: {error}", chromedriver.display()));
        let driver = Self {
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            http: reqwest::Client::new(),
            process,
        };
        wait_for("ChromeDriver to be ready", || async {
            let status = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await;
            let body: Value = status.ok()?.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        driver
    }

    /// A new headless Chromium with a profile of its own, `width` × `height` pixels.
    pub async fn open_browser(&self, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    // Chromium refuses to run as root with its sandbox (CI runs as root).
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let answer = command(
            &self.http,
            "POST",
            &format!("{}/session", self.url),
            capabilities,
        )
        .await
        .unwrap_or_else(|error| panic!("Chromium does not start: {error}"));
        let id = answer["sessionId"].as_str().expect("a session id");
        Browser {
            session: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
            _profile: profile,
        }
    }
}

/// Sends one WebDriver command; the answer's `value`, or its error as text.
async fn command(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Value,
) -> Result<Value, String> {
    let request = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http.post(url).json(&body),
    };
    let answer = request.send().await.map_err(|error| error.to_string())?;
    let status = answer.status();
    let body: Value = answer.json().await.map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(body["value"].clone())
    } else {
        Err(format!("{status}: {}", body["value"]["message"]))
    }
}

/// One browser window (a WebDriver session); dropped, the browser is closed.
pub struct Browser {
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Needs the multi-threaded runtime: the session must end even when a test fails,
        // or its Chromium outlives the test.
        let (http, url) = (self.http.clone(), self.session.clone());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let _ = command(&http, "DELETE", &url, Value::Null).await;
            });
        });
    }
}

/// An element of the page, as WebDriver refers to it.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Browser {
    async fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        command(&self.http, method, &format!("{}{path}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url}))
            .await
            .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    }

    /// Every element `xpath` matches, in document order.
    pub async fn find_all(&self, xpath: &str) -> Vec<Element> {
        let found = self
            .call(
                "POST",
                "/elements",
                json!({"using": "xpath", "value": xpath}),
            )
            .await
            .unwrap_or_else(|error| panic!("bad XPath {xpath}: {error}"));
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|element| element[ELEMENT_KEY].as_str())
            .map(|id| Element { id: id.to_owned() })
            .collect()
    }

    /// The one element `xpath` matches, awaited; `what` names it in a failure.
    pub async fn find(&self, what: &str, xpath: &str) -> Element {
        wait_for(&format!("{what} ({xpath})"), || async {
            let mut found = self.find_all(xpath).await;
            assert!(found.len() <= 1, "{what}: {xpath} matches {}", found.len());
            found.pop()
        })
        .await
    }

    /// What assistive technology would call the element (WebDriver's computed label).
    pub async fn accessible_name(&self, element: &Element) -> String {
        self.read(element, "computedlabel").await
    }

    /// The element's ARIA role as the browser computes it.
    pub async fn role(&self, element: &Element) -> String {
        self.read(element, "computedrole").await
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.read(element, "text").await
    }

    /// One of the element's string properties (`GET /element/{id}/{what}`). An element
    /// the page replaced since it was found reads as [`GONE`]: polling callers read
    /// the page again rather than fail while it re-renders.
    async fn read(&self, element: &Element, what: &str) -> String {
        match self
            .call(
                "GET",
                &format!("/element/{}/{what}", element.id),
                Value::Null,
            )
            .await
        {
            Ok(value) => value.as_str().unwrap_or_default().to_owned(),
            Err(error) if error.contains("stale element") => GONE.to_owned(),
            Err(error) => panic!("{what} on an element: {error}"),
        }
    }

    pub async fn click(&self, element: &Element) {
        self.element_value(element, "POST", "click", json!({}))
            .await;
    }

    /// Types `keys` into the element (see [`ENTER`], [`SHIFT`], [`RELEASE`]).
    pub async fn type_into(&self, element: &Element, keys: &str) {
        self.element_value(element, "POST", "value", json!({"text": keys}))
            .await;
    }

    async fn element_value(
        &self,
        element: &Element,
        method: &str,
        what: &str,
        body: Value,
    ) -> Value {
        self.call(method, &format!("/element/{}/{what}", element.id), body)
            .await
            .unwrap_or_else(|error| panic!("{what} on an element: {error}"))
    }

    /// Runs `script` in the page (a function body; `arguments` holds `args`).
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
        .unwrap_or_else(|error| panic!("script failed: {error}"))
    }

    /// A PNG of the window, written to `path` (its folder created).
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self
            .call("GET", "/screenshot", Value::Null)
            .await
            .unwrap_or_else(|error| panic!("no screenshot: {error}"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).expect("the screenshot folder");
        }
        std::fs::write(path, png).expect("the screenshot written");
    }
}

/// Awaits `condition` (`Some` when it holds), checking every 50 ms, for at most
/// [`DEADLINE`]; the test fails naming `what` when it never holds.
pub async fn wait_for<T, F, Fut>(what: &str, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let give_up = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        assert!(
            Instant::now() < give_up,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Awaits `read` giving `expected`, checking every 50 ms, for at most [`DEADLINE`]; the
/// test fails naming `what` and showing the last value read.
pub async fn wait_for_value<T, F, Fut>(what: &str, expected: &T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let give_up = Instant::now() + DEADLINE;
    loop {
        let value = read().await;
        if value == *expected {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "gave up after {DEADLINE:?} waiting for {what} to be {expected:?}; it is {value:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
