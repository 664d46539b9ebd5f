//! Untrusted input within bounds: the files the exporter is given (the config,
//! the web config, the simulator's spec) are read only up to a size and refused
//! before parsing when nested deeper than any real file is, and values quoted
//! back in error messages are cut to a short excerpt.

use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::Path;

/// The largest YAML file read: real files are a few kilobytes, and the YAML
/// parser's memory grows with the file, so anything larger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The deepest nesting of `[` and `{` collections accepted. The YAML parser's work
/// grows with the square of this depth; real files nest two or three levels.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Characters of a value quoted in an error message; the rest is left out.
pub const EXCERPT_CHARS: usize = 64;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("it is larger than {} KiB, far more than any valid file", MAX_FILE_BYTES / 1024)]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("it is not UTF-8 text")]
    NotText,
}

impl From<ReadError> for std::io::Error {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(error) => error,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Reads `path` as text, refusing files over [`MAX_FILE_BYTES`] without reading
/// them whole. A leading UTF-8 byte-order mark is dropped, as YAML allows one.
pub fn read_bounded(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    // Reading one byte past the bound tells a file at the bound from a larger one,
    // even for files whose size the metadata does not know (pipes, /proc).
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| ReadError::NotText)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Where a YAML text nests `[` / `{` collections deeper than [`MAX_FLOW_DEPTH`]:
/// the 1-based line and column of the first bracket too deep.
///
/// This scans, rather than parses, so it costs one pass whatever the input. It
/// knows quoted scalars and comments, and that a bracket inside a plain scalar of
/// block context (`name_include: ^a[bc]$`) opens nothing.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let (mut line, mut column) = (1usize, 0usize);
    let mut chars = text.chars().peekable();
    // Whether the next non-blank character starts a token (a scalar or a collection).
    let mut token_start = true;
    let mut in_plain = false;
    let mut previous = '\n';
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            token_start = true;
            in_plain = false;
            previous = c;
            continue;
        }
        if c == '#' && (previous.is_whitespace() || previous == '\n') {
            for next in chars.by_ref() {
                if next == '\n' {
                    line += 1;
                    column = 0;
                    break;
                }
            }
            token_start = true;
            in_plain = false;
            previous = '\n';
            continue;
        }
        match c {
            _ if c.is_whitespace() => {}
            '[' | '{' if depth > 0 || token_start => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some((line, column));
                }
                token_start = true;
                in_plain = false;
            }
            ']' | '}' if depth > 0 => {
                depth -= 1;
                token_start = false;
                in_plain = false;
            }
            ',' if depth > 0 => {
                token_start = true;
                in_plain = false;
            }
            '\'' | '"' if token_start => {
                let quote = c;
                while let Some(next) = chars.next() {
                    column += 1;
                    if next == '\n' {
                        line += 1;
                        column = 0;
                    } else if next == '\\' && quote == '"' {
                        if chars.next().is_some() {
                            column += 1;
                        }
                    } else if next == quote {
                        // '' inside single quotes is an escaped quote, not the end.
                        if quote == '\'' && chars.peek() == Some(&'\'') {
                            chars.next();
                            column += 1;
                        } else {
                            break;
                        }
                    }
                }
                token_start = false;
            }
            ':' | '-' | '?' if !in_plain || chars.peek().is_none_or(|n| n.is_whitespace()) => {
                // `key: value`, `- item` and `? key` start a new token after them.
                let ends_indicator = chars.peek().is_none_or(|n| n.is_whitespace());
                if ends_indicator {
                    token_start = true;
                    in_plain = false;
                } else {
                    token_start = false;
                    in_plain = true;
                }
            }
            _ => {
                token_start = false;
                in_plain = depth == 0 || in_plain;
            }
        }
        previous = c;
    }
    None
}

/// A YAML document refused: where, and why with a remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line (0 when the parser gives no position).
    pub line: usize,
    /// 1-based column (0 when the parser gives no position).
    pub column: usize,
    /// What is wrong and what to do, with any quoted value cut to an excerpt.
    pub message: String,
}

/// Reads `text` into `T`, refusing nesting deeper than [`MAX_FLOW_DEPTH`] before
/// the parser sees it. `reference` names the document that shows every key.
pub fn from_yaml<T: DeserializeOwned>(text: &str, reference: &str) -> Result<T, YamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some((line, column)) = too_deep(text) {
        return Err(YamlError {
            line,
            column,
            message: format!(
                "collections nest more than {MAX_FLOW_DEPTH} levels deep; no setting needs more than three (see {reference})"
            ),
        });
    }
    serde_yaml::from_str(text).map_err(|error| describe_yaml_error(&error, reference))
}

