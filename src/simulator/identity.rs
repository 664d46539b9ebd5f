//! The identity services the simulator also plays, so that every credentials
//! provider can be tested over loopback: STS (`AssumeRole`, signature checked;
//! `AssumeRoleWithOIDC`, token checked), the ECS metadata service (IMDSv2
//! token, role name, role credentials) and a credentials URI. Every credential
//! it issues is a temporary key the CAS side accepts until it expires.

use super::reply::Reply;
use super::service::{SimService, TempKey};
use super::spec::IdentitySpec;
use hyper::{HeaderMap, Method};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The STS API version; a request naming it goes to STS rather than CAS.
pub(crate) const STS_VERSION: &str = "2015-04-01";
/// Where the metadata service lists and serves role credentials.
const IMDS_CREDENTIALS: &str = "/latest/meta-data/ram/security-credentials/";
/// The credentials URI's path.
pub const CREDENTIALS_URI_PATH: &str = "/credentials";

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl SimService {
    /// Answers the request if it is for an identity service; `None` leaves it to CAS.
    pub(crate) fn identity(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        params: &BTreeMap<String, String>,
        request_id: &str,
    ) -> Option<Reply> {
        let spec = &self.identity;
        let is_sts = path == "/" && params.get("Version").map(String::as_str) == Some(STS_VERSION);
        let is_imds = path == "/latest/api/token" || path.starts_with(IMDS_CREDENTIALS);
        let is_uri = path == CREDENTIALS_URI_PATH && spec.credentials_uri;
        if !(is_sts || is_imds || is_uri) {
            return None;
        }
        if self.lock().identity_failing {
            return Some(Reply::error(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                request_id,
            ));
        }
        Some(if is_sts {
            self.sts(method, params, request_id)
        } else if is_imds {
            self.metadata(method, path, headers, request_id)
        } else if *method == Method::GET {
            self.issued_body(spec, None)
        } else {
            Reply::error(
                405,
                "UnsupportedHTTPMethod",
                "This http method is not supported.",
                request_id,
            )
        })
    }

    /// Issues temporary credentials valid for `lifetime` (or the spec's override).
    fn issue(
        &self,
        spec: &IdentitySpec,
        lifetime: Duration,
    ) -> (String, String, String, SystemTime) {
        let expires = SystemTime::now() + spec.credential_lifetime.unwrap_or(lifetime);
        let (id, secret, token) = (
            format!("STS.{}", new_id()),
            new_id(),
            format!("CAIS{}", new_id()),
        );
        self.lock().temp_keys.insert(
            id.clone(),
            TempKey {
                secret: secret.clone(),
                token: token.clone(),
                expires,
                account: "default".into(),
            },
        );
        (id, secret, token, expires)
    }

    /// The metadata service's or credentials URI's answer with new credentials.
    fn issued_body(&self, spec: &IdentitySpec, extra: Option<(&str, Value)>) -> Reply {
        let (id, secret, token, expires) = self.issue(spec, Duration::from_secs(6 * 3600));
        let mut body = Map::new();
        body.insert("Code".into(), "Success".into());
        body.insert("AccessKeyId".into(), id.into());
        body.insert("AccessKeySecret".into(), secret.into());
        body.insert("SecurityToken".into(), token.into());
        body.insert(
            "Expiration".into(),
            humantime::format_rfc3339_seconds(expires)
                .to_string()
                .into(),
        );
        body.insert(
            "LastUpdated".into(),
            humantime::format_rfc3339_seconds(SystemTime::now())
                .to_string()
                .into(),
        );
        if let Some((key, value)) = extra {
            body.insert(key.into(), value);
        }
        Reply::json(200, "OK", &body)
    }

    fn metadata(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Reply {
        let spec = &self.identity;
        let text = |status: u16, body: &str| {
            Reply::text(status, if status == 200 { "OK" } else { "refused" }, body)
        };
        if path == "/latest/api/token" {
            if spec.imdsv2_unavailable {
                return text(404, "not found");
            }
            if *method != Method::PUT
                || !headers.contains_key("x-aliyun-ecs-metadata-token-ttl-seconds")
            {
                return text(
                    400,
                    "a PUT with X-aliyun-ecs-metadata-token-ttl-seconds is required",
                );
            }
            let token = new_id();
            self.lock().imds_tokens.insert(token.clone());
            return text(200, &token);
        }
        if *method != Method::GET {
            return Reply::error(
                405,
                "UnsupportedHTTPMethod",
                "This http method is not supported.",
                request_id,
            );
        }
        let token = headers
            .get("x-aliyun-ecs-metadata-token")
            .and_then(|v| v.to_str().ok());
        let allowed = match token {
            Some(token) => self.lock().imds_tokens.contains(token),
            None => !spec.imdsv2_required,
        };
        if !allowed {
            return text(401, "a valid X-aliyun-ecs-metadata-token is required");
        }
        let Some(role) = &spec.ecs_role else {
            return text(404, "no RAM role is attached to this instance");
        };
        match &path[IMDS_CREDENTIALS.len()..] {
            "" => text(200, role),
            asked if asked == role => self.issued_body(spec, None),
            _ => text(404, "no such role"),
        }
    }

    fn sts(&self, method: &Method, params: &BTreeMap<String, String>, request_id: &str) -> Reply {
        let spec = &self.identity;
        let err =
            |status, code: &str, message: &str| Reply::error(status, code, message, request_id);
        let p = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        let action = p("Action");
        let required: &[&str] = match action {
            "AssumeRole" => &[
                "RoleArn",
                "RoleSessionName",
                "AccessKeyId",
                "Signature",
                "SignatureNonce",
                "Timestamp",
            ],
            "AssumeRoleWithOIDC" => &[
                "RoleArn",
                "OIDCProviderArn",
                "OIDCToken",
                "RoleSessionName",
                "Timestamp",
            ],
            _ => {
                return err(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                );
            }
        };
        if let Some(missing) = required.iter().find(|name| p(name).is_empty()) {
            return err(
                400,
                "MissingParameter",
                &format!(
                    "The input parameter \"{missing}\" that is mandatory for processing this request is not supplied."
                ),
            );
        }
        let Some(role) = spec.roles.iter().find(|r| r.arn == p("RoleArn")) else {
            return err(404, "EntityNotExist.Role", "The specified Role not exists.");
        };
        if action == "AssumeRole" {
            if let Err(reply) = self.authenticate(method, params, request_id) {
                return reply;
            }
        } else {
            let trusted = role.oidc_provider_arn.as_deref() == Some(p("OIDCProviderArn"))
                && role.oidc_token.as_deref() == Some(p("OIDCToken"));
            if !trusted {
                return err(
                    400,
                    "AuthenticationFail.OIDCToken.Invalid",
                    "The OIDC token or provider is not trusted by the role.",
                );
            }
        }
        let requested = p("DurationSeconds").parse::<u64>().unwrap_or(3600);
        if !(900..=43200).contains(&requested) {
            return err(
                400,
                "InvalidParameter.DurationSeconds",
                "The parameter DurationSeconds must be between 900 and 43200.",
            );
        }
        let (id, secret, token, expires) = self.issue(spec, Duration::from_secs(requested));
        let mut credentials = Map::new();
        credentials.insert("AccessKeyId".into(), id.into());
        credentials.insert("AccessKeySecret".into(), secret.into());
        credentials.insert("SecurityToken".into(), token.into());
        credentials.insert(
            "Expiration".into(),
            humantime::format_rfc3339_seconds(expires)
                .to_string()
                .into(),
        );
        let mut user = Map::new();
        user.insert(
            "Arn".into(),
            format!("{}/{}", role.arn, p("RoleSessionName")).into(),
        );
        user.insert(
            "AssumedRoleId".into(),
            format!("3{}:{}", &new_id()[..16], p("RoleSessionName")).into(),
        );
        let mut body = Map::new();
        body.insert("RequestId".into(), request_id.into());
        body.insert("AssumedRoleUser".into(), Value::Object(user));
        body.insert("Credentials".into(), Value::Object(credentials));
        Reply::json(200, "OK", &body)
    }
}
