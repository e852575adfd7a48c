// The parse/encode stage: the native core runs either on the main thread
// (inline) or in a piscina pool of worker threads, the batch's buffer moved
// rather than copied. Where a batch goes:
// - up to `inlineMaxBytes`: inline, always; a worker round trip would cost
//   more than the parse;
// - larger: inline while the main thread's recent event-loop utilization is
//   below `inlineMaxLoad`, else to the pool. A pooled batch costs about twice
//   the CPU of an inline one (message passing, thread wake-ups, a second
//   isolate's GC), so the pool is used for what it is good at: the load the
//   main thread cannot carry alone.
// bench/RESULTS.md has the measurements behind both defaults.

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { native } from '../native/index.js';
import type { IngestOptions, IngestPart, IngestResult, ManyResult, Readings, SharedIngestOptions } from '../native/types.js';
import type { WorkerTask } from './worker.js';

export interface PipelineOptions {
  /** A worker idle this long ends (default a minute); the next pooled batch starts one. */
  workerIdleMs?: number;
  /** Worker threads; 0 parses everything on the main thread. */
  workers: number;
  /** Batches up to this size are always parsed inline. */
  inlineMaxBytes: number;
  /** Larger batches are parsed inline while the main thread's load (0..1) is below this. */
  inlineMaxLoad: number;
}

/**
 * The main thread's event-loop utilization, smoothed: sampled every
 * `SAMPLE_MS`, each sample weighing half of the estimate.
 */
class LoopLoad {
  static readonly SAMPLE_MS = 100;
  value = 0;
  private last = performance.eventLoopUtilization();
  private readonly timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    this.value = 0.5 * this.value + 0.5 * performance.eventLoopUtilization(now, this.last).utilization;
    this.last = now;
  }, LoopLoad.SAMPLE_MS).unref();

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Buffers that crossed a thread boundary arrive as Uint8Array: give them back their Buffer type. */
function asBuffer(u: Uint8Array | undefined): Buffer | undefined {
  if (u === undefined || Buffer.isBuffer(u)) return u;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function revive(r: IngestResult): IngestResult {
  for (const o of r.outputs) {
    if (o.shards) o.shards = o.shards.map((s) => asBuffer(s)!);
    o.seriesIds = asBuffer(o.seriesIds);
    o.timestamps = asBuffer(o.timestamps);
    o.values = asBuffer(o.values);
    o.distinctIds = asBuffer(o.distinctIds);
    o.seriesDefs = asBuffer(o.seriesDefs);
    o.seriesDefOffsets = asBuffer(o.seriesDefOffsets);
  }
  r.seriesHashes = asBuffer(r.seriesHashes);
  return r;
}

/** A parser worker with nothing to do for this long ends; the next pooled batch starts one again. */
const WORKER_IDLE_MS = 60_000;

export class Pipeline {
  private readonly pool: Piscina | undefined;
  private readonly inlineMaxBytes: number;
  private readonly inlineMaxLoad: number;
  private readonly load: LoopLoad | undefined;
  /** Batches parsed on the main thread / in the pool. */
  inlineCount = 0;
  pooledCount = 0;

  constructor(opts: PipelineOptions) {
    this.inlineMaxBytes = opts.workers === 0 ? Number.POSITIVE_INFINITY : opts.inlineMaxBytes;
    this.inlineMaxLoad = opts.inlineMaxLoad;
    if (opts.workers > 0) {
      if (opts.inlineMaxLoad > 0) this.load = new LoopLoad();
      // Under tsx (tests, benches) this file is .ts and so is its worker.
      const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
      this.pool = new Piscina({
        filename: fileURLToPath(new URL(`./worker${ext}`, import.meta.url)),
        // Workers start when batches first go to the pool (large ones while the
        // main thread is busy) and end after a minute without work: an idle
        // gateway holds none (each is a V8 isolate with the native core,
        // ~5 MB resident; bench/RESULTS.md, idle footprint).
        minThreads: 0,
        maxThreads: opts.workers,
        idleTimeout: opts.workerIdleMs ?? WORKER_IDLE_MS,
        // Each task is short; queue rather than spawn. Depth is exported at /metrics.
        maxQueue: Number.POSITIVE_INFINITY,
        concurrentTasksPerWorker: 1,
        // Not piscina's default 'sync': a worker then waits for tasks in a
        // blocking Atomics.wait loop and its event loop never turns, so the
        // N-API finalizers that free the core's result buffers never run
        // (measured: +40 kB of resident memory per pooled batch, without
        // end). With 'disabled' tasks arrive as messages on the event loop;
        // throughput measured the same ('async' too).
        atomics: 'disabled',
      });
    }
  }

  /**
   * Parses and encodes one batch. `input` must own its memory: when it goes
   * to a worker its ArrayBuffer is transferred and unusable afterwards.
   */
  async ingest(input: Buffer, options: IngestOptions): Promise<IngestResult> {
    if (this.pool === undefined || input.byteLength <= this.inlineMaxBytes || (this.load !== undefined && this.load.value < this.inlineMaxLoad)) {
      this.inlineCount++;
      return native.ingest(input, options);
    }
    this.pooledCount++;
    const task: WorkerTask = { input, options };
    // Transfer the body's memory when the Buffer owns all of it (the HTTP and
    // WebSocket readers allocate it so); a slice of a shared pool is copied.
    const owned = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength;
    const transferList = owned ? [input.buffer as ArrayBuffer] : [];
    const result = (await this.pool.run(task, { transferList })) as IngestResult;
    return revive(result);
  }

  /**
   * Maps and encodes typed readings (connectors), on the main thread: they
   * come in small batches, with no text to parse.
   */
  readings(readings: Readings, options: Omit<IngestOptions, 'format' | 'precision'>): IngestResult {
    this.inlineCount++;
    return native.ingestReadings(readings, options);
  }

  /**
   * Parses several small inputs as one batch, on the main thread (each is
   * at most a few kB: the fixed cost of a batch is what there is to save).
   */
  many(parts: IngestPart[], options: SharedIngestOptions): ManyResult {
    this.inlineCount++;
    return native.ingestMany(parts, options);
  }

  /** The main thread's smoothed event-loop utilization (0..1); 0 when not measured. */
  get mainLoad(): number {
    return this.load?.value ?? 0;
  }

  get queueDepth(): number {
    return this.pool?.queueSize ?? 0;
  }

  get threads(): number {
    return this.pool?.threads.length ?? 0;
  }

  get utilization(): number {
    return this.pool?.utilization ?? 0;
  }

  async close(): Promise<void> {
    this.load?.stop();
    await this.pool?.destroy();
  }
}
