//! The words of a refusal: serde_yaml's message without its own position
//! suffixes, every quoted value cut to an excerpt, no value that may be a secret,
//! and a remedy where serde's words lack one. This is the one place that reads
//! serde_yaml's error text.

use super::error::Error;
use crate::input::EXCERPT_CHARS;

/// The longest parser message passed on, whatever it quotes.
const MAX_MESSAGE_CHARS: usize = 512;

/// Line, column and message of a YAML error; `reference` names the document
/// that shows every key.
pub(super) fn describe(error: &serde_yaml::Error, reference: &str) -> Error {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = shorten(&hide_glued_values(&error.to_string()));
    while let Some(at) = message.find(" at line ") {
        let rest = &message[at + " at line ".len()..];
        let digits_and_column = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(rest.len());
        message.replace_range(at..at + " at line ".len() + digits_and_column, "");
    }
    let remedy = if message.contains("unknown field") {
        format!("; check the spelling ({reference} lists every key)")
    } else if message.contains("duplicate field") {
        "; write each key once".to_owned()
    } else if message.contains("invalid type") || message.contains("invalid value") {
        format!("; see {reference} for the expected form")
    } else {
        String::new()
    };
    message.push_str(&remedy);
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect();
        message.push('…');
    }
    Error {
        line,
        column,
        message,
    }
}

/// An unknown key holding `:`, `=` or a blank is most likely a key and its value
/// written together (`access_key_secret:Zq9…`, a missing space): the value may be
/// a secret, so the key is not repeated.
fn hide_glued_values(message: &str) -> String {
    const START: &str = "unknown field `";
    let Some(from) = message.find(START).map(|at| at + START.len()) else {
        return message.to_owned();
    };
    let end = ["`, expected", "`, there are no fields"]
        .iter()
        .filter_map(|tail| message[from..].rfind(tail))
        .max()
        .map(|at| from + at);
    match end {
        Some(end) if message[from..end].contains([':', '=', ' ', '\t']) => format!(
            "{}(not shown: it holds ':', '=' or a blank, so a value may be written into it; put a space after the key's colon){}",
            &message[..from - 1],
            &message[end + 1..]
        ),
        _ => message.to_owned(),
    }
}

/// Cuts every `` `quoted` `` or `"quoted"` part of a parser's message, and every
/// long word (a key path), to [`EXCERPT_CHARS`] characters: serde quotes the
/// offending key or value whole.
fn shorten(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut chars = message.chars();
    let mut word = 0usize;
    while let Some(c) = chars.next() {
        if c == '`' || c == '"' {
            out.push(c);
            shorten_quoted(&mut out, &mut chars, c);
            word = 0;
        } else if c.is_whitespace() || c == ':' {
            out.push(c);
            word = 0;
        } else {
            word += 1;
            if word <= EXCERPT_CHARS {
                out.push(c);
            } else if word == EXCERPT_CHARS + 1 {
                out.push('…');
            }
        }
    }
    out
}

/// Copies a quoted part up to its closing `quote`, cut to [`EXCERPT_CHARS`] characters.
fn shorten_quoted(out: &mut String, chars: &mut std::str::Chars<'_>, quote: char) {
    let mut escaped = false;
    for (seen, c) in chars.by_ref().enumerate() {
        if c == quote && !escaped {
            if seen > EXCERPT_CHARS {
                out.push('…');
            }
            out.push(c);
            return;
        }
        escaped = quote == '"' && c == '\\' && !escaped;
        if seen < EXCERPT_CHARS {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::from_str;

    #[test]
    fn parser_messages_quote_excerpts_only() {
        let key = "k".repeat(10_000);
        let short = &key[..EXCERPT_CHARS];
        let error = from_str::<std::collections::BTreeMap<String, u8>>(
            &format!("? {key}\n: x\n"),
            "example.yaml",
        )
        .unwrap_err();
        assert_eq!(
            error,
            Error {
                line: 2,
                column: 3,
                message: format!(
                    "{short}…: invalid type: string \"x\", expected u8; see example.yaml for the expected form"
                ),
            }
        );
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            #[serde(default)]
            _a: Option<u8>,
        }
        let error = from_str::<Strict>(&format!("? {key}\n: 1\n"), "example.yaml").unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "unknown field `{short}…`, expected `_a`; check the spelling (example.yaml lists every key)"
            )
        );
        let value = format!("\"{}\\\"{}\"", "v".repeat(100), "w".repeat(100));
        assert_eq!(
            shorten(&format!("invalid value: string {value}, expected x")),
            format!(
                "invalid value: string \"{}…\", expected x",
                "v".repeat(EXCERPT_CHARS)
            )
        );
    }

    #[test]
    fn a_value_glued_to_its_key_is_not_repeated() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Keys {
            #[serde(default)]
            _access_key_secret: Option<String>,
        }
        for text in [
            "{access_key_secret:Zq9SuperSecretValue0123456789ab}\n",
            "access_key_secret Zq9SuperSecretValue0123456789ab: 1\n",
        ] {
            let error = from_str::<Keys>(text, "example.yaml").unwrap_err();
            assert!(!error.message.contains("Zq9"), "{}", error.message);
            assert!(
                error
                    .message
                    .starts_with("unknown field (not shown: it holds ':', '=' or a blank"),
                "{}",
                error.message
            );
        }
        let plain = from_str::<Keys>("secret: 1\n", "example.yaml").unwrap_err();
        assert!(
            plain
                .message
                .starts_with("unknown field `secret`, expected"),
            "{}",
            plain.message
        );
        let tricky = format!("? \"zz` {}\"\n: 1\n", "x ".repeat(400_000));
        let error = from_str::<Keys>(&tricky, "example.yaml").unwrap_err();
        assert!(
            error.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
            "{}",
            error.message.len()
        );
    }
}
