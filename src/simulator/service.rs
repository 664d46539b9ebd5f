//! Answers one request the way the CAS RPC gateway does: parse, authenticate,
//! authorise, rate-limit, then dispatch; every refusal with the real code and status.

use super::spec::{AccessKeySpec, Fault, IdentitySpec, JobSpec, SimulatorSpec};
use super::world::{instance_id, job_body, job_state, status_body};
use super::{LoggedRequest, NONCE_WINDOW, TIMESTAMP_TOLERANCE};
use crate::acs::sign;
use crate::api::{API_VERSION, Action};
use crate::body::Chunks;
use crate::http::serve::Handler;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// How long a hanging answer hangs: longer than any client timeout.
const HANG_FOR: Duration = Duration::from_secs(3600);
/// The largest request body read.
const MAX_BODY: usize = 64 * 1024;
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

/// An answer, decided while holding the state lock and sent after it is released.
pub(crate) struct Reply {
    status: u16,
    body: Bytes,
    content_type: &'static str,
    code: String,
    hang: bool,
    /// `x-acs-retry-after`, on throttling when the spec asks for it.
    retry_after: Option<Duration>,
}

impl Reply {
    /// A plain-text answer, as the metadata service gives.
    pub(crate) fn text(status: u16, code: &str, body: &str) -> Self {
        Self {
            status,
            body: Bytes::from(body.to_owned()),
            content_type: "text/plain",
            code: code.to_owned(),
            hang: false,
            retry_after: None,
        }
    }

    pub(crate) fn json(status: u16, code: &str, body: &Map<String, Value>) -> Self {
        Self {
            status,
            body: Bytes::from(Value::Object(body.clone()).to_string()),
            content_type: "application/json;charset=utf-8",
            code: code.to_owned(),
            hang: false,
            retry_after: None,
        }
    }

    pub(crate) fn error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        let mut body = Map::new();
        body.insert("RequestId".into(), request_id.into());
        body.insert("HostId".into(), "cas.aliyuncs.com".into());
        body.insert("Code".into(), code.into());
        body.insert("Message".into(), message.into());
        body.insert(
            "Recommend".into(),
            format!(
                "https://api.aliyun.com/troubleshoot?q={code}&product=cas&requestId={request_id}"
            )
            .into(),
        );
        Self::json(status, code, &body)
    }

    fn fault(fault: Fault, call: &Call<'_>, ok_body: &Map<String, Value>) -> Self {
        let request_id = call.request_id;
        match fault {
            Fault::InternalError => Self::error(
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
                request_id,
            ),
            Fault::ServiceUnavailable => Self::error(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                request_id,
            ),
            Fault::Throttle => Self::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
                request_id,
            ),
            // Some proxies echo the request line, query string and all: the client must not log it as it is.
            Fault::BadGateway => Self {
                status: 502,
                body: Bytes::from(format!(
                    "<html><body><h1>502 Bad Gateway</h1><p>{}</p></body></html>",
                    call.target
                )),
                content_type: "text/html",
                code: fault.name().to_owned(),
                hang: false,
                retry_after: None,
            },
            Fault::Malformed => Self {
                status: 200,
                body: Bytes::from_static(
                    b"<html><body>upstream temporarily unavailable</body></html>",
                ),
                content_type: "text/html",
                code: fault.name().to_owned(),
                hang: false,
                retry_after: None,
            },
            Fault::Truncated => {
                let full = Value::Object(ok_body.clone()).to_string();
                let cut = full.len() / 2;
                Self {
                    status: 200,
                    body: Bytes::from(full.into_bytes()).slice(..cut),
                    content_type: "application/json;charset=utf-8",
                    code: fault.name().to_owned(),
                    hang: false,
                    retry_after: None,
                }
            }
            Fault::Oversized => {
                let mut body = ok_body.clone();
                body.insert("Padding".into(), "x".repeat(5 * 1024 * 1024).into());
                Self::json(200, fault.name(), &body)
            }
            Fault::Hang => Self {
                status: 504,
                body: Bytes::new(),
                content_type: "text/plain",
                code: fault.name().to_owned(),
                hang: true,
                retry_after: None,
            },
        }
    }
}

/// Mutable state: seen nonces, rate windows, the log, and settings tests may change.
pub(crate) struct State {
    pub(crate) jobs: BTreeMap<u64, JobSpec>,
    /// Credentials the simulated STS, metadata service and credentials URI handed out.
    pub(crate) temp_keys: HashMap<String, TempKey>,
    /// While set, the identity services answer 503.
    pub(crate) identity_failing: bool,
    /// IMDSv2 tokens handed out.
    pub(crate) imds_tokens: HashSet<String>,
    pub(crate) latency: Duration,
    pub(crate) log: Vec<LoggedRequest>,
    nonces: HashSet<String>,
    nonce_order: VecDeque<(SystemTime, String)>,
    windows: HashMap<(String, Action), VecDeque<Instant>>,
    admitted: u64,
}

