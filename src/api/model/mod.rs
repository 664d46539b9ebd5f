//! Typed responses of the deployment-job actions (spec sections 5 and 6).
//! Unknown fields are ignored; missing or unreadable fields stay `None`.

mod certificate;
mod job_id;
pub(super) mod lenient;
mod worker;

pub use certificate::{ImplausibleCertTime, JobCertificate, JobCertificates};
pub use job_id::{JobIdError, MAX_JOB_ID, check_job_id, parse_job_id};
pub use worker::{PROBLEM_STATUSES, WorkerPage, WorkerResource};

use serde::Deserialize;

/// The largest count taken from the API: beyond 2^53 a Prometheus value (a
/// double) is no longer exact, and no deployment job has that many of anything.
pub const MAX_COUNT: i64 = 1 << 53;

/// The latest time taken from the API: 9999-12-31T23:59:59Z, in Unix seconds.
pub const MAX_UNIX_TIME: f64 = 253_402_300_799.0;

/// Leaves out `value` if it is not a plausible count, noting `name=value` in `dropped`
/// (the name is only written then: most answers have nothing to drop).
fn plausible_count(
    name: impl FnOnce() -> String,
    value: &mut Option<i64>,
    dropped: &mut Vec<String>,
) {
    if let Some(v) = *value
        && !(0..=MAX_COUNT).contains(&v)
    {
        dropped.push(format!("{}={v}", name()));
        *value = None;
    }
}

/// DescribeDeploymentJobStatus: the counts of one deployment job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentJobStatus {
    /// The request's ID, for support tickets (bounded like a label value).
    #[serde(default, deserialize_with = "lenient::label")]
    pub request_id: Option<String>,
    /// Total resources.
    #[serde(default, deserialize_with = "lenient::int")]
    pub resource_count: Option<i64>,
    /// Resources used.
    #[serde(default, deserialize_with = "lenient::int")]
    pub use_count: Option<i64>,
    /// Resources purchased.
    #[serde(default, deserialize_with = "lenient::int")]
    pub buy_count: Option<i64>,
    /// Total worker tasks.
    #[serde(default, deserialize_with = "lenient::int")]
    pub worker_count: Option<i64>,
    /// Worker tasks that match the certificate.
    #[serde(default, deserialize_with = "lenient::int")]
    pub match_worker_count: Option<i64>,
    /// Successful worker tasks, rollbacks excluded.
    #[serde(default, deserialize_with = "lenient::int")]
    pub success_count: Option<i64>,
    /// Failed worker tasks, rollbacks excluded.
    #[serde(default, deserialize_with = "lenient::int")]
    pub failed_count: Option<i64>,
    /// Rolled-back worker tasks.
    #[serde(default, deserialize_with = "lenient::int")]
    pub rollback_count: Option<i64>,
    /// Rollbacks that succeeded.
    #[serde(default, deserialize_with = "lenient::int")]
    pub rollback_success_count: Option<i64>,
    /// Rollbacks that failed.
    #[serde(default, deserialize_with = "lenient::int")]
    pub rollback_failed_count: Option<i64>,
    /// Resources consumed by worker tasks.
    #[serde(default, deserialize_with = "lenient::int")]
    pub cost_count: Option<i64>,
    /// Certificates in the job.
    #[serde(default, deserialize_with = "lenient::int")]
    pub cert_count: Option<i64>,
    /// Worker tasks per cloud product.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub product_worker_count: Option<Vec<ProductWorkerCount>>,
}

/// Distinct products exported per job: a bound on series per job, far above
/// the score of products CAS deploys to, so only a broken answer reaches it.
pub const MAX_PRODUCTS_PER_JOB: usize = 64;

impl DeploymentJobStatus {
    /// Leaves out every count outside 0..=[`MAX_COUNT`] (negative or absurdly
    /// large: not a count), as if the API had not sent it; returns what it left
    /// out as `Field=value`, for the log.
    pub fn drop_implausible(&mut self) -> Vec<String> {
        let mut dropped = Vec::new();
        for (name, value) in [
            ("ResourceCount", &mut self.resource_count),
            ("UseCount", &mut self.use_count),
            ("BuyCount", &mut self.buy_count),
            ("WorkerCount", &mut self.worker_count),
            ("MatchWorkerCount", &mut self.match_worker_count),
            ("SuccessCount", &mut self.success_count),
            ("FailedCount", &mut self.failed_count),
            ("RollbackCount", &mut self.rollback_count),
            ("RollbackSuccessCount", &mut self.rollback_success_count),
            ("RollbackFailedCount", &mut self.rollback_failed_count),
            ("CostCount", &mut self.cost_count),
            ("CertCount", &mut self.cert_count),
        ] {
            plausible_count(|| name.to_owned(), value, &mut dropped);
        }
        for entry in self.product_worker_count.iter_mut().flatten() {
            let product = entry.product_name.as_deref().unwrap_or_default();
            let name = || format!("ProductWorkerCount[{product}].Count");
            plausible_count(name, &mut entry.count, &mut dropped);
        }
        dropped
    }

