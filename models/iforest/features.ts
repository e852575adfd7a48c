// Training and reference feature vectors for the shipped Isolation Forest,
// made by the same path as the live engine and `sentio anomaly replay`: the
// native FeatureStore fed seeded synthetic series, read in rounds (every
// ROUND_MS of simulated time, the gateway's default --anomaly-interval-s),
// each round's rows taken from the series with the engine's minimum history.
//
// Re-run everything (features, training, export, reference) with
//
//   models/iforest/train.sh
//
// which runs this script as `node --import tsx models/iforest/features.ts OUT_DIR`
// and writes OUT_DIR/train.csv and OUT_DIR/reference.csv: every feature of
// featureNames() as a column, plus `kind` (normal, or the anomaly injected)
// and `series`. Seeded: the same files every run.
//
// The normal series: a level anywhere from 1e-2 to 1e4 (some negative), a
// daily cycle of up to half the level's size, noise of 0.2-5 % of the level
// with a slow AR(1) wander, reported every 5 s to 5 min with ±5 % jitter and
// now and then a missed sample; one in seven is quantized (coarse sensors:
// steps of 0.3-1 noise width, so runs of equal values are ordinary), and
// one in twenty is a constant (a set-point that never changes).
//
// The anomalies (rare in the training rows, and in the reference rows), each injected into a fresh normal series after a
// day of warm-up and read at the round the live engine would score it:
// spike and dip (one sample 25 noise widths off), shift (the level moves by
// 12 noise widths and stays), silence (no sample for 20 intervals, read
// after 10), stuck (a noisy series repeating one value for 60 samples).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MIN_SAMPLES } from '../../src/anomaly/engine.js';
import { native } from '../../src/native/index.js';

const ROUND_MS = 10_000;
const DAY_MS = 86_400_000;
const T0 = Date.UTC(2026, 0, 5); // a Monday
const FEATURES = native.featureNames();
const INTERVALS_MS = [5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];

/** mulberry32: a seeded uniform [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

type Anomaly = 'spike' | 'dip' | 'shift' | 'silence' | 'stuck';

/** One synthetic series: its next sample's time and value, with an optional anomaly at `at`. */
class Series {
  readonly intervalMs: number;
  private readonly level: number;
  private readonly amp: number;
  private readonly phase: number;
  readonly sigma: number;
  private readonly step: number;
  private readonly constant: boolean;
  private wander = 0;
  nextTs: number;
  /** Samples emitted since the anomaly began (-1: not yet). */
  since = -1;
  private stuckValue = Number.NaN;
  private silentFrom = Number.NaN;
  private shown = false;
  private last = 0;

  constructor(
    private readonly r: () => number,
    readonly anomaly?: { kind: Anomaly; at: number },
  ) {
    const sign = r() < 0.2 ? -1 : 1;
    this.level = sign * 10 ** (-2 + 6 * r());
    const size = Math.abs(this.level);
    this.amp = size * 0.5 * r();
    this.phase = 2 * Math.PI * r();
    this.sigma = size * (0.002 + 0.048 * r());
    this.constant = anomaly === undefined && r() < 0.05;
    // No anomaly on a quantized series: a stuck or shifted step sensor is still the kind tested.
    this.step = anomaly === undefined && r() < 0.15 ? this.sigma * (0.3 + 0.7 * r()) : 0;
    this.intervalMs = INTERVALS_MS[Math.floor(r() * INTERVALS_MS.length)]!;
    this.nextTs = T0 + Math.floor(r() * this.intervalMs);
  }

  /** The sample at nextTs; advances nextTs. */
  sample(): number {
    const t = this.nextTs;
    const r = this.r;
    // Jitter ±5 %; now and then (0.5 %) a sample goes missing.
    this.nextTs += Math.round(this.intervalMs * (0.95 + 0.1 * r())) * (r() < 0.005 ? 2 : 1);
    const a = this.anomaly;
    if (a !== undefined && a.kind === 'silence' && t >= a.at && this.since < 0) {
      // This sample is the last before the silence.
      this.since = 0;
      this.silentFrom = t;
      this.nextTs = t + 20 * this.intervalMs;
    }
    if (this.constant) return this.level;
    this.wander = 0.98 * this.wander + 0.2 * this.sigma * gauss(r);
    let v = this.level + this.amp * Math.sin((2 * Math.PI * (t - T0)) / DAY_MS + this.phase) + this.wander + this.sigma * gauss(r);
    if (this.step > 0) v = Math.round(v / this.step) * this.step;
    if (a !== undefined && t >= a.at && a.kind !== 'silence') {
      this.since++;
      if (a.kind === 'spike' && this.since === 1) v += 25 * this.sigma;
      if (a.kind === 'dip' && this.since === 1) v -= 25 * this.sigma;
      if (a.kind === 'shift') v += 12 * this.sigma;
      if (a.kind === 'stuck') {
        if (Number.isNaN(this.stuckValue)) this.stuckValue = this.last;
        v = this.stuckValue;
      }
    }
    this.last = v;
    return v;
  }

