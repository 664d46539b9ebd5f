//! The exporter's own metrics (API calls, retries, rate-limit waits, shard,
//! reloads, build, process), kept in a `prometheus` registry whose HELP texts
//! come from the contract.

use super::contract::{self, MetricDef};
use super::format::Format;
use super::openmetrics;
use super::process::ProcessMetrics;
use crate::api::{Action, RequestObserver};
use crate::shard::Shard;
use prometheus::core::Collector;
use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The exporter's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from.
pub const REVISION: &str = env!("ALIYUN_CAS_EXPORTER_REVISION");

/// Buckets for API latency: the default request timeout is 10 s.
const DURATION_BUCKETS: &[f64] = &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The self-metrics and the registry that serves them; clones share the same series.
#[derive(Clone)]
pub struct SelfMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
    api_retries: IntCounterVec,
    rate_limit_wait: CounterVec,
    shard_index: IntGauge,
    shard_count: IntGauge,
    reload_successful: IntGauge,
    reload_timestamp: Gauge,
    credentials_expiry: GaugeVec,
    credentials_refresh_errors: IntCounterVec,
    /// Moves with every change a scrape must show at once (see [`SelfMetrics::revision`]).
    revision: Arc<AtomicU64>,
}

fn opts(def: &MetricDef) -> Opts {
    Opts::new(def.name, def.help)
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("the contract's names are unique");
    collector
}

impl Default for SelfMetrics {
    /// Registers every self-metric, the process collector included.
    fn default() -> Self {
        let registry = Registry::new();
        let counter = |def: &MetricDef| {
            register(
                &registry,
                IntCounterVec::new(opts(def), def.labels).expect("valid metric"),
            )
        };
        let gauge = |def: &MetricDef| {
            register(
                &registry,
                IntGauge::with_opts(opts(def)).expect("valid metric"),
            )
        };
        let api_requests = counter(&contract::API_REQUESTS);
        let api_retries = counter(&contract::API_RETRIES);
        let credentials_refresh_errors = counter(&contract::CREDENTIALS_REFRESH_ERRORS);
        let credentials_expiry = register(
            &registry,
            GaugeVec::new(
                opts(&contract::CREDENTIALS_EXPIRY),
                contract::CREDENTIALS_EXPIRY.labels,
            )
            .expect("valid metric"),
        );
        let api_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::from(opts(&contract::API_REQUEST_DURATION))
                    .buckets(DURATION_BUCKETS.to_vec()),
                contract::API_REQUEST_DURATION.labels,
            )
            .expect("valid metric"),
        );
        let rate_limit_wait = register(
            &registry,
            CounterVec::new(
                opts(&contract::RATE_LIMIT_WAIT),
                contract::RATE_LIMIT_WAIT.labels,
            )
            .expect("valid metric"),
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(opts(&contract::BUILD_INFO), contract::BUILD_INFO.labels)
                .expect("valid metric"),
        );
        build_info.with_label_values(&[VERSION, REVISION]).set(1);
        let shard_index = gauge(&contract::SHARD_INDEX);
        let shard_count = gauge(&contract::SHARD_COUNT);
        shard_count.set(1);
        let reload_successful = gauge(&contract::RELOAD_SUCCESSFUL);
        reload_successful.set(1);
        let reload_timestamp = register(
            &registry,
            Gauge::with_opts(opts(&contract::RELOAD_SUCCESS_TIMESTAMP)).expect("valid metric"),
        );
        registry
            .register(Box::new(ProcessMetrics::default()))
            .expect("process metrics register once");
        Self {
            registry,
            api_requests,
            api_duration,
            api_retries,
            rate_limit_wait,
            shard_index,
            shard_count,
            reload_successful,
            reload_timestamp,
            credentials_expiry,
            credentials_refresh_errors,
            revision: Arc::default(),
        }
    }
}

impl SelfMetrics {
    /// Appends every self-metric in `format`.
    pub fn render(&self, format: Format, out: &mut Vec<u8>) {
        let families = self.registry.gather();
        match format {
            // Encoding into memory can only fail on invalid families, which the contract rules out.
            Format::Text => {
                let _ = TextEncoder::new().encode(&families, out);
            }
            Format::OpenMetrics => openmetrics::encode(&families, out),
        }
    }

    /// Moves when the reload, shard or credentials state changes. Scrapes may
    /// show the other self-metrics up to a second old, but not these: they
    /// change seldom, and an operator or a test reads them right after
    /// acting (a reload, a new credential) to see whether it took.
    pub(super) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// Marks a change that the next scrape must show.
    fn changed(&self) {
        self.revision.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a retry of `action` caused by `code`, a label of the fixed set of [`crate::api::ApiError::code`].
    pub fn retried(&self, account: &str, action: Action, code: &'static str) {
        self.api_retries
            .with_label_values(&[account, action.name(), code])
            .inc();
    }

    /// Adds time spent waiting for the rate limiter.
    pub fn rate_limit_waited(&self, account: &str, action: Action, waited: Duration) {
        self.rate_limit_wait
            .with_label_values(&[account, action.name()])
            .inc_by(waited.as_secs_f64());
    }

    /// Publishes this replica's shard.
    pub fn set_shard(&self, shard: Shard) {
        self.shard_index.set(i64::from(shard.index));
        self.shard_count.set(i64::from(shard.count));
        self.changed();
    }

    /// Records new temporary credentials for `account`, expiring at `expiration`.
    pub fn credentials_refreshed(&self, account: &str, expiration: Option<SystemTime>) {
        let Some(expiration) = expiration else {
            // Credentials that name no expiry have none to show, like a static key.
            let _ = self.credentials_expiry.remove_label_values(&[account]);
            self.changed();
            return;
        };
        self.credentials_expiry.with_label_values(&[account]).set(
            expiration
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        self.changed();
    }

    /// Starts `account`'s refresh-error count for `provider` at 0, so that the first failure is an increase.
    pub fn credentials_watched(&self, account: &str, provider: &str) {
        self.credentials_refresh_errors
            .with_label_values(&[account, provider]);
        self.changed();
    }

    /// Counts a failed refresh of `account`'s credentials by `provider`.
    pub fn credentials_refresh_failed(&self, account: &str, provider: &str) {
        self.credentials_refresh_errors
            .with_label_values(&[account, provider])
            .inc();
        self.changed();
    }

    /// Records a configuration load: at start, or a reload that succeeded or was refused.
    pub fn config_loaded(&self, ok: bool, at: SystemTime) {
        self.reload_successful.set(i64::from(ok));
        if ok {
            self.reload_timestamp.set(
                at.duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        self.changed();
    }
}

impl RequestObserver for SelfMetrics {
    fn observe(&self, account: &str, action: Action, code: &'static str, elapsed: Duration) {
        self.api_requests
            .with_label_values(&[account, action.name(), code])
            .inc();
        self.api_duration
            .with_label_values(&[account, action.name()])
            .observe(elapsed.as_secs_f64());
    }
}
