//! Writing the job families a family at a time, in chunks, in either format:
//! label values escaped, a family's header written with its first sample.

use super::contract::MetricDef;
use super::format::{Format, header};
use std::fmt;
use std::io::{self, Write};

/// Writes the exposition in chunks of about this size, so that a large
/// exposition never sits whole in memory on its way to the compressor.
const CHUNK: usize = 64 << 10;

/// Writes label values escaped (backslash, double quote, newline) and samples, a family at a time.
pub(super) struct Writer<'a, W: Write> {
    out: &'a mut W,
    format: Format,
    buf: Vec<u8>,
    /// The family being written and whether its header is out yet.
    family: Option<(&'static MetricDef, bool)>,
}

impl<'a, W: Write> Writer<'a, W> {
    pub(super) fn new(out: &'a mut W, format: Format) -> Self {
        Self {
            out,
            format,
            buf: Vec::with_capacity(CHUNK + 4096),
            family: None,
        }
    }

    /// Starts a family; its header is written with its first sample, so an empty family writes nothing.
    pub(super) fn family(&mut self, def: &'static MetricDef) {
        self.family = Some((def, false));
    }

    /// Writes `name{labels} value`; `labels` writes the label pairs.
    pub(super) fn sample(
        &mut self,
        labels: impl FnOnce(&mut Vec<u8>),
        value: impl fmt::Display,
    ) -> io::Result<()> {
        let Some((def, started)) = &mut self.family else {
            return Ok(());
        };
        if !*started {
            *started = true;
            header(
                &mut self.buf,
                self.format,
                def.name,
                def.kind.as_str(),
                def.help,
            );
        }
        self.buf.extend_from_slice(def.name.as_bytes());
        self.buf.push(b'{');
        labels(&mut self.buf);
        let _ = writeln!(self.buf, "}} {value}");
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out what is buffered.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Appends `value` as a label value: backslash, double quote and newline escaped.
fn escaped(buf: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\n' => buf.extend_from_slice(b"\\n"),
            other => buf.push(other),
        }
    }
}

/// Appends `name="value"`, with a leading comma unless it is the first pair.
pub(super) fn label(buf: &mut Vec<u8>, name: &str, value: &str) {
    if buf.last() != Some(&b'{') {
        buf.push(b',');
    }
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"=\"");
    escaped(buf, value);
    buf.push(b'"');
}

/// Appends `account="…",job_id="…"`.
pub(super) fn job_labels(buf: &mut Vec<u8>, account: &str, id: u64) {
    label(buf, "account", account);
    number_label(buf, "job_id", id);
}

/// Appends `name="value"` for a number, which needs no escaping (and no allocation).
pub(super) fn number_label(buf: &mut Vec<u8>, name: &str, value: u64) {
    if buf.last() != Some(&b'{') {
        buf.push(b',');
    }
    let _ = write!(buf, "{name}=\"{value}\"");
}

/// A Unix time with millisecond precision.
pub(super) struct Seconds(pub(super) f64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}
