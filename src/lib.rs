//! aliyun-cas-exporter: a Prometheus exporter for Alibaba Cloud Certificate
//! Management Service (CAS) deployment jobs.
//!
//! Data flows one way, in the order of these modules:
//! [`config`] → [`credentials`] → [`api`] (sign, send, parse) → [`poller`]
//! (per account: schedule, rate limit, retries, discovery; [`shard`] decides
//! which jobs are ours) → [`snapshot`] → [`metrics`] → [`http`]. [`simulator`]
//! is a strict fake of the CAS API for tests and [`demo`] mode; [`app`] wires
//! it all together and reloads it. Below them all, [`acs`] holds the Alibaba
//! Cloud request primitives (signing, endpoints, redaction) that credentials,
//! api and the simulator share, and [`body`] the response body that metrics,
//! http and the simulator send.

pub mod acs;
pub mod api;
pub mod app;
pub mod body;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod env;
pub mod http;
pub mod input;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod shard;
pub mod simulator;
pub mod snapshot;
pub mod yaml;
