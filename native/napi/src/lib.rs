//! Thin napi binding of sentio-core: converts JS options into core types in
//! one function ([`to_core_options`]), calls the core, converts the result.
//! A panic in the core never crosses into Node: it becomes a JS Error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::{BigInt, Buffer, Either};
use napi::{Error, Result};
use napi_derive::napi;
use sentio_core as core;

#[napi(object)]
pub struct IngestOptions {
    pub format: String,
    pub precision: Option<String>,
    pub db: Option<String>,
    /// Labels for points without a tag of that name (a device's labels and name).
    pub labels: Option<HashMap<String, String>>,
    pub now_ms: f64,
    pub output: String,
    pub shards: Option<f64>,
    pub replication: Option<f64>,
    pub max_errors: Option<f64>,
    pub max_line_bytes: Option<f64>,
    pub max_tags: Option<f64>,
    pub series_hashes: Option<bool>,
    /// The live tap: true, or a consumer epoch (label sets already returned under it left out).
    pub latest: Option<Either<bool, f64>>,
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
    pub shards: Option<Vec<Buffer>>,
    pub shard_samples: Option<Vec<f64>>,
    pub shard_series: Option<Vec<f64>>,
    pub series_ids: Option<Buffer>,
    pub timestamps: Option<Buffer>,
    pub values: Option<Buffer>,
    pub distinct_ids: Option<Buffer>,
    pub series_defs: Option<Buffer>,
    pub series_def_offsets: Option<Buffer>,
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

fn parse_precision(p: Option<&str>) -> Result<Option<core::Precision>> {
    p.map(|s| core::Precision::parse(s).ok_or_else(|| invalid(format!("unknown precision {s:?} (expected ns, us, ms, s, m or h)"))))
        .transpose()
}

/// The one place where JS options become core options.
/// `labels` holds `o.labels` as pairs (see [`label_pairs`]), which the core options borrow.
fn to_core_options<'a>(o: &'a IngestOptions, labels: &'a [(&'a str, &'a str)]) -> Result<core::IngestOptions<'a>> {
    let format = match o.format.as_str() {
        "lp" => core::Format::LineProtocol,
        "msgpack" => core::Format::Msgpack,
        f => return Err(invalid(format!("unknown format {f:?} (expected lp or msgpack)"))),
    };
    let shards = o.shards.map(|v| whole("shards", v, 1.0, 65_536.0)).transpose()?.unwrap_or(1);
    let replication = o
        .replication
        .map(|v| whole("replication", v, 1.0, f64::from(shards)))
        .transpose()?
        .unwrap_or(1);
    let output = match o.output.as_str() {
        "remote_write" => core::Output::RemoteWrite(core::Sharding::new(shards, replication).map_err(invalid)?),
        "columns" => core::Output::Columns,
        "none" => core::Output::None,
        x => return Err(invalid(format!("unknown output {x:?} (expected remote_write, columns or none)"))),
    };
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
        output,
        max_errors: max_errors as usize,
        max_line_bytes: limit("maxLineBytes", o.max_line_bytes)?,
        max_tags: limit("maxTags", o.max_tags)?,
        series_hashes: o.series_hashes.unwrap_or(false),
    })
}

fn label_pairs(o: &IngestOptions) -> Vec<(&str, &str)> {
    o.labels.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect()
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
}

#[napi]
pub fn ingest(input: Buffer, options: IngestOptions) -> Result<IngestResult> {
    let labels = label_pairs(&options);
    let opts = to_core_options(&options, &labels)?;
    let epoch = latest_epoch(&options)?.filter(|_| opts.output != core::Output::None);
    guard("ingest", || {
        // The live tap reads the batch just mapped, so in the same borrow.
        let (r, latest) = INGESTOR.with(|i| {
            let mut i = i.borrow_mut();
            let r = i.ingest(&input, &opts);
            let latest = epoch.map(|e| KNOWN.with(|k| i.latest_known(&mut k.borrow_mut(), e)));
            (r, latest)
        });
        let mut out = IngestResult {
            lines: r.lines,
            rejected: r.rejected,
            samples: r.samples as f64,
            skipped_strings: r.skipped_strings as f64,
            errors: r.errors.into_iter().map(|e| LineError { line: e.line, reason: e.reason }).collect(),
            seq: r.seq.map(|s| s as f64),
            shards: None,
            shard_samples: None,
            shard_series: None,
            series_ids: None,
            timestamps: None,
            values: None,
            distinct_ids: None,
            series_defs: None,
            series_def_offsets: None,
            series_hashes: r.series_hashes.map(|h| h.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
            rejected_line_bytes: r.rejected_line_bytes,
            rejected_tags: r.rejected_tags,
            latest: latest.map(|l| l.into_bytes().into()),
        };
        match r.data {
            core::OutputData::None => {}
            core::OutputData::RemoteWrite(rw) => {
                out.shards = Some(rw.shards.into_iter().map(Buffer::from).collect());
                out.shard_samples = Some(rw.shard_samples.into_iter().map(|v| v as f64).collect());
                out.shard_series = Some(rw.shard_series.into_iter().map(|v| v as f64).collect());
            }
            core::OutputData::Columns(c) => {
                out.series_ids = Some(c.series_ids.into());
                out.timestamps = Some(c.timestamps.into());
                out.values = Some(c.values.into());
                out.distinct_ids = Some(c.distinct_ids.into());
                out.series_defs = Some(c.series_defs.into());
                out.series_def_offsets = Some(c.series_def_offsets.into());
            }
        }
        Ok(out)
    })
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

/// CRC32C (Castagnoli) of `data`.
// Named explicitly: napi's camel case would make it `crc32C`.
#[napi(js_name = "crc32c")]
pub fn crc32c(data: Buffer) -> Result<u32> {
    guard("crc32c", || Ok(core::queue::crc32c(&data)))
}
