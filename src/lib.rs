//! aliyun-cas-exporter: a Prometheus exporter for Alibaba Cloud Certificate
//! Management Service (CAS) deployment jobs.
//!
//! Data flows one way, in the order of these modules:
//! [`config`] → [`credentials`] → [`api`] (sign, send, parse) → [`poller`]
//! → [`snapshot`] → [`metrics`] → [`http`]. [`simulator`] is a strict fake of
//! the CAS API for tests and [`demo`] mode; [`app`] wires it all together.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod poller;
pub mod simulator;
pub mod snapshot;
