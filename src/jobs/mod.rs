//! Background loops that call the use cases in `app`.

pub mod expiry;
