//! The `--web.config.file`: TLS, basic authentication and extra headers, in the
//! exporter-toolkit format so that files written for other exporters work here.

mod basic_auth;
mod guard;
mod tls;

pub use basic_auth::{
    BasicAuth, Checks, DECOY_COST, FAILURE_CACHE_SIZE, MAX_WAITING_CHECKS, MAX_WAITING_PER_CLIENT,
    Verdict,
};
pub use guard::{Policy, WebGuard};

use crate::credentials::Secret;
use crate::yaml::DocumentError;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The documentation that lists every key, named in error messages.
const REFERENCE: &str = "the README's \"Web configuration\" section";

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

impl WebConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        let text = crate::input::read_bounded(path).map_err(|source| WebConfigError::Read {
            what: "web config file",
            path: path.to_owned(),
            source: source.into(),
            hint: " given to --web.config.file".into(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Validates `text`, read from `path`; relative file names are joined with `base`.
    pub fn parse(text: &str, path: &str, base: &Path) -> Result<Self, WebConfigError> {
        let raw: Option<RawWebConfig> = if text.trim().is_empty() {
            None
        } else {
            crate::yaml::from_str(text, REFERENCE).map_err(|error| error.in_document(path))?
        };
        let Some(raw) = raw else {
            return Ok(Self::default());
        };
        let invalid = |key: &str, message: &str| DocumentError::invalid(path, key, message);
        let tls = match raw.tls_server_config {
            Some(section) if section.is_enabled() => Some(section.validate(base, &invalid)?),
            _ => None,
        };
        let http = raw.http_server_config.unwrap_or_default();
        Ok(Self {
            tls,
            users: raw.basic_auth_users.unwrap_or_default(),
            headers: http.headers.map(|h| h.0).unwrap_or_default(),
        })
    }

    /// Warnings for files holding secrets that group or others may read: `path` itself
    /// when it holds password hashes or an inline key, and the TLS key file.
    pub fn permission_warnings(&self, path: &Path) -> Vec<String> {
        let inline_key = matches!(
            self.tls,
            Some(TlsSettings {
                key: Pem::Inline(_),
                ..
            })
        );
        let mut warnings = Vec::new();
        let what = match (self.users.is_empty(), inline_key) {
            (false, true) => Some("password hashes and a TLS private key"),
            (false, false) => Some("password hashes"),
            (true, true) => Some("a TLS private key"),
            (true, false) => None,
        };
        if let Some(what) = what {
            warnings.extend(permission_warning(path, what));
        }
        if let Some(TlsSettings {
            key: Pem::File(key),
            ..
        }) = &self.tls
        {
            warnings.extend(permission_warning(key, "a TLS private key"));
        }
        warnings
    }

    /// Every file this configuration reads besides itself.
    pub fn files(&self) -> Vec<PathBuf> {
        self.tls
            .iter()
            .flat_map(TlsSettings::files)
            .map(Path::to_path_buf)
            .collect()
    }
}

/// A warning when `path`, which holds `what`, is readable by group or others.
fn permission_warning(path: &Path, what: &str) -> Option<String> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default, deserialize_with = "users")]
    basic_auth_users: Option<BTreeMap<String, PasswordHash>>,
    #[serde(default, rename = "rate_limit", deserialize_with = "refuse_rate_limit")]
    _rate_limit: (),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    client_ca: Option<String>,
    #[serde(default, deserialize_with = "client_auth")]
    client_auth_type: Option<ClientAuth>,
    #[serde(default, deserialize_with = "tls_version")]
    min_version: Option<TlsVersion>,
    #[serde(default, deserialize_with = "tls_version")]
    max_version: Option<TlsVersion>,
    #[serde(default, deserialize_with = "cipher_suites")]
    cipher_suites: Option<Vec<String>>,
    #[serde(default, deserialize_with = "curves")]
    curve_preferences: Option<Vec<Curve>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(
        default,
        rename = "client_allowed_sans",
        deserialize_with = "refuse_allowed_sans"
    )]
    _client_allowed_sans: (),
}

