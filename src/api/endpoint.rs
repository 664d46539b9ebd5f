//! Where the CAS API is: a preset, a host name, or a URL written out in full.

use reqwest::Url;
use std::fmt;

/// The China site's endpoint, preset `cn`.
pub const CN_HOST: &str = "cas.aliyuncs.com";
/// The international site's endpoint, preset `intl`.
pub const INTL_HOST: &str = "cas.ap-southeast-1.aliyuncs.com";

/// A validated API base URL (scheme, host, optional port; path `/`).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: Url,
}

/// Why an endpoint setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "endpoint {shown} is not valid: {reason}; write `cn`, `intl`, a host name such as cas.eu-central-1.aliyuncs.com, or a full URL such as https://cas.aliyuncs.com"
)]
pub struct EndpointError {
    /// The value as quoted in the message, or a note when quoting it could reveal credentials.
    shown: String,
    reason: String,
}

impl Endpoint {
    /// Parses a preset, a bare host (HTTPS implied) or an explicit `http://` / `https://` URL.
    pub fn parse(value: &str) -> Result<Self, EndpointError> {
        let fail = |reason: &str| EndpointError {
            shown: format!("{value:?}"),
            reason: reason.to_owned(),
        };
        if value.contains('@') {
            // `user:password@host` would put a secret into the log: do not quote it.
            return Err(EndpointError {
                shown: "(not shown: it contains '@')".to_owned(),
                reason: "credentials do not belong in the endpoint; give them as README's Credentials section says".to_owned(),
            });
        }
        let trimmed = value.trim();
        let full = match trimmed {
            "" => return Err(fail("it is empty")),
            "cn" => format!("https://{CN_HOST}/"),
            "intl" => format!("https://{INTL_HOST}/"),
            s if s.contains("://") => s.to_owned(),
            s if s.contains(['/', '?', '#', '@', ' ']) => {
                return Err(fail(
                    "a host name cannot contain '/', '?', '#', '@' or spaces",
                ));
            }
            s => format!("https://{s}/"),
        };
        let url = Url::parse(&full).map_err(|e| fail(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(
                "the scheme must be https (or http for a local simulator)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(fail("it names no host"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(fail("the API is served at path / with no query"));
        }
        Ok(Self { url })
    }

    /// The base URL, ending in `/`.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
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

    #[test]
    fn presets_hosts_and_urls() {
        assert_eq!(
            Endpoint::parse("cn").unwrap().as_str(),
            "https://cas.aliyuncs.com/"
        );
        assert_eq!(
            Endpoint::parse("intl").unwrap().as_str(),
            "https://cas.ap-southeast-1.aliyuncs.com/"
        );
        assert_eq!(
            Endpoint::parse("cas.eu-central-1.aliyuncs.com")
                .unwrap()
                .as_str(),
            "https://cas.eu-central-1.aliyuncs.com/"
        );
        let local = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.as_str(), "http://127.0.0.1:8080/");
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
}
