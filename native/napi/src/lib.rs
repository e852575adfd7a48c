//! Thin napi binding of sentio-core: converts JS options into core types in
//! one function ([`to_core_options`]), calls the core, converts the result.
//! A panic in the core never crosses into Node: it becomes a JS Error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use napi::bindgen_prelude::{BigInt, Buffer, Either, Float64Array, Uint32Array};
use napi::{Error, Result};
use napi_derive::napi;
use sentio_core as core;

#[napi(object)]
pub struct IngestOptions {
    /// "lp" | "msgpack"; required by `ingest`, not read by `ingestReadings` and `ingestMany` (whose parts name theirs).
    pub format: Option<String>,
    pub precision: Option<String>,
    pub db: Option<String>,
    /// Labels for points without a tag of that name (a device's labels and name), encoded as
    /// `name NUL value NUL ...` (one string: converting an object per batch costs more than the batch).
    pub labels: Option<String>,
    pub now_ms: f64,
    /// One per destination (a sink); absent or empty: counts only.
    pub outputs: Option<Vec<OutputSpec>>,
    pub max_errors: Option<f64>,
    pub max_line_bytes: Option<f64>,
    pub max_tags: Option<f64>,
    pub series_hashes: Option<bool>,
    /// The live tap: true, or a consumer epoch (label sets already returned under it left out).
    pub latest: Option<Either<bool, f64>>,
    /// The `handle` of a FeatureStore to feed the batch's mapped samples (on this thread, in the
    /// call); ignored once that store is closed.
    pub features: Option<f64>,
}

/// One output: an encoding, for the series `match` passes.
#[napi(object)]
pub struct OutputSpec {
    /// "remote_write" | "columns" | "none".
    pub encoding: String,
    pub shards: Option<f64>,
    pub replication: Option<f64>,
    /// Alternatives of matchers (core `SeriesFilter`); absent: every series.
    #[napi(js_name = "match")]
    pub matchers: Option<Vec<Vec<Matcher>>>,
}

#[napi(object)]
pub struct Matcher {
    pub name: String,
    /// "=" | "!=" | "=~" | "!~".
    pub op: String,
    pub value: String,
}

/// One output of a batch, as asked for by its OutputSpec.
#[napi(object)]
pub struct EncodedOutput {
    pub encoding: String,
    /// Samples of the series it holds (replicas counted once).
    pub samples: f64,
    pub shards: Option<Vec<Buffer>>,
    pub shard_samples: Option<Vec<f64>>,
    pub shard_series: Option<Vec<f64>>,
    pub series_ids: Option<Buffer>,
    pub timestamps: Option<Buffer>,
    pub values: Option<Buffer>,
    pub distinct_ids: Option<Buffer>,
    pub series_defs: Option<Buffer>,
    pub series_def_offsets: Option<Buffer>,
}

/// Typed readings (core `Readings`): series by their labels, samples naming their series by index.
#[napi(object)]
pub struct Readings {
    /// Each series' labels, `__name__` among them (empty when `series_text` has them).
    pub series: Vec<HashMap<String, String>>,
    /// The series as one text, much cheaper to pass than objects: each series' labels as
    /// `name NUL value` pairs joined by NUL, series joined by U+0001 (the JS side's `labelsText`).
    pub series_text: Option<String>,
    /// The series as ids of this thread's series table (`registerSeries`): nothing to pass or
    /// parse per batch. Exclusive with `series` and `series_text`.
    pub series_ids: Option<Uint32Array>,
    /// Per sample: the index of its series.
    pub sample_series: Uint32Array,
    /// Per sample: Unix ms (whole numbers).
    pub timestamps: Float64Array,
    pub values: Float64Array,
}

#[napi(object)]
pub struct LineError {
    pub line: u32,
    pub reason: String,
}

#[napi(object)]
pub struct IngestResult {
    pub lines: u32,
    pub rejected: u32,
    pub samples: f64,
    pub skipped_strings: f64,
    pub errors: Vec<LineError>,
    pub seq: Option<f64>,
    /// One per OutputSpec, in that order.
    pub outputs: Vec<EncodedOutput>,
    /// Samples of series no output's `match` passes.
    pub unrouted_samples: f64,
    pub series_hashes: Option<Buffer>,
    pub rejected_line_bytes: u32,
    pub rejected_tags: u32,
    /// The live tap's output: core `LatestOutput`'s packed buffer.
    pub latest: Option<Buffer>,
}

#[napi(object)]
pub struct ParseStats {
    pub lines: u32,
    pub rejected: u32,
    pub fields: f64,
    pub bytes: f64,
}

#[napi(object)]
pub struct RemoteWriteSample {
    pub value: f64,
    pub timestamp: f64,
}

#[napi(object)]
pub struct RemoteWriteSeries {
    pub labels: HashMap<String, String>,
    pub samples: Vec<RemoteWriteSample>,
}

/// An intact record of a queue segment.
#[napi(object)]
pub struct QueueRecord {
    pub offset: f64,
    pub payload_length: u32,
    pub samples: u32,
    pub enqueued_ms: f64,
}

