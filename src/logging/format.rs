//! One log line as logfmt or JSON, with the keys of the Prometheus ecosystem:
//! `ts` (RFC 3339 in UTC, milliseconds), `caller`, `level` (lower case), `msg`,
//! then the event's own fields in the order it wrote them.

use crate::cli::LogFormat;
use std::fmt::Write as _;
use std::time::SystemTime;

/// The keys every line starts with; an event field of the same name is renamed
/// (see [`field_key`]) so that no key appears twice in a line.
const RESERVED: [&str; 4] = ["ts", "caller", "level", "msg"];

/// A field's value, kept typed so that JSON gets numbers and booleans as such.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

/// One event, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    pub(super) ts: SystemTime,
    pub(super) level: &'static str,
    /// `file:line` of the code that logged, when known.
    pub(super) caller: Option<String>,
    pub(super) msg: String,
    pub(super) fields: Vec<(String, Value)>,
}

/// The key a field named `name` is written under: its name, unless one of the
/// line's own keys has it.
pub(super) fn field_key(name: &str) -> String {
    if RESERVED.contains(&name) {
        format!("field_{name}")
    } else {
        name.to_owned()
    }
}

/// `record` as one line in `format`, newline included.
pub(super) fn line(format: LogFormat, record: &Record) -> String {
    let mut out = String::with_capacity(256);
    match format {
        LogFormat::Logfmt => logfmt(record, &mut out),
        LogFormat::Json => json(record, &mut out),
    }
    out.push('\n');
    out
}

fn timestamp(ts: SystemTime) -> String {
    humantime::format_rfc3339_millis(ts).to_string()
}

