// The IngestPort: the one way into the pipeline for every source. It counts
// what arrived, has the native core parse and encode it (./index.ts: inline
// or in the worker pool; one output per routed sink), applies the writer's
// limits, hands the batch to the router (src/router), and counts what was
// accepted, rejected and dropped. Sources (src/sources/<name>) only map a
// request, a frame or a connector's readings to bytes in a wire format or to
// typed readings, plus options.

import type { Principal } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import type { IngestCounters, Metrics } from '../metrics/index.js';
import { PART, encodeLabels } from '../native/index.js';
import type { IngestOptions, IngestPart, IngestResult, ManyResult, Precision, Readings, WireFormat } from '../native/types.js';
import type { IngestLimits } from '../limits/index.js';
import type { Router } from '../router/index.js';
import type { Protocol } from '../sources/types.js';
import type { Pipeline } from './index.js';
import { TurnDeferral } from '../turn.js';

export type { WireFormat } from '../native/types.js';

/** The port a source writes through. */
export interface IngestPort {
  /**
   * Parses `body` (which must own its memory: it may move to a worker) and
   * stores its samples. Resolves with the parse result once every sink the
   * batch is routed to holds it; rejects with a SentioError when it could not
   * (the parse counts are then on the error's `details`).
   */
  writeBytes(protocol: Protocol, format: WireFormat, body: Buffer, opts: BatchOptions): Promise<IngestResult>;
  /** Stores typed readings (a connector's) the same way, without text in between. */
  writeReadings(protocol: Protocol, readings: Readings, opts: BatchOptions): Promise<IngestResult>;
  /** Whether the stages behind the port are above their high-water marks: sources ask their clients to slow down. */
  overloaded(): boolean;
}

export interface BatchOptions {
  precision?: Precision;
  db?: string;
  /** Who writes (Authenticator.identify): its key scopes per-token limits; a device token also names its device. */
  principal: Principal;
}

/**
 * Watches batches on their way through (device status, live views). Called
 * on the main thread once per batch: keep it to a few field reads.
 */
export interface IngestObserver {
  /** A batch was parsed and stored; `result` holds its counts (and each sink's output). */
  accepted?(result: IngestResult, opts: BatchOptions): void;
  /** A batch was refused as a whole (limits, sink, malformed); its lines may have been parsed. */
  failed?(err: SentioError, opts: BatchOptions): void;
  /** Extra outputs this observer needs from the parse of the next batch (e.g. `latest` while a live view watches); undefined: none. */
  parseOptions?(): ObserverParseOptions | undefined;
  /**
   * Whether `accepted` needs each batch's own extra outputs: small batches
   * arriving together are parsed as one, and then the extra outputs (the
   * live tap) cover all of them and come with the first batch only.
   */
  needsEachBatch?(): boolean;
}

/** The parse options an observer may add to a batch. */
export type ObserverParseOptions = Pick<IngestOptions, 'latest' | 'features'>;

export interface IngestorOptions {
  pipeline: Pipeline;
  router: Router;
  metrics: Metrics;
  /** Rejected lines listed in a result (all are counted). */
  maxErrors: number;
  /** Per-point limits of the parser; 0: unlimited. */
  maxLineBytes: number;
  maxTags: number;
  /** Per-token rate and cardinality limits. */
  limits: IngestLimits;
  /** Whether the stages behind the sources are above their high-water marks (queue filling, parser pool backed up). */
  overloaded?: () => boolean;
  observers?: IngestObserver[];
  /**
   * Byte batches up to this size that arrive in the same event-loop turn
   * (a fleet's frames) are parsed in one native call and written to the
   * sinks as one batch, each still counted, limited and answered on its
   * own; 0: each alone.
   */
  coalesceMaxBytes?: number;
}

/** A small byte batch waiting for the end of the event-loop turn, to be parsed with the others that came in it. */
interface Waiting {
  protocol: Protocol;
  format: WireFormat;
  body: Buffer;
  opts: BatchOptions;
  resolve: (r: IngestResult) => void;
  reject: (e: SentioError) => void;
  /** Answered. */
  done?: boolean;
}

/**
 * Most batches parsed as one, and their bytes: the turn's batch is parsed as
 * soon as either is reached. Larger calls cost more per batch, not less:
 * with 10-line frames of 40 series each, calls of 64 to 128 cost the least
 * per frame here (about 15 us, against 28 alone) and calls of 512 about 1.5x
 * that (bench/RESULTS.md, core path as components).
 */
const COALESCE_MAX_PARTS = 64;
const COALESCE_MAX_TOTAL_BYTES = 256 << 10;

/** The labels a readings batch is counted under, as bytes batches are by their wire format. */
const READINGS_FORMAT = 'readings';

