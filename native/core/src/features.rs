//! Streaming features of a series, for the anomaly engine: updated sample by
//! sample as batches pass (no second read of the data), in a fixed amount of
//! memory per series ([`SeriesState`], `size_of` bytes, no heap).
//!
//! Per series:
//! * EWMA mean and variance (West's incremental form, weight `alpha`);
//! * a window of the last [`WINDOW`] values: their median and MAD, and the
//!   robust z-score of the newest value against the values before it;
//! * rate of change (per second) between the last two samples;
//! * seasonal baselines: an EWMA per hour of the day (UTC) and, on top of it,
//!   an EWMA of what is left per day of the week; the residual of each
//!   sample against the baseline as it stood before that sample;
//! * the reporting interval learned from the last [`GAPS`] gaps (their upper
//!   quartile, as the connectors' staleness watch learns it) and the time
//!   since the last sample against it;
//! * the flat-line run: how many samples in a row, and for how long, the value
//!   has not changed (a stuck sensor), and the typical length of the runs
//!   that ended (an EWMA, weight [`RUN_ALPHA`]): a coarse sensor's runs are
//!   long, a noisy one's 1;
//! * the peak EWMA z-score (|value − mean| / std, against the averages before
//!   the value) of the samples since a reader's previous read: a reader that
//!   scores every few seconds still sees a one-sample spike between its
//!   reads. Up to [`READERS`] readers keep peaks of their own.
//!
//! Every feature at time t uses only samples up to t (causal). Samples older
//! than a series' newest are counted and skipped: out-of-order data would
//! rewrite the past the features describe.
//!
//! [`FeatureStore`] keeps the states of many series by id (the series hash),
//! with their canonical labels, bounded: at most `max_series`, idle ones
//! evicted, the rest counted. [`Ingestor::update_features`] feeds it the
//! batch the ingestor just mapped.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::batch::IdHasher;
use crate::Ingestor;

/// Values in the robust window.
pub const WINDOW: usize = 32;
/// Gaps the reporting interval is learned from.
pub const GAPS: usize = 16;
/// Samples a seasonal bucket needs before it is the baseline.
pub const MIN_BUCKET_SAMPLES: u16 = 3;
/// Weight of a finished flat run in the typical run length.
pub const RUN_ALPHA: f64 = 0.1;
/// Readers with a peak z-score of their own.
pub const READERS: usize = 4;
/// The peak z-score's cap (a change after a flat run has no finite z-score).
pub const Z_CAP: f64 = 1000.0;
const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

/// How fast the averages forget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureParams {
    /// Weight of a new sample in the EWMA mean and variance.
    pub alpha: f64,
    /// Weight of a new sample in its seasonal bucket.
    pub seasonal_alpha: f64,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams { alpha: 0.05, seasonal_alpha: 0.1 }
    }
}

/// The names of [`Features::vector`]'s entries, in order: a model's input schema names these.
pub const FEATURE_NAMES: [&str; 17] = [
    "value",
    "ewma_mean",
    "ewma_std",
    "median",
    "mad",
    "robust_z",
    "rate",
    "seasonal_baseline",
    "residual",
    "interval_ms",
    "silence_ms",
    "silence_ratio",
    "flat_run",
    "flat_ms",
    "count",
    "peak_z",
    "typical_flat_run",
];

/// A series' features at one time (see the module doc). NaN where a feature
/// is not known yet (too few samples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Features {
    pub value: f64,
    pub ewma_mean: f64,
    pub ewma_std: f64,
    pub median: f64,
    pub mad: f64,
    /// (value − median) / (1.4826 · MAD) of the window before the value; ±inf when MAD is 0 and the value differs, 0 when equal.
    pub robust_z: f64,
    pub rate: f64,
    pub seasonal_baseline: f64,
    /// value − the seasonal baseline as it stood before the value.
    pub residual: f64,
    pub interval_ms: f64,
    /// Since the last sample, at the time asked.
    pub silence_ms: f64,
    /// silence_ms / interval_ms.
    pub silence_ratio: f64,
    /// Samples in a row with the same value (1: the last one changed).
    pub flat_run: f64,
    /// From the first to the last sample of that run.
    pub flat_ms: f64,
    pub count: f64,
    /// The largest EWMA z-score of the samples since the reader's previous read
    /// (0 for none; at most [`Z_CAP`]; samples before the third are not scored).
    pub peak_z: f64,
    /// EWMA of the lengths (samples) of the flat runs that ended; NaN before one did.
    pub typical_flat_run: f64,
}