impl RawTls {
    /// As in exporter-toolkit: any TLS key set turns TLS on; an empty section leaves it off.
    fn is_enabled(&self) -> bool {
        self.cert_file.as_deref().is_some_and(|v| !v.is_empty())
            || self.key_file.as_deref().is_some_and(|v| !v.is_empty())
            || self.cert.as_deref().is_some_and(|v| !v.is_empty())
            || self.key.as_deref().is_some_and(|v| !v.is_empty())
            || self
                .client_ca_file
                .as_deref()
                .is_some_and(|v| !v.is_empty())
            || self.client_ca.as_deref().is_some_and(|v| !v.is_empty())
            || self.client_auth_type.is_some()
    }

    fn validate(
        self,
        base: &Path,
        invalid: &dyn Fn(&str, &str) -> DocumentError,
    ) -> Result<TlsSettings, DocumentError> {
        let pem = |file: Option<String>, inline: Option<Secret>, name: &str| {
            let file = file.filter(|f| !f.is_empty());
            let inline = inline.filter(|i| !i.expose().is_empty());
            match (file, inline) {
                (Some(_), Some(_)) => Err(invalid(
                    &format!("tls_server_config.{name}_file"),
                    &format!("both `{name}_file` and `{name}` are set; keep one"),
                )),
                (Some(file), None) => Ok(Some(Pem::File(base.join(file)))),
                (None, Some(text)) => Ok(Some(Pem::Inline(text))),
                (None, None) => Ok(None),
            }
        };
        let cert = pem(self.cert_file, self.cert.map(Secret::new), "cert")?.ok_or_else(|| {
            invalid(
                "tls_server_config.cert_file",
                "TLS is configured but there is no server certificate; set `cert_file` (or `cert`)",
            )
        })?;
        let key = pem(self.key_file, self.key.map(Secret::new), "key")?.ok_or_else(|| {
            invalid(
                "tls_server_config.key_file",
                "TLS is configured but there is no private key; set `key_file` (or `key`)",
            )
        })?;
        let client_ca = pem(
            self.client_ca_file,
            self.client_ca.map(Secret::new),
            "client_ca",
        )?;
        let client_auth = self.client_auth_type.unwrap_or_default();
        if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
            return Err(invalid(
                "tls_server_config.client_auth_type",
                "a client CA is set but client certificates are not asked for; set `client_auth_type: RequireAndVerifyClientCert`",
            ));
        }
        if client_ca.is_none()
            && matches!(
                client_auth,
                ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
            )
        {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                "client certificates are to be verified but no CA is given to verify them; set `client_ca_file`",
            ));
        }
        let min_version = self.min_version.unwrap_or(TlsVersion::Tls12);
        let max_version = self.max_version.unwrap_or(TlsVersion::Tls13);
        if min_version > max_version {
            return Err(invalid(
                "tls_server_config.min_version",
                "is above `max_version`; no version would be left to speak",
            ));
        }
        Ok(TlsSettings {
            cert,
            key,
            client_auth,
            client_ca,
            min_version,
            max_version,
            cipher_suites: self.cipher_suites.unwrap_or_default(),
            curves: self.curve_preferences.unwrap_or_default(),
            prefer_server_cipher_suites: self.prefer_server_cipher_suites.unwrap_or(true),
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default, rename = "http2", deserialize_with = "http2")]
    _http2: (),
    #[serde(default)]
    headers: Option<Headers>,
}

/// Headers other Prometheus components allow, with the values they allow.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

