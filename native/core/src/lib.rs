//! Sentio native core: parsers (InfluxDB line protocol, msgpack batches),
//! mapping to samples exactly as VictoriaMetrics 1.79.5 maps line protocol,
//! series hashing, consistent sharding, and encoders (Prometheus remote write,
//! columns for the embedded store), the live tap ([`latest`]: the latest
//! sample per series of a batch), and the durable queue's record framing
//! and segment scanning ([`queue`]). Plain Rust, no JS types.

pub mod batch;
pub mod latest;
pub mod lp;
pub mod msgpack;
pub mod number;
pub mod queue;
pub mod remote_write;
pub mod series;
pub mod shard;
pub mod types;

pub use batch::{ColumnsOutput, Output, OutputData, RemoteWriteOutput};
pub use latest::{KnownSeries, LatestOutput};
pub use remote_write::{decode_remote_write, DecodedSeries};
pub use series::series_hash;
pub use shard::{jump_hash, Sharding};
pub use types::{LimitKind, LineError, ParseLimits, Precision, TimeUnit};

use batch::BatchBuilder;
use lp::LpParser;
use msgpack::MsgpackDecoder;

/// Input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    LineProtocol,
    Msgpack,
}

/// Options of one [`Ingestor::ingest`] call.
#[derive(Clone, Debug)]
pub struct IngestOptions<'a> {
    pub format: Format,
    /// Line protocol: `None` guesses the unit per timestamp like VictoriaMetrics
    /// does without `?precision=`. msgpack: overrides the batch's `precision`
    /// (which defaults to ms).
    pub precision: Option<Precision>,
    /// `db` label for points without a `db` tag.
    pub db: Option<&'a str>,
    /// Labels added to every point that has no tag of that name (a device's
    /// labels and name): the point's own tags win, then `db`, then these, in
    /// the order given for a name listed twice. `__name__` and empty names or
    /// values are ignored.
    pub labels: &'a [(&'a str, &'a str)],
    /// Timestamp given to points without one.
    pub now_ms: i64,
    pub output: Output,
    /// Cap on returned errors (all are counted).
    pub max_errors: usize,
    /// Line protocol: lines longer than this many bytes (without the line
    /// ending) are rejected, `line exceeds N bytes`; `None`: unlimited.
    pub max_line_bytes: Option<usize>,
    /// Points with more tags than this are rejected, `point has more than N
    /// tags`; `None`: unlimited. See [`ParseLimits`] for what counts.
    pub max_tags: Option<usize>,
    /// With remote-write or columns output: return the batch's distinct
    /// series hashes in [`IngestResult::series_hashes`].
    pub series_hashes: bool,
}

/// Result of one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestResult {
    pub lines: u32,
    pub rejected: u32,
    pub samples: u64,
    pub skipped_strings: u64,
    pub errors: Vec<LineError>,
    pub seq: Option<u64>,
    pub data: OutputData,
    /// With `series_hashes` and remote-write or columns output: the hash
    /// ([`series_hash`], the embedded store's series id bits) of each distinct
    /// series of the batch, in first-seen order. Else `None`.
    pub series_hashes: Option<Vec<u64>>,
    /// Points rejected for `max_line_bytes` (counted in `rejected` too).
    pub rejected_line_bytes: u32,
    /// Points rejected for `max_tags` (counted in `rejected` too).
    pub rejected_tags: u32,
}

/// Parse-only statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub lines: u32,
    pub rejected: u32,
    pub fields: u64,
    pub bytes: u64,
}

/// A reusable ingest pipeline (keeps its buffers between batches; one per thread).
#[derive(Default)]
pub struct Ingestor {
    lp: LpParser,
    mp: MsgpackDecoder,
    batch: BatchBuilder,
}

struct Errors<'e> {
    list: &'e mut Vec<LineError>,
    max: usize,
    rejected: u32,
    line_bytes: u32,
    tags: u32,
}

