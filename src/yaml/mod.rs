//! YAML documents from untrusted files, read one way: the configuration, the web
//! configuration and the simulator's spec. What would cost the parser too much is
//! refused before it runs ([`MAX_FLOW_DEPTH`], aliases), and every refusal is
//! located (a line and column, or a key) and worded for the person who wrote the
//! file. The YAML library is used here alone (see docs/architecture.md, "YAML library").

mod duration;
mod error;
mod locate;
mod message;
mod prescan;

pub use duration::MAX_DURATION;
pub(crate) use duration::{DurationValue, deserialize_duration, deserialize_optional_duration};
pub use error::{DocumentError, Error};
pub use prescan::MAX_FLOW_DEPTH;

use serde::de::DeserializeOwned;

/// Reads `text` into `T`, refusing what would cost the parser too much before it
/// sees it. A byte-order mark is dropped, as YAML allows. `reference` names the
/// document that shows every key.
pub fn from_str<T: DeserializeOwned>(text: &str, reference: &str) -> Result<T, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    prescan::check(text, reference)?;
    serde_yaml::from_str(text).map_err(|error| message::describe(&error, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_and_deep_nesting_are_handled_before_parsing() {
        let ids: Vec<u64> = from_str("\u{feff}[1, 2]\n", "example.yaml").unwrap();
        assert_eq!(ids, [1, 2]);
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = from_str::<Vec<u64>>(&deep, "example.yaml").unwrap_err();
        assert_eq!(
            (error.line, error.column, error.message.as_str()),
            (
                1,
                MAX_FLOW_DEPTH + 1,
                "collections nest more than 64 levels deep; no setting needs more than three (see example.yaml)"
            )
        );
    }
}
