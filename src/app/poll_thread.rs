//! The thread the account pollers run on: a single-threaded runtime of their own.
//!
//! A poll is a chain of small steps (pace, sign, send, read, parse, record) handed
//! from task to task: the poller, the call, the HTTP connection. On the shared
//! multi-threaded runtime each hand-over could wake a parked worker on the other
//! CPU, about three context switches a poll (issue 17's profile). On one thread
//! the hand-overs are queue pushes, and the thread only sleeps when no poll has
//! work. Serving stays on the shared runtime, so a flood of scrapes or TLS
//! handshakes competes with the polls for CPU only, never for a runtime's workers.

use std::future::Future;
use std::io;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running poll thread; ends when the token given to [`PollThread::start`] fires.
pub struct PollThread {
    handle: Handle,
}

impl PollThread {
    /// Starts the thread; it runs until `shutdown` fires, then drops what is left on it.
    pub fn start(shutdown: CancellationToken) -> io::Result<Self> {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name("poller")
            .build()?;
        let handle = runtime.handle().clone();
        let runtime = Detached(Some(runtime));
        std::thread::Builder::new()
            .name("poller".to_owned())
            .spawn(move || {
                if let Some(runtime) = &runtime.0 {
                    runtime.block_on(shutdown.cancelled());
                }
            })?;
        Ok(Self { handle })
    }

    /// Runs `task` on the poll thread.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(task)
    }
}

/// The poll thread's runtime, shut down without waiting for its blocking threads
/// wherever it is dropped: on the thread at shutdown, so that a DNS lookup still
/// under way does not hold up the exit; and in the async caller when the thread
/// cannot start (std drops the closure there), where a runtime's ordinary drop
/// panics instead of letting [`PollThread::start`] return its error.
struct Detached(Option<Runtime>);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_poll_thread_until_shutdown() {
        let shutdown = CancellationToken::new();
        let thread = PollThread::start(shutdown.clone()).unwrap();
        let ran = thread
            .spawn(async {
                assert_eq!(std::thread::current().name(), Some("poller"));
            })
            .await;
        assert!(ran.is_ok());
        let forever = thread.spawn(std::future::pending());
        shutdown.cancel();
        assert!(forever.await.unwrap_err().is_cancelled());
    }

    #[tokio::test]
    async fn a_runtime_whose_thread_never_started_drops_quietly_in_async_code() {
        let runtime = Builder::new_current_thread().enable_all().build().unwrap();
        let runtime = Detached(Some(runtime));
        // What std::thread::Builder::spawn does with the closure when it cannot start a thread.
        let thread_body = move || drop(runtime);
        drop(thread_body);
    }
}
