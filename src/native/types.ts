// The contract of the napi binding (native/napi), as seen from TypeScript.
// The generated loader native/napi/index.cjs + index.d.ts is build output;
// src/native/index.ts re-exports it with these types so the rest of the
// gateway never imports the generated file directly.

export type Precision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** A wire format the core parses. */
export type WireFormat = 'lp' | 'msgpack';

export interface IngestOptions {
  /** 'lp': InfluxDB line protocol; 'msgpack': the batch format of docs/protocol.md. */
  format: WireFormat;
  /**
   * Timestamp precision. Line protocol without it: the unit is guessed per timestamp exactly as
   * VictoriaMetrics does when `/write` has no `precision` (>= 1e17 ns, >= 1e14 us, >= 1e11 ms, else s),
   * so pass it only when the request names one. msgpack: overrides the batch's own `precision`, else 'ms'.
   */
  precision?: Precision;
  /** Value of the `db` label added to points that have no `db` tag (InfluxDB `?db=` / v2 `bucket`). */
  db?: string;
  /**
   * Labels added to every point that has no tag of that name (a device's labels and name as
   * `device`): the point's own tags win, then `db`. `__name__` and empty names or values are ignored.
   * Encoded by `encodeLabels` (./index.ts): one string, `name NUL value NUL ...`.
   */
  labels?: string;
  /** Timestamp (Unix ms) given to points without one. */
  nowMs: number;
  /**
   * What to produce, one entry per destination (a sink), all from one parse and mapping of the batch;
   * result `outputs` has one entry per spec, in this order. Absent or empty: counts only.
   */
  outputs?: readonly OutputSpec[];
  /** Cap on the number of errors returned (default 100); `rejected` still counts all. */
  maxErrors?: number;
  /**
   * Line protocol: a line longer than this many bytes (without its line ending) is rejected, with reason
   * `line exceeds N bytes`, before any other work on it; the lines around it are still parsed. Blank and
   * comment lines are skipped unchecked. 0 or absent: unlimited. Not used for msgpack.
   */
  maxLineBytes?: number;
  /**
   * A point (line protocol or msgpack) with more tags than this is rejected, with reason
   * `point has more than N tags`. Tags with an empty key or value are dropped and do not count; a repeated
   * tag name counts each time. 0 or absent: unlimited.
   */
  maxTags?: number;
  /** With an output that maps (remote_write or columns): also return `seriesHashes`, the batch's distinct series (for a cardinality guard). */
  seriesHashes?: boolean;
  /**
   * With an output that maps: also return `latest`, the latest sample of each distinct series of the
   * batch (all of them, whatever the outputs' `match`) with its id and label set (the live tap, src/live).
   * A number (an epoch, 1..2^32-1) instead of true: leave out the label sets this thread has returned
   * under that epoch already (a consumer changes its epoch when it may have lost one).
   */
  latest?: boolean | number;
  /**
   * A FeatureStore's `handle`: the samples the call maps (with an output that maps) feed that store,
   * on the thread that parses, before the batch is admitted or routed. Ignored once the store closed.
   */
  features?: number;
}

/** How the core encodes a batch for one destination. */
export type Encoding = 'remote_write' | 'columns' | 'none';

/** A Prometheus label matcher: an absent label is the empty value; regexes are anchored (RE2 syntax). */
export interface LabelMatcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface OutputSpec {
  encoding: Encoding;
  /** remote_write: number of shards (>= 1, default 1). */
  shards?: number;
  /** remote_write: copies of each series, on consecutive shards (1..shards, default 1). */
  replication?: number;
  /**
   * The series this output takes: those for which all matchers of at least one alternative hold.
   * Absent: every series; `[]`: none. An invalid regex makes the call throw.
   */
  match?: readonly (readonly LabelMatcher[])[];
}

/** One output of a batch, as its OutputSpec asked. */
export interface EncodedOutput {
  encoding: Encoding;
  /** Samples of the series it holds (each once, whatever the replication). */
  samples: number;
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
  /** columns: the distinct series ids of this output, i64 LE each. */
  distinctIds?: Buffer;
  /** columns: for each distinct series, its canonical label set as a JSON object (`__name__` first), concatenated. */
  seriesDefs?: Buffer;
  /** columns: u32 LE start offset of each definition in seriesDefs, plus the end offset (distinct + 1 entries). */
  seriesDefOffsets?: Buffer;
}

