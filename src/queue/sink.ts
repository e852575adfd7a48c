// A remote sink behind a durable queue: `write` returns once the batch is in
// the queue (so the client's ack means "on disk"), and the queue delivers it
// to the remote sink shard by shard, retrying for as long as it takes.

import type { Signal, SignalBatch } from '../signals/index.js';
import type { MetricsEncoding, RemoteSink, Sink, SinkHealth } from '../sinks/types.js';
import type { DurableQueue } from './index.js';

export class QueuedSink implements Sink {
  readonly name: string;
  readonly type: string;
  readonly signals: readonly Signal[];
  readonly metricsEncoding: MetricsEncoding;
  private closed = false;

  constructor(
    readonly inner: RemoteSink,
    readonly queue: DurableQueue,
  ) {
    this.name = inner.name;
    this.type = inner.type;
    this.signals = inner.signals;
    this.metricsEncoding = inner.metricsEncoding;
  }

  async write(batch: SignalBatch): Promise<void> {
    await this.queue.append(batch.encoded.shards ?? [], batch.encoded.shardSamples ?? []);
  }

  /** Why the queue would refuse the next batch (readiness), whatever the sink behind it does. */
  refusal(): string | undefined {
    const r = this.queue.refusal();
    return r === undefined ? undefined : `queue ${r}`;
  }

  /** Healthy while the process can queue; a sink that is down only makes the backlog grow. */
  async health(): Promise<SinkHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    const h = await this.inner.health();
    if (h.ok) return h;
    const waiting = this.queue.stats().reduce((n, s) => n + s.records, 0);
    return { ok: true, detail: `${h.detail ?? 'unhealthy'}; ${waiting} batches queued` };
  }

  /** Delivers for up to `graceMs`, keeps the rest on disk (deliveries still in flight are aborted), closes the inner sink. */
  async close(graceMs = 0): Promise<void> {
    this.closed = true;
    await this.queue.close(graceMs);
    await this.inner.close();
  }
}
