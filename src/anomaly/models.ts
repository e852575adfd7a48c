// Anomaly models: a function from a series' feature vector (the core's,
// native/core/src/features.rs, in featureNames() order) to a score in
// [0, 1]. A model declares the features it reads, in order (its input
// schema); the engine gives it those columns of every series it scores, as
// one matrix, so a model scores many series per call. Scores are causal
// because the features are: a score at t uses only samples up to t.
//
// The statistical detector is the default: it needs no training, and each
// part of its score can be read off the features:
// - deviation: the largest of the newest value's robust z-score against the
//   window (|value − median| / (1.4826 · MAD)), its residual against the
//   seasonal baseline on the same scale, and the peak EWMA z-score since the
//   last round (a one-sample spike between two rounds). Scores 0 up to
//   z = 4, rising linearly to 1 at z = 10.
// - silence: time since the last sample against the learned interval; 0 up
//   to 3 intervals, 1 from 6.
// - stuck: a flat run against the typical length of the series' flat runs
//   (a series that never changed is constant, not stuck); 0 up to 5 times
//   the typical run, 1 from 10 times (and never below 8 samples).
// The score is the largest part.

import { native } from '../native/index.js';
import { shippedIforest } from './onnx.js';

export interface Model {
  readonly name: string;
  readonly version: string;
  /** The features score() reads, in its order (entries of featureNames()). */
  readonly inputs: readonly string[];
  /**
   * Scores `n` series: `rows` holds n × inputs.length values, row-major.
   * One score per series in [0, 1]; NaN where the model gives none.
   */
  score(rows: Float64Array, n: number): Float64Array | Promise<Float64Array>;
}

/** The feature names of the core, in vector order. */
export const FEATURES: readonly string[] = native.featureNames();

/** The columns of `inputs` in a full feature vector; throws on a name the core has not. */
export function featureColumns(inputs: readonly string[]): number[] {
  return inputs.map((name) => {
    const i = FEATURES.indexOf(name);
    if (i < 0) throw new Error(`unknown feature ${JSON.stringify(name)} (features: ${FEATURES.join(', ')})`);
    return i;
  });
}

/** Clamped linear ramp: 0 at or below `lo`, 1 at or above `hi`; 0 for NaN. */
function ramp(x: number, lo: number, hi: number): number {
  if (!(x > lo)) return 0;
  return x >= hi ? 1 : (x - lo) / (hi - lo);
}

/** 1.4826 · MAD estimates the standard deviation of normal data. */
const MAD_TO_STD = 1.482602218505602;

export const STATISTICAL_INPUTS = ['value', 'median', 'mad', 'ewma_std', 'residual', 'peak_z', 'silence_ratio', 'flat_run', 'typical_flat_run'] as const;

/** The parts of the statistical detector's score, for one feature row (in STATISTICAL_INPUTS order). */
export function statisticalParts(r: ArrayLike<number>, at = 0): { deviation: number; silence: number; stuck: number } {
  const [value, median, mad, ewmaStd, residual, peakZ, silenceRatio, flatRun, typicalRun] = [r[at]!, r[at + 1]!, r[at + 2]!, r[at + 3]!, r[at + 4]!, r[at + 5]!, r[at + 6]!, r[at + 7]!, r[at + 8]!];
  // The window's spread, not below a part in 1e9 of the level: a flat window has MAD 0.
  const scale = Math.max(MAD_TO_STD * mad, 0.5 * ewmaStd, 1e-9 * Math.max(1, Math.abs(median)));
  const z = Math.max(Math.abs(value - median) / scale, Math.abs(residual) / Math.max(scale, ewmaStd), peakZ);
  const stuck = flatRun >= 8 && typicalRun > 0 ? ramp(flatRun / typicalRun, 5, 10) : 0;
  return { deviation: ramp(z, 4, 10), silence: ramp(silenceRatio, 3, 6), stuck };
}

/** The default model: robust z-score with seasonal baseline, silence and stuck-sensor parts (see the file comment). */
export const statistical: Model = {
  name: 'statistical',
  version: '1',
  inputs: STATISTICAL_INPUTS,
  score(rows, n) {
    const k = STATISTICAL_INPUTS.length;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const p = statisticalParts(rows, i * k);
      out[i] = Math.max(p.deviation, p.silence, p.stuck);
    }
    return out;
  },
};

/**
 * The models that ship, by name, ready to score: `statistical`, and the
 * Isolation Forest `iforest` (ONNX, in a worker pool: ./onnx.ts; loaded on its first score).
 */
export const builtinModels: ReadonlyMap<string, Model> = new Map<string, Model>([
  [statistical.name, statistical],
  [shippedIforest.name, shippedIforest],
]);
