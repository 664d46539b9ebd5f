//! Writes a snapshot's job families, in either exposition format.

use super::contract::{self, MetricDef};
use super::details::{render_certificates, render_workers};
use super::format::Format;
use super::writer::{Seconds, Writer, job_labels, label};
use crate::api::Action;
use crate::api::model::JOB_STATUSES;
use crate::api::model::{DeploymentJob, DeploymentJobStatus};
use crate::snapshot::{AccountSnapshot, JobSnapshot, JobSource};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tokio::time::Instant;

type Field = fn(&DeploymentJobStatus) -> Option<i64>;

/// Each value family beside the response field it shows.
const VALUE_FIELDS: [(MetricDef, Field); 12] = [
    (contract::JOB_WORKERS, |s| s.worker_count),
    (contract::JOB_MATCHED_WORKERS, |s| s.match_worker_count),
    (contract::JOB_SUCCEEDED_WORKERS, |s| s.success_count),
    (contract::JOB_FAILED_WORKERS, |s| s.failed_count),
    (contract::JOB_ROLLBACK_WORKERS, |s| s.rollback_count),
    (contract::JOB_ROLLBACK_SUCCEEDED_WORKERS, |s| {
        s.rollback_success_count
    }),
    (contract::JOB_ROLLBACK_FAILED_WORKERS, |s| {
        s.rollback_failed_count
    }),
    (contract::JOB_RESOURCES, |s| s.resource_count),
    (contract::JOB_USED_RESOURCES, |s| s.use_count),
    (contract::JOB_PURCHASED_RESOURCES, |s| s.buy_count),
    (contract::JOB_CONSUMED_RESOURCES, |s| s.cost_count),
    (contract::JOB_CERTIFICATES, |s| s.cert_count),
];

/// Sums `ProductWorkerCount` by product, skipping entries without a name or a
/// count, and products whose sum would overflow (no real answer comes near).
fn product_counts(status: &DeploymentJobStatus) -> BTreeMap<&str, i64> {
    let mut counts: BTreeMap<&str, Option<i64>> = BTreeMap::new();
    for entry in status.product_worker_count.iter().flatten() {
        if let (Some(name), Some(count)) = (entry.product_name.as_deref(), entry.count) {
            let sum = counts.entry(name).or_insert(Some(0));
            *sum = sum.and_then(|sum| sum.checked_add(count));
        }
    }
    counts
        .into_iter()
        .filter_map(|(name, sum)| Some((name, sum?)))
        .collect()
}

/// One account's jobs, as the renderer walks them.
type Accounts = BTreeMap<Arc<str>, Arc<AccountSnapshot>>;

/// Every job of every account, with its account's name and its ID.
fn all_jobs(accounts: &Accounts) -> impl Iterator<Item = (&str, u64, &JobSnapshot)> {
    accounts.iter().flat_map(|(account, snapshot)| {
        snapshot
            .jobs
            .iter()
            .map(move |(id, job)| (&**account, *id, &**job))
    })
}

/// The first instant after `now` at which [`render_jobs`] would write otherwise
/// without a new snapshot (a failing job's last values going stale), if any.
pub(super) fn expiry(accounts: &Accounts, now: Instant) -> Option<Instant> {
    all_jobs(accounts)
        .filter(|(_, _, job)| !job.up && job.values.is_some())
        .filter_map(|(_, _, job)| job.stale_at.filter(|at| *at >= now))
        .min()
}