export class Ingestor implements IngestPort {
  private active = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  /** Small batches of this event-loop turn (see coalesceMaxBytes), and their bytes. */
  private turn: Waiting[] = [];
  private turnBytes = 0;
  private readonly turnEnd = new TurnDeferral(() => this.flushTurn());

  private readonly pipeline: Pipeline;
  private readonly router: Router;
  private readonly metrics: Metrics;
  private readonly limits: IngestLimits;
  private readonly observers: IngestObserver[];
  private readonly coalesceMaxBytes: number;
  private readonly parseOptions: { maxErrors: number; maxLineBytes: number; maxTags: number; seriesHashes: boolean };
  /** Whether the stages behind the front ends are above their high-water marks. */
  readonly overloaded: () => boolean;

  constructor(o: IngestorOptions) {
    this.pipeline = o.pipeline;
    this.router = o.router;
    this.metrics = o.metrics;
    this.limits = o.limits;
    this.observers = o.observers ?? [];
    this.overloaded = o.overloaded ?? (() => false);
    this.coalesceMaxBytes = o.coalesceMaxBytes ?? 0;
    this.parseOptions = { maxErrors: o.maxErrors, maxLineBytes: o.maxLineBytes, maxTags: o.maxTags, seriesHashes: o.limits.needsSeries };
  }

  writeBytes(protocol: Protocol, format: WireFormat, body: Buffer, opts: BatchOptions): Promise<IngestResult> {
    if (body.byteLength <= this.coalesceMaxBytes && this.mayCoalesce()) return this.enqueue(protocol, format, body, opts);
    return this.write(protocol, format, body.byteLength, opts, this.bytesParser(body, format));
  }

  /** Parses one byte batch alone (inline or in the pool). */
  private bytesParser(body: Buffer, format: WireFormat): (options: Omit<IngestOptions, 'format'>) => Promise<IngestResult> {
    return (options) => this.pipeline.ingest(body, { ...options, format });
  }

  writeReadings(protocol: Protocol, readings: Readings, opts: BatchOptions): Promise<IngestResult> {
    // Counted as bytes received: the three columns' sizes (labels are not counted).
    const bytes = readings.sampleSeries.byteLength + readings.timestamps.byteLength + readings.values.byteLength;
    return this.write(protocol, READINGS_FORMAT, bytes, opts, async (options) => this.pipeline.readings(readings, options));
  }

  private mayCoalesce(): boolean {
    for (const o of this.observers) if (o.needsEachBatch?.()) return false;
    return true;
  }

  /** Adds a small batch to this turn's, parsed at the end of the turn (src/turn.ts: or after TURN_MAX_AGE_MS), or once the turn's batch is full. */
  private enqueue(protocol: Protocol, format: WireFormat, body: Buffer, opts: BatchOptions): Promise<IngestResult> {
    if (this.stopping) return Promise.reject(new SentioError('SENTIO_ERR_NOT_READY', 'the gateway is shutting down'));
    this.enter();
    return new Promise<IngestResult>((resolve, reject) => {
      this.turn.push({ protocol, format, body, opts, resolve, reject });
      this.turnBytes += body.byteLength;
      if (this.turn.length >= COALESCE_MAX_PARTS || this.turnBytes >= COALESCE_MAX_TOTAL_BYTES) this.turnEnd.flush();
      else this.turnEnd.added();
    });
  }

  private flushTurn(): void {
    const parts = this.turn;
    if (parts.length === 0) return;
    this.turn = [];
    this.turnBytes = 0;
    this.metrics.coalesced.observe(parts.length);
    const settled = (p: Waiting, r: IngestResult | SentioError): void => {
      p.done = true;
      if (r instanceof SentioError) p.reject(r);
      else p.resolve(r);
      this.leave();
    };
    if (parts.length === 1) {
      const p = parts[0]!;
      void this.writeOne(p.protocol, p.format, p.body.byteLength, p.opts, this.bytesParser(p.body, p.format)).then(
        (r) => settled(p, r),
        (e: SentioError) => settled(p, e),
      );
      return;
    }
    this.writeMany(parts, settled).catch((err: unknown) => {
      // A bug, not a refusal: no batch of the turn is left unanswered.
      for (const p of parts) if (!p.done) settled(p, asSentioError(err));
    });
  }

  /** A batch in flight: `stop` waits for it. */
  private enter(): void {
    this.active++;
    this.metrics.inflight.inc();
  }