impl Features {
    /// The features in [`FEATURE_NAMES`] order.
    pub fn vector(&self) -> [f64; 17] {
        [
            self.value,
            self.ewma_mean,
            self.ewma_std,
            self.median,
            self.mad,
            self.robust_z,
            self.rate,
            self.seasonal_baseline,
            self.residual,
            self.interval_ms,
            self.silence_ms,
            self.silence_ratio,
            self.flat_run,
            self.flat_ms,
            self.count,
            self.peak_z,
            self.typical_flat_run,
        ]
    }
}

/// One series' state. Plain data, no heap: `size_of::<SeriesState>()` is all it takes.
#[derive(Clone, Debug)]
pub struct SeriesState {
    count: u64,
    last_ts: i64,
    last_value: f64,
    mean: f64,
    var: f64,
    rate: f64,
    residual: f64,
    /// Ring of the last WINDOW values; `count` says how many are filled.
    window: [f64; WINDOW],
    /// Ring of the last GAPS gaps (ms), `gaps_n` of them so far.
    gaps: [u32; GAPS],
    gaps_n: u32,
    flat_run: u32,
    flat_since_ts: i64,
    typical_run: f64,
    /// Per hour of the day (UTC): EWMA of the values, and samples seen (saturating).
    hour_mean: [f64; 24],
    hour_n: [u16; 24],
    /// Per day of the week (0: Monday): EWMA of what the hour's baseline left.
    day_offset: [f64; 7],
    day_n: [u16; 7],
    /// Per reader: the peak z-score since its last read.
    peaks: [f32; READERS],
}

impl SeriesState {
    /// A series with no sample yet.
    fn new() -> SeriesState {
        SeriesState {
            count: 0,
            last_ts: 0,
            last_value: f64::NAN,
            mean: f64::NAN,
            var: 0.0,
            rate: f64::NAN,
            residual: f64::NAN,
            window: [0.0; WINDOW],
            gaps: [0; GAPS],
            gaps_n: 0,
            flat_run: 0,
            flat_since_ts: 0,
            typical_run: f64::NAN,
            hour_mean: [0.0; 24],
            hour_n: [0; 24],
            day_offset: [0.0; 7],
            day_n: [0; 7],
            peaks: [0.0; READERS],
        }
    }

    /// Takes one sample; false (and nothing changes) when it is older than the newest taken.
    pub fn update(&mut self, ts: i64, value: f64, p: &FeatureParams) -> bool {
        if self.count > 0 && ts < self.last_ts {
            return false;
        }
        if self.count == 0 {
            self.mean = value;
        } else {
            if self.count >= 2 {
                let z = ewma_z(value, self.mean, self.var) as f32;
                for p in &mut self.peaks {
                    *p = p.max(z);
                }
            }
            let dt = ts - self.last_ts;
            if dt > 0 {
                self.rate = (value - self.last_value) / (dt as f64 / 1000.0);
                self.gaps[self.gaps_n as usize % GAPS] = u32::try_from(dt).unwrap_or(u32::MAX);
                self.gaps_n = self.gaps_n.saturating_add(1);
            }
            // West's incremental exponentially weighted mean and variance.
            let diff = value - self.mean;
            let incr = p.alpha * diff;
            self.mean += incr;
            self.var = (1.0 - p.alpha) * (self.var + diff * incr);
        }
        if self.count > 0 && same(value, self.last_value) {
            self.flat_run = self.flat_run.saturating_add(1);
        } else {
            if self.count > 0 {
                let run = f64::from(self.flat_run);
                self.typical_run = if self.typical_run.is_nan() { run } else { self.typical_run + RUN_ALPHA * (run - self.typical_run) };
            }
            self.flat_run = 1;
            self.flat_since_ts = ts;
        }
        // The residual against the baseline before this sample, then the baseline learns it.
        let (h, d) = (hour_of_day(ts), day_of_week(ts));
        let hour_known = self.hour_n[h] >= MIN_BUCKET_SAMPLES;
        self.residual = value - self.baseline(h, d);
        let hour_base = if hour_known { self.hour_mean[h] } else { value };
        seasonal_step(&mut self.hour_mean[h], &mut self.hour_n[h], value, p.seasonal_alpha);
        seasonal_step(&mut self.day_offset[d], &mut self.day_n[d], value - hour_base, p.seasonal_alpha);
        self.window[(self.count % WINDOW as u64) as usize] = value;
        self.count += 1;
        self.last_ts = ts;
        self.last_value = value;
        true
    }

