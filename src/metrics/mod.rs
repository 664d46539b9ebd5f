//! What `/metrics` serves: the contract, the job families rendered from the
//! snapshots, and the exporter's own metrics, in the text format or OpenMetrics.

pub mod contract;
pub mod contract_table;
mod details;
mod exposition;
mod format;
mod openmetrics;
mod process;
mod registry;
mod render;
mod self_block;
mod writer;

pub use exposition::Exposition;
pub use format::Format;
pub use registry::{REVISION, SelfMetrics, VERSION};
pub use render::render_jobs;
