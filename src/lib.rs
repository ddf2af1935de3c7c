//! The Portico service: configuration, telemetry and the wiring of adapters into use
//! cases and the HTTP app. The binary in `main.rs` only calls into this crate, and the
//! end-to-end tests start the same [`Application`] the binary starts.
//!
//! This crate may depend on every layer: it is where they meet.

pub mod config;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use startup::{Application, Overrides, StartupError};