    /// Drops entries for products beyond the first [`MAX_PRODUCTS_PER_JOB`]
    /// distinct names, returning how many entries were dropped.
    pub fn bound_products(&mut self) -> usize {
        let Some(entries) = self.product_worker_count.as_mut() else {
            return 0;
        };
        let before = entries.len();
        if before <= MAX_PRODUCTS_PER_JOB {
            return 0;
        }
        let mut names = std::collections::HashSet::new();
        entries.retain(|entry| match entry.product_name.as_deref() {
            // Nameless entries are never exported, so they take no slot.
            None => true,
            Some(name) => {
                names.contains(name)
                    || (names.len() < MAX_PRODUCTS_PER_JOB && names.insert(name.to_owned()))
            }
        });
        before - entries.len()
    }
}

/// One entry of `ProductWorkerCount`; product names are kept as the API spells them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProductWorkerCount {
    /// The cloud product, such as `CDN` or `SLB` (a label value: bounded).
    #[serde(default, deserialize_with = "lenient::label")]
    pub product_name: Option<String>,
    /// Worker tasks for that product.
    #[serde(default, deserialize_with = "lenient::int")]
    pub count: Option<i64>,
}

/// A deployment job as DescribeDeploymentJob and ListDeploymentJob's `Data[]` describe it.
/// Its texts become label values: they arrive bounded (see `lenient::label`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentJob {
    /// The job ID, or why the value sent is not one.
    #[serde(default, deserialize_with = "lenient::job_id")]
    pub id: Option<Result<u64, JobIdError>>,
    /// The job's name.
    #[serde(default, deserialize_with = "lenient::label")]
    pub name: Option<String>,
    /// `cloud`, `user` or `trustee`.
    #[serde(default, deserialize_with = "lenient::label")]
    pub job_type: Option<String>,
    /// `pending`, `editing`, `scheduling`, `processing`, `success`, `error`, or a value not yet known.
    #[serde(default, deserialize_with = "lenient::label")]
    pub status: Option<String>,
    /// `upload`, `buy` or `free`.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cert_type: Option<String>,
    /// The certificate's domains, possibly comma-joined.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cert_domain: Option<String>,
    /// The certificate instance.
    #[serde(default, deserialize_with = "lenient::label")]
    pub instance_id: Option<String>,
    /// The products deployed to, possibly comma-joined.
    #[serde(default, deserialize_with = "lenient::label")]
    pub product_name: Option<String>,
    /// When the job is scheduled, Unix seconds.
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub schedule_time: Option<f64>,
    /// When the job started, Unix seconds.
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub start_time: Option<f64>,
    /// When the job ended, Unix seconds.
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub end_time: Option<f64>,
    /// When the job was created, Unix seconds.
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub gmt_create: Option<f64>,
    /// When the job was last changed, Unix seconds.
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub gmt_modified: Option<f64>,
    /// 1 when the job has a rollback worker.
    #[serde(default, deserialize_with = "lenient::int")]
    pub rollback: Option<i64>,
}

impl DeploymentJob {
    /// Leaves out every time outside (0, [`MAX_UNIX_TIME`]] (negative, or past
    /// the year 9999), as if the API had not sent it; returns what it left out
    /// as `Field=value`, for the log.
    pub fn drop_implausible(&mut self) -> Vec<String> {
        let mut dropped = Vec::new();
        for (name, value) in [
            ("ScheduleTime", &mut self.schedule_time),
            ("StartTime", &mut self.start_time),
            ("EndTime", &mut self.end_time),
            ("GmtCreate", &mut self.gmt_create),
            ("GmtModified", &mut self.gmt_modified),
        ] {
            if let Some(v) = *value
                && !(v > 0.0 && v <= MAX_UNIX_TIME)
            {
                // `{:?}` writes a huge value with an exponent, not as 300 digits.
                dropped.push(format!("{name}={v:?}"));
                *value = None;
            }
        }
        dropped
    }
}

