//! What each connection gets from the web config (TLS, authentication, headers),
//! re-read when the file or a file it names changes, as exporter-toolkit does.

use super::{BasicAuth, WebConfig, WebConfigError, tls};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode, header::AUTHORIZATION};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

/// The security applied to one connection.
pub struct Policy {
    tls: Option<TlsAcceptor>,
    auth: Option<BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Policy {
    /// Builds the policy `config` asks for, reading the files it names; `path` is its file.
    pub fn build(config: WebConfig, path: &str) -> Result<Self, WebConfigError> {
        let tls = match &config.tls {
            Some(settings) => Some(TlsAcceptor::from(Arc::new(tls::server_config(
                settings, path,
            )?))),
            None => None,
        };
        Ok(Self {
            tls,
            auth: BasicAuth::new(config.users),
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

    /// `Err` with a 401 answer unless the request carries a configured user's password.
    pub async fn authorize(&self, headers: &HeaderMap) -> Result<(), Response<Full<Bytes>>> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if auth.allows(headers.get(AUTHORIZATION)).await {
            return Ok(());
        }
        let mut response = Response::new(Full::new(Bytes::from_static(b"Unauthorized\n")));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"aliyun-cas-exporter\", charset=\"UTF-8\""),
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Err(response)
    }

    /// Adds the configured headers to `response`.
    pub fn decorate(&self, response: &mut Response<Full<Bytes>>) {
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

struct Live {
    stamps: Vec<(PathBuf, Stamp)>,
    policy: Arc<Policy>,
}

/// The web config file and the policy last built from it.
pub struct WebGuard {
    path: PathBuf,
    live: Mutex<Live>,
}

impl WebGuard {
    /// Reads `path` and the files it names; any fault is an error for the caller to report.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let (stamps, policy) = Self::read(path)?;
        Ok(Self {
            path: path.to_owned(),
            live: Mutex::new(Live {
                stamps,
                policy: Arc::new(policy),
            }),
        })
    }

    fn read(path: &Path) -> Result<(Vec<(PathBuf, Stamp)>, Policy), WebConfigError> {
        // Stamped before reading, so that a write racing the read shows as a later change.
        let own = stamp(path);
        let config = WebConfig::load(path)?;
        let mut stamps = vec![(path.to_owned(), own)];
        stamps.extend(config.files().into_iter().map(|f| {
            let s = stamp(&f);
            (f, s)
        }));
        let policy = Policy::build(config, &path.display().to_string())?;
        Ok((stamps, policy))
    }

    /// The policy for a new connection, rebuilt first if a file changed; a change
    /// that does not build is logged once and the running policy stays.
    pub fn policy(&self) -> Arc<Policy> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let changed = live.stamps.iter().any(|(file, old)| stamp(file) != *old);
        if !changed {
            return Arc::clone(&live.policy);
        }
        match Self::read(&self.path) {
            Ok((stamps, policy)) if policy.tls.is_some() != live.policy.tls.is_some() => {
                live.stamps = stamps;
                tracing::error!(
                    file = %self.path.display(),
                    "web config change refused: turning TLS on or off needs a restart; the running web config stays"
                );
            }
            Ok((stamps, policy)) => {
                live.stamps = stamps;
                live.policy = Arc::new(policy);
                tracing::info!(
                    file = %self.path.display(),
                    tls = live.policy.tls.is_some(),
                    basic_auth = live.policy.auth.is_some(),
                    "web config reloaded"
                );
            }
            Err(error) => {
                // Remember what was seen, so that one bad write is reported once, not per connection.
                for (file, old) in &mut live.stamps {
                    *old = stamp(file);
                }
                tracing::error!(
                    %error,
                    "web config change refused; the running web config stays: fix the file"
                );
            }
        }
        Arc::clone(&live.policy)
    }
}
