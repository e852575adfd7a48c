import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXACT_MAX_POINTS, fitTrend, normalQuantile, timeToThreshold, type TrendFit } from './trend.js';

/** Seeded uniform [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 4294967296;
  };
}
/** Seeded standard normal (Box–Muller). */
function gauss(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Brute-force reference: all pairs, sorted, Sen's ranks with ties counted by hand. */
function reference(t: number[], y: number[], conf = 0.95): { slope: number; low: number; high: number; level: number } {
  const s: number[] = [];
  for (let i = 0; i < t.length; i++) for (let j = i + 1; j < t.length; j++) if (t[j] !== t[i]) s.push((y[j]! - y[i]!) / (t[j]! - t[i]!));
  s.sort((a, b) => a - b);
  const med = (a: number[]): number => (a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2);
  const slope = med(s);
  const atS = t[t.length - 1]!;
  const level = med(y.map((v, i) => v - slope * (t[i]! - atS)).sort((a, b) => a - b));
  const ties = (a: number[]): number => {
    const c = new Map<number, number>();
    for (const v of a) c.set(v, (c.get(v) ?? 0) + 1);
    let sum = 0;
    for (const k of c.values()) sum += k * (k - 1) * (2 * k + 5);
    return sum;
  };
  const n = t.length;
  const C = normalQuantile(1 - (1 - conf) / 2) * Math.sqrt((n * (n - 1) * (2 * n + 5) - ties(t) - ties(y)) / 18);
  const at = (r: number): number => {
    const i = Math.min(Math.max(r - 1, 0), s.length - 1);
    const f = Math.floor(i);
    return s[f]! + (s[Math.min(f + 1, s.length - 1)]! - s[f]!) * (i - f);
  };
  return { slope, low: at((s.length - C) / 2), high: at((s.length + C) / 2 + 1), level };
}

test('normalQuantile matches known quantiles', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959963984540054) < 1e-8);
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
  assert.ok(Math.abs(normalQuantile(0.005) + 2.5758293035489) < 1e-8);
});

test('hand-computed example: slope, level and CI', () => {
  const fit = fitTrend([0, 1, 2, 3, 4], [1, 3, 2, 5, 4]);
  assert.ok(fit);
  // Pairwise slopes sorted: -1 -1 1/3 .5 .75 1 1 4/3 2 3 → median 0.875.
  assert.equal(fit.slope, 0.875);
  // Residuals at t=4: 4.5 5.625 3.75 5.875 4 → median 4.5.
  assert.equal(fit.level, 4.5);
  assert.equal(fit.atS, 4);
  assert.equal(fit.n, 5);
  assert.equal(fit.pairs, 10);
  // C = 1.96·sqrt(300/18) ≈ 8.0: ranks ≈ 1.0 and 10.0 → the extremes.
  assert.ok(Math.abs(fit.slopeLow - -1) < 0.01, String(fit.slopeLow));
  assert.equal(fit.slopeHigh, 3);
});

test('matches a brute-force reference with tied times and tied values', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const u = rng(seed);
    const t: number[] = [];
    const y: number[] = [];
    let now = 1_800_000_000;
    for (let i = 0; i < 60; i++) {
      if (u() > 0.2) now += 1 + Math.floor(u() * 30); // ~20% repeated times
      t.push(now);
      y.push(Math.round(u() * 8 + i * 0.1)); // integer values: many ties
    }
    const fit = fitTrend(t, y);
    const ref = reference(t, y);
    assert.ok(fit);
    assert.ok(Math.abs(fit.slope - ref.slope) <= 1e-12 * Math.max(1, Math.abs(ref.slope)), `seed ${seed}`);
    assert.ok(Math.abs(fit.slopeLow - ref.low) <= 1e-12, `seed ${seed} low`);
    assert.ok(Math.abs(fit.slopeHigh - ref.high) <= 1e-12, `seed ${seed} high`);
    assert.ok(Math.abs(fit.level - ref.level) <= 1e-9, `seed ${seed} level`);
    assert.ok(fit.slopeLow <= fit.slope && fit.slope <= fit.slopeHigh);
  }
});

test('outliers do not move the slope or the level', () => {
  const t: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < 100; i++) {
    t.push(1_800_000_000 + i * 60);
    y.push(i % 10 === 3 ? 1e6 * (i % 20 === 3 ? 1 : -1) : 20 + 0.5 * i); // 10% wild outliers
  }
  const fit = fitTrend(t, y);
  assert.ok(fit);
  // More than half of all pairs are clean and have slope exactly 0.5/60.
  assert.ok(Math.abs(fit.slope - 0.5 / 60) < 1e-15);
  assert.ok(Math.abs(fit.level - (20 + 0.5 * 99)) < 1e-9);
});

