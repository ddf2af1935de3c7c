//! Tests of the HTTP layer: the whole [`crate::app`], driven in memory through
//! `actix_web::test`, with a mockall fake behind every port.
//!
//! They reach what the end-to-end tests over real HTTP cannot easily reach: an adapter
//! failing at any step, the storage refusing a readiness ping, every way an access token
//! is refused, bodies that arrive in chunks, and the pure decoding helpers.
//!
//! Each test starts from [`Mocks::new`] (a clock stopped at [`now`], an id source that
//! always hands out [`NEXT_ID`], a refresh-token mint that digests deterministically, a
//! login-attempt record that holds no failures, no other expectation, and rate limiting
//! off), states what the world does, then sends one request with [`Mocks::send`]. A port
//! call that no expectation allows fails the test, so a story only lists the calls that
//! matter to it; explicit `never()`s are there for the reader. Mockall tries expectations
//! in the order they were set, so a test that needs another default replaces the fake
//! (`mocks.attempts = MockLoginAttempts::new()`) rather than adding to it.

mod adapter_failures;
mod authentication;
mod bodies;
mod chat_page;
mod connection;
mod decoding;
mod health;
mod rooms;
mod routing;
mod session_list;
mod sessions;
mod websocket;

use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, AsHeaderName, HeaderMap};
use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use application::{LoginThrottlePolicy, Policies, RoomPolicy, SessionPolicy, UseCases};
use chrono::Duration;
use futures_util::Stream;
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) use test_support::{
    ADA, ADAPTER_SECRET, ADAS_LAPTOP, ADAS_PASSWORD, Fakes, access_ttl, ada, adapter_failure,
    adas_claims, device_token, device_ttl, email, fresh_hash, live_record, minted, name, now,
    presented, refresh_ttl, stored_hash,
};

use crate::error::PROBLEM_JSON;
use crate::state::HttpSettings;

/// What the id source hands out, every time it is asked.
const NEXT_ID: Uuid = Uuid::from_u128(0x1d);
/// The access token the fake verifier accepts as Ada's.
const ADAS_ACCESS_TOKEN: &str = "ada.access.jwt";

/// How failed logins slow further ones in these tests.
fn throttle() -> LoginThrottlePolicy {
    LoginThrottlePolicy {
        max_failures: 5,
        lockout: Duration::seconds(30),
        max_lockout: Duration::minutes(15),
    }
}

/// A well-formed, valid registration for Ada.
fn registration() -> Value {
    json!({
        "email": "ada@example.com",
        "password": ADAS_PASSWORD,
        "first_name": "Ada",
        "last_name": "Lovelace",
    })
}

