//! Invariants checked by the fuzz targets in `fuzz_targets/` (and, by
//! `cargo test`, over the seed inputs in `seeds/`). See docs/fuzzing.md.
//!
//! An input is one options byte followed by the batch:
//!
//! | bits | picks | values |
//! | --- | --- | --- |
//! | 0-1 | precision | None, Some(Ns), Some(S), Some(H) |
//! | 2-3 | db | None, Some("telegraf"), Some(""), Some("a \"q\"\\é") |
//! | 4-5 | output | RemoteWrite(2 shards, replication 1), Columns, None, RemoteWrite(3, 2) |
//! | 6-7 | max_errors | 1000, 0, 1, 3 |
//!
//! The main run has no parse limits and asks for `series_hashes`. A second
//! run adds limits (`max_line_bytes` from bits 2-3: 40, 0, 12, 200;
//! `max_tags` from bits 6-7: 2, 0, 1, 5) and is checked against the first.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use sentio_core::lp::LpParser;
use sentio_core::msgpack::{read_envelope, MsgpackDecoder};
use sentio_core::types::{FieldValue, PointRef, TimeUnit};
use sentio_core::{
    decode_remote_write, series_hash, ColumnsOutput, Format, IngestOptions, IngestResult, Ingestor, LimitKind,
    LineError, Output, OutputData, ParseLimits, Precision, RemoteWriteOutput, Sharding, Target,
};

/// `now_ms` of every batch.
pub const NOW: i64 = 1_800_000_000_000;

const PRECISIONS: [Option<Precision>; 4] = [None, Some(Precision::Ns), Some(Precision::S), Some(Precision::H)];
const DBS: [Option<&str>; 4] = [None, Some("telegraf"), Some(""), Some("a \"q\"\\é")];
const MAX_ERRORS: [usize; 4] = [1000, 0, 1, 3];
const MAX_LINE_BYTES: [usize; 4] = [40, 0, 12, 200];
const MAX_TAGS: [usize; 4] = [2, 0, 1, 5];

fn sharding(shards: u32, replication: u32) -> Sharding {
    Sharding::new(shards, replication).expect("valid sharding")
}

/// The options an input's first byte selects (the main run).
pub fn options(format: Format, sel: u8) -> IngestOptions<'static> {
    let output = match (sel >> 4) & 3 {
        0 => Output::RemoteWrite(sharding(2, 1)),
        1 => Output::Columns,
        2 => Output::None,
        _ => Output::RemoteWrite(sharding(3, 2)),
    };
    IngestOptions {
        format,
        precision: PRECISIONS[(sel & 3) as usize],
        db: DBS[((sel >> 2) & 3) as usize],
        labels: &[],
        now_ms: NOW,
        outputs: vec![Target::all(output)],
        max_errors: MAX_ERRORS[(sel >> 6) as usize],
        max_line_bytes: None,
        max_tags: None,
        series_hashes: true,
    }
}

/// The one output a fuzz run asks for.
fn output_of(o: &IngestOptions<'_>) -> Output {
    o.outputs.first().map_or(Output::None, |t| t.output)
}

static NO_DATA: OutputData = OutputData::None;

/// The data of that output.
fn data_of(r: &IngestResult) -> &OutputData {
    r.data.first().unwrap_or(&NO_DATA)
}

/// The limits of the second run.
pub fn limits(sel: u8) -> ParseLimits {
    ParseLimits {
        max_line_bytes: Some(MAX_LINE_BYTES[((sel >> 2) & 3) as usize]),
        max_tags: Some(MAX_TAGS[(sel >> 6) as usize]),
    }
}

thread_local! {
    /// Reused across inputs, as the binding reuses one per thread.
    static REUSED: RefCell<Ingestor> = RefCell::new(Ingestor::new());
    static PER_LINE: RefCell<Ingestor> = RefCell::new(Ingestor::new());
}

/// Everything of a result but its output data and series hashes.
type Counts<'r> = (u32, u32, u64, u64, &'r [LineError], Option<u64>);

fn counts(r: &IngestResult) -> Counts<'_> {
    (r.lines, r.rejected, r.samples, r.skipped_strings, &r.errors, r.seq)
}

