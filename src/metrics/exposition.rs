//! The `/metrics` body: job families rendered and compressed once per snapshot
//! change and format asked for, followed by the self-metrics, which change
//! between snapshots and are rendered at most once a second
//! (`self_block.rs`), so that a scrape mostly copies bytes.

use super::render::expiry;
use super::self_block::{MAX_AGE, Seen, SelfBlock, SelfBlocks};
use super::{Format, SelfMetrics, render_jobs};
use crate::body::Chunks;
use crate::snapshot::{AccountSnapshot, SnapshotStore};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The job families of one snapshot, each format and coding rendered on its first demand.
struct Rendered {
    generation: u64,
    /// When a failing job's values go stale and the text changes without a new snapshot.
    expires: Option<Instant>,
    /// The snapshot and the instant it is rendered as of, so that every body of the entry holds the same values.
    accounts: BTreeMap<Arc<str>, Arc<AccountSnapshot>>,
    at: Instant,
    text: Bodies,
    openmetrics: Bodies,
}

/// One format's job families, as sent.
#[derive(Default)]
struct Bodies {
    gzip: OnceLock<Gzipped>,
    /// Only kept once a client asks for it: Prometheus always asks for gzip,
    /// and the plain text is about ten times larger.
    plain: OnceLock<Bytes>,
}

/// The text compressed, ready to be continued by the self-metrics.
struct Gzipped {
    /// A gzip header and the text as deflate blocks, sync-flushed so that more blocks can follow.
    head: Bytes,
    /// CRC-32 and length of the text, for the gzip trailer.
    crc: crc32fast::Hasher,
    len: u64,
}

impl Rendered {
    fn current(&self, generation: u64, now: Instant) -> bool {
        self.generation == generation && self.expires.is_none_or(|at| now <= at)
    }

    fn bodies(&self, format: Format) -> &Bodies {
        match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        }
    }

    /// Whether the body asked for is rendered already.
    fn ready(&self, format: Format, gzip: bool) -> bool {
        let bodies = self.bodies(format);
        if gzip {
            bodies.gzip.get().is_some()
        } else {
            bodies.plain.get().is_some()
        }
    }

    /// The compressed job families in `format`, rendered if no scrape asked for them before.
    fn gzipped(&self, format: Format) -> &Gzipped {
        self.bodies(format).gzip.get_or_init(|| {
            let mut sink = Summed {
                inner: DeflateEncoder::new(GZIP_HEADER.to_vec(), Compression::fast()),
                crc: crc32fast::Hasher::new(),
                len: 0,
            };
            render_jobs(&self.accounts, self.at, format, &mut sink)
                .expect("writing to memory cannot fail");
            sink.inner.flush().expect("writing to memory cannot fail");
            // Taken before the encoder is dropped: its final block must not end the stream.
            let deflate = std::mem::take(sink.inner.get_mut());
            Gzipped {
                head: Bytes::from(deflate),
                crc: sink.crc,
                len: sink.len,
            }
        })
    }

    /// The plain job families in `format`, rendered if no scrape asked for them before.
    fn plain(&self, format: Format) -> &Bytes {
        let bodies = self.bodies(format);
        bodies.plain.get_or_init(|| {
            let size = bodies.gzip.get().map_or(0, |gzipped| gzipped.len);
            let mut text = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            render_jobs(&self.accounts, self.at, format, &mut text)
                .expect("writing to memory cannot fail");
            Bytes::from(text)
        })
    }
}

/// The cached job families and self-metrics, and what renders them.
pub struct Exposition {
    cache: Mutex<Option<Arc<Rendered>>>,
    /// One new entry at a time: scrapes arriving meanwhile wait for it and share it.
    rendering: Mutex<()>,
    self_blocks: SelfBlocks,
}

impl Default for Exposition {
    /// Self-metrics at most a second old, as docs/metrics.md says.
    fn default() -> Self {
        Self::with_max_age(MAX_AGE)
    }
}

impl Exposition {
    /// Serves self-metrics up to `max_age` old (tests and benchmarks: `Duration::ZERO`
    /// renders them at every scrape, `Duration::MAX` once per snapshot).
    pub fn with_max_age(max_age: Duration) -> Self {
        Self {
            cache: Mutex::default(),
            rendering: Mutex::default(),
            self_blocks: SelfBlocks::new(max_age),
        }
    }

