//! `GET /sessions`, `DELETE /sessions/{id}` and `DELETE /sessions`: the JSON a client
//! reads, the one 404 for every id that is not a live session of the caller's, and the
//! user agent a login keeps.

use actix_web::http::header;
use actix_web::test::TestRequest;
use chrono::Duration;
use domain::{SessionId, SessionSummary, UserAgent};
use serde_json::json;
use test_support::SESSION;
use uuid::Uuid;

use super::{ADA, Mocks, as_ada, login_request, now};

/// Ada's phone: another of her sessions.
const PHONE: SessionId = SessionId::from_uuid(Uuid::from_u128(0xf0e));

#[actix_web::test]
async fn the_list_shows_each_live_session_with_the_callers_marked_current_and_no_token() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .sessions
        .expect_list_live()
        .withf(|user, at| *user == ADA && *at == now())
        .times(1)
        .returning(|_, _| {
            Ok(vec![
                SessionSummary {
                    id: PHONE,
                    created_at: now() - Duration::days(1),
                    last_used_at: now() - Duration::minutes(1),
                    expires_at: now() + Duration::days(6),
                    user_agent: None,
                },
                SessionSummary {
                    id: SESSION,
                    created_at: now() - Duration::hours(2),
                    last_used_at: now() - Duration::hours(2),
                    expires_at: now() + Duration::days(7),
                    user_agent: UserAgent::from_presented("Firefox/140.0"),
                },
            ])
        });

    let answer = mocks
        .send(as_ada(TestRequest::get().uri("/sessions")))
        .await;

    answer.assert_status(200);
    assert_eq!(answer.header(header::CACHE_CONTROL), Some("no-store"));
    let at = |instant: chrono::DateTime<chrono::Utc>| {
        instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    assert_eq!(
        answer.json(),
        json!({"sessions": [
            {
                "id": PHONE.to_string(),
                "created_at": at(now() - Duration::days(1)),
                "last_used_at": at(now() - Duration::minutes(1)),
                "expires_at": at(now() + Duration::days(6)),
                "user_agent": null,
                "current": false,
            },
            {
                "id": SESSION.to_string(),
                "created_at": at(now() - Duration::hours(2)),
                "last_used_at": at(now() - Duration::hours(2)),
                "expires_at": at(now() + Duration::days(7)),
                "user_agent": "Firefox/140.0",
                "current": true,
            },
        ]})
    );
}

#[actix_web::test]
async fn ending_a_session_of_ones_own_is_a_204_and_announces_its_end() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .sessions
        .expect_revoke_of_user()
        .withf(|user, session, _| *user == ADA && *session == PHONE)
        .times(1)
        .returning(|_, _, _| Ok(true));
    mocks.announces_the_end_of(&[PHONE]);

    let answer = mocks
        .send(as_ada(
            TestRequest::delete().uri(&format!("/sessions/{PHONE}")),
        ))
        .await;

    answer.assert_status(204);
}

#[actix_web::test]
async fn an_id_that_is_no_live_session_of_the_callers_is_one_404_session_not_found() {
    // Malformed ids never reach the store; a well-formed one the store does not end for
    // the caller (unknown, ended, another user's) is answered the same.
    for (what, id, reaches_the_store) in [
        ("a malformed id", "not-a-session", false),
        ("a number", "42", false),
        (
            "another user's session",
            "00000000-0000-0000-0000-000000000b0b",
            true,
        ),
    ] {
        let mut mocks = Mocks::new();
        mocks.ada_is_authenticated();
        mocks
            .sessions
            .expect_revoke_of_user()
            .times(usize::from(reaches_the_store))
            .returning(|_, _, _| Ok(false));
        mocks.bus.expect_publish().never();

        let answer = mocks
            .send(as_ada(
                TestRequest::delete().uri(&format!("/sessions/{id}")),
            ))
            .await;

        let body = answer.assert_problem(404, "session_not_found");
        assert_eq!(
            body["detail"], "You have no live session with this id; GET /sessions lists them.",
            "sent {what}"
        );
    }
}

#[actix_web::test]
async fn ending_the_other_sessions_is_a_204_keeping_the_callers() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    mocks
        .sessions
        .expect_revoke_all_of_user()
        .withf(|user, except, _| *user == ADA && *except == Some(SESSION))
        .times(1)
        .returning(|_, _, _| Ok(vec![PHONE]));
    mocks.announces_the_end_of(&[PHONE]);

    let answer = mocks
        .send(as_ada(TestRequest::delete().uri("/sessions")))
        .await;

    answer.assert_status(204);
}

#[actix_web::test]
async fn a_login_keeps_the_clients_user_agent_made_printable() {
    for (sent, kept) in [
        // A header may carry a tab (the one control character HTTP lets through).
        (
            Some(&b"Firefox/140.0\t(X11)"[..]),
            Some("Firefox/140.0(X11)"),
        ),
        // Bytes that are not UTF-8 are kept as replacement characters, not dropped.
        (Some(&b"Caf\xe9/1.0"[..]), Some("Caf\u{fffd}/1.0")),
        (Some(&b"   "[..]), None),
        (None, None),
    ] {
        let mut mocks = Mocks::new();
        mocks.ada_is_registered();
        mocks.adas_password_matches();
        mocks.issues_one_pair();
        mocks.mints_device_tokens();
        let expected = kept.map(str::to_owned);
        mocks
            .sessions
            .expect_start()
            .withf(move |new| {
                new.user_id == ADA && new.user_agent.as_ref().map(ToString::to_string) == expected
            })
            .times(1)
            .returning(|_| Ok(()));
        let mut request = login_request();
        if let Some(agent) = sent {
            request = request.insert_header((
                header::USER_AGENT,
                header::HeaderValue::from_bytes(agent).unwrap(),
            ));
        }

        let answer = mocks.send(request).await;

        answer.assert_status(200);
    }
}