/// ListDeploymentJob: one page of the account's jobs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentJobPage {
    /// The page returned, from 1.
    #[serde(default, deserialize_with = "lenient::int")]
    pub current_page: Option<i64>,
    /// The page size.
    #[serde(default, deserialize_with = "lenient::int")]
    pub show_size: Option<i64>,
    /// Jobs in all pages.
    #[serde(default, deserialize_with = "lenient::int")]
    pub total: Option<i64>,
    /// The jobs of this page; `None` when the field is missing or not a list.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub data: Option<Vec<DeploymentJob>>,
}

/// The body of a failed call (spec section 3.1); both casings of the keys occur.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ErrorBody {
    /// The error code, such as `Throttling.User`.
    #[serde(
        default,
        alias = "code",
        rename = "Code",
        deserialize_with = "lenient::string"
    )]
    pub code: Option<String>,
    /// The service's explanation.
    #[serde(
        default,
        alias = "message",
        rename = "Message",
        deserialize_with = "lenient::string"
    )]
    pub message: Option<String>,
    /// The request's ID.
    #[serde(
        default,
        alias = "requestId",
        rename = "RequestId",
        deserialize_with = "lenient::string"
    )]
    pub request_id: Option<String>,
}

/// Job types ListDeploymentJob reports.
pub const JOB_TYPES: [&str; 3] = ["cloud", "user", "trustee"];
/// Job statuses the API reports.
pub const JOB_STATUSES: [&str; 6] = [
    "pending",
    "editing",
    "scheduling",
    "processing",
    "success",
    "error",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_beyond_the_bound_are_dropped_and_counted() {
        let entry = |name: Option<String>| ProductWorkerCount {
            product_name: name,
            count: Some(1),
        };
        let mut entries: Vec<_> = (0..70).map(|i| entry(Some(format!("P{i}")))).collect();
        entries.push(entry(Some("P0".into())));
        entries.push(entry(None));
        let mut status = DeploymentJobStatus {
            product_worker_count: Some(entries),
            ..DeploymentJobStatus::default()
        };
        assert_eq!(status.bound_products(), 6);
        let kept = status.product_worker_count.unwrap();
        assert_eq!(kept.len(), 66);
        assert_eq!(kept[63].product_name.as_deref(), Some("P63"));
        assert_eq!(kept[64].product_name.as_deref(), Some("P0"));
        assert_eq!(kept[65].product_name, None);
        assert_eq!(DeploymentJobStatus::default().bound_products(), 0);
    }

    #[test]
    fn describe_deployment_job_status_sample() {
        let body = r#"{"RequestId":"CBF1E9B7-D6A0-4E9E-AD3E-2B47E6C2837D","ResourceCount":4127,"UseCount":300,"BuyCount":500,
 "WorkerCount":20,"MatchWorkerCount":20,"SuccessCount":17,"FailedCount":2,"RollbackCount":1,
 "RollbackSuccessCount":1,"RollbackFailedCount":0,"CostCount":20,"CertCount":2,
 "ProductWorkerCount":[{"ProductName":"CDN","Count":12},{"ProductName":"SLB","Count":8}]}"#;
        let parsed: DeploymentJobStatus = serde_json::from_str(body).unwrap();
        assert_eq!(
            parsed,
            DeploymentJobStatus {
                request_id: Some("CBF1E9B7-D6A0-4E9E-AD3E-2B47E6C2837D".into()),
                resource_count: Some(4127),
                use_count: Some(300),
                buy_count: Some(500),
                worker_count: Some(20),
                match_worker_count: Some(20),
                success_count: Some(17),
                failed_count: Some(2),
                rollback_count: Some(1),
                rollback_success_count: Some(1),
                rollback_failed_count: Some(0),
                cost_count: Some(20),
                cert_count: Some(2),
                product_worker_count: Some(vec![
                    ProductWorkerCount {
                        product_name: Some("CDN".into()),
                        count: Some(12)
                    },
                    ProductWorkerCount {
                        product_name: Some("SLB".into()),
                        count: Some(8)
                    },
                ]),
            }
        );
    }

    #[test]
    fn strings_unknown_fields_and_missing_fields() {
        let body = r#"{"RequestId":"R","WorkerCount":"20","FailedCount":"","Surprise":{"a":[1]},
            "ProductWorkerCount":[{"ProductName":"NewThing","Count":"3","Extra":true}]}"#;
        let parsed: DeploymentJobStatus = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.worker_count, Some(20));
        assert_eq!(parsed.failed_count, None);
        assert_eq!(parsed.success_count, None);
        assert_eq!(
            parsed.product_worker_count,
            Some(vec![ProductWorkerCount {
                product_name: Some("NewThing".into()),
                count: Some(3)
            }])
        );
    }

    #[test]
    fn odd_product_lists_lose_only_what_cannot_be_read() {
        let parse = |list: &str| {
            let body = format!(r#"{{"WorkerCount":3,"ProductWorkerCount":{list}}}"#);
            let parsed: DeploymentJobStatus = serde_json::from_str(&body).unwrap();
            assert_eq!(parsed.worker_count, Some(3), "{list}");
            parsed.product_worker_count
        };
        assert_eq!(parse("{}"), None);
        assert_eq!(parse(r#""CDN""#), None);
        assert_eq!(parse("null"), None);
        assert_eq!(parse("[]"), Some(vec![]));
        assert_eq!(
            parse(
                r#"[null, 7, "x", [1], {"ProductName":"CDN","Count":{"n":1}}, {"ProductName":"OSS","Count":2}]"#
            ),
            Some(vec![
                ProductWorkerCount {
                    product_name: Some("CDN".into()),
                    count: None
                },
                ProductWorkerCount {
                    product_name: Some("OSS".into()),
                    count: Some(2)
                },
            ])
        );
    }

    #[test]
    fn list_deployment_job_sample() {
        let body = r#"{"RequestId":"7C4E4AAC-4B6B-4D2E-8B9B-1F7F3B8C9A10","CurrentPage":1,"ShowSize":50,"Total":1,
 "Data":[{"Id":8888,"Name":"cdn-renew","JobType":"user","Status":"processing","CertType":"buy",
   "CertDomain":"www.example.com","InstanceId":"14dcc8afc7578e1f","ProductName":"CDN",
   "ScheduleTime":"1714550400000","StartTime":"1714550460000","EndTime":"","GmtCreate":"1714550000000",
   "GmtModified":"1714550460000","UserId":1666884370000785,"Del":0,"Rollback":0,
   "Certificates":[{"CertId":12345,"CertName":"cert-example"}]}]}"#;
        let page: DeploymentJobPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.current_page, Some(1));
        assert_eq!(page.show_size, Some(50));
        assert_eq!(page.total, Some(1));
        assert_eq!(
            page.data,
            Some(vec![DeploymentJob {
                id: Some(Ok(8888)),
                name: Some("cdn-renew".into()),
                job_type: Some("user".into()),
                status: Some("processing".into()),
                cert_type: Some("buy".into()),
                cert_domain: Some("www.example.com".into()),
                instance_id: Some("14dcc8afc7578e1f".into()),
                product_name: Some("CDN".into()),
                schedule_time: Some(1_714_550_400.0),
                start_time: Some(1_714_550_460.0),
                end_time: None,
                gmt_create: Some(1_714_550_000.0),
                gmt_modified: Some(1_714_550_460.0),
                rollback: Some(0),
            }])
        );
    }

    #[test]
    fn describe_deployment_job_sample() {
        let body = r#"{"RequestId":"15C66C7B-671A-4297-9187-2C4477247A74","Id":8888,"GmtCreate":"1679541809000",
 "GmtModified":"1679541809000","UserId":1666884370000785,"InstanceId":"14dcc8afc7578e1f","Name":"auto-test-AXX",
 "CertType":"buy","ScheduleTime":"1678083209335","StartTime":"1679541809000","EndTime":"1679541909000",
 "JobType":"user","Status":"success","Config":"","Del":0,"Rollback":0,"ProductName":"CDN,SLB",
 "CertDomain":"www.example.com,example.com",
 "CasContacts":[{"Id":"1","Name":"ops","Email":"ops@example.com","Mobile":"1380000****"}]}"#;
        let job: DeploymentJob = serde_json::from_str(body).unwrap();
        assert_eq!(job.id, Some(Ok(8888)));
        assert_eq!(job.status.as_deref(), Some("success"));
        assert_eq!(job.product_name.as_deref(), Some("CDN,SLB"));
        assert_eq!(job.schedule_time, Some(1_678_083_209.335));
        assert_eq!(job.end_time, Some(1_679_541_909.0));
    }

    #[test]
    fn error_bodies_in_both_casings() {
        let upper: ErrorBody = serde_json::from_str(
            r#"{"RequestId":"540CFF28","HostId":"cas.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control.","Recommend":"https://x"}"#,
        )
        .unwrap();
        assert_eq!(upper.code.as_deref(), Some("Throttling.User"));
        assert_eq!(upper.request_id.as_deref(), Some("540CFF28"));
        let lower: ErrorBody =
            serde_json::from_str(r#"{"requestId":"r1","code":"InternalError","message":"m"}"#)
                .unwrap();
        assert_eq!(lower.code.as_deref(), Some("InternalError"));
        assert_eq!(lower.message.as_deref(), Some("m"));
    }
}

