//! Writes a snapshot's job families in the Prometheus text format (0.0.4).

use super::contract::{self, MetricDef};
use crate::api::model::{DeploymentJob, DeploymentJobStatus};
use crate::config::JOB_STATUSES;
use crate::snapshot::{AccountSnapshot, JobSnapshot, JobSource};
use std::collections::BTreeMap;
use std::fmt::Write;
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

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes one family: its header, then its samples; nothing at all when it has none.
fn family(out: &mut String, def: &MetricDef, samples: &[(String, String)]) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {} {}", def.name, def.help);
    let _ = writeln!(out, "# TYPE {} {}", def.name, def.kind.as_str());
    for (labels, value) in samples {
        let _ = writeln!(out, "{}{{{labels}}} {value}", def.name);
    }
}

/// Sums `ProductWorkerCount` by product, skipping entries without a name or a count.
fn product_counts(status: &DeploymentJobStatus) -> BTreeMap<&str, i64> {
    let mut counts = BTreeMap::new();
    for entry in status.product_worker_count.iter().flatten() {
        if let (Some(name), Some(count)) = (entry.product_name.as_deref(), entry.count) {
            *counts.entry(name).or_insert(0) += count;
        }
    }
    counts
}

/// One account's jobs, as the renderer walks them.
type Accounts = BTreeMap<Arc<str>, Arc<AccountSnapshot>>;

/// `account="…",job_id="…"`.
fn job_labels(account: &str, id: u64) -> String {
    format!("account=\"{}\",job_id=\"{id}\"", escape(account))
}

/// Formats a Unix time with millisecond precision.
fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// Renders every job family of every account as it stands at `now`.
pub fn render_jobs(accounts: &Accounts, now: Instant, out: &mut String) {
    let jobs: Vec<(&str, u64, &JobSnapshot)> = accounts
        .iter()
        .flat_map(|(account, snapshot)| {
            snapshot
                .jobs
                .iter()
                .map(move |(id, job)| (&**account, *id, &**job))
        })
        .collect();
    let fresh: Vec<(&str, u64, &JobSnapshot, &DeploymentJobStatus)> = jobs
        .iter()
        .filter_map(|(account, id, job)| Some((*account, *id, *job, job.fresh_values(now)?)))
        .collect();
    for (def, field) in VALUE_FIELDS {
        let samples: Vec<(String, String)> = fresh
            .iter()
            .filter_map(|(account, id, _, values)| {
                Some((job_labels(account, *id), field(values)?.to_string()))
            })
            .collect();
        family(out, &def, &samples);
    }
    let mut products = Vec::new();
    for (account, id, _, values) in &fresh {
        for (product, count) in product_counts(values) {
            products.push((
                format!(
                    "{},product=\"{}\"",
                    job_labels(account, *id),
                    escape(product)
                ),
                count.to_string(),
            ));
        }
    }
    family(out, &contract::JOB_PRODUCT_WORKERS, &products);
    let up: Vec<(String, String)> = jobs
        .iter()
        .map(|(account, id, job)| (job_labels(account, *id), u8::from(job.up).to_string()))
        .collect();
    family(out, &contract::JOB_UP, &up);
    let last_success: Vec<(String, String)> = fresh
        .iter()
        .filter_map(|(account, id, job, _)| {
            let since_epoch = job.last_success?.duration_since(UNIX_EPOCH).ok()?;
            Some((job_labels(account, *id), seconds(since_epoch.as_secs_f64())))
        })
        .collect();
    family(out, &contract::JOB_LAST_SUCCESS, &last_success);
    render_info(&jobs, out);
    render_account_totals(accounts, out);
}

/// The info, status and time families, from each job's ListDeploymentJob or DescribeDeploymentJob data.
fn render_info(jobs: &[(&str, u64, &JobSnapshot)], out: &mut String) {
    let with_info: Vec<(&str, u64, &DeploymentJob)> = jobs
        .iter()
        .filter_map(|(account, id, job)| Some((*account, *id, job.info.as_deref()?)))
        .collect();
    let text = |v: &Option<String>| escape(v.as_deref().unwrap_or_default());
    let info: Vec<(String, String)> = with_info
        .iter()
        .map(|(account, id, job)| {
            (
                format!(
                    "{},name=\"{}\",job_type=\"{}\",cert_type=\"{}\",cert_domain=\"{}\",product=\"{}\"",
                    job_labels(account, *id),
                    text(&job.name),
                    text(&job.job_type),
                    text(&job.cert_type),
                    text(&job.cert_domain),
                    text(&job.product_name)
                ),
                "1".to_owned(),
            )
        })
        .collect();
    family(out, &contract::JOB_INFO, &info);
    let mut status = Vec::new();
    for (account, id, job) in &with_info {
        let Some(current) = job.status.as_deref() else {
            continue;
        };
        for known in JOB_STATUSES {
            status.push((
                format!("{},status=\"{known}\"", job_labels(account, *id)),
                u8::from(known == current).to_string(),
            ));
        }
        if !JOB_STATUSES.contains(&current) {
            status.push((
                format!(
                    "{},status=\"{}\"",
                    job_labels(account, *id),
                    escape(current)
                ),
                "1".to_owned(),
            ));
        }
    }
    family(out, &contract::JOB_STATUS, &status);
    for (def, time) in [
        (
            contract::JOB_START,
            (|j: &DeploymentJob| j.start_time) as fn(&DeploymentJob) -> Option<f64>,
        ),
        (contract::JOB_END, |j: &DeploymentJob| j.end_time),
    ] {
        let samples: Vec<(String, String)> = with_info
            .iter()
            .filter_map(|(account, id, job)| Some((job_labels(account, *id), seconds(time(job)?))))
            .collect();
        family(out, &def, &samples);
    }
}

/// Per-account figures: jobs by source, and the last sweep's duration.
fn render_account_totals(accounts: &Accounts, out: &mut String) {
    let mut jobs = Vec::new();
    let mut sweeps = Vec::new();
    for (account, snapshot) in accounts {
        for source in [JobSource::Static, JobSource::Discovered] {
            let count = snapshot
                .jobs
                .values()
                .filter(|j| j.source == source)
                .count();
            jobs.push((
                format!(
                    "account=\"{}\",source=\"{}\"",
                    escape(account),
                    source.as_str()
                ),
                count.to_string(),
            ));
        }
        if let Some(duration) = snapshot.sweep_duration {
            sweeps.push((
                format!("account=\"{}\"", escape(account)),
                seconds(duration.as_secs_f64()),
            ));
        }
    }
    family(out, &contract::EXPORTER_JOBS, &jobs);
    family(out, &contract::SWEEP_DURATION, &sweeps);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::ProductWorkerCount;
    use std::time::Duration;

    fn product(name: Option<&str>, count: Option<i64>) -> ProductWorkerCount {
        ProductWorkerCount {
            product_name: name.map(str::to_owned),
            count,
        }
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
        let mut out = String::new();
        render_jobs(&accounts, now, &mut out);
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
            "aliyun_cas_deployment_job_info{account=\"prod\",job_id=\"8888\",name=\"cdn-renew\",job_type=\"user\",cert_type=\"buy\",cert_domain=\"www.example.com\",product=\"CDN,SLB\"} 1\n".into(),
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
            header(&contract::SWEEP_DURATION),
            "aliyun_cas_poll_sweep_duration_seconds{account=\"prod\"} 1.500\n".into(),
        ]
        .concat();
        assert_eq!(out, expected);
    }
}
