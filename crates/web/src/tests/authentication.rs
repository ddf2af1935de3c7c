//! The bearer-token extractor and the use cases behind it: every way an access token is
//! refused maps to the right 401, with an RFC 6750 challenge that says why.

use actix_web::http::header;
use actix_web::test::TestRequest;
use domain::ports::{HashReplacement, PasswordCheck, StoredCredentials, TokenRejection};
use domain::{AccessClaims, User, UserId};
use serde_json::json;
use uuid::Uuid;

use super::{
    ADA, ADAS_ACCESS_TOKEN, ADAS_PASSWORD, Mocks, ada, adas_claims, as_ada, email, fresh_hash,
    name, now, stored_hash,
};

/// The `error_description` of a challenge, if it has one.
fn error_description(challenge: &str) -> Option<&str> {
    let (_, rest) = challenge.split_once("error_description=\"")?;
    rest.split('"').next()
}

/// Every route that takes an access token, with a body it would accept.
fn authenticated_routes() -> Vec<fn() -> TestRequest> {
    vec![
        || TestRequest::get().uri("/users/me"),
        || {
            TestRequest::patch()
                .uri("/users/me")
                .set_json(json!({"first_name": "Augusta"}))
        },
        || {
            TestRequest::put()
                .uri("/users/me/password")
                .set_json(json!({
                    "current_password": ADAS_PASSWORD,
                    "new_password": "difference engine",
                }))
        },
        || TestRequest::get().uri("/sessions"),
        || TestRequest::delete().uri("/sessions"),
        || TestRequest::delete().uri("/sessions/00000000-0000-0000-0000-000000000f0e"),
    ]
}

/// A way a presented token fails to authenticate anyone.
struct Refusal {
    what: &'static str,
    verified: Result<AccessClaims, TokenRejection>,
    /// Whether the store still holds the token's user (asked only for a verified token).
    user_exists: bool,
    /// What the challenge's `error_description` must mention.
    described_as: &'static str,
}

fn refusals() -> Vec<Refusal> {
    vec![
        Refusal {
            what: "an expired token",
            verified: Err(TokenRejection::Expired),
            user_exists: true,
            described_as: "expired",
        },
        Refusal {
            what: "an invalid token",
            verified: Err(TokenRejection::Invalid),
            user_exists: true,
            described_as: "invalid",
        },
        Refusal {
            what: "a genuine token whose session ended or whose user no longer exists",
            verified: Ok(adas_claims()),
            user_exists: false,
            described_as: "session has ended",
        },
    ]
}

#[actix_web::test]
async fn a_refused_access_token_is_a_401_invalid_token_whose_challenge_says_why_on_every_route() {
    for refusal in refusals() {
        for route in authenticated_routes() {
            let mut mocks = Mocks::new();
            let verified = refusal.verified.clone();
            mocks
                .access_tokens
                .expect_verify()
                .withf(|token| token == ADAS_ACCESS_TOKEN)
                .times(1)
                .returning(move |_| verified.clone());
            match (&refusal.verified, refusal.user_exists) {
                (Ok(_), exists) => {
                    mocks
                        .sessions
                        .expect_find_live_user()
                        .times(1)
                        .returning(move |_, _, _| Ok(exists.then(ada)));
                }
                (Err(_), _) => {
                    mocks.sessions.expect_find_live_user().never();
                }
            }
            mocks.users.expect_update_names().never();
            mocks.users.expect_update_password_hash().never();

            let answer = mocks.send(as_ada(route())).await;

            let body = answer.assert_problem(401, "invalid_token");
            let challenge = answer.challenge();
            assert!(
                challenge.starts_with("Bearer realm=\"portico\"")
                    && challenge.contains("error=\"invalid_token\""),
                "{} on {}: challenge {challenge:?}",
                refusal.what,
                answer.sent
            );
            let description = error_description(challenge).unwrap_or_default();
            assert!(
                description.contains(refusal.described_as),
                "{} on {}: error_description {description:?} should mention {:?}",
                refusal.what,
                answer.sent,
                refusal.described_as
            );
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains(refusal.described_as)),
                "{} on {}: {body}",
                refusal.what,
                answer.sent
            );
        }
    }
}

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive_and_the_token_is_passed_on_trimmed() {
    for authorization in [
        "Bearer ada.access.jwt",
        "bearer ada.access.jwt",
        "BEARER ada.access.jwt",
        "bEaReR ada.access.jwt",
        "Bearer   ada.access.jwt  ",
    ] {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();

        let answer = mocks
            .send(
                TestRequest::get()
                    .uri("/users/me")
                    .insert_header((header::AUTHORIZATION, authorization)),
            )
            .await;

        assert_eq!(
            answer.status.as_u16(),
            200,
            "Authorization: {authorization:?} answered {}",
            answer.text()
        );
        let body = answer.json();
        assert_eq!(body["id"], ADA.to_string(), "{authorization:?}");
        assert_eq!(body["email"], "ada@example.com", "{authorization:?}");
        assert!(body.get("password_hash").is_none(), "{body}");
    }
}

