//! The live tap: the latest sample of each distinct series of a batch, with
//! its id and label set, for live views (src/live). Read from the batch the
//! [`Ingestor`] just mapped, so it costs one pass over the batch's samples
//! and one JSON label set per distinct series, and nothing when not asked for.
//!
//! "Latest" is the sample with the greatest timestamp; among samples with the
//! same timestamp, the one later in the batch (as a store keeps the last
//! write). Series are in first-seen order, as in the columns output.

use crate::batch::{offset_u32, Mapped};
use crate::series::push_json;
use crate::Ingestor;

/// The latest sample per distinct series of a batch, all little endian.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatestOutput {
    /// i64 series id (the series hash bits, as the columns' `distinct_ids`) per series.
    pub ids: Vec<u8>,
    /// i64 Unix-ms timestamp of the series' latest sample.
    pub timestamps: Vec<u8>,
    /// f64 value of that sample.
    pub values: Vec<u8>,
    /// JSON object per series (`__name__` first), concatenated, as the columns' `series_defs`.
    pub defs: Vec<u8>,
    /// u32 start offset of each definition in `defs`, plus the end offset.
    pub def_offsets: Vec<u8>,
}

impl LatestOutput {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.ids.len() / 8
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

fn latest_of(m: &Mapped<'_>) -> LatestOutput {
    let n = m.series_count();
    let (series, ts, vals) = m.samples();
    // Index of the latest sample of each series (every series has at least one).
    let mut best = vec![u32::MAX; n];
    for (i, &s) in series.iter().enumerate() {
        let b = &mut best[s as usize];
        if *b == u32::MAX || ts[i] >= ts[*b as usize] {
            *b = i as u32;
        }
    }
    let mut out = LatestOutput {
        ids: Vec::with_capacity(n * 8),
        timestamps: Vec::with_capacity(n * 8),
        values: Vec::with_capacity(n * 8),
        defs: Vec::with_capacity(n * 48),
        def_offsets: Vec::with_capacity((n + 1) * 4),
    };
    for (idx, &b) in best.iter().enumerate() {
        if b == u32::MAX {
            continue; // not reached: a series exists because a sample mapped to it
        }
        out.ids.extend_from_slice(&(m.series_hash(idx) as i64).to_le_bytes());
        out.timestamps.extend_from_slice(&ts[b as usize].to_le_bytes());
        out.values.extend_from_slice(&vals[b as usize].to_le_bytes());
        out.def_offsets.extend_from_slice(&offset_u32(out.defs.len()));
        push_json(&mut out.defs, m.canonical(idx));
    }
    out.def_offsets.extend_from_slice(&offset_u32(out.defs.len()));
    out
}

impl Ingestor {
    /// The latest sample of each distinct series of the batch the last
    /// [`Ingestor::ingest`] call processed (empty before the first call, and
    /// for a batch with [`Output::None`](crate::Output::None), which maps no
    /// series). Call it right after `ingest`, before the next batch.
    pub fn latest(&self) -> LatestOutput {
        latest_of(&self.batch.mapped())
    }
}
