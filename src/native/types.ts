// The contract of the napi binding (native/napi), as seen from TypeScript.
// The generated loader native/napi/index.cjs + index.d.ts is build output;
// src/native/index.ts re-exports it with these types so the rest of the
// gateway never imports the generated file directly.

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

export interface IngestOptions {
  /** 'lp': InfluxDB line protocol; 'msgpack': the batch format of docs/protocol.md. */
  format: 'lp' | 'msgpack';
  /**
   * Timestamp precision. Line protocol without it: the unit is guessed per timestamp exactly as
   * VictoriaMetrics does when `/write` has no `precision` (>= 1e17 ns, >= 1e14 us, >= 1e11 ms, else s),
   * so pass it only when the request names one. msgpack: overrides the batch's own `precision`, else 'ms'.
   */
  precision?: Precision;
  /** Value of the `db` label added to points that have no `db` tag (InfluxDB `?db=` / v2 `bucket`). */
  db?: string;
  /** Timestamp (Unix ms) given to points without one. */
  nowMs: number;
  /** What to produce: per-shard remote-write payloads, columns for the embedded store, or counts only. */
  output: 'remote_write' | 'columns' | 'none';
  /** remote_write: number of shards (>= 1, default 1). */
  shards?: number;
  /** remote_write: copies of each series, on consecutive shards (1..shards, default 1). */
  replication?: number;
  /** Cap on the number of errors returned (default 100); `rejected` still counts all. */
  maxErrors?: number;
}

export interface LineError {
  /** 1-based line number (line protocol) or point index (msgpack). */
  line: number;
  reason: string;
}

export interface IngestResult {
  /** Points seen: non-blank, non-comment lines, or msgpack points. */
  lines: number;
  /** Points rejected (each has an error, up to maxErrors returned). */
  rejected: number;
  /** Samples accepted (one per numeric/bool field of an accepted point). */
  samples: number;
  /** String field values skipped (not samples; VictoriaMetrics 1.79.5 would store them best-effort as numbers, see docs/vm-line-protocol.md). */
  skippedStrings: number;
  errors: LineError[];
  /** msgpack only: the batch's `seq`, when present. */
  seq?: number;
  /** remote_write: snappy-compressed Prometheus WriteRequest per shard (zero length when empty). */
  shards?: Buffer[];
  /** remote_write: samples per shard (replicas counted on each shard). */
  shardSamples?: number[];
  /** remote_write: series per shard. */
  shardSeries?: number[];
  /** columns: one i64 LE series id per sample. */
  seriesIds?: Buffer;
  /** columns: one i64 LE Unix-ms timestamp per sample. */
  timestamps?: Buffer;
  /** columns: one f64 LE value per sample. */
  values?: Buffer;
  /** columns: the distinct series ids of this batch, i64 LE each. */
  distinctIds?: Buffer;
  /** columns: for each distinct series, its canonical label set as a JSON object (`__name__` first), concatenated. */
  seriesDefs?: Buffer;
  /** columns: u32 LE start offset of each definition in seriesDefs, plus the end offset (distinct + 1 entries). */
  seriesDefOffsets?: Buffer;
}

export interface ParseStats {
  lines: number;
  rejected: number;
  fields: number;
  bytes: number;
}

export interface NativeBinding {
  ingest(input: Buffer, options: IngestOptions): IngestResult;
  /** Parse only (no mapping, hashing or encoding): for benchmarks. */
  parseLineProtocol(input: Buffer, precision?: Precision): ParseStats;
  /** The 64-bit series hash of a canonical label set (`__name__` included), as i64 (BigInt). */
  seriesHash(labels: Record<string, string>): bigint;
  /** Shard indexes (primary first) of a series hash for `shards` targets and `replication` copies. */
  shardsFor(hash: bigint, shards: number, replication: number): number[];
  /** Decode a snappy-compressed remote-write payload, for tests: series with labels and samples. */
  decodeRemoteWrite(payload: Buffer): Array<{ labels: Record<string, string>; samples: Array<{ value: number; timestamp: number }> }>;
}
