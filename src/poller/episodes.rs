//! When a failure is told in the log: once when it starts, then at most every
//! so often with the count of calls failed meanwhile, and once when it ends.
//! Failures are grouped by what they concern (the account, one action, one
//! job), so that a wrong secret over a thousand jobs is one story, not a
//! thousand lines per interval. Pure bookkeeping: the caller passes the time
//! and writes the lines.

use crate::api::{Action, ApiError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// How often a failure of the whole account (or of one action for it) is told
/// again while it lasts: soon enough that a look at the last few minutes of log
/// finds it, seldom enough that it stays a dozen lines an hour whatever the
/// number of jobs.
pub(super) const ACCOUNT_REMINDER: Duration = Duration::from_secs(5 * 60);
/// How often one job's own failure is told again: the job's `up` series shows
/// it all along, and the cause (a deleted job, say) rarely changes by the minute.
pub(super) const JOB_REMINDER: Duration = Duration::from_secs(60 * 60);

/// What a failure concerns, and so which other failures it is told with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Scope {
    /// Every call of the account: credentials, clock, network, quota, the service.
    Account,
    /// Every call of one action: the RAM policy refuses it.
    Action(Action),
    /// Every call about one job: the API says it does not exist.
    Job(u64),
    /// One action about one job (or the listing, about none): its answers fail.
    Call(Action, Option<u64>),
}

impl Scope {
    /// What a failure of `action` about `job_id` with `error` concerns.
    pub(super) fn of(error: &ApiError, action: Action, job_id: Option<u64>) -> Self {
        let ApiError::Service(service) = error else {
            // A malformed answer is that call's; no answer at all is the way to the API's.
            return match error {
                ApiError::Decode { .. } => Scope::Call(action, job_id),
                _ => Scope::Account,
            };
        };
        let code = service.code.as_str();
        let account_wide = [
            "SignatureDoesNotMatch",
            "IncompleteSignature",
            "InvalidAccessKeyId",
            "InvalidSecurityToken",
            "InvalidTimeStamp",
            "Throttling",
            "Rejected.Throttling",
            "InternalError",
            "ServiceUnavailable",
            "UnknownError",
        ];
        // Refusals of the action itself (a permission, or an API version or action
        // the service no longer has) hold for every call of it, whatever the job.
        let action_wide = [
            "Forbidden",
            "NoPermission",
            "InvalidAction",
            "InvalidVersion",
            "UnsupportedHTTPMethod",
        ];
        if action_wide.iter().any(|p| code.starts_with(p)) {
            Scope::Action(action)
        } else if service.status >= 500 || account_wide.iter().any(|p| code.starts_with(p)) {
            Scope::Account
        } else if let Some(job) = job_id
            && (code.contains("JobId") || code.contains("NotFound"))
        {
            Scope::Job(job)
        } else {
            Scope::Call(action, job_id)
        }
    }

    /// How often a failure of this scope is told again while it lasts.
    pub(super) fn reminder(self) -> Duration {
        match self {
            Scope::Account | Scope::Action(_) => ACCOUNT_REMINDER,
            Scope::Job(_) | Scope::Call(..) => JOB_REMINDER,
        }
    }

    /// The job the scope is about, if one.
    fn job(self) -> Option<u64> {
        match self {
            Scope::Job(job) | Scope::Call(_, Some(job)) => Some(job),
            _ => None,
        }
    }
}

/// What the log should say about a failure or a success, beyond debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Told {
    /// Nothing.
    Nothing,
    /// A failure starts: `failed` calls since the last line about the scope (one,
    /// unless it relapsed soon after a recovery and waited for its turn).
    Started { failed: u64 },
    /// It still fails, `failed` calls since the last line, for `lasted` so far.
    Lasts { failed: u64, lasted: Duration },
    /// It ended, after `failed` calls over `lasted`.
    Recovered { failed: u64, lasted: Duration },
}

/// One failure as it lasts.
#[derive(Debug)]
struct Story {
    since: Instant,
    failed: u64,
    /// Whether a line told of it: only then does its end get a line of its own.
    told: bool,
}

/// The log's account of one scope.
#[derive(Debug, Default)]
struct Telling {
    story: Option<Story>,
    last_line: Option<Instant>,
    /// Failed calls since the last line.
    untold: u64,
}

/// The failures of one account, by scope.
#[derive(Debug, Default)]
pub(super) struct Episodes {
    scopes: BTreeMap<Scope, Telling>,
}