/// A series' labels, canonical order.
pub type Labels = Vec<(String, String)>;
/// `(timestamp_ms, value bits)` in input order.
pub type Samples = Vec<(i64, u64)>;
/// Samples by series.
pub type Summary = BTreeMap<Labels, Samples>;

/// Runs one fuzz input (options byte + batch) and asserts every invariant.
pub fn check_input(format: Format, input: &[u8]) {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let o = options(format, sel);
    let r = REUSED.with(|i| i.borrow_mut().ingest(data, &o));
    check_result(&o, data, &r);

    // A reused ingestor keeps buffers and caches between batches: its result
    // must equal a fresh one's.
    let fresh = Ingestor::new().ingest(data, &o);
    assert!(
        r == fresh,
        "reused Ingestor differs from a fresh one:\nreused: {r:?}\nfresh:  {fresh:?}"
    );

    // Counts do not depend on the output; remote write and columns carry the
    // same samples.
    let run = |output: Output| {
        let o2 = IngestOptions {
            outputs: vec![Target::all(output)],
            series_hashes: false,
            ..o.clone()
        };
        let r2 = Ingestor::new().ingest(data, &o2);
        check_result(&o2, data, &r2);
        assert_eq!(
            counts(&r2),
            counts(&r),
            "counts differ between outputs {:?} and {:?}",
            output_of(&o2),
            output_of(&o)
        );
        r2
    };
    let (left, right) = match output_of(&o) {
        Output::RemoteWrite(sh) => (Output::RemoteWrite(sh), Output::Columns),
        _ => (Output::Columns, Output::RemoteWrite(sharding(2, 1))),
    };
    if output_of(&o) != Output::None {
        run(Output::None);
    }
    let left_r = if output_of(&o) == left { r.clone() } else { run(left) };
    let right_r = run(right);
    let summary = summary(data_of(&left_r));
    assert_eq!(
        summary,
        self::summary(data_of(&right_r)),
        "{left:?} and {right:?} outputs carry different samples"
    );

    if format == Format::LineProtocol {
        check_line_protocol(&o, data, &r, &summary);
    }
    check_limits(&o, limits(sel), data, &r);
}

/// One accepted point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointInfo {
    /// 1-based line number (line protocol) or point index (msgpack).
    pub line: u32,
    /// Measurement, tags, fields (value bits) and timestamp, rendered.
    pub render: String,
    /// Tags as the parser kept them (empty ones dropped, repeats counted).
    pub tags: usize,
    pub numeric_fields: u64,
    pub string_fields: u64,
    /// Line protocol: bytes of the line without its ending.
    pub len: usize,
}

/// What a parser made of a batch: accepted points and `(line, reason)` errors, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub points: Vec<PointInfo>,
    pub errors: Vec<(u32, String)>,
}

fn render(p: &PointRef<'_>) -> String {
    let tags: Vec<_> = (0..p.tags.len()).map(|i| p.tag(i)).collect();
    let fields: Vec<_> = p
        .fields
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            let v = match v {
                FieldValue::Num(x) => Some(x.to_bits()),
                FieldValue::Str => None,
            };
            (p.field_key(i), v)
        })
        .collect();
    format!(
        "{:?} {:?} {:?} {} key={:?}",
        p.measurement(),
        tags,
        fields,
        p.timestamp_ms,
        p.series_key
    )
}

fn field_counts(p: &PointRef<'_>) -> (u64, u64) {
    let num = p.fields.iter().filter(|(_, v)| matches!(v, FieldValue::Num(_))).count() as u64;
    (num, p.fields.len() as u64 - num)
}

