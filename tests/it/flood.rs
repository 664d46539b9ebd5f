//! Memory under connection floods, measured on the real binary: rounds of slowloris
//! connections (a request head that never ends, a byte now and then), each round closed
//! before the next, with the exporter's RSS read after every round. Ignored by default:
//! it takes minutes and measures rather than checks behaviour. Run it with
//! `cargo test --release --test it flood:: -- --ignored --nocapture`;
//! FLOOD_ROUNDS (20), FLOOD_CONNECTIONS (2000) and FLOOD_ARGS (extra flags) change it.

use crate::support;

use std::time::{Duration, Instant};
use support::Exporter;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid` in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Opens `count` connections that each send part of a request head, trickle a few more
/// bytes, then close; the exporter's RSS while they were open.
async fn round(exporter: &Exporter, count: usize) -> u64 {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(exporter.address).await.unwrap();
        let _ = stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: flood\r\nX-Slow: ")
            .await;
        streams.push(stream);
    }
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for stream in &mut streams {
            let _ = stream.write_all(b"a").await;
        }
    }
    let peak = rss_kb(exporter.pid());
    drop(streams);
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of minutes; run it by name"]
async fn rss_stays_flat_over_rounds_of_slowloris_connections() {
    let rounds = setting("FLOOD_ROUNDS", 20);
    let count = setting("FLOOD_CONNECTIONS", 2000);
    let extra = std::env::var("FLOOD_ARGS").unwrap_or_default();
    let mut args = vec!["--demo"];
    args.extend(extra.split_whitespace());
    let exporter = Exporter::start(&args, &[]);
    exporter.wait_ready().await;
    let pid = exporter.pid();
    let idle = open_descriptors(pid);
    println!("start: RSS {} kB, {idle} descriptors", rss_kb(pid));
    let mut after = Vec::new();
    let started = Instant::now();
    for n in 1..=rounds {
        let open = round(&exporter, count).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while open_descriptors(pid) > idle + 2 {
            assert!(Instant::now() < deadline, "connections never closed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed = rss_kb(pid);
        // Past the exporter's quiet time before it hands freed memory back.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_kb(pid);
        println!(
            "round {n:2}: RSS {open} kB open, {closed} kB once closed, {rss} kB 2 s later ({:+} kB since round 1), {:.0} s",
            rss as i64 - after.first().copied().unwrap_or(rss) as i64,
            started.elapsed().as_secs_f64()
        );
        after.push(rss);
    }
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    let (first, last) = (after[0], after[after.len() - 1]);
    println!("RSS after round 1: {first} kB, after round {rounds}: {last} kB");
    assert!(
        last <= first + 15 * 1024,
        "RSS grew by {} kB: {after:?}",
        last - first
    );
}
