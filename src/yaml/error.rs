//! How a YAML document is refused: located by line and column, or by key.

/// A YAML text refused: where, and why with a remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based line (0 when the parser gives no position).
    pub line: usize,
    /// 1-based column (0 when the parser gives no position).
    pub column: usize,
    /// What is wrong and what to do, with any quoted value cut to an excerpt.
    pub message: String,
}

impl Error {
    /// This refusal, in the document named `path`.
    pub fn in_document(self, path: &str) -> DocumentError {
        DocumentError::Syntax {
            path: path.to_owned(),
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

/// A YAML document refused, and where in it: the one shape of every such refusal,
/// whichever file it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The YAML is malformed, or a key or value is refused where it stands.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The document.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },
    /// A value is wrong in relation to others, refers to something missing, or
    /// names a file that holds the wrong thing.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The document.
        path: String,
        /// The key, as a dotted path.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

impl DocumentError {
    /// The value at the dotted `key` of the document named `path`, refused.
    pub fn invalid(path: &str, key: &str, message: impl Into<String>) -> Self {
        DocumentError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// As [`DocumentError::invalid`], with the line and column of the value at `key`
    /// in `text` when it is there (a key left out to take its default is not).
    pub fn invalid_at(path: &str, text: &str, key: &str, message: impl Into<String>) -> Self {
        match super::locate::locate(text, key) {
            Some((line, column)) => DocumentError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: format!("{key}: {}", message.into()),
            },
            None => Self::invalid(path, key, message),
        }
    }
}