/// A damaged range of a queue segment.
#[napi(object)]
pub struct QueueDamage {
    pub offset: f64,
    pub length: f64,
    pub reason: String,
}

#[napi(object)]
pub struct QueueScan {
    pub records: Vec<QueueRecord>,
    pub damage: Vec<QueueDamage>,
    pub clean_end: f64,
}

fn invalid(msg: String) -> Error {
    Error::new(napi::Status::InvalidArg, msg)
}

/// Runs `f`, turning a panic into a JS Error.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::from_reason(format!("sentio native {what} panicked: {msg}")))
    })
}

fn whole(name: &str, v: f64, min: f64, max: f64) -> Result<u32> {
    if !(v.fract() == 0.0 && v >= min && v <= max) {
        return Err(invalid(format!("{name} must be an integer in {min}..={max}, got {v}")));
    }
    Ok(v as u32)
}

/// An integer a JS number holds exactly (`Number.isSafeInteger`).
fn safe_integer(name: &str, v: f64) -> Result<i64> {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !(v.fract() == 0.0 && (-MAX..=MAX).contains(&v)) {
        return Err(invalid(format!("{name} must be a safe integer, got {v}")));
    }
    Ok(v as i64)
}

fn parse_format(f: &str) -> Result<core::Format> {
    match f {
        "lp" => Ok(core::Format::LineProtocol),
        "msgpack" => Ok(core::Format::Msgpack),
        f => Err(invalid(format!("unknown format {f:?} (expected lp or msgpack)"))),
    }
}

fn parse_precision(p: Option<&str>) -> Result<Option<core::Precision>> {
    p.map(|s| core::Precision::parse(s).ok_or_else(|| invalid(format!("unknown precision {s:?} (expected ns, us, ms, s, m or h)"))))
        .transpose()
}

/// The one place where JS options become core options.
/// `labels` holds `o.labels` as pairs (see [`label_pairs`]), which the core options borrow.
fn to_core_options<'a>(o: &'a IngestOptions, labels: &'a [(&'a str, &'a str)]) -> Result<core::IngestOptions<'a>> {
    // Absent (readings, parts naming their own): line protocol, not read.
    let format = o.format.as_deref().map(parse_format).transpose()?.unwrap_or(core::Format::LineProtocol);
    let outputs = o.outputs.iter().flatten().map(to_target).collect::<Result<Vec<_>>>()?;
    if !o.now_ms.is_finite() || o.now_ms.abs() > 9.0e15 {
        return Err(invalid(format!("nowMs must be a finite Unix-ms timestamp, got {}", o.now_ms)));
    }
    let max_errors = o.max_errors.map(|v| whole("maxErrors", v, 0.0, f64::from(u32::MAX))).transpose()?.unwrap_or(100);
    // 0 or absent: unlimited.
    let limit = |name: &str, v: Option<f64>| -> Result<Option<usize>> {
        let n = v.map(|v| whole(name, v, 0.0, f64::from(u32::MAX))).transpose()?.unwrap_or(0);
        Ok((n > 0).then_some(n as usize))
    };
    Ok(core::IngestOptions {
        format,
        precision: parse_precision(o.precision.as_deref())?,
        db: o.db.as_deref(),
        labels,
        now_ms: o.now_ms as i64,
        outputs,
        max_errors: max_errors as usize,
        max_line_bytes: limit("maxLineBytes", o.max_line_bytes)?,
        max_tags: limit("maxTags", o.max_tags)?,
        series_hashes: o.series_hashes.unwrap_or(false),
    })
}

fn to_target(spec: &OutputSpec) -> Result<core::Target> {
    let output = match spec.encoding.as_str() {
        "remote_write" => {
            let shards = spec.shards.map(|v| whole("shards", v, 1.0, 65_536.0)).transpose()?.unwrap_or(1);
            let replication = spec.replication.map(|v| whole("replication", v, 1.0, f64::from(shards))).transpose()?.unwrap_or(1);
            core::Output::RemoteWrite(core::Sharding::new(shards, replication).map_err(invalid)?)
        }
        "columns" => core::Output::Columns,
        "none" => core::Output::None,
        x => return Err(invalid(format!("unknown encoding {x:?} (expected remote_write, columns or none)"))),
    };
    let filter = spec.matchers.as_ref().map(|m| compiled_filter(m)).transpose()?;
    Ok(core::Target { output, filter })
}

/// Filters compiled on this thread, by their matchers: a regex is built once, not per batch.
const MAX_CACHED_FILTERS: usize = 256;