/// Parses line protocol with [`LpParser`] directly.
pub fn parse_lp(input: &[u8], unit: TimeUnit, limits: ParseLimits, general_only: bool) -> Parsed {
    // Start of every line, to place accepted points (their raw series key
    // borrows the input from the start of their line).
    let mut starts = vec![0usize];
    starts.extend(
        input
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c == b'\n')
            .map(|(i, _)| i + 1),
    );
    let line_len = |line: usize| {
        let s = starts[line];
        let mut e = starts.get(line + 1).map_or(input.len(), |&n| n - 1);
        if e > s && input[e - 1] == b'\r' {
            e -= 1;
        }
        e - s
    };
    let mut parser = LpParser::new();
    parser.set_general_only(general_only);
    parser.set_limits(limits);
    let mut out = Parsed::default();
    parser.parse(
        input,
        unit,
        NOW,
        |p| {
            let at = p.series_key.as_ptr() as usize - input.as_ptr() as usize;
            let line = starts.partition_point(|&s| s <= at) - 1;
            assert_eq!(starts[line], at, "series key does not start its line");
            let (numeric_fields, string_fields) = field_counts(p);
            out.points.push(PointInfo {
                line: line as u32 + 1,
                render: render(p),
                tags: p.tags.len(),
                numeric_fields,
                string_fields,
                len: line_len(line),
            });
        },
        |l, r| out.errors.push((l, r)),
    );
    out
}

/// Decodes a msgpack batch with [`MsgpackDecoder`] directly; `None` for a malformed envelope.
pub fn parse_msgpack(
    input: &[u8],
    precision: Option<Precision>,
    limits: ParseLimits,
) -> Option<(Parsed, u32, Option<u64>)> {
    let env = read_envelope(input).ok()?;
    let precision = precision.or(env.precision).unwrap_or(Precision::Ms);
    let mut dec = MsgpackDecoder::new();
    dec.set_limits(limits);
    let out = RefCell::new(Parsed::default());
    let index = std::cell::Cell::new(0u32);
    dec.decode(
        input,
        &env,
        precision,
        NOW,
        |p| {
            index.set(index.get() + 1);
            let (numeric_fields, string_fields) = field_counts(p);
            out.borrow_mut().points.push(PointInfo {
                line: index.get(),
                render: render(p),
                tags: p.tags.len(),
                numeric_fields,
                string_fields,
                len: 0,
            });
        },
        |l, r| {
            index.set(index.get() + 1);
            assert_eq!(l, index.get(), "msgpack error index out of order");
            out.borrow_mut().errors.push((l, r));
        },
    );
    assert_eq!(index.get(), env.points, "not one callback per point");
    Some((out.into_inner(), env.points, env.seq))
}

/// Line protocol only: fast path == general path; the ingestor's rejected
/// lines are the parser's; a batch maps exactly as its lines one by one (the
/// per-batch series cache changes nothing).
fn check_line_protocol(o: &IngestOptions<'_>, data: &[u8], r: &IngestResult, summary: &Summary) {
    let unit = o.precision.map_or(TimeUnit::Auto, TimeUnit::Fixed);
    let fast = parse_lp(data, unit, ParseLimits::default(), false);
    let general = parse_lp(data, unit, ParseLimits::default(), true);
    assert!(
        fast == general,
        "fast path and general path disagree:\nfast:    {fast:?}\ngeneral: {general:?}"
    );
    let bad: Vec<u32> = general.errors.iter().map(|e| e.0).collect();
    assert_eq!(
        bad.len() as u32,
        r.rejected,
        "parser and ingestor disagree on rejected lines"
    );
    assert_eq!(
        general.points.len() as u32,
        r.lines - r.rejected,
        "parser and ingestor disagree on accepted lines"
    );
    let listed: Vec<u32> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(
        listed[..],
        bad[..listed.len()],
        "ingestor lists other lines than the parser rejects"
    );
    let num: u64 = general.points.iter().map(|p| p.numeric_fields).sum();
    let strs: u64 = general.points.iter().map(|p| p.string_fields).sum();
    assert_eq!(
        (r.samples, r.skipped_strings),
        (num, strs),
        "samples and skipped strings vs the parsed points"
    );

    let lo = IngestOptions {
        outputs: vec![Target::all(Output::Columns)],
        max_errors: 0,
        series_hashes: false,
        ..o.clone()
    };
    let mut one_by_one = Summary::new();
    PER_LINE.with(|i| {
        let mut i = i.borrow_mut();
        for line in data.split(|&c| c == b'\n') {
            let lr = i.ingest(line, &lo);
            for (k, v) in self::summary(data_of(&lr)) {
                one_by_one.entry(k).or_default().extend(v);
            }
        }
    });
    assert_eq!(*summary, one_by_one, "batch maps differently from its lines one by one");
}

