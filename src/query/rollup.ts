// The per-series rollups of the embedded query engine, in plain JS over
// typed arrays: VictoriaMetrics 1.79.5's rules (docs/query.md) applied to one
// series' samples, sorted by time with duplicate timestamps removed.
//
// Times here are ms offsets from a base the caller chooses (the start of the
// data read), held in doubles: exact integers, so every comparison and
// difference is what it would be on the int64 timestamps.
//
// A missing point is NaN in the output arrays. That is also how a NaN value
// would end up (VictoriaMetrics returns no NaN points), so one test covers both.

/** VictoriaMetrics' maxSilenceInterval: the scrape interval assumed with fewer than two samples. */
export const MAX_SILENCE_MS = 300_000;

/** One series' samples: times ascending and distinct, the first `n` entries used. */
export interface SeriesSamples {
  ts: Float64Array;
  values: Float64Array;
  n: number;
}

/** The points of a query: t0, t0 + step, ... (points of them), as offsets. */
export interface Grid {
  t0: number;
  step: number;
  points: number;
}

/**
 * The scrape interval: the 0.6 quantile (Go's linear interpolation) of the
 * first 20 intervals; MAX_SILENCE_MS with fewer than two samples.
 */
export function scrapeInterval(s: SeriesSamples): number {
  if (s.n < 2) return MAX_SILENCE_MS;
  const k = Math.min(20, s.n - 1);
  const ds = new Float64Array(k);
  for (let i = 0; i < k; i++) ds[i] = s.ts[i + 1]! - s.ts[i]!;
  ds.sort();
  const rank = 0.6 * (k - 1);
  const lo = Math.floor(rank);
  const frac = rank - lo;
  const si = Math.trunc(ds[lo]! * (1 - frac) + ds[Math.min(k - 1, lo + 1)]! * frac);
  return si <= 0 ? MAX_SILENCE_MS : si;
}

/** maxPrevInterval: the scrape interval plus a margin (x5 up to 2 s ... +1/8 above 32 s). */
export function maxPrevInterval(si: number): number {
  if (si <= 2000) return si * 5;
  if (si <= 4000) return si * 3;
  if (si <= 8000) return si * 2;
  if (si <= 16_000) return si + Math.floor(si / 2);
  if (si <= 32_000) return si + Math.floor(si / 4);
  return si + Math.floor(si / 8);
}

/**
 * Counter resets removed, as VictoriaMetrics 1.79.5's removeCounterResets: a
 * drop adds the previous value to a running correction, a drop of less than
 * 1/8 of it (jitter) only the difference. Written to `out` (at least n
 * long), which is returned.
 */
export function removeCounterResets(s: SeriesSamples, out: Float64Array = new Float64Array(s.n)): Float64Array {
  let correction = 0;
  let prev = s.values[0]!;
  for (let i = 0; i < s.n; i++) {
    const v = s.values[i]!;
    const d = v - prev;
    if (d < 0) correction += -d * 8 < prev ? prev - v : prev;
    prev = v;
    out[i] = v + correction;
  }
  return out;
}

/** A plain selector: the last sample in (t - window, t], none if there is none. */
export function rollupLast(s: SeriesSamples, grid: Grid, window: number, out: Float64Array): void {
  const { ts, values, n } = s;
  let j = -1; // the last sample at or before t
  for (let k = 0; k < grid.points; k++) {
    const t = grid.t0 + k * grid.step;
    while (j + 1 < n && ts[j + 1]! <= t) j++;
    out[k] = j >= 0 && ts[j]! > t - window ? values[j]! : NaN;
  }
}

/**
 * rate() over `values` (counter resets removed): with prev the last sample
 * at or before t - window, used if it is younger than maxPrev and some sample
 * follows it, (last - prev) / (t_last - t_prev), or 0 if the window is empty;
 * else (last - first) / (t_last - t_first) over the window's samples, none
 * for fewer than two. Per second, no extrapolation.
 */
export function rollupRate(s: SeriesSamples, values: Float64Array, grid: Grid, window: number, maxPrev: number, out: Float64Array): void {
  const { ts, n } = s;
  if (n === 0) {
    out.fill(NaN);
    return;
  }
  const lastTs = ts[n - 1]!;
  let j = -1; // the last sample at or before t
  let p = -1; // the last sample at or before t - window
  for (let k = 0; k < grid.points; k++) {
    const t = grid.t0 + k * grid.step;
    const lo = t - window;
    while (j + 1 < n && ts[j + 1]! <= t) j++;
    while (p + 1 < n && ts[p + 1]! <= lo) p++;
    const inWindow = j >= 0 && ts[j]! > lo;
    let v = NaN;
    if (p >= 0 && ts[p]! > lo - maxPrev && lastTs > lo) {
      v = inWindow ? (values[j]! - values[p]!) / ((ts[j]! - ts[p]!) / 1000) : 0;
    } else if (inWindow && p + 1 < j) {
      // p + 1 is the first sample in the window; times are distinct, so p + 1 < j means two samples or more.
      v = (values[j]! - values[p + 1]!) / ((ts[j]! - ts[p + 1]!) / 1000);
    }
    out[k] = v;
  }
}
