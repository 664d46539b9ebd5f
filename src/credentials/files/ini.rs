//! The SDKs' INI profile file (`~/.alibabacloud/credentials`), read as the
//! official Python library reads it.

use super::static_spec;
use crate::credentials::spec::{ProviderSpec, RoleSettings};
use crate::input::excerpt;
use std::collections::BTreeMap;

/// Whitespace as Python's `str.strip()` and `\s` see it: Unicode's, plus the
/// information separators U+001C to U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The sections of an INI file as the official Python library reads them: with
/// `configparser`'s defaults (`=` or `:` between key and value, key names in
/// lower case, full-line `#` and `;` comments, indented lines continuing a value,
/// `[DEFAULT]` filling in every section, `%(name)s` references and `%%`, and a
/// line without a delimiter, a key before any section, a section or key given
/// twice or a stray `%` refused), then with the library's own step of dropping
/// `#` and what follows from each value. Lines end at LF, CR or CRLF, as
/// Python's universal newlines do; a byte-order mark is not skipped.
fn parse_ini(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    // The key whose value an indented line continues, the indent of its line, and
    // the blank lines seen since (kept if a continuation follows).
    let mut open: Option<(String, usize, usize)> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let at = |what: String| format!("line {}: {what}", index + 1);
        let line = raw.trim_matches(py_space);
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.is_empty() {
            if let Some((_, _, blanks)) = &mut open {
                *blanks += 1;
            }
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(py_space).len();
        if let (Some(name), Some((key, level, blanks))) = (&section, &mut open)
            && indent > *level
        {
            let value = sections
                .get_mut(name)
                .and_then(|s| s.get_mut(key.as_str()))
                .expect("the open key was stored");
            value.push_str(&"\n".repeat(*blanks + 1));
            value.push_str(line);
            *blanks = 0;
            continue;
        }
        open = None;
        if let Some(header) = line
            .strip_prefix('[')
            .and_then(|l| l.rfind(']').map(|end| &l[..end]))
        {
            if header.is_empty() {
                return Err(at("a section header names no section".into()));
            }
            // configparser merges a repeated [DEFAULT]; any other section given twice is an error.
            if header != DEFAULT_SECTION && sections.contains_key(header) {
                return Err(at(format!("section [{}] is given twice", shown(header))));
            }
            sections.entry(header.to_owned()).or_default();
            section = Some(header.to_owned());
            continue;
        }
        let Some(name) = &section else {
            return Err(at(
                "a key comes before any [section]; start the file with the profile's [section] header".into(),
            ));
        };
        let Some(split) = line.find(['=', ':']) else {
            return Err(at(
                "the line is neither a [section], a comment nor key = value".into(),
            ));
        };
        let key = line[..split].trim_end_matches(py_space).to_lowercase();
        if key.is_empty() {
            return Err(at("the line has a value but no key".into()));
        }
        let value = line[split + 1..].trim_start_matches(py_space).to_owned();
        let keys = sections.get_mut(name).expect("the section was stored");
        if keys.contains_key(&key) {
            return Err(at(format!(
                "key {} is given twice in [{}]",
                excerpt(&key),
                shown(name)
            )));
        }
        keys.insert(key.clone(), value);
        open = Some((key, indent, 0));
    }
    let defaults = sections.remove(DEFAULT_SECTION).unwrap_or_default();
    let mut read = BTreeMap::new();
    for (name, mut keys) in sections {
        for (key, value) in &defaults {
            keys.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let mut values = BTreeMap::new();
        for (key, raw) in &keys {
            let value = interpolate(raw, &keys, 0)
                .map_err(|why| format!("[{}] {}: {why}", shown(&name), excerpt(key)))?;
            let kept = value
                .split('#')
                .next()
                .unwrap_or("")
                .trim_matches(py_space)
                .to_owned();
            values.insert(key.clone(), kept);
        }
        read.insert(name, values);
    }
    Ok(read)
}

/// The section whose keys fill in every other section.
const DEFAULT_SECTION: &str = "DEFAULT";

/// configparser's basic interpolation: `%%` is `%`, `%(name)s` is the value of
/// `name` in the same section (references nest at most ten deep), and any other
/// `%` is an error, which makes the library refuse the whole file.
fn interpolate(
    value: &str,
    keys: &BTreeMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("%(name)s references nest more than ten deep (a loop?)".into());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
        } else if let Some(reference) = after.strip_prefix('(') {
            let (name, tail) = reference
                .split_once(")s")
                .filter(|(name, _)| !name.is_empty() && !name.contains(')'))
                .ok_or("a '%(' is not followed by name)s")?;
            let target = keys
                .get(&name.to_lowercase())
                .ok_or_else(|| format!("%({})s names no key of the section", excerpt(name)))?;
            out.push_str(&interpolate(target, keys, depth + 1)?);
            rest = tail;
        } else {
            return Err("'%' must be followed by '%' or '(' (write %% for a percent sign)".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The profile `profile` of an INI credentials file.
pub(in crate::credentials) fn ini_profile(
    text: &str,
    profile: &str,
    role: &RoleSettings,
) -> Result<ProviderSpec, String> {
    let sections = parse_ini(text)?;
    let section = sections
        .get(profile)
        .ok_or_else(|| format!("it has no [{}] section", shown(profile)))?;
    let get = |key: &str| {
        section
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let need = |key: &str| get(key).ok_or_else(|| format!("[{}] has no {key}", shown(profile)));
    match get("type").unwrap_or("") {
        "access_key" => static_spec("profile", need("access_key_id")?, need("access_key_secret")?, None),
        "ram_role_arn" => Ok(ProviderSpec::RamRoleArn {
            source: Box::new(static_spec("profile", need("access_key_id")?, need("access_key_secret")?, None)?),
            role_arn: need("role_arn")?.to_owned(),
            session_name: get("role_session_name").map_or_else(|| role.session_name.clone(), str::to_owned),
            policy: get("policy").map(str::to_owned),
            external_id: None,
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        "oidc_role_arn" => Ok(ProviderSpec::Oidc {
            role_arn: need("role_arn")?.to_owned(),
            provider_arn: need("oidc_provider_arn")?.to_owned(),
            token_file: need("oidc_token_file_path")?.into(),
            session_name: get("role_session_name").map_or_else(|| role.session_name.clone(), str::to_owned),
            policy: get("policy").map(str::to_owned),
            duration: role.duration,
            sts: role.sts.clone(),
        }),
        "ecs_ram_role" => Ok(ProviderSpec::EcsRamRole {
            role: get("role_name").map(str::to_owned),
            endpoint: role.metadata_endpoint.clone(),
        }),
        "rsa_key_pair" => Err("type rsa_key_pair is a legacy type the exporter does not support; use access_key or a role".into()),
        other => Err(format!(
            "[{}] has type {}; use access_key, ram_role_arn, oidc_role_arn or ecs_ram_role",
            shown(profile),
            excerpt(other)
        )),
    }
}

/// A profile name as messages show it: names come from the environment or a file, unbounded.
fn shown(profile: &str) -> String {
    if profile.chars().count() <= crate::input::EXCERPT_CHARS && !profile.contains(char::is_control)
    {
        profile.to_owned()
    } else {
        excerpt(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{key_of, role};
    use super::*;

    const INI: &str = "
[default]
type = access_key                  # the key of the ops team
access_key_id = LTAIdefault
access_key_secret = secret#1

[role]
type = ram_role_arn
access_key_id = LTAIsource
access_key_secret = s2
role_arn = acs:ram::1:role/cas
role_session_name = mine

[oidc]
type = oidc_role_arn
role_arn = acs:ram::1:role/rrsa
oidc_provider_arn = acs:ram::1:oidc-provider/ack
oidc_token_file_path = /var/run/token

[ecs]
type = ecs_ram_role
role_name = cas-role

[old]
type = rsa_key_pair
";

    #[test]
    fn ini_profiles_of_every_type() {
        let spec = |p: &str| ini_profile(INI, p, &role()).map(|s| key_of(&s));
        assert_eq!(spec("default"), Ok("LTAIdefault".into()));
        assert_eq!(
            spec("role"),
            Ok("acs:ram::1:role/cas via LTAIsource".into())
        );
        assert_eq!(
            spec("oidc"),
            Ok("oidc acs:ram::1:role/rrsa /var/run/token".into())
        );
        assert_eq!(spec("ecs"), Ok("ecs Some(\"cas-role\")".into()));
        assert!(spec("old").unwrap_err().contains("rsa_key_pair"));
        assert_eq!(spec("nope"), Err("it has no [nope] section".into()));
        let default = ini_profile(INI, "default", &role()).unwrap();
        let ProviderSpec::Static { credentials, .. } = default else {
            panic!()
        };
        assert_eq!(
            credentials.access_key_secret.expose(),
            "secret",
            "text after # is dropped, as the SDK does"
        );
    }

    #[test]
    fn ini_files_are_read_as_configparser_reads_them() {
        let parsed = parse_ini(
            "# comment\n; comment\n[DEFAULT]\nregion = cn\n[p]\nType: access_key\nACCESS_KEY_ID = LTAIp # note\n  continued\n\n  after a blank\n[ spaced ]\nk=v\n",
        )
        .unwrap();
        let p = &parsed["p"];
        assert_eq!(
            p["type"], "access_key",
            "`:` and upper-case keys, as configparser"
        );
        assert_eq!(
            p["access_key_id"], "LTAIp",
            "the library drops # and what follows"
        );
        assert_eq!(p["region"], "cn", "[DEFAULT] fills in every section");
        assert_eq!(
            parsed[" spaced "]["k"], "v",
            "a section name is kept as written"
        );
        assert!(!parsed.contains_key("DEFAULT"));
        let continued = parse_ini("[p]\nk = a\n  b\n\n  c\nj = d\n").unwrap();
        assert_eq!(continued["p"]["k"], "a\nb\n\nc");
        assert_eq!(continued["p"]["j"], "d");
        for (text, error) in [
            (
                "type = access_key\n[p]\n",
                "line 1: a key comes before any [section]; start the file with the profile's [section] header",
            ),
            (
                "[p]\naccess_key_id\n",
                "line 2: the line is neither a [section], a comment nor key = value",
            ),
            (
                "[p]\nk = 1\n[q]\n[p]\n",
                "line 4: section [p] is given twice",
            ),
            (
                "[p]\nk = 1\nK = 2\n",
                "line 3: key \"k\" is given twice in [p]",
            ),
            ("[p]\n= 1\n", "line 2: the line has a value but no key"),
            ("[]\n", "line 1: a section header names no section"),
        ] {
            assert_eq!(parse_ini(text), Err(error.to_owned()), "{text:?}");
        }
        // Found by comparing with the library itself.
        let interpolated =
            parse_ini("[DEFAULT]\nx = PCT\n[p]\na = %(x)s3\nb = %%AB\nc = %(A)s-%(b)s\n").unwrap();
        assert_eq!(
            (
                interpolated["p"]["a"].as_str(),
                interpolated["p"]["b"].as_str(),
                interpolated["p"]["c"].as_str()
            ),
            ("PCT3", "%AB", "PCT3-%AB")
        );
        for (text, error) in [
            (
                "[p]\nk = a%b\n",
                "[p] \"k\": '%' must be followed by '%' or '(' (write %% for a percent sign)",
            ),
            (
                "[p]\nk = 1\n[other]\nnote = 50% off\n",
                "[other] \"note\": '%' must be followed by '%' or '(' (write %% for a percent sign)",
            ),
            (
                "[p]\nk = %(nope)s\n",
                "[p] \"k\": %(\"nope\")s names no key of the section",
            ),
            (
                "[p]\nk = %(k)s\n",
                "[p] \"k\": %(name)s references nest more than ten deep (a loop?)",
            ),
            (
                "\u{feff}[p]\nk = 1\n",
                "line 1: a key comes before any [section]; start the file with the profile's [section] header",
            ),
        ] {
            assert_eq!(parse_ini(text), Err(error.to_owned()), "{text:?}");
        }
        let merged = parse_ini("[DEFAULT]\na = 1\n[p]\n[DEFAULT]\nb = 2\n").unwrap();
        assert_eq!(
            (merged["p"]["a"].as_str(), merged["p"]["b"].as_str()),
            ("1", "2"),
            "a repeated [DEFAULT] merges"
        );
        let carriage = parse_ini("[p]\rk = v\r\nj = \u{1c}w\u{1f}\n").unwrap();
        assert_eq!(
            (carriage["p"]["k"].as_str(), carriage["p"]["j"].as_str()),
            ("v", "w"),
            "CR ends a line; separators are blanks"
        );
        assert_eq!(
            ini_profile("k = v\n", "default", &role()).unwrap_err(),
            "line 1: a key comes before any [section]; start the file with the profile's [section] header"
        );
    }
}
