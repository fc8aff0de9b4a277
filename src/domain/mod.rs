//! Pure rules of the product story: no HTTP, no database.

mod grants;
mod rules;
mod types;

pub use grants::*;
pub use rules::*;
pub use types::*;
