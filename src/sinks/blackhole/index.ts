// Blackhole sink: the core still parses, hashes and encodes remote-write
// payloads, which are then discarded and counted. For benchmarks that
// measure the gateway without a storage engine (`--sink blackhole`).

import type { IngestResult } from '../../native/types.js';
import type { Sink, SinkHealth, SinkMetrics } from '../types.js';

export class BlackholeSink implements Sink {
  readonly name = 'blackhole';
  readonly output = 'remote_write' as const;
  readonly shards = 1;
  readonly replication = 1;

  constructor(private readonly metrics: SinkMetrics) {}

  async write(result: IngestResult): Promise<void> {
    const bytes = result.shards?.reduce((n, s) => n + s.byteLength, 0) ?? 0;
    this.metrics.sent('0', result.samples, bytes, 0);
  }

  async health(): Promise<SinkHealth> {
    return { ok: true };
  }

  async close(): Promise<void> {}
}
