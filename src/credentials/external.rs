//! Credentials printed by a command: the aliyun CLI's `External` profile mode,
//! run as credentials-go's `ExternalCredentialsProvider` runs it. The command
//! line is split like a POSIX shell would split it (no shell is started), and
//! its standard output is JSON: `mode`, `access_key_id`, `access_key_secret`,
//! `sts_token` (for `StsToken`) and an optional UTC `expiration`.

use super::refresh::{Expiring, FetchFuture, Fetcher};
use super::sts::parse_expiration;
use super::{Credentials, CredentialsError, Secret};
use serde::Deserialize;
use std::fmt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The provider's name in logs and in the `provider` label.
const NAME: &str = "external";
/// The most the command may print: real credentials take under 2 KiB.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// How much of the command's standard error an error message quotes.
const STDERR_SHOWN: usize = 512;
/// How long the command may run. credentials-go waits forever; a helper that
/// hangs must not hold the exporter's start or its refreshes for as long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A profile's `process_command`. Its arguments may carry a token, so only the
/// program is ever shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessCommand(String);

impl ProcessCommand {
    /// Wraps a command line as the profile writes it.
    pub fn new(line: impl Into<String>) -> Self {
        Self(line.into())
    }

    /// The command line split into program and arguments, as a POSIX shell would.
    fn argv(&self) -> Result<Vec<String>, String> {
        let argv = shlex::split(&self.0).ok_or_else(|| {
            "process_command has an unclosed quote or ends in a backslash".to_owned()
        })?;
        if argv.first().is_none_or(String::is_empty) {
            return Err("process_command is empty".to_owned());
        }
        // `TOKEN=... helper` works in a shell, and the value is often a secret:
        // refused without being repeated, since no shell runs the command.
        if is_assignment(&argv[0]) {
            return Err("process_command starts with a variable assignment, which needs a shell, and none runs it; set the variable in the exporter's environment instead".to_owned());
        }
        Ok(argv)
    }

    /// The program alone, for logs and errors.
    pub fn program(&self) -> String {
        match self.argv() {
            Ok(argv) => argv[0].clone(),
            Err(_) => "(an unparsable command)".to_owned(),
        }
    }
}

impl fmt::Debug for ProcessCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProcessCommand({:?} ...)", self.program())
    }
}

/// Whether a word is a shell variable assignment, `NAME=value`.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// What the command prints. Every field is a string, as credentials-go reads it.
#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
    #[serde(default)]
    expiration: String,
}

/// Runs a profile's `process_command` for each fetch.
#[derive(Debug)]
pub struct ExternalCommand {
    /// The command.
    pub command: ProcessCommand,
    /// How long it may run before it is killed.
    pub timeout: Duration,
}

impl Fetcher for ExternalCommand {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let stdout = self.run().await.map_err(|reason| CredentialsError::Fetch {
                provider: NAME,
                reason: format!("{}; check the profile's process_command", reason),
            })?;
            parse_output(&stdout)
        })
    }
}