    /// The seasonal baseline of hour `h`, day `d`: the hour's mean (the EWMA
    /// mean while the hour has too few samples) plus the day's offset (once it has enough).
    fn baseline(&self, h: usize, d: usize) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let hour = if self.hour_n[h] >= MIN_BUCKET_SAMPLES { self.hour_mean[h] } else { self.mean };
        let day = if self.day_n[d] >= MIN_BUCKET_SAMPLES { self.day_offset[d] } else { 0.0 };
        hour + day
    }

    /// The features as of `now_ms` (for the silence), with the peak z-score of
    /// `reader` (< [`READERS`]), or None before the first sample.
    pub fn features(&self, now_ms: i64, reader: usize) -> Option<Features> {
        if self.count == 0 {
            return None;
        }
        let n = (self.count as usize).min(WINDOW);
        let mut w = [0.0; WINDOW];
        w[..n].copy_from_slice(&self.window[..n]);
        let (median, mad) = median_mad(&mut w[..n]);
        // The newest value against the window before it.
        let newest = ((self.count - 1) % WINDOW as u64) as usize;
        let mut before = [0.0; WINDOW];
        let mut k = 0;
        for (i, &v) in self.window[..n].iter().enumerate() {
            if i != newest {
                before[k] = v;
                k += 1;
            }
        }
        let robust_z = if k < 3 {
            f64::NAN
        } else {
            let (m, d) = median_mad(&mut before[..k]);
            robust_z(self.last_value, m, d)
        };
        let interval = self.interval_ms();
        let silence = (now_ms - self.last_ts).max(0) as f64;
        Some(Features {
            value: self.last_value,
            ewma_mean: self.mean,
            ewma_std: self.var.sqrt(),
            median,
            mad,
            robust_z,
            rate: self.rate,
            seasonal_baseline: self.baseline(hour_of_day(self.last_ts), day_of_week(self.last_ts)),
            residual: self.residual,
            interval_ms: interval,
            silence_ms: silence,
            silence_ratio: silence / interval,
            flat_run: f64::from(self.flat_run),
            flat_ms: (self.last_ts - self.flat_since_ts) as f64,
            count: self.count as f64,
            peak_z: f64::from(self.peaks[reader]),
            typical_flat_run: self.typical_run,
        })
    }

    /// Starts `reader`'s peak anew (after it read it).
    pub fn clear_peak(&mut self, reader: usize) {
        self.peaks[reader] = 0.0;
    }

    /// The upper quartile of the last gaps (ms); NaN before 3 gaps.
    pub fn interval_ms(&self) -> f64 {
        let k = (self.gaps_n as usize).min(GAPS);
        if k < 3 {
            return f64::NAN;
        }
        let mut g = self.gaps;
        let g = &mut g[..k];
        g.sort_unstable();
        f64::from(g[(k - 1).min(k * 3 / 4)])
    }

    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }
}

/// |x − mean| / std, capped at [`Z_CAP`]; for a flat history (std 0), 0 when x equals the mean, else the cap.
fn ewma_z(x: f64, mean: f64, var: f64) -> f64 {
    let d = (x - mean).abs();
    if d == 0.0 || d.is_nan() {
        return 0.0;
    }
    let std = var.sqrt();
    if std > 0.0 {
        (d / std).min(Z_CAP)
    } else {
        Z_CAP
    }
}

