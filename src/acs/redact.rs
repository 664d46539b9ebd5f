//! Removes secrets from text that may echo a request: services quote the
//! parameters they received, proxies the whole request line.

use super::sign::percent_encode;
use super::{Credentials, Secret};

/// What stands in for a removed secret.
const REDACTED: &str = "<redacted>";

/// Removes the secret and the token from text that may echo a request: every
/// `SecurityToken` value by its position, and both values in every encoding
/// they can take on the way (raw, percent-encoded once or twice, form-encoded).
pub(crate) fn redact(text: &str, credentials: &Credentials) -> String {
    let mut out = redact_parameters(text);
    let mut values = vec![credentials.access_key_secret.expose()];
    values.extend(credentials.security_token.as_ref().map(Secret::expose));
    for value in values.into_iter().filter(|v| !v.is_empty()) {
        let once = percent_encode(value);
        let twice = percent_encode(&once);
        let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        for form in [twice, once, form, value.to_owned()] {
            out = out.replace(&form, REDACTED);
        }
    }
    out
}

/// Masks the values of the parameters that carry secrets (`SecurityToken`,
/// `OIDCToken`) wherever a request is echoed, by their position.
pub(crate) fn redact_parameters(text: &str) -> String {
    let mut out = text.to_owned();
    for marker in [
        "SecurityToken%3D",
        "SecurityToken=",
        "OIDCToken%3D",
        "OIDCToken=",
    ] {
        out = mask_after(&out, marker);
    }
    out
}

/// Replaces what follows each `marker`, up to the next parameter separator, with the placeholder.
fn mask_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = ["%26", "&", " ", "\"", "\n"]
            .iter()
            .filter_map(|sep| value.find(sep))
            .min()
            .unwrap_or(value.len());
        out.push_str(REDACTED);
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_every_encoding() {
        let credentials = Credentials {
            access_key_id: "id".into(),
            access_key_secret: Secret::new("se cret/+"),
            security_token: Some(Secret::new("CAIS+tok")),
        };
        let sts = "GET&%2F&SecurityToken%3DCAIS%252Btok%26X%3D1";
        assert_eq!(
            redact(sts, &credentials),
            "GET&%2F&SecurityToken%3D<redacted>%26X%3D1"
        );
        let rewritten = "GET&%2F&SecurityToken%3DCAIS%2520tok";
        assert_eq!(
            redact(rewritten, &credentials),
            "GET&%2F&SecurityToken%3D<redacted>"
        );
        let page = "<p>GET /?SecurityToken=CAIS%2Btok&AccessKeyId=id</p> echo: se cret/+ se+cret%2F%2B se%20cret%2F%2B CAIS+tok";
        assert_eq!(
            redact(page, &credentials),
            "<p>GET /?SecurityToken=<redacted>&AccessKeyId=id</p> echo: <redacted> <redacted> <redacted> <redacted>"
        );
    }
}
