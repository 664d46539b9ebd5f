//! Deserializers for the API's loose typing (spec section 7): numbers may come
//! as numeric strings, timestamps as seconds or milliseconds, empty strings
//! mean "not set". A field that cannot be read is reported as missing, never
//! as zero, so a gauge is left out rather than showing an invented value.

use super::job_id::{JobIdError, check_job_id, parse_job_id};
use crate::acs::text;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What a loosely typed scalar turned out to be.
enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
    Nothing,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a string or null")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::Nothing, Scalar::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        // A flag where a count belongs is not a count.
        Ok(Scalar::Nothing)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Nothing)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Nothing)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nothing)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nothing)
    }
}

fn float_to_int(v: f64) -> Option<i64> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// An integer given as a number or a numeric string; anything else is missing.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match d.deserialize_any(ScalarVisitor)? {
        Scalar::Int(v) => Some(v),
        Scalar::Float(v) => float_to_int(v),
        Scalar::Text(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(float_to_int))
        }
        Scalar::Nothing => None,
    })
}

/// A string, also accepted when the API sends a number; empty is missing.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match d.deserialize_any(ScalarVisitor)? {
        Scalar::Int(v) => Some(v.to_string()),
        Scalar::Float(v) => Some(v.to_string()),
        Scalar::Text(s) if s.is_empty() => None,
        Scalar::Text(s) => Some(s),
        Scalar::Nothing => None,
    })
}

/// A string that becomes a label value: control characters stripped, cut to
/// [`text::MAX_LABEL_BYTES`]; empty (before or after) is missing.
pub fn label<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(string(d)?.and_then(text::label_value))
}

/// A job ID under the one rule of [`check_job_id`] and [`parse_job_id`]: a
/// positive integer, as a number or decimal digits. Anything else is kept as
/// the reason it is not one, so that discovery can say what it skipped.
pub fn job_id<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Result<u64, JobIdError>>, D::Error> {
    d.deserialize_any(JobIdVisitor)
}

struct JobIdVisitor;