impl Episodes {
    /// Counts a failure of `scope` at `now`, and says what to log. A line is due
    /// when none was written about the scope for its reminder's length, so that
    /// a failure flapping on and off writes at most one line (and a recovery) per
    /// reminder: one that starts again soon after a recovery waits for its turn.
    pub(super) fn failed(&mut self, scope: Scope, now: Instant) -> Told {
        let telling = self.scopes.entry(scope).or_default();
        telling.untold += 1;
        let story = telling.story.get_or_insert(Story {
            since: now,
            failed: 0,
            told: false,
        });
        story.failed += 1;
        let due = telling
            .last_line
            .is_none_or(|last| now.duration_since(last) >= scope.reminder());
        if !due {
            return Told::Nothing;
        }
        let failed = std::mem::take(&mut telling.untold);
        telling.last_line = Some(now);
        if std::mem::replace(&mut story.told, true) {
            Told::Lasts {
                failed,
                lasted: now.duration_since(story.since),
            }
        } else {
            Told::Started { failed }
        }
    }

    /// Ends the failures a successful call of `action` about `job_id` disproves,
    /// and says which to log as over.
    pub(super) fn succeeded(
        &mut self,
        action: Action,
        job_id: Option<u64>,
        now: Instant,
    ) -> Vec<(Scope, Told)> {
        let mut ended = Vec::new();
        let mut scopes = vec![
            Scope::Account,
            Scope::Action(action),
            Scope::Call(action, job_id),
        ];
        scopes.extend(job_id.map(Scope::Job));
        for scope in scopes {
            let Some(telling) = self.scopes.get_mut(&scope) else {
                continue;
            };
            if let Some(story) = telling.story.take()
                && story.told
            {
                telling.last_line = Some(now);
                telling.untold = 0;
                ended.push((
                    scope,
                    Told::Recovered {
                        failed: story.failed,
                        lasted: now.duration_since(story.since),
                    },
                ));
            }
            // Past its reminder, a quiet scope has nothing left to hold back.
            if telling.story.is_none()
                && telling
                    .last_line
                    .is_none_or(|last| now.duration_since(last) >= scope.reminder())
            {
                self.scopes.remove(&scope);
            }
        }
        ended
    }

