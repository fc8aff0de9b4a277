//! access-requests: people ask for access to a product on a site; admins approve or deny.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhooks;

pub use startup::Application;
