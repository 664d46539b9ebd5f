//! Alibaba Cloud request primitives, shared by the CAS client, the credentials
//! providers and the simulator: the credentials a request is signed with, RPC
//! signing, endpoints, reading an answer within a cap, removing secrets from
//! what a service echoes, and bounds on the text services send.

mod access_key;
mod answer;
mod endpoint;
pub(crate) mod redact;
mod region;
mod secret;
pub mod sign;
pub mod text;

pub use access_key::Credentials;
#[cfg(test)]
pub(crate) use answer::answering;
pub(crate) use answer::read_capped;
pub use endpoint::{CN_HOST, Endpoint, EndpointError, INTL_HOST};
pub use region::{Network, PRESETS, region_of};
pub use secret::Secret;
