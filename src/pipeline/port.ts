// The IngestPort: the one way into the pipeline for every source. It counts
// what arrived, has the native core parse and encode it (./index.ts: inline
// or in the worker pool; one output per routed sink), applies the writer's
// limits, hands the batch to the router (src/router), and counts what was
// accepted, rejected and dropped. Sources (src/sources/<name>) only map a
// request, a frame or a connector's readings to bytes in a wire format or to
// typed readings, plus options.

import type { Principal } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import type { Metrics } from '../metrics/index.js';
import { encodeLabels } from '../native/index.js';
import type { IngestOptions, IngestResult, Precision, Readings } from '../native/types.js';
import type { IngestLimits } from '../limits/index.js';
import type { Router } from '../router/index.js';
import type { Protocol } from '../sources/types.js';
import type { Pipeline } from './index.js';

/** A wire format the core parses. */
export type WireFormat = IngestOptions['format'];

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
}

/** The parse options an observer may add to a batch. */
export type ObserverParseOptions = Pick<IngestOptions, 'latest'>;

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
}

/** The labels a readings batch is counted under, as bytes batches are by their wire format. */
const READINGS_FORMAT = 'readings';

export class Ingestor implements IngestPort {
  private active = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];

  private readonly pipeline: Pipeline;
  private readonly router: Router;
  private readonly metrics: Metrics;
  private readonly limits: IngestLimits;
  private readonly observers: IngestObserver[];
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
    this.parseOptions = { maxErrors: o.maxErrors, maxLineBytes: o.maxLineBytes, maxTags: o.maxTags, seriesHashes: o.limits.needsSeries };
  }

  writeBytes(protocol: Protocol, format: WireFormat, body: Buffer, opts: BatchOptions): Promise<IngestResult> {
    return this.write(protocol, format, body.byteLength, opts, (options) => this.pipeline.ingest(body, { ...options, format }));
  }

  writeReadings(protocol: Protocol, readings: Readings, opts: BatchOptions): Promise<IngestResult> {
    // Counted as bytes received: the three columns' sizes (labels are not counted).
    const bytes = readings.sampleSeries.byteLength + readings.timestamps.byteLength + readings.values.byteLength;
    return this.write(protocol, READINGS_FORMAT, bytes, opts, async (options) => this.pipeline.readings(readings, options));
  }

  /** One batch through parse (or mapping), limits and the router, counted. */
  private async write(protocol: Protocol, format: string, bytes: number, opts: BatchOptions, parse: (options: Omit<IngestOptions, 'format'>) => Promise<IngestResult>): Promise<IngestResult> {
    if (this.stopping) throw new SentioError('SENTIO_ERR_NOT_READY', 'the gateway is shutting down');
    const counters = this.metrics.ingest(protocol, format);
    counters.receivedBytes.inc(bytes);
    this.active++;
    this.metrics.inflight.inc();
    try {
      const result = await parse({
        ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
        ...(opts.db !== undefined && opts.db !== '' ? { db: opts.db } : {}),
        ...(opts.principal.labels !== undefined ? { labels: encodeLabels(opts.principal.labels) } : {}),
        nowMs: Date.now(),
        outputs: this.router.metricsOutputs,
        ...this.parseOptions,
        ...this.observerParseOptions(),
      });
      const envelope = result.errors[0];
      if (envelope !== undefined && envelope.line === 0) {
        // A msgpack batch whose envelope could not be decoded: nothing in it was read.
        throw new SentioError('SENTIO_ERR_BAD_BATCH', `malformed msgpack batch: ${envelope.reason}`);
      }
      counters.receivedPoints.inc(result.lines);
      if (result.rejected > 0) counters.rejectedPoints.inc(result.rejected);
      if (result.skippedStrings > 0) counters.skippedStrings.inc(result.skippedStrings);
      if (result.rejectedLineBytes > 0) this.metrics.limitHit('line_bytes', result.rejectedLineBytes);
      if (result.rejectedTags > 0) this.metrics.limitHit('tags', result.rejectedTags);
      if (result.samples > 0) {
        try {
          const admitted = this.limits.admit(opts.principal.key, result.samples, result.seriesHashes);
          if (admitted !== undefined) await admitted;
        } catch (err) {
          if (err instanceof SentioError) this.metrics.limitHit(err.code === 'SENTIO_ERR_RATE_LIMITED' ? 'samples_per_second' : 'series_per_minute', 1);
          throw err;
        }
        try {
          await this.router.routeMetrics(result);
        } catch (err) {
          this.metrics.dropped(protocol, result.samples);
          const e = asSentioError(err);
          e.details = { ...e.details, lines: result.lines, rejected: result.rejected, ...(result.seq !== undefined ? { seq: result.seq } : {}) };
          throw e;
        }
        counters.acceptedSamples.inc(result.samples);
      }
      for (const o of this.observers) o.accepted?.(result, opts);
      return result;
    } catch (err) {
      // The native binding throws only on invalid options or a caught panic.
      const e = asSentioError(err);
      for (const o of this.observers) o.failed?.(e, opts);
      throw e;
    } finally {
      this.metrics.inflight.dec();
      if (--this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
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
