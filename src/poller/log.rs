//! How the poller's calls show in the log: failures with what helps find their
//! cause, told as `episodes` decides (each call at debug level, with the
//! strings to sign of a signature mismatch), and answers with implausible
//! values with what was left out.

use super::episodes::{Episodes, Scope, Told};
use crate::api::{Action, ApiError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Says which values of `action`'s answer for `job_id` were left out as implausible.
pub(super) fn warn_implausible(account: &str, action: Action, job_id: u64, dropped: &[String]) {
    tracing::warn!(
        account,
        action = action.name(),
        job_id,
        fields = %summary(dropped),
        "the answer has values no job can have (negative, or beyond what the exporter \
         exports); they are left out, as if missing, until the API sends plausible ones"
    );
}

/// At most the first few of `items`, so that one log line stays short whatever the answer held.
fn summary(items: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = items[..items.len().min(SHOWN)].join(" ");
    if items.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", items.len() - SHOWN));
    }
    text
}

/// The log of one account's failed calls: which lines each failure and success makes.
#[derive(Debug)]
pub(super) struct CallLog {
    account: Arc<str>,
    episodes: Episodes,
}

impl CallLog {
    /// No failure yet, for `account`.
    pub(super) fn new(account: Arc<str>) -> Self {
        Self {
            account,
            episodes: Episodes::default(),
        }
    }

    /// Logs a failed call of `action` about `job_id`: at debug level always, at
    /// warning level when its episode starts or is due a reminder.
    pub(super) fn failed(
        &mut self,
        action: Action,
        job_id: Option<u64>,
        error: &ApiError,
        now: Instant,
    ) {
        debug_failure(&self.account, action, job_id, error);
        let scope = Scope::of(error, action, job_id);
        let (failed_calls, failing_for) = match self.episodes.failed(scope, now) {
            Told::Started { failed } => (failed, None),
            Told::Lasts { failed, lasted } => (failed, Some(lasted)),
            Told::Nothing | Told::Recovered { .. } => return,
        };
        let what = what_failed(action);
        let every = minutes(scope.reminder());
        let message = match (scope, failing_for) {
            (Scope::Account, None) => format!(
                "{what}: {error} (this concerns the whole account, not one job: logged again \
                 every {every} with the count of failed calls while it lasts, and once when \
                 calls work again)"
            ),
            (Scope::Action(_), None) => format!(
                "{what}: {error} (every {action} call of the account is refused: logged again \
                 every {every} while it lasts, and once when {action} works again)"
            ),
            (Scope::Job(_), None) => format!(
                "{what}: {error} (logged again every {every} while it lasts, and once when the \
                 API knows the job again)"
            ),
            (Scope::Call(..), None) => format!(
                "{what}: {error} (logged again every {every} while it lasts, and once when the \
                 call works again)"
            ),
            (Scope::Account, Some(_)) => format!("calls of the account still fail: {error}"),
            (Scope::Action(_), Some(_)) => {
                format!("{action} calls of the account are still refused: {error}")
            }
            (_, Some(_)) => format!("{what} again: {error}"),
        };
        tracing::warn!(
            account = &*self.account,
            action = action.name(),
            job_id,
            code = &*error.logged_code(),
            request_id = error.request_id().unwrap_or("-"),
            http_status = error.http_status(),
            hint = error.hint(),
            failed_calls,
            failing_for = failing_for.map(|d| display_duration(d).to_string()),
            "{message}"
        );
    }

    /// Notes a successful call of `action` about `job_id`, logging the end of
    /// each failure it disproves that was logged.
    pub(super) fn succeeded(&mut self, action: Action, job_id: Option<u64>, now: Instant) {
        for (scope, told) in self.episodes.succeeded(action, job_id, now) {
            let Told::Recovered { failed, lasted } = told else {
                continue;
            };
            let over = display_duration(lasted);
            let message = match scope {
                Scope::Account => {
                    format!("account recovered after {failed} failed calls over {over}")
                }
                Scope::Action(action) => format!(
                    "the account may call {action} again, after {failed} refused calls over {over}"
                ),
                Scope::Job(job) => format!(
                    "job {job} is known to the API again, after {failed} failed calls over {over}"
                ),
                Scope::Call(action, _) => {
                    format!("{action} works again, after {failed} failed calls over {over}")
                }
            };
            let job_id = match scope {
                Scope::Job(job) | Scope::Call(_, Some(job)) => Some(job),
                _ => None,
            };
            tracing::info!(
                account = &*self.account,
                action = matches!(scope, Scope::Action(_) | Scope::Call(..)).then(|| action.name()),
                job_id,
                failed_calls = failed,
                duration = %over,
                "{message}"
            );
        }
    }

    /// Forgets the failures of jobs no longer polled.
    pub(super) fn retain_jobs(&mut self, wanted: &BTreeSet<u64>) {
        self.episodes.retain_jobs(wanted);
    }
}

/// What the log calls a failed call of `action`.
fn what_failed(action: Action) -> &'static str {
    if action == Action::DescribeDeploymentJobStatus {
        "poll failed"
    } else {
        "call failed"
    }
}