#[actix_web::test]
async fn a_request_without_bearer_credentials_is_a_401_missing_token_with_a_bare_challenge() {
    for authorization in [
        None,
        Some("Bearer "),
        Some("Bearer"),
        Some("Bearer    "),
        Some("Basic YWRhOmFuYWx5dGljYWwgZW5naW5l"),
        Some("Token ada.access.jwt"),
        Some("ada.access.jwt"),
    ] {
        let mut mocks = Mocks::new();
        mocks.access_tokens.expect_verify().never();
        mocks.sessions.expect_find_live_user().never();
        let mut request = TestRequest::get().uri("/users/me");
        if let Some(value) = authorization {
            request = request.insert_header((header::AUTHORIZATION, value));
        }

        let answer = mocks.send(request).await;

        assert_eq!(
            answer.status.as_u16(),
            401,
            "Authorization: {authorization:?} answered {}",
            answer.text()
        );
        answer.assert_problem(401, "missing_token");
        assert_eq!(
            answer.challenge(),
            "Bearer realm=\"portico\"",
            "Authorization: {authorization:?}"
        );
    }
}

#[actix_web::test]
async fn a_profile_update_for_a_user_deleted_meanwhile_is_a_401_invalid_token() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .users
        .expect_update_names()
        .withf(|id, first, last, at| {
            *id == ADA && *first == name("Augusta") && *last == name("Lovelace") && *at == now()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(None));

    let answer = mocks
        .send(as_ada(
            TestRequest::patch()
                .uri("/users/me")
                .set_json(json!({"first_name": "Augusta"})),
        ))
        .await;

    answer.assert_problem(401, "invalid_token");
    let description = error_description(answer.challenge()).unwrap_or_default();
    assert!(description.contains("no longer exists"), "{description:?}");
}

/// Ada asks to change her password from the right one to a new one.
fn change_password_request() -> TestRequest {
    as_ada(
        TestRequest::put()
            .uri("/users/me/password")
            .set_json(json!({
                "current_password": ADAS_PASSWORD,
                "new_password": "difference engine",
            })),
    )
}

/// Someone else, who now holds Ada's address.
fn new_holder_of_adas_address() -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(0xb0b)),
        email: email("ada@example.com"),
        first_name: name("Bob"),
        ..ada()
    }
}

#[actix_web::test]
async fn a_password_change_for_a_user_who_vanished_is_a_401_invalid_token_and_ends_no_session() {
    let before_checking: [(&str, Option<User>); 2] = [
        ("nobody holds her address any more", None),
        (
            "her address now belongs to someone else",
            Some(new_holder_of_adas_address()),
        ),
    ];
    for (what, holder) in before_checking {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        mocks
            .users
            .expect_find_credentials()
            .times(1)
            .returning(move |_| {
                Ok(holder.clone().map(|user| StoredCredentials {
                    user,
                    password_hash: stored_hash(),
                }))
            });
        mocks.hasher.expect_verify().never();
        mocks.users.expect_update_password_hash().never();
        mocks.sessions.expect_revoke_all_of_user().never();

        let answer = mocks.send(change_password_request()).await;

        assert_eq!(answer.status.as_u16(), 401, "{what}: {}", answer.text());
        answer.assert_problem(401, "invalid_token");
    }
}

#[actix_web::test]
async fn a_password_change_whose_user_is_deleted_at_the_write_is_a_401_invalid_token() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks.ada_is_registered();
    mocks.adas_password_matches();
    mocks
        .hasher
        .expect_hash()
        .withf(|new| new.expose() == "difference engine")
        .times(1)
        .returning(|_| Ok(fresh_hash()));
    mocks
        .users
        .expect_update_password_hash()
        .withf(|id, hash, at, replacement| {
            *id == ADA
                && *hash == fresh_hash()
                && *at == now()
                && *replacement == HashReplacement::Changed
        })
        .times(1)
        .returning(|_, _, _, _| Ok(false));
    // Ending the user's sessions first or not at all is the use case's decision.
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .times(0..=1)
        .returning(|_, _, _| Ok(vec![]));

    let answer = mocks.send(change_password_request()).await;

    answer.assert_problem(401, "invalid_token");
}

#[actix_web::test]
async fn a_wrong_current_password_is_a_401_invalid_credentials_not_a_token_problem() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks.ada_is_registered();
    mocks
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Ok(PasswordCheck::Mismatch));
    mocks.hasher.expect_hash().never();
    mocks.users.expect_update_password_hash().never();
    mocks.sessions.expect_revoke_all_of_user().never();

    let answer = mocks.send(change_password_request()).await;

    answer.assert_problem(401, "invalid_credentials");
    assert!(
        !answer.challenge().contains("invalid_token"),
        "{}",
        answer.challenge()
    );
}
