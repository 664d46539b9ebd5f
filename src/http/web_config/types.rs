//! A web configuration as the server uses it, validated, and why one is refused.

use crate::credentials::Secret;
use crate::yaml::DocumentError;
use hyper::header::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a web configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {source}; check the path{hint}", path.display())]
    Read {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
        /// Where the path was given.
        hint: String,
    },
    /// The YAML is malformed, or a key or value is refused where it stands, in
    /// relation to others, or for what a file it names holds.
    #[error(transparent)]
    Document(#[from] DocumentError),
}

/// A validated web configuration; files it names are read when it is applied.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Basic-auth users and their bcrypt hashes; empty means no authentication.
    pub users: BTreeMap<String, PasswordHash>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Where PEM data comes from: a file (relative to the web config file) or the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file path, already joined with the web config file's directory.
    File(PathBuf),
    /// PEM text written in the YAML; a private key stays redacted.
    Inline(Secret),
}

/// How clients must prove who they are, named as Go's `tls.ClientAuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// A certificate is asked for, neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified.
    RequireAnyClientCert,
    /// A certificate is verified against the client CA when one is sent.
    VerifyClientCertIfGiven,
    /// A certificate is required and verified against the client CA.
    RequireAndVerifyClientCert,
}

/// TLS protocol versions rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// Key exchange groups, named as Go names curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// X25519.
    X25519,
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
}

/// The `tls_server_config` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate chain.
    pub cert: Pem,
    /// The server's private key.
    pub key: Pem,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// CAs that sign client certificates.
    pub client_ca: Option<Pem>,
    /// Lowest version offered.
    pub min_version: TlsVersion,
    /// Highest version offered.
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites by IANA name, in preference order; empty means the library's defaults.
    pub cipher_suites: Vec<String>,
    /// Key exchange groups in preference order; empty means the library's defaults.
    pub curves: Vec<Curve>,
    /// Whether the server's order of cipher suites wins over the client's.
    pub prefer_server_cipher_suites: bool,
}

impl TlsSettings {
    /// The files this section reads, to notice when they change.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|pem| match pem {
                Pem::File(path) => Some(path.as_path()),
                Pem::Inline(_) => None,
            })
    }
}

/// The highest bcrypt cost accepted: a check at cost 16 already takes seconds of a core,
/// and each step doubles it; one costlier hash would stall every other check for hours.
pub const MAX_BCRYPT_COST: u32 = 16;

/// A bcrypt hash, checked for form when read; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    hash: Secret,
    cost: u32,
}

impl PasswordHash {
    /// Checks the form of `text` as a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: bcrypt::HashParts = text.parse().map_err(|e| {
            format!("is not a bcrypt hash ({e}); make one with `htpasswd -nBC 10 USER` and keep the part after the colon")
        })?;
        let cost = parts.get_cost();
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(format!(
                "has cost {cost}; this exporter accepts bcrypt costs from 4 to {MAX_BCRYPT_COST} (each step doubles the time of every check); make the hash again with `htpasswd -nBC 10 USER`"
            ));
        }
        Ok(Self {
            hash: Secret::new(text),
            cost,
        })
    }

    /// The hash as written.
    pub fn expose(&self) -> &str {
        self.hash.expose()
    }

    /// The bcrypt cost: each check takes about 2^cost rounds.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordHash(cost {}, <redacted>)", self.cost)
    }
}
