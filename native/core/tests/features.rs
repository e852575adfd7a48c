//! Streaming features against reference computations over the whole
//! history (the batch form of each), and the store's bounds.

use proptest::prelude::*;
use sentio_core::features::{day_of_week, hour_of_day, median_mad, robust_z, FeatureParams, FeatureStore, SeriesState, GAPS, READERS, RUN_ALPHA, WINDOW, Z_CAP};
use sentio_core::{Format, Ingestor, Output, Target};

mod common;

const T0: i64 = 1_764_547_200_000; // 2025-12-01 00:00:00 UTC, a Monday

fn feed(samples: &[(i64, f64)], p: &FeatureParams) -> SeriesState {
    let mut store = FeatureStore::new(*p, 10);
    let n = samples.len();
    let ids = vec![7u64; n];
    let ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
    let vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
    store.update(&ids, &ts, &vs);
    store.get(7).unwrap().clone()
}

/// EW weights of x_0..x_n (x_0 is the start): (1-a)^n for x_0, a(1-a)^(n-i) for x_i.
fn ew_reference(xs: &[f64], a: f64) -> (f64, f64) {
    let n = xs.len() - 1;
    let w: Vec<f64> = (0..=n).map(|i| if i == 0 { (1.0 - a).powi(n as i32) } else { a * (1.0 - a).powi((n - i) as i32) }).collect();
    let mean: f64 = w.iter().zip(xs).map(|(w, x)| w * x).sum();
    let var: f64 = w.iter().zip(xs).map(|(w, x)| w * (x - mean) * (x - mean)).sum();
    (mean, var)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn streaming_features_equal_their_batch_form(
        values in prop::collection::vec(prop_oneof![3 => -1000.0f64..1000.0, 1 => Just(5.0)], 1..120),
        gaps in prop::collection::vec(prop_oneof![5 => Just(1000i64), 1 => 1i64..60_000, 1 => Just(0i64)], 120),
        alpha in 0.01f64..0.5,
    ) {
        let mut t = T0;
        let samples: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, &v)| { if i > 0 { t += gaps[i]; } (t, v) }).collect();
        let p = FeatureParams { alpha, seasonal_alpha: 0.1 };
        let s = feed(&samples, &p);
        let (last_ts, last) = *samples.last().unwrap();
        let f = s.features(last_ts + 2500, 0).unwrap();
        let n = samples.len();
        prop_assert_eq!(f.count as usize, n);
        prop_assert_eq!(f.value, last);
        // EWMA mean and variance: the weighted sums of the whole history.
        let (mean, var) = ew_reference(&values, alpha);
        prop_assert!(close(f.ewma_mean, mean, 1e-9), "mean {} vs {}", f.ewma_mean, mean);
        prop_assert!(close(f.ewma_std * f.ewma_std, var, 1e-7), "var {} vs {}", f.ewma_std * f.ewma_std, var);
        // Median and MAD of the last WINDOW values; the z of the newest against the ones before it.
        let mut w: Vec<f64> = values[n.saturating_sub(WINDOW)..].to_vec();
        let (median, mad) = median_mad(&mut w.clone());
        prop_assert_eq!((f.median, f.mad), (median, mad));
        w.pop();
        let z = if w.len() < 3 { f64::NAN } else { let (m, d) = median_mad(&mut w); robust_z(last, m, d) };
        prop_assert!(close(f.robust_z, z, 0.0) || f.robust_z == z, "z {} vs {}", f.robust_z, z);
        // Rate: over the last positive gap.
        let rate = samples.windows(2).rfind(|p| p[1].0 > p[0].0).map_or(f64::NAN, |p| (p[1].1 - p[0].1) / ((p[1].0 - p[0].0) as f64 / 1000.0));
        prop_assert!(close(f.rate, rate, 1e-12), "rate {} vs {}", f.rate, rate);
        // Interval: the upper quartile of the last GAPS positive gaps.
        let mut g: Vec<i64> = samples.windows(2).map(|p| p[1].0 - p[0].0).filter(|&d| d > 0).collect();
        g = g[g.len().saturating_sub(GAPS)..].to_vec();
        g.sort();
        let interval = if g.len() < 3 { f64::NAN } else { g[(g.len() - 1).min(g.len() * 3 / 4)] as f64 };
        prop_assert!(close(f.interval_ms, interval, 0.0), "interval {} vs {}", f.interval_ms, interval);
        prop_assert_eq!(f.silence_ms, 2500.0);
        // Flat run: the samples at the end with the last value.
        let run = values.iter().rev().take_while(|&&v| v == last).count();
        prop_assert_eq!(f.flat_run as usize, run);
        prop_assert_eq!(f.flat_ms, (last_ts - samples[n - run].0) as f64);
        // Typical flat run: the EWMA of the lengths of the runs that ended.
        let mut runs = Vec::new();
        let mut len = 1;
        for w in values.windows(2) {
            if w[1] == w[0] { len += 1; } else { runs.push(len as f64); len = 1; }
        }
        let typical = runs.iter().skip(1).fold(runs.first().copied().unwrap_or(f64::NAN), |t, &r| t + RUN_ALPHA * (r - t));
        prop_assert!(close(f.typical_flat_run, typical, 1e-12), "typical run {} vs {}", f.typical_flat_run, typical);
        // Peak z: the largest |x - mean| / std over the samples from the third on, each against the averages before it.
        let mut peak: f64 = 0.0;
        for i in 2..n {
            let (m, v) = ew_reference(&values[..i], alpha);
            let d = (values[i] - m).abs();
            let z = if d < 1e-9 * (1.0 + m.abs()) { 0.0 } else if v > 0.0 { (d / v.sqrt()).min(Z_CAP) } else { Z_CAP };
            peak = peak.max(z);
        }
        prop_assert!(close(f.peak_z, peak, 1e-4) || (peak >= Z_CAP * 0.999 && f.peak_z >= Z_CAP * 0.999), "peak {} vs {}", f.peak_z, peak);
    }

    #[test]
    fn features_at_t_use_only_samples_up_to_t(values in prop::collection::vec(-100.0f64..100.0, 2..80), cut in 1usize..79) {
        let cut = cut.min(values.len() - 1);
        let samples: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, &v)| (T0 + i as i64 * 1000, v)).collect();
        let p = FeatureParams::default();
        let prefix = feed(&samples[..cut], &p);
        let mut whole = FeatureStore::new(p, 10);
        for &(t, v) in &samples[..cut] {
            whole.update(&[1], &[t], &[v]);
        }
        let at = samples[cut - 1].0;
        prop_assert_eq!(format!("{:?}", prefix.features(at, 0)), format!("{:?}", whole.get(1).unwrap().features(at, 0)));
    }
}