/// `POST /register` with [`registration`] as JSON.
/// A WebSocket handshake for `GET /ws`, with no credentials yet.
pub(crate) fn websocket_handshake() -> TestRequest {
    TestRequest::get()
        .uri("/ws")
        .insert_header((header::UPGRADE, "websocket"))
        .insert_header((header::CONNECTION, "Upgrade"))
        .insert_header((header::SEC_WEBSOCKET_VERSION, "13"))
        .insert_header((header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="))
}

fn register_request() -> TestRequest {
    TestRequest::post()
        .uri("/register")
        .set_json(registration())
}

/// `POST /login` with Ada's credentials as JSON.
fn login_request() -> TestRequest {
    TestRequest::post()
        .uri("/login")
        .set_json(json!({"email": "ada@example.com", "password": ADAS_PASSWORD}))
}

/// `POST {path}` (`/refresh` or `/logout`) with [`presented`] in a JSON body.
fn refresh_token_request(path: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .set_json(json!({"refresh_token": presented().expose()}))
}

/// `request` carrying Ada's access token.
fn as_ada(request: TestRequest) -> TestRequest {
    request.insert_header((header::AUTHORIZATION, format!("Bearer {ADAS_ACCESS_TOKEN}")))
}

/// A request body that arrives as a stream of chunks, without a `Content-Length`.
type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// A fake of every port ([`Fakes`]), and the HTTP settings, to be turned into the app.
struct Mocks {
    fakes: Fakes,
    settings: HttpSettings,
}

impl Deref for Mocks {
    type Target = Fakes;

    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

impl DerefMut for Mocks {
    fn deref_mut(&mut self) -> &mut Fakes {
        &mut self.fakes
    }
}

impl Mocks {
    /// Fakes with no expectation but a clock stopped at [`now`], ids that are all
    /// [`NEXT_ID`], a mint that digests as [`digest_of`] does and a record of login
    /// attempts that holds no failures and takes any; default settings, no rate limits.
    fn new() -> Self {
        let mut fakes = Fakes::new();
        fakes.ids.expect_new_id().return_const(NEXT_ID);
        fakes.digests_tokens();
        fakes.attempts_are_unremarkable();
        Self {
            fakes,
            settings: HttpSettings::unlimited(),
        }
    }

    /// [`ADAS_ACCESS_TOKEN`] verifies as Ada's, and its session is live.
    fn ada_is_authenticated(&mut self) {
        self.access_tokens
            .expect_verify()
            .withf(|token| token == ADAS_ACCESS_TOKEN)
            .times(1)
            .returning(|_| Ok(adas_claims()));
        self.adas_session_is_live();
    }

    /// Ada's password matches her stored hash, which is up to date.
    fn adas_password_matches(&mut self) {
        self.hasher
            .expect_verify()
            .withf(|password, stored| {
                password.expose() == ADAS_PASSWORD && *stored == stored_hash()
            })
            .times(1)
            .returning(|_, _| Ok(domain::ports::PasswordCheck::Match { outdated: false }));
    }

    /// Ada logs in with the right password, a session starts and her client gets a
    /// device token.
    fn ada_logs_in(&mut self) {
        self.ada_is_registered();
        self.adas_password_matches();
        self.issues_one_pair();
        self.sessions
            .expect_start()
            .withf(|new| new.user_id == ADA)
            .times(1)
            .returning(|_| Ok(()));
        self.mints_device_tokens();
    }

    /// The store holds [`live_record`] for [`presented`].
    fn presented_token_is_live(&mut self) {
        self.presented_token_is(Some(live_record()));
    }

    /// A registration hashes the password and the store takes the new user.
    fn registration_is_stored(&mut self) {
        self.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok(fresh_hash()));
        self.users
            .expect_insert()
            .withf(|new| new.user.email.as_ref() == "ada@example.com")
            .times(1)
            .returning(|_| Ok(()));
    }

    /// No registration gets as far as hashing or storing.
    fn nothing_is_registered(&mut self) {
        self.hasher.expect_hash().never();
        self.users.expect_insert().never();
    }

    /// No login, refresh or logout gets as far as the stores.
    fn no_session_is_touched(&mut self) {
        self.users.expect_find_credentials().never();
        self.sessions.expect_find_token().never();
    }

    /// The use cases, wired as the binary wires them, over these fakes.
    fn into_parts(self) -> (UseCases, HttpSettings) {
        let policies = Policies {
            session: SessionPolicy {
                refresh_token_ttl: refresh_ttl(),
            },
            login_throttle: throttle(),
            rooms: RoomPolicy::default(),
        };
        (
            UseCases::new(&self.fakes.into_ports(), policies),
            self.settings,
        )
    }

    /// Sends one request to the app built over these fakes and reads the whole answer.
    async fn send(self, request: TestRequest) -> Answer {
        self.send_with_body(request, None).await
    }

    /// Like [`Mocks::send`], with `body` as the request's payload, streamed chunk by
    /// chunk; the request declares only the `Content-Length` it was built with.
    async fn send_with_body(self, request: TestRequest, body: Option<BodyStream>) -> Answer {
        let mut request = request.to_request();
        if let Some(body) = body {
            request = request.replace_payload(Payload::from(body)).0;
        }
        let sent = format!("{} {}", request.method(), request.uri());
        let (use_cases, settings) = self.into_parts();
        let app = test::init_service(crate::app(web::Data::new(use_cases), settings)).await;
        let response = test::call_service(&app, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = test::read_body(response).await;
        Answer {
            sent,
            status,
            headers,
            body,
        }
    }
}

/// A response, read whole, and what was sent for it (for failure messages).
struct Answer {
    sent: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// The body as JSON.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "{}: the body is not JSON ({error}): {:?}",
                self.sent,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text, lossily.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every `Set-Cookie` of the response, as sent.
    fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(header::SET_COOKIE)
            .filter_map(|value| value.to_str().ok())
            .collect()
    }

    /// A header's value, if present and visible ASCII.
    fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The status is `status`.
    fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: answered {}",
            self.sent,
            self.text()
        );
    }

    /// A problem document of `status` with `code`; returns its body.
    fn assert_problem(&self, status: u16, code: &str) -> Value {
        self.assert_status(status);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some(PROBLEM_JSON),
            "{}: content type of a {status}",
            self.sent
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}: answered {body}", self.sent);
        assert_eq!(body["status"], status, "{}: answered {body}", self.sent);
        assert_eq!(
            body["type"],
            format!("urn:portico:problem:{code}"),
            "{}: answered {body}",
            self.sent
        );
        body
    }

    /// The `WWW-Authenticate` challenge, or `""`.
    fn challenge(&self) -> &str {
        self.header(header::WWW_AUTHENTICATE).unwrap_or_default()
    }
}

/// Counts the wake-ups of a waker made by [`counted`].
#[derive(Default)]
pub(crate) struct Wakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Wakes {
    /// How many times the waker was woken.
    pub(crate) fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A waker and the count of its wake-ups, for tests that poll by hand.
pub(crate) fn counted() -> (std::sync::Arc<Wakes>, std::task::Waker) {
    let wakes = std::sync::Arc::new(Wakes::default());
    let waker = std::task::Waker::from(std::sync::Arc::clone(&wakes));
    (wakes, waker)
}
