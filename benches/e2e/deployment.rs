//! The world a run measures: one simulator per account, each with its own jobs
//! and its own quota, and the release binary polling them all.

use crate::support::{ConfigFile, status_polls};
use crate::support::{Exporter, KEY_ID, SECRET, busiest_second, config_file, simulator};
use aliyun_cas_exporter::simulator::{LoggedRequest, Simulator};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// Polls allowed per second and account, at the simulator and in the exporter.
pub const RATE: u64 = 1_000;
/// Worker listings allowed per second: fast enough to finish within the run.
pub const DETAIL_RATE: u64 = 100;
/// Certificate listings allowed per second: every job's, within the run.
pub const CERT_RATE: u64 = 250;
/// The most jobs one account gets: at `RATE`, a first sweep of 10 s.
const JOBS_PER_ACCOUNT: u64 = 10_000;
/// The environment variable the config file takes the secret from.
const SECRET_VAR: &str = "BENCH_CAS_SECRET";

/// The exporter and the simulated accounts it polls.
pub struct Deployment {
    /// Jobs in all.
    pub jobs: u64,
    /// Jobs with a failed worker, whose workers the exporter lists.
    pub failing: usize,
    sims: Vec<Simulator>,
    _cfg: ConfigFile,
    /// The exporter under measurement.
    pub exporter: Exporter,
}

/// The first sweep as the simulators saw it.
pub struct Sweep {
    /// DescribeDeploymentJobStatus calls.
    pub polls: usize,
    /// Arrival of the first and the last of them.
    pub first: Instant,
    /// See `first`.
    pub last: Instant,
    /// Polls answered other than OK.
    pub throttled: usize,
    /// The most polls of one account within one second.
    pub busiest: usize,
}

impl Deployment {
    /// Starts `jobs` jobs in as many accounts of at most 10,000 as needed, and the exporter.
    pub async fn start(jobs: u64) -> Self {
        let accounts = jobs.div_ceil(JOBS_PER_ACCOUNT);
        let (mut sims, mut failing) = (Vec::new(), 0);
        for account in 0..accounts {
            // Spread evenly, the remainder to the first accounts.
            let own = jobs / accounts + u64::from(account < jobs % accounts);
            let ids = account_jobs(account, own);
            failing += ids.clone().filter(|&id| fails(id)).count();
            sims.push(simulator(&account_spec(account, ids)).await);
        }
        let cfg = config_file(&exporter_config(&sims));
        let env = [(SECRET_VAR, SECRET)];
        let exporter = Exporter::start(&["--config.file", cfg.path.to_str().unwrap()], &env);
        Self {
            jobs,
            failing,
            sims,
            _cfg: cfg,
            exporter,
        }
    }

    /// How many simulated accounts.
    pub fn accounts(&self) -> usize {
        self.sims.len()
    }

    /// Waits for `/-/ready`: every account's first sweep done.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(self.jobs / RATE * 3 + 60);
        while self.exporter.get("/-/ready").await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "never ready:\n{}",
                self.exporter.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The polls every simulator has received.
    pub fn sweep(&self) -> Sweep {
        let (mut arrivals, mut throttled, mut busiest) = (Vec::new(), 0, 0);
        for sim in &self.sims {
            let log = sim.requests();
            let polls = status_polls(&log);
            arrivals.extend(polls.iter().map(|r| r.at.into_std()));
            throttled += polls.iter().filter(|r| r.code != "OK").count();
            busiest = busiest.max(busiest_second(&log, "DescribeDeploymentJobStatus"));
        }
        arrivals.sort();
        Sweep {
            polls: arrivals.len(),
            first: arrivals[0],
            last: *arrivals.last().unwrap(),
            throttled,
            busiest,
        }
    }

    /// The job IDs of every call of `action`, all accounts together.
    pub fn calls_of(&self, action: &str) -> Vec<u64> {
        self.sims
            .iter()
            .flat_map(|sim| sim.requests())
            .filter(|r: &LoggedRequest| r.param("Action") == Some(action))
            .filter_map(|r| r.job_id())
            .collect()
    }

    /// Waits until every job's certificates and every failing job's workers are listed:
    /// the state is then as it stays until the next change.
    pub async fn wait_listed(&self) {
        let deadline = Instant::now() + Duration::from_secs(self.jobs / CERT_RATE * 2 + 60);
        while self.calls_of("ListDeploymentJobCert").len() < self.jobs as usize
            || self.listed_workers().len() < self.failing
        {
            assert!(Instant::now() < deadline, "listings never finished");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The jobs whose workers were listed.
    pub fn listed_workers(&self) -> BTreeSet<u64> {
        self.calls_of("ListWorkerResource").into_iter().collect()
    }

    /// Stops the exporter, then the simulators.
    pub async fn stop(self) {
        drop(self.exporter);
        for sim in self.sims {
            sim.shutdown().await;
        }
    }
}

/// The job IDs of an account with `jobs` jobs, apart from the other accounts'.
fn account_jobs(account: u64, jobs: u64) -> std::ops::Range<u64> {
    let first = account * 1_000_000 + 1;
    first..first + jobs
}

/// One job in ten has a failed worker, whose listing the exporter makes once.
fn fails(id: u64) -> bool {
    id.is_multiple_of(10)
}

/// One account's simulator: its jobs with 3 products each.
fn account_spec(account: u64, ids: std::ops::Range<u64>) -> String {
    let mut spec = format!(
        "access_keys: [{{id: {KEY_ID}, secret: {SECRET}, account: a{account}}}]\nqps_limit: {RATE}\nlatency: 5ms\njobs:\n"
    );
    for id in ids {
        let outcomes = if fails(id) {
            "{succeeded: 8, failed: 1}"
        } else {
            "{succeeded: 9}"
        };
        writeln!(
            spec,
            "  - {{id: {id}, name: job-{id}, workers: {{CDN: 4, SLB: 3, OSS: 2}}, outcomes: {outcomes}}}"
        )
        .unwrap();
    }
    spec
}

/// The exporter's config: every account discovered, at the rates above; `interval: 10m`
/// so that the first sweep is the one measured and nothing is due afterwards.
fn exporter_config(sims: &[Simulator]) -> String {
    let mut cfg = String::from("interval: 10m\nconcurrency: 64\naccounts:\n");
    for (account, sim) in sims.iter().enumerate() {
        write!(
            cfg,
            "  - name: a{account}
    endpoint: {}
    credentials:
      access_key_id: {KEY_ID}
      access_key_secret: ${{{SECRET_VAR}}}
    rate_limit: {{describe_deployment_job_status: {RATE}, list_deployment_job: 50, list_worker_resource: {DETAIL_RATE}, list_deployment_job_cert: {CERT_RATE}}}
    discovery: {{refresh_interval: 1h}}
",
            sim.endpoint()
        )
        .unwrap();
    }
    cfg
}
