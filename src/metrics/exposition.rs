//! The `/metrics` body: job families rendered and compressed once per snapshot
//! change and format asked for, self-metrics (which change between snapshots)
//! rendered per scrape and appended, so that a scrape mostly copies bytes and
//! always shows current values.

use super::render::expiry;
use super::{Format, SelfMetrics, render_jobs};
use crate::body::Chunks;
use crate::snapshot::{AccountSnapshot, SnapshotStore};
use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
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

/// The text compressed, ready to be continued by each scrape's self-metrics.
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

/// The cached job families and what renders them.
#[derive(Default)]
pub struct Exposition {
    cache: Mutex<Option<Arc<Rendered>>>,
    /// One new entry at a time: scrapes arriving meanwhile wait for it and share it.
    rendering: Mutex<()>,
    /// Compresses the self-metrics of each scrape.
    compressors: Compressors,
}

impl Exposition {
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
        Some(assemble(
            &rendered,
            self_metrics,
            format,
            gzip,
            &self.compressors,
        ))
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
        assemble(&rendered, self_metrics, format, gzip, &self.compressors)
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
    // Read before the snapshot: a change in between makes the entry look older, never newer.
    let generation = store.generation();
    let accounts = store.load();
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

/// Compressors kept between scrapes, at most one per concurrent scrape up to this many.
const KEPT_COMPRESSORS: usize = 4;

/// Deflate compressors reused across scrapes: making one (zeroing its tables)
/// costs several times more than compressing a few kilobytes of self-metrics.
#[derive(Default)]
struct Compressors(Mutex<Vec<Compress>>);

impl Compressors {
    /// `data` as a raw deflate stream ending with a final block (RFC 1951). It
    /// continues the cached blocks, which end on a byte boundary with a sync
    /// flush, and refers to nothing before it: a decoder reads the whole as one
    /// stream. The self-metrics are rendered per scrape, so compressed per scrape.
    fn final_blocks(&self, data: &[u8]) -> Vec<u8> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut compress = kept.unwrap_or_else(|| Compress::new(Compression::fast(), false));
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let read = usize::try_from(compress.total_in()).expect("at most data.len()");
            let status = compress
                .compress_vec(&data[read..], &mut out, FlushCompress::Finish)
                .expect("compressing into memory cannot fail");
            if status == Status::StreamEnd {
                break;
            }
            // Only a full output stops it short of the end: make room and go on.
            out.reserve(out.capacity().max(1024));
        }
        compress.reset();
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < KEPT_COMPRESSORS {
            kept.push(compress);
        }
        out
    }
}

/// A gzip member header: deflate, no name, no time, unknown OS (RFC 1952).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The cached job families followed by the self-metrics as they are now (and
/// OpenMetrics' `# EOF`), as two chunks so that the cached part is never copied.
/// For gzip, one member: the cached deflate blocks, the self-metrics compressed as
/// the final blocks, then a trailer whose CRC combines both, so that every gzip reader takes it.
fn assemble(
    rendered: &Rendered,
    self_metrics: &SelfMetrics,
    format: Format,
    gzip: bool,
    compressors: &Compressors,
) -> Chunks {
    let mut tail = Vec::with_capacity(16 << 10);
    self_metrics.render(format, &mut tail);
    tail.extend_from_slice(format.end());
    if gzip {
        let head = rendered.gzipped(format);
        let mut crc = head.crc.clone();
        let mut tail_crc = crc32fast::Hasher::new();
        tail_crc.update(&tail);
        crc.combine(&tail_crc);
        // ISIZE is the length modulo 2^32 (RFC 1952).
        let len = (head.len + tail.len() as u64) as u32;
        let mut end = compressors.final_blocks(&tail);
        end.extend_from_slice(&crc.finalize().to_le_bytes());
        end.extend_from_slice(&len.to_le_bytes());
        return Chunks::new([head.head.clone(), Bytes::from(end)]);
    }
    Chunks::new([rendered.plain(format).clone(), Bytes::from(tail)])
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
        let exposition = Exposition::default();
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
        // The process metrics move between the two calls: compare up to them.
        let cut = |text: &str| text[..text.find("# HELP process_").unwrap()].to_owned();
        assert_eq!(cut(&unzipped), cut(&plain));
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
        let exposition = Exposition::default();
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
        let cut = |text: &str| text[..text.find("# HELP process_").unwrap()].to_owned();
        assert_eq!(cut(&openmetrics), cut(&plain));
        assert_eq!(openmetrics.matches("# EOF").count(), 1);
    }

    #[test]
    fn final_blocks_hold_any_data_with_reused_compressors() {
        let compressors = Compressors::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for len in [0, 1, 65_535, 65_536, 200_000, 3, 1_000_000] {
            // Half repetitive, half random: both the compressed and the stored paths.
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    if i % 2 == 0 {
                        (i % 251) as u8
                    } else {
                        rng.u8(..)
                    }
                })
                .collect();
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(&compressors.final_blocks(&data)[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{len} bytes");
        }
        assert_eq!(compressors.0.lock().unwrap().len(), 1, "one kept, reused");
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
        let exposition = Exposition::default();
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
        let plain = String::from_utf8(bytes(exposition.render(
            &store,
            &metrics,
            Format::Text,
            false,
        )))
        .unwrap();
        let cut = |text: &str| text[..text.find("# HELP process_").unwrap()].to_owned();
        assert_eq!(cut(&unzipped), cut(&plain));
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
    fn job_families_are_rendered_once_per_change_and_self_metrics_every_time() {
        let store = SnapshotStore::default();
        publish(&store, &[(8888, up(20))]);
        let metrics = SelfMetrics::default();
        let exposition = Exposition::default();
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