impl<'de> Visitor<'de> for JobIdVisitor {
    type Value = Option<Result<u64, JobIdError>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a job ID")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(check_job_id(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(parse_job_id(&v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // `{:?}` keeps the fraction (1000.0), so that 1e3 is refused as the configuration refuses it.
        Ok(Some(parse_job_id(&format!("{v:?}"))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((!v.trim().is_empty()).then(|| parse_job_id(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(parse_job_id(&v.to_string())))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(parse_job_id("[…]")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Some(parse_job_id("{…}")))
    }
}

/// A list of objects; elements that are not objects are skipped, and anything but a list is missing.
pub fn objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    d.deserialize_any(ObjectsVisitor(std::marker::PhantomData))
}

struct ObjectsVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for ObjectsVisitor<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Object(item)) = seq.next_element::<Object<T>>()? {
            items.extend(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One list element: `Some` for an object, `None` for anything else.
struct Object<T>(Option<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor(std::marker::PhantomData))
    }
}

struct ObjectVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Object(Some(t)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Object<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Object(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Object<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_none<E: de::Error>(self) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Object<T>, E> {
        Ok(Object(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Object<T>, E> {
        Ok(Object(None))
    }
}

/// Replaces each `\uXXXX` escape of a lone UTF-16 surrogate with `\ufffd`, in
/// place (the same length). JSON allows them, but they are not text: serde
/// would refuse the whole answer for one name cut in the middle of an emoji.
pub fn mend_lone_surrogates(json: &mut [u8]) {
    let surrogate = |at: usize, json: &[u8]| -> Option<u16> {
        let hex = json.get(at..at + 6)?;
        if &hex[..2] != b"\\u" {
            return None;
        }
        let value = u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
        (0xD800..=0xDFFF).contains(&value).then_some(value)
    };
    let mut at = 0;
    while at < json.len() {
        if json[at] != b'\\' {
            at += 1;
            continue;
        }
        match surrogate(at, json) {
            // A high surrogate followed by a low one is a character: both stay.
            Some(0xD800..=0xDBFF) if surrogate(at + 6, json).is_some_and(|low| low >= 0xDC00) => {
                at += 12
            }
            Some(_) => {
                json[at + 2..at + 6].copy_from_slice(b"fffd");
                at += 6;
            }
            // Any other escape: skip the escaped character, so that `\\u` is no escape.
            None => at += 2,
        }
    }
}

/// Values above this are milliseconds (spec section 7.5): 1e11 seconds is the year 5138.
const MILLISECONDS_THRESHOLD: f64 = 1e11;

/// Normalises a Unix time given in seconds or milliseconds to seconds. Zero
/// means "not set"; a negative or far-future value is kept, for the model's
/// plausibility check to report and drop it.
fn normalise_unix_time(raw: f64) -> Option<f64> {
    if !raw.is_finite() || raw == 0.0 {
        return None;
    }
    Some(if raw > MILLISECONDS_THRESHOLD {
        raw / 1000.0
    } else {
        raw
    })
}

/// A Unix time in seconds or milliseconds, as a number or a string; empty or 0 is missing.
pub fn unix_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match d.deserialize_any(ScalarVisitor)? {
        Scalar::Int(v) => normalise_unix_time(v as f64),
        Scalar::Float(v) => normalise_unix_time(v),
        Scalar::Text(s) => s.trim().parse::<f64>().ok().and_then(normalise_unix_time),
        Scalar::Nothing => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "int")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "unix_time")]
        t: Option<f64>,
    }

    fn parse(json: &str) -> (Option<i64>, Option<String>, Option<f64>) {
        let t: T = serde_json::from_str(json).unwrap();
        (t.n, t.s, t.t)
    }

    #[test]
    fn numbers_and_numeric_strings() {
        assert_eq!(parse(r#"{"n":12}"#).0, Some(12));
        assert_eq!(parse(r#"{"n":"12"}"#).0, Some(12));
        assert_eq!(parse(r#"{"n":" 7 "}"#).0, Some(7));
        assert_eq!(parse(r#"{"n":3.0}"#).0, Some(3));
        assert_eq!(parse(r#"{"n":"3.0"}"#).0, Some(3));
        assert_eq!(parse(r#"{"n":3.5}"#).0, None);
        assert_eq!(parse(r#"{"n":""}"#).0, None);
        assert_eq!(parse(r#"{"n":"abc"}"#).0, None);
        assert_eq!(parse(r#"{"n":null}"#).0, None);
        assert_eq!(parse(r#"{"n":[1]}"#).0, None);
        assert_eq!(parse(r#"{"n":{"a":1}}"#).0, None);
        assert_eq!(parse(r#"{"n":true}"#).0, None);
        assert_eq!(parse(r#"{}"#).0, None);
    }

    #[test]
    fn strings() {
        assert_eq!(parse(r#"{"s":"x"}"#).1.as_deref(), Some("x"));
        assert_eq!(parse(r#"{"s":1}"#).1.as_deref(), Some("1"));
        assert_eq!(parse(r#"{"s":""}"#).1, None);
    }

    #[test]
    fn timestamps_in_seconds_or_milliseconds() {
        assert_eq!(parse(r#"{"t":"1714550460000"}"#).2, Some(1_714_550_460.0));
        assert_eq!(parse(r#"{"t":1714550460}"#).2, Some(1_714_550_460.0));
        assert_eq!(parse(r#"{"t":"1678083209335"}"#).2, Some(1_678_083_209.335));
        assert_eq!(parse(r#"{"t":""}"#).2, None);
        assert_eq!(parse(r#"{"t":"0"}"#).2, None);
        assert_eq!(parse(r#"{"t":0}"#).2, None);
        assert_eq!(parse(r#"{"t":"soon"}"#).2, None);
        assert_eq!(parse(r#"{"t":"-5"}"#).2, Some(-5.0), "kept to be reported");
        assert_eq!(
            parse(r#"{"t":1e300}"#).2,
            Some(1e297),
            "kept to be reported"
        );
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let mend = |json: &str| {
            let mut bytes = json.as_bytes().to_vec();
            mend_lone_surrogates(&mut bytes);
            String::from_utf8(bytes).unwrap()
        };
        assert_eq!(mend(r#""a\ud800b""#), r#""a\ufffdb""#);
        assert_eq!(mend(r#""\udc00\ud83d""#), r#""\ufffd\ufffd""#);
        assert_eq!(
            mend(r#""\ud83d\ude00""#),
            r#""\ud83d\ude00""#,
            "a pair stays"
        );
        assert_eq!(
            mend(r#""\\ud800""#),
            r#""\\ud800""#,
            "an escaped backslash, then text"
        );
        assert_eq!(mend(r#""\u00e9\n\ud8""#), r#""\u00e9\n\ud8""#);
        let parsed: T = serde_json::from_str(&mend(r#"{"s":"x\ud800y\udfffz"}"#)).unwrap();
        assert_eq!(parsed.s.as_deref(), Some("x\u{fffd}y\u{fffd}z"));
    }

    proptest::proptest! {
        #[test]
        fn mending_never_breaks_what_was_valid(text in "\\PC{0,40}") {
            let json = serde_json::to_string(&text).unwrap();
            let mut bytes = json.clone().into_bytes();
            mend_lone_surrogates(&mut bytes);
            proptest::prop_assert_eq!(String::from_utf8(bytes).unwrap(), json);
        }
    }

    #[derive(Deserialize)]
    struct L {
        #[serde(default, deserialize_with = "label")]
        l: Option<String>,
        #[serde(default, deserialize_with = "job_id")]
        id: Option<Result<u64, JobIdError>>,
    }

    #[test]
    fn labels_are_clean_and_bounded() {
        let label = |json: &str| serde_json::from_str::<L>(json).unwrap().l;
        assert_eq!(
            label(r#"{"l":"a\u0000b\nc\"d"}"#).as_deref(),
            Some("abc\"d")
        );
        assert_eq!(label(r#"{"l":"\u0000"}"#), None);
        assert_eq!(label(r#"{"l":7}"#).as_deref(), Some("7"));
        let long = format!(r#"{{"l":"{}"}}"#, "é".repeat(1 << 19));
        let cut = label(&long).unwrap();
        assert!(cut.len() <= text::MAX_LABEL_BYTES && cut.ends_with('…'));
    }

    #[test]
    fn job_ids_follow_the_one_rule() {
        let id = |json: &str| {
            serde_json::from_str::<L>(&format!(r#"{{"id":{json}}}"#))
                .unwrap()
                .id
                .map(|r| r.map_err(|e| e.to_string()))
        };
        assert_eq!(id("8888"), Some(Ok(8888)));
        assert_eq!(id(r#""8888""#), Some(Ok(8888)));
        assert_eq!(id("null"), None);
        assert_eq!(id(r#""""#), None);
        for bad in [
            "0",
            "-3",
            "1e3",
            "1000.0",
            r#""1e3""#,
            r#""0""#,
            "true",
            "[1]",
            "{}",
            r#""x\u0000y""#,
            "18446744073709551615",
            r#""9223372036854775808""#,
        ] {
            let error = id(bad).unwrap().unwrap_err();
            assert!(error.starts_with("job ID "), "{bad}: {error}");
        }
        assert_eq!(
            id("9223372036854775807"),
            Some(Ok(9_223_372_036_854_775_807))
        );
    }
}