fn logfmt(record: &Record, out: &mut String) {
    out.push_str("ts=");
    out.push_str(&timestamp(record.ts));
    if let Some(caller) = &record.caller {
        out.push_str(" caller=");
        logfmt_value(caller, out);
    }
    out.push_str(" level=");
    out.push_str(record.level);
    out.push_str(" msg=");
    logfmt_value(&record.msg, out);
    for (key, value) in &record.fields {
        out.push(' ');
        out.push_str(key);
        out.push('=');
        match value {
            Value::Str(text) => logfmt_value(text, out),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Uint(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(x) => {
                let _ = write!(out, "{x}");
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
        }
    }
}

/// Writes `text` bare when logfmt allows, else quoted with only `"`, `\` and
/// control characters escaped (an apostrophe stays as it is).
fn logfmt_value(text: &str, out: &mut String) {
    let needs_quotes = text.is_empty()
        || text
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control() || c.is_whitespace());
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json(record: &Record, out: &mut String) {
    let mut pairs: Vec<(&str, serde_json::Value)> = vec![("ts", timestamp(record.ts).into())];
    if let Some(caller) = &record.caller {
        pairs.push(("caller", caller.as_str().into()));
    }
    pairs.push(("level", record.level.into()));
    pairs.push(("msg", record.msg.as_str().into()));
    pairs.extend(
        record
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), json_value(v))),
    );
    // Written pair by pair: serde_json's map would sort the keys, and `ts` belongs first.
    out.push('{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(*key).to_string());
        out.push(':');
        out.push_str(&value.to_string());
    }
    out.push('}');
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(text) => text.as_str().into(),
        Value::Int(n) => (*n).into(),
        Value::Uint(n) => (*n).into(),
        // JSON has no NaN or infinity: those are written as text.
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map_or_else(|| x.to_string().into(), serde_json::Value::Number),
        Value::Bool(b) => (*b).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn record(msg: &str, fields: Vec<(&str, Value)>) -> Record {
        Record {
            ts: SystemTime::UNIX_EPOCH + Duration::from_millis(1_780_000_000_123),
            level: "warn",
            caller: Some("poller/log.rs:42".into()),
            msg: msg.into(),
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// A logfmt decoder as log pipelines have it (go-logfmt's rules), to prove what is written reads back.
    fn decode(line: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut chars = line.trim_end_matches('\n').chars().peekable();
        loop {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
            if key.is_empty() {
                return pairs;
            }
            assert_eq!(chars.next(), Some('='), "{line}");
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next().expect("closing quote") {
                        '"' => break,
                        '\\' => match chars.next().unwrap() {
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                value.push(
                                    char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap(),
                                );
                            }
                            other => value.push(other),
                        },
                        c => value.push(c),
                    }
                }
            } else {
                value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ' ')));
            }
            pairs.push((key, value));
        }
    }

    #[test]
    fn logfmt_has_the_prometheus_keys_and_quotes_only_what_it_must() {
        let line = line(
            LogFormat::Logfmt,
            &record(
                "check the endpoint's address",
                vec![
                    ("account", Value::Str("prod".into())),
                    ("job_id", Value::Uint(8888)),
                    ("offset", Value::Int(-3)),
                    ("seconds", Value::Float(1.5)),
                    ("tls", Value::Bool(false)),
                    ("path", Value::Str(r"C:\x".into())),
                    ("said", Value::Str("a \"b\"\nc\\d".into())),
                    ("empty", Value::Str(String::new())),
                    ("eq", Value::Str("a=b".into())),
                ],
            ),
        );
        assert_eq!(
            line,
            "ts=2026-05-28T20:26:40.123Z caller=poller/log.rs:42 level=warn \
             msg=\"check the endpoint's address\" account=prod job_id=8888 offset=-3 \
             seconds=1.5 tls=false path=C:\\x said=\"a \\\"b\\\"\\nc\\\\d\" empty=\"\" eq=\"a=b\"\n"
        );
        let decoded = decode(&line);
        assert_eq!(
            decoded[3],
            ("msg".into(), "check the endpoint's address".into())
        );
        assert_eq!(decoded[9], ("path".into(), r"C:\x".into()));
        assert_eq!(decoded[10], ("said".into(), "a \"b\"\nc\\d".into()));
    }

    #[test]
    fn json_has_the_same_keys_in_order_with_numbers_as_numbers() {
        let line = line(
            LogFormat::Json,
            &record(
                "endpoint's \"x\"",
                vec![
                    ("zeta", Value::Str("z".into())),
                    ("job_id", Value::Uint(u64::MAX)),
                    ("offset", Value::Int(-3)),
                    ("seconds", Value::Float(0.25)),
                    ("nan", Value::Float(f64::NAN)),
                    ("tls", Value::Bool(true)),
                ],
            ),
        );
        assert_eq!(
            line,
            "{\"ts\":\"2026-05-28T20:26:40.123Z\",\"caller\":\"poller/log.rs:42\",\"level\":\"warn\",\
             \"msg\":\"endpoint's \\\"x\\\"\",\"zeta\":\"z\",\"job_id\":18446744073709551615,\
             \"offset\":-3,\"seconds\":0.25,\"nan\":\"NaN\",\"tls\":true}\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["job_id"].as_u64(), Some(u64::MAX));
    }

    #[test]
    fn a_line_without_caller_leaves_the_key_out() {
        let mut r = record("m", vec![]);
        r.caller = None;
        assert_eq!(
            line(LogFormat::Logfmt, &r),
            "ts=2026-05-28T20:26:40.123Z level=warn msg=m\n"
        );
        assert_eq!(
            line(LogFormat::Json, &r),
            "{\"ts\":\"2026-05-28T20:26:40.123Z\",\"level\":\"warn\",\"msg\":\"m\"}\n"
        );
    }

    #[test]
    fn fields_named_like_the_line_keys_are_renamed() {
        assert_eq!(field_key("msg"), "field_msg");
        assert_eq!(field_key("level"), "field_level");
        assert_eq!(field_key("account"), "account");
    }

    proptest! {
        #[test]
        fn any_text_reads_back_from_either_format(text in "\\PC*|[\\x00-\\x7f]*", key in "[a-z_]{1,8}") {
            let key = field_key(&key);
            let r = record(&text, vec![(&key, Value::Str(text.clone()))]);
            let logfmt = line(LogFormat::Logfmt, &r);
            prop_assert_eq!(logfmt.matches('\n').count(), 1);
            let decoded: BTreeMap<String, String> = decode(&logfmt).into_iter().collect();
            prop_assert_eq!(&decoded["msg"], &text);
            prop_assert_eq!(&decoded[&key], &text);
            let json = line(LogFormat::Json, &r);
            prop_assert_eq!(json.matches('\n').count(), 1);
            let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(parsed["msg"].as_str(), Some(text.as_str()));
            prop_assert_eq!(parsed[&key].as_str(), Some(text.as_str()));
        }
    }
}
