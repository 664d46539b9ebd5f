//! The metric contract: every family the exporter serves, with its type,
//! labels, source and HELP text. Rendering, the self-metrics and the
//! documentation test all read this one table.

/// A metric family's type, as written after `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up.
    Counter,
    /// A distribution in buckets.
    Histogram,
}

impl Kind {
    /// The name used in the exposition format.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The full name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its labels, in the order they are written.
    pub labels: &'static [&'static str],
    /// Where the value comes from.
    pub source: &'static str,
    /// The HELP text.
    pub help: &'static str,
}

/// The labels of every per-job series.
pub const JOB_LABELS: [&str; 2] = ["account", "job_id"];

const fn job_gauge(name: &'static str, field: &'static str, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind: Kind::Gauge,
        labels: &JOB_LABELS,
        source: field,
        help,
    }
}

macro_rules! status_help {
    ($what:literal, $field:literal) => {
        concat!(
            $what,
            " (DescribeDeploymentJobStatus ",
            $field,
            "); polled in the background, not at scrape time."
        )
    };
}

/// `WorkerCount`.
pub const JOB_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_workers",
    "WorkerCount",
    status_help!(
        "Worker tasks of the deployment job, one per cloud resource it deploys to; succeeded + failed + rolled back, and the rest are still pending or running",
        "WorkerCount"
    ),
);
/// `MatchWorkerCount`.
pub const JOB_MATCHED_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_matched_workers",
    "MatchWorkerCount",
    status_help!(
        "Worker tasks whose resource matches the job's certificate, as the API counts them",
        "MatchWorkerCount"
    ),
);
/// `SuccessCount`.
pub const JOB_SUCCEEDED_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_succeeded_workers",
    "SuccessCount",
    status_help!(
        "Worker tasks that deployed the certificate (status success); rolled-back ones are not counted here",
        "SuccessCount"
    ),
);
/// `FailedCount`.
pub const JOB_FAILED_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_failed_workers",
    "FailedCount",
    status_help!(
        "Worker tasks that failed to deploy the certificate (status error) and were not rolled back; the resource keeps its previous certificate",
        "FailedCount"
    ),
);
/// `RollbackCount`.
pub const JOB_ROLLBACK_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_rollback_workers",
    "RollbackCount",
    status_help!(
        "Worker tasks rolled back to the previous certificate: rollback_succeeded + rollback_failed",
        "RollbackCount"
    ),
);
/// `RollbackSuccessCount`.
pub const JOB_ROLLBACK_SUCCEEDED_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_rollback_succeeded_workers",
    "RollbackSuccessCount",
    status_help!(
        "Rolled-back worker tasks whose resource has its previous certificate again",
        "RollbackSuccessCount"
    ),
);
/// `RollbackFailedCount`.
pub const JOB_ROLLBACK_FAILED_WORKERS: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_rollback_failed_workers",
    "RollbackFailedCount",
    status_help!(
        "Rolled-back worker tasks whose rollback failed: the resource may serve neither certificate properly",
        "RollbackFailedCount"
    ),
);
/// `ResourceCount`.
pub const JOB_RESOURCES: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_resources",
    "ResourceCount",
    status_help!(
        "Total cloud resources as the API counts them; in the API's own example far above the job's workers, so read it as the account's, not the job's (the job's resources are its workers)",
        "ResourceCount"
    ),
);
/// `UseCount`.
pub const JOB_USED_RESOURCES: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_used_resources",
    "UseCount",
    status_help!(
        "Deployment resources used, as the API counts them; in the API's example below purchased_resources and far above the job's workers: the account's quota, not the job's",
        "UseCount"
    ),
);
/// `BuyCount`.
pub const JOB_PURCHASED_RESOURCES: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_purchased_resources",
    "BuyCount",
    status_help!(
        "Deployment resources purchased: the account's quota as the API counts it, not the job's",
        "BuyCount"
    ),
);
/// `CostCount`.
pub const JOB_CONSUMED_RESOURCES: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_consumed_resources",
    "CostCount",
    status_help!(
        "Resources consumed by this job's worker tasks (equal to workers in the API's example)",
        "CostCount"
    ),
);
/// `CertCount`.
pub const JOB_CERTIFICATES: MetricDef = job_gauge(
    "aliyun_cas_deployment_job_certificates",
    "CertCount",
    status_help!("Certificates the deployment job deploys", "CertCount"),
);
/// `ProductWorkerCount[].Count`, one series per product.
pub const JOB_PRODUCT_WORKERS: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_product_workers",
    kind: Kind::Gauge,
    labels: &["account", "job_id", "product"],
    source: "ProductWorkerCount[].Count",
    help: status_help!(
        "Worker tasks of the deployment job for one cloud product (CDN, SLB, ...); they sum to workers",
        "ProductWorkerCount[].Count by ProductName"
    ),
};
/// Whether the last poll of a job succeeded.
pub const JOB_UP: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_up",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "exporter",
    help: "1 if the last background poll of the deployment job succeeded, 0 if it failed or none succeeded yet.",
};
/// When a job was last polled successfully.
pub const JOB_LAST_SUCCESS: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_last_success_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "exporter",
    help: "Unix time of the last successful background poll of the deployment job.",
};
/// A job's name, type, certificate and products.
pub const JOB_INFO: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_info",
    kind: Kind::Gauge,
    labels: &[
        "account",
        "job_id",
        "name",
        "job_type",
        "cert_type",
        "cert_domain",
        "products",
    ],
    source: "Name, JobType, CertType, CertDomain, ProductName",
    help: "Always 1; the labels describe the deployment job (ListDeploymentJob for discovered jobs, DescribeDeploymentJob for listed ones), refreshed in the background.",
};
/// A job's status, one-hot.
pub const JOB_STATUS: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_status",
    kind: Kind::Gauge,
    labels: &["account", "job_id", "status"],
    source: "Status",
    help: "1 for the deployment job's current status and 0 for the other known ones (pending, editing, scheduling, processing, success, error); an unexpected status appears as it comes, with 1.",
};
/// When a job started.
pub const JOB_START: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_start_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "StartTime",
    help: "Unix time the deployment job started (StartTime, normalised from seconds or milliseconds); absent while unknown.",
};
/// When a job ended.
pub const JOB_END: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_end_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "EndTime",
    help: "Unix time the deployment job ended (EndTime, normalised from seconds or milliseconds); absent while unknown.",
};
/// When a job is scheduled to run.
pub const JOB_SCHEDULE: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_schedule_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "ScheduleTime",
    help: "Unix time the deployment job is scheduled to run (ScheduleTime, normalised from seconds or milliseconds); absent when the job has no schedule.",
};
/// One worker task that failed or was rolled back.
pub const JOB_WORKER_INFO: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_worker_info",
    kind: Kind::Gauge,
    labels: &[
        "account",
        "job_id",
        "worker_id",
        "status",
        "product",
        "region",
        "instance_id",
        "resource",
        "cloud",
    ],
    source: "ListWorkerResource Data[]",
    help: "Always 1; one series per worker task of the deployment job in status error, rollback, rollback_success or rollback_error, naming its product, region, instance and resource (domain, or instance:port); listed when the job's counts change.",
};
/// Failed or rolled-back workers not shown.
pub const JOB_UNLISTED_WORKERS: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_unlisted_workers",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "exporter",
    help: "Worker tasks in status error, rollback, rollback_success or rollback_error that have no aliyun_cas_deployment_job_worker_info series: beyond worker_detail.max_per_job or max_per_account, or missing from the API's answer.",
};
/// When a job's workers were last listed.
pub const JOB_WORKER_LISTING_TIMESTAMP: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_worker_listing_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &JOB_LABELS,
    source: "exporter",
    help: "Unix time the worker_info series of the deployment job were last listed (ListWorkerResource); a failed listing keeps the previous series and this time.",
};
/// One certificate of a job.
pub const JOB_CERTIFICATE_INFO: MetricDef = MetricDef {
    name: "aliyun_cas_deployment_job_certificate_info",
    kind: Kind::Gauge,
    labels: &[
        "account",
        "job_id",
        "cert_id",
        "common_name",
        "cert_name",
        "cert_type",
        "order_type",
        "status_code",
    ],
    source: "ListDeploymentJobCert Data[]",
    help: "Always 1; one series per certificate the deployment job deploys (ListDeploymentJobCert), refreshed every job_info_interval and when the job's status changes.",
};
/// When a certificate expires.
pub const CERT_NOT_AFTER: MetricDef = MetricDef {
    name: "aliyun_cas_certificate_not_after_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &["account", "cert_id", "common_name"],
    source: "NotAfterTime",
    help: "Unix time the certificate expires (ListDeploymentJobCert NotAfterTime), once per certificate of the polled deployment jobs.",
};
/// When a certificate becomes valid.
pub const CERT_NOT_BEFORE: MetricDef = MetricDef {
    name: "aliyun_cas_certificate_not_before_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &["account", "cert_id", "common_name"],
    source: "NotBeforeTime",
    help: "Unix time the certificate becomes valid (ListDeploymentJobCert NotBeforeTime), once per certificate of the polled deployment jobs.",
};
/// Jobs polled per account and source.
pub const EXPORTER_JOBS: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_jobs",
    kind: Kind::Gauge,
    labels: &["account", "source"],
    source: "exporter",
    help: "Deployment jobs this replica polls, by account and by source: static (listed in the configuration) or discovered.",
};
/// Finished discovered jobs no longer polled.
pub const RETIRED_JOBS: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_retired_jobs",
    kind: Kind::Gauge,
    labels: &["account"],
    source: "exporter",
    help: "Discovered deployment jobs no longer polled because they finished longer than finished_job_retention ago; their series are gone.",
};
/// Whether an account's last discovery listing worked.
pub const DISCOVERY_UP: MetricDef = MetricDef {
    name: "aliyun_cas_discovery_up",
    kind: Kind::Gauge,
    labels: &["account"],
    source: "exporter",
    help: "1 if the account's last discovery listing (ListDeploymentJob, every page) succeeded, 0 if it failed or none has finished yet; only for accounts with discovery.",
};
/// When an account's discovery last listed every page.
pub const DISCOVERY_LAST_SUCCESS: MetricDef = MetricDef {
    name: "aliyun_cas_discovery_last_success_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &["account"],
    source: "exporter",
    help: "Unix time the account's last complete discovery listing (ListDeploymentJob, every page) succeeded; kept through later failures, absent until the first success.",
};
/// Detail actions the RAM policy refuses.
pub const API_DETAIL_REFUSED: MetricDef = MetricDef {
    name: "aliyun_cas_api_detail_refused",
    kind: Kind::Gauge,
    labels: &["account", "action"],
    source: "exporter",
    help: "1 while the account's RAM policy refuses the detail action (ListWorkerResource, ListDeploymentJobCert) and the exporter leaves it alone (an hour, or until a reload), 0 otherwise; the counts are served either way.",
};
/// How long a pass over an account's jobs took.
pub const SWEEP_DURATION: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_poll_sweep_duration_seconds",
    kind: Kind::Gauge,
    labels: &["account"],
    source: "exporter",
    help: "Duration of the last full pass over the account's jobs that are not settled; above the poll interval, the rate limit cannot keep up.",
};
/// API calls by outcome.
pub const API_REQUESTS: MetricDef = MetricDef {
    name: "aliyun_cas_api_requests_total",
    kind: Kind::Counter,
    labels: &["account", "action", "code"],
    source: "exporter",
    help: "CAS API calls made, by action and outcome: OK, the API's error Code (a known one; any other as other, or Family.other within a known family), or timeout, connect, transport, http, decode, ResponseTooLarge, credentials.",
};
/// API call latency.
pub const API_REQUEST_DURATION: MetricDef = MetricDef {
    name: "aliyun_cas_api_request_duration_seconds",
    kind: Kind::Histogram,
    labels: &["account", "action"],
    source: "exporter",
    help: "Duration of CAS API calls, whatever their outcome.",
};
/// Retries by the failure that caused them.
pub const API_RETRIES: MetricDef = MetricDef {
    name: "aliyun_cas_api_retries_total",
    kind: Kind::Counter,
    labels: &["account", "action", "code"],
    source: "exporter",
    help: "CAS API calls attempted again, by the code of the failure that caused the retry.",
};
/// Time spent waiting for the rate limiter.
pub const RATE_LIMIT_WAIT: MetricDef = MetricDef {
    name: "aliyun_cas_api_rate_limit_wait_seconds_total",
    kind: Kind::Counter,
    labels: &["account", "action"],
    source: "exporter",
    help: "Seconds calls waited for the exporter's own rate limit; growing fast means polling runs at the configured quota.",
};
/// This replica's shard.
pub const SHARD_INDEX: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_shard_index",
    kind: Kind::Gauge,
    labels: &[],
    source: "exporter",
    help: "The shard this replica polls (--shard.index), from 0.",
};
/// How many shards share the jobs.
pub const SHARD_COUNT: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_shards",
    kind: Kind::Gauge,
    labels: &[],
    source: "exporter",
    help: "How many replicas share the jobs (--shard.count).",
};
/// Whether the last reload worked.
pub const RELOAD_SUCCESSFUL: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_config_last_reload_successful",
    kind: Kind::Gauge,
    labels: &[],
    source: "exporter",
    help: "1 if the last configuration reload succeeded (or none was tried), 0 if it was refused.",
};
/// When the configuration was last loaded.
pub const RELOAD_SUCCESS_TIMESTAMP: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_config_last_reload_success_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &[],
    source: "exporter",
    help: "Unix time the configuration was last loaded successfully, at start or by a reload.",
};
/// When an account's temporary credentials expire.
pub const CREDENTIALS_EXPIRY: MetricDef = MetricDef {
    name: "aliyun_cas_credentials_expiry_timestamp_seconds",
    kind: Kind::Gauge,
    labels: &["account"],
    source: "exporter",
    help: "Unix time the account's current temporary credentials (STS, ECS RAM role, credentials URI) expire; refreshed 15 minutes before.",
};
/// Failed credential refreshes.
pub const CREDENTIALS_REFRESH_ERRORS: MetricDef = MetricDef {
    name: "aliyun_cas_credentials_refresh_errors_total",
    kind: Kind::Counter,
    labels: &["account", "provider"],
    source: "exporter",
    help: "Failed refreshes of temporary credentials, by account and provider; the current credentials stay in use while valid.",
};
/// Version information.
pub const BUILD_INFO: MetricDef = MetricDef {
    name: "aliyun_cas_exporter_build_info",
    kind: Kind::Gauge,
    labels: &["version", "revision"],
    source: "exporter",
    help: "Always 1; the labels give the exporter's version and git revision.",
};

