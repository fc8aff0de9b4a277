//! Background loops that run next to the HTTP server and call the use cases in `app`.

pub mod expiry;
pub mod prune;
