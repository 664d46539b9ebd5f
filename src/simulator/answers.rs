//! The actions' answers, once a request passed the checks: the job as it stands,
//! or the error or fault the spec gives it, or a global fault by its share.

use super::certs::{cert_body, has_cert, job_certs};
use super::reply::Reply;
use super::service::{SimService, State};
use super::spec::{Fault, JobSpec};
use super::workers::{WORKER_STATUSES, WorkerQuery, list_workers};
use super::world::{JobState, instance_id, job_body, job_state, status_body};
use crate::api::Action;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The parsed, authenticated parts of a request that the handlers need.
pub(super) struct Call<'a> {
    /// The request target, path and query, as received.
    pub(super) target: &'a str,
    pub(super) action: Action,
    pub(super) params: &'a BTreeMap<String, String>,
    pub(super) request_id: &'a str,
}

impl SimService {
    /// Deterministic shares: fault i fires each time `n × share + offset` crosses
    /// a whole number, each offset being the shares before it, so equal shares
    /// fall on different requests instead of the first fault taking them all.
    fn global_fault(&self, admitted: u64) -> Option<Fault> {
        let n = admitted as f64;
        let mut offset = 0.0;
        self.shares.iter().find_map(|(fault, share)| {
            let fires =
                *share > 0.0 && (n * share + offset).floor() > ((n - 1.0) * share + offset).floor();
            offset += share;
            fires.then_some(*fault)
        })
    }

    /// Answers a call that passed the checks.
    pub(super) fn dispatch(&self, state: &State, call: &Call<'_>) -> Reply {
        let elapsed = Instant::now().duration_since(self.started);
        let with_id = |mut body: Map<String, Value>| {
            body.insert("RequestId".into(), call.request_id.into());
            body
        };
        if call.action == Action::ListDeploymentJob {
            return match self.list(state, call, elapsed) {
                Ok((body, faulty)) => self.ok(state, faulty, call, with_id(body)),
                Err(reply) => reply,
            };
        }
        let raw = call
            .params
            .get("JobId")
            .map(String::as_str)
            .unwrap_or_default();
        let Some(job_id) = parse_id(raw) else {
            return invalid_param(call, "JobId");
        };
        let Some(job) = state.jobs.get(&job_id) else {
            return Reply::error(
                400,
                "InvalidParameter.JobId",
                &format!("The deployment job {job_id} does not exist."),
                call.request_id,
            );
        };
        let job_state = job_state(job, elapsed);
        let body = match call.action {
            Action::DescribeDeploymentJobStatus => status_body(job, &job_state),
            Action::DescribeDeploymentJob | Action::ListDeploymentJob => {
                job_body(job, &job_state, self.started_unix_ms)
            }
            Action::ListWorkerResource => match self.workers(job, &job_state, call) {
                Ok(body) => body,
                Err(reply) => return reply,
            },
            Action::ListDeploymentJobCert => {
                let started_unix_secs = self.started_unix_ms / 1000;
                let data = job_certs(job)
                    .iter()
                    .map(|cert| Value::Object(cert_body(job, cert, started_unix_secs)))
                    .collect();
                let mut body = Map::new();
                body.insert("Data".into(), Value::Array(data));
                body
            }
        };
        self.ok(state, Some(job), call, with_id(body))
    }

    /// The answer to a call over the rate limit.
    pub(super) fn throttled(&self, request_id: &str) -> Reply {
        let mut reply = Reply::error(
            self.throttle_status,
            "Throttling.User",
            "Request was denied due to user flow control.",
            request_id,
        );
        reply.retry_after = self.throttle_retry_after;
        reply
    }

    fn ok(
        &self,
        state: &State,
        job: Option<&JobSpec>,
        call: &Call<'_>,
        body: Map<String, Value>,
    ) -> Reply {
        // A job's fault and error play on the actions it names, or on all.
        let job = job.filter(|j| {
            j.fault_actions.is_empty() || j.fault_actions.iter().any(|a| a == call.action.name())
        });
        if let Some(error) = job.and_then(|j| j.error.as_ref()) {
            // Without `Recommend`, which would repeat the code: a huge code stays one copy.
            let mut body = Map::new();
            let request_id = error.request_id.as_deref().unwrap_or(call.request_id);
            body.insert("RequestId".into(), request_id.into());
            body.insert("HostId".into(), "cas.aliyuncs.com".into());
            body.insert("Code".into(), error.code.as_str().into());
            body.insert("Message".into(), error.message.as_str().into());
            return Reply::json(error.status, &error.code, &body);
        }
        match job
            .and_then(|j| j.fault)
            .or_else(|| self.global_fault(state.admitted))
        {
            Some(Fault::Throttle) => self.throttled(call.request_id),
            Some(fault) => Reply::fault(fault, call.target, call.request_id, &body),
            None => Reply::json(200, "OK", &body),
        }
    }

