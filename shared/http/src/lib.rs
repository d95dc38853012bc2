//! HTTP glue shared by every Lambda function and `portal-local`: the route table, bearer-token
//! extraction, body limits, and the mapping of domain outcomes to problem+json. Handlers are
//! thin: parse into domain types, call one domain service, map the outcome.

mod app;
mod handlers;
pub mod origin;
#[cfg(feature = "pages")]
mod pages;
pub mod problem;
pub mod request;
pub mod response;
pub mod routes;

pub use app::App;
pub use routes::{Function, ROUTES};

/// Bodies above this are refused with `413 payload_too_large`.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
