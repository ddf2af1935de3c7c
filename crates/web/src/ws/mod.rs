//! The WebSocket side of the adapter: the protocol's frames (SPEC §5). The connection
//! task over actix-ws comes with the rooms' use cases.

pub mod protocol;