test('the CI covers the true slope at about the stated rate (seeded noise)', () => {
  const trials = 400;
  const trueSlope = 0.002;
  let covered = 0;
  for (let k = 0; k < trials; k++) {
    const g = gauss(1000 + k);
    const t: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 40; i++) {
      t.push(i * 30);
      y.push(50 + trueSlope * i * 30 + g());
    }
    const fit = fitTrend(t, y);
    assert.ok(fit);
    if (fit.slopeLow <= trueSlope && trueSlope <= fit.slopeHigh) covered++;
  }
  const rate = covered / trials;
  assert.ok(rate >= 0.92 && rate <= 0.985, `coverage ${rate}`);
});

test('large series: pairs sampled deterministically, estimate and CI still good', () => {
  const g = gauss(7);
  const n = EXACT_MAX_POINTS * 3;
  const t = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = 1_800_000_000 + i * 10;
    y[i] = 5 - 0.001 * i * 10 + g();
  }
  const started = performance.now();
  const fit = fitTrend(t, y);
  const ms = performance.now() - started;
  assert.ok(fit);
  assert.equal(fit.sampled, true);
  assert.ok(fit.slopeLow <= -0.001 && -0.001 <= fit.slopeHigh, `${fit.slopeLow} ${fit.slopeHigh}`);
  assert.ok(Math.abs(fit.slope + 0.001) < 2e-5);
  assert.ok(fit.slopeHigh - fit.slopeLow < 1e-4);
  assert.deepEqual(fitTrend(t, y), fit);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('first n, non-finite values skipped, too few distinct times', () => {
  assert.equal(fitTrend([1, 1, 2, 2], [1, 2, 3, 4]), undefined);
  assert.equal(fitTrend([1, 2, 3], [1, NaN, 3]), undefined);
  assert.equal(fitTrend([], []), undefined);
  const fit = fitTrend([0, 1, 2, 3, 4, 5], [0, 2, NaN, 6, 100, -100], 4);
  assert.ok(fit);
  assert.equal(fit.n, 3);
  assert.equal(fit.slope, 2);
  assert.equal(fit.atS, 3);
  assert.equal(fit.level, 6);
  assert.throws(() => fitTrend([0, 1, 2], [0, 1, 2], undefined, 1), RangeError);
});

test('timeToThreshold: towards, away, flat, beyond, open-ended CI', () => {
  const base: TrendFit = { slope: 2, slopeLow: 1, slopeHigh: 4, level: 10, atS: 100, n: 10, confidence: 0.95, pairs: 45, sampled: false };
  assert.deepEqual(timeToThreshold(base, 30), { seconds: 10, soonest: 5, latest: 20 });
  // Moving up, a threshold below is already behind: 0 (beyond it in the direction of travel).
  assert.deepEqual(timeToThreshold(base, 10), { seconds: 0, soonest: 0, latest: 0 });
  assert.deepEqual(timeToThreshold(base, 5), { seconds: 0, soonest: 0, latest: 0 });
  assert.equal(timeToThreshold({ ...base, slope: 0, slopeLow: -1, slopeHigh: 1 }, 30), null);
  assert.deepEqual(timeToThreshold({ ...base, slopeLow: -1 }, 30), { seconds: 10, soonest: 5, latest: Infinity });
  const down: TrendFit = { ...base, slope: -0.5, slopeLow: -1, slopeHigh: -0.25 };
  assert.deepEqual(timeToThreshold(down, 0), { seconds: 20, soonest: 10, latest: 40 });
  assert.deepEqual(timeToThreshold(down, 20), { seconds: 0, soonest: 0, latest: 0 });
  assert.equal(timeToThreshold(base, NaN), null);
  // Directed: an upper limit the trend moves away from is never reached.
  assert.equal(timeToThreshold(down, 30, 'up'), null);
  assert.deepEqual(timeToThreshold(down, 5, 'up'), { seconds: 0, soonest: 0, latest: 0 });
  assert.deepEqual(timeToThreshold(base, 30, 'up'), { seconds: 10, soonest: 5, latest: 20 });
  assert.equal(timeToThreshold(base, 0, 'down'), null);
  assert.deepEqual(timeToThreshold(down, 0, 'down'), { seconds: 20, soonest: 10, latest: 40 });
  assert.deepEqual(timeToThreshold(base, 20, 'down'), { seconds: 0, soonest: 0, latest: 0 });
  // From a real fit: y = 70 + 0.01·t, 90 reached 2000 s after t=0 ... from atS.
  const t = Array.from({ length: 50 }, (_, i) => i * 20);
  const fit = fitTrend(t, t.map((s) => 70 + 0.01 * s));
  assert.ok(fit);
  const ttt = timeToThreshold(fit, 90);
  assert.ok(ttt);
  assert.ok(Math.abs(ttt.seconds - (2000 - 980)) < 1e-6);
});
