//! Untrusted input within bounds: the files the exporter is given (the config,
//! the web config, the simulator's spec, credential files) are read only up to a
//! size, values quoted back in error messages are cut to a short excerpt, and
//! files holding secrets are warned about when others may read them.
//! YAML documents are read by [`crate::yaml`], on top of this.

use std::io::Read;
use std::path::Path;

/// The largest YAML file read: real files are a few kilobytes, and the YAML
/// parser's memory grows with the file, so anything larger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

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

/// A warning when `path`, which holds `what` (a secret), is readable by group or
/// others; `None` when it is not, or when its mode cannot be read.
pub fn permission_warning(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{path} holds {what} and is readable by group or others (mode {:o}): run chmod 600 {path}",
            mode & 0o777,
            path = path.display()
        )
    })
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
}
