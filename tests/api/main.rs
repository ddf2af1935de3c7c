//! End-to-end tests: the real application on an ephemeral port with a fresh SQLite file,
//! driven over real HTTP.

mod helpers;

mod accounts;
mod documentation;
mod errors;
mod sessions;
