//! What `/metrics` serves: the contract, the job families rendered from the
//! snapshots, and the exporter's own metrics.

pub mod contract;
mod registry;
mod render;

pub use registry::{REVISION, SelfMetrics, VERSION};
pub use render::render_jobs;

use crate::snapshot::SnapshotStore;

/// The whole exposition: job families from `store`, then the self-metrics.
pub fn render(store: &SnapshotStore, self_metrics: &SelfMetrics) -> Vec<u8> {
    let accounts = store.load();
    let jobs: usize = accounts.values().map(|a| a.jobs.len()).sum();
    let mut text = String::with_capacity(4096 + jobs * 2048);
    render_jobs(&accounts, tokio::time::Instant::now(), &mut text);
    let mut out = text.into_bytes();
    self_metrics.render(&mut out);
    out
}
