//! What password checks share across reloads: the bcrypt queue and each
//! client's share of it, the cache of wrong credentials, the decoy hash unknown
//! users are checked against, and the key that digests what is cached.

use super::super::types::PasswordHash;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Password checks that may wait for bcrypt besides the one running; more are answered 429.
pub const MAX_WAITING_CHECKS: usize = 16;

/// Places in that queue one client (an IPv4 address, an IPv6 /64) may hold: a flood from
/// one host leaves places for Prometheus's first check of a password.
pub const MAX_WAITING_PER_CLIENT: usize = 4;

/// Wrong credentials remembered (oldest forgotten first), so that repeating them costs no bcrypt run.
pub const FAILURE_CACHE_SIZE: usize = 1024;

/// Cost of the hash unknown users are checked against, exporter-toolkit's cost.
pub const DECOY_COST: u32 = 10;

/// Digests of wrong credentials, bounded: the oldest goes when a new one comes.
#[derive(Default)]
pub(super) struct FailureCache {
    known: HashSet<[u8; 20]>,
    pub(super) order: VecDeque<[u8; 20]>,
}

impl FailureCache {
    fn contains(&self, key: &[u8; 20]) -> bool {
        self.known.contains(key)
    }

    pub(super) fn insert(&mut self, key: [u8; 20]) {
        if !self.known.insert(key) {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > FAILURE_CACHE_SIZE
            && let Some(oldest) = self.order.pop_front()
        {
            self.known.remove(&oldest);
        }
    }
}

/// What outlives a reload: the digest key, the bcrypt queue, the failure cache, the decoy.
pub struct Checks {
    pub(super) digest_key: [u8; 32],
    /// bcrypt runs one at a time: wrong passwords cannot take every core from the poller.
    pub(super) bcrypt: Arc<Semaphore>,
    /// Checks waiting for bcrypt or running it.
    pub(super) queued: AtomicUsize,
    /// The same, per client that has any; entries go when they reach 0.
    pub(super) queued_by_client: Mutex<HashMap<u128, usize>>,
    pub(super) failures: Mutex<FailureCache>,
    /// A hash of a random password, made at start-up: unknown users are checked against
    /// it, so they cost a bcrypt run as known ones do, whatever the users' hashes.
    pub(super) decoy: PasswordHash,
    /// How long one bcrypt round (a cost step is twice the rounds) took at the last check,
    /// to pad failures to the time of the costliest hash.
    pub(super) round: Mutex<Option<Duration>>,
}

impl Checks {
    /// Fresh state: a new digest key and a new decoy (one bcrypt run at [`DECOY_COST`]).
    pub fn fresh() -> Self {
        let mut key = [0; 32];
        if getrandom::fill(&mut key).is_err() {
            // The key only keeps the digests from being tables of passwords; a weaker one still does.
            fastrand::fill(&mut key);
        }
        let mut password = [0; 18];
        fastrand::fill(&mut password);
        let decoy =
            bcrypt::hash(password, DECOY_COST).expect("the decoy's cost is within bcrypt's");
        Self {
            digest_key: key,
            bcrypt: Arc::new(Semaphore::new(1)),
            queued: AtomicUsize::new(0),
            queued_by_client: Mutex::new(HashMap::new()),
            failures: Mutex::new(FailureCache::default()),
            decoy: PasswordHash::parse(&decoy).expect("bcrypt makes well-formed hashes"),
            round: Mutex::new(None),
        }
    }

    pub(super) fn mac(&self) -> Hmac<Sha1> {
        <Hmac<Sha1> as KeyInit>::new_from_slice(&self.digest_key)
            .expect("HMAC takes keys of any length")
    }

    /// Keys the failure cache by user, hash and password, as exporter-toolkit does,
    /// without keeping any of them.
    pub(super) fn failure_key(
        &self,
        user: &[u8],
        hash: &PasswordHash,
        password: &[u8],
    ) -> [u8; 20] {
        let mut mac = self.mac();
        for part in [user, hash.expose().as_bytes(), password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    pub(super) fn failed_before(&self, key: &[u8; 20]) -> bool {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }
}

/// Counts a check as queued, overall and for its client, until dropped, also when its
/// request is abandoned.
pub(super) struct QueuePlace<'a> {
    checks: &'a Checks,
    client: u128,
}

impl<'a> QueuePlace<'a> {
    /// A place for a check from `client`, unless the queue or the client's share is full.
    pub(super) fn take(checks: &'a Checks, client: IpAddr) -> Option<Self> {
        let client = client_key(client);
        let mut by_client = checks
            .queued_by_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let held = by_client.entry(client).or_default();
        *held += 1;
        let before = checks.queued.fetch_add(1, Ordering::AcqRel);
        let full = *held > MAX_WAITING_PER_CLIENT || before > MAX_WAITING_CHECKS;
        drop(by_client);
        let place = Self { checks, client };
        (!full).then_some(place)
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.checks.queued.fetch_sub(1, Ordering::AcqRel);
        let mut by_client = self
            .checks
            .queued_by_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(held) = by_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// Who a client is for its share of the queue: its IPv4 address, or its IPv6 /64, since
/// one host commonly holds a whole /64.
fn client_key(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_bits()),
            None => v6.to_bits() & !u128::from(u64::MAX),
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A bcrypt hash of `password` at `cost`.
    pub(in crate::http::web_config::basic_auth) fn hash(password: &str, cost: u32) -> PasswordHash {
        PasswordHash::parse(&bcrypt::hash(password, cost).unwrap()).unwrap()
    }

    /// Fresh caches and queue, with a decoy of the lowest cost to keep the tests quick.
    pub(in crate::http::web_config::basic_auth) fn checks() -> Arc<Checks> {
        Arc::new(Checks {
            digest_key: [7; 32],
            bcrypt: Arc::new(Semaphore::new(1)),
            queued: AtomicUsize::new(0),
            queued_by_client: Mutex::new(HashMap::new()),
            failures: Mutex::new(FailureCache::default()),
            decoy: hash("decoy", 4),
            round: Mutex::new(None),
        })
    }

    #[test]
    fn the_failure_cache_forgets_the_oldest_beyond_its_bound() {
        let mut cache = FailureCache::default();
        let key = |n: usize| {
            let mut key = [0; 20];
            key[..8].copy_from_slice(&(n as u64).to_be_bytes());
            key
        };
        for n in 0..FAILURE_CACHE_SIZE + 10 {
            cache.insert(key(n));
            cache.insert(key(n));
        }
        assert_eq!(cache.order.len(), FAILURE_CACHE_SIZE);
        assert_eq!(cache.known.len(), FAILURE_CACHE_SIZE);
        assert!(!cache.contains(&key(9)));
        assert!(cache.contains(&key(10)));
        assert!(cache.contains(&key(FAILURE_CACHE_SIZE + 9)));
    }

    #[test]
    fn failure_keys_tell_users_hashes_and_passwords_apart() {
        let checks = checks();
        let (a, b) = (hash("x", 4), hash("x", 4));
        let key = checks.failure_key(b"alice", &a, b"pw");
        assert_eq!(key, checks.failure_key(b"alice", &a, b"pw"));
        for other in [
            checks.failure_key(b"alic", &a, b"epw"),
            checks.failure_key(b"alice", &b, b"pw"),
            checks.failure_key(b"alice", &a, b"pw2"),
        ] {
            assert_ne!(key, other);
        }
    }

    #[test]
    fn clients_are_told_apart_by_ipv4_address_or_ipv6_prefix() {
        let key = |text: &str| client_key(text.parse().unwrap());
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("192.0.2.1"), key("::ffff:192.0.2.1"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