/// Equal for a flat line: the same value, or both NaN.
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn seasonal_step(mean: &mut f64, n: &mut u16, value: f64, alpha: f64) {
    if *n == 0 {
        *mean = value;
    } else {
        *mean += alpha * (value - *mean);
    }
    *n = n.saturating_add(1);
}

/// Hour of the day (UTC) of a Unix-ms time.
pub fn hour_of_day(ts: i64) -> usize {
    (ts.rem_euclid(MS_PER_DAY) / MS_PER_HOUR) as usize
}

/// Day of the week of a Unix-ms time, 0 for Monday (1970-01-01 was a Thursday).
pub fn day_of_week(ts: i64) -> usize {
    (ts.div_euclid(MS_PER_DAY) + 3).rem_euclid(7) as usize
}

/// Median and median absolute deviation of `v` (reordered); NaN for none.
pub fn median_mad(v: &mut [f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = median(v);
    for x in v.iter_mut() {
        *x = (*x - m).abs();
    }
    (m, median(v))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// (x − median) / (1.4826 · MAD): a z-score for normal data; ±inf when MAD is 0 and x differs, 0 when it does not.
pub fn robust_z(x: f64, median: f64, mad: f64) -> f64 {
    let d = x - median;
    if d == 0.0 {
        return 0.0;
    }
    d / (1.482_602_218_505_602 * mad)
}

/// What a [`FeatureStore`] update did (or all its updates did, [`FeatureStore::totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateCounts {
    /// Samples taken into a series' state.
    pub updated: u64,
    /// Samples older than their series' newest, skipped.
    pub out_of_order: u64,
    /// Samples of series not tracked (the store full).
    pub untracked: u64,
    /// Series that got a state.
    pub new_series: u64,
}

impl UpdateCounts {
    fn add(&mut self, o: &UpdateCounts) {
        self.updated += o.updated;
        self.out_of_order += o.out_of_order;
        self.untracked += o.untracked;
        self.new_series += o.new_series;
    }
}

/// "Not tracked" in a batch's series-to-slot map.
const UNTRACKED: u32 = u32::MAX;

/// The feature states of many series, by id (the series hash), with their
/// canonical labels (empty when fed by id alone), bounded.
pub struct FeatureStore {
    params: FeatureParams,
    max_series: usize,
    index: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    ids: Vec<u64>,
    states: Vec<SeriesState>,
    labels: Vec<Box<[u8]>>,
    label_bytes: usize,
    totals: UpdateCounts,
    /// Scratch: a batch's series, to their slots.
    slots: Vec<u32>,
    /// Evicted since the store was made.
    pub evicted: u64,
}

impl FeatureStore {
    pub fn new(params: FeatureParams, max_series: usize) -> FeatureStore {
        FeatureStore {
            params,
            max_series,
            index: HashMap::default(),
            ids: Vec::new(),
            states: Vec::new(),
            labels: Vec::new(),
            label_bytes: 0,
            totals: UpdateCounts::default(),
            slots: Vec::new(),
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Bytes a tracked series takes besides its labels: its state, its id, its
    /// labels' pointer and its index entry (an estimate of the hash table's share).
    pub const fn bytes_per_series() -> usize {
        std::mem::size_of::<SeriesState>() + std::mem::size_of::<u64>() + std::mem::size_of::<Box<[u8]>>() + 2 * (std::mem::size_of::<u64>() + std::mem::size_of::<u32>())
    }

    /// Bytes of the tracked series' canonical labels.
    pub fn label_bytes(&self) -> usize {
        self.label_bytes
    }

    /// Everything the updates did since the store was made.
    pub fn totals(&self) -> UpdateCounts {
        self.totals
    }

    /// The slot of series `id`, made (with `labels`) when new and there is room.
    fn slot(&mut self, id: u64, labels: &[u8], c: &mut UpdateCounts) -> Option<usize> {
        if let Some(&i) = self.index.get(&id) {
            return Some(i as usize);
        }
        if self.states.len() >= self.max_series {
            return None;
        }
        self.index.insert(id, self.states.len() as u32);
        self.ids.push(id);
        self.states.push(SeriesState::new());
        self.labels.push(labels.into());
        self.label_bytes += labels.len();
        c.new_series += 1;
        Some(self.states.len() - 1)
    }

    fn take(&mut self, slot: Option<usize>, ts: i64, v: f64, c: &mut UpdateCounts) {
        match slot {
            None => c.untracked += 1,
            Some(i) if self.states[i].update(ts, v, &self.params) => c.updated += 1,
            Some(_) => c.out_of_order += 1,
        }
    }

    /// Takes samples (series id, Unix ms, value), in their order; a new series gets no labels.
    pub fn update(&mut self, ids: &[u64], timestamps: &[i64], values: &[f64]) -> UpdateCounts {
        let mut c = UpdateCounts::default();
        for ((&id, &ts), &v) in ids.iter().zip(timestamps).zip(values) {
            let slot = self.slot(id, &[], &mut c);
            self.take(slot, ts, v, &mut c);
        }
        self.totals.add(&c);
        c
    }

    /// Takes a batch's samples: `series(i)` gives batch series i's id and
    /// canonical labels (looked up once per series, not per sample), and
    /// each sample names its batch series.
    pub fn update_series<'a>(&mut self, n_series: usize, series: impl Fn(usize) -> (u64, &'a [u8]), sample_series: &[u32], timestamps: &[i64], values: &[f64]) -> UpdateCounts {
        let mut c = UpdateCounts::default();
        let mut slots = std::mem::take(&mut self.slots);
        slots.clear();
        slots.extend((0..n_series).map(|i| {
            let (id, labels) = series(i);
            self.slot(id, labels, &mut c).map_or(UNTRACKED, |s| s as u32)
        }));
        for ((&s, &ts), &v) in sample_series.iter().zip(timestamps).zip(values) {
            let slot = slots[s as usize];
            self.take((slot != UNTRACKED).then_some(slot as usize), ts, v, &mut c);
        }
        self.slots = slots;
        self.totals.add(&c);
        c
    }

    pub fn get(&self, id: u64) -> Option<&SeriesState> {
        self.index.get(&id).map(|&i| &self.states[i as usize])
    }

    /// The canonical labels series `id` was first seen with (empty when fed by id).
    pub fn labels(&self, id: u64) -> Option<&[u8]> {
        self.index.get(&id).map(|&i| &*self.labels[i as usize])
    }

    /// Every tracked series' id and state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &SeriesState)> {
        self.ids.iter().copied().zip(&self.states)
    }

    /// Every tracked series' features as of `now_ms`, for `reader`, whose
    /// peaks start anew: `each(id, features)`, in no particular order.
    pub fn read(&mut self, now_ms: i64, reader: usize, mut each: impl FnMut(u64, &Features)) {
        for (id, s) in self.ids.iter().zip(&mut self.states) {
            if let Some(f) = s.features(now_ms, reader) {
                s.clear_peak(reader);
                each(*id, &f);
            }
        }
    }

    /// Forgets the series whose newest sample is older than `before_ms`; returns how many.
    pub fn evict_idle(&mut self, before_ms: i64) -> usize {
        let mut i = 0;
        let mut n = 0;
        while i < self.states.len() {
            if self.states[i].last_ts >= before_ms {
                i += 1;
                continue;
            }
            let id = self.ids.swap_remove(i);
            self.states.swap_remove(i);
            self.label_bytes -= self.labels.swap_remove(i).len();
            self.index.remove(&id);
            if i < self.ids.len() {
                self.index.insert(self.ids[i], i as u32);
            }
            n += 1;
        }
        self.evicted += n as u64;
        n
    }
}

impl Ingestor {
    /// Feeds `store` the samples of the batch the last ingest call mapped
    /// (nothing for a batch whose outputs map no series). Call it right after
    /// that call, before the next batch.
    pub fn update_features(&self, store: &mut FeatureStore) -> UpdateCounts {
        let m = self.batch.mapped();
        let (series, ts, vals) = m.samples();
        store.update_series(m.series_count(), |i| (m.series_hash(i), m.canonical(i)), series, ts, vals)
    }
}
