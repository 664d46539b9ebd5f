//! The CAS OpenAPI client: signed calls over HTTP, typed responses and errors.

mod action;
mod client;
mod error;
pub mod model;

/// Where the API is: [`ClientOptions`] holds one.
pub use crate::acs::Endpoint;
pub use action::{Action, PerAction};
#[cfg(test)]
pub(crate) use client::test_client;
pub use client::{Client, ClientOptions, RequestObserver};
pub use error::{
    ApiError, CODE_FAMILIES, KNOWN_CODES, OTHER_CODE, ServiceError, SignatureMismatch, code_label,
};

/// The CAS API version every request names.
pub const API_VERSION: &str = "2020-04-07";
