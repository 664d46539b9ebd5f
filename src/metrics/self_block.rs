//! The exporter's own metrics as a scrape sends them after the job families:
//! rendered, and for gzip compressed, at most once a second per format and
//! shared by the scrapes of that second. Rendering them took about as long as
//! the rest of a scrape from the cache (issue 17).

use super::{Format, SelfMetrics};
use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long a rendered block serves scrapes; docs/metrics.md tells users so.
pub(super) const MAX_AGE: Duration = Duration::from_secs(1);

/// What a block's values are known to include, so that it serves only scrapes it is new enough for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// The snapshot generation of the job families it goes out with. A poll
    /// counts its API calls before its snapshot is published: a block rendered
    /// after the generation was read shows every call behind the job values
    /// beside it, so a scrape never shows a poll result without its calls.
    pub(super) generation: u64,
    /// [`SelfMetrics::revision`]: reload, shard and credentials state must be
    /// exact at once, since an operator looks at `/metrics` right after a reload.
    pub(super) revision: u64,
}

impl Seen {
    fn covers(self, wanted: Seen) -> bool {
        self.generation >= wanted.generation && self.revision >= wanted.revision
    }

    fn newest(self, other: Seen) -> Seen {
        Seen {
            generation: self.generation.max(other.generation),
            revision: self.revision.max(other.revision),
        }
    }
}

/// The self-metrics of one format as of one moment.
pub(super) struct SelfBlock {
    seen: Seen,
    /// Taken before the values were read: the block is never younger than it looks.
    at: Instant,
    /// The self-metrics and the format's end (`# EOF`), as a plain-text client gets them.
    text: Bytes,
    deflated: OnceLock<Deflated>,
}

impl SelfBlock {
    /// The self-metrics and the format's end, uncompressed.
    pub(super) fn text(&self) -> &Bytes {
        &self.text
    }
}

/// A block's text compressed to follow cached deflate blocks of any length.
pub(super) struct Deflated {
    /// Raw deflate blocks (RFC 1951) starting on a byte boundary and referring
    /// to nothing before them, the last one final: they may follow any deflate
    /// blocks that end with a sync flush, and a decoder reads the whole as one stream.
    pub(super) blocks: Bytes,
    /// CRC-32 and length of the text, to combine with those of the part before for the gzip trailer.
    pub(super) crc: crc32fast::Hasher,
    pub(super) len: u64,
}

/// The latest block of one format.
#[derive(Default)]
struct Slot {
    block: Mutex<Option<Arc<SelfBlock>>>,
    /// One render at a time: scrapes arriving meanwhile wait for it (no longer
    /// than a render takes, and never across an await) and share it, so an
    /// expired block is rendered once, not by every scrape at once.
    rendering: Mutex<()>,
}

/// The self-metrics blocks of both formats and the compressors that deflate them.
pub(super) struct SelfBlocks {
    max_age: Duration,
    text: Slot,
    openmetrics: Slot,
    compressors: Compressors,
}

impl SelfBlocks {
    /// Blocks that serve scrapes for `max_age` after their render began.
    pub(super) fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            text: Slot::default(),
            openmetrics: Slot::default(),
            compressors: Compressors::default(),
        }
    }

    /// A block in `format` that includes `wanted` and is at most `max_age` old at `now`,
    /// rendered from `metrics` if the latest one is not.
    pub(super) fn get(
        &self,
        metrics: &SelfMetrics,
        format: Format,
        wanted: Seen,
        now: Instant,
    ) -> Arc<SelfBlock> {
        let slot = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        let latest = || slot.block.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let usable = |block: &SelfBlock| {
            block.seen.covers(wanted) && now.saturating_duration_since(block.at) < self.max_age
        };
        if let Some(block) = latest().filter(|b| usable(b)) {
            return block;
        }
        let _one = slot.rendering.lock().unwrap_or_else(|e| e.into_inner());
        let previous = latest();
        if let Some(block) = previous.clone().filter(|b| usable(b)) {
            return block;
        }
        let mut text = Vec::with_capacity(16 << 10);
        metrics.render(format, &mut text);
        text.extend_from_slice(format.end());
        let block = Arc::new(SelfBlock {
            // Rendered after the previous block, so it includes what that one did.
            seen: previous.map_or(wanted, |p| p.seen.newest(wanted)),
            at: now,
            text: Bytes::from(text),
            deflated: OnceLock::new(),
        });
        *slot.block.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&block));
        block
    }

    /// `block`'s text compressed, by the first scrape that asks for gzip; the others wait for it and share it.
    pub(super) fn deflated<'a>(&self, block: &'a SelfBlock) -> &'a Deflated {
        block.deflated.get_or_init(|| {
            let mut crc = crc32fast::Hasher::new();
            crc.update(&block.text);
            Deflated {
                blocks: Bytes::from(self.compressors.final_blocks(&block.text)),
                crc,
                len: block.text.len() as u64,
            }
        })
    }
}

/// Compressors kept between renders, at most one per concurrent render up to this many.
const KEPT_COMPRESSORS: usize = 4;

/// Deflate compressors reused across renders: making one (zeroing its tables)
/// costs several times more than compressing a few kilobytes of self-metrics.
#[derive(Default)]
struct Compressors(Mutex<Vec<Compress>>);

impl Compressors {
    /// `data` as a raw deflate stream ending with a final block (RFC 1951), from
    /// a compressor reset to its start: nothing in it refers to data before it.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Action;
    use std::io::Read;

