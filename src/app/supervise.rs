//! Keeps an account's poller running: a poller that panics is started again.
//!
//! Without this, a bug that panics in one account's poller would stop its polls
//! for good while its jobs kept their last values and `up` 1: the one failure
//! an SRE could not see. A new poller publishes the account as at start-up at
//! once (jobs listed by ID down, none discovered yet: nothing looks healthy),
//! and polls again after a pause that keeps a bug which panics at every start
//! from spinning.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The pause between a poller's panic and the start of the next one.
pub const RESTART_AFTER: Duration = Duration::from_secs(30);

/// Runs `first`, then, each time the running poller panics, a poller from
/// `again` (built at once, so that it publishes the jobs as down) after
/// `restart_after`; returns when a poller ends on its own or `stop` fires, and
/// only once the poller's task has ended, so that nothing is published after.
pub async fn supervise<Fut>(
    account: &str,
    first: Fut,
    mut again: impl FnMut() -> Fut,
    stop: CancellationToken,
    restart_after: Duration,
) where
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut run = first;
    loop {
        let mut task = tokio::spawn(run);
        let ended = tokio::select! {
            ended = &mut task => ended,
            () = stop.cancelled() => {
                task.abort();
                let _ = task.await;
                return;
            }
        };
        match ended {
            Ok(()) => return,
            Err(error) if error.is_panic() => tracing::error!(
                account,
                restart_in_seconds = restart_after.as_secs(),
                "the poller of this account stopped on a bug (a panic, logged above): the account starts over as at start-up, its jobs listed by ID down until polling starts again; please report it with the lines before this one"
            ),
            Err(_) => return,
        }
        run = loop {
            // Building a poller panicking too must not end the supervision, which
            // would leave the account's last values standing for good: try again.
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut again));
            tokio::select! {
                () = tokio::time::sleep(restart_after) => {}
                () = stop.cancelled() => return,
            }
            match built {
                Ok(run) => break run,
                Err(_) => tracing::error!(
                    account,
                    restart_in_seconds = restart_after.as_secs(),
                    "a new poller for this account could not be built (a panic, logged above); trying again"
                ),
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;

    type Run = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn panics() -> Run {
        Box::pin(async { panic!("a bug in the poller") as () })
    }

    #[tokio::test(start_paused = true)]
    async fn a_poller_that_panics_is_built_at_once_and_runs_after_the_pause() {
        let stop = CancellationToken::new();
        let built = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(std::sync::Mutex::new(Vec::new()));
        let origin = Instant::now();
        let supervisor = {
            let (built, started, stop) = (Arc::clone(&built), Arc::clone(&started), stop.clone());
            tokio::spawn(async move {
                let inner_stop = stop.clone();
                supervise(
                    "a",
                    panics(),
                    move || {
                        let n = built.fetch_add(1, Ordering::SeqCst);
                        let (started, stop) = (Arc::clone(&started), inner_stop.clone());
                        if n == 0 {
                            // The second poller panics too; the third runs until stopped.
                            Box::pin(async move {
                                started.lock().unwrap().push(origin.elapsed());
                                panic!("again") as ()
                            }) as Run
                        } else {
                            Box::pin(async move {
                                started.lock().unwrap().push(origin.elapsed());
                                stop.cancelled().await;
                            })
                        }
                    },
                    stop,
                    RESTART_AFTER,
                )
                .await;
            })
        };
        tokio::time::sleep(RESTART_AFTER * 3).await;
        assert_eq!(built.load(Ordering::SeqCst), 2);
        assert_eq!(*started.lock().unwrap(), [RESTART_AFTER, RESTART_AFTER * 2]);
        assert!(!supervisor.is_finished(), "the third poller still runs");
        stop.cancel();
        supervisor.await.unwrap();
        assert_eq!(built.load(Ordering::SeqCst), 2, "none built after the stop");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_waits_for_the_running_poller_to_end() {
        let stop = CancellationToken::new();
        let ended = Arc::new(AtomicUsize::new(0));
        struct Ends(Arc<AtomicUsize>);
        impl Drop for Ends {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = Ends(Arc::clone(&ended));
        let first: Run = Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let supervisor = tokio::spawn(supervise(
            "a",
            first,
            || -> Run { unreachable!("nothing panicked") },
            stop.clone(),
            RESTART_AFTER,
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(ended.load(Ordering::SeqCst), 0);
        stop.cancel();
        supervisor.await.unwrap();
        assert_eq!(
            ended.load(Ordering::SeqCst),
            1,
            "the poller ended before the supervisor"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_during_the_pause_returns_at_once_without_starting_the_built_poller() {
        let stop = CancellationToken::new();
        let started = Arc::new(AtomicUsize::new(0));
        let again = {
            let started = Arc::clone(&started);
            move || -> Run {
                let started = Arc::clone(&started);
                Box::pin(async move {
                    started.fetch_add(1, Ordering::SeqCst);
                })
            }
        };
        let supervisor = tokio::spawn(supervise("a", panics(), again, stop.clone(), RESTART_AFTER));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let origin = Instant::now();
        stop.cancel();
        supervisor.await.unwrap();
        assert_eq!(origin.elapsed(), Duration::ZERO, "no wait for the pause");
        assert_eq!(started.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_poller_whose_building_panics_is_built_again_after_each_pause() {
        let stop = CancellationToken::new();
        let built = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let supervisor = {
            let (built, ran, stop) = (Arc::clone(&built), Arc::clone(&ran), stop.clone());
            let inner_stop = stop.clone();
            tokio::spawn(supervise(
                "a",
                panics(),
                move || -> Run {
                    if built.fetch_add(1, Ordering::SeqCst) < 2 {
                        panic!("cannot build");
                    }
                    let (ran, stop) = (Arc::clone(&ran), inner_stop.clone());
                    Box::pin(async move {
                        ran.fetch_add(1, Ordering::SeqCst);
                        stop.cancelled().await;
                    })
                },
                stop,
                RESTART_AFTER,
            ))
        };
        tokio::time::sleep(RESTART_AFTER * 2 + Duration::from_secs(1)).await;
        assert_eq!(
            built.load(Ordering::SeqCst),
            3,
            "built at 0 s, 30 s and 60 s"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0, "not run before its pause");
        tokio::time::sleep(RESTART_AFTER).await;
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(!supervisor.is_finished());
        stop.cancel();
        supervisor.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_poller_that_ends_on_its_own_is_not_started_again() {
        let supervisor = supervise(
            "a",
            Box::pin(async {}) as Run,
            || -> Run { unreachable!("nothing panicked") },
            CancellationToken::new(),
            RESTART_AFTER,
        );
        supervisor.await;
    }
}