    /// The whole body, from the cache when the snapshot has not changed and this format
    /// and coding were asked for before; `None` when the job families must be rendered
    /// first, which [`Exposition::render`] does (slowly: call it off the async workers).
    pub fn cached(
        &self,
        store: &SnapshotStore,
        self_metrics: &SelfMetrics,
        format: Format,
        gzip: bool,
    ) -> Option<Chunks> {
        let rendered = self.current(store)?;
        if !rendered.ready(format, gzip) {
            return None;
        }
        Some(self.assemble(&rendered, self_metrics, format, gzip))
    }

    /// The whole body, rendering the job families if the snapshot changed or this
    /// format and coding were not asked for since.
    pub fn render(
        &self,
        store: &SnapshotStore,
        self_metrics: &SelfMetrics,
        format: Format,
        gzip: bool,
    ) -> Chunks {
        let rendered = match self.current(store) {
            Some(rendered) => rendered,
            None => {
                let _one = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
                match self.current(store) {
                    Some(rendered) => rendered,
                    None => {
                        let rendered = Arc::new(entry(store));
                        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(Arc::clone(&rendered));
                        rendered
                    }
                }
            }
        };
        self.assemble(&rendered, self_metrics, format, gzip)
    }

    /// The cached job families followed by self-metrics new enough for them.
    fn assemble(
        &self,
        rendered: &Rendered,
        self_metrics: &SelfMetrics,
        format: Format,
        gzip: bool,
    ) -> Chunks {
        // The job families first: the first scrape after a change renders them, which
        // at tens of thousands of jobs takes a good part of a second, and a block read
        // before that would go out older than the second docs/metrics.md allows.
        if gzip {
            rendered.gzipped(format);
        } else {
            rendered.plain(format);
        }
        let wanted = Seen {
            generation: rendered.generation,
            revision: self_metrics.revision(),
        };
        let block = self
            .self_blocks
            .get(self_metrics, format, wanted, Instant::now());
        assemble(rendered, &block, &self.self_blocks, format, gzip)
    }

    fn current(&self, store: &SnapshotStore) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .as_ref()
            .filter(|r| r.current(store.generation(), Instant::now()))
            .cloned()
    }
}

/// A cache entry for the current snapshot, nothing rendered yet.
fn entry(store: &SnapshotStore) -> Rendered {
    // Exactly the snapshots' generation: one read before them could be older than
    // what they show, and the self-metrics chosen for it older than the job values.
    let (generation, accounts) = store.load_with_generation();
    let at = Instant::now();
    Rendered {
        generation,
        expires: expiry(&accounts, at),
        accounts,
        at,
        text: Bodies::default(),
        openmetrics: Bodies::default(),
    }
}

