//! What both storage backends do with readiness outcomes: log each cause once.

use std::sync::{Mutex, PoisonError};

use domain::ports::AdapterError;

/// Logs why the store is not ready once per cause, and once when it is ready again, so
/// a probe every few seconds does not repeat the same line.
#[derive(Debug, Default)]
pub(crate) struct ReadinessLog(Mutex<Option<String>>);

impl ReadinessLog {
    pub(crate) fn record(&self, outcome: &Result<(), AdapterError>) {
        if !self.is_news(outcome) {
            return;
        }
        match outcome {
            Ok(()) => tracing::info!("the database is ready again"),
            Err(error) => tracing::error!(
                error.cause_chain = ?error,
                "the database is not ready: {error}; see docs/operations.md"
            ),
        }
    }

    /// Whether `outcome` says something other than what was last logged (and remembers
    /// it): a cause not logged last time, or readiness after a failure. Readiness with
    /// no failure before it is no news.
    fn is_news(&self, outcome: &Result<(), AdapterError>) -> bool {
        let mut reported = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let cause = outcome.as_ref().err().map(ToString::to_string);
        if *reported == cause {
            return false;
        }
        *reported = cause;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(cause: &'static str) -> Result<(), AdapterError> {
        Err(AdapterError::new(cause, "io error"))
    }

    #[test]
    fn each_cause_is_logged_once_and_so_is_the_recovery() {
        let log = ReadinessLog::default();
        let cases = [
            (Ok(()), false, "ready from the start: nothing to say"),
            (failing("the disk is full"), true, "a first failure"),
            (failing("the disk is full"), false, "the same cause again"),
            (failing("the file was replaced"), true, "another cause"),
            (failing("the disk is full"), true, "the first cause, back"),
            (Ok(()), true, "ready again"),
            (Ok(()), false, "still ready"),
        ];
        for (outcome, logged, story) in cases {
            assert_eq!(log.is_news(&outcome), logged, "{story}");
        }
    }
}