#[cfg(test)]
mod plausibility {
    use super::*;

    #[test]
    fn implausible_counts_and_times_are_left_out_and_reported() {
        let body = format!(
            r#"{{"WorkerCount":-1,"FailedCount":{},"SuccessCount":{},"CertCount":9223372036854775807,
                "ProductWorkerCount":[{{"ProductName":"CDN","Count":-2}},{{"ProductName":"OSS","Count":3}}]}}"#,
            MAX_COUNT,
            MAX_COUNT + 1
        );
        let mut status: DeploymentJobStatus = serde_json::from_str(&body).unwrap();
        assert_eq!(
            status.drop_implausible(),
            [
                "WorkerCount=-1",
                "SuccessCount=9007199254740993",
                "CertCount=9223372036854775807",
                "ProductWorkerCount[CDN].Count=-2"
            ]
        );
        assert_eq!(status.worker_count, None);
        assert_eq!(status.failed_count, Some(MAX_COUNT));
        let products = status.product_worker_count.as_ref().unwrap();
        assert_eq!((products[0].count, products[1].count), (None, Some(3)));
        assert!(status.drop_implausible().is_empty(), "nothing left to drop");
        // Beyond i64, or not an integer: unreadable, so missing (never 0, never wrapped).
        let huge: DeploymentJobStatus = serde_json::from_str(
            r#"{"WorkerCount":18446744073709551615,"FailedCount":1e300,"UseCount":"-0"}"#,
        )
        .unwrap();
        assert_eq!(
            (huge.worker_count, huge.failed_count, huge.use_count),
            (None, None, Some(0))
        );

        let mut job: DeploymentJob = serde_json::from_str(
            r#"{"StartTime":"-5","EndTime":1e300,"GmtCreate":"1714550460","GmtModified":"253402300799000","ScheduleTime":"253402300800000"}"#,
        )
        .unwrap();
        assert_eq!(
            job.drop_implausible(),
            [
                "ScheduleTime=253402300800.0",
                "StartTime=-5.0",
                "EndTime=1e297"
            ]
        );
        assert_eq!((job.start_time, job.end_time), (None, None));
        assert_eq!(job.gmt_create, Some(1_714_550_460.0));
        assert_eq!(job.gmt_modified, Some(MAX_UNIX_TIME));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Any JSON value, a few levels deep.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "\\PC{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[A-Za-z]{1,12}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_object_parses_or_fails_cleanly(fields in proptest::collection::btree_map(
            prop_oneof![Just("WorkerCount".to_owned()), Just("ProductWorkerCount".to_owned()), Just("FailedCount".to_owned()), "[A-Za-z]{1,12}"],
            json(),
            0..8,
        )) {
            let body = serde_json::Value::Object(fields.into_iter().collect()).to_string();
            // Loose typing is absorbed field by field: an object never fails to parse.
            prop_assert!(serde_json::from_str::<DeploymentJobStatus>(&body).is_ok(), "{}", body);
            prop_assert!(serde_json::from_str::<DeploymentJobPage>(&body).is_ok(), "{}", body);
        }

        #[test]
        fn numbers_and_numeric_strings_read_the_same(n in any::<i64>()) {
            let number: DeploymentJobStatus = serde_json::from_str(&format!(r#"{{"WorkerCount":{n}}}"#)).unwrap();
            let text: DeploymentJobStatus = serde_json::from_str(&format!(r#"{{"WorkerCount":"{n}"}}"#)).unwrap();
            prop_assert_eq!(number.worker_count, Some(n));
            prop_assert_eq!(text.worker_count, Some(n));
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = serde_json::from_slice::<DeploymentJobStatus>(&bytes);
            let _ = serde_json::from_slice::<ErrorBody>(&bytes);
        }
    }
}
