//! The families that answer "what failed, with which certificate": each
//! job's failed or rolled-back workers within the account's budget, and the
//! certificates its jobs deploy, each certificate's validity once per account.

use super::contract;
use super::writer::{Seconds, Writer, job_labels, label, number_label};
use crate::api::model::JobCertificate;
use crate::snapshot::{AccountSnapshot, WorkerListing, share_workers};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tokio::time::Instant;

type Accounts = BTreeMap<Arc<str>, Arc<AccountSnapshot>>;

/// Each listing of `snapshot` whose job's values are served at `now`, with
/// how many of its workers the account's budget lets through.
fn shares(
    snapshot: &AccountSnapshot,
    now: Instant,
) -> impl Iterator<Item = (u64, &WorkerListing, usize)> {
    let listings = snapshot.jobs.iter().filter_map(move |(id, job)| {
        job.fresh_values(now)?;
        Some((*id, job.workers.as_deref()?))
    });
    share_workers(listings, snapshot.max_workers)
}

/// Worker info, left-out counts and listing times, for jobs whose values are served.
pub(super) fn render_workers<W: Write>(
    w: &mut Writer<'_, W>,
    accounts: &Accounts,
    now: Instant,
) -> io::Result<()> {
    w.family(&contract::JOB_WORKER_INFO);
    for (account, snapshot) in accounts {
        for (id, listing, shown) in shares(snapshot, now) {
            for worker in &listing.workers[..shown] {
                w.sample(
                    |b| {
                        job_labels(b, account, id);
                        number_label(b, "worker_id", worker.worker_id().unwrap_or_default());
                        label(b, "status", text(&worker.status));
                        label(b, "product", text(&worker.cloud_product));
                        label(b, "region", worker.region());
                        label(b, "instance_id", text(&worker.instance_id));
                        label(b, "resource", &worker.resource());
                        label(b, "cloud", worker.cloud());
                    },
                    1,
                )?;
            }
        }
    }
    w.family(&contract::JOB_UNLISTED_WORKERS);
    for (account, snapshot) in accounts {
        for (id, listing, shown) in shares(snapshot, now) {
            let left_out = listing
                .left_out
                .saturating_add((listing.workers.len() - shown) as u64);
            w.sample(|b| job_labels(b, account, id), left_out)?;
        }
    }
    w.family(&contract::JOB_WORKER_LISTING_TIMESTAMP);
    for (account, snapshot) in accounts {
        for (id, listing, _) in shares(snapshot, now) {
            if let Ok(at) = listing.listed_at.duration_since(UNIX_EPOCH) {
                w.sample(|b| job_labels(b, account, id), Seconds(at.as_secs_f64()))?;
            }
        }
    }
    Ok(())
}

/// Every certificate of `snapshot`'s jobs, with its job's ID, in job order.
fn listed(snapshot: &AccountSnapshot) -> impl Iterator<Item = (u64, &JobCertificate)> {
    snapshot.jobs.iter().flat_map(|(id, job)| {
        job.certificates
            .iter()
            .flat_map(|certs| certs.iter())
            .map(move |cert| (*id, cert))
    })
}

/// Each certificate of `snapshot` once, by ID, as the job with the lowest ID lists it.
fn distinct(snapshot: &AccountSnapshot) -> Vec<(u64, &JobCertificate)> {
    let mut all: Vec<(u64, &JobCertificate)> = listed(snapshot)
        .filter_map(|(_, cert)| Some((cert.id()?, cert)))
        .collect();
    // A stable sort keeps jobs in ID order within a certificate: the first is the lowest job's.
    all.sort_by_key(|(id, _)| *id);
    all.dedup_by_key(|(id, _)| *id);
    all
}