fn compiled_filter(any_of: &[Vec<Matcher>]) -> Result<Arc<core::SeriesFilter>> {
    let mut key = String::new();
    for all in any_of {
        for m in all {
            for part in [&m.name, &m.op, &m.value] {
                key.push_str(&part.len().to_string());
                key.push(':');
                key.push_str(part);
            }
        }
        key.push('|');
    }
    if let Some(f) = FILTERS.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(f);
    }
    let alternatives = any_of
        .iter()
        .map(|all| {
            all.iter()
                .map(|m| {
                    let op = core::MatchOp::parse(&m.op).ok_or_else(|| invalid(format!("unknown matcher op {:?} (expected =, !=, =~ or !~)", m.op)))?;
                    core::LabelMatcher::new(&m.name, op, &m.value).map_err(invalid)
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let f = Arc::new(core::SeriesFilter::new(alternatives));
    FILTERS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED_FILTERS {
            c.clear();
        }
        c.insert(key, f.clone());
    });
    Ok(f)
}

fn label_pairs(labels: Option<&str>) -> Vec<(&str, &str)> {
    let mut parts = labels.unwrap_or("").split('\0');
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        out.push((k, v));
    }
    out
}

/// `latest`: None (off), Some(0) (every label set) or Some(epoch).
fn latest_epoch(o: &IngestOptions) -> Result<Option<u32>> {
    match o.latest {
        None | Some(Either::A(false)) => Ok(None),
        Some(Either::A(true)) => Ok(Some(0)),
        Some(Either::B(e)) => whole("latest", e, 1.0, f64::from(u32::MAX)).map(Some),
    }
}

thread_local! {
    static INGESTOR: RefCell<core::Ingestor> = RefCell::new(core::Ingestor::new());
    /// Label sets this thread's live tap has returned (core `KnownSeries`).
    static KNOWN: RefCell<core::KnownSeries> = RefCell::new(core::KnownSeries::new());
    static FILTERS: RefCell<HashMap<String, Arc<core::SeriesFilter>>> = RefCell::new(HashMap::new());
    static SERIES: RefCell<SeriesTable> = RefCell::new(SeriesTable::default());
}

/// Label sets registered once and named by id in every batch after
/// (`Readings::series_ids`): a connector's series, written again and again,
/// cost no text to pass, split or copy per batch, and are mapped once (their
/// canonical labels and hash kept under the options that mapped them), not
/// per batch. Per thread, like the ingestor: an id is valid on the thread
/// that registered it.
#[derive(Default)]
struct SeriesTable {
    /// By id; None once released.
    entries: Vec<Option<Registered>>,
    /// Released ids, reused first.
    free: Vec<u32>,
    /// The mapping options seen last (`SeriesMapper::key`), each with an id
    /// that no other options are ever given: a series mapped under an id
    /// forgotten here is mapped again.
    keys: std::collections::VecDeque<(u64, Box<[u8]>)>,
    next_key: u64,
}

/// Distinct mapping options (a connector's default labels, the tag limit) whose mappings are kept.
const MAPPING_KEYS: usize = 64;

/// A series mapped, or why its samples are refused.
type Mapping = std::result::Result<core::MappedSeries, Box<str>>;

struct Registered {
    /// As registered (`labelsText`).
    text: Box<str>,
    /// Its mapping, and the id of the options it was made under.
    mapped: Option<(u64, Mapping)>,
}

impl SeriesTable {
    fn register(&mut self, text: Box<str>) -> Result<u32> {
        let entry = Some(Registered { text, mapped: None });
        if let Some(id) = self.free.pop() {
            self.entries[id as usize] = entry;
            return Ok(id);
        }
        let id = u32::try_from(self.entries.len()).map_err(|_| invalid("too many series registered".into()))?;
        self.entries.push(entry);
        Ok(id)
    }

    fn release(&mut self, id: u32) -> bool {
        match self.entries.get_mut(id as usize) {
            Some(e @ Some(_)) => {
                *e = None;
                self.free.push(id);
                true
            }
            _ => false,
        }
    }

