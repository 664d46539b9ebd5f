//! How the poller's calls show in the log: failures with what helps find their
//! cause, answers with implausible values with what was left out.

use crate::api::{Action, ApiError};

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

/// Logs a failed call with its code, request ID and HTTP status, and for a
/// signature mismatch both strings to sign, so that it can be reported as is.
pub(super) fn log_failure(account: &str, action: Action, job_id: Option<u64>, error: &ApiError) {
    let code = error.logged_code();
    let code = &*code;
    let request_id = error.request_id().unwrap_or("-");
    let http_status = error
        .http_status()
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let hint = error.hint();
    let what = if action == Action::DescribeDeploymentJobStatus {
        "poll failed"
    } else {
        "call failed"
    };
    match error {
        ApiError::Service(e) if e.signature.is_some() => {
            let mismatch = e.signature.as_ref();
            tracing::warn!(
                account,
                action = action.name(),
                job_id,
                code,
                request_id,
                http_status = %http_status,
                ours = mismatch.map_or("", |m| m.ours.as_str()),
                server = mismatch.and_then(|m| m.server.as_deref()).unwrap_or("-"),
                same_string = mismatch.is_some_and(|m| m.same_string),
                hint,
                "{what}: {error}"
            );
        }
        _ => tracing::warn!(
            account,
            action = action.name(),
            job_id,
            code,
            request_id,
            http_status = %http_status,
            hint,
            "{what}: {error}"
        ),
    }
}