/**
 * The latest sample of each distinct series of a batch (`latest`), first-seen order, packed in ONE
 * buffer (a worker's result then carries one more buffer, not five), little endian
 * (native/core/src/latest.rs, `LatestOutput`):
 *
 *   u32 n; u32 epoch (the `latest` epoch, 0 for true);
 *   i64 ids[n] (the bits of the columns' distinctIds / seriesHash());
 *   i64 timestamps[n] (Unix ms of the latest sample: the greatest timestamp, the later point on ties);
 *   f64 values[n];
 *   u32 defOffsets[n + 1] (into defs);
 *   defs: each series' canonical label set as a JSON object (`__name__` first), concatenated as
 *   seriesDefs; an empty definition: left out, already returned under `epoch`.
 *
 * Uint8Array, not Buffer: results that come back from a worker thread carry plain Uint8Arrays here.
 */
export type LatestSamples = Uint8Array;

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
  /** One per `outputs` spec, in that order. */
  outputs: EncodedOutput[];
  /** Samples of series that no output's `match` passes: routed nowhere. */
  unroutedSamples: number;
  /**
   * With `seriesHashes: true` and an output that maps: the 64-bit hash of each distinct series of
   * the batch, u64 LE each, in first-seen order (the bits of `seriesHash()` and of the embedded store's series
   * ids; read with `readBigUInt64LE`). Absent otherwise.
   */
  seriesHashes?: Buffer;
  /** Points rejected for `maxLineBytes` (included in `rejected`). */
  rejectedLineBytes: number;
  /** Points rejected for `maxTags` (included in `rejected`). */
  rejectedTags: number;
  /** With `latest` and an output that maps: the live tap. Absent otherwise. */
  latest?: LatestSamples;
}

export interface ParseStats {
  lines: number;
  rejected: number;
  fields: number;
  bytes: number;
}

/** An intact record of a durable-queue segment (see native/core/src/queue.rs for the format). */
export interface QueueRecord {
  /** Offset of the record's 24-byte header in the segment; the payload follows it. */
  offset: number;
  payloadLength: number;
  /** Samples in the payload, as given to queueRecordHeader. */
  samples: number;
  /** Enqueue time, Unix ms, as given to queueRecordHeader. */
  enqueuedMs: number;
}

/** A damaged byte range of a queue segment: no intact record starts inside it. */
export interface QueueDamage {
  offset: number;
  length: number;
  /**
   * Why the record expected at `offset` is not intact: 'bad magic', 'zero-filled',
   * 'length N exceeds max record bytes M', 'torn record: N of M bytes',
   * 'torn record: N of 24 header bytes' or 'crc mismatch: stored 0x..., computed 0x...'.
   */
  reason: string;
}

export interface QueueScanResult {
  /** Every intact record, in segment order, before and after any damage. */
  records: QueueRecord[];
  /** Every damaged range, in segment order; records and damage together cover the whole segment. */
  damage: QueueDamage[];
  /** End of the last intact record (0 when none): bytes after it are a torn or corrupt tail, also in `damage`. */
  cleanEnd: number;
}

/**
 * Readings already typed (a connector's): series by their labels, samples naming their series by
 * index; mapped like parsed points (default labels, limits, outputs) without any text. A "line" of
 * the result is a sample (errors name the 1-based sample). See native/core/src/lib.rs, `Readings`.
 */
export interface Readings {
  /** Each series' labels, `__name__` among them (required, non-empty); empty when `seriesText` has them. */
  series: ReadonlyArray<Readonly<Record<string, string>>>;
  /**
   * The series as one text (labelsText of each, joined by U+0001): passing one string costs a
   * fraction of passing objects (about 6 µs a series as objects on this machine).
   */
  seriesText?: string;
  /**
   * The series as ids of this thread's series table (registerSeries): a series written again and
   * again is passed as 4 bytes, and mapped (its labels with the batch's defaults, checked against
   * maxTags, hashed) once, not per batch, while the batch's `db`, `labels` and `maxTags` stay the
   * same. Exclusive with `series` and `seriesText`.
   */
  seriesIds?: Uint32Array;
  /** Per sample: the index of its series in `series` (`seriesText`, `seriesIds`). */
  sampleSeries: Uint32Array;
  /** Per sample: Unix ms, whole numbers. */
  timestamps: Float64Array;
  values: Float64Array;
}

