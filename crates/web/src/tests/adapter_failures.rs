//! An adapter failing at any step of any route is a 500 `internal` problem that says
//! nothing of the failure: the adapter's message is for the log only.

use actix_web::http::header;
use actix_web::test::TestRequest;
use domain::ports::{AdapterError, InsertUserError};
use serde_json::json;

use super::{
    ADA, ADAPTER_SECRET, ADAS_PASSWORD, Mocks, ada, adapter_failure, as_ada, login_request,
    refresh_token_request, register_request,
};

/// Which step fails, how the rest of the world behaves up to it, and what is sent.
struct Case {
    what: &'static str,
    arrange: fn(&mut Mocks),
    request: fn() -> TestRequest,
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

/// Ada asks for a new first name.
fn update_profile_request() -> TestRequest {
    as_ada(
        TestRequest::patch()
            .uri("/users/me")
            .set_json(json!({"first_name": "Augusta"})),
    )
}

/// Ada's change of password gets as far as storing the new hash.
fn password_change_reaches_the_store(mocks: &mut Mocks) {
    mocks.ada_is_authenticated();
    mocks.ada_is_registered();
    mocks.adas_password_matches();
    mocks
        .hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(super::fresh_hash()));
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "registering, when hashing the password fails",
            arrange: |mocks| {
                mocks
                    .hasher
                    .expect_hash()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.users.expect_insert().never();
            },
            request: register_request,
        },
        Case {
            what: "registering, when storing the user fails",
            arrange: |mocks| {
                mocks
                    .hasher
                    .expect_hash()
                    .times(1)
                    .returning(|_| Ok(super::fresh_hash()));
                mocks
                    .users
                    .expect_insert()
                    .times(1)
                    .returning(|_| Err(InsertUserError::Adapter(adapter_failure())));
            },
            request: register_request,
        },
        Case {
            what: "logging in, when reading the credentials fails",
            arrange: |mocks| {
                mocks
                    .users
                    .expect_find_credentials()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.hasher.expect_verify().never();
            },
            request: login_request,
        },
        Case {
            what: "logging in, when the stored hash cannot be checked",
            arrange: |mocks| {
                mocks.ada_is_registered();
                mocks
                    .hasher
                    .expect_verify()
                    .times(1)
                    .returning(|_, _| Err(adapter_failure()));
            },
            request: login_request,
        },
        Case {
            what: "logging in, when minting the refresh token fails",
            arrange: |mocks| {
                mocks.ada_is_registered();
                mocks.adas_password_matches();
                mocks
                    .refresh_tokens
                    .expect_mint()
                    .times(1)
                    .returning(|| Err(adapter_failure()));
                mocks.sessions.expect_start().never();
            },
            request: login_request,
        },
        Case {
            what: "logging in, when signing the access token fails",
            arrange: |mocks| {
                mocks.ada_is_registered();
                mocks.adas_password_matches();
                mocks
                    .refresh_tokens
                    .expect_mint()
                    .times(1)
                    .returning(|| Ok(super::minted()));
                mocks
                    .access_tokens
                    .expect_issue()
                    .times(1)
                    .returning(|_, _, _, _| Err(adapter_failure()));
                mocks.sessions.expect_start().never();
            },
            request: login_request,
        },
        Case {
            what: "logging in, when starting the session fails",
            arrange: |mocks| {
                mocks.ada_is_registered();
                mocks.adas_password_matches();
                mocks.issues_one_pair();
                mocks
                    .sessions
                    .expect_start()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
            },
            request: login_request,
        },
        Case {
            what: "refreshing, when reading the presented token fails",
            arrange: |mocks| {
                mocks
                    .sessions
                    .expect_find_token()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
            },
            request: || refresh_token_request("/refresh"),
        },
        Case {
            what: "refreshing, when reading the token's user fails",
            arrange: |mocks| {
                mocks.presented_token_is_live();
                mocks
                    .users
                    .expect_find_by_id()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.sessions.expect_rotate().never();
            },
            request: || refresh_token_request("/refresh"),
        },
        Case {
            what: "refreshing, when rotating the token fails",
            arrange: |mocks| {
                mocks.presented_token_is_live();
                mocks
                    .users
                    .expect_find_by_id()
                    .times(1)
                    .returning(|_| Ok(Some(ada())));
                mocks.issues_one_pair();
                mocks
                    .sessions
                    .expect_rotate()
                    .times(1)
                    .returning(|_, _, _| Err(adapter_failure()));
            },
            request: || refresh_token_request("/refresh"),
        },
        Case {
            what: "logging out, when reading the presented token fails",
            arrange: |mocks| {
                mocks
                    .sessions
                    .expect_find_token()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.sessions.expect_revoke().never();
            },
            request: || refresh_token_request("/logout"),
        },
        Case {
            what: "logging out, when revoking the session fails",
            arrange: |mocks| {
                mocks.presented_token_is_live();
                mocks
                    .sessions
                    .expect_revoke()
                    .times(1)
                    .returning(|_, _| Err(adapter_failure()));
            },
            request: || refresh_token_request("/logout"),
        },
        Case {
            what: "authenticating, when reading the token's user fails",
            arrange: |mocks| {
                mocks
                    .access_tokens
                    .expect_verify()
                    .times(1)
                    .returning(|_| Ok(super::adas_claims()));
                mocks
                    .sessions
                    .expect_find_live_user()
                    .withf(|_, id, _| *id == ADA)
                    .times(1)
                    .returning(|_, _, _| Err(adapter_failure()));
            },
            request: || as_ada(TestRequest::get().uri("/users/me")),
        },
        Case {
            what: "updating the profile, when storing the names fails",
            arrange: |mocks| {
                mocks.ada_is_authenticated();
                mocks
                    .users
                    .expect_update_names()
                    .times(1)
                    .returning(|_, _, _, _| Err(adapter_failure()));
            },
            request: update_profile_request,
        },
        Case {
            what: "changing the password, when reading the credentials fails",
            arrange: |mocks| {
                mocks.ada_is_authenticated();
                mocks
                    .users
                    .expect_find_credentials()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.users.expect_update_password_hash().never();
            },
            request: change_password_request,
        },
        Case {
            what: "changing the password, when hashing the new one fails",
            arrange: |mocks| {
                mocks.ada_is_authenticated();
                mocks.ada_is_registered();
                mocks.adas_password_matches();
                mocks
                    .hasher
                    .expect_hash()
                    .times(1)
                    .returning(|_| Err(adapter_failure()));
                mocks.users.expect_update_password_hash().never();
            },
            request: change_password_request,
        },
        Case {
            what: "changing the password, when storing the new hash fails",
            arrange: |mocks| {
                password_change_reaches_the_store(mocks);
                mocks
                    .users
                    .expect_update_password_hash()
                    .times(1)
                    .returning(|_, _, _, _| Err(adapter_failure()));
                // Whether sessions end before or after the write is the use case's
                // decision (and its tests'); either way the answer is a 500.
                mocks
                    .sessions
                    .expect_revoke_all_of_user()
                    .times(0..=1)
                    .returning(|_, _, _| Ok(vec![]));
            },
            request: change_password_request,
        },
        Case {
            what: "changing the password, when revoking the sessions fails",
            arrange: |mocks| {
                password_change_reaches_the_store(mocks);
                mocks
                    .sessions
                    .expect_revoke_all_of_user()
                    .times(1)
                    .returning(|_, _, _| Err(adapter_failure()));
                mocks
                    .users
                    .expect_update_password_hash()
                    .times(0..=1)
                    .returning(|_, _, _, _| Ok(true));
            },
            request: change_password_request,
        },
        Case {
            what: "ending one of one's sessions, when revoking it fails",
            arrange: |mocks| {
                mocks.ada_is_authenticated();
                mocks
                    .sessions
                    .expect_revoke_of_user()
                    .times(1)
                    .returning(|_, _, _| Err(adapter_failure()));
                mocks.bus.expect_publish().never();
            },
            request: || {
                as_ada(TestRequest::delete().uri("/sessions/00000000-0000-4000-8000-0000000000f0"))
            },
        },
    ]
}

