//! The exporter's own metrics in OpenMetrics 1.0.0: the prometheus crate
//! writes only the text format.

use super::format::{Format, header};
use super::writer::label;
use prometheus::proto::{Metric, MetricFamily, MetricType};
use std::fmt;
use std::io::Write;

/// Appends `families` in OpenMetrics, without the `# EOF` that ends the whole body.
pub(super) fn encode(families: &[MetricFamily], out: &mut Vec<u8>) {
    for family in families {
        let kind = match family.get_field_type() {
            MetricType::COUNTER => "counter",
            MetricType::GAUGE => "gauge",
            MetricType::HISTOGRAM => "histogram",
            // The prometheus crate makes neither, and the registry holds only its metrics.
            MetricType::SUMMARY | MetricType::UNTYPED => continue,
        };
        if family.get_metric().is_empty() {
            continue;
        }
        let name = family.name();
        header(out, Format::OpenMetrics, name, kind, family.help());
        for metric in family.get_metric() {
            let value = match kind {
                "counter" => metric.get_counter().get_value(),
                "gauge" => metric.get_gauge().get_value(),
                _ => {
                    histogram(out, name, metric);
                    continue;
                }
            };
            sample(out, name, "", metric, None, Number(value));
        }
    }
}

/// Buckets, count and sum of one histogram; the `+Inf` bucket is added when the
/// crate left it implicit, as its text encoder does.
fn histogram(out: &mut Vec<u8>, name: &str, metric: &Metric) {
    let histogram = metric.get_histogram();
    let mut infinite = false;
    for bucket in histogram.get_bucket() {
        let bound = bucket.upper_bound();
        infinite |= bound == f64::INFINITY;
        sample(
            out,
            name,
            "_bucket",
            metric,
            Some(bound),
            bucket.cumulative_count(),
        );
    }
    if !infinite {
        let count = histogram.get_sample_count();
        sample(out, name, "_bucket", metric, Some(f64::INFINITY), count);
    }
    sample(
        out,
        name,
        "_count",
        metric,
        None,
        histogram.get_sample_count(),
    );
    sample(
        out,
        name,
        "_sum",
        metric,
        None,
        Number(histogram.get_sample_sum()),
    );
}

/// Writes `name{labels} value`, with `le` after the metric's own labels when given
/// (and no braces without labels, as the text format has it).
fn sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    metric: &Metric,
    le: Option<f64>,
    value: impl fmt::Display,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    if !metric.get_label().is_empty() || le.is_some() {
        out.push(b'{');
        for pair in metric.get_label() {
            label(out, pair.name(), pair.value());
        }
        if let Some(bound) = le {
            label(out, "le", &Bound(bound).to_string());
        }
        out.push(b'}');
    }
    let _ = writeln!(out, " {value}");
}

/// A sample value: OpenMetrics spells the infinities `+Inf` and `-Inf`.
struct Number(f64);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            f64::INFINITY => f.write_str("+Inf"),
            f64::NEG_INFINITY => f.write_str("-Inf"),
            value => write!(f, "{value}"),
        }
    }
}

/// A bucket bound as OpenMetrics' canonical number, as client_golang writes it:
/// a whole number with `.0` (`le="1.0"`, where the text format has `le="1"`).
struct Bound(f64);

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() && self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            write!(f, "{:.1}", self.0)
        } else {
            Number(self.0).fmt(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

    #[test]
    fn counters_and_histograms_follow_openmetrics() {
        let registry = Registry::new();
        let counter =
            IntCounterVec::new(Opts::new("calls_total", "Calls \"made\"."), &["code"]).unwrap();
        let histogram = HistogramVec::new(
            HistogramOpts::new("call_duration_seconds", "Call time.").buckets(vec![0.5, 1.0]),
            &["action"],
        )
        .unwrap();
        let gauge = prometheus::Gauge::new("shards", "Shards.").unwrap();
        gauge.set(1.5);
        registry.register(Box::new(gauge)).unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        registry.register(Box::new(histogram.clone())).unwrap();
        counter.with_label_values(&["a\"b\\c\nd"]).inc_by(3);
        histogram.with_label_values(&["Get"]).observe(0.75);
        histogram.with_label_values(&["Get"]).observe(4.0);
        let mut out = Vec::new();
        encode(&registry.gather(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            [
                "# HELP call_duration_seconds Call time.",
                "# TYPE call_duration_seconds histogram",
                "# UNIT call_duration_seconds seconds",
                "call_duration_seconds_bucket{action=\"Get\",le=\"0.5\"} 0",
                "call_duration_seconds_bucket{action=\"Get\",le=\"1.0\"} 1",
                "call_duration_seconds_bucket{action=\"Get\",le=\"+Inf\"} 2",
                "call_duration_seconds_count{action=\"Get\"} 2",
                "call_duration_seconds_sum{action=\"Get\"} 4.75",
                "# HELP calls Calls \\\"made\\\".",
                "# TYPE calls counter",
                "calls_total{code=\"a\\\"b\\\\c\\nd\"} 3",
                "# HELP shards Shards.",
                "# TYPE shards gauge",
                "shards 1.5",
                "",
            ]
            .join("\n")
        );
    }

    #[test]
    fn numbers_are_spelled_as_openmetrics_wants() {
        let spelled = |v: f64| (Number(v).to_string(), Bound(v).to_string());
        assert_eq!(spelled(f64::INFINITY), ("+Inf".into(), "+Inf".into()));
        assert_eq!(spelled(f64::NEG_INFINITY), ("-Inf".into(), "-Inf".into()));
        assert_eq!(spelled(f64::NAN), ("NaN".into(), "NaN".into()));
        assert_eq!(spelled(10.0), ("10".into(), "10.0".into()));
        assert_eq!(spelled(0.025), ("0.025".into(), "0.025".into()));
        assert_eq!(spelled(-2.0), ("-2".into(), "-2.0".into()));
    }
}
