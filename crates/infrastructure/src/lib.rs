//! Portico's adapters: the implementations of the domain's ports.
//!
//! The storage factory ([`storage::Storage::open`]) and its two backends through diesel:
//! SQLite, embedded (migrations from the workspace's `migrations/sqlite/`), and
//! PostgreSQL, for several instances (`migrations/postgres/`, libpq bundled); bcrypt password
//! hashing on a bounded lane of low-priority threads, HS256 JWT access tokens, random refresh tokens
//! stored as SHA-256 digests, HMAC-SHA256 device tokens, the system clock and random
//! ids, and the in-process message bus and presence registry. This crate may depend on
//! `domain` and on the libraries it adapts (diesel, libsqlite3-sys, pq-sys, bcrypt, jsonwebtoken, sha2, hmac,
//! getrandom, tokio for the bus's broadcast channel, thread-priority and rustix for the hashing threads' priority); never on
//! `application` or any HTTP crate.

pub mod blocking;
pub mod bus;
pub mod device_tokens;
pub mod hashing;
pub mod jwt;
pub mod login_attempts;
pub mod postgres;
pub mod presence;
mod readiness;
pub mod refresh_tokens;
pub mod sqlite;
pub mod storage;
mod stored_rooms;
mod stored_users;
pub mod system;