/** One input of `ingestMany`: its bytes and the options that are its own (IngestOptions' of the same names). */
/** The options of a batch that are not about its bytes (readings; several inputs parsed as one). */
export type SharedIngestOptions = Omit<IngestOptions, 'format' | 'precision' | 'db' | 'labels'>;

export interface IngestPart {
  input: Buffer;
  format: WireFormat;
  precision?: Precision;
  db?: string;
  labels?: string;
}

/**
 * Where each input's numbers sit in `ManyResult.counts`: input i's `lines` is
 * `counts[i * PART.fields + PART.lines]`. `seq` is -1 when the input has none.
 */
export const PART = { fields: 8, lines: 0, rejected: 1, samples: 2, skippedStrings: 3, seq: 4, rejectedLineBytes: 5, rejectedTags: 6, series: 7 } as const;

export interface ManyResult {
  /** Per input, PART.fields numbers (see PART) (one array, not an object per input: cheaper to build than a small input is to parse). */
  counts: Float64Array;
  /** Every input's errors (up to maxErrors each, lines numbered within the input; line 0 of a msgpack input: its envelope), in input order. */
  errors: Array<LineError & { part: number }>;
  /** One per `outputs` spec, holding the samples of all inputs. */
  outputs: EncodedOutput[];
  unroutedSamples: number;
  /** With `seriesHashes` and an output that maps: each input's distinct series (u64 LE), input after input (input i has `series` of them; a series two inputs share is in both). */
  seriesHashes?: Buffer;
  /** With `latest` and an output that maps: the live tap over all inputs. */
  latest?: LatestSamples;
}

export interface FeatureStoreOptions {
  /** Weight of a new sample in the EWMA mean and variance, (0, 1]; default 0.05. */
  alpha?: number;
  /** Weight of a new sample in its hour-of-day and day-of-week buckets, (0, 1]; default 0.1. */
  seasonalAlpha?: number;
  /** Series tracked at most (the rest counted as untracked); default 100,000. */
  maxSeries?: number;
}

export interface FeatureUpdate {
  updated: number;
  /** Samples older than their series' newest, skipped. */
  outOfOrder: number;
  /** Samples of series not tracked (the store full). */
  untracked: number;
  newSeries: number;
}

/** Every tracked series' features: `ids` u64 LE each, and per series featureNames().length values in that order. */
export interface FeatureMatrix {
  ids: Buffer;
  values: Float64Array;
}

/**
 * The anomaly engine's streaming per-series features (native/core/src/features.rs), shared by every
 * thread of the process: an ingest call on any thread (a parser worker's) whose options name its
 * `handle` in `features` feeds it the samples it mapped, with each new series' labels.
 */
export interface FeatureStore {
  /** What IngestOptions.features names; ignored by ingest calls once the store is closed. */
  readonly handle: number;
  /** Samples in the columns output's layout: seriesIds (i64 LE), timestamps (i64 LE Unix ms), values (f64 LE). A new series gets no labels. */
  update(seriesIds: Buffer, timestamps: Buffer, values: Buffer): FeatureUpdate;
  /**
   * Every tracked series' features as of nowMs (the silence is measured to it), with the peak
   * z-score (`peak_z`) of the samples since `reader`'s previous read (0..3, default 0): that reader's
   * peaks start anew. Each reader (a scoring schedule) sees every spike once.
   */
  features(nowMs: number, reader?: number): FeatureMatrix;
  /** Each series' labels (ids: u64 LE each) as encodeLabels text, `__name__` first; null when not tracked or fed without labels. */
  labels(ids: Buffer): Array<string | null>;
  /** Forgets the series silent since before beforeMs; returns how many. */
  evictIdle(beforeMs: number): number;
  readonly size: number;
  readonly evicted: number;
  /** What every update did since the store was made. */
  readonly totals: FeatureUpdate;
  /** Bytes the tracked series' labels take (besides bytesPerSeries() each). */
  readonly labelBytes: number;
  /** Stops ingest calls feeding it (it can still be read). */
  close(): void;
}