struct Headers(Vec<(HeaderName, HeaderValue)>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = Headers;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of header names to values")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
        while let Some((canonical, allowed)) = map.next_key_seed(Checked(|name: &str| {
            let Some(&(canonical, allowed)) = HEADERS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
            else {
                let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "header {name:?} cannot be configured; the allowed headers are {}",
                    names.join(", ")
                ));
            };
            if headers
                .iter()
                .any(|(n, _)| n.as_str().eq_ignore_ascii_case(canonical))
            {
                return Err(format!("{canonical} is set twice"));
            }
            Ok((canonical, allowed))
        }))? {
            let value = map.next_value_seed(Checked(|value: &str| {
                if !allowed.is_empty() && !allowed.contains(&value) {
                    return Err(format!("must be one of {allowed:?}, not {value:?}"));
                }
                HeaderValue::from_str(value)
                    .map_err(|_| "has characters a header cannot hold".to_owned())
            }))?;
            let name =
                HeaderName::from_bytes(canonical.as_bytes()).expect("the allowed names are valid");
            headers.push((name, value));
        }
        Ok(Headers(headers))
    }
}

/// Parses a string scalar inside the visitor, so the YAML parser attaches its line and column.
struct Scalar<F>(F, &'static str);

impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for Scalar<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

fn scalar<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(Scalar(parse, expecting))
}

fn client_auth<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClientAuth>, D::Error> {
    scalar(d, "a client_auth_type", |text| {
        Ok(Some(match text {
            // Empty means unset, as in exporter-toolkit: it alone does not turn TLS on.
            "" => return Ok(None),
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            other => {
                return Err(format!(
                    "client_auth_type {other:?} is unknown; use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ));
            }
        }))
    })
}

fn tls_version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TlsVersion>, D::Error> {
    scalar(d, "a TLS version", |text| match text {
        "TLS12" => Ok(Some(TlsVersion::Tls12)),
        "TLS13" => Ok(Some(TlsVersion::Tls13)),
        "TLS10" | "TLS11" => Err(format!(
            "{text} is not supported: the TLS library (rustls) speaks TLS12 and TLS13 only, as current security guidance asks"
        )),
        other => Err(format!(
            "TLS version {other:?} is unknown; use TLS12 or TLS13"
        )),
    })
}

fn cipher_suites<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    d.deserialize_seq(ListVisitor(
        tls::check_cipher_suite,
        "a list of cipher suite names",
    ))
    .map(Some)
}

fn curves<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Curve>>, D::Error> {
    d.deserialize_seq(ListVisitor(parse_curve, "a list of curve names"))
        .map(Some)
}

fn parse_curve(text: &str) -> Result<Curve, String> {
    match text {
        "X25519" => Ok(Curve::X25519),
        "CurveP256" => Ok(Curve::P256),
        "CurveP384" => Ok(Curve::P384),
        "CurveP521" => Err("CurveP521 is not offered by the TLS library (rustls); use X25519, CurveP256 or CurveP384".into()),
        other => Err(format!("curve {other:?} is unknown; use X25519, CurveP256 or CurveP384")),
    }
}

/// A list of strings, each checked inside the visitor so errors carry its position.
struct ListVisitor<T>(fn(&str) -> Result<T, String>, &'static str);

impl<'de, T> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Checked(self.0))? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A string checked by its closure inside the visitor, as a map key, map value or list item.
struct Checked<F>(F);

impl<'de, T, F: FnOnce(&str) -> Result<T, String>> de::DeserializeSeed<'de> for Checked<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        scalar(d, "a string", self.0)
    }
}

fn users<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, PasswordHash>>, D::Error> {
    struct UsersVisitor;
    impl<'de> Visitor<'de> for UsersVisitor {
        type Value = BTreeMap<String, PasswordHash>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of user names to bcrypt hashes")
        }

        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut users = BTreeMap::new();
            while let Some(user) = map.next_key_seed(Checked(|user: &str| {
                if user.is_empty() || user.contains(':') {
                    return Err(format!(
                        "user name {user:?} cannot be sent in basic auth: it must be non-empty and hold no ':'"
                    ));
                }
                if users.contains_key(user) {
                    return Err(format!("user {user:?} is listed twice"));
                }
                Ok(user.to_owned())
            }))? {
                // The parser names the user; the value is never quoted: it may be a password pasted by mistake.
                let hash = map.next_value_seed(Checked(PasswordHash::parse))?;
                users.insert(user, hash);
            }
            Ok(users)
        }
    }
    d.deserialize_map(UsersVisitor).map(Some)
}