/// `every 5 minutes` rather than `every 300s`.
fn minutes(period: Duration) -> String {
    match period.as_secs() / 60 {
        60 => "hour".to_owned(),
        n => format!("{n} minutes"),
    }
}

/// A duration to the second, as people write it (`4m 10s`).
fn display_duration(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs()))
}

/// Logs a failed call at debug level with all it carries: its code, request ID
/// and HTTP status, and for a signature mismatch both strings to sign, so that
/// it can be reported as is.
fn debug_failure(account: &str, action: Action, job_id: Option<u64>, error: &ApiError) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let mismatch = match error {
        ApiError::Service(e) => e.signature.as_ref(),
        _ => None,
    };
    tracing::debug!(
        account,
        action = action.name(),
        job_id,
        code = &*error.logged_code(),
        request_id = error.request_id().unwrap_or("-"),
        http_status = error.http_status(),
        ours = mismatch.map(|m| m.ours.as_str()),
        server = mismatch.map(|m| m.server.as_deref().unwrap_or("-")),
        same_string = mismatch.map(|m| m.same_string),
        hint = error.hint(),
        "{}: {error}",
        what_failed(action)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServiceError;
    use crate::poller::episodes::ACCOUNT_REMINDER;
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// Each event as `level msg key=value...`, in the order written.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);

    struct Line(String);

    impl Visit for Line {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0.push_str(&format!(" {value:?}"));
            } else {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Lines {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut line = Line(event.metadata().level().to_string());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
    }

    fn signature_error() -> ApiError {
        ApiError::Service(Box::new(ServiceError {
            status: 400,
            code: "SignatureDoesNotMatch".into(),
            message: "not matched".into(),
            request_id: Some("R-1".into()),
            retry_after: None,
            signature: Some(crate::api::SignatureMismatch {
                ours: "POST&%2F&A".into(),
                server: Some("POST&%2F&A".into()),
                same_string: true,
            }),
        }))
    }

    #[test]
    fn an_account_failure_is_a_warning_a_reminder_with_its_count_and_an_end() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            let mut log = CallLog::new(Arc::from("prod"));
            let t0 = Instant::now();
            let poll = Action::DescribeDeploymentJobStatus;
            for job in 1..=20 {
                log.failed(poll, Some(job), &signature_error(), t0);
            }
            log.failed(poll, Some(1), &signature_error(), t0 + ACCOUNT_REMINDER);
            log.succeeded(
                poll,
                Some(2),
                t0 + ACCOUNT_REMINDER + Duration::from_secs(70),
            );
        });
        let lines = lines.0.lock().unwrap();
        let hint = "hint=\"both sides signed the same string, so the AccessKey secret is wrong \
                    for this AccessKey ID: check ALIBABA_CLOUD_ACCESS_KEY_SECRET or \
                    credentials.access_key_secret\"";
        assert_eq!(
            *lines,
            [
                format!(
                    "WARN poll failed: the API answered SignatureDoesNotMatch (HTTP 400): not \
                     matched (this concerns the whole account, not one job: logged again every \
                     5 minutes with the count of failed calls while it lasts, and once when calls \
                     work again) account=\"prod\" action=\"DescribeDeploymentJobStatus\" \
                     job_id=1 code=\"SignatureDoesNotMatch\" request_id=\"R-1\" http_status=400 \
                     {hint} failed_calls=1"
                ),
                format!(
                    "WARN calls of the account still fail: the API answered SignatureDoesNotMatch \
                     (HTTP 400): not matched account=\"prod\" action=\"DescribeDeploymentJobStatus\" \
                     job_id=1 code=\"SignatureDoesNotMatch\" request_id=\"R-1\" http_status=400 \
                     {hint} failed_calls=20 failing_for=\"5m\""
                ),
                "INFO account recovered after 21 failed calls over 6m 10s account=\"prod\" \
                 failed_calls=21 duration=6m 10s"
                    .to_owned(),
            ]
        );
        assert!(
            lines.iter().all(|l| !l.contains("POST&")),
            "strings to sign at debug only"
        );
    }

    #[test]
    fn every_failure_is_at_debug_level_with_the_strings_to_sign() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            let mut log = CallLog::new(Arc::from("prod"));
            for _ in 0..3 {
                log.failed(
                    Action::ListDeploymentJob,
                    None,
                    &signature_error(),
                    Instant::now(),
                );
            }
        });
        let lines = lines.0.lock().unwrap();
        let debug: Vec<&String> = lines.iter().filter(|l| l.starts_with("DEBUG")).collect();
        assert_eq!(debug.len(), 3, "{lines:?}");
        assert!(
            debug[0].contains("ours=\"POST&%2F&A\" server=\"POST&%2F&A\" same_string=true"),
            "{}",
            debug[0]
        );
        assert_eq!(lines.len(), 4, "one warning: {lines:?}");
    }

    #[test]
    fn periods_read_as_people_write_them() {
        assert_eq!(minutes(Duration::from_secs(300)), "5 minutes");
        assert_eq!(minutes(Duration::from_secs(3600)), "hour");
    }
}
