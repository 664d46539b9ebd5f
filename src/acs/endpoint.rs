//! Where the CAS API is: a preset, a region ID, a host name, or a URL written out in full.

use super::region::{self, Network, PRESETS};
use reqwest::Url;
use std::fmt;
use std::net::IpAddr;

/// The China site's endpoint, preset `cn`.
pub const CN_HOST: &str = "cas.aliyuncs.com";
/// The international site's endpoint, preset `intl`.
pub const INTL_HOST: &str = "cas.ap-southeast-1.aliyuncs.com";

/// What to write instead, for an endpoint setting of any service.
const HOST_FORMS: &str = "write a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com";

/// What to write instead, for the CAS `endpoint` setting.
const CAS_FORMS: &str = "write a preset (cn, china, intl, international), a region ID such as eu-central-1, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com";

/// A validated API base URL (scheme, host, optional port; path `/`).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

/// Why an endpoint setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint {shown} is not valid: {reason}; {forms}")]
pub struct EndpointError {
    /// The value as quoted in the message, or a note when quoting it could reveal credentials.
    shown: String,
    reason: String,
    /// The forms the setting takes.
    forms: &'static str,
}

impl Endpoint {
    /// Resolves the CAS `endpoint` setting: a preset or region ID as the official
    /// SDK resolves it (spec section 1.1), else a host name or URL as [`Endpoint::parse`].
    pub fn cas(value: &str, network: Network) -> Result<Self, EndpointError> {
        match region::region_of(value.trim()) {
            Some(region) => {
                Self::parse_in(&format!("https://{}/", region::host(region, network)), true)
            }
            None => Self::parse_in(value, true),
        }
    }

    /// Parses a host name (HTTPS implied) or an explicit `http://` / `https://` URL.
    pub fn parse(value: &str) -> Result<Self, EndpointError> {
        Self::parse_in(value, false)
    }

