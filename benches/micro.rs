//! Micro-benchmarks of the hot paths: signing and building one API request,
//! parsing one answer, rendering the exposition for 10, 1,000 and 10,000 jobs,
//! and a scrape from the cache with its self-metrics block cached or rendered anew.
//! Run with `cargo bench --bench micro`.

use aliyun_cas_exporter::acs::sign::sign_rpc;
use aliyun_cas_exporter::acs::{Credentials, Endpoint, Secret};
use aliyun_cas_exporter::api::model::{
    DeploymentJob, DeploymentJobStatus, JobCertificate, ProductWorkerCount, WorkerResource,
};
use aliyun_cas_exporter::api::{API_VERSION, Action, RequestObserver};
use aliyun_cas_exporter::metrics::{Exposition, Format, SelfMetrics, render_jobs};
use aliyun_cas_exporter::snapshot::{
    AccountSnapshot, DiscoveryHealth, JobSnapshot, SnapshotStore, WorkerListing,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The spec's sample answer (section 6).
const ANSWER: &[u8] = br#"{"RequestId":"CBF1E9B7-D6A0-4E9E-AD3E-2B47E6C2837D","ResourceCount":4127,"UseCount":300,"BuyCount":500,"WorkerCount":20,"MatchWorkerCount":20,"SuccessCount":17,"FailedCount":2,"RollbackCount":1,"RollbackSuccessCount":1,"RollbackFailedCount":0,"CostCount":20,"CertCount":2,"ProductWorkerCount":[{"ProductName":"CDN","Count":12},{"ProductName":"SLB","Count":8}]}"#;

fn signing(c: &mut Criterion) {
    let credentials = Credentials {
        access_key_id: "LTAI5tBenchmarkKey01".into(),
        access_key_secret: Secret::new("benchmark-secret-0123456789abcdef"),
        security_token: None,
    };
    let endpoint = Endpoint::parse("https://cas.aliyuncs.com/").unwrap();
    c.bench_function(
        "sign and build one DescribeDeploymentJobStatus request",
        |b| {
            b.iter(|| {
                let signed = sign_rpc(
                    "POST",
                    API_VERSION,
                    Action::DescribeDeploymentJobStatus.name(),
                    &[("JobId", black_box("18848"))],
                    &credentials,
                );
                let mut url = endpoint.url().clone();
                url.set_query(Some(&signed.query));
                black_box(url)
            })
        },
    );
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(ANSWER.len() as u64));
    group.bench_function("one DescribeDeploymentJobStatus answer", |b| {
        b.iter(|| serde_json::from_slice::<DeploymentJobStatus>(black_box(ANSWER)).unwrap())
    });
    group.finish();
}

/// `jobs` jobs of one account, each up with 3 products and details, as after a sweep.
fn snapshot(jobs: u64) -> AccountSnapshot {
    let now = SystemTime::now();
    let jobs = (1..=jobs)
        .map(|id| {
            let count = |n: i64| Some(n + id as i64 % 7);
            let values = DeploymentJobStatus {
                worker_count: count(30),
                match_worker_count: count(30),
                success_count: count(25),
                failed_count: count(3),
                rollback_count: count(2),
                rollback_success_count: count(1),
                rollback_failed_count: count(1),
                resource_count: count(4000),
                use_count: count(300),
                buy_count: count(500),
                cost_count: count(20),
                cert_count: count(2),
                product_worker_count: Some(
                    ["CDN", "SLB", "OSS"]
                        .iter()
                        .map(|p| ProductWorkerCount {
                            product_name: Some((*p).into()),
                            count: count(10),
                        })
                        .collect(),
                ),
                ..Default::default()
            };
            let info = DeploymentJob {
                name: Some(format!("renew-{id}")),
                job_type: Some("user".into()),
                cert_type: Some("buy".into()),
                cert_domain: Some(format!("www{id}.example.com")),
                product_name: Some("CDN,SLB,OSS".into()),
                status: Some("processing".into()),
                start_time: Some(1_764_300_000.0),
                ..Default::default()
            };
            // One job in ten has three failed workers; every job deploys one certificate.
            let workers = (id % 10 == 0).then(|| {
                Arc::new(WorkerListing {
                    workers: (0..3)
                        .map(|w| WorkerResource {
                            id: Some((id * 10 + w) as i64),
                            status: Some("error".into()),
                            cloud_product: Some("CDN".into()),
                            region_id: Some("cn-hangzhou".into()),
                            resource_domain: Some(format!("img{w}.www{id}.example.com")),
                            ..Default::default()
                        })
                        .collect(),
                    left_out: 0,
                    listed_at: now,
                })
            });
            let certificate = JobCertificate {
                cert_id: Some(id as i64 + 1),
                cert_name: Some(format!("cert-{id}")),
                common_name: Some(format!("www{id}.example.com")),
                cert_type: Some("DV".into()),
                cert_order_type: Some("buy".into()),
                status_code: Some("issued".into()),
                not_before_time: Some(1_760_000_000.0),
                not_after_time: Some(1_790_000_000.0),
            };
            let job = JobSnapshot {
                up: true,
                last_success: Some(now),
                values: Some(Arc::new(values)),
                info: Some(Arc::new(info)),
                workers,
                certificates: Some(vec![certificate].into()),
                ..Default::default()
            };
            (100_000 + id, Arc::new(job))
        })
        .collect();
    AccountSnapshot {
        jobs,
        first_sweep_done: true,
        sweep_duration: Some(Duration::from_secs(9)),
        max_workers: 2000,
        retired_jobs: 0,
        refused: Vec::new(),
        discovery: Some(DiscoveryHealth {
            up: true,
            last_success: Some(now),
        }),
    }
}

