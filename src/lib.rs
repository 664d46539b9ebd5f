//! aliyun-cas-exporter: a Prometheus exporter for Alibaba Cloud Certificate
//! Management Service (CAS) deployment jobs.
//!
//! Data flows one way: [`config`] → [`credentials`] → [`api`] (sign, send,
//! parse) → [`poller`] (per account: schedule, rate limit, retries, discovery;
//! [`shard`] decides which jobs are ours) → [`snapshot`] → [`metrics`] →
//! [`http`]. [`simulator`] is a strict fake of the CAS API for tests and
//! [`demo`] mode; [`app`] wires it all together and reloads it. Below them all
//! are [`env`](mod@env), [`input`], [`yaml`], [`acs`] (Alibaba Cloud request
//! primitives) and [`body`]. docs/architecture.md gives the layer order that
//! imports follow, which `tests/it/structure.rs` checks.

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
