//! Basic authentication against bcrypt hashes that takes the same time whatever the user name.

use super::PasswordHash;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use hyper::header::HeaderValue;
use sha1::Sha1;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A password verified once, kept as a keyed digest next to the hash it matched.
#[derive(Clone)]
struct Verified {
    hash: String,
    digest: Vec<u8>,
}

/// Checks `Authorization: Basic` headers against the configured users.
pub struct BasicAuth {
    users: BTreeMap<String, PasswordHash>,
    /// The costliest hash: unknown users are checked against it, so that they cost as
    /// much as known ones, and failures against cheaper hashes are padded to its time.
    decoy: PasswordHash,
    /// How long a check against the decoy's cost took last.
    decoy_time: Mutex<Option<Duration>>,
    /// Per user, the password last verified, so that a scrape with the right password
    /// costs no bcrypt run; the password itself is not kept.
    verified: Mutex<HashMap<String, Verified>>,
    digest_key: [u8; 32],
    /// bcrypt runs one at a time: wrong passwords cannot take every core from the poller.
    bcrypt: Arc<Semaphore>,
}

impl BasicAuth {
    /// Authentication for `users`, keeping what `previous` verified against unchanged
    /// hashes; `None` when there are no users (everyone may read).
    pub fn new(
        users: BTreeMap<String, PasswordHash>,
        previous: Option<&BasicAuth>,
    ) -> Option<Self> {
        let decoy = users.values().max_by_key(|h| h.cost())?.clone();
        let (digest_key, bcrypt, verified, decoy_time) = match previous {
            Some(previous) => {
                let verified = previous.verified.lock().unwrap_or_else(|e| e.into_inner());
                let kept = verified
                    .iter()
                    .filter(|(user, v)| users.get(*user).is_some_and(|h| h.expose() == v.hash))
                    .map(|(user, v)| (user.clone(), v.clone()))
                    .collect();
                let decoy_time = *previous
                    .decoy_time
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let decoy_time = decoy_time.filter(|_| previous.decoy.cost() == decoy.cost());
                (
                    previous.digest_key,
                    Arc::clone(&previous.bcrypt),
                    kept,
                    decoy_time,
                )
            }
            None => {
                let mut key = [0; 32];
                if getrandom::fill(&mut key).is_err() {
                    // The key only keeps the digests from being tables of passwords; a weaker one still does.
                    fastrand::fill(&mut key);
                }
                (key, Arc::new(Semaphore::new(1)), HashMap::new(), None)
            }
        };
        Some(Self {
            users,
            decoy,
            decoy_time: Mutex::new(decoy_time),
            verified: Mutex::new(verified),
            digest_key,
            bcrypt,
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
                .is_some_and(|v| self.mac(&password).verify_slice(&v.digest).is_ok())
            {
                return true;
            }
        }
        let hash = known.map_or(&self.decoy, |(_, hash)| hash).clone();
        let digest = self.mac(&password).finalize().into_bytes().to_vec();
        let (matches, took) = self.bcrypt(password, hash.clone()).await;
        if hash.cost() == self.decoy.cost() {
            *self.decoy_time.lock().unwrap_or_else(|e| e.into_inner()) = Some(took);
        }
        if let (Some((name, _)), true) = (known, matches) {
            let verified = Verified {
                hash: hash.expose().to_owned(),
                digest,
            };
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), verified);
            return true;
        }
        if hash.cost() < self.decoy.cost() {
            // A known user with a cheaper hash: fail no sooner than an unknown user would.
            let decoy_time = *self.decoy_time.lock().unwrap_or_else(|e| e.into_inner());
            match decoy_time {
                Some(decoy_time) => tokio::time::sleep(decoy_time.saturating_sub(took)).await,
                None => {
                    let (_, took) = self.bcrypt(Vec::new(), self.decoy.clone()).await;
                    *self.decoy_time.lock().unwrap_or_else(|e| e.into_inner()) = Some(took);
                }
            }
        }
        false
    }

    /// Runs bcrypt off the async workers, one run at a time: whether it matched, and how long it took.
    async fn bcrypt(&self, password: Vec<u8>, hash: PasswordHash) -> (bool, Duration) {
        let Ok(permit) = Arc::clone(&self.bcrypt).acquire_owned().await else {
            return (false, Duration::ZERO);
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            let matches = bcrypt::verify(&password, hash.expose()).unwrap_or(false);
            (matches, started.elapsed())
        })
        .await
        .unwrap_or((false, Duration::ZERO))
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

    fn hash(password: &str, cost: u32) -> PasswordHash {
        PasswordHash::parse(&bcrypt::hash(password, cost).unwrap()).unwrap()
    }

    fn auth() -> BasicAuth {
        BasicAuth::new(
            BTreeMap::from([
                ("alice".to_owned(), hash("alice-pw", 4)),
                ("bob".to_owned(), hash("bob:pw", 5)),
            ]),
            None,
        )
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
        assert!(BasicAuth::new(BTreeMap::new(), None).is_none());
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
                .all(|v| v.digest.len() == 20 && !v.digest.windows(8).any(|w| w == b"alice-pw")),
            "the cache keeps digests, not passwords"
        );
    }

    #[tokio::test]
    async fn a_cheaper_hash_fails_no_sooner_than_the_decoy() {
        let auth = auth();
        assert!(auth.decoy_time.lock().unwrap().is_none());
        // alice's hash costs 4, the decoy 5: her failure also measures the decoy's time,
        // which later failures are padded to.
        assert!(!auth.allows(Some(&header("alice", "wrong"))).await);
        assert!(auth.decoy_time.lock().unwrap().is_some());
    }

    #[tokio::test]
    async fn verified_passwords_survive_a_reload_unless_the_hash_changed() {
        let first = auth();
        assert!(first.allows(Some(&header("alice", "alice-pw"))).await);
        assert!(first.allows(Some(&header("bob", "bob:pw"))).await);
        let mut users = first.users.clone();
        users.insert("bob".into(), hash("bob-new", 4));
        let second = BasicAuth::new(users, Some(&first)).unwrap();
        let kept: Vec<String> = second.verified.lock().unwrap().keys().cloned().collect();
        assert_eq!(kept, ["alice"]);
        assert_eq!(second.digest_key, first.digest_key);
        assert!(Arc::ptr_eq(&second.bcrypt, &first.bcrypt));
        assert_eq!(
            first.verified.lock().unwrap().len(),
            2,
            "the running one keeps its own"
        );
        assert!(!second.allows(Some(&header("bob", "bob:pw"))).await);
        assert!(second.allows(Some(&header("bob", "bob-new"))).await);
    }
}
