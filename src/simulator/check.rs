//! Request checking, as the gateway does it before any action runs: the common
//! parameters, the AccessKey and signature, the security token, the nonce, the
//! key's denied actions and the account's rate limit.

use super::answers::Call;
use super::logged::LoggedRequest;
use super::reply::Reply;
use super::service::{SimService, State};
use crate::acs::sign;
use crate::api::{API_VERSION, Action};
use hyper::Method;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How far a request's timestamp may be from the simulator's clock.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(15 * 60);
/// How long a nonce is remembered: as long as a timestamp stays acceptable, either side.
pub const NONCE_WINDOW: Duration = Duration::from_secs(2 * 15 * 60);

const COMMON_REQUIRED: [&str; 8] = [
    "Action",
    "Version",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
];
const COMMON_OPTIONAL: [&str; 5] = [
    "Format",
    "SecurityToken",
    "RegionId",
    "SignatureType",
    "ResourceOwnerAccount",
];

/// The key a request was signed with, as the checks need it.
pub(crate) struct KeyView {
    secret: String,
    token: Option<String>,
    expires: Option<SystemTime>,
    pub(crate) account: String,
    denied_actions: Vec<Action>,
}

impl SimService {
    /// Checks a request as the gateway does and, if it passes, answers it.
    pub(super) fn decide(
        &self,
        method: &Method,
        uri: &hyper::Uri,
        params: Result<BTreeMap<String, String>, String>,
        request_id: &str,
        entry: &mut LoggedRequest,
    ) -> Reply {
        let err =
            |status, code: &str, message: &str| Reply::error(status, code, message, request_id);
        if uri.path() != "/" {
            return err(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            );
        }
        if method != Method::GET && method != Method::POST {
            return err(
                405,
                "UnsupportedHTTPMethod",
                "This http method is not supported.",
            );
        }
        let params = match params {
            Ok(p) => p,
            Err(message) => return err(400, "InvalidParameter", &message),
        };
        entry.security_token = params.contains_key("SecurityToken");
        entry.params = params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "Signature" | "SecurityToken"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for name in COMMON_REQUIRED {
            if params.get(name).is_none_or(String::is_empty) {
                return err(
                    400,
                    "MissingParameter",
                    &format!(
                        "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
                    ),
                );
            }
        }
        let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        if p("Version") != API_VERSION {
            return err(
                400,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            );
        }
        let Some(action) = Action::from_name(p("Action")) else {
            return err(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            );
        };
        if p("SignatureMethod") != "HMAC-SHA1" {
            return err(
                400,
                "InvalidParameter",
                "The specified parameter \"SignatureMethod\" is not valid.",
            );
        }
        if p("SignatureVersion") != "1.0" {
            return err(
                400,
                "InvalidParameter",
                "The specified parameter \"SignatureVersion\" is not valid.",
            );
        }
        if params
            .get("Format")
            .is_some_and(|f| !f.eq_ignore_ascii_case("json"))
        {
            return err(
                400,
                "InvalidParameter",
                "The specified parameter \"Format\" is not valid.",
            );
        }
        let (required, optional) = (action.required_params(), action.optional_params());
        for name in params.keys() {
            let known = COMMON_REQUIRED.contains(&name.as_str())
                || COMMON_OPTIONAL.contains(&name.as_str())
                || required.contains(&name.as_str())
                || optional.contains(&name.as_str());
            if !known {
                return err(
                    400,
                    "InvalidParameter",
                    &format!("The parameter \"{name}\" is not recognised by {action}."),
                );
            }
        }
        let (key, mut state) = match self.authenticate(method, &params, request_id) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        if key.denied_actions.contains(&action) {
            return err(
                403,
                "Forbidden.RAM",
                "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
            );
        }
        if !self.admit(&mut state, &key.account, action) {
            return self.throttled(request_id);
        }
        for name in required {
            if params.get(*name).is_none_or(String::is_empty) {
                return err(
                    400,
                    "MissingParameter",
                    &format!(
                        "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
                    ),
                );
            }
        }
        state.admitted += 1;
        let call = Call {
            target: uri.path_and_query().map_or("/", |t| t.as_str()),
            action,
            params: &params,
            request_id,
        };
        self.dispatch(&state, &call)
    }

