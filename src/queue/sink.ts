// A sink behind a durable queue: `write` returns once the batch is in the
// queue (so the client's ack means "on disk"), and the queue delivers it to
// the inner sink shard by shard, retrying for as long as it takes.

import type { IngestResult } from '../native/types.js';
import type { Sink, SinkHealth } from '../sinks/types.js';
import type { DurableQueue, ShardSender } from './index.js';

export class QueuedSink implements Sink {
  readonly name: string;
  readonly output = 'remote_write' as const;
  readonly shards: number;
  readonly replication: number;

  constructor(
    private readonly inner: Sink & ShardSender,
    readonly queue: DurableQueue,
  ) {
    this.name = inner.name;
    this.shards = inner.shards;
    this.replication = inner.replication;
  }

  async write(result: IngestResult): Promise<void> {
    await this.queue.append(result.shards ?? [], result.shardSamples ?? []);
  }

  /** Healthy while the queue takes batches; a sink that is down only makes the backlog grow. */
  async health(): Promise<SinkHealth> {
    const h = await this.inner.health();
    if (h.ok) return h;
    const waiting = this.queue.stats().reduce((n, s) => n + s.records, 0);
    return { ok: true, detail: `${h.detail ?? 'unhealthy'}; ${waiting} batches queued` };
  }

  /** Delivers for up to `graceMs`, keeps the rest on disk (deliveries still in flight are aborted), closes the inner sink. */
  async close(graceMs = 0): Promise<void> {
    await this.queue.close(graceMs);
    await this.inner.close();
  }
}
