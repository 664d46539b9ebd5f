//! The `tracing` layer that turns each event into one line (see `format.rs`)
//! and hands it to a writer whole, so that lines of concurrent events never mix.

use super::format::{Record, Value, field_key, line};
use crate::cli::LogFormat;
use std::fmt;
use std::time::SystemTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Writes every event as one line in its format through `write`.
pub(super) struct LineLayer<W> {
    format: LogFormat,
    write: W,
}

impl<W: Fn(&[u8]) + Send + Sync + 'static> LineLayer<W> {
    /// A layer writing `format` lines through `write`, one call per line.
    pub(super) fn new(format: LogFormat, write: W) -> Self {
        Self { format, write }
    }
}

impl<S: Subscriber, W: Fn(&[u8]) + Send + Sync + 'static> Layer<S> for LineLayer<W> {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        // Events forwarded from the `log` crate carry their origin as fields.
        let caller = match (fields.log_file.take(), fields.log_line) {
            (Some(file), Some(line)) => Some(format!("{}:{line}", short_path(&file))),
            _ => meta
                .file()
                .zip(meta.line())
                .map(|(file, line)| format!("{}:{line}", short_path(file))),
        };
        let record = Record {
            ts: SystemTime::now(),
            level: level_name(*meta.level()),
            caller,
            msg: fields.msg,
            fields: fields.pairs,
        };
        (self.write)(line(self.format, &record).as_bytes());
    }
}

/// Level names as Prometheus exporters write them; there is no `trace` there.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        _ => "debug",
    }
}

/// A source path as short as still tells where: `poller/log.rs` for the
/// exporter's own files, `crate-1.2.3/src/x.rs` for a dependency's.
fn short_path(file: &str) -> &str {
    if let Some(own) = file.strip_prefix("src/") {
        return own;
    }
    match file.rfind("/src/") {
        Some(at) => {
            let crate_start = file[..at].rfind('/').map_or(0, |slash| slash + 1);
            &file[crate_start..]
        }
        None => file,
    }
}

/// An event's fields as they are recorded: the message apart, numbers kept as numbers.
#[derive(Default)]
struct Fields {
    msg: String,
    pairs: Vec<(String, Value)>,
    log_file: Option<String>,
    log_line: Option<u64>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::Str(text)) => self.msg = text,
            ("log.file", Value::Str(file)) => self.log_file = Some(file),
            ("log.line", Value::Uint(line)) => self.log_line = Some(line),
            // The rest of what `log` records carry is in the caller already.
            (name, _) if name.starts_with("log.") => {}
            (name, value) => self.pairs.push((field_key(name), value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::Str(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::Uint(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Str(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    /// The lines `log` writes in `format`.
    fn capture(format: LogFormat, log: impl FnOnce()) -> Vec<String> {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let layer = LineLayer::new(format, move |line: &[u8]| {
            sink.lock()
                .unwrap()
                .push(String::from_utf8(line.to_vec()).unwrap());
        });
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        Arc::try_unwrap(lines).unwrap().into_inner().unwrap()
    }

    fn event() {
        let http_status: Option<u16> = Some(403);
        let request_id: Option<&str> = None;
        let error = std::io::Error::other("refused");
        tracing::warn!(
            account = "prod",
            job_id = 8888_u64,
            http_status,
            request_id,
            delay_seconds = 0.5,
            attempt = -1_i64,
            same_string = true,
            endpoint = %"https://cas.aliyuncs.com/",
            error = &error as &dyn std::error::Error,
            msg = "a field named like a key",
            "check the endpoint's address: {}",
            "x=1"
        );
    }

    #[test]
    fn json_lines_carry_typed_fields_under_the_prometheus_keys() {
        let lines = capture(LogFormat::Json, event);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with("}\n") && lines[0].matches('\n').count() == 1);
        let json: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "account",
                "attempt",
                "caller",
                "delay_seconds",
                "endpoint",
                "error",
                "field_msg",
                "http_status",
                "job_id",
                "level",
                "msg",
                "same_string",
                "ts"
            ],
            "request_id is None: left out"
        );
        assert_eq!(json["level"], "warn");
        assert_eq!(json["msg"], "check the endpoint's address: x=1");
        assert_eq!(json["job_id"], 8888);
        assert_eq!(json["http_status"], 403);
        assert_eq!(json["attempt"], -1);
        assert_eq!(json["delay_seconds"], 0.5);
        assert_eq!(json["same_string"], true);
        assert_eq!(json["endpoint"], "https://cas.aliyuncs.com/");
        assert_eq!(json["error"], "refused");
        assert_eq!(json["field_msg"], "a field named like a key");
        assert!(
            json["caller"]
                .as_str()
                .unwrap()
                .starts_with("logging/layer.rs:"),
            "{json}"
        );
        let ts = json["ts"].as_str().unwrap();
        let parsed = humantime::parse_rfc3339(ts).unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == "2026-05-28T20:26:40.123Z".len(),
            "{ts}"
        );
        assert!(parsed <= SystemTime::now());
    }

    #[test]
    fn logfmt_lines_start_with_the_prometheus_keys() {
        let lines = capture(LogFormat::Logfmt, event);
        let line = &lines[0];
        let rest = line.split_once(' ').unwrap().1;
        assert!(
            line.starts_with("ts=") && rest.starts_with("caller=logging/layer.rs:"),
            "{line}"
        );
        let after_caller = rest.split_once(' ').unwrap().1;
        assert_eq!(
            after_caller,
            "level=warn msg=\"check the endpoint's address: x=1\" account=prod job_id=8888 \
             http_status=403 delay_seconds=0.5 attempt=-1 same_string=true \
             endpoint=https://cas.aliyuncs.com/ error=refused field_msg=\"a field named like a key\"\n"
        );
    }

    #[test]
    fn levels_are_lower_case_and_trace_is_debug() {
        let lines = capture(LogFormat::Logfmt, || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        let levels: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        assert_eq!(
            levels,
            [
                "level=error",
                "level=warn",
                "level=info",
                "level=debug",
                "level=debug"
            ]
        );
    }

    #[test]
    fn paths_are_short() {
        assert_eq!(short_path("src/poller/log.rs"), "poller/log.rs");
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/rustls-0.23.1/src/conn.rs"
            ),
            "rustls-0.23.1/src/conn.rs"
        );
        assert_eq!(short_path("lib.rs"), "lib.rs");
    }
}
