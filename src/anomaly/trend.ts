// Robust trends for predictive maintenance: a Theil–Sen fit of one series
// (slope = median of the pairwise slopes, level = median of the residuals,
// so a few outliers move neither), the slope's confidence interval by Sen's
// method, and the time until the fitted line crosses a threshold.
//
// - Samples: `ts` in unix seconds, ascending; values that are not finite
//   (NaN, ±Inf: stale markers, gaps) are skipped. Pairs of equal times carry
//   no slope and are left out. Fewer than 3 distinct times: no fit.
// - The fit is centred on the newest sample's time (`atS`): `level` is the
//   fitted value there, so large unix times lose no precision.
// - CI (Sen 1968, Gilbert 1987 §16.5): C = z·sqrt(Var S), Var S Kendall's
//   with ties in times and in values; the slopes of ranks (N − C)/2 and
//   (N + C)/2 + 1 of the N ordered pairwise slopes, linearly interpolated
//   between ranks. Normal approximation: with few samples it is rough.
// - Cost: exact (all pairs) up to EXACT_MAX_POINTS points (~500 k pairs, one
//   Float64Array sort, ~90 ms). Beyond, SAMPLED_PAIRS pairs are drawn
//   deterministically (seeded LCG, so the same data gives the same answer)
//   and the CI ranks are scaled to the sample; the estimate is then the
//   median of a uniform sample of the pairwise slopes (its own sampling error
//   is far below the CI's width at such n).
// - timeToThreshold: seconds from `atS` to the crossing when the line moves
//   towards the threshold; `soonest`/`latest` from the CI's bounds (`latest`
//   is Infinity when the CI includes a flat or opposite trend). Optional
//   direction (up/down) for limits: then a trend moving away gives null.

/** Points up to which every pair is used. */
export const EXACT_MAX_POINTS = 1000;
/** Pairs drawn beyond EXACT_MAX_POINTS. */
export const SAMPLED_PAIRS = 500_000;

