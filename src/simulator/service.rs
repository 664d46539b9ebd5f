//! The simulator's service: the keys and settings read from the spec, and the
//! state every request reads and changes.

use super::logged::LoggedRequest;
use super::spec::{AccessKeySpec, Fault, IdentitySpec, JobSpec, SimulatorSpec};
use crate::api::Action;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Mutable state: seen nonces, rate windows, the log, and settings tests may change.
pub(crate) struct State {
    pub(crate) jobs: BTreeMap<u64, JobSpec>,
    /// Credentials the simulated STS, metadata service and credentials URI handed out.
    pub(crate) temp_keys: HashMap<String, TempKey>,
    /// While set, the identity services answer 503.
    pub(crate) identity_failing: bool,
    /// IMDSv2 tokens handed out.
    pub(crate) imds_tokens: HashSet<String>,
    pub(crate) latency: Duration,
    pub(crate) log: Vec<LoggedRequest>,
    pub(super) nonces: HashSet<String>,
    pub(super) nonce_order: VecDeque<(SystemTime, String)>,
    pub(super) windows: HashMap<(String, Action), VecDeque<Instant>>,
    pub(super) admitted: u64,
}

/// Temporary credentials the simulator issued.
pub(crate) struct TempKey {
    pub(crate) secret: String,
    pub(crate) token: String,
    pub(crate) expires: SystemTime,
    pub(crate) account: String,
}

/// The simulator's request handler.
pub(crate) struct SimService {
    pub(super) keys: Vec<AccessKeySpec>,
    pub(crate) identity: IdentitySpec,
    pub(super) qps_limit: u32,
    pub(super) throttle_status: u16,
    pub(super) throttle_retry_after: Option<Duration>,
    /// The most items a page holds; 0 for no limit.
    pub(super) page_size_limit: u64,
    pub(super) shares: [(Fault, f64); 5],
    pub(super) started: Instant,
    pub(super) started_unix_ms: u64,
    pub(crate) state: Mutex<State>,
}

impl SimService {
    pub(crate) fn new(spec: SimulatorSpec) -> Self {
        let f = &spec.faults;
        Self {
            keys: spec.access_keys,
            identity: spec.identity,
            qps_limit: spec.qps_limit,
            throttle_status: spec.throttle_status,
            throttle_retry_after: spec.throttle_retry_after,
            page_size_limit: spec.page_size_limit,
            shares: [
                (Fault::InternalError, f.internal_error),
                (Fault::ServiceUnavailable, f.service_unavailable),
                (Fault::Malformed, f.malformed),
                (Fault::Truncated, f.truncated),
                (Fault::Hang, f.hang),
            ],
            started: Instant::now(),
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            state: Mutex::new(State {
                jobs: spec.jobs.into_iter().map(|j| (j.id, j)).collect(),
                temp_keys: HashMap::new(),
                identity_failing: false,
                imds_tokens: HashSet::new(),
                latency: spec.latency,
                log: Vec::new(),
                nonces: HashSet::new(),
                nonce_order: VecDeque::new(),
                windows: HashMap::new(),
                admitted: 0,
            }),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
