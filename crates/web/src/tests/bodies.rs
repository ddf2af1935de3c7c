//! Reading bodies: which media types each route takes, and the size limit, declared or
//! streamed.

use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::test::TestRequest;
use actix_web::web::Bytes;
use futures_util::stream::{self, StreamExt as _};
use serde_json::json;

use super::{
    ADA, ADAS_PASSWORD, BodyStream, Mocks, NEXT_ID, as_ada, name, now, presented, registration,
};

/// `POST {path}` with `body` declared as `content_type`.
fn post(path: &str, content_type: &str, body: impl Into<Bytes>) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, content_type))
        .set_payload(body)
}

/// [`registration`] serialised, padded with JSON whitespace to exactly `length` bytes.
fn registration_of_length(length: usize) -> Vec<u8> {
    let mut body = registration().to_string().into_bytes();
    assert!(
        body.len() <= length,
        "the registration alone is {} bytes",
        body.len()
    );
    body.resize(length, b' ');
    body
}

/// `chunks` one after the other, then a stream that fails the test if it is polled:
/// whoever reads past the chunks read more than they had to.
fn chunks_then_nothing_more(chunks: Vec<Vec<u8>>) -> BodyStream {
    let chunks = stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<_, PayloadError>(Bytes::from(chunk))),
    );
    let tripwire = stream::poll_fn(
        |_| -> std::task::Poll<Option<Result<Bytes, PayloadError>>> {
            panic!("the body was read further than needed to refuse it")
        },
    );
    Box::pin(chunks.chain(tripwire))
}

/// `chunks`, and the end of the body.
fn chunks(chunks: Vec<Vec<u8>>) -> BodyStream {
    Box::pin(stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<_, PayloadError>(Bytes::from(chunk))),
    ))
}

#[actix_web::test]
async fn register_takes_json_in_any_of_its_spellings() {
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/vnd.portico.user+json",
        "application/merge-patch+json",
    ] {
        let mut mocks = Mocks::new();
        mocks.registration_is_stored();

        let answer = mocks
            .send(post("/register", content_type, registration().to_string()))
            .await;

        assert_eq!(
            answer.status.as_u16(),
            201,
            "Content-Type: {content_type} answered {}",
            answer.text()
        );
        let body = answer.json();
        assert_eq!(body["id"], NEXT_ID.to_string(), "{content_type}");
        assert_eq!(body["email"], "ada@example.com", "{content_type}");
        assert_eq!(body["created_at"], json!(now()), "{content_type}");
    }
}

#[actix_web::test]
async fn a_profile_update_takes_a_merge_patch() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .users
        .expect_update_names()
        .withf(|id, first, last, _| {
            *id == ADA && *first == name("Augusta") && *last == name("Lovelace")
        })
        .times(1)
        .returning(|_, first, last, at| {
            Ok(Some(domain::User {
                first_name: first,
                last_name: last,
                updated_at: at,
                ..super::ada()
            }))
        });

    let answer = mocks
        .send(as_ada(
            TestRequest::patch()
                .uri("/users/me")
                .insert_header((header::CONTENT_TYPE, "application/merge-patch+json"))
                .set_payload(r#"{"first_name": "Augusta"}"#),
        ))
        .await;

    answer.assert_status(200);
    let body = answer.json();
    assert_eq!(body["first_name"], "Augusta");
    assert_eq!(body["last_name"], "Lovelace");
    assert_eq!(body["updated_at"], json!(now()));
}

#[actix_web::test]
async fn register_refuses_anything_but_json_with_a_415_before_any_work() {
    let form = "email=ada%40example.com&password=analytical+engine";
    let json = registration().to_string();
    let cases: [(Option<&str>, &str); 7] = [
        (None, &json),
        (Some("text/plain"), &json),
        (Some("text/json"), &json),
        (Some("application/json-seq"), &json),
        (Some("application/jsonx"), &json),
        (Some("multipart/form-data; boundary=x"), &json),
        (Some("application/x-www-form-urlencoded"), form),
    ];
    for (content_type, body) in cases {
        let mut mocks = Mocks::new();
        mocks.nothing_is_registered();
        let mut request = TestRequest::post()
            .uri("/register")
            .set_payload(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.insert_header((header::CONTENT_TYPE, content_type));
        }

        let answer = mocks.send(request).await;

        assert_eq!(
            answer.status.as_u16(),
            415,
            "Content-Type: {content_type:?} answered {}",
            answer.text()
        );
        answer.assert_problem(415, "unsupported_media_type");
    }
}

#[actix_web::test]
async fn login_takes_the_oauth2_password_form() {
    let mut mocks = Mocks::new();
    mocks.ada_logs_in();

    let answer = mocks
        .send(post(
            "/login",
            "application/x-www-form-urlencoded",
            "grant_type=password&username=ada%40example.com&password=analytical+engine&scope=",
        ))
        .await;

    answer.assert_status(200);
    let body = answer.json();
    assert_eq!(body["refresh_token"], "minted-secret");
    assert_eq!(body["token_type"], "Bearer");
}

