// Gateway status for operators (GET /api/status, and the `status` frames
// of /live): ingest rates by protocol, accepted and rejected, queue depth
// per shard, sink health. Sampled once a second from the Prometheus
// counters the gateway keeps anyway, so it costs the hot path nothing.

import { hostname } from 'node:os';
import type client from 'prom-client';
import type { Metrics } from '../metrics/index.js';
import type { ShardStats } from '../queue/index.js';
import type { Router } from '../router/index.js';
import type { z } from 'zod';
import type { GatewayStatus as GatewayStatusSchema } from './schemas.js';

/** The status's shape is its schema (schemas.ts), so the API validates and documents it. */
export type GatewayStatus = z.infer<typeof GatewayStatusSchema>;

async function totals(registry: client.Registry, name: string, by?: string): Promise<{ total: number; by: Record<string, number> }> {
  const m = registry.getSingleMetric(name) as client.Counter | undefined;
  const out = { total: 0, by: {} as Record<string, number> };
  if (!m) return out;
  for (const v of (await m.get()).values) {
    out.total += v.value;
    if (by !== undefined) {
      const k = String(v.labels[by] ?? '');
      out.by[k] = (out.by[k] ?? 0) + v.value;
    }
  }
  return out;
}

export class StatusSampler {
  private last: { at: number; accepted: number; byProtocol: Record<string, number>; rejectedPoints: number; rejectedRequests: number } | undefined;
  private current: GatewayStatus;
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  private readonly listeners = new Set<(s: GatewayStatus) => void>();

  constructor(
    private readonly o: { instance?: string; metrics: Metrics; router: Router; queues: () => Array<ShardStats & { sink: string }>; mainLoad: () => number },
    periodMs = 1000,
  ) {
    this.current = this.empty();
    this.timer = setInterval(() => void this.sample(), periodMs);
    this.timer.unref();
    void this.sample();
  }

  private empty(): GatewayStatus {
    return {
      instance: this.o.instance ?? `${hostname()}:${process.pid}`,
      time: new Date().toISOString(),
      uptimeSeconds: 0,
      ingest: { samplesPerSecond: 0, byProtocol: {}, rejectedPointsPerSecond: 0, rejectedRequestsPerSecond: 0, acceptedSamplesTotal: 0, rejectedPointsTotal: 0, rejectedRequestsTotal: 0 },
      sink: { name: this.sinkNames(), healthy: true, detail: null },
      sinks: this.o.router.sinks.map((s) => ({ name: s.name, type: s.type, healthy: true, detail: null })),
      queue: [],
      mainThreadLoad: 0,
    };
  }

  /** The latest sample. */
  get status(): GatewayStatus {
    return this.current;
  }

  /** Called after each sample (the live hub streams it). */
  onSample(listener: (s: GatewayStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async sample(): Promise<void> {
    const r = this.o.metrics.registry;
    const [accepted, rejectedPoints, rejectedRequests, health] = await Promise.all([
      totals(r, 'sentio_accepted_samples_total', 'protocol'),
      totals(r, 'sentio_rejected_points_total'),
      totals(r, 'sentio_rejected_requests_total'),
      this.o.router.health(),
    ]);
    const now = Date.now();
    const prev = this.last;
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const rate = (cur: number, old: number | undefined) => (prev && dt > 0 ? Math.max(0, (cur - (old ?? 0)) / dt) : 0);
    const byProtocol: Record<string, number> = {};
    for (const [p, v] of Object.entries(accepted.by)) byProtocol[p] = rate(v, prev?.byProtocol[p]);
    this.last = { at: now, accepted: accepted.total, byProtocol: accepted.by, rejectedPoints: rejectedPoints.total, rejectedRequests: rejectedRequests.total };
    this.current = {
      instance: this.current.instance,
      time: new Date(now).toISOString(),
      uptimeSeconds: Math.round((now - this.started) / 1000),
      ingest: {
        samplesPerSecond: rate(accepted.total, prev?.accepted),
        byProtocol,
        rejectedPointsPerSecond: rate(rejectedPoints.total, prev?.rejectedPoints),
        rejectedRequestsPerSecond: rate(rejectedRequests.total, prev?.rejectedRequests),
        acceptedSamplesTotal: accepted.total,
        rejectedPointsTotal: rejectedPoints.total,
        rejectedRequestsTotal: rejectedRequests.total,
      },
      sink: { name: this.sinkNames(), healthy: health.ok, detail: problems(health.sinks) },
      sinks: health.sinks.map(({ sink, health: h }) => ({ name: sink.name, type: sink.type, healthy: h.ok, detail: h.detail ?? null })),
      queue: this.o.queues().map((q) => ({ sink: q.sink, shard: q.shard, records: q.records, samples: q.samples, bytes: q.bytes, oldestAgeSeconds: q.oldestMs === undefined ? 0 : (now - q.oldestMs) / 1000 })),
      mainThreadLoad: this.o.mainLoad(),
    };
    for (const l of this.listeners) l(this.current);
  }

  /** The sinks' names, for the one-line `sink` summary. */
  private sinkNames(): string {
    return this.o.router.sinks.map((s) => s.name).join(', ');
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** What is wrong with the sinks (each that has a detail, healthy or not), or null. */
function problems(sinks: Array<{ sink: { name: string }; health: { ok: boolean; detail?: string } }>): string | null {
  const notes = sinks.filter((s) => s.health.detail !== undefined).map((s) => `${s.sink.name}: ${s.health.detail}`);
  return notes.length === 0 ? null : notes.join('; ');
}
