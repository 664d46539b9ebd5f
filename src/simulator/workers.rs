//! ListWorkerResource (spec section 5.4): a job's worker tasks, generated from
//! its `workers` and its current outcomes, one page at a time.
//!
//! Workers are listed product by product (in the order of `workers`), each
//! product's in turn. Outcomes are dealt round-robin across the products, the
//! way a job works through them side by side: the first worker of each product,
//! then the second of each, and so on. In that deal order, the first workers are
//! the finished ones; with fixed outcomes the failed come first, then the failed
//! rollbacks, the rollbacks and the successes; an evolving job's k-th dealt
//! worker is the k-th to finish and ends as its pattern says. So every status
//! count matches DescribeDeploymentJobStatus, and failures spread over products.

#[cfg(test)]
mod tests;

use super::certs::{cert_instance_id, cert_name, common_name, first_domain, job_certs, order_id};
use super::spec::{CertSpec, JobSpec};
use super::world::{JobState, JobTimes, USER_ID, evolved_after_ms, evolved_ending, job_times};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The worker statuses of spec section 5.4, which the `Status` filter may name.
pub const WORKER_STATUSES: [&str; 9] = [
    "editing",
    "pending",
    "scheduling",
    "processing",
    "error",
    "success",
    "rollback",
    "rollback_success",
    "rollback_error",
];

/// The statuses of a worker that waits, as its job does.
const UNFINISHED: [&str; 3] = ["editing", "pending", "scheduling"];

/// The most workers one job may have: each job's worker and resource IDs share
/// a block of a million numbers (see [`worker_id`]).
pub const MAX_WORKERS: i64 = 500_000;

/// Job IDs are taken modulo this, so that a block of a million IDs fits below 2^63.
const ID_BLOCKS: u64 = 9_223_372_036_854;

/// Worker `seq` (from 0, in listing order) of job `job_id`: the job's block of a
/// million, `(job_id mod 9,223,372,036,854) × 1,000,000`, plus `seq + 1`. Unique
/// for job IDs below 9.2 × 10^12 and at most [`MAX_WORKERS`] workers a job.
pub fn worker_id(job_id: u64, seq: u64) -> u64 {
    (job_id % ID_BLOCKS) * 1_000_000 + seq.saturating_add(1)
}

/// The resource worker `seq` deploys to: the upper half of the job's block.
fn resource_id(job_id: u64, seq: u64) -> u64 {
    worker_id(job_id, seq).saturating_add(MAX_WORKERS as u64)
}

/// What ListWorkerResource was asked for, its page already resolved.
pub struct WorkerQuery<'a> {
    /// `Status`, exact.
    pub status: Option<&'a str>,
    /// `CloudProduct`, exact.
    pub product: Option<&'a str>,
    /// Workers of the filtered list to skip.
    pub offset: u64,
    /// Workers to return at most.
    pub limit: u64,
}

/// One page of a job's workers.
pub struct WorkerPage {
    /// Workers that pass the filters, in all pages.
    pub total: u64,
    /// The page's `Data[]` objects.
    pub data: Vec<Value>,
}

/// The page `query` asks of `job`'s workers in `state`; only the page's
/// objects are built, so a long list costs little.
pub fn list_workers(
    job: &JobSpec,
    state: &JobState,
    started_unix_ms: u64,
    query: &WorkerQuery<'_>,
) -> WorkerPage {
    let workers = Workers::new(job, state, started_unix_ms);
    let end = query.offset.saturating_add(query.limit);
    let (mut total, mut first_seq) = (0_u64, 0_u64);
    let mut data = Vec::new();
    for (p, (product, count)) in workers.counts.iter().enumerate() {
        let block = first_seq;
        first_seq += count;
        if query.product.is_some_and(|wanted| wanted != *product) {
            continue;
        }
        let Some(status) = query.status else {
            for at in query.offset.max(total)..end.min(total + count) {
                let j = at - total;
                data.push(workers.body(p, j, block + j));
            }
            total += count;
            continue;
        };
        for j in 0..*count {
            if workers.status(workers.rank(p, j)) == status {
                if (query.offset..end).contains(&total) {
                    data.push(workers.body(p, j, block + j));
                }
                total += 1;
            }
        }
    }
    WorkerPage { total, data }
}

/// A job's workers, ready to be described one by one.
struct Workers<'a> {
    job: &'a JobSpec,
    state: &'a JobState,
    /// Products in order, with their worker counts (a negative count is none).
    counts: Vec<(&'a str, u64)>,
    certs: Cow<'a, [CertSpec]>,
    times: JobTimes,
    started_unix_ms: u64,
    domain: &'a str,
}

