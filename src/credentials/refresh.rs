//! Temporary credentials (STS, ECS RAM role, credentials URI, an external
//! command) kept fresh in the background: refreshed at expiry − 15 minutes, a
//! failed refresh retried with backoff while the old credentials stay in use for
//! as long as they are valid.

use super::{Credentials, CredentialsError, CredentialsProvider};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long before expiry credentials are refreshed (the SDKs' margin).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(15 * 60);
/// The first wait after a failed refresh; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait between two refresh attempts.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How often credentials that name no expiry are fetched again. The Go SDK runs
/// an External profile's command before every call, which at several calls a
/// second would be a process each time; a minute still picks up a rotated key soon.
pub const REFETCH_WITHOUT_EXPIRY: Duration = Duration::from_secs(60);

/// Credentials that expire.
#[derive(Debug, Clone)]
pub struct Expiring {
    /// The credentials.
    pub credentials: Credentials,
    /// When they stop working; `None` when the source names no expiry.
    pub expiration: Option<SystemTime>,
}

/// The boxed future a [`Fetcher`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Expiring, CredentialsError>> + Send + 'a>>;

/// Obtains a new set of temporary credentials (one STS, IMDS or URI exchange).
pub trait Fetcher: Send + Sync + fmt::Debug + 'static {
    /// The provider's name, for logs and the `provider` label.
    fn name(&self) -> &'static str;
    /// Fetches new credentials.
    fn fetch(&self) -> FetchFuture<'_>;
    /// Refresh this long after a fetch even if expiry is far (the ECS provider's hourly prefetch).
    fn prefetch_after(&self) -> Option<Duration> {
        None
    }
}

/// Hears about refreshes, for the self-metrics.
pub trait RefreshObserver: Send + Sync {
    /// Credentials of `provider` are now kept fresh (so its error count can start at 0).
    fn watching(&self, provider: &str);
    /// New credentials that expire at `expiration` (never, when `None`) were obtained.
    fn refreshed(&self, expiration: Option<SystemTime>);
    /// A refresh by `provider` failed.
    fn refresh_failed(&self, provider: &str);
}

#[derive(Debug)]
struct Current {
    credentials: Arc<Credentials>,
    expires_at: Option<Instant>,
}

/// A provider whose credentials a background task keeps fresh.
pub struct RefreshingProvider {
    fetcher: Arc<dyn Fetcher>,
    current: Arc<RwLock<Current>>,
}

impl fmt::Debug for RefreshingProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingProvider")
            .field("provider", &self.fetcher.name())
            .finish_non_exhaustive()
    }
}

/// The shortest wait before the next refresh, whatever the lifetime.
const MIN_WAIT: Duration = Duration::from_secs(10);

/// When to refresh credentials that expire at `expires_at`: 15 minutes before,
/// or, for credentials that live less than that, halfway (at least 10 s on),
/// so that short-lived credentials never turn into a fetch loop; credentials
/// without an expiry [`REFETCH_WITHOUT_EXPIRY`] on.
fn refresh_at(expires_at: Option<Instant>, prefetch_after: Option<Duration>) -> Instant {
    let now = Instant::now();
    let Some(expires_at) = expires_at else {
        return now + prefetch_after.unwrap_or(REFETCH_WITHOUT_EXPIRY);
    };
    let left = expires_at.saturating_duration_since(now);
    let due = if left > REFRESH_MARGIN {
        expires_at - REFRESH_MARGIN
    } else {
        now + (left / 2).max(MIN_WAIT)
    };
    prefetch_after.map_or(due, |after| due.min(now + after))
}

/// Converts a wall-clock expiry into tokio's clock, so that tests can pause time.
fn deadline(expiration: Option<SystemTime>) -> Option<Instant> {
    let left = expiration?
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Some(Instant::now() + left)
}

