//! Structured logs on standard error, as logfmt or JSON, with the keys and
//! levels of the Prometheus ecosystem (`ts`, `caller`, `level`, `msg`).

mod format;
mod layer;

use crate::cli::{LogFormat, LogLevel};
use layer::LineLayer;
use std::io::Write;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber; call once, first thing.
pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    // Libraries' debug chatter (TLS, connection pools) drowns the exporter's own: they log warnings only.
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target(env!("CARGO_CRATE_NAME"), level);
    let stderr = |line: &[u8]| {
        // Nowhere is left to report a failed write to the log.
        let _ = std::io::stderr().lock().write_all(line);
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(LineLayer::new(format, stderr))
        .init();
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            location,
            panic = panic_message(info.payload()),
            "a thread panicked; this is a bug, please report it with this line"
        );
    }));
}

/// The text a panic carries. Log pipelines then get panics in the configured
/// format, as one line, instead of the standard library's free text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const SECRET: &str = "SeCrEt-canary-7f3e1c9a";
    const TOKEN: &str = "CAIS+tOkEn/canary";

    #[test]
    fn a_panic_over_a_config_holding_secrets_shows_neither() {
        let yaml = format!(
            "credentials:\n  access_key_id: LTAIkey\n  access_key_secret: {SECRET}\n  security_token: \"{TOKEN}\"\njobs: [1]\n"
        );
        let config = Config::parse(&yaml, "inline.yaml", &crate::env::Env::empty()).unwrap();
        let caught = std::panic::catch_unwind(|| {
            panic!("the exporter could not go on: {config:?}");
        })
        .unwrap_err();
        let message = panic_message(&*caught);
        assert!(
            message.starts_with("the exporter could not go on: Config {"),
            "{message}"
        );
        assert!(
            message.contains(
                "access_key_id: \"LTAI****\", access_key_secret: Secret(<redacted>), \
                 security_token: Some(Secret(<redacted>))"
            ),
            "{message}"
        );
        assert!(
            !message.contains(SECRET) && !message.contains(TOKEN),
            "{message}"
        );
        assert_eq!(panic_message(&*Box::new(3_u8)), "(no message)");
        assert_eq!(panic_message(&*Box::new("plain")), "plain");
    }
}
