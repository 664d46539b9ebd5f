//! One measured run: start, first sweep, listings, then idle, scrapes and memory.

use crate::deployment::{Deployment, Sweep};
use crate::proc::{Sampler, Threads, cpu_seconds, load_average, memory_kb};
use crate::scrape::{self, Latencies, PlainText};
use std::time::{Duration, Instant};

/// What a run measures besides the sweep, listings and memory.
pub struct Options {
    /// How long to watch the settled exporter without scrapes, if at all.
    pub idle: Option<Duration>,
    /// Whether to compare scrape latencies with the static body.
    pub scrapes: bool,
}

/// The figures of one run.
pub struct Run {
    /// Jobs in all.
    pub jobs: u64,
    /// Simulated accounts.
    pub accounts: usize,
    /// The first sweep at the simulators.
    pub sweep: Sweep,
    /// From the exporter listening to `/-/ready`.
    pub ready_after: Duration,
    /// CPU seconds from the exporter listening to `/-/ready`.
    pub cpu_to_ready: f64,
    /// CPU seconds between the first and the last poll.
    pub cpu_in_sweep: f64,
    /// Context switches between the first and the last poll.
    pub switches_in_sweep: f64,
    /// The settled exporter left alone.
    pub idle: Option<Idle>,
    /// Scrape latencies, when compared.
    pub latencies: Option<Latencies>,
    /// The plain text exposition.
    pub plain: PlainText,
    /// ListWorkerResource calls.
    pub worker_calls: usize,
    /// Jobs whose workers were listed.
    pub listed_workers: usize,
    /// Jobs with a failed worker.
    pub failing: usize,
    /// ListDeploymentJobCert calls.
    pub cert_calls: usize,
    /// Peak RSS in kB, every listing done, gzip scrapes only.
    pub peak_rss_kb: u64,
    /// RSS in kB then.
    pub rss_kb: u64,
    /// Load averages at the start and at the end of the run.
    pub load: [String; 2],
}

impl Run {
    /// CPU microseconds per poll between the first and the last poll.
    pub fn cpu_per_poll_us(&self) -> f64 {
        self.cpu_in_sweep / self.sweep.polls as f64 * 1e6
    }

    /// Context switches per poll in the same window.
    pub fn switches_per_poll(&self) -> f64 {
        self.switches_in_sweep / self.sweep.polls as f64
    }
}

/// The settled exporter over a span without scrapes.
pub struct Idle {
    /// How long it was watched.
    pub span: Duration,
    /// CPU seconds from /proc/PID/stat (10 ms ticks).
    pub cpu: f64,
    /// Nanoseconds on a CPU from the threads' schedstat.
    pub run_ns: u64,
    /// Context switches of every thread.
    pub switches: u64,
    /// The threads that switched, with how often.
    pub woken: Vec<(String, u64)>,
    /// Threads the process had.
    pub threads: usize,
}

impl Idle {
    /// `count` per minute of the span.
    pub fn per_minute(&self, count: f64) -> f64 {
        count * 60.0 / self.span.as_secs_f64()
    }
}

/// Measures `jobs` jobs.
pub async fn measure(jobs: u64, options: &Options) -> Run {
    let load_at_start = load_average();
    let world = Deployment::start(jobs).await;
    let pid = world.exporter.pid();
    let sampler = Sampler::start(pid);
    let started = Instant::now();
    let cpu_at_start = cpu_seconds(pid).unwrap();
    world.wait_ready().await;
    let ready_after = started.elapsed();
    let cpu_to_ready = cpu_seconds(pid).unwrap() - cpu_at_start;
    let samples = sampler.finish();
    let sweep = world.sweep();
    let (cpu_first, switches_first) = samples.at(sweep.first);
    let (cpu_last, switches_last) = samples.at(sweep.last);

    world.wait_listed().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = match options.idle {
        Some(span) => Some(watch_idle(pid, span).await),
        None => None,
    };
    let latencies = if options.scrapes {
        Some(scrape::compare(&world.exporter).await)
    } else {
        // The gzip body is rendered once a scraper asks for it: make it part of the memory measured.
        scrape::gzip_body(&reqwest::Client::new(), &world.exporter.url("/metrics")).await;
        None
    };
    let (peak_rss_kb, rss_kb) = memory_kb(pid);
    let plain = scrape::plain_text(&world.exporter).await;
    let run = Run {
        jobs,
        accounts: world.accounts(),
        sweep,
        ready_after,
        cpu_to_ready,
        cpu_in_sweep: cpu_last - cpu_first,
        switches_in_sweep: switches_last - switches_first,
        idle,
        latencies,
        plain,
        worker_calls: world.calls_of("ListWorkerResource").len(),
        listed_workers: world.listed_workers().len(),
        failing: world.failing,
        cert_calls: world.calls_of("ListDeploymentJobCert").len(),
        peak_rss_kb,
        rss_kb,
        load: [load_at_start, load_average()],
    };
    world.stop().await;
    run
}

/// Watches the exporter for `span` while nothing asks anything of it.
async fn watch_idle(pid: u32, span: Duration) -> Idle {
    let before = Threads::of(pid);
    let cpu_before = cpu_seconds(pid).unwrap();
    let started = Instant::now();
    tokio::time::sleep(span).await;
    let mut after = before.clone();
    after.refresh();
    let cpu = cpu_seconds(pid).unwrap() - cpu_before;
    Idle {
        span: started.elapsed(),
        cpu,
        run_ns: after.run_ns() - before.run_ns(),
        switches: after.switches() - before.switches(),
        woken: after.woken_since(&before),
        threads: after.len(),
    }
}
