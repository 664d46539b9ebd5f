//! The two exposition formats `/metrics` serves, and how a family's metadata
//! reads in each: OpenMetrics names a counter's family without the `_total`
//! its samples keep, declares the unit a name ends in, and escapes quotes in HELP.

use std::io::Write;

/// An exposition format of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0.0, which Prometheus asks for first.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// What ends a body: OpenMetrics requires `# EOF`, so that a cut body shows.
    pub(super) fn end(self) -> &'static [u8] {
        match self {
            Format::Text => b"",
            Format::OpenMetrics => b"# EOF\n",
        }
    }
}

/// The units OpenMetrics declares with `# UNIT` when a family's name ends in one.
const UNITS: [&str; 2] = ["seconds", "bytes"];

/// The family name `# TYPE` declares for the metric `name` of type `kind` (as
/// written after `# TYPE`). The contract's counters all end in `_total`
/// (a test there says so), the suffix OpenMetrics puts on samples only.
pub(super) fn family_name<'a>(format: Format, name: &'a str, kind: &str) -> &'a str {
    match format {
        Format::OpenMetrics if kind == "counter" => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

/// The unit a family's name ends in, if it is one OpenMetrics should declare.
fn unit(family: &str) -> Option<&'static str> {
    UNITS.into_iter().find(|unit| {
        family
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'))
    })
}

/// Writes the metadata of the metric `name`: HELP and TYPE, and in OpenMetrics
/// the unit, all under the family's name.
pub(super) fn header(out: &mut Vec<u8>, format: Format, name: &str, kind: &str, help: &str) {
    let family = family_name(format, name, kind);
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(family.as_bytes());
    out.push(b' ');
    if help.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"')) {
        for byte in help.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                // The text format leaves quotes in HELP as they are; OpenMetrics escapes them.
                b'"' if format == Format::OpenMetrics => out.extend_from_slice(b"\\\""),
                other => out.push(other),
            }
        }
    } else {
        // The contract's HELP texts need no escaping: copied whole, not byte by byte.
        out.extend_from_slice(help.as_bytes());
    }
    let _ = writeln!(out, "\n# TYPE {family} {kind}");
    if format == Format::OpenMetrics
        && let Some(unit) = unit(family)
    {
        let _ = writeln!(out, "# UNIT {family} {unit}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(format: Format, name: &str, kind: &str, help: &str) -> String {
        let mut out = Vec::new();
        header(&mut out, format, name, kind, help);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_declares_units() {
        assert_eq!(
            text(
                Format::OpenMetrics,
                "a_wait_seconds_total",
                "counter",
                "Time \"waited\" \\ here.\nMore."
            ),
            "# HELP a_wait_seconds Time \\\"waited\\\" \\\\ here.\\nMore.\n# TYPE a_wait_seconds counter\n# UNIT a_wait_seconds seconds\n"
        );
        assert_eq!(
            text(
                Format::Text,
                "a_wait_seconds_total",
                "counter",
                "Time \"waited\" \\ here.\nMore."
            ),
            "# HELP a_wait_seconds_total Time \"waited\" \\\\ here.\\nMore.\n# TYPE a_wait_seconds_total counter\n"
        );
        assert_eq!(
            text(Format::OpenMetrics, "memory_bytes", "gauge", "Memory."),
            "# HELP memory_bytes Memory.\n# TYPE memory_bytes gauge\n# UNIT memory_bytes bytes\n"
        );
        assert_eq!(
            text(Format::OpenMetrics, "job_info", "gauge", "Info."),
            "# HELP job_info Info.\n# TYPE job_info gauge\n"
        );
        assert_eq!(
            unit("seconds"),
            None,
            "a unit is a suffix after an underscore"
        );
        assert_eq!(unit("milliseconds"), None);
        assert_eq!(
            family_name(Format::OpenMetrics, "jobs_total", "gauge"),
            "jobs_total"
        );
    }
}
