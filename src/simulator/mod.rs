//! A strict simulator of the CAS RPC API, for tests and the demo.
//!
//! It verifies what the real gateway verifies (signature, AccessKey, nonce,
//! timestamp, version, action, parameters, rate) and answers with the codes,
//! statuses and JSON shapes of the spec; it can also misbehave on purpose.

mod answers;
mod certs;
mod check;
mod handler;
mod identity;
mod logged;
mod reply;
mod service;
pub mod spec;
mod validate;
mod workers;
mod world;

pub use check::{NONCE_WINDOW, TIMESTAMP_TOLERANCE};
pub use identity::CREDENTIALS_URI_PATH;
pub use logged::LoggedRequest;
pub use spec::{
    AccessKeySpec, CertSpec, ErrorAnswer, Evolution, Fault, FaultShares, IdentitySpec, JobSpec,
    Outcomes, RoleSpec, SimulatorSpec,
};
pub use world::{JobState, job_state};

use crate::api::Action;
use crate::http::serve::{ConnectionLimits, serve};
use service::SimService;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The jobs of the demo: several products, evolving, some failing and rolling back.
pub const DEMO_SPEC: &str = include_str!("demo.yaml");

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The jobs file could not be read.
    #[error("cannot read the simulator file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::input::ReadError,
    },
    /// The jobs file is not valid.
    #[error("the simulator file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with line and column when known.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}; choose another address with --listen")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl SimulatorSpec {
    /// Parses and checks a YAML (or JSON) document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SimulatorError> {
        let invalid = |reason: String| SimulatorError::Invalid {
            path: origin.to_owned(),
            reason,
        };
        let spec: SimulatorSpec =
            crate::yaml::from_str(text, "docs/simulator.md").map_err(|e| {
                invalid(format!(
                    "line {}, column {}: {}",
                    e.line, e.column, e.message
                ))
            })?;
        if spec.access_keys.is_empty() {
            return Err(invalid(
                "access_keys is empty: list at least one key the exporter can sign with".into(),
            ));
        }
        if !matches!(spec.throttle_status, 400 | 429) {
            return Err(invalid(format!(
                "throttle_status is {}; the API answers Throttling.User with 400 or 429",
                spec.throttle_status
            )));
        }
        let mut key_ids = HashSet::new();
        for key in &spec.access_keys {
            if !key_ids.insert(key.id.as_str()) {
                return Err(invalid(format!("access key {} is listed twice", key.id)));
            }
            if let Some(action) = key
                .denied_actions
                .iter()
                .find(|a| Action::from_name(a).is_none())
            {
                return Err(invalid(format!(
                    "access key {}: denied_actions names {action}, which the simulator does not serve; use one of {}",
                    key.id,
                    Action::ALL.map(Action::name).join(", ")
                )));
            }
        }
        let mut ids = HashSet::new();
        for job in &spec.jobs {
            let id = job.id;
            if !ids.insert(id) {
                return Err(invalid(format!("job {id} is listed twice")));
            }
            validate::check_job(job).map_err(invalid)?;
        }
        let f = &spec.faults;
        for (name, share) in [
            ("internal_error", f.internal_error),
            ("service_unavailable", f.service_unavailable),
            ("malformed", f.malformed),
            ("truncated", f.truncated),
            ("hang", f.hang),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(invalid(format!(
                    "faults.{name} is {share}; a share lies between 0 and 1"
                )));
            }
        }
        Ok(spec)
    }

    /// Reads and checks a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SimulatorError> {
        let path = path.as_ref();
        let text = crate::input::read_bounded(path).map_err(|source| SimulatorError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

/// A running simulator; dropping it without `shutdown` leaves it running until the runtime ends.
pub struct Simulator {
    address: SocketAddr,
    service: Arc<SimService>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Simulator {
    /// Binds `address` (use port 0 for any free port) and starts serving `spec`.
    pub async fn start(spec: SimulatorSpec, address: SocketAddr) -> Result<Self, SimulatorError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| SimulatorError::Bind { address, source })?;
        let address = listener
            .local_addr()
            .map_err(|source| SimulatorError::Bind { address, source })?;
        let service = Arc::new(SimService::new(spec));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            Arc::clone(&service),
            shutdown.clone(),
            // Hanging answers are the point of some tests: never wait for them.
            Duration::ZERO,
            ConnectionLimits::default(),
            None,
        ));
        Ok(Self {
            address,
            service,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The endpoint URL to configure the exporter with.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.with_state(|s| s.log.clone())
    }

    /// Forces `fault` on the requests for `job_id` its `fault_actions` name, all by default (or clears it with `None`).
    pub fn set_job_fault(&self, job_id: u64, fault: Option<Fault>) {
        self.with_state(|s| {
            if let Some(job) = s.jobs.get_mut(&job_id) {
                job.fault = fault;
            }
        });
    }

    /// Adds `job`, or replaces the job with its ID (to change its status, say).
    pub fn upsert_job(&self, job: JobSpec) {
        self.with_state(|s| s.jobs.insert(job.id, job));
    }

    /// Removes job `job_id`: it then answers as unknown.
    pub fn remove_job(&self, job_id: u64) {
        self.with_state(|s| s.jobs.remove(&job_id));
    }

    /// Makes STS, the metadata service and the credentials URI answer 503 (or work again).
    pub fn set_identity_failing(&self, failing: bool) {
        self.with_state(|s| s.identity_failing = failing);
    }

    /// Sets the delay added before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.with_state(|s| s.latency = latency);
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut service::State) -> T) -> T {
        let mut state = self.service.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Stops accepting, drains open exchanges briefly, and returns when it has stopped.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}
