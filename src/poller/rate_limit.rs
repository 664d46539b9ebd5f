//! Paces one account's calls per action so that no one-second window ever
//! holds more than the configured number, whatever the concurrency.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Headroom per second of spacing: network and scheduling jitter between here
/// and the API can compress gaps a little, and must not push a call into the
/// previous second's window at the API.
const HEADROOM: Duration = Duration::from_millis(25);

/// A pacer per action: calls are spaced `(1 s + headroom) / rate` apart, so
/// there is no burst at all, and any second holds at most `rate` calls.
#[derive(Debug)]
pub struct RateLimiter {
    actions: Mutex<HashMap<&'static str, Pacer>>,
}

#[derive(Debug, Clone, Copy)]
struct Pacer {
    spacing: Duration,
    next_free: Option<Instant>,
}

/// The spacing between two calls at `per_second` calls a second.
pub fn spacing(per_second: f64) -> Duration {
    Duration::from_secs_f64((1.0 + HEADROOM.as_secs_f64()) / per_second)
}

impl RateLimiter {
    /// A limiter with the given calls per second for each action.
    pub fn new(rates: &[(&'static str, f64)]) -> Self {
        let actions = rates
            .iter()
            .map(|(action, rate)| {
                (
                    *action,
                    Pacer {
                        spacing: spacing(*rate),
                        next_free: None,
                    },
                )
            })
            .collect();
        Self {
            actions: Mutex::new(actions),
        }
    }

    /// Changes the rates (on reload); reservations already made stand.
    pub fn set_rates(&self, rates: &[(&'static str, f64)]) {
        let mut actions = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        for (action, rate) in rates {
            actions
                .entry(action)
                .and_modify(|p| p.spacing = spacing(*rate))
                .or_insert(Pacer {
                    spacing: spacing(*rate),
                    next_free: None,
                });
        }
    }

    /// Waits for `action`'s next slot and returns how long it waited.
    /// Actions without a configured rate are not limited.
    pub async fn acquire(&self, action: &str) -> Duration {
        let now = Instant::now();
        let slot = {
            let mut actions = self.actions.lock().unwrap_or_else(|e| e.into_inner());
            let Some(pacer) = actions.get_mut(action) else {
                return Duration::ZERO;
            };
            // A slot is reserved at once, so concurrent callers queue in order.
            let slot = pacer.next_free.map_or(now, |free| free.max(now));
            pacer.next_free = Some(slot + pacer.spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_evenly_with_headroom() {
        let limiter = RateLimiter::new(&[("A", 5.0), ("B", 2.0)]);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            limiter.acquire("A").await;
            times.push(Instant::now() - start);
        }
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(205) * i).collect();
        assert_eq!(times, expected);
        // Six calls at 5/s span more than a second: no one-second window holds six.
        assert!(times[5] > Duration::from_secs(1));
        assert_eq!(
            limiter.acquire("B").await,
            Duration::ZERO,
            "actions are paced apart"
        );
        assert_eq!(limiter.acquire("unlisted").await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_in_order_and_report_their_wait() {
        let t0 = Instant::now();
        let limiter = std::sync::Arc::new(RateLimiter::new(&[("A", 10.0)]));
        let waits: Vec<Duration> = futures_wait(&limiter, 4).await;
        assert_eq!(
            waits,
            vec![
                Duration::ZERO,
                Duration::from_micros(102_500),
                Duration::from_micros(205_000),
                Duration::from_micros(307_500)
            ]
        );
        // The next slot was reserved at 410 ms; a new rate applies from the slot after it.
        limiter.set_rates(&[("A", 1.0)]);
        let asked = Instant::now();
        let waited = limiter.acquire("A").await;
        assert_eq!(asked + waited, t0 + Duration::from_millis(410));
        let asked = Instant::now();
        let waited = limiter.acquire("A").await;
        assert_eq!(asked + waited, t0 + Duration::from_millis(410 + 1025));
    }

    async fn futures_wait(limiter: &std::sync::Arc<RateLimiter>, n: usize) -> Vec<Duration> {
        let mut handles = Vec::new();
        for _ in 0..n {
            let limiter = std::sync::Arc::clone(limiter);
            handles.push(tokio::spawn(async move { limiter.acquire("A").await }));
            tokio::task::yield_now().await;
        }
        let mut waits = Vec::new();
        for handle in handles {
            waits.push(handle.await.unwrap());
        }
        waits
    }
}