/// Passes text on to `inner`, keeping its CRC-32 and length.
struct Summed<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.crc.update(&buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A gzip member header: deflate, no name, no time, unknown OS (RFC 1952).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The cached job families followed by the self-metrics block (with
/// OpenMetrics' `# EOF`), in chunks so that no cached part is copied. For gzip,
/// one member: the cached deflate blocks, the block's own final deflate blocks,
/// then a trailer whose CRC combines both, so that every gzip reader takes it.
fn assemble(
    rendered: &Rendered,
    block: &SelfBlock,
    self_blocks: &SelfBlocks,
    format: Format,
    gzip: bool,
) -> Chunks {
    if gzip {
        let head = rendered.gzipped(format);
        let tail = self_blocks.deflated(block);
        let mut crc = head.crc.clone();
        crc.combine(&tail.crc);
        // ISIZE is the length modulo 2^32 (RFC 1952).
        let len = (head.len + tail.len) as u32;
        let mut trailer = [0; 8];
        trailer[..4].copy_from_slice(&crc.finalize().to_le_bytes());
        trailer[4..].copy_from_slice(&len.to_le_bytes());
        return Chunks::new([
            head.head.clone(),
            tail.blocks.clone(),
            Bytes::copy_from_slice(&trailer),
        ]);
    }
    Chunks::new([rendered.plain(format).clone(), block.text().clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::DeploymentJobStatus;
    use crate::snapshot::JobSnapshot;
    use std::io::Read;
    use std::time::Duration;

    fn publish(store: &SnapshotStore, jobs: &[(u64, JobSnapshot)]) {
        let snapshot = AccountSnapshot {
            jobs: jobs
                .iter()
                .map(|(id, job)| (*id, Arc::new(job.clone())))
                .collect(),
            ..Default::default()
        };
        store.publish(&Arc::from("prod"), snapshot);
    }

    fn up(workers: i64) -> JobSnapshot {
        JobSnapshot {
            up: true,
            values: Some(Arc::new(DeploymentJobStatus {
                worker_count: Some(workers),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// The body's bytes, however many chunks it has.
    fn bytes(body: Chunks) -> Vec<u8> {
        let collected = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(http_body_util::BodyExt::collect(body))
            .unwrap();
        collected.to_bytes().to_vec()
    }

    /// The whole body as a client not asking for gzip gets it, in the classic text format.
    fn plain_text(exposition: &Exposition, store: &SnapshotStore, metrics: &SelfMetrics) -> String {
        String::from_utf8(bytes(exposition.render(
            store,
            metrics,
            Format::Text,
            false,
        )))
        .unwrap()
    }

    fn gunzip(body: Chunks) -> String {
        let body = bytes(body);
        // A single-member reader: the body must be one gzip member, CRC and length included.
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn gzip_and_plain_bodies_hold_the_same_text() {
        let store = SnapshotStore::default();
        let jobs: Vec<(u64, JobSnapshot)> = (1..=2000).map(|id| (id, up(id as i64))).collect();
        publish(&store, &jobs);
        let metrics = SelfMetrics::default();
        // Self-metrics that never expire: both bodies carry the same block, whatever the machine's pace.
        let exposition = Exposition::with_max_age(Duration::MAX);
        let zipped = bytes(exposition.render(&store, &metrics, Format::Text, true));
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, false)
                .is_none(),
            "the plain text is rendered on first demand, off the async workers"
        );
        let plain = exposition.render(&store, &metrics, Format::Text, false);
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, false)
                .is_some()
        );
        let plain = String::from_utf8(bytes(plain)).unwrap();
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain);
        assert!(plain.contains(
            "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"2000\"} 2000\n"
        ));
        assert!(
            zipped.len() * 5 < plain.len(),
            "{} vs {}",
            zipped.len(),
            plain.len()
        );
    }

    #[test]
    fn each_format_is_rendered_once_on_first_demand_from_the_same_entry() {
        let store = SnapshotStore::default();
        publish(&store, &[(8888, up(20))]);
        let metrics = SelfMetrics::default();
        let exposition = Exposition::with_max_age(Duration::MAX);
        let text = gunzip(exposition.render(&store, &metrics, Format::Text, true));
        let entry = exposition.current(&store).unwrap();
        assert!(
            exposition
                .cached(&store, &metrics, Format::OpenMetrics, true)
                .is_none(),
            "OpenMetrics is rendered on first demand, off the async workers"
        );
        let openmetrics = gunzip(exposition.render(&store, &metrics, Format::OpenMetrics, true));
        let plain = exposition.render(&store, &metrics, Format::OpenMetrics, false);
        let plain = String::from_utf8(bytes(plain)).unwrap();
        assert!(
            Arc::ptr_eq(&entry, &exposition.current(&store).unwrap()),
            "one entry for both formats"
        );
        for format in [Format::Text, Format::OpenMetrics] {
            assert!(exposition.cached(&store, &metrics, format, true).is_some());
        }
        let workers = "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"8888\"} 20\n";
        assert!(text.contains(workers) && openmetrics.contains(workers));
        assert!(!text.contains("# EOF"));
        assert!(openmetrics.ends_with("\n# EOF\n") && plain.ends_with("\n# EOF\n"));
        assert_eq!(openmetrics, plain);
        assert_eq!(openmetrics.matches("# EOF").count(), 1);
        assert_eq!(text, plain_text(&exposition, &store, &metrics));
    }

    #[test]
    fn large_self_metrics_are_compressed_and_both_bodies_hold_the_same_text() {
        let store = SnapshotStore::default();
        publish(&store, &[(8888, up(20))]);
        let metrics = SelfMetrics::default();
        for account in 0..2000 {
            metrics.retried(
                &format!("account-{account}"),
                crate::api::Action::DescribeDeploymentJobStatus,
                "Throttling.User",
            );
        }
        let mut tail = Vec::new();
        metrics.render(Format::Text, &mut tail);
        assert!(tail.len() > 200_000, "{}", tail.len());
        let exposition = Exposition::with_max_age(Duration::MAX);
        let zipped = bytes(exposition.render(&store, &metrics, Format::Text, true));
        assert!(
            zipped.len() * 10 < tail.len(),
            "the self-metrics part is compressed: {} bytes of gzip for {} of self-metrics",
            zipped.len(),
            tail.len()
        );
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        let plain = plain_text(&exposition, &store, &metrics);
        assert_eq!(unzipped, plain);
        assert!(unzipped.contains(
            "aliyun_cas_api_retries_total{account=\"account-1999\",action=\"DescribeDeploymentJobStatus\",code=\"Throttling.User\"} 1\n"
        ));
        assert!(
            unzipped.contains(
                "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"8888\"} 20\n"
            )
        );
    }

    #[test]
    fn job_families_are_rendered_once_per_change_and_self_metrics_once_expired() {
        let store = SnapshotStore::default();
        publish(&store, &[(8888, up(20))]);
        let metrics = SelfMetrics::default();
        // Self-metrics expired at once: each scrape renders them.
        let exposition = Exposition::with_max_age(Duration::ZERO);
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, true)
                .is_none(),
            "nothing rendered yet"
        );
        let first = gunzip(exposition.render(&store, &metrics, Format::Text, true));
        let rendered = exposition.current(&store).unwrap();
        metrics.retried(
            "prod",
            crate::api::Action::DescribeDeploymentJobStatus,
            "Throttling.User",
        );
        let second = gunzip(
            exposition
                .cached(&store, &metrics, Format::Text, true)
                .unwrap(),
        );
        assert!(
            Arc::ptr_eq(&rendered, &exposition.current(&store).unwrap()),
            "reused"
        );
        let retries = "aliyun_cas_api_retries_total{account=\"prod\",action=\"DescribeDeploymentJobStatus\",code=\"Throttling.User\"} 1\n";
        assert!(
            !first.contains(retries) && second.contains(retries),
            "{second}"
        );
        publish(&store, &[(8888, up(21))]);
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, true)
                .is_none(),
            "a new snapshot is rendered anew"
        );
        let third = gunzip(exposition.render(&store, &metrics, Format::Text, true));
        assert!(
            third.contains(
                "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"8888\"} 21\n"
            )
        );
    }

    #[test]
    fn scrapes_within_max_age_send_the_same_bytes() {
        let store = SnapshotStore::default();
        publish(&store, &[(8888, up(20))]);
        let metrics = SelfMetrics::default();
        let exposition = Exposition::with_max_age(Duration::MAX);
        for format in [Format::Text, Format::OpenMetrics] {
            for gzip in [true, false] {
                let first = bytes(exposition.render(&store, &metrics, format, gzip));
                metrics.retried(
                    "prod",
                    crate::api::Action::DescribeDeploymentJobStatus,
                    "Throttling.User",
                );
                let second = bytes(exposition.cached(&store, &metrics, format, gzip).unwrap());
                assert_eq!(first, second, "{format:?}, gzip {gzip}");
            }
        }
        let plain = plain_text(&exposition, &store, &metrics);
        assert!(!plain.contains("aliyun_cas_api_retries_total{"), "{plain}");
        metrics.config_loaded(false, std::time::SystemTime::now());
        let reloaded = plain_text(&exposition, &store, &metrics);
        assert!(
            reloaded.contains("\naliyun_cas_exporter_config_last_reload_successful 0\n"),
            "a refused reload shows at once: {reloaded}"
        );
        assert!(reloaded.contains(
            "aliyun_cas_api_retries_total{account=\"prod\",action=\"DescribeDeploymentJobStatus\",code=\"Throttling.User\"} 4\n"
        ));
        // A poll counts its calls, then publishes its snapshot.
        metrics.retried(
            "prod",
            crate::api::Action::DescribeDeploymentJobStatus,
            "Throttling.User",
        );
        publish(&store, &[(8888, up(21))]);
        let after_poll = gunzip(exposition.render(&store, &metrics, Format::Text, true));
        assert!(
            after_poll.contains(
                "aliyun_cas_api_retries_total{account=\"prod\",action=\"DescribeDeploymentJobStatus\",code=\"Throttling.User\"} 5\n"
            ),
            "a new snapshot comes with self-metrics at least as new: {after_poll}"
        );
    }

    #[test]
    fn values_going_stale_expire_the_cache_without_a_new_snapshot() {
        let store = SnapshotStore::default();
        let failing = JobSnapshot {
            up: false,
            stale_at: Some(Instant::now() + Duration::from_millis(200)),
            ..up(20)
        };
        publish(&store, &[(8888, failing)]);
        let metrics = SelfMetrics::default();
        let exposition = Exposition::default();
        let workers = "aliyun_cas_deployment_job_workers{account=\"prod\",job_id=\"8888\"} 20\n";
        assert!(gunzip(exposition.render(&store, &metrics, Format::Text, true)).contains(workers));
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, true)
                .is_some()
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            exposition
                .cached(&store, &metrics, Format::Text, true)
                .is_none(),
            "expired with the values"
        );
        let after = gunzip(exposition.render(&store, &metrics, Format::Text, true));
        assert!(!after.contains(workers), "{after}");
        assert!(
            after.contains("aliyun_cas_deployment_job_up{account=\"prod\",job_id=\"8888\"} 0\n")
        );
    }
}
