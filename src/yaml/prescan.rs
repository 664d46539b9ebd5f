//! What is refused before the YAML parser builds anything: flow collections
//! nested too deep (the parser's work grows with the square of the depth) and
//! aliases (they repeat a node without its bytes counting against the file bound).

use super::error::Error;

/// The deepest nesting of `[` and `{` collections accepted. The YAML parser's work
/// grows with the square of this depth; real files nest two or three levels.
pub const MAX_FLOW_DEPTH: usize = 64;

/// What the pre-scan refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `[` / `{` collections nested deeper than [`MAX_FLOW_DEPTH`].
    TooDeep,
    /// An alias (`*name`).
    Alias,
}

/// Refuses `text` at its first token the parser must not see; `reference` names
/// the document that shows every key.
pub(super) fn check(text: &str, reference: &str) -> Result<(), Error> {
    let Some((line, column, refusal)) = refused_token(text) else {
        return Ok(());
    };
    let message = match refusal {
        Refusal::TooDeep => format!(
            "collections nest more than {MAX_FLOW_DEPTH} levels deep; no setting needs more than three (see {reference})"
        ),
        Refusal::Alias => "YAML aliases (*name) are not accepted: write the value out where it is needed (an alias repeats a value without its size counting against the file bound)".to_owned(),
    };
    Err(Error {
        line,
        column,
        message,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::from_str;

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
        let error = from_str::<std::collections::BTreeMap<String, Vec<u8>>>(text, "example.yaml")
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
            from_str("a: &x [1, 2]\n", "example.yaml").unwrap();
        assert_eq!(anchored["a"], [1, 2]);
    }
}