#[actix_web::test]
async fn login_refuses_other_media_types_with_a_415_before_any_work() {
    let json = json!({"email": "ada@example.com", "password": ADAS_PASSWORD}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut mocks = Mocks::new();
        mocks.no_session_is_touched();
        let mut request = TestRequest::post().uri("/login").set_payload(json.clone());
        if let Some(content_type) = content_type {
            request = request.insert_header((header::CONTENT_TYPE, content_type));
        }

        let answer = mocks.send(request).await;

        assert_eq!(
            answer.status.as_u16(),
            415,
            "Content-Type: {content_type:?} answered {}",
            answer.text()
        );
        answer.assert_problem(415, "unsupported_media_type");
    }
}

#[actix_web::test]
async fn refresh_and_logout_refuse_a_body_that_is_not_json_with_a_415() {
    let json = json!({"refresh_token": presented().expose()}).to_string();
    let form = format!("refresh_token={}", presented().expose());
    for path in ["/refresh", "/logout"] {
        for (content_type, body) in [
            ("text/plain", json.clone()),
            ("application/x-www-form-urlencoded", form.clone()),
        ] {
            let mut mocks = Mocks::new();
            mocks.no_session_is_touched();

            let answer = mocks.send(post(path, content_type, body)).await;

            assert_eq!(
                answer.status.as_u16(),
                415,
                "{path} with Content-Type: {content_type} answered {}",
                answer.text()
            );
            answer.assert_problem(415, "unsupported_media_type");
        }
    }
}

/// The limit the size tests set: small, so that bodies over it are cheap to build.
const SMALL_LIMIT: usize = 256;

#[actix_web::test]
async fn a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_a_413() {
    for (length, status) in [(SMALL_LIMIT, 201), (SMALL_LIMIT + 1, 413)] {
        let mut mocks = Mocks::new();
        mocks.settings.body_limit = SMALL_LIMIT;
        if status == 201 {
            mocks.registration_is_stored();
        } else {
            mocks.nothing_is_registered();
        }

        let answer = mocks
            .send(post(
                "/register",
                "application/json",
                registration_of_length(length),
            ))
            .await;

        assert_eq!(
            answer.status.as_u16(),
            status,
            "a {length}-byte registration under a {SMALL_LIMIT}-byte limit answered {}",
            answer.text()
        );
    }
}

#[actix_web::test]
async fn a_declared_length_over_the_limit_is_a_413_without_reading_the_body() {
    for path in ["/register", "/login", "/refresh", "/logout"] {
        let mut mocks = Mocks::new();
        mocks.settings.body_limit = SMALL_LIMIT;
        mocks.nothing_is_registered();
        mocks.no_session_is_touched();
        let request = TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::CONTENT_LENGTH, (SMALL_LIMIT + 1).to_string()));

        let answer = mocks
            .send_with_body(request, Some(chunks_then_nothing_more(vec![])))
            .await;

        let body = answer.assert_problem(413, "payload_too_large");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains(&SMALL_LIMIT.to_string())),
            "{}: the detail should name the limit: {body}",
            answer.sent
        );
    }
}

#[actix_web::test]
async fn a_streamed_body_is_a_413_as_soon_as_it_outgrows_the_limit() {
    for path in ["/register", "/login", "/refresh", "/logout"] {
        let mut mocks = Mocks::new();
        mocks.settings.body_limit = SMALL_LIMIT;
        mocks.nothing_is_registered();
        mocks.no_session_is_touched();
        let request = TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::TRANSFER_ENCODING, "chunked"));
        // 200 bytes fit; the next 200 do not, and nothing after them is read.
        let body = chunks_then_nothing_more(vec![vec![b' '; 200], vec![b' '; 200]]);

        let answer = mocks.send_with_body(request, Some(body)).await;

        answer.assert_problem(413, "payload_too_large");
    }
}

#[actix_web::test]
async fn a_streamed_body_within_the_limit_is_read_whole() {
    let mut mocks = Mocks::new();
    mocks.settings.body_limit = SMALL_LIMIT;
    mocks.registration_is_stored();
    let whole = registration_of_length(SMALL_LIMIT);
    let (first, rest) = whole.split_at(100);
    let (second, third) = rest.split_at(100);
    let request = TestRequest::post()
        .uri("/register")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::TRANSFER_ENCODING, "chunked"));

    let answer = mocks
        .send_with_body(
            request,
            Some(chunks(vec![
                first.to_vec(),
                second.to_vec(),
                third.to_vec(),
            ])),
        )
        .await;

    answer.assert_status(201);
    assert_eq!(answer.json()["email"], "ada@example.com");
}