/// Parse limits reject exactly the points over them, and nothing else changes.
fn check_limits(o: &IngestOptions<'_>, limits: ParseLimits, data: &[u8], r: &IngestResult) {
    let max_line = limits.max_line_bytes.expect("set");
    let max_tags = limits.max_tags.expect("set");
    let line_error = format!("line exceeds {max_line} bytes");
    let tags_error = format!("point has more than {max_tags} tags");
    let lo = IngestOptions {
        max_line_bytes: Some(max_line),
        max_tags: Some(max_tags),
        max_errors: usize::MAX,
        ..o.clone()
    };
    let lr = Ingestor::new().ingest(data, &lo);
    check_result(&lo, data, &lr);
    assert_eq!((lr.lines, lr.seq), (r.lines, r.seq), "limits changed lines or seq");

    let (base, limited) = match o.format {
        Format::LineProtocol => {
            let unit = o.precision.map_or(TimeUnit::Auto, TimeUnit::Fixed);
            let base = parse_lp(data, unit, ParseLimits::default(), true);
            let fast = parse_lp(data, unit, limits, false);
            let general = parse_lp(data, unit, limits, true);
            assert!(
                fast == general,
                "under {limits:?}, fast and general paths disagree:\nfast:    {fast:?}\ngeneral: {general:?}"
            );
            (base, general)
        }
        Format::Msgpack => {
            let base = parse_msgpack(data, o.precision, ParseLimits::default());
            let limited = parse_msgpack(data, o.precision, limits);
            match (base, limited) {
                (None, None) => {
                    // The ingestor reports exactly the envelope error the decoder finds.
                    let reason = read_envelope(data).expect_err("malformed");
                    let want = vec![LineError {
                        line: 0,
                        reason: format!("malformed msgpack batch: {reason}"),
                    }];
                    assert_eq!(r.errors, want, "malformed envelope reported otherwise");
                    assert_eq!(lr.errors, want, "envelope errors differ under limits");
                    return;
                }
                (Some((b, n, seq)), Some((l, n2, seq2))) => {
                    assert_eq!((n, seq), (n2, seq2));
                    assert_eq!(
                        (n, seq),
                        (r.lines, r.seq),
                        "decoder and ingestor disagree on the envelope"
                    );
                    let num: u64 = b.points.iter().map(|p| p.numeric_fields).sum();
                    let strs: u64 = b.points.iter().map(|p| p.string_fields).sum();
                    assert_eq!(
                        (r.samples, r.skipped_strings),
                        (num, strs),
                        "samples and skipped strings vs the decoded points"
                    );
                    assert_eq!(
                        b.errors.len() as u32,
                        r.rejected,
                        "decoder and ingestor disagree on rejected points"
                    );
                    (b, l)
                }
                _ => panic!("limits changed whether the envelope decodes"),
            }
        }
    };

    // Accepted under limits: exactly the base points within them.
    let within = |p: &PointInfo| (o.format == Format::Msgpack || p.len <= max_line) && p.tags <= max_tags;
    let expected: Vec<PointInfo> = base.points.iter().filter(|p| within(p)).cloned().collect();
    assert_eq!(
        limited.points, expected,
        "under {limits:?}, accepted points are not the base points within the limits"
    );
    // Rejected under limits: the base's rejects (same reason, or a limit's)
    // and the base points over a limit (with that limit's reason).
    let base_errors: HashMap<u32, &String> = base.errors.iter().map(|(l, r)| (*l, r)).collect();
    let over: HashMap<u32, &PointInfo> = base.points.iter().filter(|p| !within(p)).map(|p| (p.line, p)).collect();
    assert_eq!(
        limited.errors.len(),
        base.errors.len() + over.len(),
        "under {limits:?}: {:?} vs base {:?}",
        limited.errors,
        base.errors
    );
    for (line, reason) in &limited.errors {
        if let Some(p) = over.get(line) {
            let want = if o.format == Format::LineProtocol && p.len > max_line {
                &line_error
            } else {
                &tags_error
            };
            assert_eq!(reason, want, "line {line} over the limits rejected for another reason");
        } else {
            let base_reason = base_errors
                .get(line)
                .unwrap_or_else(|| panic!("line {line} rejected only under limits: {reason}"));
            assert!(
                reason == *base_reason || *reason == line_error || *reason == tags_error,
                "line {line}: {reason:?}, without limits {base_reason:?}"
            );
        }
    }
    // The ingestor with limits reports the same.
    let listed: Vec<(u32, String)> = lr.errors.iter().map(|e| (e.line, e.reason.clone())).collect();
    assert_eq!(listed, limited.errors, "ingestor and parser disagree under limits");
    let num: u64 = limited.points.iter().map(|p| p.numeric_fields).sum();
    let strs: u64 = limited.points.iter().map(|p| p.string_fields).sum();
    assert_eq!(
        (lr.samples, lr.skipped_strings),
        (num, strs),
        "samples under limits vs the accepted points"
    );
    let by = |reason: &String| limited.errors.iter().filter(|(_, r)| r == reason).count() as u32;
    assert_eq!(
        (lr.rejected_line_bytes, lr.rejected_tags),
        (by(&line_error), by(&tags_error)),
        "rejected_line_bytes / rejected_tags vs the limit errors"
    );
}