/// Writes every job family of every account as it stands at `now`, in chunks, to `out`.
pub fn render_jobs<W: Write>(
    accounts: &Accounts,
    now: Instant,
    format: Format,
    out: &mut W,
) -> io::Result<()> {
    let jobs = || all_jobs(accounts);
    let fresh = || {
        jobs()
            .filter_map(move |(account, id, job)| Some((account, id, job, job.fresh_values(now)?)))
    };
    let mut w = Writer::new(out, format);
    for (def, field) in &VALUE_FIELDS {
        w.family(def);
        for (account, id, _, values) in fresh() {
            if let Some(value) = field(values) {
                w.sample(|b| job_labels(b, account, id), value)?;
            }
        }
    }
    w.family(&contract::JOB_PRODUCT_WORKERS);
    for (account, id, _, values) in fresh() {
        for (product, count) in product_counts(values) {
            w.sample(
                |b| {
                    job_labels(b, account, id);
                    label(b, "product", product);
                },
                count,
            )?;
        }
    }
    w.family(&contract::JOB_UP);
    for (account, id, job) in jobs() {
        w.sample(|b| job_labels(b, account, id), u8::from(job.up))?;
    }
    w.family(&contract::JOB_LAST_SUCCESS);
    for (account, id, job, _) in fresh() {
        if let Some(since_epoch) = job
            .last_success
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        {
            w.sample(
                |b| job_labels(b, account, id),
                Seconds(since_epoch.as_secs_f64()),
            )?;
        }
    }
    render_info(&mut w, jobs)?;
    render_workers(&mut w, accounts, now)?;
    render_certificates(&mut w, accounts)?;
    render_account_totals(&mut w, accounts)?;
    w.flush()
}