fn rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("render per snapshot");
    group.sample_size(20);
    for jobs in [10, 1_000, 10_000] {
        let account: Arc<str> = Arc::from("prod");
        let snapshot = snapshot(jobs);
        let accounts: BTreeMap<Arc<str>, Arc<AccountSnapshot>> =
            [(Arc::clone(&account), Arc::new(snapshot.clone()))]
                .into_iter()
                .collect();
        group.throughput(Throughput::Elements(jobs));
        group.bench_function(format!("text, {jobs} jobs"), |b| {
            b.iter(|| {
                render_jobs(
                    &accounts,
                    tokio::time::Instant::now(),
                    Format::Text,
                    &mut std::io::sink(),
                )
                .unwrap()
            })
        });
        let store = SnapshotStore::default();
        let metrics = SelfMetrics::default();
        let exposition = Exposition::default();
        group.bench_function(format!("gzip body, {jobs} jobs"), |b| {
            b.iter_batched(
                // A new snapshot each time, so that every iteration renders.
                || store.publish(&account, snapshot.clone()),
                |()| exposition.render(&store, &metrics, Format::Text, true),
                BatchSize::PerIteration,
            )
        });
        // Published and rendered here too, so that this benchmark also runs alone (with a filter).
        store.publish(&account, snapshot.clone());
        // Both formats rendered, so that the scrapes below come from the cache.
        exposition.render(&store, &metrics, Format::Text, true);
        exposition.render(&store, &metrics, Format::OpenMetrics, true);
        // Self-metrics expired at every scrape: what the first scrape after each second pays.
        let expiring = Exposition::with_max_age(Duration::ZERO);
        expiring.render(&store, &metrics, Format::Text, true);
        expiring.render(&store, &metrics, Format::OpenMetrics, true);
        for (format, name) in [(Format::Text, ""), (Format::OpenMetrics, "OpenMetrics ")] {
            group.bench_function(format!("{name}scrape from the cache, {jobs} jobs"), |b| {
                b.iter(|| exposition.cached(&store, &metrics, format, true).unwrap())
            });
            group.bench_function(
                format!("{name}scrape from the cache, self-metrics rendered, {jobs} jobs"),
                |b| b.iter(|| expiring.cached(&store, &metrics, format, true).unwrap()),
            );
        }
    }
    group.finish();
}

fn self_metrics(c: &mut Criterion) {
    // The series a running exporter has: three actions, a few answer codes.
    let metrics = SelfMetrics::default();
    for action in Action::ALL {
        for code in ["OK", "Throttling.User", "timeout"] {
            metrics.observe("prod", action, code, Duration::from_millis(7));
            metrics.retried("prod", action, code);
        }
        metrics.rate_limit_waited("prod", action, Duration::from_millis(3));
    }
    for (name, format) in [
        ("self-metrics, one render", Format::Text),
        (
            "self-metrics in OpenMetrics, one render",
            Format::OpenMetrics,
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut out = Vec::new();
                metrics.render(format, &mut out);
                out
            })
        });
    }
}

criterion_group!(benches, signing, parsing, rendering, self_metrics);
criterion_main!(benches);
