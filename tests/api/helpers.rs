//! The shared fixtures: a running app per test and one helper per endpoint, so that a
//! test reads as a story.

use std::collections::HashMap;
use std::sync::Arc;

use infrastructure::storage::Storage;
use portico::{Application, Config, Overrides};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use test_support::ManualClock;

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery";
/// A fixed signing secret, so that tests can forge tokens with it (or without it).
pub const JWT_SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
/// The cookie a successful login sets to mark the client as one that logged in before.
pub const DEVICE_COOKIE: &str = "portico_device";

/// A running Portico and an HTTP client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client that keeps no cookies unless a test asks for them.
    pub client: Client,
    /// The `DATABASE_URL` the app uses.
    pub database_url: String,
    /// The app's clock: time passes when the test moves it.
    pub clock: Arc<ManualClock>,
    /// Stops the app when notified (see [`TestApp::stop`]).
    stop: Arc<tokio::sync::Notify>,
    _folder: Arc<tempfile::TempDir>,
}

/// The settings every test starts from: an ephemeral port, a fresh database, cheap
/// bcrypt; `overrides` are applied on top, as environment variables would be.
pub fn test_config(database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut variables: HashMap<String, String> = [
        ("PORTICO_BIND", "127.0.0.1:0"),
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", JWT_SECRET),
        ("BCRYPT_COST", "4"),
        ("HTTP_WORKERS", "2"),
        ("PASSWORD_HASH_CONCURRENCY", "2"),
        ("DATABASE_POOL_SIZE", "4"),
        ("SHUTDOWN_GRACE", "1s"),
        // Generous budgets: tests of other concerns must not trip them. The limits'
        // own tests set small ones.
        ("RATE_LIMIT_PER_IP", "10000/1m"),
        ("RATE_LIMIT_SESSION_ROUTES", "10000/1m"),
        ("RATE_LIMIT_PER_USER", "10000/1m"),
        ("WS_MESSAGE_RATE", "10000/1m"),
        ("WS_UPGRADE_RATE", "10000/1m"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    for (key, value) in overrides {
        variables.insert((*key).to_owned(), (*value).to_owned());
    }
    Config::from_lookup(|key| variables.get(key).cloned()).expect("valid test configuration")
}

/// Starts the app with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with some settings changed.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(overrides, None).await
}

/// Starts the app with its storage wrapped by `wrap` (a store that fails on purpose).
pub async fn spawn_app_wrapping_storage(
    wrap: impl Fn(Storage) -> Storage + Send + Sync + 'static,
) -> TestApp {
    spawn_app_on(&[], Some(Arc::new(wrap))).await
}

async fn spawn_app_on(
    overrides: &[(&str, &str)],
    wrap_storage: Option<Arc<dyn Fn(Storage) -> Storage + Send + Sync>>,
) -> TestApp {
    let folder = tempfile::tempdir().expect("temporary folder");
    let database_url = format!("sqlite://{}", folder.path().join("portico.db").display());
    let clock = Arc::new(ManualClock::starting_at(chrono::Utc::now()));
    let stop = Arc::new(tokio::sync::Notify::new());
    let address = start_with(
        test_config(&database_url, overrides),
        &clock,
        wrap_storage,
        Arc::clone(&stop),
    );
    TestApp {
        address,
        clock,
        stop,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        database_url,
        _folder: Arc::new(folder),
    }
}

/// Builds and starts an app on `clock` in the background; returns its base URL.
pub fn start(config: Config, clock: &Arc<ManualClock>) -> String {
    start_with(config, clock, None, Arc::new(tokio::sync::Notify::new()))
}

fn start_with(
    config: Config,
    clock: &Arc<ManualClock>,
    wrap_storage: Option<Arc<dyn Fn(Storage) -> Storage + Send + Sync>>,
    stop: Arc<tokio::sync::Notify>,
) -> String {
    let overrides = Overrides {
        clock: Some(Arc::clone(clock) as _),
        wrap_storage,
        ..Overrides::default()
    };
    let application = Application::build_with(config, overrides).expect("the app starts");
    let address = format!("http://{}", application.address());
    tokio::spawn(application.run_until_stopped(async move { stop.notified().await }));
    address
}

/// A newly registered user's credentials.
pub struct Registered {
    pub email: String,
    pub password: String,
    pub id: String,
}

/// A token pair from a login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub fn from_body(body: &Value) -> Self {
        Self {
            access: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
        }
    }
}

impl TestApp {
    /// The same database served again with other settings: a restart with a new
    /// configuration (the first instance keeps running beside it).
    pub fn restarted_with(&self, overrides: &[(&str, &str)]) -> TestApp {
        TestApp {
            address: start(test_config(&self.database_url, overrides), &self.clock),
            clock: Arc::clone(&self.clock),
            // This instance runs until the test ends.
            stop: Arc::new(tokio::sync::Notify::new()),
            client: self.client.clone(),
            database_url: self.database_url.clone(),
            _folder: Arc::clone(&self._folder),
        }
    }