impl RefreshingProvider {
    /// Fetches the first credentials (the caller waits for these once, at start),
    /// then keeps them fresh until `shutdown`.
    pub async fn start(
        fetcher: Arc<dyn Fetcher>,
        observer: Arc<dyn RefreshObserver>,
        shutdown: CancellationToken,
    ) -> Result<Self, CredentialsError> {
        observer.watching(fetcher.name());
        let first = fetcher.fetch().await?;
        observer.refreshed(first.expiration);
        let current = Arc::new(RwLock::new(Current {
            credentials: Arc::new(first.credentials),
            expires_at: deadline(first.expiration),
        }));
        tokio::spawn(keep_fresh(
            Arc::clone(&fetcher),
            Arc::clone(&current),
            observer,
            shutdown,
        ));
        Ok(Self { fetcher, current })
    }
}

impl CredentialsProvider for RefreshingProvider {
    fn name(&self) -> &'static str {
        self.fetcher.name()
    }

    fn credentials(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        if current.expires_at.is_some_and(|at| Instant::now() >= at) {
            return Err(CredentialsError::Expired {
                provider: self.fetcher.name(),
            });
        }
        Ok(Arc::clone(&current.credentials))
    }
}

async fn keep_fresh(
    fetcher: Arc<dyn Fetcher>,
    current: Arc<RwLock<Current>>,
    observer: Arc<dyn RefreshObserver>,
    shutdown: CancellationToken,
) {
    let mut retry = FIRST_RETRY;
    let mut next = refresh_at(
        current.read().unwrap_or_else(|e| e.into_inner()).expires_at,
        fetcher.prefetch_after(),
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        match fetcher.fetch().await {
            Ok(fresh) => {
                observer.refreshed(fresh.expiration);
                let expires_at = deadline(fresh.expiration);
                let expires_in_seconds =
                    expires_at.map(|at| at.saturating_duration_since(Instant::now()).as_secs());
                // Credentials without an expiry are fetched every minute: only their changes are news.
                let changed = current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .credentials
                    .access_key_id
                    != fresh.credentials.access_key_id;
                if expires_at.is_some() || changed {
                    tracing::info!(
                        provider = fetcher.name(),
                        access_key_id = %fresh.credentials.key_id_hint(),
                        expires_in_seconds,
                        "credentials refreshed"
                    );
                }
                *current.write().unwrap_or_else(|e| e.into_inner()) = Current {
                    credentials: Arc::new(fresh.credentials),
                    expires_at,
                };
                retry = FIRST_RETRY;
                next = refresh_at(expires_at, fetcher.prefetch_after());
            }
            Err(error) => {
                observer.refresh_failed(fetcher.name());
                let expires_at = current.read().unwrap_or_else(|e| e.into_inner()).expires_at;
                let left =
                    expires_at.map(|at| at.saturating_duration_since(Instant::now()).as_secs());
                tracing::warn!(
                    provider = fetcher.name(),
                    valid_for_seconds = left,
                    retry_in_seconds = retry.as_secs(),
                    "refreshing credentials failed; the current ones stay in use while valid: {error}"
                );
                next = Instant::now() + retry;
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Hands out `STS.<n>` credentials valid for `lifetime`, failing while `failing` is set.
    #[derive(Debug)]
    struct Fake {
        lifetime: Duration,
        calls: AtomicUsize,
        failing: Mutex<bool>,
        prefetch: Option<Duration>,
    }

    impl Fetcher for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }

        fn prefetch_after(&self) -> Option<Duration> {
            self.prefetch
        }

        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                if *self.failing.lock().unwrap() {
                    return Err(CredentialsError::Fetch {
                        provider: "fake",
                        reason: "down".into(),
                    });
                }
                Ok(Expiring {
                    credentials: Credentials {
                        access_key_id: format!("STS.{n}"),
                        access_key_secret: Secret::new("s"),
                        security_token: Some(Secret::new("t")),
                    },
                    // Expressed on the paused clock's terms: the wall clock does not move in these tests.
                    // A zero lifetime stands for credentials that name no expiry.
                    expiration: (!self.lifetime.is_zero())
                        .then(|| SystemTime::now() + self.lifetime),
                })
            })
        }
    }

    impl Fake {
        fn new(lifetime: Duration, prefetch: Option<Duration>) -> Arc<Self> {
            Arc::new(Self {
                lifetime,
                calls: AtomicUsize::new(0),
                failing: Mutex::new(false),
                prefetch,
            })
        }
    }

    #[derive(Default)]
    struct Seen(Mutex<(usize, usize)>);

    impl RefreshObserver for Seen {
        fn watching(&self, _: &str) {}
        fn refreshed(&self, _: Option<SystemTime>) {
            self.0.lock().unwrap().0 += 1;
        }
        fn refresh_failed(&self, _: &str) {
            self.0.lock().unwrap().1 += 1;
        }
    }

    fn key(provider: &RefreshingProvider) -> Result<String, String> {
        provider
            .credentials()
            .map(|c| c.access_key_id.clone())
            .map_err(|e| e.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_ahead_of_expiry_and_survives_failures() {
        let fake = Fake::new(Duration::from_secs(3600), None);
        let seen = Arc::new(Seen::default());
        let shutdown = CancellationToken::new();
        let provider = RefreshingProvider::start(fake.clone(), seen.clone(), shutdown.clone())
            .await
            .unwrap();
        assert_eq!(key(&provider), Ok("STS.1".into()));
        // Refreshed at expiry − 15 min: 45 minutes in.
        tokio::time::sleep(Duration::from_secs(45 * 60 - 1)).await;
        assert_eq!(key(&provider), Ok("STS.1".into()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(key(&provider), Ok("STS.2".into()));

        // STS goes down 45 minutes into STS.2: retries at 5, 10, 20, … seconds; STS.2 stays in use.
        *fake.failing.lock().unwrap() = true;
        tokio::time::sleep(Duration::from_secs(45 * 60 + 40)).await;
        assert_eq!(key(&provider), Ok("STS.2".into()));
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            2 + 4,
            "attempts at +0, +5, +15 and +35 s"
        );
        assert_eq!(*seen.0.lock().unwrap(), (2, 4));
        *fake.failing.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_secs(40)).await;
        assert_eq!(key(&provider), Ok("STS.7".into()));
        assert_eq!(*seen.0.lock().unwrap(), (3, 4));
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_credentials_are_refreshed_halfway_not_in_a_loop() {
        let fake = Fake::new(Duration::from_secs(600), None);
        let shutdown = CancellationToken::new();
        let provider =
            RefreshingProvider::start(fake.clone(), Arc::new(Seen::default()), shutdown.clone())
                .await
                .unwrap();
        tokio::time::sleep(Duration::from_secs(301)).await;
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            2,
            "once at start, once at half the lifetime"
        );
        assert_eq!(key(&provider), Ok("STS.2".into()));
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_prefetch_refreshes_long_lived_credentials_early() {
        let fake = Fake::new(
            Duration::from_secs(6 * 3600),
            Some(Duration::from_secs(3600)),
        );
        let shutdown = CancellationToken::new();
        let provider =
            RefreshingProvider::start(fake.clone(), Arc::new(Seen::default()), shutdown.clone())
                .await
                .unwrap();
        tokio::time::sleep(Duration::from_secs(3599)).await;
        assert_eq!(key(&provider), Ok("STS.1".into()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            key(&provider),
            Ok("STS.2".into()),
            "an hour after the fetch, not 5 h 45 min"
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_without_expiry_are_fetched_every_minute_and_never_refused() {
        let fake = Fake::new(Duration::ZERO, None);
        let shutdown = CancellationToken::new();
        let provider =
            RefreshingProvider::start(fake.clone(), Arc::new(Seen::default()), shutdown.clone())
                .await
                .unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(key(&provider), Ok("STS.1".into()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            key(&provider),
            Ok("STS.2".into()),
            "a minute after the fetch"
        );
        *fake.failing.lock().unwrap() = true;
        tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
        assert_eq!(
            key(&provider),
            Ok("STS.2".into()),
            "the last good ones stay in use while the command fails"
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn expired_credentials_are_refused_not_used() {
        let fake = Fake::new(Duration::from_secs(16 * 60), None);
        let shutdown = CancellationToken::new();
        let provider =
            RefreshingProvider::start(fake.clone(), Arc::new(Seen::default()), shutdown.clone())
                .await
                .unwrap();
        *fake.failing.lock().unwrap() = true;
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        assert_eq!(
            key(&provider),
            Err("the fake credentials expired and could not be refreshed: see the log for why, and what the provider needs".into())
        );
        shutdown.cancel();
    }
}
