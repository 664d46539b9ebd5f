//! Demo mode: the simulator with built-in jobs on a loopback port, and the
//! exporter polling it, so metrics can be seen without an Alibaba Cloud account.

use crate::config::Config;
use crate::env::Env;
use crate::simulator::{DEMO_SPEC, Simulator, SimulatorError, SimulatorSpec};
use std::net::{Ipv4Addr, SocketAddr};

/// The job the demo lists by ID; discovery finds the others.
const DEMO_STATIC_JOB: u64 = 100_004;

/// Starts the demo simulator and returns it with a configuration that polls it.
pub async fn start() -> Result<(Simulator, Config), SimulatorError> {
    let origin = "built-in demo";
    let spec = SimulatorSpec::parse(DEMO_SPEC, origin)?;
    let key = spec.access_keys[0].clone();
    let simulator = Simulator::start(spec, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    // Polled often enough to watch the numbers move, with discovery to show it at work.
    let text = format!(
        "endpoint: {}\ninterval: 15s\njob_info_interval: 1m\ncredentials:\n  access_key_id: {}\n  access_key_secret: {}\njobs: [{DEMO_STATIC_JOB}]\ndiscovery:\n  refresh_interval: 1m\n",
        simulator.endpoint(),
        key.id,
        key.secret
    );
    let config =
        Config::parse(&text, origin, &Env::empty()).map_err(|e| SimulatorError::Invalid {
            path: origin.into(),
            reason: e.to_string(),
        })?;
    tracing::warn!(
        simulator = %simulator.endpoint(),
        "DEMO MODE: polling the built-in CAS simulator, not Alibaba Cloud; the jobs and numbers are made up"
    );
    Ok((simulator, config))
}
