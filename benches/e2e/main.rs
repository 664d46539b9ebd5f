//! End-to-end figures at account scale: the release binary polling the simulator
//! (10,000 jobs, 3 products each, 1,000 calls/s allowed, 5 ms added latency): the
//! CPU and context switches per poll of the first sweep, the settled exporter's
//! idle cost, scrapes beside a static body of the same size served by the same
//! HTTP stack, and memory, render time and CPU per poll as jobs grow (several
//! accounts of at most 10,000 jobs beyond that). Loopback only.
//!
//! Run with `cargo bench --bench e2e`. `BENCH_JOBS` sets the main run's job count
//! (10,000, or the smallest of `BENCH_SIZES` when these leave 10,000 out);
//! `BENCH_RUNS` repeats the main run and prints the medians (1);
//! `BENCH_IDLE_SECS` is how long the idle exporter is watched in the first run (60);
//! `BENCH_SIZES` lists the job counts of the growth table (1000,10000,50000).

// The integration tests' harness; this benchmark uses part of it.
#[allow(dead_code, unused_imports)]
#[path = "../../tests/it/support/mod.rs"]
mod support;

mod deployment;
mod proc;
mod report;
mod run;
mod scrape;

use run::{Options, Run, measure};
use std::time::Duration;

/// What the environment asks for.
struct Settings {
    main_jobs: u64,
    runs: usize,
    idle: Duration,
    sizes: Vec<u64>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let sizes: Vec<u64> = std::env::var("BENCH_SIZES")
            .unwrap_or_else(|_| "1000,10000,50000".to_owned())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("BENCH_SIZES: {s:?} is not a job count"))
            })
            .collect();
        let main_default = if sizes.contains(&10_000) {
            10_000
        } else {
            *sizes.iter().min().expect("BENCH_SIZES names a job count")
        };
        Self {
            main_jobs: env_or("BENCH_JOBS", main_default),
            runs: env_or("BENCH_RUNS", 1).max(1),
            idle: Duration::from_secs(env_or("BENCH_IDLE_SECS", 60)),
            sizes,
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == scrape::SERVE_STATIC) {
        return scrape::serve_static(&args[at + 1]).await;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` would run this too, so only run when benchmarking.
    if !args.iter().any(|a| a == "--bench") {
        println!("e2e: run with `cargo bench --bench e2e`");
        return;
    }
    let settings = Settings::from_env();
    let mut runs: Vec<Run> = Vec::new();
    for i in 0..settings.runs {
        let options = Options {
            idle: (i == 0 && !settings.idle.is_zero()).then_some(settings.idle),
            scrapes: true,
        };
        let run = measure(settings.main_jobs, &options).await;
        if i == 0 {
            report::main_table(&run);
            println!();
        } else {
            eprintln!(
                "run {}: CPU per poll {:.1} us",
                i + 1,
                run.cpu_per_poll_us()
            );
        }
        runs.push(run);
    }
    if settings.runs > 1 {
        report::runs_table(&runs);
        println!();
    }
    let mut growth: Vec<Run> = Vec::new();
    for &jobs in settings.sizes.iter().filter(|&&j| j != settings.main_jobs) {
        let options = Options {
            idle: None,
            scrapes: false,
        };
        growth.push(measure(jobs, &options).await);
    }
    // The main run stands for its size.
    let mut rows: Vec<&Run> = growth.iter().chain(runs.first()).collect();
    rows.retain(|r| settings.sizes.contains(&r.jobs));
    rows.sort_by_key(|r| r.jobs);
    println!(
        "Growth (every listing done, one gzip scrape, then the plain text; load average {})",
        proc::load_average()
    );
    println!();
    report::growth_table(&rows);
}