export interface NativeBinding {
  ingest(input: Buffer, options: IngestOptions): IngestResult;
  /** A store of streaming per-series features (bytesPerSeries(): what one series takes). */
  FeatureStore: { new (options?: FeatureStoreOptions): FeatureStore; /** Bytes a tracked series takes besides its labels. */ bytesPerSeries(): number };
  /** The names of a feature vector's entries, in order: a model's input schema names these. */
  featureNames(): string[];
  /**
   * Several small inputs parsed as one batch: each with its own format, precision, db and labels,
   * counted on its own; the samples of all of them encoded once per output (exactly what ingesting
   * each alone would have produced, merged).
   */
  ingestMany(parts: IngestPart[], options: SharedIngestOptions): ManyResult;
  /** Maps and encodes typed readings; `format`, `precision` and `maxLineBytes` of the options do not apply. Throws on a timestamp that is not a safe integer. */
  ingestReadings(readings: Readings, options: Omit<IngestOptions, 'format' | 'precision'>): IngestResult;
  /**
   * Registers a series (its labels as one encodeLabels text) in this thread's series table, for
   * Readings.seriesIds; the id is valid on this thread until releaseSeries. Throws unless the text
   * is one series of name/value pairs.
   */
  registerSeries(text: string): number;
  /** Releases a series id (false when none was registered under it); the id may be reused after. */
  releaseSeries(id: number): boolean;
  /** The labels registered under `id` on this thread (as given to registerSeries); null when none is. */
  seriesText(id: number): string | null;
  /** How many series this thread's table holds. */
  registeredSeries(): number;
  /** Parse only (no mapping, hashing or encoding): for benchmarks. */
  parseLineProtocol(input: Buffer, precision?: Precision): ParseStats;
  /** The 64-bit series hash of a canonical label set (`__name__` included), as i64 (BigInt). */
  seriesHash(labels: Record<string, string>): bigint;
  /** Shard indexes (primary first) of a series hash for `shards` targets and `replication` copies. */
  shardsFor(hash: bigint, shards: number, replication: number): number[];
  /** Decode a snappy-compressed remote-write payload, for tests: series with labels and samples. */
  decodeRemoteWrite(payload: Buffer): Array<{ labels: Record<string, string>; samples: Array<{ value: number; timestamp: number }> }>;
  /**
   * One snappy-compressed Prometheus WriteRequest with the series of all `payloads` (each one), in
   * their order (empty ones skipped; none: an empty buffer). Throws on an invalid payload, naming it.
   */
  mergeRemoteWrite(payloads: Buffer[]): Buffer;
  /**
   * The 24-byte header of a durable-queue record holding `payload`: magic `SQR1`, CRC32C (u32 LE) of
   * header bytes 8..24 then the payload, payload length (u32 LE), samples (u32 LE), enqueue time (Unix ms,
   * i64 LE). Write it, then the payload. Throws on a samples count outside u32, an enqueuedMs that is not
   * a safe integer, or a payload over 4 GiB - 1.
   */
  queueRecordHeader(payload: Buffer, samples: number, enqueuedMs: number): Buffer;
  /**
   * Scans a queue segment: every intact record (magic, length <= maxRecordBytes and within the segment,
   * matching CRC), before and after any damage, and each damaged range once. Linear time in the segment's
   * length whatever its bytes. Never throws for damaged data; throws only on a bad maxRecordBytes.
   */
  queueScan(segment: Buffer, maxRecordBytes: number): QueueScanResult;
  /**
   * The `seq` of a msgpack batch read without decoding it: the first top-level `seq` key's value when
   * it is an integer in 0..2^53-1, else undefined (none, not a map with string keys up to it, truncated).
   * Cheap when `seq` comes first; never reads past the frame. For a valid batch it equals the parsed seq.
   */
  msgpackSeq(frame: Buffer): number | undefined;
  /** CRC32C (Castagnoli) of `data`, hardware-accelerated where available. */
  crc32c(data: Buffer): number;
}
