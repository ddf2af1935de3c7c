//! `GET /ws` before the protocol switches: who is refused, and how. (The sockets
//! themselves are driven end to end in `tests/api/websocket.rs`.)

use actix_web::http::header;
use actix_web::test::TestRequest;

use super::websocket_handshake as upgrade;
use super::{ADA, ADAPTER_SECRET, ADAS_ACCESS_TOKEN, Mocks, adapter_failure, as_ada};

#[actix_web::test]
async fn without_a_token_there_is_no_upgrade() {
    let answer = Mocks::new().send(upgrade()).await;
    answer.assert_problem(401, "missing_token");
    assert_eq!(answer.challenge(), "Bearer realm=\"portico\"");
}

#[actix_web::test]
async fn a_refused_token_in_the_header_or_the_query_is_a_401_invalid_token() {
    for request in [
        upgrade().insert_header((header::AUTHORIZATION, "Bearer forged")),
        upgrade().uri("/ws?access_token=forged"),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .access_tokens
            .expect_verify()
            .returning(|_| Err(domain::ports::TokenRejection::Invalid));
        let answer = mocks.send(request).await;
        answer.assert_problem(401, "invalid_token");
    }
}

#[actix_web::test]
async fn a_valid_token_on_a_request_that_is_no_handshake_is_a_400() {
    let mut mocks = Mocks::new();
    mocks.ada_is_authenticated();
    let answer = mocks.send(as_ada(TestRequest::get().uri("/ws"))).await;
    answer.assert_problem(400, "malformed_request");
}

#[actix_web::test]
async fn the_query_token_is_read_when_there_is_no_header() {
    let mut mocks = Mocks::new();
    mocks
        .access_tokens
        .expect_verify()
        .withf(|token| token == ADAS_ACCESS_TOKEN)
        .times(1)
        .returning(|_| Ok(test_support::adas_claims()));
    mocks
        .sessions
        .expect_find_live_user()
        .withf(|_, id, _| *id == ADA)
        .times(1)
        .returning(|_, _, _| Err(adapter_failure()));
    let answer = mocks
        .send(upgrade().uri(&format!("/ws?access_token={ADAS_ACCESS_TOKEN}")))
        .await;
    answer.assert_problem(500, "internal");
    assert!(!answer.text().contains(ADAPTER_SECRET));
}
