// The gateway's Prometheus metrics, served at GET /metrics. Every component
// counts what it received, accepted, rejected, sent and dropped; the labels
// are bound once (children) so the hot path only adds numbers.

import client from 'prom-client';
import type { QueueMetrics } from '../queue/index.js';
import type { SinkMetrics } from '../sinks/types.js';
import { runtimeMetrics } from './runtime.js';

export interface QueueProbe {
  shards: Array<{ shard: number; bytes: number; records: number; samples: number; oldestAgeSeconds: number }>;
}

/** The `protocol` label: the way in, as each source names itself (src/sources/types.ts). */
type Protocol = string;
/** The `format` label: the wire format of a batch (lp, msgpack), or `readings` for a connector's typed readings. */
type Format = string;

export interface PoolStats {
  queueDepth: number;
  threads: number;
  utilization: number;
  /** Batches parsed on the main thread / in the pool, since start. */
  inline: number;
  pooled: number;
  /** The main thread's smoothed event-loop utilization (0..1). */
  mainLoad: number;
}

export interface IngestCounters {
  receivedBytes: client.Counter.Internal;
  receivedPoints: client.Counter.Internal;
  acceptedSamples: client.Counter.Internal;
  rejectedPoints: client.Counter.Internal;
  skippedStrings: client.Counter.Internal;
}

/** Request-level refusals that are limits, by error code. */
const requestLimits: Record<string, string> = {
  SENTIO_ERR_BODY_TOO_LARGE: 'body_bytes',
  SENTIO_ERR_DECOMPRESSED_TOO_LARGE: 'decompressed_bytes',
  SENTIO_ERR_COMPRESSION_RATIO: 'compression_ratio',
  SENTIO_ERR_SLOW_DOWN: 'ws_inflight',
  SENTIO_ERR_FRAME_TOO_LARGE: 'frame_bytes',
  SENTIO_ERR_OVERLOADED: 'inflight_bytes',
};

export class Metrics {
  readonly registry = new client.Registry();
  private readonly runtime: { stop(): void };

  private readonly receivedBytes = this.counter('sentio_received_bytes_total', 'Bytes of point data received (after decompression).', ['protocol', 'format']);
  private readonly receivedPoints = this.counter('sentio_received_points_total', 'Points (lines) received.', ['protocol', 'format']);
  private readonly acceptedSamples = this.counter('sentio_accepted_samples_total', 'Samples accepted and stored.', ['protocol', 'format']);
  private readonly rejectedPoints = this.counter('sentio_rejected_points_total', 'Points (lines) rejected as malformed.', ['protocol', 'format']);
  private readonly skippedStrings = this.counter('sentio_skipped_string_fields_total', 'String field values skipped (not samples).', ['protocol', 'format']);
  private readonly rejectedRequests = this.counter('sentio_rejected_requests_total', 'Requests or frames refused whole, by error code.', ['protocol', 'code']);
  private readonly rejectedBytes = this.counter('sentio_rejected_bytes_total', 'Bytes of requests or frames refused whole.', ['protocol']);
  private readonly limitHits = this.counter(
    'sentio_limit_hits_total',
    'Refusals by a limit: points (line_bytes, tags) or whole batches and requests (series_per_minute, samples_per_second, compression_ratio, body_bytes, decompressed_bytes, frame_bytes, ws_inflight, inflight_bytes).',
    ['limit'],
  );
  private readonly droppedSamples = this.counter('sentio_dropped_samples_total', 'Parsed samples that were not stored because the sink failed (the client was told).', ['protocol']);
  private readonly wsCloses = this.counter('sentio_ws_closed_total', 'WebSocket /ws connections closed, by close code, or invalid_utf8 (a text frame that was not UTF-8: uWebSockets.js closes the connection itself, without a reply).', ['reason']);
  private readonly handlerErrors = this.counter('sentio_handler_errors_total', 'Exceptions thrown out of a route or WebSocket handler (caught, logged, answered 500 or closed with 1011), by route.', ['route']);
  private readonly unhandledRejections = this.counter('sentio_unhandled_rejections_total', 'Promise rejections nobody handled (logged; the process keeps running).', []);
  private readonly sinkSentSamples = this.counter('sentio_sink_sent_samples_total', 'Samples a sink accepted.', ['sink', 'shard']);
  private readonly sinkSentRequests = this.counter('sentio_sink_sent_requests_total', 'Requests (or commits) a sink accepted.', ['sink', 'shard']);
  private readonly sinkSentBytes = this.counter('sentio_sink_sent_bytes_total', 'Encoded bytes a sink accepted.', ['sink', 'shard']);
  private readonly sinkFailedSamples = this.counter('sentio_sink_failed_samples_total', 'Samples a sink failed to store for good.', ['sink', 'shard']);
  private readonly sinkFailedRequests = this.counter('sentio_sink_failed_requests_total', 'Requests a sink failed for good, by reason.', ['sink', 'shard', 'reason']);
  private readonly sinkRetries = this.counter('sentio_sink_retries_total', 'Requests retried.', ['sink', 'shard']);
  /** Read at each scrape; the gateway points it at the parser pool. */
  poolProbe: () => PoolStats = () => ({ queueDepth: 0, threads: 0, utilization: 0, inline: 0, pooled: 0, mainLoad: 0 });

