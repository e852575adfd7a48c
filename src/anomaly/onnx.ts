// ONNX anomaly models: a Model (./models.ts) whose inference runs in a pool
// of worker threads (./onnx-worker.ts, piscina), off the ingest thread.
//
// - Batched: a round's rows (every series scored) go to the pool in chunks
//   of at most MAX_BATCH rows, one inference each, the chunks in parallel
//   over the pool's threads. Inputs are float32, as ONNX models take them.
// - Loaded lazily: the pool starts (and onnxruntime loads, in its worker) on
//   the first check or score; its threads end after a minute without work.
// - Validated on load (OnnxModel.load): the model's input must be [N, k]
//   float32 with k the declared inputs, its output one value per row;
//   anything else is an OnnxModelError saying what is wrong.
// - A model may declare how its inputs are prepared (NaN replaced, clipped,
//   sign(x)·log1p(|x|)) and how its raw output maps to a score (`isolation`:
//   from sklearn's IsolationForest decision_function, see
//   models/iforest/train.py); without one the output is the score. Scores
//   are clamped to [0, 1] by the engine; NaN is no score.
// - The shipped Isolation Forest (models/iforest: model.json, iforest.onnx)
//   is `shippedIforest`; its manifest is read at import (a small JSON file),
//   its bytes and session on its first score.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Model } from './models.js';
import type { OnnxCheck, OnnxSource, OnnxTask } from './onnx-worker.js';

/** Rows per inference at most; a larger round is split. */
export const MAX_BATCH = 8192;

/** How one input is prepared before the model: NaN → nan, clipped to [min, max], then sign(x)·log1p(|x|) when log. */
export interface InputPrep {
  nan: number;
  min: number;
  max: number;
  log?: boolean;
}

/** Raw output → score: `isolation` s = −(output + offset), score = (s − lo) / (hi − lo). */
export interface ScoreMap {
  transform: 'isolation';
  offset: number;
  lo: number;
  hi: number;
}

export interface OnnxSpec {
  name: string;
  version: string;
  /** Core features (featureNames()), in the order of the model's input columns. */
  inputs: readonly string[];
  bytes: Uint8Array;
  /** The output to read; default the model's only output. */
  output?: string | undefined;
  prepare?: readonly InputPrep[] | undefined;
  score?: ScoreMap | undefined;
}

/** A model that cannot be used: its ONNX does not load, or does not fit its declared inputs and output. */
export class OnnxModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxModelError';
  }
}

/** The worker pool of the ONNX models. */
export class OnnxPool {
  private pool: Piscina | undefined;

  constructor(private readonly o: { threads?: number; idleMs?: number } = {}) {}

  run(task: OnnxTask, transferList: ArrayBuffer[] = []): Promise<unknown> {
    // Under tsx (tests, benches) this file is .ts and so is its worker.
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    this.pool ??= new Piscina({
      filename: fileURLToPath(new URL(`./onnx-worker${ext}`, import.meta.url)),
      minThreads: 0,
      maxThreads: this.o.threads ?? 1,
      idleTimeout: this.o.idleMs ?? 60_000,
      maxQueue: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      // As the parser pool (src/pipeline): tasks as messages, so the worker's event loop turns.
      atomics: 'disabled',
    });
    return this.pool.run(task, { transferList });
  }

  /** Threads running now. */
  get threads(): number {
    return this.pool?.threads.length ?? 0;
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    await p?.destroy();
  }
}

let shared: OnnxPool | undefined;

/** The process's ONNX pool (one thread: a round's chunks queue for it; set up once with threads before first use). */
export function onnxPool(threads?: number): OnnxPool {
  shared ??= new OnnxPool(threads === undefined ? {} : { threads });
  return shared;
}