export interface TrendFit {
  /** Units per second. */
  slope: number;
  /** Confidence interval of the slope (units per second) at `confidence`. */
  slopeLow: number;
  slopeHigh: number;
  /** The fitted value at `atS` (the newest sample's time), unix seconds. */
  level: number;
  atS: number;
  /** Samples used (finite values). */
  n: number;
  confidence: number;
  /** Pairwise slopes the estimate is the median of (all pairs of distinct times, or the sample). */
  pairs: number;
  /** True when the pairs were sampled (n > EXACT_MAX_POINTS). */
  sampled: boolean;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Median of an ascending array. */
function medianSorted(a: Float64Array): number {
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/** Value at 1-based rank r of an ascending array, interpolated between ranks, clamped to its ends. */
function atRank(a: Float64Array, r: number): number {
  const i = Math.min(Math.max(r - 1, 0), a.length - 1);
  const f = Math.floor(i);
  const c = Math.min(f + 1, a.length - 1);
  return a[f]! + (a[c]! - a[f]!) * (i - f);
}

/** Σ t(t−1)(2t+5) over the groups of equal values in `a` (sorted copy). */
function tieTerm(a: Float64Array): number {
  const s = Float64Array.from(a).sort();
  let sum = 0;
  let run = 1;
  for (let i = 1; i <= s.length; i++) {
    if (i < s.length && s[i] === s[i - 1]) run++;
    else {
      if (run > 1) sum += run * (run - 1) * (2 * run + 5);
      run = 1;
    }
  }
  return sum;
}

/** Theil–Sen fit of samples (ts: unix seconds ascending, values), the first n used; undefined with fewer than 3 distinct times. */
export function fitTrend(ts: ArrayLike<number>, values: ArrayLike<number>, n?: number, confidence = 0.95): TrendFit | undefined {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`fitTrend: confidence must be in (0, 1), got ${confidence}`);
  const limit = Math.min(n ?? ts.length, ts.length, values.length);
  const t = new Float64Array(limit);
  const y = new Float64Array(limit);
  let m = 0;
  let distinct = 0;
  for (let i = 0; i < limit; i++) {
    const ti = ts[i]!;
    const yi = values[i]!;
    if (!Number.isFinite(ti) || !Number.isFinite(yi)) continue;
    if (m === 0 || ti !== t[m - 1]) distinct++;
    t[m] = ti;
    y[m] = yi;
    m++;
  }
  if (distinct < 3) return undefined;
  const tt = t.subarray(0, m);
  const yy = y.subarray(0, m);
  const atS = tt[m - 1]!;

  let slopes: Float64Array;
  let sampled = false;
  if (m <= EXACT_MAX_POINTS) {
    slopes = new Float64Array((m * (m - 1)) / 2);
    let k = 0;
    for (let i = 0; i < m - 1; i++) {
      const ti = tt[i]!;
      const yi = yy[i]!;
      for (let j = i + 1; j < m; j++) {
        const dt = tt[j]! - ti;
        if (dt !== 0) slopes[k++] = (yy[j]! - yi) / dt;
      }
    }
    slopes = slopes.subarray(0, k);
  } else {
    sampled = true;
    slopes = new Float64Array(SAMPLED_PAIRS);
    let k = 0;
    let s = 0x2545f491 >>> 0;
    const next = (): number => {
      // xorshift32: deterministic, uniform enough for choosing pairs.
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 4294967296;
    };
    for (let d = 0; d < SAMPLED_PAIRS; d++) {
      const i = Math.floor(next() * m);
      const j = Math.floor(next() * m);
      if (i === j) continue;
      const a = Math.min(i, j);
      const b = Math.max(i, j);
      const dt = tt[b]! - tt[a]!;
      if (dt !== 0) slopes[k++] = (yy[b]! - yy[a]!) / dt;
    }
    slopes = slopes.subarray(0, k);
  }
  slopes.sort();
  const N = slopes.length;
  const slope = medianSorted(slopes);

  const resid = new Float64Array(m);
  for (let i = 0; i < m; i++) resid[i] = yy[i]! - slope * (tt[i]! - atS);
  resid.sort();
  const level = medianSorted(resid);

  // Sen's CI: Var S with ties in times and values; ranks in the population of
  // all distinct-time pairs, scaled to the sample when sampled.
  const varS = Math.max(0, (m * (m - 1) * (2 * m + 5) - tieTerm(tt) - tieTerm(yy)) / 18);
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const C = z * Math.sqrt(varS);
  let Npop = N;
  if (sampled) {
    // Pairs of distinct times in the population: all pairs minus tied-time pairs.
    let tiedPairs = 0;
    let run = 1;
    for (let i = 1; i <= m; i++) {
      if (i < m && tt[i] === tt[i - 1]) run++;
      else {
        tiedPairs += (run * (run - 1)) / 2;
        run = 1;
      }
    }
    Npop = (m * (m - 1)) / 2 - tiedPairs;
  }
  const scale = N / Npop;
  const r1 = ((Npop - C) / 2) * scale;
  const r2 = ((Npop + C) / 2 + 1) * scale;
  return {
    slope,
    slopeLow: atRank(slopes, r1),
    slopeHigh: atRank(slopes, r2),
    level,
    atS,
    n: m,
    confidence,
    pairs: N,
    sampled,
  };
}

/**
 * Which way the threshold is crossed: 'up' (an upper limit, reached from
 * below), 'down' (a lower limit, reached from above), or 'either' (whichever
 * way the trend moves: the line crosses it at most once).
 */
export type ThresholdDirection = 'up' | 'down' | 'either';

/**
 * Seconds from fit.atS until the fitted line crosses `threshold` (moving towards it), with the interval from the slope's CI; null when the trend moves away from it or is flat. 0 when already beyond it in the direction of travel.
 * With direction 'up' ('down'): 0 when the level is already at or above (below) the threshold, null when the trend is flat or falling (rising).
 * With 'either' (default) the direction is the trend's: 0 when the level is already past the threshold that way, null only when flat.
 * `latest` is Infinity when the CI includes a flat or opposite trend.
 */
export function timeToThreshold(fit: TrendFit, threshold: number, direction: ThresholdDirection = 'either'): { seconds: number; soonest: number; latest: number } | null {
  if (!Number.isFinite(threshold) || !Number.isFinite(fit.slope) || !Number.isFinite(fit.level)) return null;
  const dist = threshold - fit.level;
  const zero = { seconds: 0, soonest: 0, latest: 0 };
  if (direction === 'up' && dist <= 0) return zero;
  if (direction === 'down' && dist >= 0) return zero;
  if (fit.slope === 0) return null;
  if (direction === 'up' && fit.slope < 0) return null;
  if (direction === 'down' && fit.slope > 0) return null;
  if (fit.slope > 0) {
    if (dist <= 0) return zero;
    return {
      seconds: dist / fit.slope,
      soonest: dist / Math.max(fit.slopeHigh, fit.slope),
      latest: fit.slopeLow > 0 ? dist / Math.min(fit.slopeLow, fit.slope) : Infinity,
    };
  }
  if (dist >= 0) return zero;
  return {
    seconds: dist / fit.slope,
    soonest: dist / Math.min(fit.slopeLow, fit.slope),
    latest: fit.slopeHigh < 0 ? dist / Math.max(fit.slopeHigh, fit.slope) : Infinity,
  };
}