    fn live(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    fn get(&self, id: u32) -> Option<&Registered> {
        self.entries.get(id as usize)?.as_ref()
    }

    /// The id of mapping options `key`.
    fn key_id(&mut self, key: Vec<u8>) -> u64 {
        if let Some((id, _)) = self.keys.iter().find(|(_, k)| **k == *key) {
            return *id;
        }
        if self.keys.len() == MAPPING_KEYS {
            self.keys.pop_front();
        }
        let id = self.next_key;
        self.next_key += 1;
        self.keys.push_back((id, key.into()));
        id
    }

    /// The series `ids` name (all registered: see [`check_ids`]), each
    /// mapped by `mapper` unless it was under the same options before.
    fn prepare(&mut self, ids: &[u32], mapper: &core::SeriesMapper<'_>) -> Vec<std::result::Result<core::PreparedSeries<'_>, &str>> {
        let key = self.key_id(mapper.key());
        for &id in ids {
            let e = self.entries[id as usize].as_mut().expect("ids checked before");
            if !matches!(e.mapped, Some((k, _)) if k == key) {
                e.mapped = Some((key, mapper.prepare(&label_pairs(Some(&e.text))).map_err(Box::from)));
            }
        }
        ids.iter()
            .map(|&id| match &self.entries[id as usize].as_ref().and_then(|e| e.mapped.as_ref()).expect("mapped above").1 {
                Ok(m) => Ok(m.prepared()),
                Err(reason) => Err(&**reason),
            })
            .collect()
    }

    /// Whether every one of `ids` is registered.
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().enumerate().find(|(_, &id)| self.get(id).is_none()) {
            Some((n, id)) => Err(invalid(format!("readings.seriesIds[{n}]: no series {id} is registered on this thread"))),
            None => Ok(()),
        }
    }
}

/// Registers a series' labels (`name NUL value` pairs joined by NUL, the JS
/// side's `labelsText`) in this thread's table; returns its id for
/// `Readings.seriesIds`, valid until `releaseSeries`.
#[napi]
pub fn register_series(text: String) -> Result<u32> {
    let flat = series_from_text(&text)?;
    if flat.ends.len() != 1 {
        return Err(invalid(format!("registerSeries: one series expected, got {}", flat.ends.len())));
    }
    SERIES.with(|t| t.borrow_mut().register(text.into()))
}

/// Releases a series id (false when it was not registered); the id may be given to another series after.
#[napi]
pub fn release_series(id: u32) -> bool {
    SERIES.with(|t| t.borrow_mut().release(id))
}

/// The labels registered under `id` on this thread, as registered (`labelsText`); null when none is.
#[napi]
pub fn series_text(id: u32) -> Option<String> {
    SERIES.with(|t| t.borrow().get(id).map(|e| e.text.to_string()))
}

/// How many series this thread's table holds.
#[napi]
pub fn registered_series() -> u32 {
    SERIES.with(|t| t.borrow().live() as u32)
}

#[napi]
pub fn ingest(input: Buffer, options: IngestOptions) -> Result<IngestResult> {
    if options.format.is_none() {
        return Err(invalid("format is required (lp or msgpack)".into()));
    }
    run_batch("ingest", &options, |i, opts| i.ingest(&input, opts))
}

/// One input of `ingestMany`: its bytes and the options that are its own.
#[napi(object)]
pub struct IngestPart {
    pub input: Buffer,
    /// "lp" | "msgpack".
    pub format: String,
    pub precision: Option<String>,
    pub db: Option<String>,
    /// As `IngestOptions.labels`.
    pub labels: Option<String>,
}

/// An error of one input of `ingestMany`.
#[napi(object)]
pub struct PartError {
    /// Index of the input.
    pub part: u32,
    pub line: u32,
    pub reason: String,
}

/// Fields per input in `ManyResult.counts`.
const PART_FIELDS: usize = 8;

#[napi(object)]
pub struct ManyResult {
    /// Per input, 8 numbers: lines, rejected, samples, skippedStrings, seq
    /// (-1: none), rejectedLineBytes, rejectedTags, series (its entries in
    /// `seriesHashes`). One array rather than an object per input: building
    /// objects costs more than parsing a small input.
    pub counts: Float64Array,
    /// Every input's errors (up to `maxErrors` each), in input order.
    pub errors: Vec<PartError>,
    /// One per OutputSpec, with the samples of all inputs.
    pub outputs: Vec<EncodedOutput>,
    pub unrouted_samples: f64,
    /// With `seriesHashes`: each input's distinct series (u64 LE), input after input.
    pub series_hashes: Option<Buffer>,
    /// The live tap's output over all inputs.
    pub latest: Option<Buffer>,
}

/// Several small inputs parsed as one batch (core `Ingestor::ingest_many`):
/// each counted on its own, all encoded once per output. `options`' format,
/// precision, db and labels are not read.
#[napi]
pub fn ingest_many(parts: Vec<IngestPart>, options: IngestOptions) -> Result<ManyResult> {
    let labels: Vec<Vec<(&str, &str)>> = parts.iter().map(|p| label_pairs(p.labels.as_deref())).collect();
    let mut core_parts = Vec::with_capacity(parts.len());
    for (p, labels) in parts.iter().zip(&labels) {
        core_parts.push(core::Part {
            input: &p.input,
            format: parse_format(&p.format)?,
            precision: parse_precision(p.precision.as_deref())?,
            db: p.db.as_deref(),
            labels,
        });
    }
    let opts = to_core_options(&options, &[])?;
    let epoch = latest_epoch(&options)?.filter(|_| opts.outputs.iter().any(|t| t.output != core::Output::None));
    let store = feature_store(&options)?;
    guard("ingestMany", || {
        let (r, latest) = INGESTOR.with(|i| {
            let mut i = i.borrow_mut();
            let r = i.ingest_many(&core_parts, &opts);
            feed_features(&i, store.as_deref());
            let latest = epoch.map(|e| KNOWN.with(|k| i.latest_known(&mut k.borrow_mut(), e)));
            (r, latest)
        });
        let mut counts = Vec::with_capacity(r.parts.len() * PART_FIELDS);
        let mut errors = Vec::new();
        for (n, p) in r.parts.into_iter().enumerate() {
            let seq = p.seq.map_or(-1.0, |s| s as f64);
            counts.extend([
                f64::from(p.lines),
                f64::from(p.rejected),
                p.samples as f64,
                p.skipped_strings as f64,
                seq,
                f64::from(p.rejected_line_bytes),
                f64::from(p.rejected_tags),
                f64::from(p.series),
            ]);
            errors.extend(p.errors.into_iter().map(|e| PartError { part: n as u32, line: e.line, reason: e.reason }));
        }
        Ok(ManyResult {
            counts: counts.into(),
            errors,
            outputs: r.data.into_iter().map(encoded_output).collect(),
            unrouted_samples: r.unrouted_samples as f64,
            series_hashes: r.series_hashes.map(|h| hash_bytes(&h).into()),
            latest: latest.map(|l| l.into_bytes().into()),
        })
    })
}

/// Every series' label pairs, flat, and where each series' pairs end: one
/// allocation for all the series of a batch, not one per series.
#[derive(Default)]
struct FlatSeries<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    ends: Vec<usize>,
}