    /// A client of a Portico that another process serves at `address` (`http://…`),
    /// with the same helpers; its clock and stop do nothing to that process.
    pub fn remote(address: String) -> TestApp {
        TestApp {
            address,
            clock: Arc::new(ManualClock::starting_at(chrono::Utc::now())),
            stop: Arc::new(tokio::sync::Notify::new()),
            client: Client::new(),
            database_url: String::new(),
            _folder: Arc::new(tempfile::tempdir().expect("temporary folder")),
        }
    }

    /// Asks the app to stop, as a signal would: it drains and ends.
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`, without credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, body: &Value) -> Response {
        self.post_json("/register", body).await
    }

    /// Registers a user with a unique address and [`PASSWORD`].
    pub async fn register_user(&self) -> Registered {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4());
        let response = self
            .register(&json!({"email": email, "password": PASSWORD, "first_name": "Ada"}))
            .await;
        assert_eq!(response.status(), 201, "registration of {email}");
        let body: Value = response.json().await.expect("json");
        Registered {
            email,
            password: PASSWORD.to_owned(),
            id: body["id"].as_str().expect("id").to_owned(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/login", &json!({"email": email, "password": password}))
            .await
    }

    /// `POST /login` from a client that sends back `device_cookie` (the value of the
    /// device cookie an earlier login set), as a browser would.
    pub async fn login_with_device(
        &self,
        email: &str,
        password: &str,
        device_cookie: &str,
    ) -> Response {
        self.client
            .post(self.url("/login"))
            .header("cookie", format!("{DEVICE_COOKIE}={device_cookie}"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("request sent")
    }

    /// Logs in and returns the pair, asserting success.
    pub async fn login_tokens(&self, user: &Registered) -> Tokens {
        let response = self.login(&user.email, &user.password).await;
        assert_eq!(response.status(), 200, "login of {}", user.email);
        Tokens::from_body(&response.json().await.expect("json"))
    }

    /// Registers a new user and logs them in.
    pub async fn signed_in_user(&self) -> (Registered, Tokens) {
        let user = self.register_user().await;
        let tokens = self.login_tokens(&user).await;
        (user, tokens)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post_json("/logout", &json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.client
            .get(self.url("/users/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn update_me(&self, access_token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url("/users/me"))
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Makes the holder of `access_token` a member of `room`, over a socket of their
    /// own that is closed again.
    pub async fn join_room(&self, access_token: &str, room: &str) {
        let mut socket = self.connect(access_token).await;
        socket.send(json!({"type": "join", "room": room})).await;
        while socket.next_of("joined").await["room"] != room {}
        socket.close().await;
    }

    /// Ends the membership of `room` of the holder of `access_token`, over a socket.
    pub async fn leave_room(&self, access_token: &str, room: &str) {
        let mut socket = self.connect(access_token).await;
        socket.send(json!({"type": "leave", "room": room})).await;
        socket.next_of("left").await;
        socket.close().await;
    }

    /// Acknowledges `seq` in `room` for the holder of `access_token`, over a socket.
    pub async fn acknowledge(&self, access_token: &str, room: &str, seq: u64) {
        let mut socket = self.connect(access_token).await;
        socket
            .send(json!({"type": "ack", "room": room, "seq": seq}))
            .await;
        // An ack has no answer; the pong after it says it was served.
        socket.send(json!({"type": "ping"})).await;
        socket.next_of("pong").await;
        socket.close().await;
    }

    /// `GET path` with `access_token`.
    pub async fn get_as(&self, access_token: &str, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET /rooms`.
    pub async fn rooms(&self, access_token: &str) -> Response {
        self.get_as(access_token, "/rooms").await
    }

    /// `GET /rooms/{room}/messages{query}` (`query` empty or starting with `?`).
    pub async fn history(&self, access_token: &str, room: &str, query: &str) -> Response {
        self.get_as(access_token, &format!("/rooms/{room}/messages{query}"))
            .await
    }

