// The gateway's own ingest counters, written as samples to its own sink
// every `intervalMs`, so their history is queryable like any other series
// (the dashboard's overview draws the last hour of the ingest rate from
// `sum(rate(sentio_accepted_samples_total[1m]))`), with nothing else to run.
//
// One line-protocol point per protocol and interval, measurement `sentio`,
// tags `instance` (host:port, stable across restarts) and `protocol`:
//
//   sentio,instance=edge-1:8086,protocol=influx_v1 accepted_samples_total=123,rejected_points_total=4,rejected_requests_total=1 1764200000000
//
// which maps to sentio_accepted_samples_total{instance,protocol} and so on:
// the names /metrics uses. They are counters since this process started;
// rate() and increase() handle the restarts. The writes bypass the ingest
// counters they report (so they do not count themselves) and the per-token
// limits; a failed write is counted and logged, never retried.

import client from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/index.js';

export interface SelfMetricsOptions {
  registry: Registry;
  /** The `instance` label. */
  instance: string;
  /** Every way in (the sources' protocols): each gets a point every interval, zeros included. */
  protocols: readonly string[];
  intervalMs: number;
  /** Parses and stores one line-protocol batch (timestamps in ms) in the gateway's sink. */
  write(body: Buffer): Promise<void>;
  log: Logger;
}

/** Counters written, by their /metrics name and the field that carries them. */
const COUNTERS = [
  ['sentio_accepted_samples_total', 'accepted_samples_total'],
  ['sentio_rejected_points_total', 'rejected_points_total'],
  ['sentio_rejected_requests_total', 'rejected_requests_total'],
] as const;

/** A line-protocol tag value: commas, spaces and equals signs escaped. */
const tagValue = (v: string): string => v.replace(/[ ,=]/g, (c) => `\\${c}`);

export class SelfMetrics {
  private readonly timer: NodeJS.Timeout;
  private readonly written: client.Counter;
  private readonly failed: client.Counter;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly o: SelfMetricsOptions) {
    this.written = new client.Counter({ name: 'sentio_self_metrics_samples_total', help: "Samples of the gateway's own counters written to its sink.", registers: [o.registry] });
    this.failed = new client.Counter({ name: 'sentio_self_metrics_failed_total', help: "Writes of the gateway's own counters to its sink that failed (not retried).", registers: [o.registry] });
    this.timer = setInterval(() => void this.tick(), o.intervalMs);
    this.timer.unref();
  }

  /** The batch for `nowMs`: one point per protocol, zeros included (a rate of 0 is a value, not a gap). */
  async batch(nowMs: number): Promise<{ body: Buffer; samples: number }> {
    const values = new Map<string, Map<string, number>>(this.o.protocols.map((p) => [p, new Map()]));
    for (const [metric, field] of COUNTERS) {
      const m = this.o.registry.getSingleMetric(metric) as client.Counter | undefined;
      for (const v of m ? (await m.get()).values : []) {
        const fields = values.get(String(v.labels.protocol ?? ''));
        if (fields) fields.set(field, (fields.get(field) ?? 0) + v.value);
      }
    }
    const instance = tagValue(this.o.instance);
    const lines = [...values].map(([protocol, fields]) => {
      const f = COUNTERS.map(([, field]) => `${field}=${fields.get(field) ?? 0}`).join(',');
      return `sentio,instance=${instance},protocol=${protocol} ${f} ${nowMs}`;
    });
    return { body: Buffer.from(`${lines.join('\n')}\n`), samples: lines.length * COUNTERS.length };
  }

  /** Writes the counters now; resolves once stored or failed (never rejects). */
  tick(nowMs = Date.now()): Promise<void> {
    this.writing = this.writing.then(async () => {
      try {
        const { body, samples } = await this.batch(nowMs);
        await this.o.write(body);
        this.written.inc(samples);
      } catch (err) {
        this.failed.inc();
        this.o.log.warn(`self metrics: not written to the sink: ${(err as Error).message}`);
      }
    });
    return this.writing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
  }
}
