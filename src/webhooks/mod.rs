//! Outbound webhooks (contract §4): events, Standard Webhooks signing, the delivery worker.

pub mod events;
pub mod payloads;
pub mod schedule;
pub mod signing;
pub mod worker;

pub use worker::Worker;