    /// `POST /rooms/{room}/messages` with `body`.
    pub async fn publish(&self, access_token: &str, room: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/rooms/{room}/messages")))
            .bearer_auth(access_token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Publishes `body` in `room`, asserting a 201; returns the stored message.
    pub async fn say(&self, access_token: &str, room: &str, body: &str) -> Value {
        let response = self
            .publish(access_token, room, &json!({"body": body}))
            .await;
        assert_eq!(response.status(), 201, "publishing {body:?} in {room}");
        response.json().await.expect("json")
    }

    /// `GET /rooms/{room}/presence`.
    pub async fn presence(&self, access_token: &str, room: &str) -> Response {
        self.get_as(access_token, &format!("/rooms/{room}/presence"))
            .await
    }

    /// Logs `user` in from a client presenting `user_agent`; returns the pair.
    pub async fn login_from(&self, user: &Registered, user_agent: &str) -> Tokens {
        let response = self
            .client
            .post(self.url("/login"))
            .header("user-agent", user_agent)
            .json(&json!({"email": user.email, "password": user.password}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            response.status(),
            200,
            "login of {} from {user_agent}",
            user.email
        );
        Tokens::from_body(&response.json().await.expect("json"))
    }

    /// `GET /sessions`.
    pub async fn sessions(&self, access_token: &str) -> Response {
        self.get_as(access_token, "/sessions").await
    }

    /// The sessions `GET /sessions` lists, asserting a 200.
    pub async fn listed_sessions(&self, access_token: &str) -> Vec<Value> {
        let response = self.sessions(access_token).await;
        assert_eq!(response.status(), 200, "GET /sessions");
        let body: Value = response.json().await.expect("json");
        body["sessions"]
            .as_array()
            .expect("a sessions array")
            .clone()
    }

    /// The id of the caller's own session, as `GET /sessions` marks it `current`.
    pub async fn current_session(&self, access_token: &str) -> String {
        self.listed_sessions(access_token)
            .await
            .iter()
            .find(|session| session["current"] == true)
            .and_then(|session| session["id"].as_str())
            .expect("the caller's session is listed")
            .to_owned()
    }

    /// `DELETE path` with `access_token`.
    pub async fn delete_as(&self, access_token: &str, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request sent")
    }

    /// `DELETE /sessions/{id}`.
    pub async fn end_session(&self, access_token: &str, id: &str) -> Response {
        self.delete_as(access_token, &format!("/sessions/{id}"))
            .await
    }

    /// `DELETE /sessions`.
    pub async fn end_other_sessions(&self, access_token: &str) -> Response {
        self.delete_as(access_token, "/sessions").await
    }

    pub async fn change_password(&self, access_token: &str, current: &str, new: &str) -> Response {
        self.client
            .put(self.url("/users/me/password"))
            .bearer_auth(access_token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
            .await
            .expect("request sent")
    }
}

/// The `Set-Cookie` values of a response that set `name`.
pub fn set_cookies(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect()
}

/// The value of the device cookie a response sets for `/login`: what a browser would
/// send back at its next login.
pub fn device_cookie(response: &Response) -> Option<String> {
    set_cookies(response, DEVICE_COOKIE)
        .into_iter()
        .find(|cookie| {
            cookie
                .split("; ")
                .any(|attribute| attribute == "Path=/login")
        })
        .and_then(|cookie| {
            let (pair, _) = cookie.split_once(';').unwrap_or((&cookie, ""));
            pair.split_once('=').map(|(_, value)| value.to_owned())
        })
}

/// Asserts a problem document with this status and code; returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "for {code}");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status, "body: {body}");
    body
}

/// The `WWW-Authenticate` header of a response.
pub fn challenge(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// How long a test waits for a frame before it fails: a guard against a hang, never a
/// way to let something happen.
const FRAME_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client connected to `/ws`.
pub struct Socket {
    stream: WsStream,
}

/// How an upgrade request presents its token.
pub enum Credentials<'a> {
    /// `Authorization: Bearer`.
    Bearer(&'a str),
    /// The `access_token` query parameter, as a browser does.
    Query(&'a str),
    /// No token at all.
    None,
}

impl TestApp {
    /// The `ws://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.address.replacen("http://", "ws://", 1))
    }

    /// Attempts the upgrade; the HTTP answer when it is refused.
    pub async fn try_connect(
        &self,
        credentials: Credentials<'_>,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let url = match credentials {
            Credentials::Query(token) => self.ws_url(&format!("/ws?access_token={token}")),
            _ => self.ws_url("/ws"),
        };
        let mut request = url.into_client_request().expect("a ws request");
        if let Credentials::Bearer(token) = credentials {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("a header value"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(*response),
            Err(error) => panic!("the upgrade failed below HTTP: {error}"),
        }
    }

    /// Opens a socket with `access_token` in the `Authorization` header.
    pub async fn connect(&self, access_token: &str) -> Socket {
        match self.try_connect(Credentials::Bearer(access_token)).await {
            Ok(socket) => socket,
            Err(response) => panic!("upgrade refused: {}", response.status()),
        }
    }
}

impl Socket {
    /// Sends one text frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends one text frame as given.
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt as _;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("frame sent");
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        use futures_util::SinkExt as _;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::binary(bytes))
            .await
            .expect("frame sent");
    }

    /// Sends a WebSocket ping carrying `payload` and waits for the pong that echoes it,
    /// skipping anything else.
    pub async fn ping(&mut self, payload: &[u8]) {
        use futures_util::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        self.stream
            .send(Message::Ping(payload.to_vec().into()))
            .await
            .expect("ping sent");
        loop {
            let received = tokio::time::timeout(FRAME_DEADLINE, self.stream.next())
                .await
                .expect("a pong within the deadline")
                .expect("the socket is open")
                .expect("a valid frame");
            if let Message::Pong(echoed) = received {
                assert_eq!(&echoed[..], payload, "the pong echoes the ping");
                return;
            }
        }
    }

    /// The next protocol frame (WebSocket pings are answered by the client and skipped).
    pub async fn next(&mut self) -> Value {
        self.next_within(FRAME_DEADLINE).await
    }

    /// The next protocol frame, waiting up to `patience` for it: for what the server
    /// does on a timer of its own, longer than [`FRAME_DEADLINE`].
    pub async fn next_within(&mut self, patience: std::time::Duration) -> Value {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let received = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame within the deadline")
                .expect("the socket is open")
                .expect("a valid frame");
            match received {
                Message::Text(text) => return serde_json::from_str(&text).expect("json frame"),
                Message::Close(close) => panic!("closed while a frame was expected: {close:?}"),
                _ => {}
            }
        }
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "expected a {kind} frame, got {frame}");
        frame
    }

