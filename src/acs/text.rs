//! Bounds on text a service sends: whatever a label value or a log line quotes is
//! stripped of control characters and cut to a known length, so that one odd
//! answer cannot corrupt the exposition, split a log line or grow without bound.

use std::borrow::Cow;

/// Longest label value taken from the API (job name, domains, product, status), in bytes.
pub const MAX_LABEL_BYTES: usize = 256;
/// Longest error code or request ID quoted in a log line, in bytes.
pub const MAX_LOGGED_ID_BYTES: usize = 64;
/// Longest service message quoted in a log line, in bytes.
pub const MAX_LOGGED_MESSAGE_BYTES: usize = 1024;
/// Longest server string-to-sign quoted in a log line, in bytes (a real one is well under 2 KiB).
pub const MAX_LOGGED_SIGNATURE_BYTES: usize = 4096;

/// What ends a value that was cut.
const ELLIPSIS: char = '…';

/// `text` without control characters (C0, DEL, C1), cut to at most `max_bytes`
/// bytes on a character boundary; a cut value ends with "…", which counts
/// within `max_bytes`. Borrows when nothing had to change.
pub fn bounded(text: &str, max_bytes: usize) -> Cow<'_, str> {
    let clean = if text.chars().any(hidden) {
        Cow::Owned(text.chars().filter(|c| !hidden(*c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    if clean.len() <= max_bytes {
        return clean;
    }
    let mut end = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
    cut.push_str(&clean[..end]);
    if max_bytes >= ELLIPSIS.len_utf8() {
        cut.push(ELLIPSIS);
    }
    Cow::Owned(cut)
}

/// Characters that change how text around them is shown rather than showing
/// themselves: control characters, and the zero-width, line-separating and
/// direction-changing ones, with which a name could pass for another on a dashboard.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` for a log line that must show exactly what was received: hidden
/// characters written as escapes (`\n`, `\u{202e}`), then cut like [`bounded`].
pub fn escaped(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return bounded(text, max_bytes);
    }
    let shown: String = text
        .chars()
        .map(|c| {
            if hidden(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    Cow::Owned(bounded(&shown, max_bytes).into_owned())
}

/// `text` made fit for a label value; `None` when nothing is left (empty means
/// "not set"). Takes the text whole, so that a value already fit is not copied.
pub fn label_value(text: String) -> Option<String> {
    let value = match bounded(&text, MAX_LABEL_BYTES) {
        Cow::Borrowed(_) => text,
        Cow::Owned(fitted) => fitted,
    };
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strips_controls_and_cuts_on_a_character_boundary() {
        assert!(matches!(
            bounded("cdn-renew", 256),
            Cow::Borrowed("cdn-renew")
        ));
        assert_eq!(bounded("a\0b\nc\r\t\u{7f}\u{85}d\"", 256), "abcd\"");
        assert_eq!(bounded("abcdef", 5), "ab…");
        assert_eq!(bounded("abcde", 5), "abcde");
        // "é" is two bytes: the cut steps back rather than split it.
        assert_eq!(bounded("aéééé", 6), "aé…");
        assert_eq!(bounded("abc", 2), "");
        assert_eq!(bounded(&"x".repeat(1 << 20), 256).len(), 256);
        assert_eq!(label_value("\0\n".into()), None);
        assert_eq!(label_value("ok".into()).as_deref(), Some("ok"));
        assert_eq!(
            bounded("prod\u{202e}gnp.exe\u{2028}\u{200b}x", 256),
            "prodgnp.exex"
        );
    }

    #[test]
    fn escapes_show_what_was_received() {
        assert!(matches!(
            escaped("Throttling.User", 64),
            Cow::Borrowed("Throttling.User")
        ));
        assert_eq!(escaped("Throttling.User\n", 64), "Throttling.User\\n");
        assert_eq!(escaped("Forbidden.RAM\0x", 64), "Forbidden.RAM\\u{0}x");
        assert_eq!(escaped("a\u{202e}b", 64), "a\\u{202e}b");
        assert_eq!(escaped(&"\n".repeat(100), 64).len(), 64);
    }

    proptest! {
        #[test]
        fn any_text_comes_out_bounded_and_clean(text in "\\PC*|[\\x00-\\x1f\u{7f}-\u{9f}a-zé€😀\"\\\\]{0,400}", max in 0usize..300) {
            let out = bounded(&text, max);
            prop_assert!(out.len() <= max, "{} > {}", out.len(), max);
            prop_assert!(!out.chars().any(hidden));
            let kept = out.strip_suffix(ELLIPSIS).unwrap_or(&out);
            let clean: String = text.chars().filter(|c| !hidden(*c)).collect();
            prop_assert!(clean.starts_with(kept));
        }
    }
}
