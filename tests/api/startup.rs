//! Starting and stopping the real application: settings its adapters refuse stop it
//! before it listens, naming the part; a storage that cannot close does not keep it
//! from stopping.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::AdapterError;
use infrastructure::hashing::HashPolicy;
use infrastructure::storage::{Storage, StorageShutdown};
use portico::{Application, Config, Overrides, StartupError};

use crate::helpers::test_config;

/// The test configuration on a fresh SQLite file in `folder`.
fn config_in(folder: &tempfile::TempDir) -> Config {
    let url = format!("sqlite://{}", folder.path().join("portico.db").display());
    test_config(&url, &[])
}

/// Settings the variables' parsers would refuse, handed to the application as a
/// caller building its `Config` by hand could.
/// What is spoilt, how, and the refusal it must cause.
type Case = (&'static str, fn(&mut Config), fn(&StartupError) -> bool);

#[tokio::test]
async fn settings_the_adapters_cannot_use_stop_the_start_naming_the_part() {
    let cases: [Case; 3] = [
        (
            "a bcrypt cost below 4",
            |config| config.hash_policy = HashPolicy::Bcrypt { cost: 3 },
            |error| matches!(error, StartupError::Hashing(_)),
        ),
        (
            "a JWT secret of five bytes",
            |config| config.jwt_secret = b"short".to_vec(),
            |error| matches!(error, StartupError::Jwt(_)),
        ),
        (
            "device tokens that expire as they are issued",
            |config| config.device_token_ttl = Duration::ZERO,
            |error| matches!(error, StartupError::DeviceTokens(_)),
        ),
    ];
    for (case, spoil, expected) in cases {
        let folder = tempfile::tempdir().unwrap();
        let mut config = config_in(&folder);
        spoil(&mut config);

        match Application::build(config) {
            Ok(_) => panic!("{case}: the application started"),
            Err(error) => assert!(expected(&error), "{case}: refused as {error:?}"),
        }
    }
}

/// A storage whose close fails, and says it was asked.
struct FailingClose(Arc<AtomicBool>);

#[async_trait]
impl StorageShutdown for FailingClose {
    async fn close(&self) -> Result<(), AdapterError> {
        self.0.store(true, Ordering::SeqCst);
        Err(AdapterError::new(
            "checkpoint failed",
            std::io::Error::other("disk I/O error"),
        ))
    }
}

#[tokio::test]
async fn a_storage_that_cannot_close_does_not_keep_the_service_from_stopping() {
    let folder = tempfile::tempdir().unwrap();
    let asked = Arc::new(AtomicBool::new(false));
    let closing = Arc::clone(&asked);
    let overrides = Overrides {
        wrap_storage: Some(Arc::new(move |storage| Storage {
            shutdown: Arc::new(FailingClose(Arc::clone(&closing))),
            ..storage
        })),
        ..Overrides::default()
    };
    let application = Application::build_with(config_in(&folder), overrides).unwrap();

    let stopped = application.run_until_stopped(async {}).await;

    assert!(stopped.is_ok(), "stopped with {stopped:?}");
    assert!(
        asked.load(Ordering::SeqCst),
        "the storage was asked to close"
    );
}