    /// The next frame of type `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// `join` → `joined`.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        self.expect("joined").await
    }

    /// `ping` → `pong`: every frame the server queued before the pong has been read
    /// when this returns, so nothing else is owed.
    pub async fn round_trip(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.expect("pong").await;
    }

    /// The next `message` frames until `count` were read, in arrival order.
    pub async fn messages(&mut self, count: usize) -> Vec<Value> {
        let mut messages = Vec::with_capacity(count);
        while messages.len() < count {
            messages.push(self.next_of("message").await);
        }
        messages
    }

    /// Waits for the server's close frame, skipping anything before it; its code.
    pub async fn closed(&mut self) -> u16 {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let received = tokio::time::timeout(FRAME_DEADLINE, self.stream.next())
                .await
                .expect("a close within the deadline");
            match received {
                Some(Ok(Message::Close(Some(close)))) => return u16::from(close.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("the socket failed before its close frame: {error}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    }

    /// Waits for the server's next WebSocket ping (the client answers it on its own).
    pub async fn ping_received(&mut self) {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let received = tokio::time::timeout(FRAME_DEADLINE, self.stream.next())
                .await
                .expect("a ping within the deadline")
                .expect("the socket is open")
                .expect("a valid frame");
            if let Message::Ping(_) = received {
                return;
            }
        }
    }

    /// Closes the socket normally and waits for the server's close frame, which it
    /// sends once the connection is unregistered (presence, the per-user slot). The
    /// TCP connection is then dropped rather than waited for: the server leaves closing
    /// it to the client, for up to a second.
    pub async fn close(mut self) {
        use futures_util::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        self.stream.close(None).await.expect("close sent");
        while let Ok(Some(Ok(received))) =
            tokio::time::timeout(FRAME_DEADLINE, self.stream.next()).await
        {
            if let Message::Close(_) = received {
                return;
            }
        }
    }
}

/// A WebSocket client that completes the handshake and then never says a word, not even
/// the answers to the server's pings: what a dead peer looks like.
pub struct SilentClient {
    stream: tokio::net::TcpStream,
}

impl TestApp {
    /// Opens a socket for `access_token` that never answers.
    pub async fn connect_silently(&self, access_token: &str) -> SilentClient {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let host = self.address.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {access_token}\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("handshake sent");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("handshake answer"));
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        SilentClient { stream }
    }
}

impl SilentClient {
    /// Reads server frames, answering none, until the close frame; its code.
    pub async fn closed(&mut self) -> u16 {
        self.ended().await.expect("a close frame before the end")
    }

    /// Reads server frames, answering none, until the close frame (its code) or the
    /// end of the connection (`None`).
    pub async fn ended(&mut self) -> Option<u16> {
        use tokio::io::AsyncReadExt as _;
        loop {
            let frame = tokio::time::timeout(FRAME_DEADLINE, async {
                let first = self.stream.read_u8().await?;
                let length = match self.stream.read_u8().await? & 0x7f {
                    126 => u64::from(self.stream.read_u16().await?),
                    127 => self.stream.read_u64().await?,
                    short => u64::from(short),
                };
                let mut payload = vec![0; usize::try_from(length).unwrap()];
                self.stream.read_exact(&mut payload).await?;
                std::io::Result::Ok((first & 0x0f, payload))
            })
            .await
            .expect("a frame within the deadline");
            match frame {
                Ok((0x8, payload)) => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}