/// The info, status and time families, from each job's ListDeploymentJob or DescribeDeploymentJob data.
fn render_info<'a, W: Write, I: Iterator<Item = (&'a str, u64, &'a JobSnapshot)>>(
    w: &mut Writer<'_, W>,
    jobs: impl Fn() -> I,
) -> io::Result<()> {
    let with_info =
        || jobs().filter_map(|(account, id, job)| Some((account, id, job.info.as_deref()?)));
    let text = |v: &'a Option<String>| v.as_deref().unwrap_or_default();
    w.family(&contract::JOB_INFO);
    for (account, id, job) in with_info() {
        w.sample(
            |b| {
                job_labels(b, account, id);
                label(b, "name", text(&job.name));
                label(b, "job_type", text(&job.job_type));
                label(b, "cert_type", text(&job.cert_type));
                label(b, "cert_domain", text(&job.cert_domain));
                label(b, "products", text(&job.product_name));
            },
            1,
        )?;
    }
    w.family(&contract::JOB_STATUS);
    for (account, id, job) in with_info() {
        let Some(current) = job.status.as_deref() else {
            continue;
        };
        for known in JOB_STATUSES {
            w.sample(
                |b| {
                    job_labels(b, account, id);
                    label(b, "status", known);
                },
                u8::from(known == current),
            )?;
        }
        if !JOB_STATUSES.contains(&current) {
            w.sample(
                |b| {
                    job_labels(b, account, id);
                    label(b, "status", current);
                },
                1,
            )?;
        }
    }
    type Time = fn(&DeploymentJob) -> Option<f64>;
    let times: [(&'static MetricDef, Time); 3] = [
        (&contract::JOB_START, |j| j.start_time),
        (&contract::JOB_END, |j| j.end_time),
        (&contract::JOB_SCHEDULE, |j| j.schedule_time),
    ];
    for (def, time) in times {
        w.family(def);
        for (account, id, job) in with_info() {
            if let Some(at) = time(job) {
                w.sample(|b| job_labels(b, account, id), Seconds(at))?;
            }
        }
    }
    Ok(())
}

/// Per-account figures: jobs by source, retired jobs, discovery's health, refused
/// actions and the last sweep's duration.
fn render_account_totals<W: Write>(w: &mut Writer<'_, W>, accounts: &Accounts) -> io::Result<()> {
    w.family(&contract::EXPORTER_JOBS);
    for (account, snapshot) in accounts {
        for source in [JobSource::Static, JobSource::Discovered] {
            let count = snapshot
                .jobs
                .values()
                .filter(|j| j.source == source)
                .count();
            w.sample(
                |b| {
                    label(b, "account", account);
                    label(b, "source", source.as_str());
                },
                count,
            )?;
        }
    }
    w.family(&contract::RETIRED_JOBS);
    for (account, snapshot) in accounts {
        w.sample(|b| label(b, "account", account), snapshot.retired_jobs)?;
    }
    let discovering = || {
        accounts
            .iter()
            .filter_map(|(account, snapshot)| Some((account, snapshot.discovery?)))
    };
    w.family(&contract::DISCOVERY_UP);
    for (account, health) in discovering() {
        w.sample(|b| label(b, "account", account), u8::from(health.up))?;
    }
    w.family(&contract::DISCOVERY_LAST_SUCCESS);
    for (account, health) in discovering() {
        if let Some(since_epoch) = health
            .last_success
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        {
            w.sample(
                |b| label(b, "account", account),
                Seconds(since_epoch.as_secs_f64()),
            )?;
        }
    }
    w.family(&contract::API_DETAIL_REFUSED);
    for (account, snapshot) in accounts {
        for action in [Action::ListWorkerResource, Action::ListDeploymentJobCert] {
            w.sample(
                |b| {
                    label(b, "account", account);
                    label(b, "action", action.name());
                },
                u8::from(snapshot.refused.contains(&action)),
            )?;
        }
    }
    w.family(&contract::SWEEP_DURATION);
    for (account, snapshot) in accounts {
        if let Some(duration) = snapshot.sweep_duration {
            w.sample(
                |b| label(b, "account", account),
                Seconds(duration.as_secs_f64()),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::ProductWorkerCount;
    use crate::snapshot::DiscoveryHealth;
    use std::time::Duration;

    fn product(name: Option<&str>, count: Option<i64>) -> ProductWorkerCount {
        ProductWorkerCount {
            product_name: name.map(str::to_owned),
            count,
        }
    }

    #[test]
    fn a_product_sum_that_would_overflow_is_left_out_not_wrapped() {
        let status = DeploymentJobStatus {
            product_worker_count: Some(vec![
                product(Some("CDN"), Some(i64::MAX)),
                product(Some("CDN"), Some(1)),
                product(Some("OSS"), Some(i64::MAX)),
            ]),
            ..Default::default()
        };
        assert_eq!(
            product_counts(&status).into_iter().collect::<Vec<_>>(),
            [("OSS", i64::MAX)]
        );
    }

    #[test]
    fn renders_values_missing_fields_stale_and_down_jobs() {
        let status = DeploymentJobStatus {
            worker_count: Some(20),
            failed_count: Some(2),
            product_worker_count: Some(vec![
                product(Some("CDN"), Some(12)),
                product(Some("we\"ird\\"), Some(1)),
                product(Some("CDN"), Some(3)),
                product(None, Some(4)),
                product(Some("SLB"), None),
            ]),
            ..Default::default()
        };
        let now = Instant::now();
        let values = Arc::new(status);
        let mut prod = AccountSnapshot {
            sweep_duration: Some(Duration::from_millis(1500)),
            refused: vec![Action::ListDeploymentJobCert],
            ..Default::default()
        };
        prod.jobs.insert(
            8888,
            Arc::new(JobSnapshot {
                up: true,
                last_success: Some(UNIX_EPOCH + Duration::from_millis(1_714_550_460_250)),
                stale_at: Some(now),
                values: Some(Arc::clone(&values)),
                info: Some(Arc::new(DeploymentJob {
                    name: Some("cdn-renew".into()),
                    job_type: Some("user".into()),
                    cert_type: Some("buy".into()),
                    cert_domain: Some("www.example.com".into()),
                    product_name: Some("CDN,SLB".into()),
                    status: Some("paused".into()),
                    start_time: Some(1_714_550_460.0),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        );
        prod.jobs.insert(
            7777,
            Arc::new(JobSnapshot {
                source: JobSource::Discovered,
                last_success: Some(UNIX_EPOCH),
                stale_at: Some(now - Duration::from_nanos(1)),
                values: Some(values),
                ..Default::default()
            }),
        );
        let accounts: Accounts = [(Arc::from("prod"), Arc::new(prod))].into_iter().collect();
        let mut out = Vec::new();
        render_jobs(&accounts, now, Format::Text, &mut out).unwrap();
        assert_eq!(
            expiry(&accounts, now),
            None,
            "7777's values are already stale; 8888 is up"
        );
        let out = String::from_utf8(out).unwrap();
        let header = |def: &MetricDef| {
            format!(
                "# HELP {} {}\n# TYPE {} gauge\n",
                def.name, def.help, def.name
            )
        };
        let expected = [
            header(&contract::JOB_WORKERS),
            "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"8888\"} 20\n".into(),
            header(&contract::JOB_FAILED_WORKERS),
            "aliyun_cas_deployment_job_failed_workers{account=\"prod\",job_id=\"8888\"} 2\n".into(),
            header(&contract::JOB_PRODUCT_WORKERS),
            "aliyun_cas_deployment_job_product_workers{account=\"prod\",job_id=\"8888\",product=\"CDN\"} 15\n".into(),
            "aliyun_cas_deployment_job_product_workers{account=\"prod\",job_id=\"8888\",product=\"we\\\"ird\\\\\"} 1\n".into(),
            header(&contract::JOB_UP),
            "aliyun_cas_deployment_job_up{account=\"prod\",job_id=\"7777\"} 0\n".into(),
            "aliyun_cas_deployment_job_up{account=\"prod\",job_id=\"8888\"} 1\n".into(),
            header(&contract::JOB_LAST_SUCCESS),
            "aliyun_cas_deployment_job_last_success_timestamp_seconds{account=\"prod\",job_id=\"8888\"} 1714550460.250\n".into(),
            header(&contract::JOB_INFO),
            "aliyun_cas_deployment_job_info{account=\"prod\",job_id=\"8888\",name=\"cdn-renew\",job_type=\"user\",cert_type=\"buy\",cert_domain=\"www.example.com\",products=\"CDN,SLB\"} 1\n".into(),
            header(&contract::JOB_STATUS),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"pending\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"editing\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"scheduling\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"processing\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"success\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"error\"} 0\n".into(),
            "aliyun_cas_deployment_job_status{account=\"prod\",job_id=\"8888\",status=\"paused\"} 1\n".into(),
            header(&contract::JOB_START),
            "aliyun_cas_deployment_job_start_timestamp_seconds{account=\"prod\",job_id=\"8888\"} 1714550460.000\n".into(),
            header(&contract::EXPORTER_JOBS),
            "aliyun_cas_exporter_jobs{account=\"prod\",source=\"static\"} 1\n".into(),
            "aliyun_cas_exporter_jobs{account=\"prod\",source=\"discovered\"} 1\n".into(),
            header(&contract::RETIRED_JOBS),
            "aliyun_cas_exporter_retired_jobs{account=\"prod\"} 0\n".into(),
            header(&contract::API_DETAIL_REFUSED),
            "aliyun_cas_api_detail_refused{account=\"prod\",action=\"ListWorkerResource\"} 0\n".into(),
            "aliyun_cas_api_detail_refused{account=\"prod\",action=\"ListDeploymentJobCert\"} 1\n".into(),
            header(&contract::SWEEP_DURATION),
            "aliyun_cas_exporter_poll_sweep_duration_seconds{account=\"prod\"} 1.500\n".into(),
        ]
        .concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn accounts_without_jobs_count_zero_and_only_discovering_ones_say_how_listing_went() {
        let listed = AccountSnapshot {
            discovery: Some(DiscoveryHealth {
                up: false,
                last_success: Some(UNIX_EPOCH + Duration::from_millis(1_714_550_460_250)),
            }),
            ..Default::default()
        };
        let never_listed = AccountSnapshot {
            discovery: Some(DiscoveryHealth::default()),
            ..Default::default()
        };
        let accounts: Accounts = [
            ("listed", listed),
            ("never-listed", never_listed),
            ("static", AccountSnapshot::default()),
        ]
        .into_iter()
        .map(|(name, snapshot)| (Arc::from(name), Arc::new(snapshot)))
        .collect();
        let mut out = Vec::new();
        render_jobs(&accounts, Instant::now(), Format::Text, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let family = |def: &MetricDef, samples: &[&str]| {
            let header = format!(
                "# HELP {} {}\n# TYPE {} gauge\n",
                def.name, def.help, def.name
            );
            let lines: String = samples
                .iter()
                .map(|s| format!("{}{s}\n", def.name))
                .collect();
            header + &lines
        };
        let expected = [
            family(
                &contract::EXPORTER_JOBS,
                &[
                    "{account=\"listed\",source=\"static\"} 0",
                    "{account=\"listed\",source=\"discovered\"} 0",
                    "{account=\"never-listed\",source=\"static\"} 0",
                    "{account=\"never-listed\",source=\"discovered\"} 0",
                    "{account=\"static\",source=\"static\"} 0",
                    "{account=\"static\",source=\"discovered\"} 0",
                ],
            ),
            family(
                &contract::RETIRED_JOBS,
                &[
                    "{account=\"listed\"} 0",
                    "{account=\"never-listed\"} 0",
                    "{account=\"static\"} 0",
                ],
            ),
            family(
                &contract::DISCOVERY_UP,
                &["{account=\"listed\"} 0", "{account=\"never-listed\"} 0"],
            ),
            family(
                &contract::DISCOVERY_LAST_SUCCESS,
                &["{account=\"listed\"} 1714550460.250"],
            ),
            family(
                &contract::API_DETAIL_REFUSED,
                &[
                    "{account=\"listed\",action=\"ListWorkerResource\"} 0",
                    "{account=\"listed\",action=\"ListDeploymentJobCert\"} 0",
                    "{account=\"never-listed\",action=\"ListWorkerResource\"} 0",
                    "{account=\"never-listed\",action=\"ListDeploymentJobCert\"} 0",
                    "{account=\"static\",action=\"ListWorkerResource\"} 0",
                    "{account=\"static\",action=\"ListDeploymentJobCert\"} 0",
                ],
            ),
        ]
        .concat();
        assert_eq!(out, expected);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::acs::text::MAX_LABEL_BYTES;
    use proptest::prelude::*;

    /// The label values of one sample line, unescaped.
    fn label_values(line: &str) -> Vec<String> {
        let mut values = Vec::new();
        let mut rest = &line[line.find('{').expect("labels")..];
        while let Some(start) = rest.find("=\"") {
            let mut value = String::new();
            let mut chars = rest[start + 2..].char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => {}
                    },
                    '"' => {
                        rest = &rest[start + 2 + i + 1..];
                        break;
                    }
                    c => value.push(c),
                }
            }
            values.push(value);
        }
        values
    }

    proptest! {
        #[test]
        fn whatever_the_api_sends_the_text_stays_well_formed_and_bounded(
            texts in proptest::collection::vec(
                prop_oneof![any::<String>(), "[\\x00-\\x1f\\x7f-\\x9f\"\\\\a-zé\\n]{0,40}"],
                7,
            ),
            long in 0usize..2000,
            numbers in proptest::collection::vec(any::<i64>(), 4),
            times in proptest::collection::vec(any::<f64>().prop_filter("json", |f| f.is_finite()), 2),
        ) {
            let padded = format!("{}{}", texts[0], "x".repeat(long));
            let status: DeploymentJobStatus = serde_json::from_value(serde_json::json!({
                "WorkerCount": numbers[0],
                "FailedCount": numbers[1].to_string(),
                "ProductWorkerCount": [
                    {"ProductName": padded, "Count": numbers[2]},
                    {"ProductName": texts[1], "Count": numbers[3]},
                    {"ProductName": texts[1], "Count": numbers[3]},
                ],
            })).unwrap();
            let info: DeploymentJob = serde_json::from_value(serde_json::json!({
                "Name": padded, "JobType": texts[2], "CertType": texts[3],
                "CertDomain": texts[4], "ProductName": texts[5], "Status": texts[6],
                "StartTime": times[0], "EndTime": times[1].to_string(),
            })).unwrap();
            // As the poller takes them in.
            let (mut status, mut info) = (status, info);
            status.drop_implausible();
            status.bound_products();
            info.drop_implausible();
            let mut account = AccountSnapshot::default();
            account.jobs.insert(1, Arc::new(JobSnapshot {
                up: true,
                values: Some(Arc::new(status)),
                info: Some(Arc::new(info)),
                ..Default::default()
            }));
            let accounts: Accounts = [(Arc::from("prod"), Arc::new(account))].into_iter().collect();
            let mut out = Vec::new();
            render_jobs(&accounts, Instant::now(), Format::Text, &mut out).unwrap();
            let text = String::from_utf8(out).expect("UTF-8");
            prop_assert!(text.ends_with('\n'));
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                prop_assert!(!line.chars().any(char::is_control), "{:?}", line);
                for value in label_values(line) {
                    prop_assert!(value.len() <= MAX_LABEL_BYTES, "{} bytes", value.len());
                }
                let sample: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
                prop_assert!(sample.is_finite() && sample >= 0.0, "{}", line);
                prop_assert!(sample <= crate::api::model::MAX_UNIX_TIME.max(2.0 * crate::api::model::MAX_COUNT as f64));
            }
        }
    }
}
