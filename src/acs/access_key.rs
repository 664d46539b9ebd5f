//! The credentials a request is signed with: an AccessKey pair and, for
//! temporary credentials, an STS security token.

use super::Secret;
use std::fmt;

/// One set of credentials: an AccessKey pair and, for STS credentials, a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The AccessKey ID, sent in every request.
    pub access_key_id: String,
    /// The AccessKey secret, used only to sign.
    pub access_key_secret: Secret,
    /// The STS security token, when the credentials are temporary.
    pub security_token: Option<Secret>,
}

impl Credentials {
    /// The first four characters of the AccessKey ID: enough to tell keys apart in logs.
    pub fn key_id_hint(&self) -> String {
        let prefix: String = self.access_key_id.chars().take(4).collect();
        format!("{prefix}****")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.key_id_hint())
            .field("access_key_secret", &self.access_key_secret)
            .field("security_token", &self.security_token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_and_token() {
        let creds = Credentials {
            access_key_id: "LTAI5tAbCdEf".into(),
            access_key_secret: Secret::new("the-secret"),
            security_token: Some(Secret::new("the-token")),
        };
        let shown = format!("{creds:?}");
        assert_eq!(
            shown,
            "Credentials { access_key_id: \"LTAI****\", access_key_secret: Secret(<redacted>), security_token: Some(Secret(<redacted>)) }"
        );
    }
}