#[test]
fn the_seasonal_baseline_learns_a_daily_pattern_and_the_residual_is_what_departs_from_it() {
    // A daily pattern (10 + hour), hourly samples for three weeks, then a spike.
    let p = FeatureParams::default();
    let mut s = FeatureStore::new(p, 1);
    let hours = 21 * 24;
    for k in 0..hours {
        let t = T0 + k * 3_600_000;
        s.update(&[1], &[t], &[10.0 + hour_of_day(t) as f64]);
    }
    let f = s.get(1).unwrap().features(T0 + hours * 3_600_000, 0).unwrap();
    assert!(f.residual.abs() < 1e-3, "a learned pattern leaves no residual: {f:?}");
    let t = T0 + hours * 3_600_000 + 5 * 3_600_000; // 05:00, expected 15
    s.update(&[1], &[t], &[45.0]);
    let f = s.get(1).unwrap().features(t, 0).unwrap();
    assert!((f.residual - 30.0).abs() < 0.01, "the spike is the residual, against the baseline before it: {f:?}");
    // The window alone (the last 32 hours' values, 10 to 33) makes little of it: the baseline is what is seasonal.
    assert!(f.robust_z.abs() < 3.0, "{f:?}");
    assert_eq!((day_of_week(T0), day_of_week(T0 + 6 * 86_400_000), hour_of_day(T0 + 3_600_000 * 25)), (0, 6, 1));
    assert_eq!((day_of_week(-1), hour_of_day(-1)), (2, 23), "before 1970: Wednesday, 23:59");
}

