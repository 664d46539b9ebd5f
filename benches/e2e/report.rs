//! The figures as markdown tables, ready for BENCHMARKS.md.

use crate::deployment::{CERT_RATE, DETAIL_RATE, RATE};
use crate::run::{Idle, Run};
use crate::scrape::{SCRAPERS, quantile};
use std::time::Duration;

/// The goal for CPU per poll (issue 17).
const CPU_GOAL_US: f64 = 40.0;
/// The goal for the median scrape latency ratio (issue 17).
const RATIO_GOAL: f64 = 1.1;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// 10000 as 10,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The median of some figures (the mean of the middle two of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Every figure of the main run.
pub fn main_table(run: &Run) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let sweep = run.sweep.last - run.sweep.first;
    let bound = run.jobs as f64 / run.accounts as f64 / RATE as f64;
    println!(
        "e2e benchmark: {} jobs x 3 products in {} account(s), limit {RATE} calls/s per account, 5 ms added latency, {cpus} CPUs; load average {} at the start, {} at the end",
        thousands(run.jobs),
        run.accounts,
        run.load[0],
        run.load[1]
    );
    println!();
    println!("| figure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| first sweep: first to last poll | {:.3} s | within 5% of {bound:.3} s (jobs / limit): {:+.1}% |",
        sweep.as_secs_f64(),
        (sweep.as_secs_f64() / bound - 1.0) * 100.0
    );
    println!(
        "| ready after start (discovery, then the sweep) | {:.3} s | |",
        run.ready_after.as_secs_f64()
    );
    println!(
        "| busiest second of polls | {} calls | at most {RATE} |",
        run.sweep.busiest
    );
    println!(
        "| polls answered other than OK | {} | 0 |",
        run.sweep.throttled
    );
    println!(
        "| CPU per poll, first to last poll of the first sweep ({} polls, listings under way) | {:.1} us | at most {CPU_GOAL_US} us |",
        thousands(run.sweep.polls as u64),
        run.cpu_per_poll_us()
    );
    println!(
        "| context switches per poll, same window (all threads) | {:.2} | |",
        run.switches_per_poll()
    );
    println!(
        "| CPU per polled job, start to ready (discovery, sweep, listings under way; the figure before issue 17) | {:.1} us | |",
        run.cpu_to_ready / run.jobs as f64 * 1e6
    );
    if let Some(idle) = &run.idle {
        idle_rows(idle);
    }
    if let Some(l) = &run.latencies {
        println!(
            "| scrape latency, median / p99 ({SCRAPERS} concurrent, {} scrapes, gzip body {:.2} MB) | {} / {} | |",
            l.ours.len(),
            l.size as f64 / 1e6,
            ms(quantile(&l.ours, 0.5)),
            ms(quantile(&l.ours, 0.99))
        );
        println!(
            "| static body, median / p99 | {} / {} | |",
            ms(quantile(&l.baseline, 0.5)),
            ms(quantile(&l.baseline, 0.99))
        );
        println!(
            "| ratio, median / p99 | {:.2} / {:.2} | median at most {RATIO_GOAL} |",
            l.ratio(0.5),
            l.ratio(0.99)
        );
    }
    println!(
        "| plain text size (a client not asking for gzip) | {:.1} MB | |",
        run.plain.size as f64 / 1e6
    );
    println!(
        "| plain text render: first scrape without gzip less the next (cached) one | {} ({} less {}) | |",
        ms(run.plain.render()),
        ms(run.plain.first),
        ms(run.plain.cached)
    );
    println!(
        "| ListWorkerResource calls (limit {DETAIL_RATE}/s) | {} for {} jobs, {} with a failed worker; {} worker series | one per failing job, none for the others |",
        run.worker_calls, run.listed_workers, run.failing, run.plain.worker_series
    );
    println!(
        "| ListDeploymentJobCert calls (limit {CERT_RATE}/s) | {} | one per job |",
        run.cert_calls
    );
    println!(
        "| exporter RSS: peak / now, gzip scrapes only, every listing done | {:.1} MB / {:.1} MB | peak under 40 MB |",
        mb(run.peak_rss_kb),
        mb(run.rss_kb)
    );
    if let Some(idle) = &run.idle {
        println!();
        let woken: Vec<String> = idle
            .woken
            .iter()
            .map(|(thread, n)| format!("{thread} {n}"))
            .collect();
        println!(
            "Idle: context switches by thread over {:.0} s: {}",
            idle.span.as_secs_f64(),
            if woken.is_empty() {
                "none".to_owned()
            } else {
                woken.join(", ")
            }
        );
    }
}

