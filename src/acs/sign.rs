//! RPC signature v1.0 (HMAC-SHA1), exactly as spec section 2.3 describes it.
//!
//! The same functions sign the exporter's requests and verify them in the
//! simulator, so a mistake cannot hide behind two matching implementations:
//! the unit tests pin them to the spec's vectors, byte for byte.

use super::Credentials;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Every byte except the unreserved `A-Z a-z 0-9 - _ . ~` is escaped.
const RPC_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a name or value the way the signature requires (`%20` for space, upper-case hex).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_encoded(&mut out, value);
    out
}

/// Appends `value` to `out`, percent-encoded as [`percent_encode`] does, without a string of its own.
fn push_encoded(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, RPC_ENCODE_SET));
}

/// Room for `len` bytes once encoded: most parameter bytes are unreserved, and a
/// string that outgrows this reallocates once rather than at every doubling.
fn encoded_room(len: usize) -> usize {
    len + len / 4 + 16
}

/// Builds the canonical query string: pairs sorted by name (byte order), encoded, joined with `&`.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    sorted.sort_unstable();
    let raw: usize = sorted.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(encoded_room(raw));
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_encoded(&mut out, name);
        out.push('=');
        push_encoded(&mut out, value);
    }
    out
}

/// The string-to-sign: `METHOD&%2F&` followed by the canonical query, encoded once more.
pub fn string_to_sign(method: &str, canonical_query: &str) -> String {
    // The canonical query's `%`, `&` and `=` each become three bytes.
    let mut out = String::with_capacity(method.len() + 5 + canonical_query.len() * 3 / 2);
    out.push_str(method);
    out.push_str("&%2F&");
    push_encoded(&mut out, canonical_query);
    out
}

/// `Base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn signature(string_to_sign: &str, secret: &str) -> String {
    let key = format!("{secret}&");
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A request's parameters once signed: what goes on the wire and what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuery {
    /// The query string to send, `Signature` included, encoded as in step 3 of the algorithm.
    pub query: String,
    /// The string-to-sign, kept so a `SignatureDoesNotMatch` can be compared with the server's.
    pub string_to_sign: String,
}

/// Signs `params` (every parameter except `Signature`) for `method` with `secret`.
pub fn sign_query<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    params: &[(K, V)],
    secret: &str,
) -> SignedQuery {
    let canonical = canonical_query(params);
    let string_to_sign = string_to_sign(method, &canonical);
    let signature = signature(&string_to_sign, secret);
    let mut query = canonical;
    // A base64 HMAC-SHA1 is 28 bytes, of which `+`, `/` and `=` grow to three.
    query.reserve(11 + 28 * 3);
    query.push_str("&Signature=");
    push_encoded(&mut query, &signature);
    SignedQuery {
        query,
        string_to_sign,
    }
}

/// Signs an RPC call of `action` (API `version`) as the SDK does: the common
/// parameters, a fresh nonce and timestamp, the `SecurityToken` of STS
/// credentials, then `params`.
pub fn sign_rpc(
    method: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
    credentials: &Credentials,
) -> SignedQuery {
    let nonce = nonce();
    let timestamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("AccessKeyId", credentials.access_key_id.as_str()),
        ("Action", action),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", &nonce),
        ("SignatureVersion", "1.0"),
        ("Timestamp", &timestamp),
        ("Version", version),
    ];
    all.extend_from_slice(params);
    if let Some(token) = &credentials.security_token {
        all.push(("SecurityToken", token.expose()));
    }
    sign_query(method, &all, credentials.access_key_secret.expose())
}

