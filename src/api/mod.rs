//! The CAS OpenAPI client: signing, HTTP, typed responses and errors.

mod action;
mod client;
mod endpoint;
pub(crate) mod error;
mod lenient;
pub mod model;
pub mod sign;
pub mod text;

pub use action::{Action, PerAction};
pub(crate) use client::read_capped;
pub use client::{Client, ClientOptions, RequestObserver};
#[cfg(test)]
pub(crate) use client::{answering, test_client};
pub use endpoint::{CN_HOST, Endpoint, EndpointError, INTL_HOST};
pub use error::{
    ApiError, CODE_FAMILIES, KNOWN_CODES, OTHER_CODE, ServiceError, SignatureMismatch, code_label,
};

/// The CAS API version every request names.
pub const API_VERSION: &str = "2020-04-07";
