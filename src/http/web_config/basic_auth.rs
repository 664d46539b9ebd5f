//! Basic authentication against bcrypt hashes that takes the same time whatever the user name.

use super::PasswordHash;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use hyper::header::HeaderValue;
use sha1::Sha1;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Checks `Authorization: Basic` headers against the configured users.
pub struct BasicAuth {
    users: BTreeMap<String, PasswordHash>,
    /// Checked for unknown users, so that they cost as much as known ones.
    decoy: PasswordHash,
    /// Per user, a keyed digest of the password last verified, so that a scrape
    /// with the right password costs no bcrypt run; the password itself is not kept.
    verified: Mutex<HashMap<String, Vec<u8>>>,
    digest_key: [u8; 32],
    /// bcrypt runs one at a time: wrong passwords cannot take every core from the poller.
    bcrypt: Arc<Semaphore>,
}

impl BasicAuth {
    /// Authentication for `users`; `None` when there are none (everyone may read).
    pub fn new(users: BTreeMap<String, PasswordHash>) -> Option<Self> {
        // The costliest hash, so that no unknown user answers faster than any known one.
        let decoy = users.values().max_by_key(|h| h.cost())?.clone();
        let mut digest_key = [0; 32];
        if getrandom::fill(&mut digest_key).is_err() {
            // The key only keeps the digests from being tables of passwords; a weaker one still does.
            fastrand::fill(&mut digest_key);
        }
        Some(Self {
            users,
            decoy,
            verified: Mutex::new(HashMap::new()),
            digest_key,
            bcrypt: Arc::new(Semaphore::new(1)),
        })
    }

    /// Whether `authorization` names a configured user with the right password.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|user| self.users.get_key_value(user));
        if let Some((name, _)) = known {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified
                .get(name)
                .is_some_and(|digest| self.mac(&password).verify_slice(digest).is_ok())
            {
                return true;
            }
        }
        let hash = known.map_or(&self.decoy, |(_, hash)| hash).clone();
        let Ok(permit) = Arc::clone(&self.bcrypt).acquire_owned().await else {
            return false;
        };
        let digest = self.mac(&password).finalize().into_bytes().to_vec();
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(&password, hash.expose()).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        match known {
            Some((name, _)) if matches => {
                self.verified
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), digest);
                true
            }
            _ => false,
        }
    }

    fn mac(&self, password: &[u8]) -> Hmac<Sha1> {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&self.digest_key)
            .expect("HMAC takes keys of any length");
        mac.update(password);
        mac
    }
}

/// User and password of an `Authorization: Basic` header.
fn credentials(header: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth() -> BasicAuth {
        let hash = |password: &str, cost| {
            PasswordHash::parse(&bcrypt::hash(password, cost).unwrap()).unwrap()
        };
        BasicAuth::new(BTreeMap::from([
            ("alice".to_owned(), hash("alice-pw", 4)),
            ("bob".to_owned(), hash("bob:pw", 5)),
        ]))
        .unwrap()
    }

    #[test]
    fn the_header_is_read_as_browsers_and_prometheus_send_it() {
        assert_eq!(
            credentials(&header("bob", "p:w")),
            Some((b"bob".to_vec(), b"p:w".to_vec()))
        );
        let lower = HeaderValue::from_static("basic YTpi");
        assert_eq!(credentials(&lower), Some((b"a".to_vec(), b"b".to_vec())));
        for refused in ["Bearer YTpi", "Basic", "Basic !!!", "Basic YWI="] {
            assert_eq!(
                credentials(&HeaderValue::from_static(refused)),
                None,
                "{refused}"
            );
        }
    }

    #[test]
    fn unknown_users_are_checked_against_the_costliest_hash() {
        let auth = auth();
        assert_eq!(auth.decoy.cost(), 5);
        assert!(BasicAuth::new(BTreeMap::new()).is_none());
    }

    #[tokio::test]
    async fn only_a_configured_user_with_the_right_password_passes() {
        let auth = auth();
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(&header("alice", "bob:pw"))).await);
        // The decoy is bob's hash: bob's password under another name must not pass.
        assert!(!auth.allows(Some(&header("mallory", "bob:pw"))).await);
        assert!(!auth.allows(Some(&header("", ""))).await);
        assert!(
            auth.verified.lock().unwrap().is_empty(),
            "failures are not remembered"
        );
        assert!(auth.allows(Some(&header("bob", "bob:pw"))).await);
        assert!(auth.allows(Some(&header("alice", "alice-pw"))).await);
        let remembered: Vec<String> = auth.verified.lock().unwrap().keys().cloned().collect();
        assert_eq!(remembered.len(), 2);
        // Answered from the cache, and a wrong password for a remembered user still fails.
        assert!(auth.allows(Some(&header("alice", "alice-pw"))).await);
        assert!(!auth.allows(Some(&header("alice", "alice-pw2"))).await);
        let digests = auth.verified.lock().unwrap();
        assert!(
            digests
                .values()
                .all(|d| d.len() == 20 && !d.windows(8).any(|w| w == b"alice-pw")),
            "the cache keeps digests, not passwords"
        );
    }
}