impl ExternalCommand {
    /// Runs the command and returns what it printed, or why it failed.
    async fn run(&self) -> Result<Vec<u8>, String> {
        let argv = self.command.argv()?;
        let program = &argv[0];
        let mut child = tokio::process::Command::new(program)
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so that stopping it stops what it started too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{program:?} cannot be started: {e}"))?;
        let mut group = StopGroup(child.id());
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // Read apart, and dropped once read: a command that floods its standard
        // error then gets a broken pipe instead of blocking. Kept as it comes and
        // aborted on return: a process the command left behind may hold the pipe open.
        let said = Arc::new(Mutex::new(Vec::new()));
        let mut reading = AbortOnDrop(tokio::spawn(read_stderr(stderr, said.clone())));
        let finished = async {
            let out = read_capped(&mut stdout, MAX_OUTPUT_BYTES).await;
            if matches!(&out, Ok(out) if out.len() > MAX_OUTPUT_BYTES) {
                return (out, None);
            }
            (out, Some(child.wait().await))
        };
        let (out, status) = tokio::time::timeout_at(deadline, finished)
            .await
            .map_err(|_| {
                format!(
                    "{program:?} did not finish within {} s and was stopped",
                    self.timeout.as_secs_f64()
                )
            })?;
        let Some(status) = status else {
            return Err(format!(
                "{program:?} printed more than {} KiB, far more than credentials take, and was stopped",
                MAX_OUTPUT_BYTES / 1024
            ));
        };
        // It ended on its own: what it left running is its business.
        group.0 = None;
        let status = status.map_err(|e| format!("{program:?} cannot be waited for: {e}"))?;
        if !status.success() {
            // Until the deadline at most: what it said ends at the end of the pipe.
            let _ = tokio::time::timeout_at(deadline, &mut reading.0).await;
            let said = shown(&said.lock().unwrap_or_else(|e| e.into_inner()));
            let said = if said.is_empty() {
                String::new()
            } else {
                format!("; it said: {said}")
            };
            return Err(format!("{program:?} failed ({status}){said}"));
        }
        out.map_err(|e| format!("the output of {program:?} cannot be read: {e}"))
    }
}

/// The process group of a command not yet ended, killed when dropped: on a
/// timeout, a flood of output or shutdown.
struct StopGroup(Option<u32>);