fn idle_rows(idle: &Idle) {
    println!(
        "| idle, settled, no scrapes ({:.0} s): CPU per minute, stat ticks / schedstat | {:.0} ms / {:.2} ms | |",
        idle.span.as_secs_f64(),
        idle.per_minute(idle.cpu * 1e3),
        idle.per_minute(idle.run_ns as f64 / 1e6)
    );
    println!(
        "| idle: context switches per minute; threads that switched | {:.0}; {} of {} | |",
        idle.per_minute(idle.switches as f64),
        idle.woken.len(),
        idle.threads
    );
}

/// One line per run of the main size, and the medians the goals are judged on.
pub fn runs_table(runs: &[Run]) {
    println!(
        "| run | CPU per poll | switches per poll | first sweep | scrape ratio, median / p99 | load average at start / end |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, run) in runs.iter().enumerate() {
        let ratio = run.latencies.as_ref().map_or("-".to_owned(), |l| {
            format!("{:.2} / {:.2}", l.ratio(0.5), l.ratio(0.99))
        });
        println!(
            "| {} | {:.1} us | {:.2} | {:.3} s | {ratio} | {} / {} |",
            i + 1,
            run.cpu_per_poll_us(),
            run.switches_per_poll(),
            (run.sweep.last - run.sweep.first).as_secs_f64(),
            run.load[0],
            run.load[1]
        );
    }
    let ratios: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.latencies.as_ref().map(|l| l.ratio(0.5)))
        .collect();
    println!(
        "| median of {} | {:.1} us (goal at most {CPU_GOAL_US}) | {:.2} | | {} (goal at most {RATIO_GOAL}) | |",
        runs.len(),
        median(runs.iter().map(Run::cpu_per_poll_us).collect()),
        median(runs.iter().map(Run::switches_per_poll).collect()),
        if ratios.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2}", median(ratios))
        }
    );
}

/// Memory, render time and CPU per poll by the number of jobs, smallest first.
pub fn growth_table(runs: &[&Run]) {
    println!(
        "| jobs | accounts | first sweep (jobs / limit) | peak RSS | RSS now | peak RSS per 10,000 jobs (goal under 40 MB) | beyond the first row, per 10,000 jobs | plain text | render, plain text | CPU per poll | switches per poll |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let Some(first) = runs.first() else { return };
    for run in runs {
        let beyond = if run.jobs > first.jobs {
            format!(
                "{:.1} MB",
                (mb(run.peak_rss_kb) - mb(first.peak_rss_kb)) * 10_000.0
                    / (run.jobs - first.jobs) as f64
            )
        } else {
            "-".to_owned()
        };
        println!(
            "| {} | {} | {:.2} s ({:.2} s) | {:.1} MB | {:.1} MB | {:.1} MB | {beyond} | {:.1} MB | {} | {:.1} us | {:.2} |",
            thousands(run.jobs),
            run.accounts,
            (run.sweep.last - run.sweep.first).as_secs_f64(),
            run.jobs as f64 / run.accounts as f64 / RATE as f64,
            mb(run.peak_rss_kb),
            mb(run.rss_kb),
            mb(run.peak_rss_kb) * 10_000.0 / run.jobs as f64,
            run.plain.size as f64 / 1e6,
            ms(run.plain.render()),
            run.cpu_per_poll_us(),
            run.switches_per_poll()
        );
    }
}
