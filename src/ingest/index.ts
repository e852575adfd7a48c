// The ingest stage shared by every front end: count what arrived, parse and
// encode it (src/pipeline → native core, one output per routed sink), hand
// it to the router (src/router), count what was accepted, rejected and
// dropped. Protocol modules
// (./influx.ts, ./ws.ts) only map a request to bytes plus options.

import type { Principal } from '../auth/index.js';
import { SentioError, asSentioError } from '../errors.js';
import type { Format, Metrics, Protocol } from '../metrics/index.js';
import type { IngestOptions, IngestResult, Precision } from '../native/types.js';
import type { IngestLimits } from '../limits/index.js';
import type { Pipeline } from '../pipeline/index.js';
import type { Router } from '../router/index.js';

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
  /** Whether the stages behind the front ends are above their high-water marks (queue filling, parser pool backed up). */
  overloaded?: () => boolean;
  observers?: IngestObserver[];
}

export class Ingestor {
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

  /**
   * Parses `body` and stores its samples. Resolves with the parse result
   * once the sink has accepted them; rejects with a SentioError when the
   * sink could not (the parse counts are then on the error's `result`).
   */
  async ingest(protocol: Protocol, format: Format, body: Buffer, opts: BatchOptions): Promise<IngestResult> {
    if (this.stopping) throw new SentioError('SENTIO_ERR_NOT_READY', 'the gateway is shutting down');
    const counters = this.metrics.ingest(protocol, format);
    counters.receivedBytes.inc(body.byteLength);
    this.active++;
    this.metrics.inflight.inc();
    try {
      const result = await this.pipeline.ingest(body, {
        format,
        ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
        ...(opts.db !== undefined && opts.db !== '' ? { db: opts.db } : {}),
        ...(opts.principal.labels !== undefined ? { labels: opts.principal.labels } : {}),
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

const precisions: Record<string, Precision> = {
  n: 'ns', ns: 'ns', u: 'us', us: 'us', 'µ': 'us', ms: 'ms', s: 's', m: 'm', h: 'h',
};

/**
 * The precision named by an InfluxDB `precision` parameter (v1 spells
 * n/u/ms/s/m/h, v2 ns/us/ms/s); undefined for the protocol's default.
 */
export function parsePrecision(value: string | null, allowed: 'v1' | 'v2'): Precision | undefined {
  if (value === null || value === '') return undefined;
  const p = precisions[value];
  if (p === undefined || (allowed === 'v2' && (p === 'm' || p === 'h' || value.length === 1 && p !== 's'))) {
    const list = allowed === 'v1' ? 'n, u, ms, s, m or h' : 'ns, us, ms or s';
    throw new SentioError('SENTIO_ERR_BAD_PRECISION', `unsupported precision "${value}" (expected ${list})`);
  }
  return p;
}
