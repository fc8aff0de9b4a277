//! Pure rules of the product story: no HTTP, no database.

mod rules;
mod types;

pub use rules::*;
pub use types::*;
