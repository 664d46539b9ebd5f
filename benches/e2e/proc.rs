//! What the benchmark reads of the exporter process in /proc: CPU time, the
//! context switches and run time of each thread, memory, and a sampler that
//! records them while the polls arrive at the simulator.

use procfs::Current;
use procfs::process::{Process, Task};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the sampler reads: fine enough beside 10 ms CPU ticks.
const SAMPLE_EVERY: Duration = Duration::from_millis(2);
/// The threads' context switches are read every this many samples (10 ms).
const THREADS_EVERY: u64 = 5;

fn process(pid: u32) -> Option<Process> {
    Process::new(i32::try_from(pid).ok()?).ok()
}

/// CPU seconds (user + system) the process has used, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = process(pid)?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// Peak and current resident memory in kB (`VmHWM`, `VmRSS` of /proc/PID/status).
pub fn memory_kb(pid: u32) -> (u64, u64) {
    let status = process(pid)
        .and_then(|p| p.status().ok())
        .expect("the exporter is running");
    (
        status.vmhwm.expect("Linux reports VmHWM"),
        status.vmrss.expect("Linux reports VmRSS"),
    )
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
pub fn load_average() -> String {
    procfs::LoadAverage::current().map_or_else(
        |_| String::new(),
        |load| format!("{:.2} {:.2} {:.2}", load.one, load.five, load.fifteen),
    )
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
        let Some(tasks) = process(self.pid).and_then(|p| p.tasks().ok()) else {
            return false;
        };
        // A thread may end between the listing and the read: it keeps its last figures.
        for task in tasks.flatten() {
            if let Some(thread) = read_thread(&task) {
                self.seen.insert(task.tid.unsigned_abs(), thread);
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

fn read_thread(task: &Task) -> Option<Thread> {
    let status = task.status().ok()?;
    Some(Thread {
        switches: status.voluntary_ctxt_switches? + status.nonvoluntary_ctxt_switches?,
        name: status.name,
        run_ns: task.schedstat().ok()?.sum_exec_runtime,
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