/// Line, column and message of a YAML error, the message without serde_yaml's
/// own position suffixes, quoted values cut short, and a remedy where serde's
/// words lack one.
fn describe_yaml_error(error: &serde_yaml::Error, reference: &str) -> YamlError {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let mut message = shorten(&error.to_string());
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
    YamlError {
        line,
        column,
        message,
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

/// `value` quoted for an error message: at most [`EXCERPT_CHARS`] characters, with
/// control characters escaped and the length of what was left out said.
pub fn excerpt(value: &str) -> String {
    let mut shown: String = value.chars().take(EXCERPT_CHARS).collect();
    let cut = shown.len() < value.len();
    shown = format!("{shown:?}");
    if cut {
        shown.pop();
        shown.push_str(&format!("…\" ({} bytes in all)", value.len()));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_quote_excerpts_only() {
        let key = "k".repeat(10_000);
        let short = &key[..EXCERPT_CHARS];
        let error = from_yaml::<std::collections::BTreeMap<String, u8>>(
            &format!("? {key}\n: x\n"),
            "example.yaml",
        )
        .unwrap_err();
        assert_eq!(
            error,
            YamlError {
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
        let error = from_yaml::<Strict>(&format!("? {key}\n: 1\n"), "example.yaml").unwrap_err();
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
    fn a_byte_order_mark_and_deep_nesting_are_handled_before_parsing() {
        let ids: Vec<u64> = from_yaml("\u{feff}[1, 2]\n", "example.yaml").unwrap();
        assert_eq!(ids, [1, 2]);
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = from_yaml::<Vec<u64>>(&deep, "example.yaml").unwrap_err();
        assert_eq!(
            (error.line, error.column, error.message.as_str()),
            (
                1,
                MAX_FLOW_DEPTH + 1,
                "collections nest more than 64 levels deep; no setting needs more than three (see example.yaml)"
            )
        );
    }

    #[test]
    fn excerpts_are_short_and_say_what_was_cut() {
        assert_eq!(excerpt("30x"), "\"30x\"");
        assert_eq!(excerpt("a\0b\nc"), "\"a\\0b\\nc\"");
        let long = "x".repeat(1_000_000);
        assert_eq!(
            excerpt(&long),
            format!("\"{}…\" (1000000 bytes in all)", "x".repeat(EXCERPT_CHARS))
        );
        let wide = "é".repeat(100);
        assert_eq!(
            excerpt(&wide),
            format!("\"{}…\" (200 bytes in all)", "é".repeat(EXCERPT_CHARS))
        );
    }

    #[test]
    fn files_over_the_bound_are_refused_and_a_bom_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let at_bound = dir.path().join("at");
        std::fs::write(&at_bound, vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(
            read_bounded(&at_bound).unwrap().len(),
            MAX_FILE_BYTES as usize
        );
        let over = dir.path().join("over");
        std::fs::write(&over, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_bounded(&over), Err(ReadError::TooLarge)));
        let bom = dir.path().join("bom");
        std::fs::write(&bom, "\u{feff}jobs: [1]\n").unwrap();
        assert_eq!(read_bounded(&bom).unwrap(), "jobs: [1]\n");
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(read_bounded(&binary), Err(ReadError::NotText)));
        assert!(matches!(
            read_bounded(&dir.path().join("missing")),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn flow_nesting_is_bounded_where_it_opens() {
        let at_bound = format!(
            "jobs: {}{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(too_deep(&at_bound), None);
        let over = format!("a: 1\njobs: {}\n", "[".repeat(100_000));
        assert_eq!(too_deep(&over), Some((2, 7 + MAX_FLOW_DEPTH)));
        let maps = format!("x: {}", "{a: ".repeat(MAX_FLOW_DEPTH + 1));
        assert_eq!(too_deep(&maps), Some((1, 4 + 4 * MAX_FLOW_DEPTH)));
        let listed = format!("- {}", "- [".repeat(MAX_FLOW_DEPTH + 1));
        assert!(too_deep(&listed).is_some());
    }

    #[test]
    fn brackets_that_open_nothing_are_not_counted() {
        let deep = "[".repeat(MAX_FLOW_DEPTH + 1);
        for text in [
            format!("name_include: ^a{deep}$\n"),
            format!("name_include: '{deep}'\n"),
            format!("name_include: '{deep}''{deep}'\n"),
            format!("name_include: \"\\\"{deep}\"\n"),
            format!("# {deep}\njobs: [1]\n"),
            format!("jobs: [1] # {deep}\n"),
            format!("key:{deep}\n"),
            format!("- a-{deep}\n"),
        ] {
            assert_eq!(too_deep(&text), None, "{text}");
        }
    }
}