    /// ListDeploymentJob's answer: one page of the jobs, filtered; with the first
    /// job on the page that has a fault or error and whose `fault_actions` names
    /// ListDeploymentJob, which the page then gets. Only a job that names the action faults a
    /// listing, so that a job failing everything else still shows in one.
    fn list<'s>(
        &self,
        state: &'s State,
        call: &Call<'_>,
        elapsed: Duration,
    ) -> Result<(Map<String, Value>, Option<&'s JobSpec>), Reply> {
        let (page, size) = self.page(call)?;
        let cert_id = call
            .params
            .contains_key("CertId")
            .then(|| int_param(call, "CertId", 0))
            .transpose()?;
        let matches = |job: &JobSpec, status: &str| {
            call.params
                .get("JobType")
                .is_none_or(|t| *t == job.job_type)
                && call.params.get("Status").is_none_or(|s| s == status)
                && call
                    .params
                    .get("InstanceId")
                    .is_none_or(|i| *i == instance_id(job))
                && cert_id.is_none_or(|c| has_cert(job, c))
        };
        let selected: Vec<(&JobSpec, Value)> = state
            .jobs
            .values()
            .filter_map(|job| {
                let js = job_state(job, elapsed);
                matches(job, &js.status)
                    .then(|| (job, Value::Object(job_body(job, &js, self.started_unix_ms))))
            })
            .collect();
        let total = selected.len();
        let on_page: Vec<(&JobSpec, Value)> = selected
            .into_iter()
            .skip(usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX))
            .take(usize::try_from(size).unwrap_or(usize::MAX))
            .collect();
        let faulty = on_page.iter().map(|(job, _)| *job).find(|job| {
            (job.fault.is_some() || job.error.is_some())
                && job
                    .fault_actions
                    .iter()
                    .any(|a| a == Action::ListDeploymentJob.name())
        });
        let data = on_page.into_iter().map(|(_, body)| body).collect();
        Ok((page_body(page, size, total as u64, data), faulty))
    }

    /// ListWorkerResource's answer: one page of the job's workers, filtered.
    fn workers(
        &self,
        job: &JobSpec,
        job_state: &JobState,
        call: &Call<'_>,
    ) -> Result<Map<String, Value>, Reply> {
        let status = call.params.get("Status").map(String::as_str);
        if status.is_some_and(|s| !WORKER_STATUSES.contains(&s)) {
            return Err(invalid_param(call, "Status"));
        }
        let (page, size) = self.page(call)?;
        let query = WorkerQuery {
            status,
            product: call.params.get("CloudProduct").map(String::as_str),
            offset: (page - 1).saturating_mul(size),
            limit: size,
        };
        let found = list_workers(job, job_state, self.started_unix_ms, &query);
        Ok(page_body(page, size, found.total, found.data))
    }

    /// `CurrentPage` (default 1) and `ShowSize` (default 50, at most `page_size_limit`).
    fn page(&self, call: &Call<'_>) -> Result<(u64, u64), Reply> {
        let page = int_param(call, "CurrentPage", 1)?;
        let size = int_param(call, "ShowSize", 50)?;
        let limit = self.page_size_limit;
        Ok((page, if limit > 0 { size.min(limit) } else { size }))
    }
}

/// A paged answer (without `RequestId`).
fn page_body(page: u64, size: u64, total: u64, data: Vec<Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("CurrentPage".into(), page.into());
    body.insert("ShowSize".into(), size.into());
    body.insert("Total".into(), total.into());
    body.insert("Data".into(), Value::Array(data));
    body
}

/// Parameter `name`, a positive integer, or `default` when absent.
fn int_param(call: &Call<'_>, name: &str, default: u64) -> Result<u64, Reply> {
    match call.params.get(name) {
        None => Ok(default),
        Some(v) => parse_id(v).ok_or_else(|| invalid_param(call, name)),
    }
}

/// The gateway's answer to a parameter whose value it does not accept.
fn invalid_param(call: &Call<'_>, name: &str) -> Reply {
    Reply::error(
        400,
        "InvalidParameter",
        &format!("The specified parameter \"{name}\" is not valid."),
        call.request_id,
    )
}

/// A positive decimal integer, digits only (no sign, no spaces).
pub(super) fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SimulatorSpec;

    fn service(settings: &str) -> SimService {
        let spec = SimulatorSpec::parse(
            &format!("access_keys: [{{id: a, secret: b}}]\n{settings}"),
            "test",
        )
        .unwrap();
        SimService::new(spec)
    }

    fn page_of(service: &SimService, params: &[(&str, &str)]) -> Result<(u64, u64), String> {
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let call = Call {
            target: "/",
            action: Action::ListWorkerResource,
            params: &params,
            request_id: "R",
        };
        service.page(&call).map_err(|reply| reply.code)
    }

    #[test]
    fn pages_default_and_clamp_to_the_limit() {
        let open = service("");
        assert_eq!(page_of(&open, &[]), Ok((1, 50)));
        assert_eq!(
            page_of(&open, &[("CurrentPage", "3"), ("ShowSize", "500")]),
            Ok((3, 500))
        );
        let clamped = service("page_size_limit: 2\n");
        assert_eq!(page_of(&clamped, &[]), Ok((1, 2)));
        assert_eq!(page_of(&clamped, &[("ShowSize", "50")]), Ok((1, 2)));
        assert_eq!(page_of(&clamped, &[("ShowSize", "1")]), Ok((1, 1)));
        for bad in [
            ("ShowSize", "0"),
            ("CurrentPage", "-1"),
            ("CurrentPage", "x"),
        ] {
            assert_eq!(
                page_of(&clamped, &[bad]),
                Err("InvalidParameter".to_owned()),
                "{bad:?}"
            );
        }
    }
}
