// The sink contract. A sink stores signal-typed batches (src/signals) of the
// signals it declares, encoded as it declares: the core encodes every sink's
// metrics in one pass over a batch (remote write for VictoriaMetrics, columns
// for DuckDB), so the ingest path never picks an encoding. Every sink is
// made by a factory from its config (src/sinks/index.ts), fails the same way
// and passes the same conformance suite (src/sinks/conformance.ts).
//
// Failure contract of write(): it resolves once the sink holds the batch
// durably (2xx from every shard, committed to the embedded file, or, for a
// queued sink, in the queue), and otherwise rejects with a SentioError:
// - SENTIO_ERR_SINK_REJECTED (400): the batch will never be accepted (a 4xx
//   from the storage engine, a malformed batch); nothing of it is stored;
// - SENTIO_ERR_SINK_UNAVAILABLE (503): not stored now, retry later (network,
//   5xx, a failed commit, the sink closing or closed);
// - a queued sink also SENTIO_ERR_QUEUE_FULL (429), SENTIO_ERR_QUEUE_UNAVAILABLE
//   (503) and SENTIO_ERR_NOT_READY (503, shutting down).

import type { ShardSender } from '../queue/index.js';
import type { OutputSpec } from '../native/types.js';
import type { Signal, SignalBatch } from '../signals/index.js';

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

/** How a sink wants its metrics encoded by the core (which series it gets is the router's business). */
export type MetricsEncoding = Omit<OutputSpec, 'match'>;

export interface Sink {
  /** This sink's name in the configuration: unique, used by routes, the queue's directory and the `sink` label of metrics. */
  readonly name: string;
  /** Its kind: 'victoriametrics' | 'embedded' | 'blackhole'. */
  readonly type: string;
  /** The signals it stores; the router hands it no other. */
  readonly signals: readonly Signal[];
  /** The core's encoding of the metrics batches it takes. */
  readonly metricsEncoding: MetricsEncoding;
  /** Stores one batch (see the failure contract above). */
  write(batch: SignalBatch): Promise<void>;
  health(): Promise<SinkHealth>;
  /**
   * Readiness without a round trip, for sinks that take writes whatever the
   * storage behind them does (a queued sink: why its queue would refuse the
   * next batch, or undefined). Absent: readiness asks health().
   */
  refusal?(): string | undefined;
  /**
   * Stops the sink. `graceMs`: how long a sink that holds undelivered batches
   * (a queued sink) may keep delivering them before it gives up and keeps
   * the rest for the next start; requests still in flight then are aborted.
   * Idempotent; write() afterwards rejects with SENTIO_ERR_SINK_UNAVAILABLE
   * (a queued sink: SENTIO_ERR_NOT_READY).
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * A sink whose storage is across the network: its factory puts a durable
 * queue in front of it (src/queue/sink.ts) unless the queue is off, and the
 * queue delivers through `send`, shard by shard.
 */
export interface RemoteSink extends Sink, ShardSender {
  readonly remote: true;
  /** Number of shards of its payloads (the queue keeps one directory each). */
  readonly shards: number;
}

export function isRemote(sink: Sink): sink is RemoteSink {
  return (sink as Partial<RemoteSink>).remote === true;
}
