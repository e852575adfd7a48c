//! Mapping of points to samples (as VictoriaMetrics maps line protocol) and
//! the per-batch builder that produces the requested output in one pass.
//!
//! Mapping of one point:
//! * metric name `{measurement}_{field}`, or `{field}` when the measurement is empty;
//! * every tag becomes a label; a tag named `__name__` is dropped; when a tag
//!   name repeats, the last value wins;
//! * the batch's default labels (the `db` option, a device's labels) are
//!   added, each when the point has no tag of that name;
//! * numeric and boolean fields are samples; string fields are skipped.
//!
//! Devices repeat their measurement-and-tags section line after line, so the
//! builder caches, per batch, the raw bytes of that section (as the line
//! protocol parser hands them over) and, under it, each field's series:
//! a repeated line costs one hash of its raw key and a few short compares
//! instead of sorting tags, building and hashing a canonical label set per
//! field. `tests/series_cache.rs` checks that a batch maps exactly as its
//! lines do one by one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::remote_write::{encode_series, encode_series_labelled};
use crate::route::SeriesFilter;
use crate::series::{hash_canonical, push_json, push_label, NAME_LABEL, SEP};
use crate::shard::Sharding;
use crate::types::{FieldValue, PointRef};
use xxhash_rust::xxh3::xxh3_64;

/// An encoding a batch produces for one destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Counts only.
    None,
    /// Columns for the embedded store.
    Columns,
    /// Snappy-compressed remote-write payloads, one per shard.
    RemoteWrite(Sharding),
}

/// One output of a batch: an encoding, for the series a filter passes.
#[derive(Clone, Debug)]
pub struct Target {
    pub output: Output,
    /// The series this output takes; `None`: all of them.
    pub filter: Option<Arc<SeriesFilter>>,
}

impl Target {
    /// `output` for every series of the batch.
    pub fn all(output: Output) -> Target {
        Target { output, filter: None }
    }
}

/// Remote-write output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteWriteOutput {
    /// Samples of the series it holds (each once, whatever the replication).
    pub samples: u64,
    /// One snappy-compressed `WriteRequest` per shard (empty when the shard has no series).
    pub shards: Vec<Vec<u8>>,
    pub shard_samples: Vec<u64>,
    pub shard_series: Vec<u64>,
}

/// Column output, all little endian.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnsOutput {
    /// Samples it holds.
    pub samples: u64,
    /// i64 series id per sample.
    pub series_ids: Vec<u8>,
    /// i64 Unix-ms timestamp per sample.
    pub timestamps: Vec<u8>,
    /// f64 value per sample.
    pub values: Vec<u8>,
    /// i64 per distinct series, first-seen order.
    pub distinct_ids: Vec<u8>,
    /// JSON object per distinct series, concatenated.
    pub series_defs: Vec<u8>,
    /// u32 start offset of each definition plus the end offset.
    pub series_def_offsets: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OutputData {
    None,
    Columns(ColumnsOutput),
    RemoteWrite(RemoteWriteOutput),
}

pub(crate) fn offset_u32(n: usize) -> [u8; 4] {
    u32::try_from(n).expect("series definitions of one batch exceed 4 GiB").to_le_bytes()
}

/// An offset into the series-key arena (which holds at most the batch's input).
fn key_offset(n: usize) -> u32 {
    u32::try_from(n).expect("series keys of one batch exceed 4 GiB")
}

/// Hasher for keys that already are hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("IdHasher only hashes u64")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}
type IdMap = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

/// "No entry" in the linked lists below.
const NONE: u32 = u32::MAX;

/// Fields cached under one raw key. A lookup walks the key's list, so the
/// list is bounded: a line of 100k fields must not cost 100k² compares.
/// Fields past the bound are mapped uncached (as correct, only slower).
const MAX_CACHED_FIELDS: u32 = 64;

/// A raw line-protocol series key seen in the batch (bytes in `key_arena`).
struct KeyEntry {
    start: u32,
    end: u32,
    /// Head of its list of fields in `key_fields`.
    first: u32,
    /// Length of that list (at most [`MAX_CACHED_FIELDS`]).
    cached: u32,
}

/// A field under a raw key, and the series it maps to.
struct KeyField {
    start: u32,
    end: u32,
    series: u32,
    next: u32,
}

struct SeriesEntry {
    hash: u64,
    start: usize,
    end: usize,
    /// Its remote-write labels, when given encoded (a range of `labels_arena`).
    labels: Option<(u32, u32)>,
}