impl<'a> Workers<'a> {
    fn new(job: &'a JobSpec, state: &'a JobState, started_unix_ms: u64) -> Self {
        Self {
            job,
            state,
            counts: job
                .workers
                .iter()
                .map(|(product, count)| (product.as_str(), (*count).max(0) as u64))
                .collect(),
            certs: job_certs(job),
            times: job_times(job, state, started_unix_ms),
            started_unix_ms,
            domain: domain_base(job),
        }
    }

    /// The place of worker `j` of product `p` in the deal order (from 0): every
    /// product's workers before index `j`, then the products before `p` that have a `j`-th.
    fn rank(&self, p: usize, j: u64) -> u64 {
        let earlier_rounds: u64 = self.counts.iter().map(|(_, c)| (*c).min(j)).sum();
        let this_round = self.counts[..p].iter().filter(|(_, c)| *c > j).count();
        earlier_rounds + this_round as u64
    }

    /// The status of the worker dealt `rank`-th.
    fn status(&self, rank: u64) -> &'static str {
        let rank = rank as i64;
        let o = &self.state.outcomes;
        if rank >= o.finished() {
            return self.unfinished_status();
        }
        if let Some(evolution) = &self.job.evolution {
            return evolved_ending(evolution, rank + 1).status();
        }
        let mut rest = rank;
        for (count, status) in [
            (o.failed, "error"),
            (o.rollback_failed, "rollback_error"),
            (o.rollback_succeeded, "rollback_success"),
            (o.succeeded, "success"),
        ] {
            if rest < count {
                return status;
            }
            rest -= count;
        }
        self.unfinished_status()
    }

    /// A worker that has not finished waits as its job does, if the job waits; else it runs.
    fn unfinished_status(&self) -> &'static str {
        UNFINISHED
            .into_iter()
            .find(|s| *s == self.state.status)
            .unwrap_or("processing")
    }

    /// `GmtModified` in Unix seconds: when the worker dealt `rank`-th finished,
    /// else when the job started.
    fn modified_secs(&self, rank: u64, status: &str) -> u64 {
        let finished = !UNFINISHED.contains(&status) && status != "processing";
        let ms = match (&self.job.evolution, finished) {
            (_, false) => self.times.start,
            (Some(evolution), true) => self
                .started_unix_ms
                .saturating_add(evolved_after_ms(evolution, rank as i64 + 1)),
            (None, true) => self.times.end.unwrap_or(self.started_unix_ms),
        };
        ms / 1000
    }

    /// Worker `j` of product `p`, the `seq`-th listed.
    fn body(&self, p: usize, j: u64, seq: u64) -> Value {
        let product = self.counts[p].0;
        let rank = self.rank(p, j);
        let status = self.status(rank);
        let id = worker_id(self.job.id, seq);
        let kind = kind(product);
        let mut w = Map::new();
        w.insert("Id".into(), id.into());
        w.insert("JobId".into(), self.job.id.into());
        w.insert("UserId".into(), USER_ID.into());
        w.insert("Status".into(), status.into());
        let cloud = cloud_of(product);
        if let Some((name, _)) = cloud {
            w.insert("CloudName".into(), name.into());
        }
        w.insert("CloudProduct".into(), product.into());
        let region = self.job.region.as_str();
        w.insert(
            "CloudRegion".into(),
            cloud.map_or(region, |(_, r)| r).into(),
        );
        w.insert("RegionId".into(), region.into());
        let (instance, listener, port, domain) = match kind {
            Kind::Domain(prefix) => (
                String::new(),
                String::new(),
                0,
                format!("{prefix}{}.{}", j + 1, self.domain),
            ),
            Kind::Listener(prefix, len) => (
                format!("{prefix}{}", token(id, len)),
                format!("lsn-{}", token(!id, 20)),
                443,
                String::new(),
            ),
            Kind::Instance(prefix, len) => (
                format!("{prefix}{}", token(id, len)),
                String::new(),
                0,
                String::new(),
            ),
        };
        w.insert("InstanceId".into(), instance.into());
        w.insert("ListenerId".into(), listener.into());
        w.insert("Port".into(), port.into());
        w.insert(
            "DefaultResource".into(),
            matches!(kind, Kind::Listener(..)).into(),
        );
        w.insert("ResourceId".into(), resource_id(self.job.id, seq).into());
        w.insert("ResourceDomain".into(), domain.into());
        if !self.certs.is_empty() {
            let cert = &self.certs[(seq % self.certs.len() as u64) as usize];
            // The certificate the resource held before: an older one, one ID lower.
            let previous = cert.id.saturating_sub(1).max(1);
            w.insert("ResourceCertId".into(), previous.into());
            w.insert("CertId".into(), cert.id.into());
            w.insert("CertInstanceId".into(), cert_instance_id(cert).into());
            w.insert("CertName".into(), cert_name(cert).into());
            w.insert("CertDomain".into(), common_name(self.job, cert).into());
            w.insert("OrderId".into(), order_id(cert).into());
        }
        if product == "SAE" {
            w.insert("NamespaceId".into(), format!("{region}:prod").into());
        }
        w.insert(
            "GmtCreate".into(),
            (self.times.start / 1000).to_string().into(),
        );
        w.insert(
            "GmtModified".into(),
            self.modified_secs(rank, status).to_string().into(),
        );
        Value::Object(w)
    }
}

