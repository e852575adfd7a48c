//! Sentio native core: parsers (InfluxDB line protocol, msgpack batches),
//! mapping to samples exactly as VictoriaMetrics 1.79.5 maps line protocol,
//! series hashing, consistent sharding, and encoders (Prometheus remote write,
//! columns for the embedded store), the live tap ([`latest`]: the latest
//! sample per series of a batch), and the durable queue's record framing
//! and segment scanning ([`queue`]). Plain Rust, no JS types.

pub mod batch;
pub mod features;
pub mod latest;
pub mod lp;
pub mod msgpack;
pub mod number;
pub mod queue;
pub mod remote_write;
pub mod route;
pub mod series;
pub mod shard;
pub mod types;

pub use batch::{ColumnsOutput, Output, OutputData, RemoteWriteOutput, Target};
pub use latest::{KnownSeries, LatestOutput};
pub use remote_write::{decode_remote_write, merge_remote_write, DecodedSeries};
pub use route::{LabelMatcher, MatchOp, SeriesFilter};
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
    /// What to produce, one entry per destination (a sink), each from the
    /// same mapping of the batch. No entry, or only [`Output::None`]: counts
    /// only, nothing is mapped.
    pub outputs: Vec<Target>,
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
    /// One per [`IngestOptions::outputs`] entry, in that order.
    pub data: Vec<OutputData>,
    /// Samples of series that no output's filter passes (routed nowhere).
    pub unrouted_samples: u64,
    /// With `series_hashes` and remote-write or columns output: the hash
    /// ([`series_hash`], the embedded store's series id bits) of each distinct
    /// series of the batch, in first-seen order. Else `None`.
    pub series_hashes: Option<Vec<u64>>,
    /// Points rejected for `max_line_bytes` (counted in `rejected` too).
    pub rejected_line_bytes: u32,
    /// Points rejected for `max_tags` (counted in `rejected` too).
    pub rejected_tags: u32,
}

/// Readings already typed (a connector's): series by their labels, and
/// samples naming their series by index. No text is parsed.
#[derive(Clone, Copy, Debug)]
pub struct Readings<'a> {
    /// Each series' labels, `__name__` among them (required, non-empty).
    pub series: &'a [&'a [(&'a str, &'a str)]],
    /// Per sample: the index of its series in `series`.
    pub sample_series: &'a [u32],
    /// Per sample: Unix ms.
    pub timestamps: &'a [i64],
    /// Per sample.
    pub values: &'a [f64],
}

/// A series mapped before its batch (a [`MappedSeries`] kept).
#[derive(Clone, Copy, Debug)]
pub struct PreparedSeries<'a> {
    pub canonical: &'a [u8],
    pub hash: u64,
    /// Its labels encoded for remote write ([`remote_write::encode_labels`] of `canonical`).
    pub remote_write_labels: &'a [u8],
}

/// A series mapped once and kept by its caller ([`SeriesMapper::prepare`]),
/// written batch after batch as [`PreparedSeries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedSeries {
    canonical: Box<[u8]>,
    hash: u64,
    remote_write_labels: Box<[u8]>,
}

impl MappedSeries {
    pub fn prepared(&self) -> PreparedSeries<'_> {
        PreparedSeries { canonical: &self.canonical, hash: self.hash, remote_write_labels: &self.remote_write_labels }
    }
}

/// [`Readings`] whose series are mapped already: each one's canonical
/// labels and hash, or why its samples are refused.
#[derive(Clone, Copy, Debug)]
pub struct PreparedReadings<'a> {
    pub series: &'a [Result<PreparedSeries<'a>, &'a str>],
    pub sample_series: &'a [u32],
    pub timestamps: &'a [i64],
    pub values: &'a [f64],
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
    /// Scratch of [`Ingestor::ingest_many`]'s per-input series.
    seen: Vec<u32>,
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

/// One input of [`Ingestor::ingest_many`]: bytes in a wire format with the
/// options that are its own (a device's labels, its connection's `db`).
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    pub input: &'a [u8],
    pub format: Format,
    /// As [`IngestOptions::precision`].
    pub precision: Option<Precision>,
    /// As [`IngestOptions::db`].
    pub db: Option<&'a str>,
    /// As [`IngestOptions::labels`].
    pub labels: &'a [(&'a str, &'a str)],
}