  /** A gauge set from `read` at each scrape. */
  private probeGauge(name: string, help: string, read: () => number): client.Gauge {
    return new client.Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  private poolGauge(name: string, help: string, pick: (p: PoolStats) => number): client.Gauge {
    return this.probeGauge(name, help, () => pick(this.poolProbe()));
  }

  readonly poolQueueDepth = this.poolGauge('sentio_pool_queue_depth', 'Batches waiting for a parser worker.', (p) => p.queueDepth);
  readonly poolThreads = this.poolGauge('sentio_pool_threads', 'Parser worker threads.', (p) => p.threads);
  readonly poolUtilization = this.poolGauge('sentio_pool_utilization', 'Parser worker pool utilization (0..1).', (p) => p.utilization);
  readonly mainLoad = this.poolGauge('sentio_main_thread_load', "The main thread's event-loop utilization (0..1, smoothed), which decides where large batches are parsed.", (p) => p.mainLoad);
  readonly parsedBatches = (() => {
    const probe = () => this.poolProbe();
    const seen = { inline: 0, pool: 0 };
    return new client.Counter({
      name: 'sentio_parsed_batches_total',
      help: 'Batches parsed, by where: inline (main thread) or pool (worker threads).',
      labelNames: ['path'],
      registers: [this.registry],
      collect() {
        const p = probe();
        this.inc({ path: 'inline' }, p.inline - seen.inline);
        this.inc({ path: 'pool' }, p.pooled - seen.pool);
        seen.inline = p.inline;
        seen.pool = p.pooled;
      },
    });
  })();
  readonly coalesced = new client.Histogram({
    name: 'sentio_coalesced_batches',
    help: 'Small batches of one event-loop turn parsed together in one native call and stored as one (coalesce-max-bytes), per call.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry],
  });
  readonly inflight = new client.Gauge({ name: 'sentio_inflight_batches', help: 'Batches being parsed or written.', registers: [this.registry] });
  /** Read at each scrape; the gateway points it at the write requests' memory budget. */
  budgetProbe: () => { inUse: number; peak: number; capacity: number } = () => ({ inUse: 0, peak: 0, capacity: 0 });
  readonly budgetGauges = [
    this.probeGauge('sentio_inflight_body_bytes', 'Bytes held by write requests being received, decompressed and stored (HTTP bodies and WebSocket frames), now.', () => this.budgetProbe().inUse),
    this.probeGauge('sentio_inflight_body_peak_bytes', 'The most bytes write requests held at once since the previous scrape.', () => this.budgetProbe().peak),
    this.probeGauge('sentio_inflight_body_limit_bytes', 'The budget those bytes are taken from (--max-inflight-body-bytes).', () => this.budgetProbe().capacity),
  ];

  private readonly ingestCache = new Map<string, IngestCounters>();

  private readonly ingestLatency = new client.Histogram({
    name: 'sentio_ingest_latency_seconds',
    help: 'From a write request (or WebSocket frame) received to its reply sent, by protocol and outcome (ok: stored, error: refused).',
    labelNames: ['protocol', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly sinkLatency = new client.Histogram({
    name: 'sentio_sink_delivery_seconds',
    help: 'From a batch handed to a sink (a queued sink: dispatched from the queue) to the sink accepting it, retries included, by sink.',
    labelNames: ['sink'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly queueAge = new client.Histogram({
    name: 'sentio_queue_delivery_age_seconds',
    help: 'Age of a queued batch when it was delivered (appended to delivered), by sink.',
    labelNames: ['sink'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
    registers: [this.registry],
  });

  constructor() {
    // The standard process_* and nodejs_* names, as every Node exporter has them.
    this.runtime = runtimeMetrics(this.registry);
  }

  /** Ends the event-loop lag sampling (the gateway closes). */
  close(): void {
    this.runtime.stop();
  }

  /** The reply to a write request or frame went out `seconds` after it arrived. */
  ingestReplied(protocol: Protocol, ok: boolean, seconds: number): void {
    this.ingestLatency.observe({ protocol, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): client.Counter<L> {
    return new client.Counter({ name, help, labelNames, registers: [this.registry] });
  }

  ingest(protocol: Protocol, format: Format): IngestCounters {
    const key = `${protocol}/${format}`;
    let c = this.ingestCache.get(key);
    if (!c) {
      const labels = { protocol, format };
      c = {
        receivedBytes: this.receivedBytes.labels(labels),
        receivedPoints: this.receivedPoints.labels(labels),
        acceptedSamples: this.acceptedSamples.labels(labels),
        rejectedPoints: this.rejectedPoints.labels(labels),
        skippedStrings: this.skippedStrings.labels(labels),
      };
      this.ingestCache.set(key, c);
    }
    return c;
  }

  rejected(protocol: Protocol, code: string, bytes: number): void {
    this.rejectedRequests.inc({ protocol, code });
    if (bytes > 0) this.rejectedBytes.inc({ protocol }, bytes);
    const limit = requestLimits[code];
    if (limit !== undefined) this.limitHit(limit, 1);
  }

  limitHit(limit: string, n: number): void {
    this.limitHits.inc({ limit }, n);
  }

  wsClosed(reason: string): void {
    this.wsCloses.inc({ reason });
  }

  handlerError(route: string): void {
    this.handlerErrors.inc({ route });
  }

  unhandledRejection(): void {
    this.unhandledRejections.inc();
  }

  private readonly unroutedSamples = this.counter('sentio_unrouted_samples_total', 'Accepted samples of series that no routing rule sends to any sink (config routes), so not stored.', []);

  /** The router's counters. */
  readonly router = {
    unrouted: (samples: number): void => this.unroutedSamples.inc(samples),
  };

  dropped(protocol: Protocol, samples: number): void {
    if (samples > 0) this.droppedSamples.inc({ protocol }, samples);
  }

  sink(name: string): SinkMetrics {
    const sentSamples = this.sinkSentSamples;
    const sentRequests = this.sinkSentRequests;
    const sentBytes = this.sinkSentBytes;
    const failedSamples = this.sinkFailedSamples;
    const failedRequests = this.sinkFailedRequests;
    const retries = this.sinkRetries;
    const latency = this.sinkLatency.labels({ sink: name });
    return {
      sent(shard, samples, bytes, seconds) {
        latency.observe(seconds);
        sentRequests.inc({ sink: name, shard });
        sentSamples.inc({ sink: name, shard }, samples);
        sentBytes.inc({ sink: name, shard }, bytes);
      },
      failed(shard, samples, reason) {
        failedRequests.inc({ sink: name, shard, reason });
        failedSamples.inc({ sink: name, shard }, samples);
      },
      retried(shard) {
        retries.inc({ sink: name, shard });
      },
    };
  }

  private readonly queueAppendedBatches = this.counter('sentio_queue_appended_batches_total', 'Batches (one per shard) written to the durable queue.', ['sink', 'shard']);
  private readonly queueAppendedBytes = this.counter('sentio_queue_appended_bytes_total', 'Bytes written to the durable queue.', ['sink', 'shard']);
  private readonly queueDeliveredSamples = this.counter('sentio_queue_delivered_samples_total', 'Samples delivered from the durable queue to the sink.', ['sink', 'shard']);
  private readonly queueDroppedBatches = this.counter(
    'sentio_queue_dropped_batches_total',
    'Queued batches that will never be delivered: full (drop-oldest), rejected (sink 4xx), unreadable (read error).',
    ['sink', 'shard', 'reason'],
  );
  private readonly queueDroppedSamples = this.counter('sentio_queue_dropped_samples_total', 'Samples of the dropped queued batches.', ['sink', 'shard', 'reason']);
  private readonly queueDamagedBytes = this.counter('sentio_queue_damaged_bytes_total', 'Damaged queue bytes skipped when replaying at start.', ['sink', 'shard']);
  private readonly queueProbes = new Map<string, () => QueueProbe>();
  readonly queueGauges = (() => {
    const probes = this.queueProbes;
    const gauge = (name: string, help: string, pick: (s: QueueProbe['shards'][number]) => number): client.Gauge =>
      new client.Gauge({
        name,
        help,
        labelNames: ['sink', 'shard'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [sink, probe] of probes) for (const s of probe().shards) this.set({ sink, shard: String(s.shard) }, pick(s));
        },
      });
    return [
      gauge('sentio_queue_bytes', 'Bytes of durable queue segment files on disk.', (s) => s.bytes),
      gauge('sentio_queue_batches', 'Queued batches not yet delivered.', (s) => s.records),
      gauge('sentio_queue_samples', 'Samples of the queued batches not yet delivered.', (s) => s.samples),
      gauge('sentio_queue_oldest_age_seconds', 'Age of the oldest batch not yet delivered (0 when none).', (s) => s.oldestAgeSeconds),
    ];
  })();

  /** Metrics of one sink's durable queue; `probe` is read at each scrape. */
  queue(sink: string, probe: () => QueueProbe): QueueMetrics {
    this.queueProbes.set(sink, probe);
    const { queueAppendedBatches, queueAppendedBytes, queueDeliveredSamples, queueDroppedBatches, queueDroppedSamples, queueDamagedBytes } = this;
    const age = this.queueAge.labels({ sink });
    return {
      appended(shard, bytes) {
        queueAppendedBatches.inc({ sink, shard: String(shard) });
        queueAppendedBytes.inc({ sink, shard: String(shard) }, bytes);
      },
      delivered(shard, samples, ageSeconds) {
        age.observe(ageSeconds);
        queueDeliveredSamples.inc({ sink, shard: String(shard) }, samples);
      },
      dropped(shard, reason, batches, samples) {
        queueDroppedBatches.inc({ sink, shard: String(shard), reason }, batches);
        queueDroppedSamples.inc({ sink, shard: String(shard), reason }, samples);
      },
      damaged(shard, bytes) {
        queueDamagedBytes.inc({ sink, shard: String(shard) }, bytes);
      },
    };
  }

  async exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
