//! Which failures are worth another attempt, and how long to wait before it
//! (spec section 3.2): exponential backoff with full jitter, or the service's
//! own `x-acs-retry-after`, capped.

use crate::api::ApiError;
use crate::config::RetryPolicy;
use std::time::Duration;

/// Codes that another attempt cannot fix, whatever the HTTP status says (the spec
/// classifies by Code first): signature, credential, permission and parameter errors.
fn is_permanent(code: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidSecurityToken",
        "Forbidden",
        "NoPermission",
        "MissingParameter",
        "InvalidParameter",
        "InvalidTimeStamp",
    ];
    PREFIXES.iter().any(|p| code.starts_with(p))
}

/// Whether another attempt may succeed: throttling, server-side failures, timeouts and broken connections.
/// Signature, credential, permission and parameter errors never are.
pub fn is_retryable(error: &ApiError) -> bool {
    match error {
        ApiError::Service(e) if is_permanent(&e.code) => false,
        ApiError::Service(e) => {
            e.code.starts_with("Throttling")
                || matches!(
                    e.code.as_str(),
                    "Rejected.Throttling" | "ServiceUnavailable" | "InternalError"
                )
                || e.status == 429
                || e.status >= 500
        }
        ApiError::Http { status, .. } => *status == 429 || *status >= 500,
        ApiError::Timeout(_) | ApiError::Connect(_) | ApiError::Transport(_) => true,
        ApiError::Decode { .. } | ApiError::TooLarge { .. } | ApiError::Credentials(_) => false,
    }
}

/// The wait before attempt `attempt + 1` (`attempt` counts from 1); `unit` in [0, 1) draws the jitter.
pub fn backoff(policy: &RetryPolicy, attempt: u32, error: &ApiError, unit: f64) -> Duration {
    if let Some(after) = error.retry_after() {
        return after.min(policy.max_delay);
    }
    let exponent = attempt.saturating_sub(1).min(30);
    let ceiling = policy
        .base_delay
        .saturating_mul(1 << exponent)
        .min(policy.max_delay);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServiceError;

    fn service(code: &str, status: u16, retry_after: Option<Duration>) -> ApiError {
        ApiError::Service(Box::new(ServiceError {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
            retry_after,
            signature: None,
        }))
    }

    #[test]
    fn retries_only_what_can_get_better() {
        for (code, status) in [
            ("Throttling.User", 400),
            ("Throttling", 400),
            ("Throttling.Api", 429),
            ("Rejected.Throttling", 400),
            ("ServiceUnavailable", 503),
            ("InternalError", 500),
            ("Whatever", 502),
            ("Whatever", 429),
        ] {
            assert!(
                is_retryable(&service(code, status, None)),
                "{code} {status}"
            );
        }
        for (code, status) in [
            ("SignatureDoesNotMatch", 400),
            ("InvalidAccessKeyId.NotFound", 404),
            ("Forbidden.RAM", 403),
            ("MissingParameter", 400),
            ("InvalidParameter", 400),
            ("InvalidParameter.JobId", 400),
        ] {
            assert!(
                !is_retryable(&service(code, status, None)),
                "{code} {status}"
            );
        }
        assert!(is_retryable(&ApiError::Timeout(Duration::from_secs(1))));
        assert!(is_retryable(&ApiError::Connect("refused".into())));
        assert!(is_retryable(&ApiError::Transport("reset".into())));
        let http = |status| ApiError::Http {
            status,
            snippet: String::new(),
            retry_after: None,
        };
        assert!(is_retryable(&http(502)));
        assert!(!is_retryable(&http(404)));
        assert!(
            !is_retryable(&service("InvalidParameter", 500, None)),
            "the code decides before the status"
        );
        assert!(!is_retryable(&service("Forbidden.RAM", 503, None)));
        assert!(!is_retryable(&ApiError::Decode {
            status: 200,
            detail: String::new()
        }));
    }

    #[test]
    fn full_jitter_under_a_doubling_ceiling_and_the_services_word() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
        };
        let error = service("Throttling.User", 400, None);
        assert_eq!(
            backoff(&policy, 1, &error, 0.999_999),
            Duration::from_nanos(499_999_500)
        );
        assert_eq!(backoff(&policy, 2, &error, 0.5), Duration::from_millis(500));
        assert_eq!(
            backoff(&policy, 3, &error, 0.5),
            Duration::from_millis(1000)
        );
        assert_eq!(
            backoff(&policy, 4, &error, 0.5),
            Duration::from_millis(1500),
            "capped at 3 s"
        );
        assert_eq!(backoff(&policy, 4, &error, 0.0), Duration::ZERO);
        let told = service("Throttling.User", 429, Some(Duration::from_millis(1200)));
        assert_eq!(backoff(&policy, 1, &told, 0.1), Duration::from_millis(1200));
        let told_long = service("Throttling.User", 429, Some(Duration::from_secs(60)));
        assert_eq!(backoff(&policy, 1, &told_long, 0.1), Duration::from_secs(3));
        let gateway = ApiError::Http {
            status: 503,
            snippet: String::new(),
            retry_after: Some(Duration::from_millis(700)),
        };
        assert_eq!(
            backoff(&policy, 2, &gateway, 0.9),
            Duration::from_millis(700),
            "also without an API body"
        );
    }
}