impl Drop for StopGroup {
    fn drop(&mut self) {
        let group = self
            .0
            .and_then(|id| rustix::process::Pid::from_raw(id.try_into().ok()?));
        if let Some(group) = group {
            // Already gone is as good as stopped.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads up to `limit` + 1 bytes, so that the caller can tell an output that is too long.
async fn read_capped(
    reader: &mut (impl AsyncRead + Unpin),
    limit: usize,
) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    Ok(buf)
}

/// Appends the start of a command's standard error to `said` as it comes, up to
/// [`STDERR_SHOWN`] bytes, then closes the pipe.
async fn read_stderr(mut stderr: impl AsyncRead + Unpin, said: Arc<Mutex<Vec<u8>>>) {
    let mut chunk = [0; STDERR_SHOWN];
    loop {
        let room = STDERR_SHOWN - said.lock().unwrap_or_else(|e| e.into_inner()).len();
        match stderr.read(&mut chunk[..room]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => said
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&chunk[..n]),
        }
    }
}

/// The start of a command's standard error as one line, without control characters.
fn shown(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(&stderr[..stderr.len().min(STDERR_SHOWN)]);
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the command's output. Errors never quote it: it holds the secret.
fn parse_output(stdout: &[u8]) -> Result<Expiring, CredentialsError> {
    let fail = |reason: String| CredentialsError::Fetch {
        provider: NAME,
        reason,
    };
    let output: Output = serde_json::from_slice(stdout).map_err(|e| {
        fail(format!(
            "the command's output is not the credentials JSON ({:?} error at line {}, column {}); it must print {{\"mode\":\"AK\",\"access_key_id\":...,\"access_key_secret\":...}} or mode StsToken with sts_token",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if output.access_key_id.is_empty() || output.access_key_secret.is_empty() {
        return Err(fail(
            "the command printed no access_key_id or no access_key_secret".to_owned(),
        ));
    }
    // As credentials-go: a temporary key is useless without its token.
    if output.mode == "StsToken" && output.sts_token.is_empty() {
        return Err(fail(
            "the command printed mode StsToken without an sts_token".to_owned(),
        ));
    }
    let expiration = if output.expiration.is_empty() {
        None
    } else {
        Some(parse_expiration(NAME, &output.expiration)?)
    };
    Ok(Expiring {
        credentials: Credentials {
            access_key_id: output.access_key_id,
            access_key_secret: Secret::new(output.access_key_secret),
            security_token: (!output.sts_token.is_empty()).then(|| Secret::new(output.sts_token)),
        },
        expiration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A script in a fresh directory that runs `body` under sh.
    fn script(body: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds helper.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let quoted = shlex::try_quote(path.to_str().unwrap())
            .unwrap()
            .into_owned();
        (dir, quoted)
    }

    fn command(line: &str, timeout: Duration) -> ExternalCommand {
        ExternalCommand {
            command: ProcessCommand::new(line),
            timeout,
        }
    }

    async fn fetch(line: &str) -> Result<Expiring, String> {
        command(line, DEFAULT_TIMEOUT)
            .fetch()
            .await
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn an_access_key_without_expiry_never_expires() {
        let (_dir, path) = script(
            r#"printf '{"mode":"AK","access_key_id":"LTAIext","access_key_secret":"%s"}' "$1""#,
        );
        let got = fetch(&format!("{path} 'the secret'")).await.unwrap();
        assert_eq!(got.credentials.access_key_id, "LTAIext");
        assert_eq!(got.credentials.access_key_secret.expose(), "the secret");
        assert!(got.credentials.security_token.is_none());
        assert_eq!(got.expiration, None);
    }

    #[tokio::test]
    async fn an_sts_token_carries_its_expiry() {
        let (_dir, path) = script(
            r#"echo '{"mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s","sts_token":"tok","expiration":"2030-05-01T14:00:00Z"}'"#,
        );
        let got = fetch(&path).await.unwrap();
        assert_eq!(got.credentials.security_token.unwrap().expose(), "tok");
        assert_eq!(
            got.expiration,
            Some(humantime::parse_rfc3339("2030-05-01T14:00:00Z").unwrap())
        );
    }

    #[tokio::test]
    async fn refusals_say_why_without_quoting_the_output() {
        let cases = [
            (
                r#"echo '{"mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s3cr3t"}'"#,
                "cannot get credentials from external: the command printed mode StsToken without an sts_token",
            ),
            (
                r#"echo '{"mode":"AK","access_key_id":"LTAIx"}'"#,
                "cannot get credentials from external: the command printed no access_key_id or no access_key_secret",
            ),
            (
                r#"echo '{"mode":"AK","access_key_id":"LTAIx","access_key_secret":"s3cr3t"'"#,
                "cannot get credentials from external: the command's output is not the credentials JSON (Eof error at line 2, column 0); it must print {\"mode\":\"AK\",\"access_key_id\":...,\"access_key_secret\":...} or mode StsToken with sts_token",
            ),
            (
                r#"echo '{"mode":"AK","access_key_id":"LTAIx","access_key_secret":"s3cr3t","expiration":"soon"}'"#,
                "cannot get credentials from external: the expiration \"soon\" is not a UTC time such as 2024-05-01T14:00:00Z: timestamp format is invalid",
            ),
        ];
        for (body, expected) in cases {
            let (_dir, path) = script(body);
            let error = fetch(&path).await.unwrap_err();
            assert_eq!(error, expected, "{body}");
            assert!(!error.contains("s3cr3t"), "{error}");
        }
    }

    #[tokio::test]
    async fn a_failing_command_is_reported_with_its_status_and_stderr() {
        let (_dir, path) = script("echo 'token expired,\nrun login' >&2; exit 3");
        let error = fetch(&path).await.unwrap_err();
        assert!(
            error.ends_with(
                "failed (exit status: 3); it said: token expired, run login; check the profile's process_command"
            ),
            "{error}"
        );
        let missing = fetch("/nonexistent/helper --flag").await.unwrap_err();
        assert!(
            missing.starts_with(
                "cannot get credentials from external: \"/nonexistent/helper\" cannot be started: No such file or directory"
            ),
            "{missing}"
        );
        assert_eq!(
            fetch("helper 'unclosed").await.unwrap_err(),
            "cannot get credentials from external: process_command has an unclosed quote or ends in a backslash; check the profile's process_command"
        );
        assert_eq!(
            fetch("  ").await.unwrap_err(),
            "cannot get credentials from external: process_command is empty; check the profile's process_command"
        );
    }

    #[tokio::test]
    async fn a_hanging_or_flooding_command_is_cut_off() {
        let (_dir, path) = script("sleep 30");
        let error = command(&path, Duration::from_millis(300))
            .fetch()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(
                "did not finish within 0.3 s and was stopped; check the profile's process_command"
            ),
            "{error}"
        );
        let (_dir, path) = script("head -c 200000 /dev/zero");
        let error = fetch(&path).await.unwrap_err();
        assert!(
            error.ends_with("printed more than 64 KiB, far more than credentials take, and was stopped; check the profile's process_command"),
            "{error}"
        );
    }

    /// A helper that leaves a process behind holding its standard error: the
    /// failure is still told, with what it said, once the timeout is up at the latest.
    #[tokio::test]
    async fn a_failing_command_whose_child_keeps_stderr_open_does_not_hang() {
        let (dir, path) = script(
            "sleep 120 >/dev/null & echo $! > \"$(dirname \"$0\")/pid\"; echo 'login first' >&2; exit 3",
        );
        let outcome = tokio::time::timeout(
            Duration::from_secs(60),
            command(&path, Duration::from_secs(1)).fetch(),
        )
        .await;
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
        std::process::Command::new("kill")
            .arg(pid.trim())
            .status()
            .unwrap();
        let error = outcome
            .expect("the fetch ends with its timeout")
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(
                "failed (exit status: 3); it said: login first; check the profile's process_command"
            ),
            "{error}"
        );
    }

    /// Whether process `pid` is gone (or dead, waiting to be reaped by its new parent).
    fn ended(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z')
        })
    }

    /// A helper stopped at its timeout takes what it started with it: otherwise
    /// each refetch of a hanging helper would leave one more process behind.
    #[tokio::test]
    async fn a_stopped_command_takes_its_children_with_it() {
        let (dir, path) = script("sleep 120 & echo $! > \"$(dirname \"$0\")/pid\"; wait");
        let error = command(&path, Duration::from_millis(500))
            .fetch()
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("did not finish within 0.5 s"), "{error}");
        let pid = std::fs::read_to_string(dir.path().join("pid")).unwrap();
        let pid = pid.trim();
        for _ in 0..100 {
            if ended(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::process::Command::new("kill")
            .arg(pid)
            .status()
            .unwrap();
        panic!("process {pid}, started by the command, outlived it");
    }

    #[tokio::test]
    async fn a_huge_expiration_is_quoted_in_part() {
        let (_dir, path) = script(
            r#"printf '{"mode":"AK","access_key_id":"LTAIx","access_key_secret":"s","expiration":"%s"}' "$(head -c 60000 /dev/zero | tr '\0' x)""#,
        );
        let error = fetch(&path).await.unwrap_err();
        let quoted = format!("\"{}…\" (60000 bytes in all)", "x".repeat(64));
        assert_eq!(
            error,
            format!(
                "cannot get credentials from external: the expiration {quoted} is not a UTC time such as 2024-05-01T14:00:00Z: timestamp format is invalid"
            )
        );
    }

    #[tokio::test]
    async fn a_leading_variable_assignment_is_refused_without_its_value() {
        let error = fetch("TOKEN=s3cr3t /usr/bin/helper").await.unwrap_err();
        assert_eq!(
            error,
            "cannot get credentials from external: process_command starts with a variable assignment, which needs a shell, and none runs it; set the variable in the exporter's environment instead; check the profile's process_command"
        );
        let command = ProcessCommand::new("TOKEN=s3cr3t /usr/bin/helper");
        assert_eq!(command.program(), "(an unparsable command)");
        assert!(!is_assignment("/opt/a=b/helper"));
        assert!(is_assignment("_X1="));
    }

    #[test]
    fn debug_shows_the_program_only() {
        let command = ProcessCommand::new("/usr/bin/get-creds --token sup3rs3cret");
        assert_eq!(
            format!("{command:?}"),
            "ProcessCommand(\"/usr/bin/get-creds\" ...)"
        );
    }
}
