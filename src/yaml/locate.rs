//! Where a key's value stands in a YAML text, for refusals made after the
//! document was read (a value wrong in relation to the environment or to
//! another key), so that they too name the line.

/// What encloses the node being read: a mapping and the key just read in it,
/// or a sequence and the index of its next entry; each with its dotted path.
enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

/// The 1-based line and column of the value at the dotted `key` (such as
/// `accounts[1].credentials.access_key_secret`, as serde_yaml names paths), or
/// `None` when the text has no such key or cannot be read.
///
/// Run on texts the pre-scan passed (no alias, bounded nesting), so one linear
/// pass of libyaml's own parser decides what is a key, whatever the quoting.
pub(super) fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    use std::mem::MaybeUninit;
    use unsafe_libyaml::{
        YAML_ALIAS_EVENT, YAML_MAPPING_END_EVENT, YAML_MAPPING_START_EVENT, YAML_NO_EVENT,
        YAML_SCALAR_EVENT, YAML_SEQUENCE_END_EVENT, YAML_SEQUENCE_START_EVENT,
        YAML_STREAM_END_EVENT, yaml_event_delete, yaml_event_t, yaml_parser_delete,
        yaml_parser_initialize, yaml_parser_parse, yaml_parser_set_input_string, yaml_parser_t,
    };
    let mut parser = MaybeUninit::<yaml_parser_t>::zeroed();
    // SAFETY: the parser is initialised before use and deleted once, below; the
    // input outlives it; each event is read (its scalar copied out), then
    // deleted before the next is parsed.
    unsafe {
        if !yaml_parser_initialize(parser.as_mut_ptr()).ok {
            return None;
        }
        yaml_parser_set_input_string(parser.as_mut_ptr(), text.as_ptr(), text.len() as _);
        let mut stack: Vec<Frame> = Vec::new();
        let found = loop {
            let mut event = MaybeUninit::<yaml_event_t>::zeroed();
            if !yaml_parser_parse(parser.as_mut_ptr(), event.as_mut_ptr()).ok {
                break None;
            }
            let (kind, mark, scalar) = {
                let event = &*event.as_ptr();
                let scalar = (event.type_ == YAML_SCALAR_EVENT).then(|| {
                    let scalar = event.data.scalar;
                    let bytes = std::slice::from_raw_parts(scalar.value, scalar.length as usize);
                    String::from_utf8_lossy(bytes).into_owned()
                });
                (event.type_, event.start_mark, scalar)
            };
            yaml_event_delete(event.as_mut_ptr());
            match kind {
                YAML_STREAM_END_EVENT | YAML_NO_EVENT => break None,
                YAML_SEQUENCE_END_EVENT | YAML_MAPPING_END_EVENT => {
                    stack.pop();
                    continue;
                }
                YAML_SCALAR_EVENT
                | YAML_ALIAS_EVENT
                | YAML_SEQUENCE_START_EVENT
                | YAML_MAPPING_START_EVENT => {}
                _ => continue,
            }
            let path = match stack.last_mut() {
                Some(Frame::Map {
                    key: slot @ None, ..
                }) => match scalar {
                    Some(name) => {
                        *slot = Some(name);
                        continue;
                    }
                    // A collection as a key: no dotted path names what is inside.
                    None => break None,
                },
                Some(Frame::Map {
                    path,
                    key: slot @ Some(_),
                }) => {
                    let name = slot.take().unwrap_or_default();
                    if path.is_empty() {
                        name
                    } else {
                        format!("{path}.{name}")
                    }
                }
                Some(Frame::Seq { path, index }) => {
                    *index += 1;
                    format!("{path}[{}]", *index - 1)
                }
                None => String::new(),
            };
            if path == key {
                break Some((mark.line as usize + 1, mark.column as usize + 1));
            }
            if kind == YAML_SEQUENCE_START_EVENT {
                stack.push(Frame::Seq { path, index: 0 });
            } else if kind == YAML_MAPPING_START_EVENT {
                stack.push(Frame::Map { path, key: None });
            }
        };
        yaml_parser_delete(parser.as_mut_ptr());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_their_dotted_path() {
        let text = "jobs: [1, 2]\naccounts:\n  - name: a\n    credentials: {access_key_id: x}\n  - name: \"b\"\n    credentials:\n      'access_key_secret': ${S}\n";
        for (key, at) in [
            ("jobs", Some((1, 7))),
            ("jobs[1]", Some((1, 11))),
            ("accounts[0].credentials.access_key_id", Some((4, 34))),
            ("accounts[1].name", Some((5, 11))),
            ("accounts[1].credentials.access_key_secret", Some((7, 28))),
            ("accounts[2]", None),
            ("credentials", None),
        ] {
            assert_eq!(locate(text, key), at, "{key}");
        }
        assert_eq!(locate("[unclosed\n", "x"), None);
        assert_eq!(locate("? [a]\n: 1\nk: v\n", "k"), None);
    }
}