  private leave(): void {
    this.metrics.inflight.dec();
    this.active--;
    if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** The options every batch is parsed with now, and the observers' extra outputs. */
  private commonOptions(): Omit<IngestOptions, 'format' | 'precision' | 'db' | 'labels'> {
    return { nowMs: Date.now(), outputs: this.router.metricsOutputs, ...this.parseOptions, ...this.observerParseOptions() };
  }

  /** One batch through parse (or mapping), limits and the router, counted. */
  private async write(protocol: Protocol, format: string, bytes: number, opts: BatchOptions, parse: (options: Omit<IngestOptions, 'format'>) => Promise<IngestResult>): Promise<IngestResult> {
    if (this.stopping) throw new SentioError('SENTIO_ERR_NOT_READY', 'the gateway is shutting down');
    this.enter();
    try {
      return await this.writeOne(protocol, format, bytes, opts, parse);
    } finally {
      this.leave();
    }
  }

  private async writeOne(protocol: Protocol, format: string, bytes: number, opts: BatchOptions, parse: (options: Omit<IngestOptions, 'format'>) => Promise<IngestResult>): Promise<IngestResult> {
    const counters = this.metrics.ingest(protocol, format);
    counters.receivedBytes.inc(bytes);
    try {
      const result = await parse({ ...ownOptions(opts), ...this.commonOptions() });
      this.counted(counters, result);
      if (result.samples > 0) {
        await this.admit(opts, result.samples, result.seriesHashes);
        try {
          await this.router.routeMetrics(result);
        } catch (err) {
          throw this.notStored(protocol, result, err);
        }
        counters.acceptedSamples.inc(result.samples);
      }
      for (const o of this.observers) o.accepted?.(result, opts);
      return result;
    } catch (err) {
      // The native binding throws only on invalid options or a caught panic.
      throw this.refused(err, opts);
    }
  }

  /**
   * Several small batches of one turn: one parse, limits per batch, one write
   * per sink for all that passed; each batch answered with its own counts.
   * A batch its limits refuse is left out of what is written: the others
   * are then parsed again without it (only on a refusal).
   */
  private async writeMany(parts: Waiting[], settled: (p: Waiting, r: IngestResult | SentioError) => void): Promise<void> {
    const inputs: IngestPart[] = parts.map((p) => ({ input: p.body, format: p.format, ...ownOptions(p.opts) }));
    const counters = parts.map((p) => this.metrics.ingest(p.protocol, p.format));
    parts.forEach((p, i) => counters[i]!.receivedBytes.inc(p.body.byteLength));
    const options = this.commonOptions();
    let many: ManyResult;
    try {
      many = this.pipeline.many(inputs, options);
    } catch (err) {
      for (const p of parts) settled(p, this.refused(err, p.opts));
      return;
    }
    const results = partResults(many, parts.length);
    // The live tap covers every batch of the call: it goes with the first one accepted.
    let latest = many.latest;
    const accept = (i: number): void => {
      if (latest !== undefined) {
        results[i]!.latest = latest;
        latest = undefined;
      }
      for (const o of this.observers) o.accepted?.(results[i]!, parts[i]!.opts);
      settled(parts[i]!, results[i]!);
    };
    const refuse = (i: number, err: unknown): void => settled(parts[i]!, this.refused(err, parts[i]!.opts));

    const stored: number[] = [];
    const admitting: number[] = [];
    const admissions: Array<Promise<void>> = [];
    let leftOut = false;
    for (let i = 0; i < parts.length; i++) {
      const r = results[i]!;
      try {
        this.counted(counters[i]!, r);
      } catch (err) {
        refuse(i, err);
        continue;
      }
      if (r.samples === 0) {
        accept(i);
        continue;
      }
      try {
        const admitted = this.admit(parts[i]!.opts, r.samples, r.seriesHashes);
        if (admitted === undefined) stored.push(i);
        else {
          admitting.push(i);
          admissions.push(admitted);
        }
      } catch (err) {
        leftOut = true;
        refuse(i, err);
      }
    }
    if (admissions.length > 0) {
      (await Promise.allSettled(admissions)).forEach((o, j) => {
        if (o.status === 'fulfilled') stored.push(admitting[j]!);
        else {
          leftOut = true;
          refuse(admitting[j]!, o.reason);
        }
      });
      stored.sort((a, b) => a - b);
    }
    if (stored.length === 0) return;
    let encoded: Pick<IngestResult, 'outputs' | 'unroutedSamples'> = many;
    try {
      // Counts and limits are per batch and done; only the outputs are wanted again.
      if (leftOut) encoded = this.pipeline.many(stored.map((i) => inputs[i]!), options);
      await this.router.routeMetrics(encoded);
    } catch (err) {
      for (const i of stored) refuse(i, this.notStored(parts[i]!.protocol, results[i]!, err));
      return;
    }
    for (const i of stored) {
      counters[i]!.acceptedSamples.inc(results[i]!.samples);
      accept(i);
    }
  }

  /** Counts a parsed batch; throws SENTIO_ERR_BAD_BATCH for a msgpack batch whose envelope could not be read. */
  private counted(counters: IngestCounters, r: IngestResult): void {
    const envelope = r.errors[0];
    if (envelope !== undefined && envelope.line === 0) {
      // Nothing in it was read.
      throw new SentioError('SENTIO_ERR_BAD_BATCH', `malformed msgpack batch: ${envelope.reason}`);
    }
    counters.receivedPoints.inc(r.lines);
    if (r.rejected > 0) counters.rejectedPoints.inc(r.rejected);
    if (r.skippedStrings > 0) counters.skippedStrings.inc(r.skippedStrings);
    if (r.rejectedLineBytes > 0) this.metrics.limitHit('line_bytes', r.rejectedLineBytes);
    if (r.rejectedTags > 0) this.metrics.limitHit('tags', r.rejectedTags);
  }

  /** The writer's rate and cardinality limits (src/limits): undefined or a promise when admitted, throws (or rejects) when not. */
  private admit(opts: BatchOptions, samples: number, seriesHashes: Buffer | undefined): Promise<void> | undefined {
    const hit = (err: unknown): never => {
      if (err instanceof SentioError) this.metrics.limitHit(err.code === 'SENTIO_ERR_RATE_LIMITED' ? 'samples_per_second' : 'series_per_minute', 1);
      throw err;
    };
    try {
      const admitted = this.limits.admit(opts.principal.key, samples, seriesHashes);
      return admitted === undefined ? undefined : admitted.catch(hit);
    } catch (err) {
      return hit(err);
    }
  }

  /** A batch the router could not store: its samples counted as dropped, its counts on the error (each batch's own). */
  private notStored(protocol: Protocol, r: IngestResult, err: unknown): SentioError {
    this.metrics.dropped(protocol, r.samples);
    const e = asSentioError(err);
    const details = { ...e.details, lines: r.lines, rejected: r.rejected, ...(r.seq !== undefined ? { seq: r.seq } : {}) };
    return new SentioError(e.code, e.message, { cause: e, details });
  }

  /** The error a batch is refused with, told to the observers. */
  private refused(err: unknown, opts: BatchOptions): SentioError {
    const e = asSentioError(err);
    for (const o of this.observers) o.failed?.(e, opts);
    return e;
  }

  private observerParseOptions(): ObserverParseOptions | undefined {
    let extra: ObserverParseOptions | undefined;
    for (const o of this.observers) {
      const x = o.parseOptions?.();
      if (x !== undefined) extra = { ...extra, ...x };
    }
    return extra;
  }

  /** Refuses new batches (SENTIO_ERR_NOT_READY) and resolves once those in flight have finished. */
  stop(): Promise<void> {
    this.stopping = true;
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** The options that are a batch's own (the rest are the same for every batch of a moment). */
function ownOptions(opts: BatchOptions): Pick<IngestPart, 'precision' | 'db' | 'labels'> {
  return {
    ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
    ...(opts.db !== undefined && opts.db !== '' ? { db: opts.db } : {}),
    ...(opts.principal.labels !== undefined ? { labels: encodeLabels(opts.principal.labels) } : {}),
  };
}

/** Each input's result out of a ManyResult, without outputs (they are the whole call's) or the live tap. */
function partResults(many: ManyResult, n: number): IngestResult[] {
  const c = many.counts;
  const out: IngestResult[] = [];
  let e = 0;
  let hashAt = 0;
  for (let i = 0; i < n; i++) {
    const at = i * PART.fields;
    const series = c[at + PART.series]!;
    const seriesHashes = many.seriesHashes?.subarray(hashAt * 8, (hashAt + series) * 8);
    hashAt += series;
    const errors: IngestResult['errors'] = [];
    while (e < many.errors.length && many.errors[e]!.part === i) {
      const { line, reason } = many.errors[e++]!;
      errors.push({ line, reason });
    }
    const seq = c[at + PART.seq]!;
    out.push({
      lines: c[at + PART.lines]!,
      rejected: c[at + PART.rejected]!,
      samples: c[at + PART.samples]!,
      skippedStrings: c[at + PART.skippedStrings]!,
      errors,
      ...(seq >= 0 ? { seq } : {}),
      outputs: [],
      unroutedSamples: 0,
      rejectedLineBytes: c[at + PART.rejectedLineBytes]!,
      rejectedTags: c[at + PART.rejectedTags]!,
      ...(seriesHashes !== undefined ? { seriesHashes } : {}),
    });
  }
  return out;
}