/// What one input of [`Ingestor::ingest_many`] held: its counts, errors and seq.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartResult {
    pub lines: u32,
    pub rejected: u32,
    pub samples: u64,
    pub skipped_strings: u64,
    /// Up to `max_errors` of this input's own (lines numbered within it).
    pub errors: Vec<LineError>,
    pub seq: Option<u64>,
    pub rejected_line_bytes: u32,
    pub rejected_tags: u32,
    /// With `series_hashes`: how many of [`ManyResult::series_hashes`] are this input's.
    pub series: u32,
}

/// Result of [`Ingestor::ingest_many`]: each input's counts, and one encoding
/// per output of all of them together.
#[derive(Clone, Debug, PartialEq)]
pub struct ManyResult {
    pub parts: Vec<PartResult>,
    /// One per [`IngestOptions::outputs`] entry, in that order.
    pub data: Vec<OutputData>,
    pub unrouted_samples: u64,
    /// With `series_hashes` and an output that maps: each input's distinct
    /// series ([`series_hash`]), input after input, each input's in
    /// first-seen order ([`PartResult::series`] says how many are whose; a
    /// series two inputs share is in both). Else `None`.
    pub series_hashes: Option<Vec<u64>>,
}

impl Ingestor {
    pub fn new() -> Ingestor {
        Ingestor::default()
    }

    /// Parses, maps and encodes one batch.
    pub fn ingest(&mut self, input: &[u8], o: &IngestOptions<'_>) -> IngestResult {
        let map = self.begin(o);
        let part = Part { input, format: o.format, precision: o.precision, db: o.db, labels: o.labels };
        let p = self.parse_part(&part, o);
        let series_hashes = (o.series_hashes && map).then(|| self.batch.series_hashes());
        let (data, unrouted_samples) = self.batch.finish(&o.outputs);
        IngestResult {
            lines: p.lines,
            rejected: p.rejected,
            samples: p.samples,
            skipped_strings: p.skipped_strings,
            errors: p.errors,
            seq: p.seq,
            data,
            unrouted_samples,
            series_hashes,
            rejected_line_bytes: p.rejected_line_bytes,
            rejected_tags: p.rejected_tags,
        }
    }

