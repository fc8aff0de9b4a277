//! Background loops that run next to the HTTP server.

pub mod prune;
