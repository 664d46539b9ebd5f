//! What the tests of the operations kit (alert rules, dashboard) share: the
//! repository's files, the Prometheus tools, and the metric names a PromQL
//! expression uses, judged against docs/metrics.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a Prometheus tool; CI installs them (Debian's `prometheus` package).
pub fn tool(name: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut command = Command::new(name);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{name} is needed for this test ({e}); install Debian's `prometheus` package, as .ci/run does"));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Every metric-looking name in a PromQL expression (`aliyun_cas_…` or `process_…`).
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = (bytes[i].is_ascii_alphabetic() || bytes[i] == '_')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_'));
        if starts {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            if word.starts_with("aliyun_cas_") || word.starts_with("process_") {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// A documented family, allowing the histogram series suffixes.
pub fn is_documented(name: &str, table: &BTreeMap<String, (String, Vec<String>, String)>) -> bool {
    table.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|s| {
            name.strip_suffix(s).is_some_and(|base| {
                table
                    .get(base)
                    .is_some_and(|(kind, _, _)| kind == "histogram")
            })
        })
}
