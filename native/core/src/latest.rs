//! The live tap: the latest sample of each distinct series of a batch, with
//! its id and label set, for live views (src/live). Read from the batch the
//! [`Ingestor`] just mapped, so it costs one pass over the batch's samples
//! and one JSON label set per distinct series, and nothing when not asked for.
//!
//! "Latest" is the sample with the greatest timestamp; among samples with the
//! same timestamp, the one later in the batch (as a store keeps the last
//! write). Series are in first-seen order, as in the columns output.
//!
//! The output is ONE packed buffer (see [`LatestOutput`]): a result that
//! crosses threads (a worker's) then costs one more buffer, not five.
//!
//! Label sets a consumer already has can be left out: [`KnownSeries`]
//! remembers, per consumer epoch, the ids whose labels this thread has
//! returned; [`Ingestor::latest_known`] returns an empty definition for
//! those. The consumer changes its epoch whenever it may have lost a label
//! set it was sent (forgot series, or a result never reached it), and every
//! thread then sends every label set again once.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use crate::batch::{offset_u32, IdHasher, Mapped};
use crate::series::push_json;
use crate::Ingestor;

/// Bytes before the arrays: u32 series count, u32 epoch.
pub const LATEST_HEADER_BYTES: usize = 8;

/// The latest sample per distinct series of a batch, packed in one buffer,
/// all little endian, every array 8-byte aligned when the buffer is:
///
/// ```text
/// u32 n                 series
/// u32 epoch             the KnownSeries epoch label sets were filtered with (0: none left out)
/// i64 ids[n]            series id (the series hash bits, as the columns' distinct_ids)
/// i64 timestamps[n]     Unix ms of the series' latest sample
/// f64 values[n]         value of that sample
/// u32 def_offsets[n+1]  start of each definition in defs, plus the end
/// u8  defs[]            JSON object per series (`__name__` first), as the columns'
///                       series_defs; EMPTY when left out (known), never empty otherwise
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LatestOutput {
    bytes: Vec<u8>,
}

