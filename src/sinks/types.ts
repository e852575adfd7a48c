import type { IngestResult } from '../native/types.js';

/** A batch of samples in the columns produced by the native core (output: 'columns'). */
export interface ColumnBatch {
  samples: number;
  seriesIds: Buffer;
  timestamps: Buffer;
  values: Buffer;
  distinctIds: Buffer;
  seriesDefs: Buffer;
  seriesDefOffsets: Buffer;
}

export function columnBatchOf(result: IngestResult): ColumnBatch {
  const empty = Buffer.alloc(0);
  return {
    samples: result.samples,
    seriesIds: result.seriesIds ?? empty,
    timestamps: result.timestamps ?? empty,
    values: result.values ?? empty,
    distinctIds: result.distinctIds ?? empty,
    seriesDefs: result.seriesDefs ?? empty,
    seriesDefOffsets: result.seriesDefOffsets ?? empty,
  };
}

export interface SinkHealth {
  ok: boolean;
  detail?: string;
}

/** What a sink reports for /metrics; the gateway binds it to its Prometheus registry. */
export interface SinkMetrics {
  /** A request (or append) carrying `samples` reached the sink for `shard`, `seconds` after it was handed over (retries included). */
  sent(shard: string, samples: number, bytes: number, seconds: number): void;
  /** A request for `shard` failed for good (after retries, or a 4xx): its samples are lost. */
  failed(shard: string, samples: number, reason: string): void;
  /** A request for `shard` is being retried. */
  retried(shard: string): void;
}

export interface Sink {
  /** 'victoriametrics' | 'embedded' | 'blackhole'. */
  readonly name: string;
  /** The native output this sink consumes. */
  readonly output: 'remote_write' | 'columns' | 'none';
  /** Number of shards the native core should split remote-write batches into. */
  readonly shards: number;
  readonly replication: number;
  /**
   * Store one ingested batch. Resolves once the sink has accepted it durably
   * (2xx from every shard, or committed to the embedded file); rejects with a
   * SentioError when it could not.
   */
  write(result: IngestResult): Promise<void>;
  health(): Promise<SinkHealth>;
  /**
   * Stops the sink. `graceMs`: how long a sink that holds undelivered batches
   * (a queued sink) may keep delivering them before it gives up and keeps
   * the rest for the next start; requests still in flight then are aborted.
   */
  close(graceMs?: number): Promise<void>;
}