impl<'a> FlatSeries<'a> {
    fn slices(&self) -> Vec<&[(&'a str, &'a str)]> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = &self.pairs[start..end];
                start = end;
                s
            })
            .collect()
    }
}

/// The series of `Readings::series_text`: `name NUL value` pairs joined by NUL, series joined by U+0001.
fn series_from_text(text: &str) -> Result<FlatSeries<'_>> {
    let mut out = FlatSeries::default();
    if text.is_empty() {
        return Ok(out);
    }
    for (i, s) in text.split('\u{1}').enumerate() {
        let mut fields = s.split('\0');
        let mut n = 0;
        while let Some(k) = fields.next() {
            n += 1;
            let Some(v) = fields.next() else {
                return Err(Error::new(napi::Status::InvalidArg, format!("readings.seriesText: series {i} has an odd number of fields ({n})")));
            };
            n += 1;
            out.pairs.push((k, v));
        }
        out.ends.push(out.pairs.len());
    }
    Ok(out)
}

/// Series hashes as the JS side reads them: u64 LE each.
fn hash_bytes(h: &[u64]) -> Vec<u8> {
    h.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[napi]
pub fn ingest_readings(readings: Readings, options: IngestOptions) -> Result<IngestResult> {
    let given = usize::from(!readings.series.is_empty()) + usize::from(readings.series_text.is_some()) + usize::from(readings.series_ids.is_some());
    if given > 1 {
        return Err(Error::new(napi::Status::InvalidArg, "readings: series, seriesText and seriesIds are exclusive"));
    }
    let timestamps = readings
        .timestamps
        .iter()
        .enumerate()
        // The name is formatted only for an error: this runs for every sample.
        .map(|(i, &t)| if t.fract() == 0.0 && t.abs() <= 9_007_199_254_740_991.0 { Ok(t as i64) } else { safe_integer(&format!("timestamps[{i}]"), t) })
        .collect::<Result<Vec<i64>>>()?;
    if let Some(ids) = &readings.series_ids {
        SERIES.with(|t| t.borrow().check_ids(ids))?;
        return run_batch("ingestReadings", &options, |i, opts| {
            SERIES.with(|t| {
                let mut t = t.borrow_mut();
                let series = t.prepare(ids, &core::SeriesMapper::new(opts));
                let r = core::PreparedReadings { series: &series, sample_series: &readings.sample_series, timestamps: &timestamps, values: &readings.values };
                i.ingest_prepared(&r, opts)
            })
        });
    }
    let flat = match &readings.series_text {
        Some(text) => series_from_text(text)?,
        None => {
            let mut f = FlatSeries::default();
            for m in &readings.series {
                f.pairs.extend(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                f.ends.push(f.pairs.len());
            }
            f
        }
    };
    let series = flat.slices();
    run_batch("ingestReadings", &options, |i, opts| {
        let r = core::Readings { series: &series, sample_series: &readings.sample_series, timestamps: &timestamps, values: &readings.values };
        i.ingest_readings(&r, opts)
    })
}

/// Runs one batch on this thread's ingestor (and the live tap on what it mapped), converting the result.
fn run_batch(what: &str, options: &IngestOptions, batch: impl FnOnce(&mut core::Ingestor, &core::IngestOptions<'_>) -> core::IngestResult) -> Result<IngestResult> {
    let labels = label_pairs(options.labels.as_deref());
    let opts = to_core_options(options, &labels)?;
    let epoch = latest_epoch(options)?.filter(|_| opts.outputs.iter().any(|t| t.output != core::Output::None));
    let store = feature_store(options)?;
    guard(what, || {
        // The live tap and the feature store read the batch just mapped, so in the same borrow.
        let (r, latest) = INGESTOR.with(|i| {
            let mut i = i.borrow_mut();
            let r = batch(&mut i, &opts);
            feed_features(&i, store.as_deref());
            let latest = epoch.map(|e| KNOWN.with(|k| i.latest_known(&mut k.borrow_mut(), e)));
            (r, latest)
        });
        Ok(IngestResult {
            lines: r.lines,
            rejected: r.rejected,
            samples: r.samples as f64,
            skipped_strings: r.skipped_strings as f64,
            errors: r.errors.into_iter().map(|e| LineError { line: e.line, reason: e.reason }).collect(),
            seq: r.seq.map(|s| s as f64),
            outputs: r.data.into_iter().map(encoded_output).collect(),
            unrouted_samples: r.unrouted_samples as f64,
            series_hashes: r.series_hashes.map(|h| hash_bytes(&h).into()),
            rejected_line_bytes: r.rejected_line_bytes,
            rejected_tags: r.rejected_tags,
            latest: latest.map(|l| l.into_bytes().into()),
        })
    })
}

fn encoded_output(d: core::OutputData) -> EncodedOutput {
    let mut out = EncodedOutput {
        encoding: String::new(),
        samples: 0.0,
        shards: None,
        shard_samples: None,
        shard_series: None,
        series_ids: None,
        timestamps: None,
        values: None,
        distinct_ids: None,
        series_defs: None,
        series_def_offsets: None,
    };
    match d {
        core::OutputData::None => out.encoding = "none".into(),
        core::OutputData::RemoteWrite(rw) => {
            out.encoding = "remote_write".into();
            out.samples = rw.samples as f64;
            out.shards = Some(rw.shards.into_iter().map(Buffer::from).collect());
            out.shard_samples = Some(rw.shard_samples.into_iter().map(|v| v as f64).collect());
            out.shard_series = Some(rw.shard_series.into_iter().map(|v| v as f64).collect());
        }
        core::OutputData::Columns(c) => {
            out.encoding = "columns".into();
            out.samples = c.samples as f64;
            out.series_ids = Some(c.series_ids.into());
            out.timestamps = Some(c.timestamps.into());
            out.values = Some(c.values.into());
            out.distinct_ids = Some(c.distinct_ids.into());
            out.series_defs = Some(c.series_defs.into());
            out.series_def_offsets = Some(c.series_def_offsets.into());
        }
    }
    out
}

#[napi]
pub fn parse_line_protocol(input: Buffer, precision: Option<String>) -> Result<ParseStats> {
    let p = parse_precision(precision.as_deref())?;
    guard("parseLineProtocol", || {
        let s = core::parse_line_protocol(&input, p);
        Ok(ParseStats { lines: s.lines, rejected: s.rejected, fields: s.fields as f64, bytes: s.bytes as f64 })
    })
}

#[napi]
pub fn series_hash(labels: HashMap<String, String>) -> Result<BigInt> {
    guard("seriesHash", || {
        let h = core::series_hash(labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())));
        Ok(BigInt::from(h as i64))
    })
}

/// A BigInt in i64 or u64 range, as the u64 hash bits.
fn hash_bits(h: &BigInt) -> Result<u64> {
    let too_big = || invalid("hash must be a 64-bit integer (i64 or u64 range)".to_string());
    if h.words.iter().skip(1).any(|&w| w != 0) {
        return Err(too_big());
    }
    let mag = h.words.first().copied().unwrap_or(0);
    if h.sign_bit {
        if mag > 1u64 << 63 {
            return Err(too_big());
        }
        Ok(mag.wrapping_neg())
    } else {
        Ok(mag)
    }
}

#[napi]
pub fn shards_for(hash: BigInt, shards: f64, replication: f64) -> Result<Vec<u32>> {
    let shards = whole("shards", shards, 1.0, 65_536.0)?;
    let replication = whole("replication", replication, 1.0, f64::from(shards))?;
    let sh = core::Sharding::new(shards, replication).map_err(invalid)?;
    let bits = hash_bits(&hash)?;
    guard("shardsFor", || Ok(sh.shards_for(bits).collect()))
}

#[napi]
pub fn decode_remote_write(payload: Buffer) -> Result<Vec<RemoteWriteSeries>> {
    guard("decodeRemoteWrite", || {
        let series = core::decode_remote_write(&payload).map_err(Error::from_reason)?;
        Ok(series
            .into_iter()
            .map(|s| RemoteWriteSeries {
                labels: s.labels.into_iter().collect(),
                samples: s
                    .samples
                    .into_iter()
                    .map(|(t, v)| RemoteWriteSample { value: v, timestamp: t as f64 })
                    .collect(),
            })
            .collect())
    })
}

/// One snappy-compressed WriteRequest with the series of all `payloads` (core `merge_remote_write`).
#[napi]
pub fn merge_remote_write(payloads: Vec<Buffer>) -> Result<Buffer> {
    guard("mergeRemoteWrite", || {
        let parts: Vec<&[u8]> = payloads.iter().map(|b| &b[..]).collect();
        Ok(core::merge_remote_write(&parts).map_err(Error::from_reason)?.into())
    })
}

#[napi]
pub fn queue_record_header(payload: Buffer, samples: f64, enqueued_ms: f64) -> Result<Buffer> {
    let samples = whole("samples", samples, 0.0, f64::from(u32::MAX))?;
    let enqueued_ms = safe_integer("enqueuedMs", enqueued_ms)?;
    if u32::try_from(payload.len()).is_err() {
        return Err(invalid(format!("payload must be at most {} bytes, got {}", u32::MAX, payload.len())));
    }
    guard("queueRecordHeader", || Ok(core::queue::record_header(&payload, samples, enqueued_ms).to_vec().into()))
}

#[napi]
pub fn queue_scan(segment: Buffer, max_record_bytes: f64) -> Result<QueueScan> {
    let max = whole("maxRecordBytes", max_record_bytes, 0.0, f64::from(u32::MAX))?;
    guard("queueScan", || {
        let s = core::queue::scan(&segment, max);
        Ok(QueueScan {
            records: s
                .records
                .into_iter()
                .map(|r| QueueRecord {
                    offset: r.offset as f64,
                    payload_length: r.payload_len,
                    samples: r.samples,
                    enqueued_ms: r.enqueued_ms as f64,
                })
                .collect(),
            damage: s
                .damage
                .into_iter()
                .map(|d| QueueDamage { offset: d.offset as f64, length: d.length as f64, reason: d.reason })
                .collect(),
            clean_end: s.clean_end as f64,
        })
    })
}

/// The `seq` of a msgpack batch without decoding it (core `msgpack::peek_seq`); absent above 2^53 - 1.
#[napi]
pub fn msgpack_seq(frame: Buffer) -> Result<Option<f64>> {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    guard("msgpackSeq", || Ok(core::msgpack::peek_seq(&frame).filter(|&s| s <= MAX_SAFE).map(|s| s as f64)))
}

/// CRC32C (Castagnoli) of `data`.
// Named explicitly: napi's camel case would make it `crc32C`.
#[napi(js_name = "crc32c")]
pub fn crc32c(data: Buffer) -> Result<u32> {
    guard("crc32c", || Ok(core::queue::crc32c(&data)))
}

/// Options of a `FeatureStore`.
#[napi(object)]
pub struct FeatureStoreOptions {
    /// Weight of a new sample in the EWMA mean and variance (0..1]; default 0.05.
    pub alpha: Option<f64>,
    /// Weight of a new sample in its seasonal bucket (0..1]; default 0.1.
    pub seasonal_alpha: Option<f64>,
    /// Series tracked at most; default 100,000.
    pub max_series: Option<f64>,
}

/// What `FeatureStore.update` did.
#[napi(object)]
pub struct FeatureUpdate {
    pub updated: f64,
    pub out_of_order: f64,
    pub untracked: f64,
    pub new_series: f64,
}

/// Every tracked series' features at one time: `ids` (u64 LE each) and, per
/// series, `featureNames().length` values in that order (row-major).
#[napi(object)]
pub struct FeatureMatrix {
    pub ids: Buffer,
    pub values: Float64Array,
}

/// The feature stores alive, by handle: ingest calls on any thread (the
/// parser workers') feed the one their `features` option names.
static STORES: LazyLock<Mutex<HashMap<u32, Arc<Mutex<core::features::FeatureStore>>>>> = LazyLock::new(Default::default);
static NEXT_STORE: AtomicU32 = AtomicU32::new(1);

/// A lock that a panic while it was held does not make unusable: every
/// store method leaves the store consistent before anything can panic.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The store an ingest call's `features` names; None when absent or closed.
fn feature_store(o: &IngestOptions) -> Result<Option<Arc<Mutex<core::features::FeatureStore>>>> {
    let Some(h) = o.features else { return Ok(None) };
    let h = whole("features", h, 1.0, f64::from(u32::MAX))?;
    Ok(locked(&STORES).get(&h).cloned())
}

fn feed_features(i: &core::Ingestor, store: Option<&Mutex<core::features::FeatureStore>>) {
    if let Some(s) = store {
        i.update_features(&mut locked(s));
    }
}

/// The anomaly engine's per-series streaming features (core `features`),
/// shared by every thread of the process through its `handle`.
#[napi(js_name = "FeatureStore")]
pub struct JsFeatureStore {
    inner: Arc<Mutex<core::features::FeatureStore>>,
    handle: u32,
}

fn weight(name: &str, v: Option<f64>, default: f64) -> Result<f64> {
    match v {
        None => Ok(default),
        Some(a) if a > 0.0 && a <= 1.0 => Ok(a),
        Some(a) => Err(invalid(format!("{name} must be in (0, 1], got {a}"))),
    }
}

/// A Buffer of little-endian 8-byte words, read as `T`s (a Buffer need not be aligned).
fn words<T: Copy>(name: &str, b: &[u8], from: fn([u8; 8]) -> T) -> Result<Vec<T>> {
    if !b.len().is_multiple_of(8) {
        return Err(invalid(format!("{name} must hold 8-byte words, got {} bytes", b.len())));
    }
    Ok(b.chunks_exact(8).map(|c| from(c.try_into().expect("8 bytes"))).collect())
}

fn update_counts(c: core::features::UpdateCounts) -> FeatureUpdate {
    FeatureUpdate { updated: c.updated as f64, out_of_order: c.out_of_order as f64, untracked: c.untracked as f64, new_series: c.new_series as f64 }
}

#[napi]
impl JsFeatureStore {
    #[napi(constructor)]
    pub fn new(options: Option<FeatureStoreOptions>) -> Result<Self> {
        let o = options.unwrap_or(FeatureStoreOptions { alpha: None, seasonal_alpha: None, max_series: None });
        let d = core::features::FeatureParams::default();
        let params = core::features::FeatureParams { alpha: weight("alpha", o.alpha, d.alpha)?, seasonal_alpha: weight("seasonalAlpha", o.seasonal_alpha, d.seasonal_alpha)? };
        let max = o.max_series.map(|m| whole("maxSeries", m, 0.0, f64::from(u32::MAX))).transpose()?.unwrap_or(100_000);
        let inner = Arc::new(Mutex::new(core::features::FeatureStore::new(params, max as usize)));
        let handle = NEXT_STORE.fetch_add(1, Ordering::Relaxed);
        locked(&STORES).insert(handle, inner.clone());
        Ok(JsFeatureStore { inner, handle })
    }

    /// What ingest calls name in their `features` option to feed this store.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Takes samples in the columns output's layout: series ids (i64 LE, the series hash bits),
    /// timestamps (i64 LE Unix ms) and values (f64 LE), one word per sample each. A new series gets no labels.
    #[napi]
    pub fn update(&self, series_ids: Buffer, timestamps: Buffer, values: Buffer) -> Result<FeatureUpdate> {
        let ids = words("seriesIds", &series_ids, u64::from_le_bytes)?;
        let ts = words("timestamps", &timestamps, i64::from_le_bytes)?;
        let vs = words("values", &values, f64::from_le_bytes)?;
        if ids.len() != ts.len() || ids.len() != vs.len() {
            return Err(invalid(format!("seriesIds, timestamps and values must be as long, got {}, {} and {} samples", ids.len(), ts.len(), vs.len())));
        }
        Ok(update_counts(locked(&self.inner).update(&ids, &ts, &vs)))
    }

    /// Every tracked series' features as of `nowMs`, with the peak z-score of `reader` (0..3,
    /// default 0) since its previous read; that reader's peaks start anew.
    #[napi]
    pub fn features(&self, now_ms: f64, reader: Option<u32>) -> Result<FeatureMatrix> {
        let now = safe_integer("nowMs", now_ms)?;
        let reader = reader.unwrap_or(0) as usize;
        if reader >= core::features::READERS {
            return Err(invalid(format!("reader must be below {}, got {reader}", core::features::READERS)));
        }
        let mut store = locked(&self.inner);
        let mut ids = Vec::with_capacity(store.len() * 8);
        let mut values = Vec::with_capacity(store.len() * core::features::FEATURE_NAMES.len());
        store.read(now, reader, |id, f| {
            ids.extend_from_slice(&id.to_le_bytes());
            values.extend_from_slice(&f.vector());
        });
        Ok(FeatureMatrix { ids: ids.into(), values: values.into() })
    }

    /// Each series' labels (`ids`: u64 LE each) as `encodeLabels` text (`name NUL value ...`,
    /// `__name__` first); null for a series not tracked or fed without labels.
    #[napi]
    pub fn labels(&self, ids: Buffer) -> Result<Vec<Option<String>>> {
        let ids = words("ids", &ids, u64::from_le_bytes)?;
        let store = locked(&self.inner);
        Ok(ids
            .iter()
            .map(|&id| {
                let canon = store.labels(id).filter(|c| !c.is_empty())?;
                let mut text = String::with_capacity(canon.len());
                for (n, (k, v)) in core::series::iter_labels(canon).enumerate() {
                    if n > 0 {
                        text.push('\0');
                    }
                    // Canonical labels are made of UTF-8 names and values.
                    text.push_str(std::str::from_utf8(k).ok()?);
                    text.push('\0');
                    text.push_str(std::str::from_utf8(v).ok()?);
                }
                Some(text)
            })
            .collect())
    }

    /// Forgets the series silent since before `beforeMs`; returns how many.
    #[napi]
    pub fn evict_idle(&self, before_ms: f64) -> Result<u32> {
        Ok(locked(&self.inner).evict_idle(safe_integer("beforeMs", before_ms)?) as u32)
    }

    /// Series tracked.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        locked(&self.inner).len() as u32
    }

    /// Series evicted since the store was made.
    #[napi(getter)]
    pub fn evicted(&self) -> f64 {
        locked(&self.inner).evicted as f64
    }

    /// What every update did since the store was made.
    #[napi(getter)]
    pub fn totals(&self) -> FeatureUpdate {
        update_counts(locked(&self.inner).totals())
    }

    /// Bytes the tracked series' labels take.
    #[napi(getter)]
    pub fn label_bytes(&self) -> f64 {
        locked(&self.inner).label_bytes() as f64
    }

    /// Bytes a tracked series takes besides its labels (its state, id and index entry).
    #[napi]
    pub fn bytes_per_series() -> u32 {
        core::features::FeatureStore::bytes_per_series() as u32
    }

    /// Stops feeding it from ingest calls (their `features` handle is then ignored); it can still be read.
    #[napi]
    pub fn close(&self) {
        locked(&STORES).remove(&self.handle);
    }
}

impl Drop for JsFeatureStore {
    fn drop(&mut self) {
        locked(&STORES).remove(&self.handle);
    }
}

/// The names of a feature vector's entries, in order (a model's input schema names these).
#[napi]
pub fn feature_names() -> Vec<String> {
    core::features::FEATURE_NAMES.iter().map(|s| s.to_string()).collect()
}
