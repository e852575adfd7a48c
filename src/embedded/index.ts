// The embedded database: the one owner of the DuckDB file under the data
// directory and its schema. The embedded sink (src/sinks/embedded) appends
// through it, the query engine (src/query/embedded*.ts) reads through it;
// nothing else opens the file.
//
// Input is the native core's `columns` encoding (see ColumnBatch):
// per sample an i64 series id, an i64 Unix-ms timestamp and an f64 value, plus
// the distinct series of the batch with their canonical label sets as JSON.
// Samples go in through a DuckDB appender fed whole data chunks (2,048 rows),
// filled by copying the little-endian column bytes straight into the vectors
// (no per-sample JS work; bench-fill.ts measures the alternatives). Schema and
// reasoning: docs/embedded-store.md.
//
// Group commit: write() queues the batch; one drain loop takes everything
// queued, appends it inside one transaction (series rows and samples
// together) and COMMITs. Batches that arrive while a commit runs go into the
// next one. Each write() resolves once its commit has returned, or rejects
// with an Error saying what failed (the whole group fails together and is
// rolled back, so nothing of a rejected batch is stored).
//
// Edge cases:
// - Duplicate samples (same series and timestamp, e.g. a client retry) are
//   kept as they are: the store is append-only. Readers decide (the query API
//   takes the last written; exportSeries returns all, in insertion order on
//   equal timestamps).
// - A series definition whose id is already known (loaded from the file at
//   open, or written earlier) is skipped; the first definition of an id wins.
//   How ids are made is not our business: the store trusts the core that
//   equal ids mean equal label sets, and that every sample's id is among the
//   batch's distinct ids (not checked per sample, to keep JS off the hot path).
// - Values are stored bit for bit: NaN (incl. the Prometheus staleness
//   marker's payload, checked in the file), ±Infinity, -0 and subnormals
//   survive. Reading through node-api's JS conversion quiets a signaling NaN
//   (0x7ff0...02 comes back as 0x7ff8...02), so exportSeries returns a plain
//   NaN for it; a reader that needs the marker must read the vector bytes.
// - Restart: known series ids are reloaded from the file at open.
// - A malformed batch (column lengths that disagree, bad offsets, a
//   definition that is not a JSON object) is rejected alone, before queueing,
//   with SENTIO_ERR_SINK_REJECTED.
// - close() commits what is queued, then closes; it is idempotent; append()
//   after close() rejects with SENTIO_ERR_SINK_UNAVAILABLE.
// - Appends and the appender flush are synchronous native calls on the main
//   thread (about 1 ms per 4,000 samples); COMMIT (the fsync) is not.
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  BIGINT,
  DOUBLE,
  DuckDBDataChunk,
  DuckDBInstance,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { SentioError } from '../errors.js';
import type { EncodedOutput } from '../native/types.js';
import type { SinkHealth, SinkMetrics } from '../sinks/types.js';

/** A batch of samples in the core's `columns` encoding. */
export interface ColumnBatch {
  samples: number;
  seriesIds: Buffer;
  timestamps: Buffer;
  values: Buffer;
  distinctIds: Buffer;
  seriesDefs: Buffer;
  seriesDefOffsets: Buffer;
}

export function columnBatchOf(o: EncodedOutput): ColumnBatch {
  const empty = Buffer.alloc(0);
  return {
    samples: o.samples,
    seriesIds: o.seriesIds ?? empty,
    timestamps: o.timestamps ?? empty,
    values: o.values ?? empty,
    distinctIds: o.distinctIds ?? empty,
    seriesDefs: o.seriesDefs ?? empty,
    seriesDefOffsets: o.seriesDefOffsets ?? empty,
  };
}

export interface EmbeddedStoreOptions {
  dataDir: string;
  /** File name inside dataDir (default 'sentio.duckdb'). */
  file?: string;
  /** Commits are reported as the embedded sink's sends (shard label 'embedded'). */
  metrics: SinkMetrics;
  log?: (msg: string) => void;
}

export interface ExportedSeries {
  labels: Record<string, string>;
  samples: Array<{ timestamp: number; value: number }>;
}

