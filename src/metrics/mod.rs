//! What `/metrics` serves: the contract, the job families rendered from the
//! snapshot, and the exporter's own metrics.

pub mod contract;
mod registry;
mod render;

pub use registry::{REVISION, SelfMetrics, VERSION};
pub use render::render_jobs;

use crate::snapshot::Snapshot;

/// The whole exposition: job families from `snapshot`, then the self-metrics.
pub fn render(snapshot: &Snapshot, self_metrics: &SelfMetrics) -> Vec<u8> {
    let mut text = String::with_capacity(256 + snapshot.jobs.len() * 1024);
    render_jobs(snapshot, tokio::time::Instant::now(), &mut text);
    let mut out = text.into_bytes();
    self_metrics.render(&mut out);
    out
}