impl Default for LatestOutput {
    fn default() -> Self {
        Self::build(&[], 0, |_, _| {})
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> [u8; 8] {
    b[at..at + 8].try_into().expect("8 bytes")
}

impl LatestOutput {
    /// Writes the header and the three fixed arrays for `rows` (id, ts, value),
    /// then `def(i, out)` appends series i's definition (or nothing) to `out`.
    fn build(rows: &[Row], epoch: u32, mut def: impl FnMut(&Row, &mut Vec<u8>)) -> Self {
        let n = rows.len();
        let fixed = LATEST_HEADER_BYTES + n * 24 + (n + 1) * 4;
        let mut bytes = Vec::with_capacity(fixed + n * 48);
        bytes.extend_from_slice(&offset_u32(n));
        bytes.extend_from_slice(&epoch.to_le_bytes());
        for r in rows {
            bytes.extend_from_slice(&r.id.to_le_bytes());
        }
        for r in rows {
            bytes.extend_from_slice(&r.ts.to_le_bytes());
        }
        for r in rows {
            bytes.extend_from_slice(&r.value.to_le_bytes());
        }
        // Each offset is filled in as its definition is appended after the offsets.
        let offsets_at = bytes.len();
        bytes.resize(fixed, 0);
        for i in 0..=n {
            let off = offset_u32(bytes.len() - fixed);
            bytes[offsets_at + i * 4..offsets_at + i * 4 + 4].copy_from_slice(&off);
            if let Some(r) = rows.get(i) {
                def(r, &mut bytes);
            }
        }
        LatestOutput { bytes }
    }

    /// The packed buffer (layout above).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// Number of series.
    pub fn len(&self) -> usize {
        u32_at(&self.bytes, 0) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The epoch label sets were filtered with (0: every label set is present).
    pub fn epoch(&self) -> u32 {
        u32_at(&self.bytes, 4)
    }
    pub fn id(&self, i: usize) -> i64 {
        i64::from_le_bytes(u64_at(&self.bytes, LATEST_HEADER_BYTES + i * 8))
    }
    pub fn timestamp(&self, i: usize) -> i64 {
        i64::from_le_bytes(u64_at(&self.bytes, LATEST_HEADER_BYTES + (self.len() + i) * 8))
    }
    pub fn value(&self, i: usize) -> f64 {
        f64::from_le_bytes(u64_at(&self.bytes, LATEST_HEADER_BYTES + (2 * self.len() + i) * 8))
    }
    /// Start of the definitions.
    fn defs_at(&self) -> usize {
        let n = self.len();
        LATEST_HEADER_BYTES + n * 24 + (n + 1) * 4
    }
    fn def_offset(&self, i: usize) -> usize {
        u32_at(&self.bytes, LATEST_HEADER_BYTES + self.len() * 24 + i * 4) as usize
    }
    /// Series i's label set as JSON, or None when left out as known.
    pub fn labels(&self, i: usize) -> Option<&[u8]> {
        let at = self.defs_at();
        let d = &self.bytes[at + self.def_offset(i)..at + self.def_offset(i + 1)];
        (!d.is_empty()).then_some(d)
    }
    /// All definitions, concatenated (as the columns' `series_defs` when none is left out).
    pub fn defs(&self) -> &[u8] {
        &self.bytes[self.defs_at()..]
    }
}

/// The series ids whose label sets this thread has returned under one
/// consumer epoch (see the module comment). Bounded: beyond
/// [`KnownSeries::MAX`] ids it starts over (label sets are sent again).
#[derive(Debug, Default)]
pub struct KnownSeries {
    epoch: u32,
    ids: HashSet<u64, BuildHasherDefault<IdHasher>>,
}

impl KnownSeries {
    pub const MAX: usize = 1 << 18;

    pub fn new() -> Self {
        Self::default()
    }
    /// Ids remembered under the current epoch.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A series of the batch (its index in the batch) and its latest sample.
struct Row {
    idx: usize,
    id: u64,
    ts: i64,
    value: f64,
}

/// The latest sample of each series, first-seen order.
fn latest_rows(m: &Mapped<'_>) -> Vec<Row> {
    let n = m.series_count();
    let (series, ts, vals) = m.samples();
    let mut best = vec![u32::MAX; n];
    for (i, &s) in series.iter().enumerate() {
        let b = &mut best[s as usize];
        if *b == u32::MAX || ts[i] >= ts[*b as usize] {
            *b = i as u32;
        }
    }
    // A series exists because a sample mapped to it: every series has one.
    best.iter()
        .enumerate()
        .filter(|(_, &b)| b != u32::MAX)
        .map(|(idx, &b)| Row { idx, id: m.series_hash(idx), ts: ts[b as usize], value: vals[b as usize] })
        .collect()
}

impl Ingestor {
    /// The latest sample of each distinct series of the batch the last
    /// [`Ingestor::ingest`] call processed, every label set included (empty
    /// before the first call, and for a batch with
    /// [`Output::None`](crate::Output::None), which maps no series). Call it
    /// right after `ingest`, before the next batch.
    pub fn latest(&self) -> LatestOutput {
        let m = self.batch.mapped();
        LatestOutput::build(&latest_rows(&m), 0, |r, out| push_json(out, m.canonical(r.idx)))
    }

    /// As [`Ingestor::latest`], but leaves out the label set of every series
    /// `known` has returned under `epoch` and remembers the rest as returned.
    /// A different epoch than the last call's forgets every id. Epoch 0 is
    /// "unfiltered": the same as [`Ingestor::latest`], `known` untouched.
    pub fn latest_known(&self, known: &mut KnownSeries, epoch: u32) -> LatestOutput {
        if epoch == 0 {
            return self.latest();
        }
        if known.epoch != epoch || known.ids.len() >= KnownSeries::MAX {
            known.ids.clear();
            known.epoch = epoch;
        }
        let m = self.batch.mapped();
        LatestOutput::build(&latest_rows(&m), epoch, |r, out| {
            if known.ids.insert(r.id) {
                push_json(out, m.canonical(r.idx));
            }
        })
    }
}
