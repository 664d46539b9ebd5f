//! The web configuration file as written: the exporter-toolkit keys, each value
//! checked where it stands so that a refusal points at it.

use super::tls;
use super::types::{ClientAuth, Curve, PasswordHash, Pem, TlsSettings, TlsVersion};
use crate::credentials::Secret;
use crate::yaml::DocumentError;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebConfig {
    #[serde(default)]
    pub(super) tls_server_config: Option<RawTls>,
    #[serde(default)]
    pub(super) http_server_config: Option<RawHttp>,
    #[serde(default, deserialize_with = "users")]
    pub(super) basic_auth_users: Option<BTreeMap<String, PasswordHash>>,
    #[serde(default, rename = "rate_limit", deserialize_with = "refuse_rate_limit")]
    _rate_limit: (),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
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
    pub(super) fn is_enabled(&self) -> bool {
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

    pub(super) fn validate(
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
pub(super) struct RawHttp {
    #[serde(default, rename = "http2", deserialize_with = "http2")]
    _http2: (),
    #[serde(default)]
    pub(super) headers: Option<Headers>,
}

/// Headers other Prometheus components allow, with the values they allow.
const HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

pub(super) struct Headers(pub(super) Vec<(HeaderName, HeaderValue)>);

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