    /// Parses a host name or URL; `cas` when the setting also takes presets and region IDs.
    fn parse_in(value: &str, cas: bool) -> Result<Self, EndpointError> {
        let forms = if cas { CAS_FORMS } else { HOST_FORMS };
        let fail = |reason: &str| EndpointError {
            shown: crate::input::excerpt(value),
            reason: reason.to_owned(),
            forms,
        };
        if value.contains('@') {
            // `user:password@host` would put a secret into the log: do not quote it.
            return Err(EndpointError {
                shown: "(not shown: it contains '@')".to_owned(),
                reason: "credentials do not belong in the endpoint; give them as docs/credentials.md says".to_owned(),
                forms,
            });
        }
        let trimmed = value.trim();
        let full = match trimmed {
            "" => return Err(fail("it is empty")),
            s if s.contains("://") => s.to_owned(),
            s if s.contains(['/', '?', '#', '@', ' ']) => {
                return Err(fail(
                    "a host name cannot contain '/', '?', '#', '@' or spaces",
                ));
            }
            // A word with neither a dot nor a port is a name mistyped far more
            // often than a host on the search domain: `https://<word>/` would
            // only fail later, as a connection error.
            s if !s.contains(['.', ':']) && cas => return Err(fail(&unknown_word(s))),
            s if !s.contains(['.', ':']) => {
                return Err(fail("a host name needs a dot, or a port after a colon"));
            }
            s => format!("https://{s}/"),
        };
        let url = Url::parse(&full).map_err(|e| fail(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(
                "the scheme must be https (or http for a local simulator)",
            ));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(fail("it names no host"));
        };
        if ip_address(host).is_none() {
            check_host_name(host).map_err(|reason| fail(&reason))?;
        }
        // `cn-hangzhou:443` would otherwise send requests to a host named cn-hangzhou.
        if cas && region::region_of(host).is_some() {
            let what = if PRESETS.iter().any(|(preset, _)| *preset == host) {
                "a preset"
            } else {
                "a region ID"
            };
            return Err(fail(&format!(
                "{host:?} is {what}, not a host: write it alone, without a scheme or port"
            )));
        }
        if url.port() == Some(0) {
            return Err(fail("port 0 cannot be connected to"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(fail("the API is served at path / with no query"));
        }
        Ok(Self { url })
    }

    /// Whether requests would go unencrypted to another machine: plain `http://`
    /// to a host other than a loopback address or `localhost`.
    pub fn is_plain_http_to_remote(&self) -> bool {
        let host = self.url.host_str().unwrap_or_default();
        let loopback = match ip_address(host) {
            Some(ip) => ip.is_loopback(),
            None => host.eq_ignore_ascii_case("localhost"),
        };
        self.url.scheme() == "http" && !loopback
    }

    /// The base URL, ending in `/`.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The base URL, parsed: a request's URL starts as a copy of it, so its host is
    /// not parsed (and IDNA-checked) again at every call.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// Why a bare word is refused, with the name it most likely meant.
fn unknown_word(word: &str) -> String {
    let presets: Vec<&str> = PRESETS.iter().map(|(preset, _)| *preset).collect();
    let known = format!(
        "it is neither a preset ({}) nor a region ID the exporter knows",
        presets.join(", ")
    );
    match region::suggestion(word) {
        Some(name) => format!("{known}: did you mean `{name}`?"),
        None => known,
    }
}

/// The address a URL's host names, when it is an IP literal (IPv6 in brackets).
fn ip_address(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// A DNS name as the resolver takes it: dot-separated labels of 1 to 63 letters,
/// digits and hyphens, no label starting or ending with a hyphen, 253 bytes in all.
fn check_host_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(
                "the host name has an empty part (two dots in a row, or a dot at an end)"
                    .to_owned(),
            );
        }
        if label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{} is not a valid part of a host name (1 to 63 letters, digits or inner hyphens)",
                crate::input::excerpt(label)
            ));
        }
    }
    Ok(())
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.url)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cas(value: &str, network: Network) -> String {
        Endpoint::cas(value, network).unwrap().to_string()
    }

    #[test]
    fn presets_hosts_and_urls() {
        assert_eq!(cas("cn", Network::Public), format!("https://{CN_HOST}/"));
        assert_eq!(cas("china", Network::Public), format!("https://{CN_HOST}/"));
        assert_eq!(
            cas("intl", Network::Public),
            format!("https://{INTL_HOST}/")
        );
        assert_eq!(
            cas("International", Network::Public),
            format!("https://{INTL_HOST}/")
        );
        assert_eq!(
            Endpoint::parse("cas.eu-central-1.aliyuncs.com")
                .unwrap()
                .as_str(),
            "https://cas.eu-central-1.aliyuncs.com/"
        );
        let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            Endpoint::parse("cas_sim:9000").unwrap().as_str(),
            "https://cas_sim:9000/"
        );
    }

    #[test]
    fn plain_http_is_told_apart_when_it_leaves_the_machine() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:80",
            "http://localhost:1",
            "https://cas.aliyuncs.com",
            "https://10.0.0.1",
        ] {
            assert!(
                !Endpoint::parse(local).unwrap().is_plain_http_to_remote(),
                "{local}"
            );
        }
        for remote in [
            "http://cas.aliyuncs.com",
            "http://10.0.0.1:8080",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
        ] {
            assert!(
                Endpoint::parse(remote).unwrap().is_plain_http_to_remote(),
                "{remote}"
            );
        }
    }

    #[test]
    fn host_names_are_checked_part_by_part() {
        for (bad, reason) in [
            (
                "cas..aliyuncs.com",
                "the host name has an empty part (two dots in a row, or a dot at an end)",
            ),
            (
                ".",
                "the host name has an empty part (two dots in a row, or a dot at an end)",
            ),
            (
                "-.com",
                "\"-\" is not a valid part of a host name (1 to 63 letters, digits or inner hyphens)",
            ),
            (
                "cas.-x.com",
                "\"-x\" is not a valid part of a host name (1 to 63 letters, digits or inner hyphens)",
            ),
            (
                "https://cas.aliyuncs..com",
                "the host name has an empty part (two dots in a row, or a dot at an end)",
            ),
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("endpoint {bad:?} is not valid: {reason}; ")),
                "{err}"
            );
        }
        let huge = format!("https://cas.aliyuncs.com/{}", "a".repeat(900_000));
        let err = Endpoint::parse(&huge).unwrap_err().to_string();
        assert!(err.len() < 400, "{} bytes", err.len());
        assert!(
            Endpoint::parse("https://cas.aliyuncs.com:0")
                .unwrap_err()
                .to_string()
                .contains("is not valid: port 0 cannot be connected to; ")
        );
        let long = format!("{}.com", "a".repeat(64));
        assert!(Endpoint::parse(&long).is_err());
        let longest = format!("{}.com", "a".repeat(63));
        assert!(Endpoint::parse(&longest).is_ok());
    }

    #[test]
    fn refuses_what_cannot_be_an_endpoint() {
        for bad in [
            "",
            "ftp://x",
            "https://x/path",
            "https://x/?a=1",
            "cas.aliyuncs.com/x",
            "a b",
        ] {
            let err = Endpoint::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("endpoint {bad:?} is not valid: ")),
                "{err}"
            );
            assert!(
                err.ends_with("or a full URL such as https://cas.aliyuncs.com"),
                "{err}"
            );
        }
        assert_eq!(
            Endpoint::parse("cn").unwrap_err().to_string(),
            "endpoint \"cn\" is not valid: a host name needs a dot, or a port after a colon; write a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
        );
        let err = Endpoint::parse("https://LTAI:s3cr3t@cas.aliyuncs.com")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "endpoint (not shown: it contains '@') is not valid: credentials do not belong"
            ),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"));
    }

    /// The rows of spec section 1.1's table of what the SDK's client resolved.
    #[test]
    fn region_ids_resolve_as_the_sdk_does() {
        for (region, network, host) in [
            ("cn-hangzhou", Network::Public, "cas.aliyuncs.com"),
            ("cn-shanghai", Network::Public, "cas.aliyuncs.com"),
            ("us-east-1", Network::Public, "cas.aliyuncs.com"),
            ("ap-southeast-3", Network::Public, "cas.aliyuncs.com"),
            (
                "ap-southeast-1",
                Network::Public,
                "cas.ap-southeast-1.aliyuncs.com",
            ),
            (
                "eu-central-1",
                Network::Public,
                "cas.eu-central-1.aliyuncs.com",
            ),
            ("me-east-1", Network::Public, "cas.me-east-1.aliyuncs.com"),
            (
                "ap-northeast-1",
                Network::Public,
                "cas.ap-northeast-1.aliyuncs.com",
            ),
            (
                "ap-southeast-1",
                Network::Vpc,
                "cas-vpc.ap-southeast-1.aliyuncs.com",
            ),
            ("cn-hangzhou", Network::Vpc, "cas.aliyuncs.com"),
        ] {
            assert_eq!(
                cas(region, network),
                format!("https://{host}/"),
                "{region} {network}"
            );
        }
        assert_eq!(
            cas("intl", Network::Vpc),
            "https://cas-vpc.ap-southeast-1.aliyuncs.com/"
        );
        assert_eq!(cas("cn", Network::Vpc), "https://cas.aliyuncs.com/");
        assert_eq!(
            cas(" EU-Central-1 ", Network::Public),
            "https://cas.eu-central-1.aliyuncs.com/"
        );
    }

    #[test]
    fn an_unknown_word_is_refused_with_the_name_it_likely_meant() {
        let presets = "it is neither a preset (cn, china, intl, international) nor a region ID the exporter knows";
        for (word, reason) in [
            (
                "internatinal",
                format!("{presets}: did you mean `international`?"),
            ),
            (
                "cn-hangzou",
                format!("{presets}: did you mean `cn-hangzhou`?"),
            ),
            (
                "hangzhou",
                format!("{presets}: did you mean `cn-hangzhou`?"),
            ),
            ("localhost", presets.to_owned()),
        ] {
            assert_eq!(
                Endpoint::cas(word, Network::Public)
                    .unwrap_err()
                    .to_string(),
                format!("endpoint {word:?} is not valid: {reason}; {CAS_FORMS}")
            );
        }
        for (value, reason) in [
            (
                "cn-hangzhou:443",
                "\"cn-hangzhou\" is a region ID, not a host: write it alone, without a scheme or port",
            ),
            (
                "https://INTL",
                "\"intl\" is a preset, not a host: write it alone, without a scheme or port",
            ),
        ] {
            assert_eq!(
                Endpoint::cas(value, Network::Public)
                    .unwrap_err()
                    .to_string(),
                format!("endpoint {value:?} is not valid: {reason}; {CAS_FORMS}")
            );
        }
        assert_eq!(
            cas("localhost:9000", Network::Public),
            "https://localhost:9000/"
        );
        assert_eq!(
            cas("http://127.0.0.1:8080", Network::Public),
            "http://127.0.0.1:8080/"
        );
    }
}
