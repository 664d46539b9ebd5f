//! What a scraper asks for: the exposition format from `Accept` and gzip from
//! `Accept-Encoding`, with RFC 9110's weights (sections 12.4.2, 12.5.1 and 12.5.3).

use crate::metrics::Format;
use hyper::header::HeaderValue;

/// The format `Accept` weighs highest: OpenMetrics 1.0.0 or the text format 0.0.4.
///
/// Each is weighed by the most specific range that matches it (`type/subtype`
/// with a `version` parameter, then without one, then `type/*`, then `*/*`);
/// parameters other than `version` and `q` are ignored. Of equal weights, the
/// one matched by the range listed first wins, and the text format when one
/// range matches both (`*/*`), as client_golang chooses. When neither is
/// acceptable, or there is no `Accept`, the text format is served rather than a
/// 406, which would only lose a scrape. OpenMetrics 0.0.1 is not offered: a
/// client asking for it alone gets the text format.
pub fn format<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Format {
    let ranges: Vec<Range> = values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(Range::parse)
        .collect();
    let weigh = |offer: &Offer| {
        ranges
            .iter()
            .enumerate()
            .filter_map(|(position, range)| Some((range.specificity(offer)?, position, range.q)))
            // The most specific range decides; of equals, the first listed.
            .max_by_key(|(specificity, position, _)| (*specificity, std::cmp::Reverse(*position)))
            .map(|(_, position, q)| (q, position))
    };
    match (weigh(&OPENMETRICS), weigh(&TEXT)) {
        (Some((om, om_at)), Some((text, text_at)))
            if om > 0 && (om > text || (om == text && om_at < text_at)) =>
        {
            Format::OpenMetrics
        }
        (Some((om, _)), None) if om > 0 => Format::OpenMetrics,
        _ => Format::Text,
    }
}

/// A media type the exporter serves, as `Accept` names it.
struct Offer {
    kind: &'static str,
    subtype: &'static str,
    version: &'static str,
}

const OPENMETRICS: Offer = Offer {
    kind: "application",
    subtype: "openmetrics-text",
    version: "1.0.0",
};

const TEXT: Offer = Offer {
    kind: "text",
    subtype: "plain",
    version: "0.0.4",
};

/// One media range of `Accept`.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    /// In thousandths.
    q: u16,
}

impl<'a> Range<'a> {
    /// `None` for an entry that is not `type/subtype` or has a malformed weight: it is ignored.
    fn parse(entry: &'a str) -> Option<Self> {
        let mut parts = entry.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let mut range = Range {
            kind: kind.trim(),
            subtype: subtype.trim(),
            version: None,
            q: 1000,
        };
        if range.kind.is_empty() || range.subtype.is_empty() {
            return None;
        }
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("q") {
                range.q = qvalue(value)?;
            } else if name.eq_ignore_ascii_case("version") {
                range.version = Some(value.trim_matches('"'));
            }
        }
        Some(range)
    }

    /// How specifically this range names `offer` (higher is more specific), or `None` if it does not match it.
    fn specificity(&self, offer: &Offer) -> Option<u8> {
        let kind = self.kind.eq_ignore_ascii_case(offer.kind);
        let subtype = self.subtype.eq_ignore_ascii_case(offer.subtype);
        match (self.kind, self.subtype, self.version) {
            ("*", "*", _) => Some(0),
            (_, "*", _) if kind => Some(1),
            (_, _, None) if kind && subtype => Some(2),
            (_, _, Some(version)) if kind && subtype && version == offer.version => Some(3),
            _ => None,
        }
    }
}

/// Whether `Accept-Encoding` makes gzip the better coding (RFC 9110 section 12.5.3),
/// as client_golang chooses: codings named case-insensitively, `x-gzip` as `gzip`,
/// `*` for codings not named; identity competes only when named (or through `*`),
/// and gzip wins equal weights. An entry with a malformed weight is ignored. When
/// nothing is acceptable (`identity;q=0` alone, `*;q=0`), the body goes out
/// uncompressed rather than as a 415: every scraper reads identity.
pub fn prefers_gzip<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> bool {
    let (mut gzip, mut identity, mut any) = (None, None, None);
    for value in values {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let mut weight = Some(1000);
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    weight = qvalue(value.trim());
                }
            }
            let Some(weight) = weight else {
                continue;
            };
            let slot =
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                    &mut gzip
                } else if coding.eq_ignore_ascii_case("identity") {
                    &mut identity
                } else if coding == "*" {
                    &mut any
                } else {
                    continue;
                };
            slot.get_or_insert(weight);
        }
    }
    let gzip = gzip.or(any).unwrap_or(0);
    let identity = identity.or(any).unwrap_or(0);
    gzip > 0 && gzip >= identity
}

