// Blackhole sink: the core still parses, hashes and encodes remote-write
// payloads, which are then discarded and counted. For benchmarks that
// measure the gateway without a storage engine (`--sink blackhole`).

import { SentioError } from '../../errors.js';
import type { Signal, SignalBatch } from '../../signals/index.js';
import type { MetricsEncoding, Sink, SinkHealth, SinkMetrics } from '../types.js';

export class BlackholeSink implements Sink {
  readonly type = 'blackhole';
  readonly signals: readonly Signal[] = ['metrics'];
  readonly metricsEncoding: MetricsEncoding = { encoding: 'remote_write', shards: 1, replication: 1 };
  private closed = false;

  constructor(
    readonly name: string,
    private readonly metrics: SinkMetrics,
  ) {}

  async write(batch: SignalBatch): Promise<void> {
    if (this.closed) throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `${this.name}: the sink is closed`);
    const bytes = batch.encoded.shards?.reduce((n, s) => n + s.byteLength, 0) ?? 0;
    this.metrics.sent('0', batch.samples, bytes, 0);
  }

  async health(): Promise<SinkHealth> {
    return this.closed ? { ok: false, detail: 'closed' } : { ok: true };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
