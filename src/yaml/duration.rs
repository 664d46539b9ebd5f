//! Durations as every YAML file of the exporter writes them: `30s`, `5m`, `1h30m`.

use crate::input::excerpt;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::time::Duration;

/// The longest duration any setting takes: long enough for any schedule, short enough
/// that every sum and product of settings the exporter forms stays far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A duration written like `30s`, `5m` or `1h30m`, at most [`MAX_DURATION`].
pub(crate) struct DurationValue(pub Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Failing inside the visitor lets serde_yaml attach the value's line and column.
        d.deserialize_str(DurationVisitor)
    }
}

/// Reads a duration written like `30s`; for `deserialize_with`.
pub(crate) fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    DurationValue::deserialize(d).map(|v| v.0)
}

/// Reads an optional duration; for `deserialize_with` with `#[serde(default)]`.
pub(crate) fn deserialize_optional_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    DurationValue::deserialize(d).map(|v| Some(v.0))
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as 30s, 5m or 1h30m")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationValue, E> {
        let shown = excerpt(text);
        let value = humantime::parse_duration(text.trim()).map_err(|e| {
            E::custom(format!(
                "{shown} is not a duration ({e}); write it like 30s, 5m or 1h30m"
            ))
        })?;
        if value > MAX_DURATION {
            return Err(E::custom(format!(
                "{shown} is longer than 366d, the longest duration any setting takes; write a shorter one"
            )));
        }
        Ok(DurationValue(value))
    }
}
