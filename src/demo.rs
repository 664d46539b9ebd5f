//! Demo mode: the simulator with built-in jobs on a loopback port, and the
//! exporter polling it, so metrics can be seen without an Alibaba Cloud account.

use crate::api::Endpoint;
use crate::config::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
use crate::credentials::{Credentials, Secret};
use crate::simulator::{DEMO_SPEC, Simulator, SimulatorError, SimulatorSpec};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How often the demo polls: often enough to watch the numbers move.
const DEMO_INTERVAL: Duration = Duration::from_secs(15);

/// Starts the demo simulator and returns it with a configuration that polls it.
pub async fn start() -> Result<(Simulator, Config), SimulatorError> {
    let spec = SimulatorSpec::parse(DEMO_SPEC, "built-in demo")?;
    let key = spec.access_keys[0].clone();
    let jobs = spec.jobs.iter().map(|j| j.id).collect();
    let simulator = Simulator::start(spec, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let endpoint = Endpoint::parse(&simulator.endpoint()).map_err(|e| SimulatorError::Invalid {
        path: "built-in demo".into(),
        reason: e.to_string(),
    })?;
    let config = Config {
        endpoint,
        credentials: Some(Credentials {
            access_key_id: key.id,
            access_key_secret: Secret::new(key.secret),
            security_token: None,
        }),
        interval: DEMO_INTERVAL,
        stale_after: DEMO_INTERVAL * crate::config::STALE_INTERVALS,
        concurrency: DEFAULT_CONCURRENCY,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        request_timeout: DEFAULT_REQUEST_TIMEOUT,
        jobs,
    };
    tracing::warn!(
        simulator = %simulator.endpoint(),
        "DEMO MODE: polling the built-in CAS simulator, not Alibaba Cloud; the jobs and numbers are made up"
    );
    Ok((simulator, config))
}
