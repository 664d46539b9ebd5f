//! Paces one account's calls per action so that no one-second window ever
//! holds more than the configured number, whatever the concurrency.

use crate::api::{Action, PerAction};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Headroom per second of spacing: network and scheduling jitter between here
/// and the API can compress gaps a little, and must not push a call into the
/// previous second's window at the API.
const HEADROOM: Duration = Duration::from_millis(25);

/// How far a call may go out before its spacing after the previous call's actual
/// departure, to keep the average pace when timers fire late (tokio's fire on whole
/// milliseconds, so a 1.025 ms spacing would otherwise become 2 ms). Any `n` calls
/// still span at least `(n - 1) × spacing - CATCH_UP`, so with the headroom above a
/// second holds at most `rate` calls even with 15 ms of jitter on the way.
const CATCH_UP: Duration = Duration::from_millis(10);

/// The spacing between two calls at `per_second` calls a second: any one-second
/// window then holds at most `max(1, floor(per_second))` calls, so a fractional
/// rate (a shard's share, say) is rounded down rather than up.
pub fn spacing(per_second: f64) -> Duration {
    let per_window = if per_second >= 1.0 {
        per_second.floor()
    } else {
        per_second
    };
    Duration::from_secs_f64((1.0 + HEADROOM.as_secs_f64()) / per_window)
}

/// One action's pacer: callers queue in order; each is due `spacing` after the
/// one before was due, and never more than `CATCH_UP` early on the one before's
/// actual departure.
#[derive(Debug)]
struct Pacer {
    spacing_nanos: AtomicU64,
    // Held across the wait, so that callers leave in the order they came
    // and a stall never releases more than CATCH_UP's worth of calls.
    last: tokio::sync::Mutex<Option<Departure>>,
}

/// When the last call was due and when it actually went out.
#[derive(Debug, Clone, Copy)]
struct Departure {
    due: Instant,
    sent: Instant,
}

impl Pacer {
    fn new(spacing: Duration) -> Self {
        Self {
            spacing_nanos: AtomicU64::new(nanos(spacing)),
            last: tokio::sync::Mutex::new(None),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A pacer per action: calls are spaced `(1 s + headroom) / rate` apart, so there
/// is no burst and any second holds at most `rate` calls.
#[derive(Debug)]
pub struct RateLimiter {
    pacers: PerAction<Pacer>,
}

impl RateLimiter {
    /// A limiter with the given calls per second for each action.
    pub fn new(rates: &PerAction<f64>) -> Self {
        Self {
            pacers: rates.map(|_, rate| Pacer::new(spacing(*rate))),
        }
    }

    /// Sets the rates (on reload); a call already waiting keeps the spacing it started with.
    pub fn set_rates(&self, rates: &PerAction<f64>) {
        for (action, rate) in rates.iter() {
            self.pacers[action]
                .spacing_nanos
                .store(nanos(spacing(*rate)), Ordering::Relaxed);
        }
    }

    /// Waits until `action` may be called and returns how long that took.
    pub async fn acquire(&self, action: Action) -> Duration {
        let asked = Instant::now();
        let pacer = &self.pacers[action];
        let mut last = pacer.last.lock().await;
        let due = match *last {
            Some(last) => {
                let spacing = Duration::from_nanos(pacer.spacing_nanos.load(Ordering::Relaxed));
                let on_pace = last.due + spacing;
                let earliest = (last.sent + spacing).checked_sub(CATCH_UP);
                let due = earliest.map_or(on_pace, |earliest| on_pace.max(earliest));
                // A timer, even one already due, fires on the wheel's next millisecond tick.
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                }
                due
            }
            None => Instant::now(),
        };
        let sent = Instant::now();
        *last = Some(Departure { due, sent });
        sent - asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const A: Action = Action::DescribeDeploymentJobStatus;
    const B: Action = Action::ListDeploymentJob;

    /// `rates` for the actions named, the others at 1 a second.
    fn rates(given: &[(Action, f64)]) -> PerAction<f64> {
        PerAction::from_fn(|action| {
            given
                .iter()
                .find(|(a, _)| *a == action)
                .map_or(1.0, |(_, rate)| *rate)
        })
    }

    /// The paused clock wakes timers on whole milliseconds, so each wait may round up by one.
    fn about(actual: Duration, expected: Duration, waits: u32) -> bool {
        actual >= expected && actual <= expected + Duration::from_millis(u64::from(waits))
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_evenly_with_headroom() {
        let limiter = RateLimiter::new(&rates(&[(A, 5.0), (B, 2.0)]));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..6 {
            limiter.acquire(A).await;
            times.push(Instant::now() - start);
        }
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(205) * i).collect();
        assert_eq!(times, expected);
        // Six calls at 5/s span more than a second: no one-second window holds six.
        assert!(times[5] > Duration::from_secs(1));
        assert_eq!(
            limiter.acquire(B).await,
            Duration::ZERO,
            "actions are paced apart"
        );
    }

    #[test]
    fn fractional_rates_round_down_per_second() {
        assert_eq!(
            spacing(2.5),
            Duration::from_micros(512_500),
            "two a second, never three"
        );
        assert_eq!(spacing(2.0), Duration::from_micros(512_500));
        assert_eq!(spacing(0.5), Duration::from_millis(2050));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_in_order_and_report_their_wait() {
        let limiter = Arc::new(RateLimiter::new(&rates(&[(A, 10.0)])));
        let mut handles = Vec::new();
        for _ in 0..4 {
            let limiter = Arc::clone(&limiter);
            handles.push(tokio::spawn(async move { limiter.acquire(A).await }));
            tokio::task::yield_now().await;
        }
        let mut waits = Vec::new();
        for handle in handles {
            waits.push(handle.await.unwrap());
        }
        for (i, wait) in waits.iter().enumerate() {
            let expected = Duration::from_micros(102_500) * i as u32;
            assert!(
                about(*wait, expected, i as u32),
                "caller {i} waited {wait:?}, expected {expected:?}"
            );
        }
        limiter.set_rates(&rates(&[(A, 1.0)]));
        let waited = limiter.acquire(A).await;
        assert!(
            about(waited, Duration::from_millis(1025), 1),
            "the new rate applies: {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn late_timers_do_not_slow_the_pace() {
        // 1,000 a second is a 1.025 ms spacing; the paused clock, like tokio's timer
        // wheel, wakes on whole milliseconds.
        // One caller in ten also comes 3 ms late, as a busy runtime's would.
        let limiter = RateLimiter::new(&rates(&[(A, 1000.0)]));
        let start = Instant::now();
        for i in 0..1001 {
            if i % 10 == 5 {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            limiter.acquire(A).await;
        }
        let took = Instant::now() - start;
        assert!(
            about(took, Duration::from_millis(1025), 1),
            "1,000 spacings took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_caller_makes_up_no_more_than_the_catch_up() {
        let limiter = RateLimiter::new(&rates(&[(A, 10.0)]));
        limiter.acquire(A).await;
        // Nothing is asked for a while; then three callers come at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..3 {
            limiter.acquire(A).await;
            sent.push(Instant::now() - start);
        }
        assert_eq!(sent[0], Duration::ZERO);
        assert!(about(sent[1], Duration::from_micros(92_500), 1), "{sent:?}");
        // Then the pace resumes from when the second was due.
        assert!(
            about(sent[2], Duration::from_micros(92_500 + 102_500), 1),
            "{sent:?}"
        );
    }
}
