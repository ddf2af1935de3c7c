//! What both storage backends do with readiness outcomes: log each cause once.

use std::sync::{Mutex, PoisonError};

use domain::ports::AdapterError;

/// Logs why the store is not ready once per cause, and once when it is ready again, so
/// a probe every few seconds does not repeat the same line.
#[derive(Debug, Default)]
pub(crate) struct ReadinessLog(Mutex<Option<String>>);

impl ReadinessLog {
    pub(crate) fn record(&self, outcome: &Result<(), AdapterError>) {
        let mut reported = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => {
                if reported.take().is_some() {
                    tracing::info!("the database is ready again");
                }
            }
            Err(error) => {
                let cause = error.to_string();
                if reported.as_deref() != Some(cause.as_str()) {
                    tracing::error!(
                        error.cause_chain = ?error,
                        "the database is not ready: {cause}; see docs/operations.md"
                    );
                    *reported = Some(cause);
                }
            }
        }
    }
}
