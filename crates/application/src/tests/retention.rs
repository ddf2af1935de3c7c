//! PruneHistory: retention applied in the background, one bounded step at a time.

use std::num::NonZeroU64;

use chrono::Duration;
use domain::Retention;

use super::{Mocks, boom, now, policies};
use crate::{PruneHistory, UseCases};

#[tokio::test]
async fn a_step_asks_the_store_to_remove_what_the_policy_no_longer_keeps_at_the_clocks_time() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_prune()
        .withf(|retention, at, limit| {
            *retention
                == Retention {
                    max_messages: NonZeroU64::new(100),
                    max_age: Some(Duration::days(30)),
                }
                && *at == now()
                && *limit == PruneHistory::STEP
        })
        .times(1)
        .returning(|_, _, _| Ok(7));

    let prune = mocks.use_cases().prune_history;

    assert!(!prune.keeps_everything());
    assert_eq!(prune.step().await.unwrap(), 7);
}

#[tokio::test]
async fn keeping_everything_never_asks_the_store() {
    let mut mocks = Mocks::new();
    mocks.rooms.expect_prune().never();
    let mut keep_everything = policies();
    keep_everything.rooms.retention = Retention::KEEP_EVERYTHING;

    let prune = UseCases::new(&mocks.0.into_ports(), keep_everything).prune_history;

    assert!(prune.keeps_everything());
    assert_eq!(prune.step().await.unwrap(), 0);
}

#[tokio::test]
async fn a_failing_store_fails_the_step() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_prune()
        .times(1)
        .returning(|_, _, _| Err(boom("prune")));

    let result = mocks.use_cases().prune_history.step().await;

    assert!(result.is_err());
}
