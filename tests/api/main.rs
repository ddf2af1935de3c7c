//! End-to-end tests: the real application on an ephemeral port with a fresh SQLite file,
//! driven over real HTTP.

// Test code states its expectations with expect/unwrap, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;

mod accounts;
mod delivery;
mod documentation;
mod edge;
mod errors;
mod instances;
mod process;
mod protection;
mod rooms;
mod session_management;
mod sessions;
mod startup;
mod storage_failures;
mod tokens;
mod trusted_devices;
mod websocket;
mod ws_transport;
