//! Probes: liveness never touches storage; readiness is exactly the storage's ping.

use actix_web::test::TestRequest;
use serde_json::json;

use super::{ADAPTER_SECRET, Mocks, adapter_failure};

#[actix_web::test]
async fn liveness_answers_ok_without_asking_the_storage() {
    let mut mocks = Mocks::new();
    mocks.storage.expect_ping().never();

    let answer = mocks.send(TestRequest::get().uri("/health/live")).await;

    answer.assert_status(200);
    assert_eq!(answer.json(), json!({"status": "ok"}));
}

#[actix_web::test]
async fn readiness_answers_ready_when_the_storage_answers_its_ping() {
    let mut mocks = Mocks::new();
    mocks.storage.expect_ping().times(1).returning(|| Ok(()));

    let answer = mocks.send(TestRequest::get().uri("/health/ready")).await;

    answer.assert_status(200);
    assert_eq!(answer.json(), json!({"status": "ready"}));
}

#[actix_web::test]
async fn readiness_is_a_503_not_ready_problem_that_keeps_the_storage_error_to_itself() {
    let mut mocks = Mocks::new();
    mocks
        .storage
        .expect_ping()
        .times(1)
        .returning(|| Err(adapter_failure()));

    let answer = mocks.send(TestRequest::get().uri("/health/ready")).await;

    answer.assert_problem(503, "not_ready");
    assert!(
        !answer.text().contains(ADAPTER_SECRET),
        "the storage's error leaked: {}",
        answer.text()
    );
}