fn http2<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    struct Http2;
    impl Visitor<'_> for Http2 {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true or false")
        }

        fn visit_bool<E: de::Error>(self, enabled: bool) -> Result<(), E> {
            if enabled {
                return Err(E::custom(
                    "true is not supported: this exporter serves HTTP/1.1 only (as Prometheus scrapes); set `http2: false` or remove the key",
                ));
            }
            Ok(())
        }
    }
    d.deserialize_bool(Http2)
}

/// Refuses a key of the exporter-toolkit format that this exporter does not implement.
struct Refuse(&'static str);

impl<'de> Visitor<'de> for Refuse {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
}

fn refuse_rate_limit<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    d.deserialize_any(Refuse(
        "not supported by this exporter; --web.max-requests bounds the requests served at once",
    ))
}

fn refuse_allowed_sans<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    d.deserialize_any(Refuse(
        "not supported by this exporter; issue client certificates from a CA used only for scraping and set it as client_ca_file",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$0o6aUQMxCQH2mYVGxKRyQO5qPZnNhmmwRgK2G2fNnt4lWFVtpSwiO";

    fn parse(yaml: &str) -> Result<WebConfig, String> {
        WebConfig::parse(yaml, "web.yml", Path::new("/etc/cas")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_supported_key_is_read() {
        let config = parse(&format!(
            "tls_server_config:
  cert_file: tls/server.crt
  key_file: /secure/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [CurveP384, X25519]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    strict-transport-security: max-age=31536000
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: {HASH}
"
        ))
        .unwrap();
        assert_eq!(
            config.tls,
            Some(TlsSettings {
                cert: Pem::File("/etc/cas/tls/server.crt".into()),
                key: Pem::File("/secure/server.key".into()),
                client_auth: ClientAuth::RequireAndVerifyClientCert,
                client_ca: Some(Pem::File("/etc/cas/ca.crt".into())),
                min_version: TlsVersion::Tls13,
                max_version: TlsVersion::Tls13,
                cipher_suites: vec![
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                    "TLS13_AES_128_GCM_SHA256".into()
                ],
                curves: vec![Curve::P384, Curve::X25519],
                prefer_server_cipher_suites: false,
            })
        );
        assert_eq!(
            config.files(),
            [
                PathBuf::from("/etc/cas/tls/server.crt"),
                "/secure/server.key".into(),
                "/etc/cas/ca.crt".into()
            ]
        );
        let headers: Vec<(&str, &str)> = config
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("strict-transport-security", "max-age=31536000"),
                ("x-content-type-options", "nosniff")
            ]
        );
        assert_eq!(config.users["prometheus"].cost(), 4);
        assert_eq!(config.users["prometheus"].expose(), HASH);
    }

    #[test]
    fn defaults_follow_exporter_toolkit() {
        for empty in [
            "",
            "\n# nothing yet\n",
            "tls_server_config: {}\n",
            "{}",
            "tls_server_config:\n  client_auth_type: ''\n",
        ] {
            let config = parse(empty).unwrap();
            assert!(config.tls.is_none() && config.users.is_empty() && config.headers.is_empty());
        }
        let tls = parse("tls_server_config:\n  cert: inline-cert\n  key: inline-key\n")
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.client_auth, ClientAuth::NoClientCert);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls12, TlsVersion::Tls13)
        );
        assert!(tls.prefer_server_cipher_suites);
        assert!(tls.files().next().is_none());
        // Go's old spelling still means RequireAnyClientCert.
        let old = parse(
            "tls_server_config:\n  cert: c\n  key: k\n  client_auth_type: RequireClientCert\n",
        );
        assert_eq!(
            old.unwrap().tls.unwrap().client_auth,
            ClientAuth::RequireAnyClientCert
        );
    }

    #[test]
    fn refusals_name_the_line_and_what_to_do() {
        let tls = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
        let cases = [
            (format!("{tls}  client_allowed_sans: [a]\n"), "web.yml:4:24: tls_server_config.client_allowed_sans: not supported by this exporter; issue client certificates from a CA used only for scraping and set it as client_ca_file"),
            ("rate_limit:\n  burst: 1\n".into(), "web.yml:2:3: rate_limit: not supported by this exporter; --web.max-requests bounds the requests served at once"),
            ("http_server_config:\n  http2: true\n".into(), "web.yml:2:10: http_server_config.http2: true is not supported: this exporter serves HTTP/1.1 only (as Prometheus scrapes); set `http2: false` or remove the key"),
            (format!("{tls}  min_version: TLS10\n"), "web.yml:4:16: tls_server_config.min_version: TLS10 is not supported: the TLS library (rustls) speaks TLS12 and TLS13 only, as current security guidance asks"),
            (format!("{tls}  max_version: TLS14\n"), "web.yml:4:16: tls_server_config.max_version: TLS version \"TLS14\" is unknown; use TLS12 or TLS13"),
            (format!("{tls}  curve_preferences: [X25519, CurveP521]\n"), "web.yml:4:31: tls_server_config.curve_preferences[1]: CurveP521 is not offered by the TLS library (rustls); use X25519, CurveP256 or CurveP384"),
            (format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"), "web.yml:4:19: tls_server_config.cipher_suites[0]: cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not offered by the TLS library (rustls); use one of TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            (format!("{tls}  client_auth_type: Always\n"), "web.yml:4:21: tls_server_config.client_auth_type: client_auth_type \"Always\" is unknown; use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
            ("http_server_config:\n  headers:\n    Server: cas\n".into(), "web.yml:3:5: http_server_config.headers: header \"Server\" cannot be configured; the allowed headers are Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(), "web.yml:3:22: http_server_config.headers.X-Frame-Options: must be one of [\"deny\", \"sameorigin\"], not \"allow\""),
            (format!("basic_auth_users:\n  a: {HASH}\n  a: {HASH}\n"), "web.yml:3:3: basic_auth_users: user \"a\" is listed twice"),
            (format!("basic_auth_users:\n  'a:b': {HASH}\n"), "web.yml:2:3: basic_auth_users: user name \"a:b\" cannot be sent in basic auth: it must be non-empty and hold no ':'"),
            ("basic_auth_users:\n  a: $2y$99$0o6aUQMxCQH2mYVGxKRyQO5qPZnNhmmwRgK2G2fNnt4lWFVtpSwiO\n".into(), "web.yml:2:6: basic_auth_users.a: has cost 99; this exporter accepts bcrypt costs from 4 to 16 (each step doubles the time of every check); make the hash again with `htpasswd -nBC 10 USER`"),
            ("basic_auth_users:\n  a: $2y$31$0o6aUQMxCQH2mYVGxKRyQO5qPZnNhmmwRgK2G2fNnt4lWFVtpSwiO\n".into(), "web.yml:2:6: basic_auth_users.a: has cost 31; this exporter accepts bcrypt costs from 4 to 16 (each step doubles the time of every check); make the hash again with `htpasswd -nBC 10 USER`"),
            ("tls_server_config:\n  cert_file: c\n".into(), "web.yml: `tls_server_config.key_file`: TLS is configured but there is no private key; set `key_file` (or `key`)"),
            ("tls_server_config:\n  key: k\n".into(), "web.yml: `tls_server_config.cert_file`: TLS is configured but there is no server certificate; set `cert_file` (or `cert`)"),
            (format!("{tls}  cert: inline\n"), "web.yml: `tls_server_config.cert_file`: both `cert_file` and `cert` are set; keep one"),
            (format!("{tls}  client_ca_file: ca\n"), "web.yml: `tls_server_config.client_auth_type`: a client CA is set but client certificates are not asked for; set `client_auth_type: RequireAndVerifyClientCert`"),
            (format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n"), "web.yml: `tls_server_config.client_ca_file`: client certificates are to be verified but no CA is given to verify them; set `client_ca_file`"),
            (format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"), "web.yml: `tls_server_config.min_version`: is above `max_version`; no version would be left to speak"),
        ];
        for (yaml, expected) in cases {
            assert_eq!(parse(&yaml).unwrap_err(), expected, "{yaml}");
        }
        let unknown = parse("tls_server_config:\n  cert_file: c\n  keyfile: k\n").unwrap_err();
        assert!(
            unknown.starts_with("web.yml:3:3: tls_server_config: unknown field `keyfile`, expected one of `cert_file`, `key_file`"),
            "{unknown}"
        );
        assert!(
            unknown.ends_with(
                "; check the spelling (the README's \"Web configuration\" section lists every key)"
            ),
            "{unknown}"
        );
    }

    #[test]
    fn secrets_never_show_in_errors_or_debug() {
        let pasted = "hunter2-pasted-by-mistake";
        let error = parse(&format!("basic_auth_users:\n  a: {pasted}\n")).unwrap_err();
        assert!(!error.contains(pasted), "{error}");
        let key =
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----";
        let config = parse(&format!(
            "tls_server_config:\n  cert: c\n  key: |\n    {}\nbasic_auth_users:\n  a: {HASH}\n",
            key.replace('\n', "\n    ")
        ))
        .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("c2VjcmV0") && !debug.contains(HASH),
            "{debug}"
        );
        assert!(
            debug.contains("PasswordHash(cost 4, <redacted>)"),
            "{debug}"
        );
    }

    #[test]
    fn files_holding_secrets_readable_by_others_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (web, key) = (dir.path().join("web.yml"), dir.path().join("server.key"));
        let chmod = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        std::fs::write(&key, "key").unwrap();
        std::fs::write(&web, "").unwrap();
        let with = |yaml: &str| WebConfig::parse(yaml, "web.yml", dir.path()).unwrap();
        let users = with(&format!("basic_auth_users:\n  a: {HASH}\n"));
        let tls_file = with("tls_server_config:\n  cert: c\n  key_file: server.key\n");
        let tls_inline = with(&format!(
            "tls_server_config:\n  cert: c\n  key: k\nbasic_auth_users:\n  a: {HASH}\n"
        ));
        let nothing = with("http_server_config:\n  headers:\n    X-Frame-Options: deny\n");
        chmod(&web, 0o644);
        chmod(&key, 0o640);
        let (w, k) = (web.display(), key.display());
        assert_eq!(
            users.permission_warnings(&web),
            [format!(
                "{w} holds password hashes and is readable by group or others (mode 644): run chmod 600 {w}"
            )]
        );
        assert_eq!(
            tls_file.permission_warnings(&web),
            [format!(
                "{k} holds a TLS private key and is readable by group or others (mode 640): run chmod 600 {k}"
            )]
        );
        assert_eq!(
            tls_inline.permission_warnings(&web),
            [format!(
                "{w} holds password hashes and a TLS private key and is readable by group or others (mode 644): run chmod 600 {w}"
            )]
        );
        assert!(nothing.permission_warnings(&web).is_empty());
        chmod(&web, 0o600);
        chmod(&key, 0o400);
        for config in [&users, &tls_file, &tls_inline] {
            assert!(config.permission_warnings(&web).is_empty());
        }
    }

    #[test]
    fn the_highest_accepted_cost_is_16() {
        let at = |cost: u32| HASH.replacen("$04$", &format!("${cost:02}$"), 1);
        assert_eq!(
            PasswordHash::parse(&at(16)).unwrap().cost(),
            MAX_BCRYPT_COST
        );
        assert!(
            PasswordHash::parse(&at(17))
                .unwrap_err()
                .starts_with("has cost 17; ")
        );
    }
}
