// The parse/encode stage: batches go to a piscina pool of worker threads
// running the native core, their buffers moved rather than copied. Batches
// up to `inlineMaxBytes` are parsed on the main thread instead, where the
// round trip to a worker would cost more than the parse (see
// bench/RESULTS.md for the measurement behind the default).

import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { native } from '../native/index.js';
import type { IngestOptions, IngestResult } from '../native/types.js';
import type { WorkerTask } from './worker.js';

export interface PipelineOptions {
  /** Worker threads; 0 parses everything on the main thread. */
  workers: number;
  inlineMaxBytes: number;
}

/** Buffers that crossed a thread boundary arrive as Uint8Array: give them back their Buffer type. */
function asBuffer(u: Uint8Array | undefined): Buffer | undefined {
  if (u === undefined || Buffer.isBuffer(u)) return u;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function revive(r: IngestResult): IngestResult {
  if (r.shards) r.shards = r.shards.map((s) => asBuffer(s)!);
  r.seriesIds = asBuffer(r.seriesIds);
  r.timestamps = asBuffer(r.timestamps);
  r.values = asBuffer(r.values);
  r.distinctIds = asBuffer(r.distinctIds);
  r.seriesDefs = asBuffer(r.seriesDefs);
  r.seriesDefOffsets = asBuffer(r.seriesDefOffsets);
  return r;
}

export class Pipeline {
  private readonly pool: Piscina | undefined;
  private readonly inlineMaxBytes: number;
  inlineCount = 0;
  pooledCount = 0;

  constructor(opts: PipelineOptions) {
    this.inlineMaxBytes = opts.workers === 0 ? Number.POSITIVE_INFINITY : opts.inlineMaxBytes;
    if (opts.workers > 0) {
      // Under tsx (tests, benches) this file is .ts and so is its worker.
      const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
      this.pool = new Piscina({
        filename: fileURLToPath(new URL(`./worker${ext}`, import.meta.url)),
        minThreads: opts.workers,
        maxThreads: opts.workers,
        // Each task is short; queue rather than spawn. Depth is exported at /metrics.
        maxQueue: Number.POSITIVE_INFINITY,
        concurrentTasksPerWorker: 1,
        idleTimeout: Number.POSITIVE_INFINITY,
      });
    }
  }

  /**
   * Parses and encodes one batch. `input` must own its memory: when it goes
   * to a worker its ArrayBuffer is transferred and unusable afterwards.
   */
  async ingest(input: Buffer, options: IngestOptions): Promise<IngestResult> {
    if (this.pool === undefined || input.byteLength <= this.inlineMaxBytes) {
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
    await this.pool?.destroy();
  }
}