    const SEEN: Seen = Seen {
        generation: 3,
        revision: 0,
    };

    fn retry(metrics: &SelfMetrics) {
        metrics.retried(
            "prod",
            Action::DescribeDeploymentJobStatus,
            "Throttling.User",
        );
    }

    fn retries(block: &SelfBlock) -> Option<&str> {
        let text = std::str::from_utf8(block.text()).unwrap();
        text.lines()
            .find(|l| l.starts_with("aliyun_cas_api_retries_total{"))
            .map(|l| l.rsplit(' ').next().unwrap())
    }

    #[test]
    fn scrapes_within_max_age_share_one_render_and_a_later_one_renders_again() {
        let metrics = SelfMetrics::default();
        let blocks = SelfBlocks::new(MAX_AGE);
        let start = Instant::now();
        retry(&metrics);
        let first = blocks.get(&metrics, Format::Text, SEEN, start);
        let bytes = first.text().clone();
        retry(&metrics);
        let last_moment = start + MAX_AGE - Duration::from_nanos(1);
        let second = blocks.get(&metrics, Format::Text, SEEN, last_moment);
        assert!(Arc::ptr_eq(&first, &second), "one render");
        assert_eq!(second.text(), &bytes, "the same bytes");
        assert_eq!(retries(&second), Some("1"));
        let expired = blocks.get(&metrics, Format::Text, SEEN, start + MAX_AGE);
        assert!(!Arc::ptr_eq(&first, &expired));
        assert_eq!(retries(&expired), Some("2"));
        assert!(Arc::ptr_eq(
            &expired,
            &blocks.get(&metrics, Format::Text, SEEN, start + MAX_AGE)
        ));
    }

    #[test]
    fn a_newer_snapshot_or_revision_renders_again_and_an_older_one_shares() {
        let metrics = SelfMetrics::default();
        let blocks = SelfBlocks::new(MAX_AGE);
        let now = Instant::now();
        let first = blocks.get(&metrics, Format::Text, SEEN, now);
        let older = Seen {
            generation: 2,
            ..SEEN
        };
        assert!(Arc::ptr_eq(
            &first,
            &blocks.get(&metrics, Format::Text, older, now)
        ));
        retry(&metrics);
        let newer = Seen {
            generation: 4,
            ..SEEN
        };
        let after_poll = blocks.get(&metrics, Format::Text, newer, now);
        assert_eq!(
            (retries(&first), retries(&after_poll)),
            (None, Some("1")),
            "the calls behind a new snapshot show with it"
        );
        metrics.config_loaded(false, std::time::SystemTime::now());
        let revision = metrics.revision();
        assert!(revision > SEEN.revision);
        let reloaded = blocks.get(&metrics, Format::Text, Seen { revision, ..SEEN }, now);
        let text = std::str::from_utf8(reloaded.text()).unwrap();
        assert!(
            text.contains("\naliyun_cas_exporter_config_last_reload_successful 0\n"),
            "{text}"
        );
        assert_eq!(
            reloaded.seen,
            Seen {
                generation: 4,
                revision
            },
            "a block includes what the one before it did"
        );
        assert!(Arc::ptr_eq(
            &reloaded,
            &blocks.get(&metrics, Format::Text, newer, now)
        ));
    }

    #[test]
    fn concurrent_scrapes_share_one_render() {
        let metrics = SelfMetrics::default();
        let blocks = SelfBlocks::new(MAX_AGE);
        let now = Instant::now();
        let barrier = std::sync::Barrier::new(8);
        let got: Vec<Arc<SelfBlock>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let block = blocks.get(&metrics, Format::OpenMetrics, SEEN, now);
                        blocks.deflated(&block);
                        block
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(got.iter().all(|b| Arc::ptr_eq(b, &got[0])));
        assert!(
            got.iter()
                .all(|b| std::ptr::eq(blocks.deflated(b), blocks.deflated(&got[0])))
        );
    }

    #[test]
    fn each_format_has_its_block_with_its_end() {
        let metrics = SelfMetrics::default();
        let blocks = SelfBlocks::new(MAX_AGE);
        let now = Instant::now();
        let text = blocks.get(&metrics, Format::Text, SEEN, now);
        let openmetrics = blocks.get(&metrics, Format::OpenMetrics, SEEN, now);
        let text = std::str::from_utf8(text.text()).unwrap();
        let openmetrics = std::str::from_utf8(openmetrics.text()).unwrap();
        assert!(text.contains("\n# TYPE aliyun_cas_exporter_build_info gauge\n"));
        assert!(!text.contains("# EOF"));
        assert!(openmetrics.contains("\n# TYPE process_cpu_seconds counter\n"));
        assert!(openmetrics.ends_with("\n# EOF\n"));
        assert_eq!(openmetrics.matches("# EOF").count(), 1);
    }

    #[test]
    fn a_deflated_block_inflates_to_its_text() {
        let metrics = SelfMetrics::default();
        let blocks = SelfBlocks::new(MAX_AGE);
        let block = blocks.get(&metrics, Format::Text, SEEN, Instant::now());
        let deflated = blocks.deflated(&block);
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&deflated.blocks[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, block.text()[..]);
        assert_eq!(deflated.len, block.text().len() as u64);
        assert_eq!(deflated.crc.clone().finalize(), crc32fast::hash(&back));
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
}