/// How a product's resources are named.
#[derive(Clone, Copy)]
enum Kind {
    /// A domain: `<prefix><n>.<the job's domain>`.
    Domain(&'static str),
    /// A load balancer's HTTPS listener: an instance ID with this prefix and
    /// that many more characters, a listener ID, port 443.
    Listener(&'static str, usize),
    /// An instance ID with this prefix and that many more characters.
    Instance(&'static str, usize),
}

/// The products of spec sections 5.1 and 5.7 and how they name their resources.
const KINDS: [(&str, Kind); 25] = [
    ("CDN", Kind::Domain("cdn-")),
    ("DCDN", Kind::Domain("edge-")),
    ("OSS", Kind::Domain("static-")),
    ("WAF", Kind::Domain("shop-")),
    ("LIVE", Kind::Domain("live-")),
    ("VOD", Kind::Domain("vod-")),
    ("webHosting", Kind::Domain("site-")),
    ("APIGateway", Kind::Domain("api-")),
    ("FC", Kind::Domain("fn-")),
    ("GA", Kind::Domain("ga-")),
    ("SAE", Kind::Domain("app-")),
    ("MSE", Kind::Domain("gw-")),
    ("DDOS", Kind::Domain("secure-")),
    ("TencentCDN", Kind::Domain("img")),
    ("TencentWAF", Kind::Domain("portal-")),
    ("HuaweiCDN", Kind::Domain("media-")),
    ("AwsCloudFront", Kind::Domain("cf-")),
    ("SLB", Kind::Listener("lb-bp1", 17)),
    ("ALB", Kind::Listener("alb-", 18)),
    ("NLB", Kind::Listener("nlb-", 18)),
    ("TencentCLB", Kind::Listener("lb-", 8)),
    ("AwsCLB", Kind::Listener("clb-", 12)),
    ("AwsALB", Kind::Listener("alb-", 12)),
    ("AwsNLB", Kind::Listener("nlb-", 12)),
    ("CR", Kind::Instance("cri-", 16)),
];

fn kind(product: &str) -> Kind {
    KINDS
        .iter()
        .find(|(name, _)| *name == product)
        .map_or(Kind::Instance("i-", 20), |(_, kind)| *kind)
}

/// `CloudName` and `CloudRegion` of a product of another cloud; `None` for Alibaba Cloud's.
fn cloud_of(product: &str) -> Option<(&'static str, &'static str)> {
    [
        ("Tencent", "ap-guangzhou"),
        ("Huawei", "cn-north-4"),
        ("Aws", "us-east-1"),
    ]
    .into_iter()
    .find(|(cloud, _)| product.starts_with(cloud))
}

/// The domain the job's resources are named under: the first of `cert_domain`
/// without its wildcard; a host such as `www.example.com` gives way to its
/// parent, so that resources read `cdn-3.example.com`, not `cdn-3.www.example.com`.
fn domain_base(job: &JobSpec) -> &str {
    let first = first_domain(job);
    if let Some(parent) = first.strip_prefix("*.") {
        return parent;
    }
    match first.split_once('.') {
        Some((_, parent)) if parent.contains('.') => parent,
        _ if first.is_empty() => "example.com",
        _ => first,
    }
}

/// `len` characters of `[0-9a-z]` that look random but follow from `seed`.
fn token(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut state = seed;
    (0..len)
        .map(|_| {
            // splitmix64: consecutive seeds give unrelated characters.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ALPHABET[(z % 36) as usize] as char
        })
        .collect()
}
