//! What the benchmark reads of the exporter process in /proc: CPU time, the
//! context switches and run time of each thread, memory, and a sampler that
//! records them while the polls arrive at the simulator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// /proc counts CPU time in USER_HZ ticks, 100 a second on Linux whatever the kernel's own HZ.
const USER_HZ: f64 = 100.0;
/// How often the sampler reads: fine enough beside 10 ms CPU ticks.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);
/// The threads' context switches are read every this many samples (10 ms).
const THREADS_EVERY: u64 = 5;

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let ticks = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / USER_HZ)
}

/// A `/proc/PID/status` figure in kB.
pub fn status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one thread has done so far.
#[derive(Clone, Default)]
pub struct Thread {
    /// Its name (`comm`).
    pub name: String,
    /// Voluntary and involuntary context switches.
    pub switches: u64,
    /// Nanoseconds on a CPU (/proc/PID/task/TID/schedstat), finer than the stat ticks.
    pub run_ns: u64,
}

/// Every thread the process had while watched, with its latest figures: a thread
/// that ended keeps what it had last, so the totals never go back.
#[derive(Clone)]
pub struct Threads {
    pid: u32,
    seen: BTreeMap<u32, Thread>,
}

impl Threads {
    /// Reads the threads of `pid` as they are now.
    pub fn of(pid: u32) -> Self {
        let mut threads = Self {
            pid,
            seen: BTreeMap::new(),
        };
        threads.refresh();
        threads
    }

    /// Reads every thread again; false once the process is gone.
    pub fn refresh(&mut self) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return false;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            // A thread may end between the listing and the read: it keeps its last figures.
            if let Some(thread) = read_thread(&task.path()) {
                self.seen.insert(tid, thread);
            }
        }
        true
    }

    /// Threads seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Context switches of every thread seen.
    pub fn switches(&self) -> u64 {
        self.seen.values().map(|t| t.switches).sum()
    }

    /// Nanoseconds on a CPU of every thread seen.
    pub fn run_ns(&self) -> u64 {
        self.seen.values().map(|t| t.run_ns).sum()
    }

    /// The threads that switched since `before`, by name, with how often (most first).
    pub fn woken_since(&self, before: &Threads) -> Vec<(String, u64)> {
        let mut woken: BTreeMap<String, u64> = BTreeMap::new();
        for (tid, now) in &self.seen {
            let then = before.seen.get(tid).map_or(0, |t| t.switches);
            if now.switches > then {
                *woken.entry(format!("{} ({tid})", now.name)).or_default() += now.switches - then;
            }
        }
        let mut woken: Vec<_> = woken.into_iter().collect();
        woken.sort_by_key(|w| std::cmp::Reverse(w.1));
        woken
    }
}

fn read_thread(dir: &std::path::Path) -> Option<Thread> {
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let field = |key: &str| -> Option<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let count = |key: &str| field(key).and_then(|v| v.parse::<u64>().ok());
    let schedstat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
    Some(Thread {
        name: field("Name:")?.to_owned(),
        switches: count("voluntary_ctxt_switches:")? + count("nonvoluntary_ctxt_switches:")?,
        run_ns: schedstat.split_whitespace().next()?.parse().ok()?,
    })
}

/// One reading of the sampler.
struct Sample {
    at: Instant,
    cpu: f64,
    switches: u64,
}

/// A thread reading the process's CPU time every 2 ms, its threads' context switches every 10 ms.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut threads = Threads::of(pid);
            let mut samples = Vec::new();
            for n in 0u64.. {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let at = Instant::now();
                let Some(cpu) = cpu_seconds(pid) else { break };
                // Two files a thread: read less often, to take less CPU from the exporter and simulator.
                if n.is_multiple_of(THREADS_EVERY) && !threads.refresh() {
                    break;
                }
                samples.push(Sample {
                    at,
                    cpu,
                    switches: threads.switches(),
                });
                std::thread::sleep(SAMPLE_EVERY);
            }
            samples
        });
        Self { stop, thread }
    }

    /// Stops sampling: the readings taken.
    pub fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        Samples(self.thread.join().expect("the sampler does not panic"))
    }
}

/// The sampler's readings, in time order.
pub struct Samples(Vec<Sample>);

impl Samples {
    /// CPU seconds and context switches at `t`, interpolated between the readings either side.
    pub fn at(&self, t: Instant) -> (f64, f64) {
        let samples = &self.0;
        let after = samples.partition_point(|s| s.at <= t);
        let (a, b) = match after {
            0 => (&samples[0], &samples[0]),
            n if n == samples.len() => (&samples[n - 1], &samples[n - 1]),
            n => (&samples[n - 1], &samples[n]),
        };
        let span = (b.at - a.at).as_secs_f64();
        let share = if span > 0.0 {
            (t - a.at).as_secs_f64() / span
        } else {
            0.0
        };
        let between = |x: f64, y: f64| x + (y - x) * share;
        (
            between(a.cpu, b.cpu),
            between(a.switches as f64, b.switches as f64),
        )
    }
}