#[test]
fn older_samples_are_skipped_and_counted_the_store_is_bounded_and_idle_series_go() {
    let mut s = FeatureStore::new(FeatureParams::default(), 2);
    let c = s.update(&[1, 1, 1, 2, 3], &[T0, T0 + 1000, T0 + 500, T0, T0], &[1.0, 2.0, 9.0, 1.0, 1.0]);
    assert_eq!((c.updated, c.out_of_order, c.untracked, c.new_series), (3, 1, 1, 2));
    assert_eq!(s.get(1).unwrap().features(T0 + 1000, 0).unwrap().value, 2.0);
    assert!(s.get(3).is_none());
    assert_eq!(s.evict_idle(T0 + 1), 1);
    assert!(s.get(2).is_none() && s.get(1).is_some());
    assert_eq!((s.len(), s.evicted), (1, 1));
    assert_eq!(s.update(&[3], &[T0], &[1.0]).new_series, 1, "room again after the eviction");
    assert_eq!(s.get(1).unwrap().last_ts(), T0 + 1000);
}

#[test]
fn a_series_state_takes_a_fixed_few_hundred_bytes() {
    let bytes = FeatureStore::bytes_per_series();
    println!("bytes per series: state {} , with id and index {bytes}", std::mem::size_of::<SeriesState>());
    assert!(bytes < 800, "{bytes} bytes per series");
}

#[test]
fn each_reader_sees_the_peak_since_its_own_last_read() {
    let mut s = FeatureStore::new(FeatureParams::default(), 1);
    let noise = |k: i64| if k % 2 == 0 { 10.0 } else { 11.0 };
    for k in 0..50 {
        s.update(&[1], &[T0 + k * 1000], &[noise(k)]);
    }
    let read = |s: &mut FeatureStore, reader: usize| {
        let mut peak = f64::NAN;
        s.read(T0 + 100_000, reader, |_, f| peak = f.peak_z);
        peak
    };
    for r in 0..READERS {
        read(&mut s, r);
    }
    // A spike, then ordinary samples again: the spike is no longer the newest value, its peak stays.
    s.update(&[1, 1, 1], &[T0 + 50_000, T0 + 51_000, T0 + 52_000], &[40.0, 10.0, 11.0]);
    let first = read(&mut s, 0);
    assert!(first > 20.0, "reader 0 sees the spike between its reads: {first}");
    assert!(read(&mut s, 0) == 0.0, "and only once: its peak starts anew");
    s.update(&[1], &[T0 + 53_000], &[10.0]);
    assert!(read(&mut s, 1) > 20.0, "reader 1 has not read since the spike: it still has it");
    assert!(read(&mut s, 0) < 3.0, "reader 0 sees only the ordinary sample since");
}

#[test]
fn the_ingestor_feeds_the_store_the_batch_it_mapped_with_each_series_labels() {
    let mut ing = Ingestor::new();
    let mut store = FeatureStore::new(FeatureParams::default(), 2);
    let mut o = common::opts(Format::LineProtocol, None, None);
    o.outputs = vec![Target::all(Output::Columns)];
    ing.ingest(b"pump,site=a temp=1,rpm=5,flow=7 1764547200000000000\npump,site=a temp=2 1764547201000000000\n", &o);
    let c = ing.update_features(&mut store);
    assert_eq!((c.updated, c.new_series, c.untracked), (3, 2, 1), "two series tracked, the third one's sample counted: {c:?}");
    let mut ids = Vec::new();
    store.read(T0 + 2000, 0, |id, f| ids.push((id, f.count, f.value)));
    ids.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(store.labels(ids[1].0).unwrap(), b"__name__\xffpump_temp\xffsite\xffa\xff", "canonical labels kept");
    assert_eq!((ids[1].1, ids[1].2), (2.0, 2.0));
    assert_eq!(store.label_bytes(), store.labels(ids[0].0).unwrap().len() + store.labels(ids[1].0).unwrap().len());
    assert_eq!(store.totals().untracked, 1);
    assert_eq!(store.evict_idle(T0 + 10_000), 2);
    assert_eq!(store.label_bytes(), 0, "evicted series' labels are freed");
    // A batch that maps nothing feeds nothing.
    o.outputs = vec![Target::all(Output::None)];
    ing.ingest(b"pump,site=a temp=3\n", &o);
    assert_eq!(ing.update_features(&mut store), Default::default());
}
