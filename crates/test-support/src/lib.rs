//! Portico's test support: the fixtures every ring of tests tells its stories with (Ada,
//! her password and tokens, a clock stopped at [`now`]), [`Fakes`] of every port with
//! the expectations the stories share, and the contract suites that every adapter of a
//! port must pass ([`contracts`]).
//!
//! This crate may depend on `domain` (with its `mocks` feature) and on what the fakes
//! need (`mockall`, `chrono`, `uuid`), and, behind its `postgres` feature, on diesel to
//! create and drop scratch PostgreSQL databases ([`postgres`], whose choice of running
//! or skipping the PostgreSQL suites needs no feature); never on `application`,
//! `web` or an adapter, so that any of them can use it as a dev-dependency. It is never
//! part of the binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clock;
pub mod contracts;
mod fakes;
mod fixtures;
pub mod postgres;

pub use clock::ManualClock;
pub use fakes::Fakes;
pub use fixtures::*;
