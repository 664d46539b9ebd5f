//! The `process_*` metrics, read at every scrape as cheaply as Linux allows:
//! the prometheus crate's collector parses `/proc/self/stat` and
//! `/proc/self/limits` each time, more than half of what rendering the
//! exporter's own metrics cost.

use super::contract::{self, MetricDef};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};
use rustix::process::{Resource, getrlimit};
use rustix::time::{ClockId, clock_gettime};
use std::sync::Mutex;

/// CPU time, memory, threads and file descriptors of this process.
pub struct ProcessMetrics {
    process: Option<procfs::process::Process>,
    page_size: f64,
    cpu: Counter,
    open_fds: Gauge,
    max_fds: Gauge,
    virtual_memory: Gauge,
    resident_memory: Gauge,
    threads: Gauge,
    /// `None` when /proc could not tell: the series is left out rather than shown as 0.
    start_time: Option<Gauge>,
    /// Serialises reading the clock and moving the counter, so that concurrent
    /// scrapes never add the same CPU time twice.
    cpu_update: Mutex<()>,
}

fn find(name: &str) -> &'static MetricDef {
    contract::CONTRACT
        .iter()
        .find(|d| d.name == name)
        .expect("the contract lists every process metric")
}

fn gauge(name: &str) -> Gauge {
    let def = find(name);
    Gauge::with_opts(Opts::new(def.name, def.help)).expect("valid metric")
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        let process = procfs::process::Process::myself().ok();
        // Fixed for the life of the process: read once.
        let started = process.as_ref().and_then(|p| {
            let ticks = p.stat().ok()?.starttime;
            Some(
                procfs::boot_time_secs().ok()? as f64
                    + ticks as f64 / procfs::ticks_per_second() as f64,
            )
        });
        let start_time = started.map(|started| {
            let gauge = gauge("process_start_time_seconds");
            gauge.set(started);
            gauge
        });
        let cpu = find("process_cpu_seconds_total");
        Self {
            process,
            page_size: rustix::param::page_size() as f64,
            cpu: Counter::with_opts(Opts::new(cpu.name, cpu.help)).expect("valid metric"),
            open_fds: gauge("process_open_fds"),
            max_fds: gauge("process_max_fds"),
            virtual_memory: gauge("process_virtual_memory_bytes"),
            resident_memory: gauge("process_resident_memory_bytes"),
            threads: gauge("process_threads"),
            start_time,
            cpu_update: Mutex::new(()),
        }
    }
}

impl ProcessMetrics {
    fn all(&self) -> Vec<&dyn Collector> {
        let mut all: Vec<&dyn Collector> = vec![
            &self.cpu,
            &self.max_fds,
            &self.open_fds,
            &self.resident_memory,
        ];
        all.extend(self.start_time.as_ref().map(|g| g as &dyn Collector));
        all.extend([&self.threads as &dyn Collector, &self.virtual_memory]);
        all
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.all().into_iter().flat_map(Collector::desc).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut read: Vec<&dyn Collector> = Vec::with_capacity(7);
        {
            let _one = self.cpu_update.lock().unwrap_or_else(|e| e.into_inner());
            // One clock read for user and system time together.
            let cpu = clock_gettime(ClockId::ProcessCPUTime);
            let seconds = cpu.tv_sec as f64 + cpu.tv_nsec as f64 / 1e9;
            let behind = seconds - self.cpu.get();
            if behind > 0.0 {
                self.cpu.inc_by(behind);
            }
        }
        read.push(&self.cpu);
        // No limit means no value to show.
        if let Some(max) = getrlimit(Resource::Nofile).current {
            self.max_fds.set(max as f64);
            read.push(&self.max_fds);
        }
        if let Some(process) = &self.process {
            if let Ok(count) = process.fd_count() {
                self.open_fds.set(count as f64);
                read.push(&self.open_fds);
            }
            if let Ok(statm) = process.statm() {
                self.virtual_memory.set(statm.size as f64 * self.page_size);
                self.resident_memory
                    .set(statm.resident as f64 * self.page_size);
                read.push(&self.virtual_memory);
                read.push(&self.resident_memory);
            }
        }
        // Counting entries is all that is needed: procfs's task iterator opens each one.
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            self.threads.set(tasks.count() as f64);
            read.push(&self.threads);
        }
        read.extend(self.start_time.as_ref().map(|g| g as &dyn Collector));
        read.into_iter().flat_map(Collector::collect).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let metrics = ProcessMetrics::default();
        let families = metrics.collect();
        let value = |name: &str| {
            let family = families.iter().find(|f| f.name() == name).unwrap();
            let metric = &family.get_metric()[0];
            if name.ends_with("_total") {
                metric.get_counter().get_value()
            } else {
                metric.get_gauge().get_value()
            }
        };
        assert!(value("process_cpu_seconds_total") > 0.0);
        let std_threads = std::fs::read_dir("/proc/self/task").unwrap().count();
        assert!(
            value("process_threads") >= 1.0 && value("process_threads") <= std_threads as f64 + 4.0
        );
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let open = value("process_open_fds");
        assert!(
            open >= 4.0,
            "stdin, stdout, stderr, /proc/self and {file:?}: {open}"
        );
        assert_eq!(
            value("process_max_fds"),
            getrlimit(Resource::Nofile).current.unwrap() as f64
        );
        let rss = value("process_resident_memory_bytes");
        assert!(
            rss > 1e6 && rss < value("process_virtual_memory_bytes"),
            "{rss}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started > now - 3600.0 && started <= now + 1.0,
            "{started} vs {now}"
        );
        assert_eq!(families.len(), 7);
    }

    #[test]
    fn concurrent_scrapes_never_add_cpu_time_twice() {
        let metrics = std::sync::Arc::new(ProcessMetrics::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let metrics = std::sync::Arc::clone(&metrics);
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        metrics.collect();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let counted = metrics.cpu.get();
        let clock = clock_gettime(ClockId::ProcessCPUTime);
        let actual = clock.tv_sec as f64 + clock.tv_nsec as f64 / 1e9;
        assert!(counted > 0.0 && counted <= actual, "{counted} > {actual}");
    }
}