    /// Checks what every signed call must pass: timestamp, AccessKey (fixed or
    /// issued by the simulated STS), signature, security token and nonce.
    pub(crate) fn authenticate(
        &self,
        method: &Method,
        params: &BTreeMap<String, String>,
        request_id: &str,
    ) -> Result<(KeyView, std::sync::MutexGuard<'_, State>), Reply> {
        let err =
            |status, code: &str, message: &str| Reply::error(status, code, message, request_id);
        let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        let Some(timestamp) = parse_timestamp(p("Timestamp")) else {
            return Err(err(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ));
        };
        let now = SystemTime::now();
        let skew = match now.duration_since(timestamp) {
            Ok(behind) => behind,
            Err(ahead) => ahead.duration(),
        };
        if skew > TIMESTAMP_TOLERANCE {
            return Err(err(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        let mut state = self.lock();
        let key = match self.keys.iter().find(|k| k.id == p("AccessKeyId")) {
            Some(k) => KeyView {
                secret: k.secret.clone(),
                token: k.security_token.clone(),
                expires: None,
                account: k.account.clone(),
                // Checked when the spec was read: every name is an action's.
                denied_actions: k
                    .denied_actions
                    .iter()
                    .filter_map(|a| Action::from_name(a))
                    .collect(),
            },
            None => match state.temp_keys.get(p("AccessKeyId")) {
                Some(t) => KeyView {
                    secret: t.secret.clone(),
                    token: Some(t.token.clone()),
                    expires: Some(t.expires),
                    account: t.account.clone(),
                    denied_actions: Vec::new(),
                },
                None => {
                    return Err(err(
                        404,
                        "InvalidAccessKeyId.NotFound",
                        "Specified access key is not found.",
                    ));
                }
            },
        };
        let signed: Vec<(&str, &str)> = params
            .iter()
            .filter(|(k, _)| k.as_str() != "Signature")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let string_to_sign = sign::string_to_sign(method.as_str(), &sign::canonical_query(&signed));
        if sign::signature(&string_to_sign, &key.secret) != p("Signature") {
            return Err(err(
                400,
                "SignatureDoesNotMatch",
                &format!(
                    "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
                ),
            ));
        }
        if key.expires.is_some_and(|at| at <= now) {
            return Err(err(
                400,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
        match (&key.token, params.get("SecurityToken")) {
            (None, None) => {}
            (Some(expected), Some(given)) if expected == given => {}
            (Some(_), None) => {
                return Err(err(
                    400,
                    "InvalidSecurityToken.Expired",
                    "Specified SecurityToken is expired.",
                ));
            }
            _ => {
                return Err(err(
                    400,
                    "InvalidSecurityToken.Malformed",
                    "Specified SecurityToken is malformed.",
                ));
            }
        }
        if !remember_nonce(&mut state, p("SignatureNonce"), now) {
            return Err(err(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        Ok((key, state))
    }

    /// Counts the request against its account's per-action window, refusing it when full.
    fn admit(&self, state: &mut State, account: &str, action: Action) -> bool {
        if self.qps_limit == 0 {
            return true;
        }
        let now = Instant::now();
        let window = state
            .windows
            .entry((account.to_owned(), action))
            .or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= self.qps_limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// Accepts a nonce once within the timestamp window; forgets nonces older than it.
fn remember_nonce(state: &mut State, nonce: &str, now: SystemTime) -> bool {
    while let Some((seen, _)) = state.nonce_order.front() {
        if now.duration_since(*seen).unwrap_or_default() <= NONCE_WINDOW {
            break;
        }
        if let Some((_, old)) = state.nonce_order.pop_front() {
            state.nonces.remove(&old);
        }
    }
    if !state.nonces.insert(nonce.to_owned()) {
        return false;
    }
    state.nonce_order.push_back((now, nonce.to_owned()));
    true
}

/// Parses exactly `YYYY-MM-DDThh:mm:ssZ`, the only form the API accepts.
fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let shape = text.len() == 20
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    humantime::parse_rfc3339(text).ok()
}

/// The parameters of the query and a form body together; a name given twice is refused.
pub(super) fn parse_params(
    query: &str,
    form_body: Option<&[u8]>,
) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let pairs = form_urlencoded::parse(query.as_bytes())
        .chain(form_body.map(form_urlencoded::parse).into_iter().flatten());
    for (name, value) in pairs {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(format!("The parameter \"{name}\" is given more than once."));
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::super::answers::parse_id;
    use super::*;

    #[test]
    fn timestamps_must_have_the_exact_shape() {
        assert!(parse_timestamp("2024-05-01T08:00:00Z").is_some());
        assert!(parse_timestamp("2024-05-01T08:00:00.5Z").is_none());
        assert!(parse_timestamp("2024-05-01 08:00:00Z").is_none());
        assert!(parse_timestamp("2024-05-01T08:00:00+00:00").is_none());
        assert!(parse_timestamp("2024-13-01T08:00:00Z").is_none());
    }

    #[test]
    fn parameters_decode_plus_and_refuse_duplicates() {
        let params = parse_params("A=a+b&B=%2F", Some(b"C=1")).unwrap();
        assert_eq!(params["A"], "a b");
        assert_eq!(params["B"], "/");
        assert_eq!(params["C"], "1");
        assert_eq!(parse_id("8888"), Some(8888));
        for bad in ["+8888", " 8888", "0", "", "-1", "88a"] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_params("A=1&A=2", None).unwrap_err(),
            "The parameter \"A\" is given more than once."
        );
    }
}
