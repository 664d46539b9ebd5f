//! The one rule for deployment job IDs, shared by the configuration, discovery
//! and the lenient reading of answers.

use crate::acs::text::{MAX_LOGGED_ID_BYTES, bounded};

/// The largest job ID: the API's integers are 64-bit signed.
pub const MAX_JOB_ID: u64 = i64::MAX as u64;

/// What tells a user where job IDs come from.
const JOB_ID_HINT: &str =
    "job IDs are the positive integers ListDeploymentJob and the CAS console show";

/// Why a value is not a deployment job ID; the text names the value (cut short) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job ID {shown} {reason}; {JOB_ID_HINT}")]
pub struct JobIdError {
    /// The value as the message shows it: a number as is, anything else quoted.
    shown: String,
    /// What is wrong with it.
    reason: &'static str,
}

/// The one rule for job IDs, shared by the configuration and discovery: a
/// positive integer no larger than [`MAX_JOB_ID`].
pub fn check_job_id(id: u64) -> Result<u64, JobIdError> {
    let error = |reason| JobIdError {
        shown: id.to_string(),
        reason,
    };
    match id {
        0 => Err(error("is not valid")),
        id if id > MAX_JOB_ID => Err(error("is too large (at most 9223372036854775807)")),
        id => Ok(id),
    }
}

/// [`check_job_id`] for text: decimal digits, surrounding whitespace allowed;
/// no sign, fraction or exponent, so `"1e3"` and `"1000.0"` are refused.
pub fn parse_job_id(text: &str) -> Result<u64, JobIdError> {
    let trimmed = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let shown = bounded(trimmed, MAX_LOGGED_ID_BYTES);
    let error = |shown: String, reason| Err(JobIdError { shown, reason });
    if digits(trimmed) {
        return match trimmed.parse::<u64>() {
            Ok(id) => check_job_id(id),
            Err(_) => error(
                shown.into_owned(),
                "is too large (at most 9223372036854775807)",
            ),
        };
    }
    if trimmed.strip_prefix('-').is_some_and(digits) {
        return error(shown.into_owned(), "is not valid");
    }
    let reason = if trimmed.parse::<f64>().is_ok() {
        "is not an integer"
    } else {
        "is not a number"
    };
    error(format!("{shown:?}"), reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_id_rule_with_messages_that_say_what_to_do() {
        assert_eq!(check_job_id(8888), Ok(8888));
        assert_eq!(parse_job_id(" 8888 "), Ok(8888));
        assert_eq!(parse_job_id("9223372036854775807"), Ok(MAX_JOB_ID));
        let message = |text: &str| parse_job_id(text).unwrap_err().to_string();
        assert_eq!(
            message("0"),
            "job ID 0 is not valid; job IDs are the positive integers ListDeploymentJob and the CAS console show"
        );
        assert_eq!(check_job_id(0).unwrap_err().to_string(), message("0"));
        assert!(message("-3").starts_with("job ID -3 is not valid;"));
        assert!(message("1e3").starts_with("job ID \"1e3\" is not an integer;"));
        assert!(message("1000.0").starts_with("job ID \"1000.0\" is not an integer;"));
        assert!(message("abc").starts_with("job ID \"abc\" is not a number;"));
        assert!(message("").starts_with("job ID \"\" is not a number;"));
        assert!(message("9223372036854775808").contains("is too large"));
        assert!(message(&"9".repeat(100)).contains("is too large"));
        assert!(
            check_job_id(u64::MAX)
                .unwrap_err()
                .to_string()
                .contains("is too large")
        );
        // What the message quotes is cut short and shows no control character raw.
        let odd = message(&format!("a\u{0}b\n{}", "x".repeat(1 << 20)));
        assert!(
            odd.len() < 250 && !odd.contains('\0') && !odd.contains('\n'),
            "{odd}"
        );
    }
}
