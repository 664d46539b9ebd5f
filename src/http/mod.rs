//! The exporter's web server and the accept loop it shares with the simulator.

mod negotiate;
pub mod serve;
mod server;
pub mod web_config;

pub use server::{ExporterService, ReloadRequest, WebOptions, listen_address};