/// Invariants of one result.
pub fn check_result(o: &IngestOptions<'_>, data: &[u8], r: &IngestResult) {
    assert!(r.rejected <= r.lines, "rejected {} > lines {}", r.rejected, r.lines);
    let envelope_error = r.errors.iter().any(|e| e.line == 0);
    if envelope_error {
        // A malformed msgpack envelope: exactly one error with line 0, listed
        // whatever max_errors is (src/ingest/index.ts relies on it), and nothing
        // accepted.
        assert_eq!(o.format, Format::Msgpack, "line 0 error for line protocol");
        assert_eq!(r.errors.len(), 1, "envelope error with others: {:?}", r.errors);
        assert!(
            r.errors[0].reason.starts_with("malformed msgpack batch: "),
            "{:?}",
            r.errors
        );
        assert_eq!(
            (r.lines, r.rejected, r.samples, r.skipped_strings, r.seq),
            (0, 0, 0, 0, None)
        );
    } else {
        assert!(
            r.errors.len() <= o.max_errors,
            "{} errors listed, max_errors {}",
            r.errors.len(),
            o.max_errors
        );
        assert_eq!(
            r.errors.len(),
            (r.rejected as usize).min(o.max_errors),
            "errors listed vs rejected {}",
            r.rejected
        );
        for w in r.errors.windows(2) {
            assert!(w[0].line < w[1].line, "error lines not increasing: {:?}", r.errors);
        }
        let bound = match o.format {
            Format::LineProtocol => {
                let physical = data.split(|&c| c == b'\n').count() as u32;
                assert!(r.lines <= physical, "{} lines in {physical} physical lines", r.lines);
                physical
            }
            Format::Msgpack => r.lines,
        };
        for e in &r.errors {
            assert!(
                (1..=bound).contains(&e.line),
                "error line {} outside 1..={bound}",
                e.line
            );
        }
    }
    if o.format == Format::LineProtocol {
        assert_eq!(r.seq, None);
    }
    // Rejections by limit: part of `rejected`, only with that limit set, and
    // (when every error is listed) exactly the listed errors with its reason.
    assert!(
        r.rejected_line_bytes + r.rejected_tags <= r.rejected,
        "limit rejections exceed rejected: {r:?}"
    );
    if o.max_line_bytes.is_none() || o.format == Format::Msgpack {
        assert_eq!(r.rejected_line_bytes, 0, "line-bytes rejections without that limit");
    }
    if o.max_tags.is_none() {
        assert_eq!(r.rejected_tags, 0, "tags rejections without that limit");
    }
    if !envelope_error && r.errors.len() == r.rejected as usize {
        let by = |kind| {
            r.errors
                .iter()
                .filter(|e| ParseLimits::kind_of(&e.reason) == Some(kind))
                .count() as u32
        };
        assert_eq!(
            (r.rejected_line_bytes, r.rejected_tags),
            (by(LimitKind::LineBytes), by(LimitKind::Tags)),
            "limit rejection counts vs listed reasons"
        );
    }
    let hashes = match (output_of(o), data_of(r)) {
        (Output::None, OutputData::None) => None,
        (Output::Columns, OutputData::Columns(c)) => Some(check_columns(c, r.samples)),
        (Output::RemoteWrite(sh), OutputData::RemoteWrite(rw)) => Some(check_remote_write(sh, rw, r.samples)),
        (want, got) => panic!("asked for {want:?}, got {got:?}"),
    };
    // series_hashes: the distinct series of the batch, when asked for and there is an output.
    match (o.series_hashes, hashes) {
        (true, Some(mut want)) => {
            let got = r.series_hashes.as_ref().expect("series_hashes asked for");
            let mut sorted = got.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), got.len(), "series_hashes repeats a series: {got:?}");
            if let OutputData::Columns(c) = data_of(r) {
                // Same order as the distinct ids (first seen).
                assert_eq!(
                    le_i64(&c.distinct_ids).iter().map(|&i| i as u64).collect::<Vec<_>>(),
                    *got,
                    "series_hashes vs distinct_ids"
                );
            }
            want.sort_unstable();
            assert_eq!(sorted, want, "series_hashes vs the output's series");
        }
        _ => assert_eq!(
            r.series_hashes, None,
            "series_hashes without being asked for (or without output)"
        ),
    }
}

