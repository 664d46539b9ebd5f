//! Basic authentication against bcrypt hashes: repeated credentials are answered from
//! caches, bcrypt runs one check at a time behind a bounded queue, and a failure takes
//! as long whether the user exists or not.

mod checks;

pub use checks::{
    Checks, DECOY_COST, FAILURE_CACHE_SIZE, MAX_WAITING_CHECKS, MAX_WAITING_PER_CLIENT,
};

use super::types::PasswordHash;
use base64::Engine;
use checks::QueuePlace;
use hmac::Mac;
use hyper::header::HeaderValue;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a check of an `Authorization` header decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured user with the right password.
    Allowed,
    /// No credentials, or wrong ones.
    Denied,
    /// The password could not be checked: too many checks are waiting.
    Busy,
}

/// A password verified once, kept as a keyed digest next to the hash it matched.
#[derive(Clone)]
struct Verified {
    hash: String,
    digest: Vec<u8>,
}

/// Checks `Authorization: Basic` headers against the configured users.
pub struct BasicAuth {
    users: BTreeMap<String, PasswordHash>,
    /// Per user, the password last verified, so that a scrape with the right password
    /// costs no bcrypt run and never waits in the queue; the password itself is not kept.
    verified: Mutex<HashMap<String, Verified>>,
    checks: Arc<Checks>,
    /// The highest cost among the users' hashes and the decoy: every failure takes its time.
    slowest_cost: u32,
}

impl BasicAuth {
    /// Authentication for `users` with `checks`, keeping what `previous` verified against
    /// unchanged hashes; `None` when there are no users (everyone may read).
    pub fn new(
        users: BTreeMap<String, PasswordHash>,
        checks: Arc<Checks>,
        previous: Option<&BasicAuth>,
    ) -> Option<Self> {
        let slowest_cost = users.values().map(PasswordHash::cost).max()?;
        let verified = previous.map_or_else(HashMap::new, |previous| {
            let verified = previous.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified
                .iter()
                .filter(|(user, v)| users.get(*user).is_some_and(|h| h.expose() == v.hash))
                .map(|(user, v)| (user.clone(), v.clone()))
                .collect()
        });
        Some(Self {
            slowest_cost: slowest_cost.max(checks.decoy.cost()),
            users,
            verified: Mutex::new(verified),
            checks,
        })
    }

