//! Portico's adapters: the implementations of the domain's ports.
//!
//! The storage factory ([`storage::Storage::open`]) and its SQLite backend through diesel
//! (with migrations embedded from the workspace's `migrations/sqlite/`), bcrypt password
//! hashing on a bounded blocking pool, HS256 JWT access tokens, random refresh tokens
//! stored as SHA-256 digests, HMAC-SHA256 device tokens, the system clock and random
//! ids, and the in-process message bus and presence registry. This crate may depend on
//! `domain` and on the libraries it adapts (diesel, bcrypt, jsonwebtoken, sha2, hmac,
//! getrandom, tokio for the blocking pool and the bus's broadcast channel); never on
//! `application` or any HTTP crate.

pub mod blocking;
pub mod bus;
pub mod device_tokens;
pub mod hashing;
pub mod jwt;
pub mod login_attempts;
pub mod presence;
pub mod refresh_tokens;
pub mod sqlite;
pub mod storage;
pub mod system;
