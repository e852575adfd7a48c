// Embedded sink: metrics into the embedded DuckDB store (src/embedded),
// which owns the file and its schema. The core encodes its batches as
// columns; the store's group commit makes them durable, and its errors are
// already the sink contract's (SENTIO_ERR_SINK_REJECTED for a malformed
// batch, SENTIO_ERR_SINK_UNAVAILABLE for a failed commit or a closed store).
// Local storage: no durable queue in front of it, an ack waits for the commit.

import { SentioError } from '../../errors.js';
import { columnBatchOf, type EmbeddedStore } from '../../embedded/index.js';
import type { Signal, SignalBatch } from '../../signals/index.js';
import type { MetricsEncoding, Sink, SinkHealth } from '../types.js';

export class EmbeddedSink implements Sink {
  readonly type = 'embedded';
  readonly signals: readonly Signal[] = ['metrics'];
  readonly metricsEncoding: MetricsEncoding = { encoding: 'columns' };
  private closed = false;

  constructor(
    readonly name: string,
    /** The store; its owner (the gateway) closes it after the sink. */
    readonly store: EmbeddedStore,
  ) {}

  write(batch: SignalBatch): Promise<void> {
    if (this.closed) return Promise.reject(new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `${this.name}: the sink is closed`));
    return this.store.append(columnBatchOf(batch.encoded));
  }

  health(): Promise<SinkHealth> {
    return this.closed ? Promise.resolve({ ok: false, detail: 'closed' }) : this.store.health();
  }

  /** Waits for the commits in flight; the store stays open for its readers until its owner closes it. */
  async close(): Promise<void> {
    this.closed = true;
    await this.store.flush();
  }
}