    /// Whether `authorization`, sent by `client`, names a configured user with the right password.
    pub async fn check(&self, authorization: Option<&HeaderValue>, client: IpAddr) -> Verdict {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return Verdict::Denied;
        };
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|user| self.users.get_key_value(user));
        if self.verified_before(known, &password) {
            return Verdict::Allowed;
        }
        let hash = known.map_or(&self.checks.decoy, |(_, hash)| hash).clone();
        let failure = self.checks.failure_key(&user, &hash, &password);
        // Answered at once for known and unknown users alike: nothing tells them apart.
        if self.checks.failed_before(&failure) {
            return Verdict::Denied;
        }
        let Some(place) = QueuePlace::take(&self.checks, client) else {
            return Verdict::Busy;
        };
        let Ok(running) = Arc::clone(&self.checks.bcrypt).acquire_owned().await else {
            return Verdict::Denied;
        };
        // The same credentials may have been checked while this one waited.
        if self.verified_before(known, &password) {
            return Verdict::Allowed;
        }
        if self.checks.failed_before(&failure) {
            return Verdict::Denied;
        }
        let digest = self.digest(&password);
        let cost = hash.cost();
        // The run keeps its permit to the end, also when the request is abandoned: clients
        // that hang up must not get bcrypt running on several threads at once.
        let (matches, took) = tokio::task::spawn_blocking(move || {
            let _running = running;
            let started = Instant::now();
            let matches = bcrypt::verify(&password, hash.expose()).unwrap_or(false);
            (matches, started.elapsed())
        })
        .await
        .unwrap_or((false, Duration::ZERO));
        drop(place);
        if let (Some((name, hash)), true) = (known, matches) {
            let verified = Verified {
                hash: hash.expose().to_owned(),
                digest,
            };
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), verified);
            return Verdict::Allowed;
        }
        self.checks
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(failure);
        tokio::time::sleep(self.padding(cost, took)).await;
        Verdict::Denied
    }

    fn verified_before(&self, known: Option<(&String, &PasswordHash)>, password: &[u8]) -> bool {
        let Some((name, _)) = known else {
            return false;
        };
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified.get(name).is_some_and(|v| {
            let mut mac = self.checks.mac();
            mac.update(password);
            mac.verify_slice(&v.digest).is_ok()
        })
    }

    fn digest(&self, password: &[u8]) -> Vec<u8> {
        let mut mac = self.checks.mac();
        mac.update(password);
        mac.finalize().into_bytes().to_vec()
    }

    /// How much longer a failed check of `cost` that `took` must wait to last as long as
    /// one against the costliest hash; bcrypt's time doubles with each step of cost.
    fn padding(&self, cost: u32, took: Duration) -> Duration {
        let mut round = self.checks.round.lock().unwrap_or_else(|e| e.into_inner());
        if !took.is_zero() {
            *round = Some(took / (1 << cost));
        }
        round.map_or(Duration::ZERO, |round| {
            (round * (1 << self.slowest_cost)).saturating_sub(took)
        })
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
    use super::checks::tests::{checks, hash};
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::atomic::Ordering;

    const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn users() -> BTreeMap<String, PasswordHash> {
        BTreeMap::from([
            ("alice".to_owned(), hash("alice-pw", 4)),
            ("bob".to_owned(), hash("bob:pw", 5)),
        ])
    }

    fn auth() -> BasicAuth {
        BasicAuth::new(users(), checks(), None).unwrap()
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
    fn unknown_users_are_checked_against_a_decoy_of_fixed_cost() {
        let auth = BasicAuth::new(users(), Arc::new(Checks::fresh()), None).unwrap();
        assert_eq!(auth.checks.decoy.cost(), DECOY_COST);
        assert_eq!(auth.slowest_cost, DECOY_COST);
        assert!(
            users()
                .values()
                .all(|h| h.expose() != auth.checks.decoy.expose()),
            "the decoy is no user's hash"
        );
        let costly = BTreeMap::from([("carol".to_owned(), hash("pw", 12))]);
        assert_eq!(
            BasicAuth::new(costly, checks(), None).unwrap().slowest_cost,
            12
        );
        assert!(BasicAuth::new(BTreeMap::new(), checks(), None).is_none());
    }

    #[tokio::test]
    async fn only_a_configured_user_with_the_right_password_passes() {
        let auth = auth();
        assert_eq!(auth.check(None, HOME).await, Verdict::Denied);
        assert_eq!(
            auth.check(Some(&header("alice", "bob:pw")), HOME).await,
            Verdict::Denied
        );
        assert_eq!(
            auth.check(Some(&header("mallory", "bob:pw")), HOME).await,
            Verdict::Denied
        );
        assert_eq!(
            auth.check(Some(&header("", "")), HOME).await,
            Verdict::Denied
        );
        assert!(
            auth.verified.lock().unwrap().is_empty(),
            "failures are not taken for successes"
        );
        assert_eq!(auth.checks.failures.lock().unwrap().order.len(), 3);
        assert_eq!(
            auth.check(Some(&header("bob", "bob:pw")), HOME).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.check(Some(&header("alice", "alice-pw")), HOME).await,
            Verdict::Allowed
        );
        let remembered: Vec<String> = auth.verified.lock().unwrap().keys().cloned().collect();
        assert_eq!(remembered.len(), 2);
        // Answered from the cache, and a wrong password for a remembered user still fails.
        assert_eq!(
            auth.check(Some(&header("alice", "alice-pw")), HOME).await,
            Verdict::Allowed
        );
        assert_eq!(
            auth.check(Some(&header("alice", "alice-pw2")), HOME).await,
            Verdict::Denied
        );
        let digests = auth.verified.lock().unwrap();
        assert!(
            digests
                .values()
                .all(|v| v.digest.len() == 20 && !v.digest.windows(8).any(|w| w == b"alice-pw")),
            "the cache keeps digests, not passwords"
        );
    }

    #[tokio::test]
    async fn a_repeated_wrong_password_is_answered_without_bcrypt() {
        let auth = auth();
        let wrong = [header("alice", "nope"), header("mallory", "nope")];
        for attempt in &wrong {
            assert_eq!(auth.check(Some(attempt), HOME).await, Verdict::Denied);
        }
        // With bcrypt taken, only answers from the cache can come.
        let _held = auth.checks.bcrypt.acquire().await.unwrap();
        for attempt in &wrong {
            let answer =
                tokio::time::timeout(Duration::from_secs(30), auth.check(Some(attempt), HOME));
            assert_eq!(answer.await, Ok(Verdict::Denied));
        }
        assert_eq!(auth.checks.queued.load(Ordering::Acquire), 0);
    }

    /// Starts a wrong-password check from `client` for each of `clients`, with bcrypt held,
    /// and waits until they all hold their places.
    async fn queue_up(
        auth: &Arc<BasicAuth>,
        clients: &[IpAddr],
    ) -> Vec<tokio::task::JoinHandle<Verdict>> {
        let before = auth.checks.queued.load(Ordering::Acquire);
        let mut waiting = Vec::new();
        for (n, &client) in clients.iter().enumerate() {
            let auth = Arc::clone(auth);
            waiting.push(tokio::spawn(async move {
                let guess = header("mallory", &format!("guess-{n}-{client}"));
                auth.check(Some(&guess), client).await
            }));
        }
        while auth.checks.queued.load(Ordering::Acquire) < before + clients.len() {
            tokio::task::yield_now().await;
        }
        waiting
    }

    fn client(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    #[tokio::test]
    async fn checks_beyond_the_queue_are_busy_and_right_passwords_skip_it() {
        let auth = Arc::new(auth());
        assert_eq!(
            auth.check(Some(&header("alice", "alice-pw")), HOME).await,
            Verdict::Allowed
        );
        let held = auth.checks.bcrypt.acquire().await.unwrap();
        let clients: Vec<IpAddr> = (0..=MAX_WAITING_CHECKS as u8).map(client).collect();
        let waiting = queue_up(&auth, &clients).await;
        assert_eq!(
            auth.check(Some(&header("mallory", "one-more")), client(200))
                .await,
            Verdict::Busy
        );
        assert_eq!(
            auth.check(Some(&header("alice", "alice-pw")), HOME).await,
            Verdict::Allowed
        );
        drop(held);
        for check in waiting {
            assert_eq!(check.await.unwrap(), Verdict::Denied);
        }
        assert_eq!(auth.checks.queued.load(Ordering::Acquire), 0);
        assert!(auth.checks.queued_by_client.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_client_holds_a_few_places_and_leaves_the_rest_to_others() {
        let auth = Arc::new(auth());
        let held = auth.checks.bcrypt.acquire().await.unwrap();
        let flood = vec![HOME; MAX_WAITING_PER_CLIENT];
        let waiting = queue_up(&auth, &flood).await;
        assert_eq!(
            auth.check(Some(&header("mallory", "one-more")), HOME).await,
            Verdict::Busy
        );
        // Prometheus, elsewhere, checking its password for the first time, gets a place.
        let other = Arc::clone(&auth);
        let first = tokio::spawn(async move {
            other
                .check(Some(&header("alice", "alice-pw")), client(7))
                .await
        });
        drop(held);
        assert_eq!(first.await.unwrap(), Verdict::Allowed);
        for check in waiting {
            assert_eq!(check.await.unwrap(), Verdict::Denied);
        }
        assert!(auth.checks.queued_by_client.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_abandoned_check_gives_its_place_back() {
        let auth = auth();
        let held = auth.checks.bcrypt.acquire().await.unwrap();
        let header = header("mallory", "x");
        let check = auth.check(Some(&header), HOME);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), check)
                .await
                .is_err()
        );
        drop(held);
        assert_eq!(auth.checks.queued.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_check_abandoned_while_bcrypt_runs_keeps_others_waiting() {
        // A well-formed hash of cost 12, not made here: checking it takes a while.
        let slow =
            PasswordHash::parse("$2y$12$0o6aUQMxCQH2mYVGxKRyQO5qPZnNhmmwRgK2G2fNnt4lWFVtpSwiO")
                .unwrap();
        let auth =
            BasicAuth::new(BTreeMap::from([("slow".to_owned(), slow)]), checks(), None).unwrap();
        let guess = header("slow", "guess");
        let check = auth.check(Some(&guess), HOME);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), check)
                .await
                .is_err()
        );
        assert_eq!(
            auth.checks.bcrypt.available_permits(),
            0,
            "the abandoned run still holds bcrypt"
        );
        let _after_it = tokio::time::timeout(
            Duration::from_secs(300),
            Arc::clone(&auth.checks.bcrypt).acquire_owned(),
        )
        .await
        .expect("the abandoned run never finished");
    }

    #[test]
    fn failures_are_padded_to_the_costliest_hash() {
        let costly = BTreeMap::from([("carol".to_owned(), hash("pw", 10))]);
        let auth = BasicAuth::new(costly, checks(), None).unwrap();
        assert_eq!(auth.padding(4, Duration::ZERO), Duration::ZERO);
        // 16 rounds took 16 ms: a cost-10 check takes 1024 ms.
        assert_eq!(
            auth.padding(4, Duration::from_millis(16)),
            Duration::from_millis(1008)
        );
        assert_eq!(
            auth.padding(10, Duration::from_millis(1024)),
            Duration::ZERO
        );
        assert_eq!(
            auth.padding(10, Duration::ZERO),
            Duration::from_millis(1024)
        );
    }

    #[tokio::test]
    async fn verified_passwords_survive_a_reload_unless_the_hash_changed() {
        let first = auth();
        assert_eq!(
            first.check(Some(&header("alice", "alice-pw")), HOME).await,
            Verdict::Allowed
        );
        assert_eq!(
            first.check(Some(&header("bob", "bob:pw")), HOME).await,
            Verdict::Allowed
        );
        let mut users = first.users.clone();
        users.insert("bob".into(), hash("bob-new", 4));
        let second = BasicAuth::new(users, Arc::clone(&first.checks), Some(&first)).unwrap();
        let kept: Vec<String> = second.verified.lock().unwrap().keys().cloned().collect();
        assert_eq!(kept, ["alice"]);
        assert_eq!(
            first.verified.lock().unwrap().len(),
            2,
            "the running one keeps its own"
        );
        assert_eq!(
            second.check(Some(&header("bob", "bob:pw")), HOME).await,
            Verdict::Denied
        );
        assert_eq!(
            second.check(Some(&header("bob", "bob-new")), HOME).await,
            Verdict::Allowed
        );
    }
}