/// A fresh `SignatureNonce`, in the UUID form the docs recommend: a counter,
/// unique within the process (the API refuses a reused nonce), behind a random
/// per-process prefix mixed with the wall clock's nanoseconds. No `getrandom`
/// system call per request, which a poll at a thousand calls a second would
/// otherwise pay every time; the clock keeps two copies of one process (a VM
/// or container restored from one snapshot, same prefix and counter) apart.
fn nonce() -> String {
    static PREFIX: LazyLock<u64> = LazyLock::new(|| {
        let random = uuid::Uuid::new_v4();
        u64::from_be_bytes(
            *random
                .as_bytes()
                .first_chunk()
                .expect("a UUID has 16 bytes"),
        )
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Nanoseconds since the epoch, in 64 bits, read through the vDSO: no system call.
    let clock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&(*PREFIX ^ clock).to_be_bytes());
    // Bytes 8..16 hold the counter; the variant bits set below overwrite its top
    // two, which a counter starting at zero never reaches.
    bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "testsecret";

    fn common_v1(
        method_params: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        let mut params = vec![
            ("AccessKeyId", "testid"),
            ("Timestamp", "2024-05-01T08:00:00Z"),
            ("SignatureNonce", "7f8e6d5c-4b3a-4291-8f00-0123456789ab"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Version", "2020-04-07"),
        ];
        params.extend_from_slice(method_params);
        params
    }

    fn v0() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
    }

    fn v1() -> Vec<(&'static str, &'static str)> {
        common_v1(&[
            ("Action", "DescribeDeploymentJobStatus"),
            ("Format", "JSON"),
            ("JobId", "8888"),
        ])
    }

    #[test]
    fn encodes_every_example_of_the_spec() {
        let cases = [
            ("a b", "a%20b"),
            ("*", "%2A"),
            ("~", "~"),
            ("/", "%2F"),
            ("中文", "%E4%B8%AD%E6%96%87"),
            ("+", "%2B"),
            ("=", "%3D"),
            ("&", "%26"),
            (":", "%3A"),
            ("!'()", "%21%27%28%29"),
            ("é", "%C3%A9"),
            ("%", "%25"),
            ("AZaz09-_.~", "AZaz09-_.~"),
        ];
        for (raw, encoded) in cases {
            assert_eq!(percent_encode(raw), encoded, "encoding {raw:?}");
        }
    }

    #[test]
    fn v0_documented_example() {
        let canonical = canonical_query(&v0());
        assert_eq!(
            canonical,
            "AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26"
        );
        let sts = string_to_sign("GET", &canonical);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(signature(&sts, SECRET), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        let signed = sign_query("GET", &v0(), SECRET);
        assert!(
            signed
                .query
                .ends_with("&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D")
        );
    }

    #[test]
    fn v0b_post() {
        let signed = sign_query("POST", &v0(), SECRET);
        assert_eq!(
            signed.query,
            sign_query("GET", &v0(), SECRET).query.replace(
                "OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D",
                "MxbnVAM4w6sft9xjVpe%2FGCKueuk%3D"
            )
        );
        assert_eq!(
            signed.string_to_sign,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature(&signed.string_to_sign, SECRET),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
    }

    #[test]
    fn v1_describe_deployment_job_status_get() {
        let canonical = canonical_query(&v1());
        assert_eq!(
            canonical,
            "AccessKeyId=testid&Action=DescribeDeploymentJobStatus&Format=JSON&JobId=8888&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2020-04-07"
        );
        let sts = string_to_sign("GET", &canonical);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDeploymentJobStatus%26Format%3DJSON%26JobId%3D8888%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(signature(&sts, SECRET), "K2+pxvEY8KeaIEFYdBAFcw1oys8=");
        assert!(
            sign_query("GET", &v1(), SECRET)
                .query
                .ends_with("&Signature=K2%2BpxvEY8KeaIEFYdBAFcw1oys8%3D")
        );
    }

    #[test]
    fn v2_post() {
        let signed = sign_query("POST", &v1(), SECRET);
        assert_eq!(
            signed.query,
            "AccessKeyId=testid&Action=DescribeDeploymentJobStatus&Format=JSON&JobId=8888&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2020-04-07&Signature=AdeMfuePtllF9TH28X9ap5voL5Q%3D"
        );
        assert_eq!(
            signed.string_to_sign,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDeploymentJobStatus%26Format%3DJSON%26JobId%3D8888%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(
            signature(&signed.string_to_sign, SECRET),
            "AdeMfuePtllF9TH28X9ap5voL5Q="
        );
    }

    #[test]
    fn v3_security_token() {
        let mut params = v1();
        params.push(("SecurityToken", "CAIS+token/with=special&chars"));
        let canonical = canonical_query(&params);
        assert_eq!(
            canonical,
            "AccessKeyId=testid&Action=DescribeDeploymentJobStatus&Format=JSON&JobId=8888&SecurityToken=CAIS%2Btoken%2Fwith%3Dspecial%26chars&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2020-04-07"
        );
        let sts = string_to_sign("GET", &canonical);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDeploymentJobStatus%26Format%3DJSON%26JobId%3D8888%26SecurityToken%3DCAIS%252Btoken%252Fwith%253Dspecial%2526chars%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(signature(&sts, SECRET), "B8srAFO3xALb6i7J/ciioNjW7Tg=");
    }

    #[test]
    fn v4_special_characters() {
        let params = common_v1(&[
            ("Action", "ListCloudResources"),
            ("Format", "JSON"),
            ("CurrentPage", "1"),
            ("ShowSize", "20"),
            ("Keyword", "a b*c~d/中文+e=f&g"),
        ]);
        let canonical = canonical_query(&params);
        assert_eq!(
            canonical,
            "AccessKeyId=testid&Action=ListCloudResources&CurrentPage=1&Format=JSON&Keyword=a%20b%2Ac~d%2F%E4%B8%AD%E6%96%87%2Be%3Df%26g&ShowSize=20&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2020-04-07"
        );
        let sts = string_to_sign("GET", &canonical);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DListCloudResources%26CurrentPage%3D1%26Format%3DJSON%26Keyword%3Da%2520b%252Ac~d%252F%25E4%25B8%25AD%25E6%2596%2587%252Be%253Df%2526g%26ShowSize%3D20%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(signature(&sts, SECRET), "aHBo12HRI2kPG/Mrje9w2YOLA5w=");
    }

    #[test]
    fn v5_post_lower_case_format() {
        let params = common_v1(&[
            ("Action", "DescribeDeploymentJobStatus"),
            ("Format", "json"),
            ("JobId", "8888"),
        ]);
        let signed = sign_query("POST", &params, SECRET);
        assert_eq!(
            canonical_query(&params),
            "AccessKeyId=testid&Action=DescribeDeploymentJobStatus&Format=json&JobId=8888&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2020-04-07"
        );
        assert_eq!(
            signed.string_to_sign,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDeploymentJobStatus%26Format%3Djson%26JobId%3D8888%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(
            signature(&signed.string_to_sign, SECRET),
            "dpgbBxwaQ27sOEPRLC8M6YLDyvA="
        );
    }

    #[test]
    fn v6_full_sdk_call_with_security_token() {
        let mut params = common_v1(&[
            ("Action", "DescribeDeploymentJobStatus"),
            ("Format", "json"),
            ("JobId", "8888"),
        ]);
        let plain = sign_query("POST", &params, SECRET);
        assert!(
            plain
                .query
                .ends_with("&Signature=dpgbBxwaQ27sOEPRLC8M6YLDyvA%3D")
        );
        params.push(("SecurityToken", "CAIS+token/with=special&chars"));
        let signed = sign_query("POST", &params, SECRET);
        assert_eq!(
            signed.string_to_sign,
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeDeploymentJobStatus%26Format%3Djson%26JobId%3D8888%26SecurityToken%3DCAIS%252Btoken%252Fwith%253Dspecial%2526chars%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2020-04-07"
        );
        assert_eq!(
            signature(&signed.string_to_sign, SECRET),
            "T9AsLW2opvPJ9SjLnOIEGs5KjGQ="
        );
    }

    #[test]
    fn v7_sts_assume_role() {
        let params = [
            ("Action", "AssumeRole"),
            ("Format", "JSON"),
            ("Version", "2015-04-01"),
            ("DurationSeconds", "3600"),
            ("RoleArn", "acs:ram::123456789012:role/cas-exporter"),
            ("RoleSessionName", "cas-exporter"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-05-01T08:00:00Z"),
            ("SignatureNonce", "7f8e6d5c-4b3a-4291-8f00-0123456789ab"),
            ("AccessKeyId", "testid"),
        ];
        assert_eq!(
            canonical_query(&params),
            "AccessKeyId=testid&Action=AssumeRole&DurationSeconds=3600&Format=JSON&RoleArn=acs%3Aram%3A%3A123456789012%3Arole%2Fcas-exporter&RoleSessionName=cas-exporter&SignatureMethod=HMAC-SHA1&SignatureNonce=7f8e6d5c-4b3a-4291-8f00-0123456789ab&SignatureVersion=1.0&Timestamp=2024-05-01T08%3A00%3A00Z&Version=2015-04-01"
        );
        let signed = sign_query("GET", &params, SECRET);
        assert_eq!(
            signed.string_to_sign,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DAssumeRole%26DurationSeconds%3D3600%26Format%3DJSON%26RoleArn%3Dacs%253Aram%253A%253A123456789012%253Arole%252Fcas-exporter%26RoleSessionName%3Dcas-exporter%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D7f8e6d5c-4b3a-4291-8f00-0123456789ab%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2015-04-01"
        );
        assert_eq!(
            signature(&signed.string_to_sign, SECRET),
            "iJe+udHIddlaQZ+wSL6GO2DXFtc="
        );
    }

    #[test]
    fn empty_values_sign_as_key_equals() {
        assert_eq!(canonical_query(&[("b", ""), ("a", "1")]), "a=1&b=");
    }

    #[test]
    fn nonces_are_version_4_uuids_that_never_repeat() {
        let nonces: Vec<String> = (0..10_000).map(|_| nonce()).collect();
        let distinct: std::collections::BTreeSet<&String> = nonces.iter().collect();
        assert_eq!(distinct.len(), nonces.len());
        for nonce in &nonces {
            let parsed = uuid::Uuid::parse_str(nonce).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{nonce}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{nonce}");
            assert_eq!(parsed.hyphenated().to_string(), *nonce);
        }
        // Unique by the counter alone, whatever the clock: the last 8 bytes count up.
        let counts: Vec<u64> = nonces
            .iter()
            .map(|n| {
                let bytes = uuid::Uuid::parse_str(n).unwrap().into_bytes();
                u64::from_be_bytes(*bytes.last_chunk().unwrap()) & (u64::MAX >> 2)
            })
            .collect();
        assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn decode(encoded: &str) -> String {
        percent_encoding::percent_decode_str(encoded)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_leaves_only_unreserved_and_upper_hex(value in "\\PC*") {
            let encoded = percent_encode(&value);
            prop_assert_eq!(decode(&encoded), value);
            let mut chars = encoded.chars();
            while let Some(c) = chars.next() {
                if c == '%' {
                    let hex: String = chars.by_ref().take(2).collect();
                    prop_assert!(hex.len() == 2 && hex.chars().all(|h| h.is_ascii_digit() || ('A'..='F').contains(&h)), "{}", encoded);
                } else {
                    prop_assert!(c.is_ascii_alphanumeric() || "-_.~".contains(c), "{}", encoded);
                }
            }
        }

        #[test]
        fn the_canonical_query_ignores_parameter_order(
            params in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,12}", "\\PC{0,20}", 1..12),
            seed in any::<u64>(),
        ) {
            let sorted: Vec<(String, String)> = params.clone().into_iter().collect();
            let mut shuffled = sorted.clone();
            // A deterministic shuffle from the seed.
            let len = shuffled.len();
            for i in 0..len {
                let j = (seed.wrapping_mul(i as u64 + 7) % len as u64) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(canonical_query(&shuffled), canonical_query(&sorted));
            let names: Vec<String> = canonical_query(&shuffled).split('&').map(|p| decode(p.split('=').next().unwrap())).collect();
            let mut expected = names.clone();
            expected.sort();
            prop_assert_eq!(names, expected);
        }

        #[test]
        fn a_signed_query_verifies_as_the_server_checks_it(
            params in proptest::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,12}", "\\PC{0,20}", 1..8),
            secret in "[!-~]{1,40}",
            post in any::<bool>(),
        ) {
            let method = if post { "POST" } else { "GET" };
            let list: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "Signature").collect();
            let signed = sign_query(method, &list, &secret);
            // The server decodes the query, drops Signature, and signs what is left.
            let decoded: Vec<(String, String)> = signed
                .query
                .split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (decode(k), decode(v))
                })
                .collect();
            let (sig, rest): (Vec<_>, Vec<_>) = decoded.into_iter().partition(|(k, _)| k == "Signature");
            let server = string_to_sign(method, &canonical_query(&rest));
            prop_assert_eq!(&server, &signed.string_to_sign);
            prop_assert_eq!(&sig[0].1, &signature(&server, &secret));
        }
    }
}