/** The shard label under which commits are reported to SinkMetrics. */
const SHARD = 'embedded';
export const SCHEMA_VERSION = 1;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS sentio_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)`,
  `INSERT INTO sentio_meta VALUES ('schema_version', '${SCHEMA_VERSION}') ON CONFLICT DO NOTHING`,
  `CREATE TABLE IF NOT EXISTS series (
    id BIGINT PRIMARY KEY,
    metric VARCHAR NOT NULL,
    labels JSON NOT NULL,
    first_seen BIGINT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS samples (
    series_id BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    value DOUBLE NOT NULL
  )`,
];

/** The two calls of @duckdb/node-bindings (node-api's own binding) used to fill vectors by memcpy. */
export interface RawBindings {
  vector_size(): number;
  data_chunk_get_vector(chunk: unknown, columnIndex: number): unknown;
  copy_data_to_vector(vector: unknown, targetByteOffset: number, source: ArrayBufferLike, sourceByteOffset: number, byteCount: number): void;
}

let raw: RawBindings | undefined;
/** Resolved from @duckdb/node-api's own location, so it is always the binding node-api itself loads. */
export function rawBindings(): RawBindings {
  if (!raw) {
    const require = createRequire(import.meta.resolve('@duckdb/node-api'));
    raw = require('@duckdb/node-bindings') as RawBindings;
  }
  return raw;
}

interface NewSeries {
  id: bigint;
  metric: string;
  labels: string;
}

interface Pending {
  batch: ColumnBatch;
  /** Definitions whose id was unknown when the batch was queued. */
  fresh: NewSeries[];
  bytes: number;
  /** performance.now() when the batch was handed over. */
  since: number;
  resolve: () => void;
  reject: (err: SentioError) => void;
}

/** A reusable (series_id, ts, value) chunk filled by memcpy at any row offset. */
class SampleChunk {
  readonly chunk = DuckDBDataChunk.create([BIGINT, BIGINT, DOUBLE]);
  readonly capacity: number;
  private readonly vectors: unknown[];
  rows = 0;

  constructor(private readonly b: RawBindings) {
    this.capacity = b.vector_size();
    this.vectors = [0, 1, 2].map((i) => b.data_chunk_get_vector(this.chunk.chunk, i));
  }

  /** Copies up to the free room; returns the number of samples taken from `start`. */
  fill(batch: ColumnBatch, start: number): number {
    const n = Math.min(batch.samples - start, this.capacity - this.rows);
    const at = this.rows * 8;
    const from = start * 8;
    const len = n * 8;
    const { seriesIds: ids, timestamps: ts, values } = batch;
    this.b.copy_data_to_vector(this.vectors[0], at, ids.buffer, ids.byteOffset + from, len);
    this.b.copy_data_to_vector(this.vectors[1], at, ts.buffer, ts.byteOffset + from, len);
    this.b.copy_data_to_vector(this.vectors[2], at, values.buffer, values.byteOffset + from, len);
    this.rows += n;
    return n;
  }

  appendTo(appender: DuckDBAppender): void {
    if (this.rows === 0) return;
    this.chunk.rowCount = this.rows;
    appender.appendDataChunk(this.chunk);
    this.rows = 0;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks the column shapes and parses the definitions of ids not in `known`. Throws on a malformed batch. */
function prepare(batch: ColumnBatch, known: Set<bigint>): NewSeries[] {
  const { samples, seriesIds, timestamps, values, distinctIds, seriesDefs, seriesDefOffsets } = batch;
  if (!Number.isSafeInteger(samples) || samples < 0) throw new Error(`samples is ${samples}`);
  const bytes = samples * 8;
  if (seriesIds.length !== bytes || timestamps.length !== bytes || values.length !== bytes) {
    throw new Error(
      `${samples} samples need ${bytes} bytes per column, got seriesIds ${seriesIds.length}, timestamps ${timestamps.length}, values ${values.length}`,
    );
  }
  if (distinctIds.length % 8 !== 0) throw new Error(`distinctIds is ${distinctIds.length} bytes, not a multiple of 8`);
  const distinct = distinctIds.length / 8;
  if (distinct === 0 && samples > 0) throw new Error(`${samples} samples but no series`);
  if (distinct === 0) return [];
  if (seriesDefOffsets.length !== (distinct + 1) * 4) {
    throw new Error(`${distinct} series need ${(distinct + 1) * 4} bytes of seriesDefOffsets, got ${seriesDefOffsets.length}`);
  }
  const fresh: NewSeries[] = [];
  let end = seriesDefOffsets.readUInt32LE(0);
  for (let i = 0; i < distinct; i++) {
    const start = end;
    end = seriesDefOffsets.readUInt32LE((i + 1) * 4);
    if (end < start || end > seriesDefs.length) {
      throw new Error(`series ${i}: definition offsets ${start}..${end} outside 0..${seriesDefs.length}`);
    }
    const id = distinctIds.readBigInt64LE(i * 8);
    if (known.has(id)) continue;
    const text = seriesDefs.toString('utf8', start, end);
    let labels: unknown;
    try {
      labels = JSON.parse(text);
    } catch (err) {
      throw new Error(`series ${i}: definition is not JSON (${errorMessage(err)})`);
    }
    if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
      throw new Error(`series ${i}: definition is not a JSON object`);
    }
    const name = (labels as Record<string, unknown>)['__name__'];
    fresh.push({ id, metric: typeof name === 'string' ? name : '', labels: text });
  }
  return fresh;
}

export class EmbeddedStore {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private isClosed = false;
  private lastError: string | null = null;
  private readonly chunk: SampleChunk;

  private constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
    private seriesAppender: DuckDBAppender,
    private samplesAppender: DuckDBAppender,
    private readonly known: Set<bigint>,
    private readonly metrics: SinkMetrics,
    private readonly log: (msg: string) => void,
  ) {
    this.chunk = new SampleChunk(rawBindings());
  }

  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const file = path.join(opts.dataDir, opts.file ?? 'sentio.duckdb');
    const log = opts.log ?? (() => {});
    let instance: DuckDBInstance | undefined;
    try {
      await mkdir(opts.dataDir, { recursive: true });
      instance = await DuckDBInstance.create(file);
      const writer = await instance.connect();
      for (const sql of SCHEMA) await writer.run(sql);
      const reader = await instance.connect();
      const ids = await reader.runAndReadAll('SELECT id FROM series');
      const known = new Set<bigint>(ids.getColumnsJS()[0] as bigint[]);
      const seriesAppender = await writer.createAppender('series');
      const samplesAppender = await writer.createAppender('samples');
      log(`embedded: opened ${file} (${known.size} series)`);
      return new EmbeddedStore(file, instance, writer, reader, seriesAppender, samplesAppender, known, opts.metrics, log);
    } catch (err) {
      instance?.closeSync();
      throw new Error(`embedded: cannot open ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Stores one batch in the next group commit; resolves once that commit has returned. */
  append(batch: ColumnBatch): Promise<void> {
    if (this.isClosed) {
      this.metrics.failed(SHARD, batch.samples, 'closed');
      return Promise.reject(new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `embedded: the store is closed, ${batch.samples} samples not stored`));
    }
    let fresh: NewSeries[];
    try {
      fresh = prepare(batch, this.known);
    } catch (err) {
      this.metrics.failed(SHARD, batch.samples, 'malformed');
      return Promise.reject(new SentioError('SENTIO_ERR_SINK_REJECTED', `embedded: malformed batch: ${errorMessage(err)}`, { cause: err }));
    }
    if (batch.samples === 0 && fresh.length === 0) return Promise.resolve();
    const bytes = batch.seriesIds.length + batch.timestamps.length + batch.values.length + batch.seriesDefs.length;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, fresh, bytes, since: performance.now(), resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = this.drain().finally(() => {
      this.running = null;
      this.kick();
    });
  }

  /** One group commit. Never rejects: failures go to the callers. */
  private async drain(): Promise<void> {
    let group: Pending[] = [];
    const added: bigint[] = [];
    try {
      await this.writer.run('BEGIN TRANSACTION');
      // Everything queued up to now, including what came during BEGIN.
      group = this.queue;
      this.queue = [];
      this.appendSeries(group, added);
      this.appendSamples(group);
      await this.writer.run('COMMIT');
    } catch (err) {
      if (group.length === 0) {
        // BEGIN failed before the group was taken: fail what is queued.
        group = this.queue;
        this.queue = [];
      }
      await this.recover(added);
      const samples = group.reduce((n, p) => n + p.batch.samples, 0);
      const msg = `embedded: commit of ${group.length} batches (${samples} samples) to ${this.file} failed: ${errorMessage(err)}`;
      this.lastError = msg;
      this.log(msg);
      for (const p of group) {
        this.metrics.failed(SHARD, p.batch.samples, 'commit');
        p.reject(new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', msg, { cause: err }));
      }
      return;
    }
    this.lastError = null;
    const committed = performance.now();
    for (const p of group) {
      this.metrics.sent(SHARD, p.batch.samples, p.bytes, (committed - p.since) / 1000);
      p.resolve();
    }
  }

  private appendSeries(group: Pending[], added: bigint[]): void {
    const rows: NewSeries[] = [];
    for (const p of group) {
      for (const s of p.fresh) {
        if (this.known.has(s.id)) continue;
        this.known.add(s.id);
        added.push(s.id);
        rows.push(s);
      }
    }
    if (rows.length === 0) return;
    const now = BigInt(Date.now());
    const max = this.chunk.capacity;
    for (let i = 0; i < rows.length; i += max) {
      const part = rows.slice(i, i + max);
      const chunk = DuckDBDataChunk.create([BIGINT, VARCHAR, VARCHAR, BIGINT]);
      chunk.setColumns([part.map((s) => s.id), part.map((s) => s.metric), part.map((s) => s.labels), part.map(() => now)]);
      this.seriesAppender.appendDataChunk(chunk);
    }
    this.seriesAppender.flushSync();
  }

  private appendSamples(group: Pending[]): void {
    const chunk = this.chunk;
    for (const p of group) {
      let start = 0;
      while (start < p.batch.samples) {
        start += chunk.fill(p.batch, start);
        if (chunk.rows === chunk.capacity) chunk.appendTo(this.samplesAppender);
      }
    }
    chunk.appendTo(this.samplesAppender);
    this.samplesAppender.flushSync();
  }

  /** After a failed group: roll back, forget its new series, start with fresh appenders. */
  private async recover(added: bigint[]): Promise<void> {
    for (const id of added) this.known.delete(id);
    this.chunk.rows = 0;
    for (const a of [this.seriesAppender, this.samplesAppender]) {
      try {
        a.clear();
        a.closeSync();
      } catch {
        // A failed appender may refuse to close; it is replaced below either way.
      }
    }
    try {
      await this.writer.run('ROLLBACK');
    } catch {
      // No transaction open (BEGIN failed, or COMMIT failed and ended it).
    }
    try {
      this.seriesAppender = await this.writer.createAppender('series');
      this.samplesAppender = await this.writer.createAppender('samples');
    } catch (err) {
      this.lastError = `embedded: cannot recreate appenders: ${errorMessage(err)}`;
      this.log(this.lastError);
    }
  }

  async health(): Promise<SinkHealth> {
    if (this.isClosed) return { ok: false, detail: 'closed' };
    try {
      await this.reader.run('SELECT 1');
    } catch (err) {
      return { ok: false, detail: `embedded: ${this.file} does not answer: ${errorMessage(err)}` };
    }
    return this.lastError ? { ok: false, detail: this.lastError } : { ok: true };
  }

  /** Resolves once every batch appended so far has been committed (or failed). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.isClosed = true;
    while (this.running) await this.running;
    try {
      this.seriesAppender.closeSync();
      this.samplesAppender.closeSync();
      this.writer.closeSync();
      this.reader.closeSync();
      this.instance.closeSync();
    } catch (err) {
      throw new Error(`embedded: closing ${this.file} failed: ${errorMessage(err)}`, { cause: err });
    }
    this.log(`embedded: closed ${this.file}`);
  }

  /** Every series (optionally of one metric) with its samples ordered by time. For tests and debugging. */
  async exportSeries(filter: { metric?: string } = {}): Promise<ExportedSeries[]> {
    this.assertOpen();
    const where = filter.metric === undefined ? '' : 'WHERE se.metric = $1';
    const reader = await this.reader.runAndReadAll(
      `SELECT se.id, se.labels, sa.ts, sa.value
       FROM series se LEFT JOIN samples sa ON sa.series_id = se.id
       ${where}
       ORDER BY se.metric, se.labels, se.id, sa.ts, sa.rowid`,
      filter.metric === undefined ? [] : [filter.metric],
    );
    const out: ExportedSeries[] = [];
    if (reader.currentRowCount === 0) return out;
    const [ids, labels, ts, values] = reader.getColumnsJS() as [bigint[], string[], (bigint | null)[], (number | null)[]];
    let current: ExportedSeries | undefined;
    let currentId: bigint | undefined;
    for (let i = 0; i < ids.length; i++) {
      if (current === undefined || ids[i] !== currentId) {
        currentId = ids[i];
        current = { labels: JSON.parse(labels[i]!) as Record<string, string>, samples: [] };
        out.push(current);
      }
      const t = ts[i];
      if (t !== null && t !== undefined) current.samples.push({ timestamp: Number(t), value: values[i]! });
    }
    return out;
  }

  async stats(): Promise<{ series: number; samples: number }> {
    this.assertOpen();
    const reader = await this.reader.runAndReadAll(
      'SELECT (SELECT count(*) FROM series) AS series, (SELECT count(*) FROM samples) AS samples',
    );
    const [series, samples] = reader.getRowsJS()[0] as [bigint, bigint];
    return { series: Number(series), samples: Number(samples) };
  }

  /**
   * Runs a read-only SQL query (for src/query) on a connection of its own,
   * opened for this call, so reads neither wait for nor block the append
   * transaction and concurrent reads do not share a connection. Rows as
   * arrays of JS values (BIGINT as bigint).
   */
  async read<T extends unknown[] = unknown[]>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    const conn = await this.connectReader();
    try {
      return (await conn.runAndReadAll(sql, params)).getRowsJS() as T[];
    } finally {
      conn.closeSync();
    }
  }

  /**
   * A connection of its own on this store, for readers that consume result
   * chunks directly (src/query). Read-only use; the caller closes it.
   */
  async connectReader(): Promise<DuckDBConnection> {
    this.assertOpen();
    return this.instance.connect();
  }

  private assertOpen(): void {
    if (this.isClosed) throw new Error('embedded: the store is closed');
  }
}