/// A label value the API may have left out.
fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// Every job's certificates; then each certificate's validity once per account,
/// as the job with the lowest ID lists it.
pub(super) fn render_certificates<W: Write>(
    w: &mut Writer<'_, W>,
    accounts: &Accounts,
) -> io::Result<()> {
    w.family(&contract::JOB_CERTIFICATE_INFO);
    for (account, snapshot) in accounts {
        for (id, cert) in listed(snapshot) {
            let Some(cert_id) = cert.id() else { continue };
            w.sample(
                |b| {
                    job_labels(b, account, id);
                    number_label(b, "cert_id", cert_id);
                    label(b, "common_name", text(&cert.common_name));
                    label(b, "cert_name", text(&cert.cert_name));
                    label(b, "cert_type", text(&cert.cert_type));
                    label(b, "order_type", text(&cert.cert_order_type));
                    label(b, "status_code", text(&cert.status_code));
                },
                1,
            )?;
        }
    }
    type Time = fn(&JobCertificate) -> Option<f64>;
    let times: [(&'static contract::MetricDef, Time); 2] = [
        (&contract::CERT_NOT_AFTER, |c| c.not_after_time),
        (&contract::CERT_NOT_BEFORE, |c| c.not_before_time),
    ];
    for (def, time) in times {
        w.family(def);
        for (account, snapshot) in accounts {
            for (cert_id, cert) in distinct(snapshot) {
                if let Some(at) = time(cert) {
                    w.sample(
                        |b| {
                            label(b, "account", account);
                            number_label(b, "cert_id", cert_id);
                            label(b, "common_name", text(&cert.common_name));
                        },
                        Seconds(at),
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::{DeploymentJobStatus, WorkerResource};
    use crate::snapshot::JobSnapshot;
    use std::time::Duration;

    fn worker(id: i64, status: &str, domain: Option<&str>) -> WorkerResource {
        WorkerResource {
            id: Some(id),
            status: Some(status.into()),
            cloud_product: Some(if domain.is_some() { "CDN" } else { "SLB" }.into()),
            region_id: Some("cn-hangzhou".into()),
            instance_id: domain.is_none().then(|| "lb-1".to_owned()),
            port: Some(443),
            resource_domain: domain.map(str::to_owned),
            ..Default::default()
        }
    }

    fn cert(id: i64, name: &str, not_after: f64) -> JobCertificate {
        JobCertificate {
            cert_id: Some(id),
            cert_name: Some(format!("cert-{id}")),
            common_name: Some(name.into()),
            cert_type: Some("DV".into()),
            cert_order_type: Some("buy".into()),
            status_code: Some("issued".into()),
            not_before_time: Some(not_after - 100.0),
            not_after_time: Some(not_after),
        }
    }

    fn job(
        up: bool,
        workers: Vec<WorkerResource>,
        left_out: u64,
        certs: Vec<JobCertificate>,
    ) -> Arc<JobSnapshot> {
        Arc::new(JobSnapshot {
            up,
            values: Some(Arc::new(DeploymentJobStatus::default())),
            workers: Some(Arc::new(WorkerListing {
                workers,
                left_out,
                listed_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            })),
            certificates: Some(certs.into()),
            ..Default::default()
        })
    }

    fn render(snapshot: AccountSnapshot) -> String {
        let accounts: Accounts = [(Arc::from("prod"), Arc::new(snapshot))]
            .into_iter()
            .collect();
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, crate::metrics::Format::Text);
        render_workers(&mut w, &accounts, Instant::now()).unwrap();
        render_certificates(&mut w, &accounts).unwrap();
        w.flush().unwrap();
        let text = String::from_utf8(out).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn workers_share_the_account_budget_and_certificates_are_counted_once() {
        let shared = cert(7, "www.example.com", 1_800_000_000.0);
        let mut snapshot = AccountSnapshot {
            max_workers: 3,
            ..Default::default()
        };
        snapshot.jobs.insert(
            1,
            job(
                true,
                vec![
                    worker(11, "error", Some("img.example.com")),
                    worker(12, "rollback_success", None),
                ],
                4,
                vec![shared.clone()],
            ),
        );
        snapshot.jobs.insert(
            2,
            job(
                true,
                vec![worker(21, "error", None), worker(22, "error", None)],
                0,
                vec![
                    JobCertificate {
                        common_name: Some("listed second".into()),
                        ..shared
                    },
                    cert(8, "api.example.com", 1_750_000_000.0),
                ],
            ),
        );
        // A job whose values are no longer served shows no workers, but its certificates.
        let mut stale = (*job(false, vec![worker(31, "error", None)], 0, vec![])).clone();
        stale.values = None;
        snapshot.jobs.insert(3, Arc::new(stale));
        assert_eq!(
            render(snapshot),
            [
                r#"aliyun_cas_deployment_job_worker_info{account="prod",job_id="1",worker_id="11",status="error",product="CDN",region="cn-hangzhou",instance_id="",resource="img.example.com",cloud=""} 1"#,
                r#"aliyun_cas_deployment_job_worker_info{account="prod",job_id="1",worker_id="12",status="rollback_success",product="SLB",region="cn-hangzhou",instance_id="lb-1",resource="lb-1:443",cloud=""} 1"#,
                r#"aliyun_cas_deployment_job_worker_info{account="prod",job_id="2",worker_id="21",status="error",product="SLB",region="cn-hangzhou",instance_id="lb-1",resource="lb-1:443",cloud=""} 1"#,
                r#"aliyun_cas_deployment_job_unlisted_workers{account="prod",job_id="1"} 4"#,
                r#"aliyun_cas_deployment_job_unlisted_workers{account="prod",job_id="2"} 1"#,
                r#"aliyun_cas_deployment_job_worker_listing_timestamp_seconds{account="prod",job_id="1"} 1700000000.000"#,
                r#"aliyun_cas_deployment_job_worker_listing_timestamp_seconds{account="prod",job_id="2"} 1700000000.000"#,
                r#"aliyun_cas_deployment_job_certificate_info{account="prod",job_id="1",cert_id="7",common_name="www.example.com",cert_name="cert-7",cert_type="DV",order_type="buy",status_code="issued"} 1"#,
                r#"aliyun_cas_deployment_job_certificate_info{account="prod",job_id="2",cert_id="7",common_name="listed second",cert_name="cert-7",cert_type="DV",order_type="buy",status_code="issued"} 1"#,
                r#"aliyun_cas_deployment_job_certificate_info{account="prod",job_id="2",cert_id="8",common_name="api.example.com",cert_name="cert-8",cert_type="DV",order_type="buy",status_code="issued"} 1"#,
                r#"aliyun_cas_certificate_not_after_timestamp_seconds{account="prod",cert_id="7",common_name="www.example.com"} 1800000000.000"#,
                r#"aliyun_cas_certificate_not_after_timestamp_seconds{account="prod",cert_id="8",common_name="api.example.com"} 1750000000.000"#,
                r#"aliyun_cas_certificate_not_before_timestamp_seconds{account="prod",cert_id="7",common_name="www.example.com"} 1799999900.000"#,
                r#"aliyun_cas_certificate_not_before_timestamp_seconds{account="prod",cert_id="8",common_name="api.example.com"} 1749999900.000"#,
            ]
            .map(|l| format!("{l}\n"))
            .concat()
        );
    }
}
