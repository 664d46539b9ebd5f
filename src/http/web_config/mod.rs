//! The `--web.config.file`: TLS, basic authentication and extra headers, in the
//! exporter-toolkit format so that files written for other exporters work here.

mod basic_auth;
mod guard;
mod raw;
mod tls;
mod types;

pub use basic_auth::{
    BasicAuth, Checks, DECOY_COST, FAILURE_CACHE_SIZE, MAX_WAITING_CHECKS, MAX_WAITING_PER_CLIENT,
    Verdict,
};
pub use guard::{Policy, WebGuard};
pub use types::{
    ClientAuth, Curve, MAX_BCRYPT_COST, PasswordHash, Pem, TlsSettings, TlsVersion, WebConfig,
    WebConfigError,
};

use crate::input::permission_warning;
use crate::yaml::DocumentError;
use raw::RawWebConfig;
use std::path::{Path, PathBuf};

/// The documentation that lists every key, named in error messages.
const REFERENCE: &str = "docs/web-config.md";

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
            unknown.ends_with("; check the spelling (docs/web-config.md lists every key)"),
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