/** Ends the shared pool's threads (the next score starts them again). */
export async function closeOnnxPool(): Promise<void> {
  await shared?.close();
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function shareBytes(bytes: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/** Prepares one value of input column c. */
function prep(v: number, p: InputPrep | undefined): number {
  if (p === undefined) return v;
  let x = Number.isNaN(v) ? p.nan : Math.min(p.max, Math.max(p.min, v));
  if (p.log) x = Math.sign(x) * Math.log1p(Math.abs(x));
  return x;
}

export class OnnxModel implements Model {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly string[];
  readonly sha256: string;
  private readonly source: OnnxSource;
  private readonly prepare: readonly InputPrep[] | undefined;
  private readonly map: ScoreMap | undefined;

  private constructor(
    spec: OnnxSpec,
    private readonly pool: OnnxPool,
    /** What the check found: input and output names and shapes. */
    readonly check: OnnxCheck,
    key: string,
    bytes: SharedArrayBuffer,
  ) {
    this.name = spec.name;
    this.version = spec.version;
    this.inputs = [...spec.inputs];
    this.sha256 = key;
    this.source = { key, bytes, width: spec.inputs.length, output: spec.output };
    this.prepare = spec.prepare;
    this.map = spec.score;
  }

  /** Loads and checks a model in the pool; rejects with OnnxModelError when it cannot be used. */
  static async load(spec: OnnxSpec, pool: OnnxPool = onnxPool()): Promise<OnnxModel> {
    if (spec.inputs.length === 0) throw new OnnxModelError('a model needs at least one input');
    if (spec.prepare !== undefined && spec.prepare.length !== spec.inputs.length) throw new OnnxModelError(`${spec.prepare.length} input preparations for ${spec.inputs.length} inputs`);
    const key = sha256(spec.bytes);
    const bytes = shareBytes(spec.bytes);
    let check: OnnxCheck;
    try {
      check = (await pool.run({ op: 'check', key, bytes, width: spec.inputs.length, output: spec.output })) as OnnxCheck;
    } catch (err) {
      throw new OnnxModelError(`model ${spec.name} ${spec.version}: ${(err as Error).message}`);
    }
    return new OnnxModel(spec, pool, check, key, bytes);
  }

  async score(rows: Float64Array, n: number): Promise<Float64Array> {
    const k = this.inputs.length;
    const out = new Float64Array(n);
    const chunks: Promise<void>[] = [];
    for (let from = 0; from < n; from += MAX_BATCH) {
      const m = Math.min(MAX_BATCH, n - from);
      const input = new Float32Array(m * k);
      for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) input[i * k + c] = prep(rows[(from + i) * k + c]!, this.prepare?.[c]);
      chunks.push(
        (this.pool.run({ op: 'run', ...this.source, input, n: m }, [input.buffer]) as Promise<Float32Array>).then((raw) => {
          for (let i = 0; i < m; i++) out[from + i] = this.toScore(raw[i]!);
        }),
      );
    }
    await Promise.all(chunks);
    return out;
  }

  /** A raw output value as a score (clamped by the engine). */
  toScore(raw: number): number {
    const m = this.map;
    if (m === undefined) return raw;
    const s = -(raw + m.offset);
    return Math.min(1, Math.max(0, (s - m.lo) / (m.hi - m.lo)));
  }
}

/** models/iforest/model.json, as train.py writes it. */
interface Manifest {
  name: string;
  version: string;
  inputs: string[];
  prepare: InputPrep[];
  onnx: { file: string; sha256: string; input: string; output: string };
  score: ScoreMap;
}

const IFOREST_DIR = new URL('../../models/iforest/', import.meta.url);

/**
 * A shipped ONNX model as a Model: its manifest read now, its bytes loaded
 * and checked on the first score (a failure then rejects that score and is
 * tried again on the next).
 */
class ShippedOnnx implements Model {
  readonly name: string;
  readonly version: string;
  readonly inputs: readonly string[];
  private loading: Promise<OnnxModel> | undefined;

  constructor(
    private readonly dir: URL,
    readonly manifest: Manifest,
  ) {
    this.name = manifest.name;
    this.version = manifest.version;
    this.inputs = manifest.inputs;
  }

  /** The model, loaded and checked in the shared pool. */
  load(): Promise<OnnxModel> {
    this.loading ??= (async () => {
      const bytes = new Uint8Array(await readFile(new URL(this.manifest.onnx.file, this.dir)));
      if (sha256(bytes) !== this.manifest.onnx.sha256) throw new OnnxModelError(`${this.manifest.onnx.file} is not the file model.json names (sha256 differs): run models/iforest/train.sh`);
      return OnnxModel.load({ ...this.manifest, bytes, output: this.manifest.onnx.output });
    })();
    this.loading.catch(() => (this.loading = undefined));
    return this.loading;
  }

  async score(rows: Float64Array, n: number): Promise<Float64Array> {
    return (await this.load()).score(rows, n);
  }
}

/** The shipped Isolation Forest (models/iforest). */
export const shippedIforest = new ShippedOnnx(IFOREST_DIR, JSON.parse(readFileSync(new URL('model.json', IFOREST_DIR), 'utf8')) as Manifest);
