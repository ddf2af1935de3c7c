//! A store that cannot write: no write is reported that was not stored, and readiness
//! tells the truth (a failing write, a database file deleted under the server).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{
    AdapterError, HashReplacement, InsertUserError, StorageHealth, StoredCredentials,
    UserRepository,
};
use domain::{Email, NewUser, PasswordHash, PersonName, User, UserId};
use infrastructure::storage::Storage;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app, spawn_app_wrapping_storage};

/// A switch that makes every write of the wrapped store fail, as a full disk would.
#[derive(Clone, Default)]
struct DiskFull(Arc<AtomicBool>);

impl DiskFull {
    fn set(&self, full: bool) {
        self.0.store(full, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), AdapterError> {
        if self.0.load(Ordering::SeqCst) {
            Err(AdapterError::new(
                "database call failed",
                std::io::Error::other("database or disk is full"),
            ))
        } else {
            Ok(())
        }
    }
}

/// The real users store, whose writes fail while the disk is full.
struct FailingUsers {
    inner: Arc<dyn UserRepository>,
    disk: DiskFull,
}

#[async_trait]
impl UserRepository for FailingUsers {
    async fn insert(&self, new_user: NewUser) -> Result<(), InsertUserError> {
        self.disk.check()?;
        self.inner.insert(new_user).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, AdapterError> {
        self.inner.find_by_id(id).await
    }

    async fn find_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, AdapterError> {
        self.inner.find_by_ids(ids).await
    }

    async fn find_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<StoredCredentials>, AdapterError> {
        self.inner.find_credentials(email).await
    }

    async fn update_names(
        &self,
        id: UserId,
        first_name: PersonName,
        last_name: PersonName,
        updated_at: DateTime<Utc>,
    ) -> Result<Option<User>, AdapterError> {
        self.disk.check()?;
        self.inner
            .update_names(id, first_name, last_name, updated_at)
            .await
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        password_hash: PasswordHash,
        at: DateTime<Utc>,
        replacement: HashReplacement,
    ) -> Result<bool, AdapterError> {
        self.disk.check()?;
        self.inner
            .update_password_hash(id, password_hash, at, replacement)
            .await
    }
}

/// The real health check, which a full disk fails too.
struct FailingHealth {
    inner: Arc<dyn StorageHealth>,
    disk: DiskFull,
}

#[async_trait]
impl StorageHealth for FailingHealth {
    async fn ping(&self) -> Result<(), AdapterError> {
        self.disk.check()?;
        self.inner.ping().await
    }
}

/// An app whose users store and health check fail while `disk` is full.
async fn app_on(disk: &DiskFull) -> crate::helpers::TestApp {
    let disk = disk.clone();
    spawn_app_wrapping_storage(move |storage| Storage {
        users: Arc::new(FailingUsers {
            inner: storage.users,
            disk: disk.clone(),
        }),
        health: Arc::new(FailingHealth {
            inner: storage.health,
            disk: disk.clone(),
        }),
        ..storage
    })
    .await
}

#[tokio::test]
async fn a_profile_update_the_store_cannot_keep_is_a_500_and_nothing_changes() {
    let disk = DiskFull::default();
    let app = app_on(&disk).await;
    let (_, tokens) = app.signed_in_user().await;
    let before: Value = app.me(&tokens.access).await.json().await.unwrap();

    disk.set(true);
    for attempt in 0..5 {
        let response = app
            .update_me(
                &tokens.access,
                &json!({"last_name": format!("Byron {attempt}")}),
            )
            .await;
        assert_problem(response, 500, "internal").await;
    }
    disk.set(false);

    let after: Value = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(after, before, "no refused update was kept");
}

#[tokio::test]
async fn readiness_is_503_while_the_store_cannot_write_and_200_again_after() {
    let disk = DiskFull::default();
    let app = app_on(&disk).await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    disk.set(true);
    assert_problem(app.get("/health/ready").await, 503, "not_ready").await;

    disk.set(false);
    assert_eq!(app.get("/health/ready").await.status(), 200);
}

#[tokio::test]
async fn readiness_is_503_once_the_database_file_is_deleted_under_the_server() {
    let app = spawn_app().await;
    app.register_user().await;
    assert_eq!(app.get("/health/ready").await.status(), 200);

    let path = app
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite test database");
    let folder = std::path::Path::new(path)
        .parent()
        .expect("the data folder");
    std::fs::remove_dir_all(folder).unwrap();

    assert_problem(app.get("/health/ready").await, 503, "not_ready").await;
}