    /// Forgets the jobs no longer polled (removed, retired, another shard's).
    pub(super) fn retain_jobs(&mut self, wanted: &BTreeSet<u64>) {
        self.scopes
            .retain(|scope, _| scope.job().is_none_or(|job| wanted.contains(&job)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServiceError;

    const POLL: Action = Action::DescribeDeploymentJobStatus;
    const SECOND: Duration = Duration::from_secs(1);

    fn service(code: &str, status: u16) -> ApiError {
        ApiError::Service(Box::new(ServiceError {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
            retry_after: None,
            signature: None,
        }))
    }

    #[test]
    fn failures_are_grouped_by_what_they_concern() {
        let of = |error: &ApiError| Scope::of(error, POLL, Some(7));
        for code in [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId.NotFound",
            "InvalidAccessKeyId.Inactive",
            "InvalidSecurityToken.Expired",
            "InvalidTimeStamp.Expired",
            "Throttling.User",
            "Rejected.Throttling",
            "ServiceUnavailable",
        ] {
            assert_eq!(of(&service(code, 400)), Scope::Account, "{code}");
        }
        assert_eq!(of(&service("Whatever", 503)), Scope::Account);
        assert_eq!(of(&ApiError::Timeout(SECOND)), Scope::Account);
        assert_eq!(of(&ApiError::Connect("refused".into())), Scope::Account);
        assert_eq!(of(&service("Forbidden.RAM", 403)), Scope::Action(POLL));
        assert_eq!(of(&service("NoPermission", 403)), Scope::Action(POLL));
        assert_eq!(of(&service("InvalidParameter.JobId", 400)), Scope::Job(7));
        assert_eq!(of(&service("JobNotFound", 404)), Scope::Job(7));
        let decode = ApiError::Decode {
            status: 200,
            detail: "x".into(),
        };
        assert_eq!(of(&decode), Scope::Call(POLL, Some(7)));
        assert_eq!(
            of(&service("InvalidParameter", 400)),
            Scope::Call(POLL, Some(7))
        );
        // A retired API version or action refuses every call of it, whatever the job.
        for code in [
            "InvalidAction.NotFound",
            "InvalidVersion",
            "UnsupportedHTTPMethod",
        ] {
            assert_eq!(of(&service(code, 404)), Scope::Action(POLL), "{code}");
        }
        assert_eq!(of(&service("IncompleteSignature", 400)), Scope::Account);
        assert_eq!(
            Scope::of(&decode, Action::ListDeploymentJob, None),
            Scope::Call(Action::ListDeploymentJob, None)
        );
    }

    #[test]
    fn an_account_failure_is_told_once_then_every_five_minutes_then_its_end() {
        let mut episodes = Episodes::default();
        let t0 = Instant::now();
        assert_eq!(
            episodes.failed(Scope::Account, t0),
            Told::Started { failed: 1 }
        );
        for i in 1..=59 {
            assert_eq!(
                episodes.failed(Scope::Account, t0 + SECOND * 5 * i),
                Told::Nothing
            );
        }
        assert_eq!(
            episodes.failed(Scope::Account, t0 + ACCOUNT_REMINDER),
            Told::Lasts {
                failed: 60,
                lasted: ACCOUNT_REMINDER
            }
        );
        assert_eq!(
            episodes.failed(Scope::Account, t0 + ACCOUNT_REMINDER + SECOND),
            Told::Nothing
        );
        let end = t0 + ACCOUNT_REMINDER + SECOND * 2;
        assert_eq!(
            episodes.succeeded(POLL, Some(1), end),
            [(
                Scope::Account,
                Told::Recovered {
                    failed: 62,
                    lasted: ACCOUNT_REMINDER + SECOND * 2
                }
            )]
        );
        assert_eq!(episodes.succeeded(POLL, Some(1), end), []);
    }

    #[test]
    fn a_flapping_failure_writes_at_most_a_start_and_an_end_per_reminder() {
        let mut episodes = Episodes::default();
        let t0 = Instant::now();
        assert_eq!(
            episodes.failed(Scope::Account, t0),
            Told::Started { failed: 1 }
        );
        assert_eq!(episodes.succeeded(POLL, None, t0 + SECOND).len(), 1);
        let mut lines = 0;
        for i in 2..ACCOUNT_REMINDER.as_secs() {
            let at = t0 + SECOND * u32::try_from(i).unwrap();
            if i % 2 == 0 {
                assert_eq!(episodes.failed(Scope::Account, at), Told::Nothing);
            } else {
                lines += episodes.succeeded(POLL, None, at).len();
            }
        }
        assert_eq!(
            lines, 0,
            "relapses and their ends are not told within the reminder"
        );
        let due = t0 + SECOND + ACCOUNT_REMINDER;
        assert_eq!(
            episodes.failed(Scope::Account, due),
            Told::Started { failed: 150 },
            "the failures since the last line are counted in the next"
        );
    }

    #[test]
    fn a_success_ends_only_what_it_disproves() {
        let mut episodes = Episodes::default();
        let t0 = Instant::now();
        let certs = Action::ListDeploymentJobCert;
        assert_eq!(
            episodes.failed(Scope::Action(POLL), t0),
            Told::Started { failed: 1 }
        );
        assert_eq!(
            episodes.failed(Scope::Job(7), t0),
            Told::Started { failed: 1 }
        );
        let decode = Scope::Call(certs, Some(8));
        assert_eq!(episodes.failed(decode, t0), Told::Started { failed: 1 });
        assert_eq!(episodes.succeeded(certs, Some(9), t0 + SECOND), []);
        assert_eq!(episodes.succeeded(POLL, Some(8), t0 + SECOND).len(), 1);
        assert_eq!(
            episodes.succeeded(certs, Some(8), t0 + SECOND),
            [(
                decode,
                Told::Recovered {
                    failed: 1,
                    lasted: SECOND
                }
            )]
        );
        let back = episodes.succeeded(Action::DescribeDeploymentJob, Some(7), t0 + SECOND * 2);
        assert_eq!(back[0].0, Scope::Job(7));
    }

    #[test]
    fn an_unknown_job_is_told_once_an_hour() {
        let mut episodes = Episodes::default();
        let t0 = Instant::now();
        let job = Scope::Job(9);
        assert_eq!(episodes.failed(job, t0), Told::Started { failed: 1 });
        let told: Vec<Told> = (1..=120)
            .map(|minute| episodes.failed(job, t0 + SECOND * 60 * minute))
            .filter(|told| *told != Told::Nothing)
            .collect();
        assert_eq!(
            told,
            [
                Told::Lasts {
                    failed: 60,
                    lasted: JOB_REMINDER
                },
                Told::Lasts {
                    failed: 60,
                    lasted: JOB_REMINDER * 2
                }
            ]
        );
    }

    #[test]
    fn quiet_and_removed_scopes_are_forgotten() {
        let mut episodes = Episodes::default();
        let t0 = Instant::now();
        episodes.failed(Scope::Account, t0);
        episodes.failed(Scope::Job(1), t0);
        episodes.failed(Scope::Call(POLL, Some(2)), t0);
        episodes.retain_jobs(&BTreeSet::from([1]));
        assert_eq!(episodes.scopes.len(), 2);
        episodes.succeeded(POLL, Some(1), t0 + SECOND);
        assert_eq!(
            episodes.scopes.len(),
            2,
            "held back until the reminder passed"
        );
        episodes.succeeded(POLL, Some(1), t0 + SECOND + JOB_REMINDER);
        assert!(episodes.scopes.is_empty(), "{:?}", episodes.scopes);
    }
}
