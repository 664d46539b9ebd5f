//! The exporter's own metrics (API calls, build info, process), kept in a
//! `prometheus` registry whose HELP texts come from the contract.

use super::contract::{self, MetricDef};
use crate::api::RequestObserver;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

/// The exporter's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from.
pub const REVISION: &str = env!("ALIYUN_CAS_EXPORTER_REVISION");

/// Buckets for API latency: the default request timeout is 10 s.
const DURATION_BUCKETS: &[f64] = &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The self-metrics and the registry that serves them.
#[derive(Clone)]
pub struct SelfMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
}

fn opts(def: &MetricDef) -> Opts {
    Opts::new(def.name, def.help)
}

impl Default for SelfMetrics {
    /// Registers every self-metric, the process collector included.
    fn default() -> Self {
        let registry = Registry::new();
        let api_requests =
            IntCounterVec::new(opts(&contract::API_REQUESTS), contract::API_REQUESTS.labels)
                .expect("valid metric");
        let api_duration = HistogramVec::new(
            HistogramOpts::from(opts(&contract::API_REQUEST_DURATION))
                .buckets(DURATION_BUCKETS.to_vec()),
            contract::API_REQUEST_DURATION.labels,
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(opts(&contract::BUILD_INFO), contract::BUILD_INFO.labels)
            .expect("valid metric");
        build_info.with_label_values(&[VERSION, REVISION]).set(1);
        for collector in [
            Box::new(api_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(api_duration.clone()),
            Box::new(build_info),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector).expect("names are unique");
        }
        Self {
            registry,
            api_requests,
            api_duration,
        }
    }
}

impl SelfMetrics {
    /// Appends every self-metric in the text format.
    pub fn render(&self, out: &mut Vec<u8>) {
        // Encoding into memory can only fail on invalid families, which the contract rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), out);
    }
}

impl RequestObserver for SelfMetrics {
    fn observe(&self, action: &str, code: &str, elapsed: Duration) {
        self.api_requests.with_label_values(&[action, code]).inc();
        self.api_duration
            .with_label_values(&[action])
            .observe(elapsed.as_secs_f64());
    }
}