/// Labels in canonical order: `__name__` first (non-empty), then strictly
/// ascending names; no empty name or value.
fn check_labels(labels: &[(String, String)]) {
    assert!(!labels.is_empty(), "series without labels");
    assert_eq!(labels[0].0, "__name__", "first label is not __name__: {labels:?}");
    for (k, v) in labels {
        assert!(!k.is_empty() && !v.is_empty(), "empty label name or value: {labels:?}");
    }
    for w in labels[1..].windows(2) {
        assert!(w[0].0 < w[1].0, "labels not in strictly ascending order: {labels:?}");
    }
    assert!(
        labels[1..].iter().all(|(k, _)| k != "__name__"),
        "second __name__: {labels:?}"
    );
}

fn hash_of(labels: &[(String, String)]) -> u64 {
    series_hash(labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
}

/// Checks a remote-write output; returns the hashes of its distinct series.
fn check_remote_write(sh: Sharding, rw: &RemoteWriteOutput, samples: u64) -> Vec<u64> {
    let n = sh.shards() as usize;
    assert_eq!(
        (rw.shards.len(), rw.shard_samples.len(), rw.shard_series.len()),
        (n, n, n)
    );
    let reported: u64 = rw.shard_samples.iter().sum();
    assert_eq!(
        reported,
        samples * u64::from(sh.replication()),
        "sum of shard_samples vs samples × replication"
    );
    let mut copies: HashMap<Labels, (u32, Samples)> = HashMap::new();
    let mut decoded_total = 0u64;
    for (s, payload) in rw.shards.iter().enumerate() {
        let series = decode_remote_write(payload).unwrap_or_else(|e| panic!("shard {s} does not decode: {e}"));
        assert_eq!(
            series.len() as u64,
            rw.shard_series[s],
            "shard {s}: series decoded vs reported"
        );
        assert_eq!(
            payload.is_empty(),
            series.is_empty(),
            "shard {s}: payload without series or the reverse"
        );
        let got: u64 = series.iter().map(|x| x.samples.len() as u64).sum();
        assert_eq!(got, rw.shard_samples[s], "shard {s}: samples decoded vs reported");
        decoded_total += got;
        for x in series {
            check_labels(&x.labels);
            assert!(!x.samples.is_empty(), "series without samples: {:?}", x.labels);
            let h = hash_of(&x.labels);
            assert!(
                sh.shards_for(h).any(|t| t as usize == s),
                "series {:?} on shard {s}, not one of its shards",
                x.labels
            );
            let v: Vec<(i64, u64)> = x.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            let e = copies.entry(x.labels).or_insert((0, v.clone()));
            e.0 += 1;
            assert_eq!(e.1, v, "replicas of a series differ");
        }
    }
    assert_eq!(decoded_total, reported, "decoded samples vs sum of shard_samples");
    for (labels, (c, _)) in &copies {
        assert_eq!(*c, sh.replication(), "series {labels:?} in {c} shards");
    }
    copies.keys().map(|l| hash_of(l)).collect()
}

fn le_u32(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
fn le_i64(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Labels of each series definition of a columns output (checked).
fn column_defs(c: &ColumnsOutput) -> Vec<Vec<(String, String)>> {
    let offsets = le_u32(&c.series_def_offsets);
    assert_eq!(c.series_def_offsets.len(), offsets.len() * 4);
    let d = c.distinct_ids.len() / 8;
    assert_eq!(offsets.len(), d + 1, "{} offsets for {d} series", offsets.len());
    assert_eq!(offsets[0], 0);
    assert_eq!(*offsets.last().unwrap() as usize, c.series_defs.len());
    let mut defs = Vec::with_capacity(d);
    for w in offsets.windows(2) {
        assert!(w[0] < w[1], "offsets not increasing: {offsets:?}");
        let def = &c.series_defs[w[0] as usize..w[1] as usize];
        let v: serde_json::Value = serde_json::from_slice(def).unwrap_or_else(|e| {
            panic!(
                "series definition is not JSON ({e}): {:?}",
                String::from_utf8_lossy(def)
            )
        });
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("series definition is not an object: {v}"));
        let labels: Vec<(String, String)> = obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .unwrap_or_else(|| panic!("label {k} is not a string: {v}"))
                        .to_string(),
                )
            })
            .collect();
        defs.push(labels);
    }
    defs
}