    /// Parses several inputs (small ones: a fleet's frames arriving together)
    /// as one batch: each input is parsed with its own format, precision,
    /// `db` and labels and counted on its own, and the samples of all of them
    /// are mapped into one series table and encoded once per output, so the
    /// fixed cost of a batch (encoding, compression, the call itself) is paid
    /// once. The outputs hold exactly what ingesting each input alone would
    /// have held, merged. `o`'s format, precision, db and labels are not read.
    pub fn ingest_many(&mut self, parts: &[Part<'_>], o: &IngestOptions<'_>) -> ManyResult {
        let map = self.begin(o);
        let mut hashes = (o.series_hashes && map).then(Vec::new);
        let mut seen = std::mem::take(&mut self.seen);
        seen.clear();
        let mut results = Vec::with_capacity(parts.len());
        for (n, part) in parts.iter().enumerate() {
            self.batch.begin_part();
            let from = self.batch.mapped_samples();
            let mut p = self.parse_part(part, o);
            if let Some(h) = hashes.as_mut() {
                p.series = self.batch.series_hashes_since(from, &mut seen, n as u32, h);
            }
            results.push(p);
        }
        self.seen = seen;
        let (data, unrouted_samples) = self.batch.finish(&o.outputs);
        ManyResult { parts: results, data, unrouted_samples, series_hashes: hashes }
    }

    /// Starts a batch for `o`'s outputs; returns whether points are mapped (else only counted).
    fn begin(&mut self, o: &IngestOptions<'_>) -> bool {
        let limits = ParseLimits { max_line_bytes: o.max_line_bytes, max_tags: o.max_tags };
        self.lp.set_limits(limits);
        self.mp.set_limits(limits);
        let map = o.outputs.iter().any(|t| t.output != Output::None);
        self.batch.begin(map);
        map
    }

    /// Parses one input into the batch begun, counting what it adds.
    fn parse_part(&mut self, part: &Part<'_>, o: &IngestOptions<'_>) -> PartResult {
        let mut errors = Vec::new();
        let mut err = Errors { list: &mut errors, max: o.max_errors, rejected: 0, line_bytes: 0, tags: 0 };
        let batch = &mut self.batch;
        let (samples0, skipped0) = (batch.samples(), batch.skipped_strings());
        let (lines, seq) = match part.format {
            Format::LineProtocol => {
                let defaults = default_labels(part.db, part.labels);
                let unit = part.precision.map_or(TimeUnit::Auto, TimeUnit::Fixed);
                let s = self.lp.parse(part.input, unit, o.now_ms, |p| batch.add_point(p, &defaults), |l, r| err.push(l, r));
                (s.lines, None)
            }
            Format::Msgpack => match msgpack::read_envelope(part.input) {
                Err(reason) => {
                    err.list.push(LineError { line: 0, reason: format!("malformed msgpack batch: {reason}") });
                    (0, None)
                }
                Ok(env) => {
                    let precision = part.precision.or(env.precision).unwrap_or(Precision::Ms);
                    // An explicit `db` option wins over the batch's own.
                    let defaults = default_labels(part.db.or(env.db), part.labels);
                    self.mp.decode(part.input, &env, precision, o.now_ms, |p| batch.add_point(p, &defaults), |l, r| err.push(l, r));
                    (env.points, env.seq)
                }
            },
        };
        let (rejected, rejected_line_bytes, rejected_tags) = (err.rejected, err.line_bytes, err.tags);
        PartResult {
            lines,
            rejected,
            samples: batch.samples() - samples0,
            skipped_strings: batch.skipped_strings() - skipped0,
            errors,
            seq,
            rejected_line_bytes,
            rejected_tags,
            series: 0,
        }
    }
}

impl Ingestor {
    /// Maps and encodes readings (see [`Readings`]): the same series, default
    /// labels, limits and outputs as a parsed batch, without the parse. A
    /// "line" is a sample: `lines` counts them, errors name the 1-based
    /// sample. A sample is rejected when its series has no `__name__` or more
    /// labels than `max_tags` (not counting `__name__`), or names no series;
    /// slices of unequal length reject the samples past the shortest.
    /// `format`, `precision` and `max_line_bytes` do not apply.
    pub fn ingest_readings(&mut self, r: &Readings<'_>, o: &IngestOptions<'_>) -> IngestResult {
        let mapper = SeriesMapper::new(o);
        let mut canon = Vec::new();
        let columns = Columns { series: r.series.len(), sample_series: r.sample_series, timestamps: r.timestamps, values: r.values };
        self.ingest_columns(&columns, o, |batch, s| {
            let hash = mapper.map(r.series[s], &mut canon)?;
            Ok(batch.add_canonical(&canon, hash, None))
        })
    }

    /// [`ingest_readings`](Self::ingest_readings) of series mapped before
    /// (by a [`SeriesMapper`] of the same options): a connector's series,
    /// mapped once and written batch after batch, cost no mapping per batch.
    pub fn ingest_prepared(&mut self, r: &PreparedReadings<'_>, o: &IngestOptions<'_>) -> IngestResult {
        let columns = Columns { series: r.series.len(), sample_series: r.sample_series, timestamps: r.timestamps, values: r.values };
        self.ingest_columns(&columns, o, |batch, s| match r.series[s] {
            Ok(p) => Ok(batch.add_canonical(p.canonical, p.hash, Some(p.remote_write_labels))),
            Err(reason) => Err(reason.to_owned()),
        })
    }