/// Temporary credentials the simulator issued.
pub(crate) struct TempKey {
    pub(crate) secret: String,
    pub(crate) token: String,
    pub(crate) expires: SystemTime,
    pub(crate) account: String,
}

/// The key a request was signed with, as the checks need it.
pub(crate) struct KeyView {
    secret: String,
    token: Option<String>,
    expires: Option<SystemTime>,
    pub(crate) account: String,
    denied_actions: Vec<Action>,
}

/// The simulator's request handler.
pub(crate) struct SimService {
    keys: Vec<AccessKeySpec>,
    pub(crate) identity: IdentitySpec,
    qps_limit: u32,
    throttle_status: u16,
    throttle_retry_after: Option<Duration>,
    shares: [(Fault, f64); 5],
    started: Instant,
    started_unix_ms: u64,
    pub(crate) state: Mutex<State>,
}

/// The parsed, authenticated parts of a request that the handlers need.
struct Call<'a> {
    /// The request target, path and query, as received.
    target: &'a str,
    action: Action,
    params: &'a BTreeMap<String, String>,
    request_id: &'a str,
}

impl SimService {
    pub(crate) fn new(spec: SimulatorSpec) -> Self {
        let f = &spec.faults;
        Self {
            keys: spec.access_keys,
            identity: spec.identity,
            qps_limit: spec.qps_limit,
            throttle_status: spec.throttle_status,
            throttle_retry_after: spec.throttle_retry_after,
            shares: [
                (Fault::InternalError, f.internal_error),
                (Fault::ServiceUnavailable, f.service_unavailable),
                (Fault::Malformed, f.malformed),
                (Fault::Truncated, f.truncated),
                (Fault::Hang, f.hang),
            ],
            started: Instant::now(),
            started_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            state: Mutex::new(State {
                jobs: spec.jobs.into_iter().map(|j| (j.id, j)).collect(),
                temp_keys: HashMap::new(),
                identity_failing: false,
                imds_tokens: HashSet::new(),
                latency: spec.latency,
                log: Vec::new(),
                nonces: HashSet::new(),
                nonce_order: VecDeque::new(),
                windows: HashMap::new(),
                admitted: 0,
            }),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decide(
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

    /// Deterministic shares: fault i fires each time `n × share + offset` crosses
    /// a whole number, each offset being the shares before it, so equal shares
    /// fall on different requests instead of the first fault taking them all.
    fn global_fault(&self, admitted: u64) -> Option<Fault> {
        let n = admitted as f64;
        let mut offset = 0.0;
        self.shares.iter().find_map(|(fault, share)| {
            let fires =
                *share > 0.0 && (n * share + offset).floor() > ((n - 1.0) * share + offset).floor();
            offset += share;
            fires.then_some(*fault)
        })
    }

    fn dispatch(&self, state: &State, call: &Call<'_>) -> Reply {
        let elapsed = Instant::now().duration_since(self.started);
        let with_id = |mut body: Map<String, Value>| {
            body.insert("RequestId".into(), call.request_id.into());
            body
        };
        if call.action == Action::ListDeploymentJob {
            return match self.list(state, call, elapsed) {
                Ok(body) => self.ok(state, None, call, with_id(body)),
                Err(reply) => reply,
            };
        }
        let raw = call
            .params
            .get("JobId")
            .map(String::as_str)
            .unwrap_or_default();
        let Some(job_id) = parse_id(raw) else {
            return Reply::error(
                400,
                "InvalidParameter",
                "The specified parameter \"JobId\" is not valid.",
                call.request_id,
            );
        };
        let Some(job) = state.jobs.get(&job_id) else {
            return Reply::error(
                400,
                "InvalidParameter.JobId",
                &format!("The deployment job {job_id} does not exist."),
                call.request_id,
            );
        };
        let job_state = job_state(job, elapsed);
        let body = match call.action {
            Action::DescribeDeploymentJobStatus => status_body(job, &job_state),
            Action::DescribeDeploymentJob | Action::ListDeploymentJob => {
                job_body(job, &job_state, self.started_unix_ms)
            }
        };
        self.ok(state, Some(job), call, with_id(body))
    }

    fn throttled(&self, request_id: &str) -> Reply {
        let mut reply = Reply::error(
            self.throttle_status,
            "Throttling.User",
            "Request was denied due to user flow control.",
            request_id,
        );
        reply.retry_after = self.throttle_retry_after;
        reply
    }

    fn ok(
        &self,
        state: &State,
        job: Option<&JobSpec>,
        call: &Call<'_>,
        body: Map<String, Value>,
    ) -> Reply {
        if let Some(error) = job.and_then(|j| j.error.as_ref()) {
            // Without `Recommend`, which would repeat the code: a huge code stays one copy.
            let mut body = Map::new();
            let request_id = error.request_id.as_deref().unwrap_or(call.request_id);
            body.insert("RequestId".into(), request_id.into());
            body.insert("HostId".into(), "cas.aliyuncs.com".into());
            body.insert("Code".into(), error.code.as_str().into());
            body.insert("Message".into(), error.message.as_str().into());
            return Reply::json(error.status, &error.code, &body);
        }
        match job
            .and_then(|j| j.fault)
            .or_else(|| self.global_fault(state.admitted))
        {
            Some(Fault::Throttle) => self.throttled(call.request_id),
            Some(fault) => Reply::fault(fault, call, &body),
            None => Reply::json(200, "OK", &body),
        }
    }

    fn list(
        &self,
        state: &State,
        call: &Call<'_>,
        elapsed: Duration,
    ) -> Result<Map<String, Value>, Reply> {
        let int = |name: &str, default: u64| -> Result<u64, Reply> {
            match call.params.get(name) {
                None => Ok(default),
                Some(v) => parse_id(v).ok_or_else(|| {
                    Reply::error(
                        400,
                        "InvalidParameter",
                        &format!("The specified parameter \"{name}\" is not valid."),
                        call.request_id,
                    )
                }),
            }
        };
        let page = int("CurrentPage", 1)?;
        let size = int("ShowSize", 50)?;
        let cert_id = call
            .params
            .contains_key("CertId")
            .then(|| int("CertId", 0))
            .transpose()?;
        let matches = |job: &JobSpec, status: &str| {
            call.params
                .get("JobType")
                .is_none_or(|t| *t == job.job_type)
                && call.params.get("Status").is_none_or(|s| s == status)
                && call
                    .params
                    .get("InstanceId")
                    .is_none_or(|i| *i == instance_id(job))
                && cert_id.is_none_or(|c| job.cert_ids.contains(&c))
        };
        let selected: Vec<Value> = state
            .jobs
            .values()
            .filter_map(|job| {
                let js = job_state(job, elapsed);
                matches(job, &js.status)
                    .then(|| Value::Object(job_body(job, &js, self.started_unix_ms)))
            })
            .collect();
        let total = selected.len();
        let data: Vec<Value> = selected
            .into_iter()
            .skip(((page - 1) * size) as usize)
            .take(size as usize)
            .collect();
        let mut body = Map::new();
        body.insert("CurrentPage".into(), page.into());
        body.insert("ShowSize".into(), size.into());
        body.insert("Total".into(), total.into());
        body.insert("Data".into(), Value::Array(data));
        Ok(body)
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

/// A positive decimal integer, digits only (no sign, no spaces).
fn parse_id(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| *n > 0)
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

fn parse_params(query: &str, form_body: Option<&[u8]>) -> Result<BTreeMap<String, String>, String> {
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

impl Handler for SimService {
    async fn handle(&self, request: Request<Incoming>, _peer: SocketAddr) -> Response<Chunks> {
        let (parts, body) = request.into_parts();
        let is_form = parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(_) => Err("The request body is too large or broken.".to_owned()),
        };
        let body_len = body.as_ref().map_or(0, Bytes::len);
        let params = body.and_then(|b| {
            if !b.is_empty() && !is_form {
                return Err(
                    "The request body must be empty or application/x-www-form-urlencoded."
                        .to_owned(),
                );
            }
            parse_params(parts.uri.query().unwrap_or(""), is_form.then_some(&b[..]))
        });
        let request_id = uuid::Uuid::new_v4().to_string().to_uppercase();
        let mut entry = LoggedRequest {
            at: Instant::now(),
            method: parts.method.to_string(),
            path: String::new(),
            user_agent: parts
                .headers
                .get(hyper::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            params: BTreeMap::new(),
            security_token: false,
            body_len,
            code: String::new(),
            status: 0,
            request_id: request_id.clone(),
        };
        let identity = params.as_ref().ok().and_then(|p| {
            self.identity(
                &parts.method,
                parts.uri.path(),
                &parts.headers,
                p,
                &request_id,
            )
        });
        let reply = match identity {
            Some(reply) => {
                entry.params = params.unwrap_or_default();
                entry.params.remove("Signature");
                entry.params.remove("OIDCToken");
                entry.params.remove("SecurityToken");
                reply
            }
            None => self.decide(&parts.method, &parts.uri, params, &request_id, &mut entry),
        };
        entry.path = parts.uri.path().to_owned();
        entry.code = reply.code.clone();
        entry.status = reply.status;
        let latency = {
            let mut state = self.lock();
            state.log.push(entry);
            state.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if reply.hang {
            tokio::time::sleep(HANG_FOR).await;
        }
        let mut response = Response::new(Chunks::from(reply.body));
        *response.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(reply.content_type),
        );
        if let Some(after) = reply.retry_after {
            response.headers_mut().insert(
                "x-acs-retry-after",
                hyper::header::HeaderValue::from(after.as_millis() as u64),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
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