/// Every route that reads a JSON body, as Ada would call it with `body`.
fn every_json_route(body: &'static str) -> [(TestRequest, &'static str); 6] {
    let json = |request: TestRequest| {
        request
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(body)
    };
    [
        (json(TestRequest::post().uri("/register")), "POST /register"),
        (json(TestRequest::post().uri("/login")), "POST /login"),
        (json(TestRequest::post().uri("/refresh")), "POST /refresh"),
        (json(TestRequest::post().uri("/logout")), "POST /logout"),
        (
            as_ada(json(TestRequest::patch().uri("/users/me"))),
            "PATCH /users/me",
        ),
        (
            as_ada(json(TestRequest::put().uri("/users/me/password"))),
            "PUT /users/me/password",
        ),
    ]
}

/// Serde fills a struct from a JSON array (`["x@example.com", "password123", "A",
/// "B"]` registered an account); no route may take anything but an object.
#[actix_web::test]
async fn a_json_body_that_is_not_an_object_is_a_422_about_the_body_on_every_route() {
    for body in [
        r#"["ada@example.com", "analytical engine", "Ada", "Lovelace"]"#,
        r#"["ada@example.com", "analytical engine"]"#,
        r#"["presented-secret"]"#,
        r#"["Augusta", "Lovelace"]"#,
        r#"["analytical engine", "a new password"]"#,
        r#""ada@example.com""#,
        "42",
        "null",
        "true",
    ] {
        for (request, route) in every_json_route(body) {
            let mut mocks = Mocks::new();
            mocks.nothing_is_registered();
            mocks.no_session_is_touched();
            mocks.users.expect_update_names().never();
            mocks.users.expect_update_password_hash().never();
            if route.contains("/users/me") {
                mocks.ada_is_authenticated();
            }

            let answer = mocks.send(request).await;

            let problem = answer.assert_problem(422, "validation_failed");
            assert_eq!(
                problem["errors"],
                json!([{"field": "body", "message": "must be a JSON object"}]),
                "{route} with {body}"
            );
        }
    }
}

#[actix_web::test]
async fn a_registration_with_three_problems_is_one_422_listing_all_three() {
    let mut mocks = Mocks::new();
    mocks.nothing_is_registered();

    let answer = mocks
        .send(post(
            "/register",
            "application/json",
            r#"{"email": "bad", "password": "short", "first_name": 5}"#,
        ))
        .await;

    let problem = answer.assert_problem(422, "validation_failed");
    assert_eq!(
        problem["errors"],
        json!([
            {"field": "email", "message": "is not a valid e-mail address"},
            {"field": "password", "message": "must be at least 8 bytes long"},
            {"field": "first_name", "message": "must be a string"},
        ])
    );
}

#[actix_web::test]
async fn a_login_form_lists_every_wrong_field_under_the_names_it_sent() {
    let mut mocks = Mocks::new();
    mocks.no_session_is_touched();

    let answer = mocks
        .send(post(
            "/login",
            "application/x-www-form-urlencoded",
            "grant_type=password&username=ada&password=short",
        ))
        .await;

    let problem = answer.assert_problem(422, "validation_failed");
    assert_eq!(
        problem["errors"],
        json!([
            {"field": "username", "message": "is not a valid e-mail address"},
            {"field": "password", "message": "must be at least 8 bytes long"},
        ])
    );
}

/// actix's own decoder may report a body as too large while it streams in: that is
/// the same 413 as a body outgrowing the limit here.
#[actix_web::test]
async fn a_body_the_transport_reports_as_overflowing_is_a_413() {
    let mut mocks = Mocks::new();
    mocks.nothing_is_registered();
    let request = TestRequest::post()
        .uri("/register")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::TRANSFER_ENCODING, "chunked"));
    let body: BodyStream = Box::pin(stream::iter([
        Ok(Bytes::from_static(br#"{"email": "ada@exam"#)),
        Err(PayloadError::Overflow),
    ]));

    let answer = mocks.send_with_body(request, Some(body)).await;

    answer.assert_problem(413, "payload_too_large");
}

/// actix reports a body that breaks off (a bad chunk size, a connection closed early)
/// as "payload reached EOF before completing: None": a 400 must say it in its own words.
#[actix_web::test]
async fn a_body_that_cannot_be_read_in_full_is_a_400_naming_no_library_internals() {
    let failures: [fn() -> PayloadError; 3] = [
        || PayloadError::Incomplete(None),
        || PayloadError::EncodingCorrupted,
        || PayloadError::Io(std::io::Error::other("connection reset by peer")),
    ];
    for failure in failures {
        let mut mocks = Mocks::new();
        mocks.nothing_is_registered();
        let request = TestRequest::post()
            .uri("/register")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::TRANSFER_ENCODING, "chunked"));
        let body: BodyStream = Box::pin(stream::iter([
            Ok(Bytes::from_static(br#"{"email": "ada@exam"#)),
            Err(failure()),
        ]));

        let answer = mocks.send_with_body(request, Some(body)).await;

        let problem = answer.assert_problem(400, "malformed_request");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("ended before it was complete"),
            "{}: {detail}",
            failure()
        );
        for internal in ["EOF", "None", "payload", "Payload", "peer", "decode"] {
            assert!(
                !detail.contains(internal),
                "{}: the detail names {internal:?}: {detail}",
                failure()
            );
        }
    }
}