impl Errors<'_> {
    fn push(&mut self, line: u32, reason: String) {
        self.rejected += 1;
        match ParseLimits::kind_of(&reason) {
            Some(LimitKind::LineBytes) => self.line_bytes += 1,
            Some(LimitKind::Tags) => self.tags += 1,
            None => {}
        }
        if self.list.len() < self.max {
            self.list.push(LineError { line, reason });
        }
    }
}

impl Ingestor {
    pub fn new() -> Ingestor {
        Ingestor::default()
    }

    /// Parses, maps and encodes one batch.
    pub fn ingest(&mut self, input: &[u8], o: &IngestOptions<'_>) -> IngestResult {
        let mut errors = Vec::new();
        let mut err = Errors { list: &mut errors, max: o.max_errors, rejected: 0, line_bytes: 0, tags: 0 };
        let limits = ParseLimits { max_line_bytes: o.max_line_bytes, max_tags: o.max_tags };
        self.lp.set_limits(limits);
        self.mp.set_limits(limits);
        let batch = &mut self.batch;
        batch.begin(o.output);
        let (lines, seq) = match o.format {
            Format::LineProtocol => {
                let defaults = default_labels(o.db, o.labels);
                let unit = o.precision.map_or(TimeUnit::Auto, TimeUnit::Fixed);
                let s = self.lp.parse(input, unit, o.now_ms, |p| batch.add_point(p, &defaults), |l, r| err.push(l, r));
                (s.lines, None)
            }
            Format::Msgpack => match msgpack::read_envelope(input) {
                Err(reason) => {
                    err.list.push(LineError { line: 0, reason: format!("malformed msgpack batch: {reason}") });
                    (0, None)
                }
                Ok(env) => {
                    let precision = o.precision.or(env.precision).unwrap_or(Precision::Ms);
                    // An explicit `db` option wins over the batch's own.
                    let defaults = default_labels(o.db.or(env.db), o.labels);
                    self.mp.decode(input, &env, precision, o.now_ms, |p| batch.add_point(p, &defaults), |l, r| err.push(l, r));
                    (env.points, env.seq)
                }
            },
        };
        let (rejected, rejected_line_bytes, rejected_tags) = (err.rejected, err.line_bytes, err.tags);
        let series_hashes = (o.series_hashes && o.output != Output::None).then(|| batch.series_hashes());
        let data = batch.finish();
        IngestResult {
            lines,
            rejected,
            samples: batch.samples(),
            skipped_strings: batch.skipped_strings(),
            errors,
            seq,
            data,
            series_hashes,
            rejected_line_bytes,
            rejected_tags,
        }
    }
}

/// The labels a batch adds to points that lack them, sorted by name and
/// unique: `db` first (so it wins over a label of that name), then `labels`
/// in their order; `__name__` and empty names or values left out.
fn default_labels<'a>(db: Option<&'a str>, labels: &'a [(&'a str, &'a str)]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut out: Vec<(&[u8], &[u8])> = Vec::with_capacity(labels.len() + 1);
    out.extend(db.map(|d| ("db", d)).into_iter().chain(labels.iter().copied()).filter(|(k, v)| !k.is_empty() && !v.is_empty() && *k != "__name__").map(|(k, v)| (k.as_bytes(), v.as_bytes())));
    // Stable: for a name given twice the first stays, and dedup keeps it.
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.dedup_by(|later, first| later.0 == first.0);
    out
}

/// Parses line protocol without mapping or encoding (for benchmarks).
pub fn parse_line_protocol(input: &[u8], precision: Option<Precision>) -> ParseStats {
    thread_local! {
        static PARSER: std::cell::RefCell<LpParser> = std::cell::RefCell::new(LpParser::new());
    }
    PARSER.with(|p| {
        let mut p = p.borrow_mut();
        let mut fields = 0u64;
        let unit = precision.map_or(TimeUnit::Auto, TimeUnit::Fixed);
        let s = p.parse(input, unit, 0, |pt| fields += pt.fields.len() as u64, |_, _| {});
        ParseStats { lines: s.lines, rejected: s.rejected, fields, bytes: input.len() as u64 }
    })
}
