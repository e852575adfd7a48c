// The anomaly engine's detection-quality corpus: labelled series the repo
// generates from a seed (mulberry32 below, no dependency), the same series
// for the same seed on every machine.
//
// Bases (each with its own reporting interval and scale):
//   seasonal  a daily sine (UTC hours) plus white noise, every 300 s, 5 days
//             (4 days of history before the anomaly: every hour bucket of the
//             seasonal baseline has its 3 samples well before it)
//   walk      a random walk (steps of σ), every 10 s, 800 samples
//   white     white noise around a level (σ = 1 or 50), every 1 s or 60 s,
//             800 samples
// Kinds injected, one per series, with the labelled window [start, end) in
// Unix ms (sample indices beside it):
//   spike     one sample off by 8..12 σ; window = that sample
//   shift     the level moves by 8..12 σ and stays; window = the first 20 samples after
//   drift     a ramp that reaches 12..16 σ over 100 samples, then stays; window = the ramp
//   stuck     the value repeats exactly for 150 samples; window = the repeat
//   variance  the noise grows 6..8 times for 100 samples; window = those samples
//   missing   no samples for 40 intervals; window = [first missing sample's
//             time, first sample after the gap's time)
//   none      no anomaly: every alarm on it is a false positive
// σ is the base's noise (the step for a walk). Every anomaly starts after at
// least 400 samples (the engine needs 16; the robust window holds 32).

export type Kind = 'spike' | 'shift' | 'drift' | 'stuck' | 'variance' | 'missing' | 'none';
export const KINDS: readonly Kind[] = ['spike', 'shift', 'drift', 'stuck', 'variance', 'missing'];
export type Base = 'seasonal' | 'walk' | 'white';
export const BASES: readonly Base[] = ['seasonal', 'walk', 'white'];

export interface LabelledSeries {
  name: string;
  base: Base;
  kind: Kind;
  intervalS: number;
  /** Unix ms, increasing. */
  ts: number[];
  values: number[];
  /** The anomaly's window [startMs, endMs); undefined for kind none. */
  window?: { startMs: number; endMs: number; startIndex: number; endIndex: number } | undefined;
}

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rnd: () => number): () => number {
  return () => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };
}

/** 2026-01-01T00:00:00Z. */
const T0 = Date.UTC(2026, 0, 1);

export interface CorpusOptions {
  seed?: number;
  /** Series per kind and base (default 4). */
  perCell?: number;
  /** Normal series per base (default 4). */
  normalPerBase?: number;
}

function oneSeries(base: Base, kind: Kind, n: number, rnd: () => number): LabelledSeries {
  const g = gaussian(rnd);
  const variant = n % 2;
  const intervalS = base === 'seasonal' ? 300 : base === 'walk' ? 10 : variant === 0 ? 1 : 60;
  const sigma = base === 'white' && variant === 1 ? 50 : 1;
  const length = base === 'seasonal' ? 5 * 288 : 800;
  const at = base === 'seasonal' ? 4 * 288 + Math.floor(rnd() * 100) : 400 + Math.floor(rnd() * 200);
  const level = base === 'seasonal' ? 20 + 10 * rnd() : 100 * rnd() * sigma;
  const amp = 5 * sigma;
  const start = T0 + Math.floor(rnd() * 86_400) * 1000;
  const magnitude = (lo: number, hi: number) => (lo + (hi - lo) * rnd()) * sigma * (rnd() < 0.5 ? -1 : 1);
  const ts: number[] = [];
  const values: number[] = [];
  let walk = level;
  let window: LabelledSeries['window'];
  const spikeBy = magnitude(8, 12);
  const shiftBy = magnitude(8, 12);
  const driftTo = magnitude(12, 16);
  const varianceBy = 6 + 2 * rnd();
  const gapLen = 40;
  let stuckValue = Number.NaN;
  for (let i = 0; i < length; i++) {
    const t = start + i * intervalS * 1000;
    const noise = g() * sigma;
    let v: number;
    if (base === 'seasonal') v = level + amp * Math.sin((2 * Math.PI * ((t / 1000) % 86_400)) / 86_400) + noise;
    else if (base === 'walk') v = walk += noise;
    else v = level + noise;
    const k = i - at;
    if (kind === 'spike' && k === 0) v += spikeBy;
    if (kind === 'shift' && k >= 0) v += shiftBy;
    if (kind === 'drift' && k >= 0) v += driftTo * Math.min(1, (k + 1) / 100);
    if (kind === 'variance' && k >= 0 && k < 100) v += noise * (varianceBy - 1);
    if (kind === 'stuck' && k >= 0 && k < 150) {
      if (k === 0) stuckValue = values[values.length - 1]!;
      v = stuckValue;
    }
    if (kind === 'missing' && k >= 0 && k < gapLen) continue;
    ts.push(t);
    values.push(v);
  }
  const span: Record<Kind, number> = { spike: 1, shift: 20, drift: 100, stuck: 150, variance: 100, missing: gapLen, none: 0 };
  if (kind !== 'none') {
    const startMs = start + at * intervalS * 1000;
    const endMs = startMs + span[kind] * intervalS * 1000;
    // Indices into ts[] (for missing: the gap lies between startIndex − 1 and startIndex = endIndex).
    const startIndex = at;
    const endIndex = kind === 'missing' ? at : at + span[kind];
    window = { startMs, endMs, startIndex, endIndex };
  }
  return { name: `${base}-${kind}-${n}`, base, kind, intervalS, ts, values, window };
}

/** The labelled corpus for `seed`: KINDS × BASES × perCell anomalous series and normalPerBase normal ones per base. */
export function makeAnomalyCorpus(opts: CorpusOptions = {}): LabelledSeries[] {
  const rnd = mulberry32(opts.seed ?? 1);
  const perCell = opts.perCell ?? 4;
  const normal = opts.normalPerBase ?? 4;
  const out: LabelledSeries[] = [];
  for (const base of BASES) {
    for (const kind of KINDS) for (let n = 0; n < perCell; n++) out.push(oneSeries(base, kind, n, rnd));
    for (let n = 0; n < normal; n++) out.push(oneSeries(base, 'none', n, rnd));
  }
  return out;
}

/** A series as the `timestamp,value` CSV lines `sentio anomaly replay` reads (Unix ms timestamps). */
export function* csvLines(s: LabelledSeries): Generator<string> {
  yield 'timestamp,value';
  for (let i = 0; i < s.ts.length; i++) yield `${s.ts[i]},${s.values[i]}`;
}