/// Maps points to samples and accumulates a batch. Reusable across batches.
#[derive(Default)]
pub struct BatchBuilder {
    // mapping scratch
    order: Vec<usize>,
    labels: Vec<u8>,
    canon: Vec<u8>,
    // raw series key cache
    key_map: IdMap,
    keys: Vec<KeyEntry>,
    key_fields: Vec<KeyField>,
    key_arena: Vec<u8>,
    // series table
    map: IdMap,
    series: Vec<SeriesEntry>,
    arena: Vec<u8>,
    labels_arena: Vec<u8>,
    // per-sample data: columns output, or remote-write staging
    sample_series: Vec<u32>,
    sample_ts: Vec<i64>,
    sample_val: Vec<f64>,
    // remote-write scratch
    counts: Vec<u32>,
    sorted: Vec<u32>,
    shard_lists: Vec<Vec<u32>>,
    raw: Vec<u8>,
    snappy: Option<Box<snap::raw::Encoder>>,
    compressed: Vec<u8>,
    // which series the output being finished takes (None: all)
    mask: Vec<bool>,
    // counters
    mapping: bool,
    samples: u64,
    skipped_strings: u64,
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::default()
    }

    /// Starts a batch; `map`: map points to series (else count samples only).
    pub fn begin(&mut self, map: bool) {
        self.mapping = map;
        self.key_map.clear();
        self.keys.clear();
        self.key_fields.clear();
        self.key_arena.clear();
        self.map.clear();
        self.series.clear();
        self.arena.clear();
        self.labels_arena.clear();
        self.sample_series.clear();
        self.sample_ts.clear();
        self.sample_val.clear();
        self.samples = 0;
        self.skipped_strings = 0;
    }

    /// Starts the next input of a batch with its own default labels (see
    /// [`Ingestor::ingest_many`](crate::Ingestor::ingest_many)): the raw-key
    /// cache maps a key *with the defaults in force*, so it is cleared; the
    /// series table stays, and a series two inputs share is one series.
    pub fn begin_part(&mut self) {
        self.key_map.clear();
        self.keys.clear();
        self.key_fields.clear();
        self.key_arena.clear();
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }
    pub fn skipped_strings(&self) -> u64 {
        self.skipped_strings
    }

    /// Maps one point into samples. `defaults`: labels for points without a
    /// tag of that name, sorted by name, unique.
    pub fn add_point(&mut self, p: &PointRef<'_>, defaults: &[(&[u8], &[u8])]) {
        if !self.mapping {
            for (_, v) in p.fields {
                match v {
                    FieldValue::Num(_) => self.samples += 1,
                    FieldValue::Str => self.skipped_strings += 1,
                }
            }
            return;
        }
        // Lines repeating a measurement-and-tags section seen earlier in the
        // batch reuse its series: no sorting, canonical encoding or hashing.
        let key = if p.series_key.is_empty() { None } else { self.key_entry(p.series_key) };
        let mut labels_built = false;
        for (i, (_, value)) in p.fields.iter().enumerate() {
            let FieldValue::Num(value) = *value else {
                self.skipped_strings += 1;
                continue;
            };
            let field = p.field_key(i);
            let cached = key.and_then(|k| self.cached_series(k, field));
            let idx = match cached {
                Some(idx) => idx,
                None => {
                    if !labels_built {
                        self.build_labels(p, defaults);
                        labels_built = true;
                    }
                    self.build_canonical(p.measurement(), field);
                    let idx = self.series_index(hash_canonical(&self.canon));
                    if let Some(k) = key {
                        self.cache_series(k, field, idx);
                    }
                    idx
                }
            };
            self.samples += 1;
            self.sample_series.push(idx);
            self.sample_ts.push(p.timestamp_ms);
            self.sample_val.push(value);
        }
    }

    /// The batch's series for canonical labels and their hash (typed
    /// readings, mapped by [`SeriesMapper`](crate::SeriesMapper)), and its
    /// remote-write labels when they are encoded already
    /// ([`encode_labels`](crate::remote_write::encode_labels)). Returns its
    /// index for [`add_sample`](Self::add_sample).
    pub fn add_canonical(&mut self, canonical: &[u8], hash: u64, remote_write_labels: Option<&[u8]>) -> u32 {
        if !self.mapping {
            return 0;
        }
        self.series_index_of(canonical, hash, remote_write_labels)
    }

    /// One sample of series `idx` (from [`add_canonical`](Self::add_canonical)).
    pub fn add_sample(&mut self, idx: u32, timestamp_ms: i64, value: f64) {
        self.samples += 1;
        if !self.mapping {
            return;
        }
        self.sample_series.push(idx);
        self.sample_ts.push(timestamp_ms);
        self.sample_val.push(value);
    }

    /// The label part of a point's canonical encoding (without `__name__`),
    /// shared by all its fields, into `self.labels`: its tags and the defaults
    /// it lacks, merged in name order.
    fn build_labels(&mut self, p: &PointRef<'_>, defaults: &[(&[u8], &[u8])]) {
        self.order.clear();
        self.order.extend((0..p.tags.len()).filter(|&i| p.tag(i).0 != NAME_LABEL));
        self.order.sort_by(|&a, &b| p.tag(a).0.cmp(p.tag(b).0));
        self.labels.clear();
        let mut d = 0;
        let n = self.order.len();
        for j in 0..n {
            let (k, v) = p.tag(self.order[j]);
            if j + 1 < n && p.tag(self.order[j + 1]).0 == k {
                continue; // repeated name: last wins (stable sort keeps input order)
            }
            while d < defaults.len() && defaults[d].0 < k {
                push_label(&mut self.labels, defaults[d].0, defaults[d].1);
                d += 1;
            }
            if d < defaults.len() && defaults[d].0 == k {
                d += 1; // the point's own tag wins
            }
            push_label(&mut self.labels, k, v);
        }
        for &(k, v) in &defaults[d..] {
            push_label(&mut self.labels, k, v);
        }
    }

    /// The canonical encoding of series `{measurement}_{field}` with `self.labels`, into `self.canon`.
    fn build_canonical(&mut self, measurement: &[u8], field: &[u8]) {
        self.canon.clear();
        self.canon.extend_from_slice(NAME_LABEL);
        self.canon.push(SEP);
        if !measurement.is_empty() {
            self.canon.extend_from_slice(measurement);
            self.canon.push(b'_');
        }
        self.canon.extend_from_slice(field);
        self.canon.push(SEP);
        self.canon.extend_from_slice(&self.labels);
    }

    /// The batch's entry for a raw series key, created when new; `None` when
    /// another key has the same 64-bit hash (that line is then mapped uncached).
    #[inline]
    fn key_entry(&mut self, raw: &[u8]) -> Option<u32> {
        let hash = xxh3_64(raw);
        if let Some(&k) = self.key_map.get(&hash) {
            let e = &self.keys[k as usize];
            return (&self.key_arena[e.start as usize..e.end as usize] == raw).then_some(k);
        }
        let k = self.keys.len() as u32;
        let start = key_offset(self.key_arena.len());
        self.key_arena.extend_from_slice(raw);
        self.keys.push(KeyEntry { start, end: key_offset(self.key_arena.len()), first: NONE, cached: 0 });
        self.key_map.insert(hash, k);
        Some(k)
    }

    /// The series of `field` under raw key `k`, when mapped before in this batch.
    #[inline]
    fn cached_series(&self, k: u32, field: &[u8]) -> Option<u32> {
        let mut at = self.keys[k as usize].first;
        while at != NONE {
            let f = &self.key_fields[at as usize];
            if &self.key_arena[f.start as usize..f.end as usize] == field {
                return Some(f.series);
            }
            at = f.next;
        }
        None
    }

    fn cache_series(&mut self, k: u32, field: &[u8], series: u32) {
        if self.keys[k as usize].cached >= MAX_CACHED_FIELDS {
            return;
        }
        let start = key_offset(self.key_arena.len());
        self.key_arena.extend_from_slice(field);
        let end = key_offset(self.key_arena.len());
        let entry = &mut self.keys[k as usize];
        self.key_fields.push(KeyField { start, end, series, next: entry.first });
        entry.first = (self.key_fields.len() - 1) as u32;
        entry.cached += 1;
    }

    /// The index of the series whose canonical encoding is `self.canon`.
    fn series_index(&mut self, hash: u64) -> u32 {
        let canon = std::mem::take(&mut self.canon);
        let idx = self.series_index_of(&canon, hash, None);
        self.canon = canon;
        idx
    }

    fn series_index_of(&mut self, canon: &[u8], hash: u64, labels: Option<&[u8]>) -> u32 {
        if let Some(&idx) = self.map.get(&hash) {
            let e = &self.series[idx as usize];
            if &self.arena[e.start..e.end] == canon {
                return idx;
            }
            // 64-bit collision: keep the series apart (not grouped further).
            if let Some(i) = self.series.iter().position(|e| &self.arena[e.start..e.end] == canon) {
                return i as u32;
            }
            return self.new_series(canon, hash, labels);
        }
        let idx = self.new_series(canon, hash, labels);
        self.map.insert(hash, idx);
        idx
    }

    fn new_series(&mut self, canon: &[u8], hash: u64, labels: Option<&[u8]>) -> u32 {
        let start = self.arena.len();
        self.arena.extend_from_slice(canon);
        let labels = labels.map(|l| {
            let from = key_offset(self.labels_arena.len());
            self.labels_arena.extend_from_slice(l);
            (from, key_offset(self.labels_arena.len()))
        });
        self.series.push(SeriesEntry { hash, start, end: self.arena.len(), labels });
        (self.series.len() - 1) as u32
    }

    /// The hash of each distinct series of the batch so far, first-seen
    /// order (two series whose hashes collide are two entries).
    pub fn series_hashes(&self) -> Vec<u64> {
        self.series.iter().map(|e| e.hash).collect()
    }

    /// Samples mapped so far (a position for [`series_hashes_since`](Self::series_hashes_since)).
    pub fn mapped_samples(&self) -> usize {
        self.sample_series.len()
    }

    /// Appends to `out` the hash of each distinct series of the samples
    /// mapped since position `from`, first-seen order; `seen` is scratch
    /// (one stamp per series) and `stamp` must differ from every earlier
    /// call's since [`begin`](Self::begin). Returns how many it appended.
    pub fn series_hashes_since(&self, from: usize, seen: &mut Vec<u32>, stamp: u32, out: &mut Vec<u64>) -> u32 {
        seen.resize(self.series.len(), u32::MAX);
        let mut n = 0;
        for &s in &self.sample_series[from..] {
            let slot = &mut seen[s as usize];
            if *slot != stamp {
                *slot = stamp;
                out.push(self.series[s as usize].hash);
                n += 1;
            }
        }
        n
    }

    fn canonical(&self, idx: u32) -> &[u8] {
        let e = &self.series[idx as usize];
        &self.arena[e.start..e.end]
    }

    /// The batch as mapped so far, for taps that read it after [`finish`](Self::finish)
    /// (which leaves it in place until the next [`begin`](Self::begin)).
    pub(crate) fn mapped(&self) -> Mapped<'_> {
        Mapped { builder: self }
    }

    /// Finishes the batch: one output per target, in their order, and the
    /// samples no target took (0 when a target takes all series).
    pub fn finish(&mut self, targets: &[Target]) -> (Vec<OutputData>, u64) {
        let data = targets
            .iter()
            .map(|t| {
                self.set_mask(t.filter.as_deref());
                match t.output {
                    Output::None => OutputData::None,
                    Output::Columns => OutputData::Columns(self.finish_columns()),
                    Output::RemoteWrite(sh) => OutputData::RemoteWrite(self.finish_remote_write(sh)),
                }
            })
            .collect();
        (data, self.unrouted(targets))
    }

    /// Which series pass `filter`, into `self.mask` (all, without one).
    fn set_mask(&mut self, filter: Option<&SeriesFilter>) {
        self.mask.clear();
        match filter {
            None => self.mask.resize(self.series.len(), true),
            Some(f) => {
                for e in &self.series {
                    self.mask.push(f.matches(&self.arena[e.start..e.end]));
                }
            }
        }
    }

    /// Samples of series that no target's filter passes.
    fn unrouted(&mut self, targets: &[Target]) -> u64 {
        if !self.mapping || targets.is_empty() || targets.iter().any(|t| t.filter.is_none()) {
            return if targets.is_empty() { self.samples } else { 0 };
        }
        let mut routed = vec![false; self.series.len()];
        for t in targets {
            let f = t.filter.as_deref().expect("checked above");
            for (idx, e) in self.series.iter().enumerate() {
                routed[idx] = routed[idx] || f.matches(&self.arena[e.start..e.end]);
            }
        }
        self.sample_series.iter().filter(|&&s| !routed[s as usize]).count() as u64
    }

    fn finish_columns(&mut self) -> ColumnsOutput {
        let n = self.sample_series.iter().filter(|&&s| self.mask[s as usize]).count();
        let mut c = ColumnsOutput {
            samples: n as u64,
            series_ids: Vec::with_capacity(n * 8),
            timestamps: Vec::with_capacity(n * 8),
            values: Vec::with_capacity(n * 8),
            distinct_ids: Vec::with_capacity(self.series.len() * 8),
            series_defs: Vec::with_capacity(self.arena.len() + self.series.len() * 16),
            series_def_offsets: Vec::with_capacity((self.series.len() + 1) * 4),
        };
        for i in 0..self.sample_series.len() {
            if !self.mask[self.sample_series[i] as usize] {
                continue;
            }
            let hash = self.series[self.sample_series[i] as usize].hash;
            c.series_ids.extend_from_slice(&(hash as i64).to_le_bytes());
            c.timestamps.extend_from_slice(&self.sample_ts[i].to_le_bytes());
            c.values.extend_from_slice(&self.sample_val[i].to_le_bytes());
        }
        for idx in 0..self.series.len() {
            if !self.mask[idx] {
                continue;
            }
            c.distinct_ids.extend_from_slice(&(self.series[idx].hash as i64).to_le_bytes());
            c.series_def_offsets.extend_from_slice(&offset_u32(c.series_defs.len()));
            push_json(&mut c.series_defs, self.canonical(idx as u32));
        }
        c.series_def_offsets.extend_from_slice(&offset_u32(c.series_defs.len()));
        c
    }

    fn finish_remote_write(&mut self, sh: Sharding) -> RemoteWriteOutput {
        let nshards = sh.shards() as usize;
        let nseries = self.series.len();
        // Group sample indexes by series (counting sort, input order kept).
        self.counts.clear();
        self.counts.resize(nseries + 1, 0);
        for &s in &self.sample_series {
            self.counts[s as usize + 1] += 1;
        }
        for i in 1..=nseries {
            self.counts[i] += self.counts[i - 1];
        }
        self.sorted.clear();
        self.sorted.resize(self.sample_series.len(), 0);
        {
            let mut next: Vec<u32> = self.counts[..nseries].to_vec();
            for (i, &s) in self.sample_series.iter().enumerate() {
                self.sorted[next[s as usize] as usize] = i as u32;
                next[s as usize] += 1;
            }
        }
        // Assign series to shards.
        self.shard_lists.resize_with(nshards.max(self.shard_lists.len()), Vec::new);
        for l in &mut self.shard_lists {
            l.clear();
        }
        for (idx, e) in self.series.iter().enumerate() {
            if !self.mask[idx] {
                continue;
            }
            for s in sh.shards_for(e.hash) {
                self.shard_lists[s as usize].push(idx as u32);
            }
        }
        let samples = self.sample_series.iter().filter(|&&s| self.mask[s as usize]).count() as u64;
        let mut out = RemoteWriteOutput {
            samples,
            shards: Vec::with_capacity(nshards),
            shard_samples: vec![0; nshards],
            shard_series: vec![0; nshards],
        };
        let encoder = self.snappy.get_or_insert_with(|| Box::new(snap::raw::Encoder::new()));
        for s in 0..nshards {
            self.raw.clear();
            for &idx in &self.shard_lists[s] {
                let e = &self.series[idx as usize];
                let (a, b) = (self.counts[idx as usize] as usize, self.counts[idx as usize + 1] as usize);
                let ids = &self.sorted[a..b];
                let (ts, vals) = (&self.sample_ts, &self.sample_val);
                let samples = ids.iter().map(|&i| (ts[i as usize], vals[i as usize]));
                match e.labels {
                    Some((from, to)) => encode_series_labelled(&mut self.raw, &self.labels_arena[from as usize..to as usize], samples),
                    None => encode_series(&mut self.raw, &self.arena[e.start..e.end], samples),
                }
                out.shard_samples[s] += (b - a) as u64;
                out.shard_series[s] += 1;
            }
            if self.raw.is_empty() {
                out.shards.push(Vec::new());
            } else {
                // Compress into reused scratch, then copy out exactly: cheaper
                // than a fresh zero-filled worst-case buffer per payload.
                self.compressed.resize(snap::raw::max_compress_len(self.raw.len()), 0);
                let n = encoder.compress(&self.raw, &mut self.compressed).expect("snappy input within limits");
                out.shards.push(self.compressed[..n].to_vec());
            }
        }
        out
    }
}

/// A read-only view of a [`BatchBuilder`]'s mapped samples and series
/// (empty when the batch had no output that maps, see [`BatchBuilder::begin`]).
pub(crate) struct Mapped<'a> {
    builder: &'a BatchBuilder,
}

impl<'a> Mapped<'a> {
    /// Per sample, in input order: the index of its series, its timestamp (Unix ms) and value.
    pub(crate) fn samples(&self) -> (&'a [u32], &'a [i64], &'a [f64]) {
        let b = self.builder;
        (&b.sample_series, &b.sample_ts, &b.sample_val)
    }
    /// Distinct series of the batch; indexes are first-seen order.
    pub(crate) fn series_count(&self) -> usize {
        self.builder.series.len()
    }
    /// The hash (series id bits) of series `idx`.
    pub(crate) fn series_hash(&self, idx: usize) -> u64 {
        self.builder.series[idx].hash
    }
    /// The canonical label bytes of series `idx`.
    pub(crate) fn canonical(&self, idx: usize) -> &'a [u8] {
        self.builder.canonical(idx as u32)
    }
}