/// A weight in thousandths: `0` to `1` with at most three decimals.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    if decimals.len() > 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = decimals
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n, digit| n * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> Vec<HeaderValue> {
        values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect()
    }

    #[test]
    fn accept_picks_the_format_by_weight_and_specificity() {
        use Format::{OpenMetrics as Om, Text};
        let cases = [
            // Prometheus 2.x, and 3.x with its default scrape_protocols.
            (
                vec![
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ],
                Om,
            ),
            (
                vec![
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ],
                Om,
            ),
            (vec!["text/plain;version=0.0.4;q=0.5,*/*;q=0.1"], Text),
            (vec!["application/openmetrics-text"], Om),
            (
                vec!["Application/OpenMetrics-Text; Version=\"1.0.0\"; charset=utf-8"],
                Om,
            ),
            (vec!["application/openmetrics-text;version=0.0.1"], Text),
            (
                vec!["application/openmetrics-text;version=2.0.0, */*;q=0.2"],
                Text,
            ),
            (vec!["application/openmetrics-text;q=0, */*"], Text),
            (
                vec!["application/openmetrics-text;version=1.0.0;q=0, application/*"],
                Text,
            ),
            (vec!["application/*"], Om),
            (vec!["application/*;q=0.6, text/*;q=0.5"], Om),
            (vec!["text/plain, application/openmetrics-text"], Text),
            (vec!["application/openmetrics-text, text/plain"], Om),
            (vec!["application/openmetrics-text;q=0.5, text/plain"], Text),
            (vec!["*/*"], Text),
            (
                vec!["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                Text,
            ),
            (vec!["application/json"], Text),
            (vec!["text/plain;q=0"], Text),
            (vec![""], Text),
            (vec![], Text),
            (
                vec!["application/openmetrics-text;q=2, text/plain;q=0.1"],
                Text,
            ),
            (vec!["garbage, application/openmetrics-text"], Om),
            (vec!["text/plain;q=0.1", "application/openmetrics-text"], Om),
        ];
        for (values, expected) in cases {
            assert_eq!(format(&headers(&values)), expected, "{values:?}");
        }
    }

    #[test]
    fn accept_encoding_is_negotiated_with_weights() {
        let cases = [
            (vec!["gzip"], true),
            (vec!["GZip"], true),
            (vec!["x-gzip"], true),
            (vec!["deflate, gzip;q=1.0, *;q=0.5"], true),
            (vec!["gzip;q=0"], false),
            (vec!["gzip; q=0.000"], false),
            (vec!["gzip;Q=0.001"], true),
            (vec!["gzip;q=0.5, identity"], false),
            (vec!["gzip;q=0.5, identity;q=0.5"], true),
            (vec!["identity;q=0, gzip;q=0.1"], true),
            (vec!["identity;q=0"], false),
            (vec!["identity;q=0, gzip;q=0"], false),
            (vec!["*"], true),
            (vec!["*;q=0"], false),
            (vec!["*;q=0, gzip"], true),
            (vec!["gzip;q=0, *"], false),
            (vec!["*;q=0.3, identity"], false),
            (vec!["deflate, br"], false),
            (vec!["identity"], false),
            (vec![""], false),
            (vec![], false),
            (vec!["gzip;q=2"], false),
            (vec!["gzip;q=1.5"], false),
            (vec!["gzip;q=0.5555"], false),
            (vec!["gzip;q=abc"], false),
            (vec!["br", "gzip"], true),
            (vec!["gzip;q=0", "gzip"], false),
        ];
        for (values, expected) in cases {
            assert_eq!(prefers_gzip(&headers(&values)), expected, "{values:?}");
        }
        assert_eq!(qvalue("1."), Some(1000));
        assert_eq!(qvalue("0.25"), Some(250));
        assert_eq!(qvalue(".5"), None);
    }
}