    /// The samples of `c` into one batch; `series(batch, s)` adds series `s`
    /// to the batch on its first sample (its index there) or says why its
    /// samples are refused.
    fn ingest_columns(&mut self, c: &Columns<'_>, o: &IngestOptions<'_>, mut series: impl FnMut(&mut BatchBuilder, usize) -> Result<u32, String>) -> IngestResult {
        let mut errors = Vec::new();
        let mut err = Errors { list: &mut errors, max: o.max_errors, rejected: 0, line_bytes: 0, tags: 0 };
        let batch = &mut self.batch;
        let map = o.outputs.iter().any(|t| t.output != Output::None);
        batch.begin(map);
        // Each series is added once, on its first sample: Ok(index in the batch) or why it is refused.
        let mut added: Vec<Option<Result<u32, String>>> = vec![None; c.series];
        let n = c.sample_series.len().max(c.timestamps.len()).max(c.values.len());
        let complete = c.sample_series.len().min(c.timestamps.len()).min(c.values.len());
        for i in 0..n {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if i >= complete {
                err.push(line, "sample lacks its series, timestamp or value (columns of unequal length)".into());
                continue;
            }
            let s = c.sample_series[i] as usize;
            let Some(slot) = added.get_mut(s) else {
                err.push(line, format!("no series {s} (the readings have {})", c.series));
                continue;
            };
            match slot.get_or_insert_with(|| series(batch, s)) {
                Ok(idx) => batch.add_sample(*idx, c.timestamps[i], c.values[i]),
                Err(reason) => err.push(line, reason.clone()),
            }
        }
        let (rejected, rejected_tags) = (err.rejected, err.tags);
        let series_hashes = (o.series_hashes && map).then(|| batch.series_hashes());
        let (data, unrouted_samples) = batch.finish(&o.outputs);
        IngestResult {
            lines: u32::try_from(n).unwrap_or(u32::MAX),
            rejected,
            samples: batch.samples(),
            skipped_strings: 0,
            errors,
            seq: None,
            data,
            unrouted_samples,
            series_hashes,
            rejected_line_bytes: 0,
            rejected_tags,
        }
    }
}

/// The columns of a readings batch, its series counted (how they are given is the caller's).
struct Columns<'a> {
    series: usize,
    sample_series: &'a [u32],
    timestamps: &'a [i64],
    values: &'a [f64],
}

/// Maps a readings series' labels to its series under a batch's options:
/// its labels and the defaults (`db`, `labels`) it lacks, checked against
/// `max_tags` (its own labels, not counting `__name__`). What
/// [`Ingestor::ingest_readings`] does on a series' first sample, for callers
/// that keep the result ([`Ingestor::ingest_prepared`]).
pub struct SeriesMapper<'a> {
    defaults: Vec<(&'a [u8], &'a [u8])>,
    max_tags: Option<usize>,
}

impl<'a> SeriesMapper<'a> {
    pub fn new(o: &IngestOptions<'a>) -> SeriesMapper<'a> {
        SeriesMapper { defaults: default_labels(o.db, o.labels), max_tags: o.max_tags }
    }

    /// What the mapping depends on, as bytes: two mappers with equal keys map alike.
    pub fn key(&self) -> Vec<u8> {
        let mut key = self.max_tags.map_or(u64::MAX, |m| m as u64).to_le_bytes().to_vec();
        for (k, v) in &self.defaults {
            series::push_label(&mut key, k, v);
        }
        key
    }

    /// [`map`](Self::map), kept: with the series' labels encoded for remote write too.
    pub fn prepare(&self, labels: &[(&str, &str)]) -> Result<MappedSeries, String> {
        let mut canon = Vec::new();
        let hash = self.map(labels, &mut canon)?;
        let remote_write_labels = remote_write::encode_labels(&canon).into();
        Ok(MappedSeries { canonical: canon.into(), hash, remote_write_labels })
    }

    /// The canonical labels of the series (into `canon`) and its hash, or why its samples are refused.
    pub fn map(&self, labels: &[(&str, &str)], canon: &mut Vec<u8>) -> Result<u64, String> {
        let name = labels.iter().rev().find(|(k, _)| *k == "__name__").map(|(_, v)| *v).unwrap_or("");
        if name.is_empty() {
            return Err("series has no __name__".into());
        }
        let tags = labels.iter().filter(|(k, v)| *k != "__name__" && !k.is_empty() && !v.is_empty()).count();
        if let Some(max) = self.max_tags.filter(|&m| tags > m) {
            return Err(ParseLimits::tags_error(max));
        }
        let own = labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).filter(|(k, v)| !k.is_empty() && !v.is_empty());
        // Defaults first: canonical_labels keeps the last of a repeated name, so the series' own label wins.
        series::canonical_labels_into(canon, self.defaults.iter().copied().chain(own));
        Ok(series::hash_canonical(canon))
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