#[actix_web::test]
async fn an_adapter_failure_at_any_step_is_a_500_internal_problem_that_hides_the_failure() {
    for case in cases() {
        let mut mocks = Mocks::new();
        (case.arrange)(&mut mocks);

        let answer = mocks.send((case.request)()).await;

        let body = answer.assert_problem(500, "internal");
        assert_eq!(
            body["detail"], "An unexpected error occurred.",
            "{}: {}",
            case.what, answer.sent
        );
        for leaked in [ADAPTER_SECRET, "disk on fire", "SELECT"] {
            assert!(
                !answer.text().contains(leaked),
                "{}: {} answered {body}, which mentions {leaked:?}",
                case.what,
                answer.sent
            );
        }
        let headers = format!("{:?}", answer.headers);
        assert!(
            !headers.contains("disk on fire"),
            "{}: the failure leaked into the headers {headers}",
            case.what
        );
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            Some("no-store"),
            "{}",
            case.what
        );
    }
}

#[actix_web::test]
async fn an_adapter_that_sheds_load_is_a_503_overloaded_with_a_retry_after() {
    let mut mocks = Mocks::new();
    mocks.ada_is_registered();
    mocks
        .hasher
        .expect_verify()
        .times(1)
        .returning(|_, _| Err(AdapterError::overloaded("the hashing queue is full")));
    mocks.sessions.expect_start().never();

    let answer = mocks.send(login_request()).await;

    answer.assert_problem(503, "overloaded");
    assert_eq!(answer.header(header::RETRY_AFTER), Some("1"));
    assert!(
        !answer.text().contains("hashing queue"),
        "the adapter's reason leaked: {}",
        answer.text()
    );
}