/// Checks a columns output; returns the hashes of its distinct series.
fn check_columns(c: &ColumnsOutput, samples: u64) -> Vec<u64> {
    let n = samples as usize * 8;
    assert_eq!(
        (c.series_ids.len(), c.timestamps.len(), c.values.len()),
        (n, n, n),
        "column lengths for {samples} samples"
    );
    assert_eq!(c.distinct_ids.len() % 8, 0);
    let defs = column_defs(c);
    let ids = le_i64(&c.distinct_ids);
    let mut seen = HashSet::new();
    for (labels, &id) in defs.iter().zip(&ids) {
        check_labels(labels);
        assert_eq!(hash_of(labels) as i64, id, "series id is not the hash of {labels:?}");
        assert!(seen.insert(labels.clone()), "series {labels:?} defined twice");
    }
    let known: HashSet<i64> = ids.iter().copied().collect();
    let used: HashSet<i64> = le_i64(&c.series_ids).into_iter().collect();
    assert!(used.is_subset(&known), "sample of an undefined series");
    assert_eq!(used.len(), known.len(), "a defined series without samples");
    ids.iter().map(|&i| i as u64).collect()
}

/// The samples of an output by series.
pub fn summary(data: &OutputData) -> Summary {
    let mut out = Summary::new();
    match data {
        OutputData::None => {}
        OutputData::Columns(c) => {
            let by_id: HashMap<i64, Vec<(String, String)>> =
                le_i64(&c.distinct_ids).into_iter().zip(column_defs(c)).collect();
            let ids = le_i64(&c.series_ids);
            let ts = le_i64(&c.timestamps);
            let vals: Vec<u64> = c
                .values
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            for i in 0..ids.len() {
                out.entry(by_id[&ids[i]].clone()).or_default().push((ts[i], vals[i]));
            }
        }
        OutputData::RemoteWrite(rw) => {
            // Count each series once whatever the replication: take every shard and dedupe.
            for payload in &rw.shards {
                for x in decode_remote_write(payload).expect("checked") {
                    let v: Vec<(i64, u64)> = x.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
                    out.entry(x.labels).or_insert(v);
                }
            }
        }
    }
    out
}
