// VictoriaMetrics sink: Prometheus remote write (protobuf + snappy, encoded
// by the native core) to one or more URLs, one URL per shard. Works against
// a single-node VictoriaMetrics (/api/v1/write), several single nodes, or a
// cluster's vminsert (/insert/<tenant>/prometheus/api/v1/write).
//
// Edge cases:
// - Series are assigned to shards by the core (jump hash of the series
//   hash, optional replication on the next shards); an empty shard payload
//   sends nothing.
// - Network errors, timeouts, 429 and 5xx are retried with exponential
//   backoff and full jitter; other 4xx are not retried (the payload will
//   never be accepted): counted with the status and logged with the body.
// - Behind the durable queue, consecutive small batches of a shard are
//   merged into one WriteRequest (merge) and sent as one request.
// - A batch resolves only when every shard answered 2xx. If one shard
//   fails for good the caller is told (and the samples counted as failed),
//   even though other shards stored their part: the client's retry then
//   rewrites identical samples, which VictoriaMetrics deduplicates.

import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { SentioError } from '../../errors.js';
import type { Logger } from '../../log/index.js';
import { native } from '../../native/index.js';
import type { Signal, SignalBatch } from '../../signals/index.js';
import type { MetricsEncoding, RemoteSink, SinkHealth, SinkMetrics } from '../types.js';

export interface VictoriaMetricsOptions {
  /** The sink's name (routes, metrics, the queue's directory). */
  name: string;
  urls: string[];
  replication: number;
  /** Concurrent requests per URL (keep-alive connections). */
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  retryBaseMs: number;
  metrics: SinkMetrics;
  log: Logger;
}

const MAX_BACKOFF_MS = 30_000;

interface Target {
  url: URL;
  label: string;
  pool: Pool;
}

/** Whether a failed attempt may succeed if tried again. */
function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

export class VictoriaMetricsSink implements RemoteSink {
  readonly type = 'victoriametrics';
  readonly remote = true;
  readonly signals: readonly Signal[] = ['metrics'];
  readonly name: string;
  readonly shards: number;
  readonly metricsEncoding: MetricsEncoding;
  private readonly targets: Target[];
  private closed = false;
  /** Wakes retries sleeping between attempts when the sink is aborted. */
  private readonly stopping = new AbortController();
  private destroyed: Promise<void> | undefined;

  constructor(private readonly opts: VictoriaMetricsOptions) {
    if (opts.urls.length === 0) throw new Error('VictoriaMetricsSink needs at least one URL');
    this.name = opts.name;
    this.shards = opts.urls.length;
    this.metricsEncoding = { encoding: 'remote_write', shards: this.shards, replication: opts.replication };
    this.targets = opts.urls.map((u, i) => {
      const url = new URL(u);
      return {
        url,
        label: String(i),
        pool: new Pool(url.origin, {
          connections: opts.concurrency,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          headersTimeout: opts.timeoutMs,
          bodyTimeout: opts.timeoutMs,
        }),
      };
    });
  }

  async write(batch: SignalBatch): Promise<void> {
    const { shards: payloads = [], shardSamples } = batch.encoded;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i]!;
      if (payload.byteLength === 0) continue;
      sends.push(this.send(i, payload, shardSamples?.[i] ?? 0));
    }
    const outcomes = await Promise.allSettled(sends);
    const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /**
   * Sends one shard's payload, retrying network errors, 429 and 5xx. Throws
   * SENTIO_ERR_SINK_REJECTED on other 4xx (never accepted) and
   * SENTIO_ERR_SINK_UNAVAILABLE when the retries are spent or the sink closed.
   */
  async send(shard: number, payload: Buffer, samples: number, merged = false): Promise<void> {
    const target = this.targets[shard];
    if (target === undefined) throw new SentioError('SENTIO_ERR_SINK_REJECTED', `${this.name}: no VictoriaMetrics shard ${shard}`);
    const { metrics, log } = this.opts;
    const since = performance.now();
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      let reason: string;
      try {
        const res = await target.pool.request({
          method: 'POST',
          path: target.url.pathname + target.url.search,
          headers: {
            'content-type': 'application/x-protobuf',
            'content-encoding': 'snappy',
            'x-prometheus-remote-write-version': '0.1.0',
            'user-agent': 'sentio',
          },
          body: payload,
        });
        status = res.statusCode;
        const text = await res.body.text();
        if (status >= 200 && status < 300) {
          metrics.sent(target.label, samples, payload.byteLength, (performance.now() - since) / 1000);
          return;
        }
        reason = `HTTP ${status}: ${text.slice(0, 300).trim()}`;
      } catch (err) {
        reason = (err as Error).message;
      }
      if (status !== 0 && !retryable(status)) {
        // A merged payload refused is sent again batch by batch by the queue: only the batch refused then is lost.
        if (!merged) {
          metrics.failed(target.label, samples, `http_${status}`);
          log.warn(`victoriametrics shard ${target.label} (${target.url.href}) rejected ${samples} samples, not retried: ${reason}`);
        }
        throw new SentioError('SENTIO_ERR_SINK_REJECTED', `VictoriaMetrics rejected the batch: ${reason}`);
      }
      if (this.closed) {
        // Shutting down: not a failure of the sink (a queue keeps the batch; without one the client was told to retry).
        throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `VictoriaMetrics unavailable: ${reason} (the sink is closing)`);
      }
      if (attempt >= this.opts.maxRetries) {
        metrics.failed(target.label, samples, status === 0 ? 'network' : `http_${status}`);
        log.warn(`victoriametrics shard ${target.label} (${target.url.href}) failed after ${attempt + 1} attempts: ${reason}`);
        throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `VictoriaMetrics unavailable: ${reason}`);
      }
      metrics.retried(target.label);
      const cap = Math.min(MAX_BACKOFF_MS, this.opts.retryBaseMs * 2 ** attempt);
      log.debug(`victoriametrics shard ${target.label}: ${reason}; retry ${attempt + 1} in <= ${cap} ms`);
      try {
        await sleep(Math.random() * cap, undefined, { signal: this.stopping.signal });
      } catch {
        throw new SentioError('SENTIO_ERR_SINK_UNAVAILABLE', `VictoriaMetrics unavailable: ${reason} (the sink is closing)`);
      }
    }
  }

  /** Consecutive queued batches of a shard as one WriteRequest (the queue sends small batches together). */
  merge(payloads: Buffer[]): Buffer {
    return native.mergeRemoteWrite(payloads);
  }

  async health(): Promise<SinkHealth> {
    const checks = await Promise.all(
      this.targets.map(async (t) => {
        try {
          const res = await t.pool.request({ method: 'GET', path: '/health', headersTimeout: 5000, bodyTimeout: 5000 });
          await res.body.dump();
          return res.statusCode === 200 ? undefined : `${t.url.origin}: HTTP ${res.statusCode}`;
        } catch (err) {
          return `${t.url.origin}: ${(err as Error).message}`;
        }
      }),
    );
    const bad = checks.filter((c): c is string => c !== undefined);
    return bad.length === 0 ? { ok: true } : { ok: false, detail: bad.join('; ') };
  }

  /** Retries no more and aborts the requests in flight: their batches fail with SENTIO_ERR_SINK_UNAVAILABLE (a queue keeps them). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopping.abort();
    this.destroyed = Promise.all(this.targets.map((t) => t.pool.destroy())).then(() => undefined);
  }

  /** Called at shutdown, when waiting is over: whatever is still in flight is aborted. */
  async close(): Promise<void> {
    this.abort();
    await this.destroyed;
  }
}
