//! What each connection gets from the web config (TLS, authentication, headers),
//! re-read when the file or a file it names changes, as exporter-toolkit does.

use super::basic_auth::BasicAuth;
use super::basic_auth::{Checks, Verdict};
use super::tls;
use super::types::{WebConfig, WebConfigError};
use crate::body::Chunks;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio_rustls::TlsAcceptor;

/// The security applied to one connection.
pub struct Policy {
    tls: Option<TlsAcceptor>,
    auth: Option<BasicAuth>,
    /// Kept while users come and go, so that caches, queue and decoy outlive reloads.
    checks: Option<Arc<Checks>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The certificate, key and CA files it was read from.
    files: Vec<PathBuf>,
}

impl Policy {
    /// Builds the policy `config` asks for, reading the files it names; `path` is its file.
    /// Passwords `previous` verified stay verified where the user's hash did not change.
    pub fn build(
        config: WebConfig,
        path: &str,
        previous: Option<&Policy>,
    ) -> Result<Self, WebConfigError> {
        let tls = match &config.tls {
            Some(settings) => Some(TlsAcceptor::from(Arc::new(tls::server_config(
                settings, path,
            )?))),
            None => None,
        };
        let checks = previous
            .and_then(|p| p.checks.clone())
            .or_else(|| (!config.users.is_empty()).then(|| Arc::new(Checks::fresh())));
        let files = config.files();
        let auth = checks.as_ref().and_then(|checks| {
            BasicAuth::new(
                config.users,
                Arc::clone(checks),
                previous.and_then(|p| p.auth.as_ref()),
            )
        });
        Ok(Self {
            tls,
            files,
            auth,
            checks,
            headers: config.headers,
        })
    }

    /// The TLS acceptor; `None` means plain HTTP.
    pub fn tls(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref()
    }

    /// Whether basic authentication is required.
    pub fn requires_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// `Err` with the answer unless `authorization`, from `client`, carries a configured user's password:
    /// 401, or 429 when too many password checks wait already.
    pub async fn authorize(
        &self,
        authorization: Option<&HeaderValue>,
        client: IpAddr,
    ) -> Result<(), Response<Chunks>> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let mut response = match auth.check(authorization, client).await {
            Verdict::Allowed => return Ok(()),
            Verdict::Denied => {
                let mut response =
                    Response::new(Chunks::from(Bytes::from_static(b"Unauthorized\n")));
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Basic realm=\"aliyun-cas-exporter\", charset=\"UTF-8\"",
                    ),
                );
                response
            }
            Verdict::Busy => {
                let mut response = Response::new(Chunks::from(Bytes::from_static(
                    b"Too many password checks waiting; try again shortly\n",
                )));
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        };
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Err(response)
    }

    /// Adds the configured headers to `response`.
    pub fn decorate(&self, response: &mut Response<Chunks>) {
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

/// Identity of a file's content as far as metadata tells: a change of any part means re-read.
type Stamp = Option<(SystemTime, u64, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    // Follows symbolic links: Kubernetes swaps a Secret's files by re-pointing one.
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino(), meta.dev()))
}

fn stamped(files: impl IntoIterator<Item = PathBuf>) -> Vec<(PathBuf, Stamp)> {
    files
        .into_iter()
        .map(|file| {
            let seen = stamp(&file);
            (file, seen)
        })
        .collect()
}

/// A policy built from the files, with the permission warnings found reading them.
type Built = Result<(Policy, Vec<String>), WebConfigError>;

/// How often the files are looked at, at most: a flood of connections costs no more disk work.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The web config file and the policy last built from it.
pub struct WebGuard {
    path: PathBuf,
    policy: RwLock<Arc<Policy>>,
    /// The files of the running policy, and of any refused attempt since, as last seen.
    seen: Mutex<Vec<(PathBuf, Stamp)>>,
    started: Instant,
    /// Milliseconds since `started` of the last look; `u64::MAX` while one is in progress.
    last_check: AtomicU64,
    warnings: Vec<String>,
}

impl WebGuard {
    /// Reads `path` and the files it names; any fault is an error for the caller to report.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let (seen, policy) = Self::read(path, None);
        let (policy, warnings) = policy?;
        Ok(Self {
            path: path.to_owned(),
            seen: Mutex::new(seen),
            policy: RwLock::new(Arc::new(policy)),
            started: Instant::now(),
            last_check: AtomicU64::new(0),
            warnings,
        })
    }

    /// What [`WebGuard::load`] found wrong with the permissions of the files holding
    /// secrets (also logged, for when logs are set up).
    pub fn permission_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Builds a policy from the files, with each file's stamp taken before it was read,
    /// so that a write racing the read shows as a later change.
    /// Files that group or others may read but should not are logged each time.
    fn read(path: &Path, previous: Option<&Policy>) -> (Vec<(PathBuf, Stamp)>, Built) {
        let mut seen = stamped([path.to_owned()]);
        let config = match WebConfig::load(path) {
            Ok(config) => config,
            Err(error) => return (seen, Err(error)),
        };
        seen.extend(stamped(config.files()));
        let warnings = config.permission_warnings(path);
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let policy = Policy::build(config, &path.display().to_string(), previous);
        (seen, policy.map(|policy| (policy, warnings)))
    }

    /// The running policy, without looking at the files.
    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The running policy; starts a look at the files in the background when one is due,
    /// so that no request waits on the disk and a change applies within about a second.
    pub fn policy(self: &Arc<Self>) -> Arc<Policy> {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_check.load(Ordering::Acquire);
        let due = last != u64::MAX && now.saturating_sub(last) >= CHECK_EVERY.as_millis() as u64;
        if due
            && self
                .last_check
                .compare_exchange(last, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let guard = Arc::clone(self);
            tokio::task::spawn_blocking(move || {
                guard.refresh();
                let done = u64::try_from(guard.started.elapsed().as_millis()).unwrap_or(0);
                guard.last_check.store(done, Ordering::Release);
            });
        }
        self.current()
    }

    /// Rebuilds the policy if a file changed; a change that does not build is logged once
    /// and the running policy stays.
    fn refresh(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.iter().all(|(file, old)| stamp(file) == *old) {
            return;
        }
        let running_policy = self.current();
        // Taken before reading, so that a running file changing meanwhile is noticed next time.
        let running =
            stamped(std::iter::once(self.path.clone()).chain(running_policy.files.iter().cloned()));
        let (attempt, built) = Self::read(&self.path, Some(&running_policy));
        let refusal = match built {
            Ok((policy, _)) if policy.tls.is_some() != running_policy.tls.is_some() => {
                "turning TLS on or off needs a restart".to_owned()
            }
            Ok((policy, _)) => {
                *seen = attempt;
                let policy = Arc::new(policy);
                *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&policy);
                tracing::info!(
                    file = %self.path.display(),
                    tls = policy.tls.is_some(),
                    basic_auth = policy.auth.is_some(),
                    "web config reloaded"
                );
                return;
            }
            Err(error) => error.to_string(),
        };
        // Watch what the refused attempt read and what the running policy reads, so that
        // either one changing brings another attempt; one bad write is reported once.
        let mut watched = attempt;
        for (file, old) in running {
            if !watched.iter().any(|(f, _)| *f == file) {
                watched.push((file, old));
            }
        }
        *seen = watched;
        tracing::error!(
            file = %self.path.display(),
            error = %refusal,
            "web config change refused; the running web config stays: fix the file"
        );
    }
}
