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
    /// The path names a directory, a FIFO, a device or a socket.
    #[error("it is not a regular file")]
    NotAFile,
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
/// them whole. A byte-order mark is left for the format's reader: YAML allows one,
/// the credential files' official readers do not.
pub fn read_bounded(path: &Path) -> Result<String, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    // Opening a FIFO for reading would wait for a writer, holding a reload (and
    // with it shutdown) for ever: open without waiting, then take regular files only.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(ReadError::NotAFile);
    }
    let mut bytes = Vec::new();
    // Reading one byte past the bound tells a file at the bound from a larger one,
    // even for files whose size the metadata does not know (pipes, /proc).
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

/// What the pre-scan refuses before the parser builds anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `[` / `{` collections nested deeper than [`MAX_FLOW_DEPTH`].
    TooDeep,
    /// An alias (`*name`): it repeats a node without its bytes counting against the file bound.
    Alias,
}

/// The first token of `text` the parser must not see, with its 1-based line and
/// column; `None` when there is none, or when the text is malformed (the parser
/// then says where).
///
/// libyaml's own scanner decides what is a collection and what is an alias, so no
/// quoting, tag or block scalar can hide one; its work per token grows with the
/// flow depth, which stops at [`MAX_FLOW_DEPTH`] here, so this pass is linear.
fn refused_token(text: &str) -> Option<(usize, usize, Refusal)> {
    use std::mem::MaybeUninit;
    use unsafe_libyaml::{
        YAML_ALIAS_TOKEN, YAML_FLOW_MAPPING_END_TOKEN, YAML_FLOW_MAPPING_START_TOKEN,
        YAML_FLOW_SEQUENCE_END_TOKEN, YAML_FLOW_SEQUENCE_START_TOKEN, YAML_NO_TOKEN,
        YAML_STREAM_END_TOKEN, yaml_parser_delete, yaml_parser_initialize, yaml_parser_scan,
        yaml_parser_set_input_string, yaml_parser_t, yaml_token_delete, yaml_token_t,
    };
    let mut parser = MaybeUninit::<yaml_parser_t>::zeroed();
    // SAFETY: the parser is initialised before use and deleted once, below; the
    // input outlives it; each token is read, then deleted before the next scan.
    unsafe {
        if !yaml_parser_initialize(parser.as_mut_ptr()).ok {
            return None;
        }
        yaml_parser_set_input_string(parser.as_mut_ptr(), text.as_ptr(), text.len() as _);
        let mut depth = 0usize;
        let found = loop {
            let mut token = MaybeUninit::<yaml_token_t>::zeroed();
            if !yaml_parser_scan(parser.as_mut_ptr(), token.as_mut_ptr()).ok {
                break None;
            }
            let (kind, mark) = {
                let token = &*token.as_ptr();
                (token.type_, token.start_mark)
            };
            yaml_token_delete(token.as_mut_ptr());
            let at = |refusal| Some((mark.line as usize + 1, mark.column as usize + 1, refusal));
            match kind {
                YAML_STREAM_END_TOKEN | YAML_NO_TOKEN => break None,
                YAML_ALIAS_TOKEN => break at(Refusal::Alias),
                YAML_FLOW_SEQUENCE_START_TOKEN | YAML_FLOW_MAPPING_START_TOKEN => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        break at(Refusal::TooDeep);
                    }
                }
                YAML_FLOW_SEQUENCE_END_TOKEN | YAML_FLOW_MAPPING_END_TOKEN => {
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
        };
        yaml_parser_delete(parser.as_mut_ptr());
        found
    }
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
    if let Some((line, column, refusal)) = refused_token(text) {
        let message = match refusal {
            Refusal::TooDeep => format!(
                "collections nest more than {MAX_FLOW_DEPTH} levels deep; no setting needs more than three (see {reference})"
            ),
            Refusal::Alias => "YAML aliases (*name) are not accepted: write the value out where it is needed (an alias repeats a value without its size counting against the file bound)".to_owned(),
        };
        return Err(YamlError {
            line,
            column,
            message,
        });
    }
    serde_yaml::from_str(text).map_err(|error| describe_yaml_error(&error, reference))
}

