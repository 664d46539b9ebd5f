//! Writes a snapshot's job families in the Prometheus text format (0.0.4).

use super::contract::{self, MetricDef};
use crate::api::model::DeploymentJobStatus;
use crate::snapshot::{JobSnapshot, Snapshot};
use std::collections::BTreeMap;
use std::fmt::Write;
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

/// Renders every job family of `snapshot` as it stands at `now`.
pub fn render_jobs(snapshot: &Snapshot, now: Instant, out: &mut String) {
    let job_label = |id: u64| format!("job_id=\"{id}\"");
    let fresh: Vec<(u64, &JobSnapshot, &DeploymentJobStatus)> = snapshot
        .jobs
        .iter()
        .filter_map(|(id, job)| Some((*id, job, job.fresh_values(now, snapshot.stale_after)?)))
        .collect();
    for (def, field) in VALUE_FIELDS {
        let samples: Vec<(String, String)> = fresh
            .iter()
            .filter_map(|(id, _, values)| Some((job_label(*id), field(values)?.to_string())))
            .collect();
        family(out, &def, &samples);
    }
    let mut products = Vec::new();
    for (id, _, values) in &fresh {
        for (product, count) in product_counts(values) {
            products.push((
                format!("job_id=\"{id}\",product=\"{}\"", escape(product)),
                count.to_string(),
            ));
        }
    }
    family(out, &contract::JOB_PRODUCT_WORKERS, &products);
    let up: Vec<(String, String)> = snapshot
        .jobs
        .iter()
        .map(|(id, job)| (job_label(*id), u8::from(job.up).to_string()))
        .collect();
    family(out, &contract::JOB_UP, &up);
    let last_success: Vec<(String, String)> = fresh
        .iter()
        .filter_map(|(id, job, _)| {
            let since_epoch = job.last_success?.duration_since(UNIX_EPOCH).ok()?;
            Some((job_label(*id), format!("{:.3}", since_epoch.as_secs_f64())))
        })
        .collect();
    family(out, &contract::JOB_LAST_SUCCESS, &last_success);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::ProductWorkerCount;
    use crate::snapshot::JobSnapshot;
    use std::sync::Arc;
    use std::time::Duration;

    fn product(name: Option<&str>, count: Option<i64>) -> ProductWorkerCount {
        ProductWorkerCount {
            product_name: name.map(str::to_owned),
            count,
        }
    }

    #[test]
    fn renders_values_missing_fields_and_down_jobs() {
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
        let mut snapshot = Snapshot {
            stale_after: Duration::from_secs(60),
            ..Default::default()
        };
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(100);
        let values = Arc::new(status);
        snapshot.jobs.insert(
            8888,
            JobSnapshot {
                up: true,
                last_success: Some(UNIX_EPOCH + Duration::from_millis(1_714_550_460_250)),
                last_success_at: Some(now - Duration::from_secs(60)),
                values: Some(Arc::clone(&values)),
            },
        );
        snapshot.jobs.insert(
            7777,
            JobSnapshot {
                up: false,
                last_success: Some(UNIX_EPOCH + Duration::from_secs(1_714_550_000)),
                last_success_at: Some(t0),
                values: Some(values),
            },
        );
        snapshot.jobs.insert(
            9999,
            JobSnapshot {
                up: false,
                last_success: None,
                last_success_at: None,
                values: None,
            },
        );
        let mut out = String::new();
        render_jobs(&snapshot, now, &mut out);
        let expected = format!(
            "# HELP aliyun_cas_deployment_job_workers {}\n# TYPE aliyun_cas_deployment_job_workers gauge\naliyun_cas_deployment_job_workers{{job_id=\"8888\"}} 20\n\
# HELP aliyun_cas_deployment_job_failed_workers {}\n# TYPE aliyun_cas_deployment_job_failed_workers gauge\naliyun_cas_deployment_job_failed_workers{{job_id=\"8888\"}} 2\n\
# HELP aliyun_cas_deployment_job_product_workers {}\n# TYPE aliyun_cas_deployment_job_product_workers gauge\n\
aliyun_cas_deployment_job_product_workers{{job_id=\"8888\",product=\"CDN\"}} 15\n\
aliyun_cas_deployment_job_product_workers{{job_id=\"8888\",product=\"we\\\"ird\\\\\"}} 1\n\
# HELP aliyun_cas_deployment_job_up {}\n# TYPE aliyun_cas_deployment_job_up gauge\n\
aliyun_cas_deployment_job_up{{job_id=\"7777\"}} 0\naliyun_cas_deployment_job_up{{job_id=\"8888\"}} 1\naliyun_cas_deployment_job_up{{job_id=\"9999\"}} 0\n\
# HELP aliyun_cas_deployment_job_last_success_timestamp_seconds {}\n# TYPE aliyun_cas_deployment_job_last_success_timestamp_seconds gauge\n\
aliyun_cas_deployment_job_last_success_timestamp_seconds{{job_id=\"8888\"}} 1714550460.250\n",
            contract::JOB_WORKERS.help,
            contract::JOB_FAILED_WORKERS.help,
            contract::JOB_PRODUCT_WORKERS.help,
            contract::JOB_UP.help,
            contract::JOB_LAST_SUCCESS.help,
        );
        assert_eq!(out, expected);
    }
}