const fn process(name: &'static str, kind: Kind, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        labels: &[],
        source: "process",
        help,
    }
}

/// Every family the exporter serves.
pub const CONTRACT: &[MetricDef] = &[
    JOB_WORKERS,
    JOB_MATCHED_WORKERS,
    JOB_SUCCEEDED_WORKERS,
    JOB_FAILED_WORKERS,
    JOB_ROLLBACK_WORKERS,
    JOB_ROLLBACK_SUCCEEDED_WORKERS,
    JOB_ROLLBACK_FAILED_WORKERS,
    JOB_RESOURCES,
    JOB_USED_RESOURCES,
    JOB_PURCHASED_RESOURCES,
    JOB_CONSUMED_RESOURCES,
    JOB_CERTIFICATES,
    JOB_PRODUCT_WORKERS,
    JOB_UP,
    JOB_LAST_SUCCESS,
    JOB_INFO,
    JOB_STATUS,
    JOB_START,
    JOB_END,
    JOB_SCHEDULE,
    JOB_WORKER_INFO,
    JOB_UNLISTED_WORKERS,
    JOB_WORKER_LISTING_TIMESTAMP,
    JOB_CERTIFICATE_INFO,
    CERT_NOT_AFTER,
    CERT_NOT_BEFORE,
    EXPORTER_JOBS,
    RETIRED_JOBS,
    DISCOVERY_UP,
    DISCOVERY_LAST_SUCCESS,
    API_DETAIL_REFUSED,
    SWEEP_DURATION,
    API_REQUESTS,
    API_REQUEST_DURATION,
    API_RETRIES,
    RATE_LIMIT_WAIT,
    CREDENTIALS_EXPIRY,
    CREDENTIALS_REFRESH_ERRORS,
    BUILD_INFO,
    SHARD_INDEX,
    SHARD_COUNT,
    RELOAD_SUCCESSFUL,
    RELOAD_SUCCESS_TIMESTAMP,
    process(
        "process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    process(
        "process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
    ),
    process(
        "process_open_fds",
        Kind::Gauge,
        "Number of open file descriptors.",
    ),
    process(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
    ),
    process(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
    ),
    process(
        "process_threads",
        Kind::Gauge,
        "Number of OS threads in the process.",
    ),
    process(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions() {
        let mut seen = std::collections::HashSet::new();
        for def in CONTRACT {
            assert!(seen.insert(def.name), "{} twice", def.name);
            assert!(
                !def.labels.contains(&"job") && !def.labels.contains(&"instance"),
                "{}",
                def.name
            );
            assert_eq!(
                def.kind == Kind::Counter,
                def.name.ends_with("_total"),
                "{}",
                def.name
            );
            if def.source != "process" {
                assert!(def.name.starts_with("aliyun_cas_"), "{}", def.name);
            }
        }
    }
}