  /** Whether the anomaly is under way at the round at `t` (a spike for one round, a shift for 4 samples, a silence from 4 intervals, a stuck run from 40 samples). */
  during(t: number): boolean {
    const a = this.anomaly;
    if (a === undefined || this.since < 0) return false;
    if (a.kind === 'spike' || a.kind === 'dip') return this.showsAt(t);
    if (a.kind === 'shift') return this.since <= 4;
    if (a.kind === 'stuck') return this.since >= 40 && this.since <= 200;
    return this.since === 0 && t >= this.silentFrom + 4 * this.intervalMs && t < this.silentFrom + 20 * this.intervalMs;
  }

  /** Whether the round at `t` is the one where the anomaly shows (the row to keep). */
  showsAt(t: number): boolean {
    const a = this.anomaly;
    if (a === undefined || this.shown) return false;
    if (a.kind === 'spike' || a.kind === 'dip' || a.kind === 'shift') this.shown = this.since >= 1;
    else if (a.kind === 'stuck') this.shown = this.since >= 60;
    else this.shown = this.since === 0 && t >= this.silentFrom + 10 * this.intervalMs;
    return this.shown;
  }
}

/**
 * Feeds `series` round by round for `days` and hands each round's feature
 * rows (series with the minimum history) to `take` (return true to keep).
 */
function simulate(series: Series[], days: number, take: (row: Float64Array, s: number, t: number) => boolean, out: string[]): void {
  const store = new native.FeatureStore({ maxSeries: series.length + 1 });
  store.close(); // fed here, by hand
  const f = FEATURES.length;
  const count = FEATURES.indexOf('count');
  const end = T0 + days * DAY_MS;
  const ids: bigint[] = [];
  const ts: bigint[] = [];
  const vs: number[] = [];
  for (let t = T0 + ROUND_MS; t <= end; t += ROUND_MS) {
    ids.length = 0;
    ts.length = 0;
    vs.length = 0;
    series.forEach((s, i) => {
      while (s.nextTs <= t) {
        const at = s.nextTs;
        const v = s.sample();
        ids.push(BigInt(i));
        ts.push(BigInt(at));
        vs.push(v);
      }
    });
    if (ids.length > 0) {
      // Sorted by time within each series already (samples were emitted in order).
      store.update(Buffer.from(BigInt64Array.from(ids).buffer), Buffer.from(BigInt64Array.from(ts).buffer), Buffer.from(Float64Array.from(vs).buffer));
    }
    const m = store.features(t, 0);
    for (let j = 0; j < m.ids.length / 8; j++) {
      const row = m.values.subarray(j * f, (j + 1) * f);
      if (row[count]! < DEFAULT_MIN_SAMPLES) continue;
      const s = Number(m.ids.readBigUInt64LE(j * 8));
      if (take(row, s, t)) out.push(`${series[s]!.anomaly?.kind ?? 'normal'},${s},${Array.from(row, String).join(',')}`);
    }
  }
}

function main(): void {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: node --import tsx models/iforest/features.ts OUT_DIR');
  mkdirSync(dir, { recursive: true });
  const header = `kind,series,${FEATURES.join(',')}`;

  // Training: 160 normal series for two days, about one round in 40 of each
  // kept; and, as real fleet data has them, rare anomalies: 60 series of
  // each kind, about 60 rounds of each kind kept (0.4 % of the rows). An Isolation
  // Forest splits only within the range of its training data, so without
  // them a spike of 25 noise widths would score no higher than the most
  // extreme normal round.
  const kinds: Anomaly[] = ['spike', 'dip', 'shift', 'silence', 'stuck'];
  const r = rng(20261201);
  const train: string[] = [header];
  const normal = Array.from({ length: 160 }, () => new Series(r));
  simulate(normal, 2, () => r() < 1 / 40, train);
  const rare = kinds.flatMap((kind) => Array.from({ length: 60 }, () => new Series(r, { kind, at: T0 + DAY_MS + Math.floor(r() * 6 * 3_600_000) })));
  const share: Record<Anomaly, number> = { spike: 1, dip: 1, shift: 0.05, silence: 0.01, stuck: 0.002 };
  simulate(rare, 1.3, (_row, s, t) => rare[s]!.during(t) && r() < share[rare[s]!.anomaly!.kind], train);
  writeFileSync(join(dir, 'train.csv'), `${train.join('\n')}\n`);

  // Reference: held-out normal rows (other seeds), and each anomaly kind in 12 series.
  const q = rng(777);
  const ref: string[] = [header];
  const held = Array.from({ length: 40 }, () => new Series(q));
  simulate(held, 1, () => q() < 1 / 1500, ref);
  const odd = kinds.flatMap((kind) => Array.from({ length: 12 }, () => new Series(q, { kind, at: T0 + DAY_MS + Math.floor(q() * 6 * 3_600_000) })));
  simulate(odd, 1.5, (_row, s, t) => odd[s]!.showsAt(t), ref);
  writeFileSync(join(dir, 'reference.csv'), `${ref.join('\n')}\n`);
  process.stdout.write(`features: ${train.length - 1} training rows, ${ref.length - 1} reference rows in ${dir}\n`);
}

main();