/// Line, column and message of a YAML error, the message without serde_yaml's
/// own position suffixes, quoted values cut short, and a remedy where serde's
/// words lack one.
fn describe_yaml_error(error: &serde_yaml::Error, reference: &str) -> YamlError {
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
    YamlError {
        line,
        column,
        message,
    }
}

/// The longest parser message passed on, whatever it quotes.
const MAX_MESSAGE_CHARS: usize = 512;

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
            let error = from_yaml::<Keys>(text, "example.yaml").unwrap_err();
            assert!(!error.message.contains("Zq9"), "{}", error.message);
            assert!(
                error
                    .message
                    .starts_with("unknown field (not shown: it holds ':', '=' or a blank"),
                "{}",
                error.message
            );
        }
        let plain = from_yaml::<Keys>("secret: 1\n", "example.yaml").unwrap_err();
        assert!(
            plain
                .message
                .starts_with("unknown field `secret`, expected"),
            "{}",
            plain.message
        );
        let tricky = format!("? \"zz` {}\"\n: 1\n", "x ".repeat(400_000));
        let error = from_yaml::<Keys>(&tricky, "example.yaml").unwrap_err();
        assert!(
            error.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
            "{}",
            error.message.len()
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
    fn files_over_the_bound_are_refused_and_others_read_as_they_are() {
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
        assert_eq!(read_bounded(&bom).unwrap(), "\u{feff}jobs: [1]\n");
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe, 0]).unwrap();
        assert!(matches!(read_bounded(&binary), Err(ReadError::NotText)));
        assert!(matches!(
            read_bounded(&dir.path().join("missing")),
            Err(ReadError::Io(_))
        ));
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_bounded(&fifo), Err(ReadError::NotAFile)));
        assert!(matches!(read_bounded(dir.path()), Err(ReadError::NotAFile)));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero")),
            Err(ReadError::NotAFile)
        ));
    }

    #[test]
    fn flow_nesting_is_bounded_where_it_opens() {
        let deep = |n: usize| "[".repeat(n);
        let at_bound = format!(
            "jobs: {}{}\n",
            deep(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(refused_token(&at_bound), None);
        let over = format!("a: 1\njobs: {}\n", deep(100_000));
        assert_eq!(
            refused_token(&over),
            Some((2, 7 + MAX_FLOW_DEPTH, Refusal::TooDeep))
        );
        let maps = format!("x: {}", "{a: ".repeat(MAX_FLOW_DEPTH + 1));
        assert_eq!(
            refused_token(&maps),
            Some((1, 4 + 4 * MAX_FLOW_DEPTH, Refusal::TooDeep))
        );
        // What a hand-written scanner missed: collections after a tag, an anchor or
        // a document marker, after a block scalar or a plain scalar's continuation
        // line holding a quote.
        for (prefix, line) in [
            ("jobs: !t ", 1),
            ("jobs: &a ", 1),
            ("--- ", 1),
            ("x: |\n  \"\n  '\ny: ", 4),
            ("x: >-\n  \"\ny: ", 3),
            ("key: foo\n  \"bar\ny: ", 3),
            ("# \"\ny: ", 2),
            ("? ", 1),
        ] {
            let text = format!("{prefix}{}\n", deep(100_000));
            assert!(
                matches!(refused_token(&text), Some((l, _, Refusal::TooDeep)) if l == line),
                "{prefix:?}: {:?}",
                refused_token(&text)
            );
        }
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
            format!("x: |\n  {deep}\n"),
            format!("- a-{deep}\n"),
        ] {
            assert_eq!(refused_token(&text), None, "{text}");
        }
    }

    #[test]
    fn aliases_are_refused_where_they_stand() {
        let text = "a: &x [1, 2]\nb: *x\n";
        assert_eq!(refused_token(text), Some((2, 4, Refusal::Alias)));
        let error = from_yaml::<std::collections::BTreeMap<String, Vec<u8>>>(text, "example.yaml")
            .unwrap_err();
        assert_eq!((error.line, error.column), (2, 4));
        assert!(
            error
                .message
                .starts_with("YAML aliases (*name) are not accepted"),
            "{}",
            error.message
        );
        // An anchor alone repeats nothing: it is parsed as usual.
        let anchored: std::collections::BTreeMap<String, Vec<u8>> =
            from_yaml("a: &x [1, 2]\n", "example.yaml").unwrap();
        assert_eq!(anchored["a"], [1, 2]);
    }
}
