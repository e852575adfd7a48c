// What the control plane reports at /metrics: API latency per route (a
// histogram, so p50/p95/p99 can be derived with histogram_quantile) and
// store/cache failures per component.

import client from 'prom-client';

export class ApiMetrics {
  private readonly latency: client.Histogram<'method' | 'route' | 'status'>;
  private readonly errors: client.Counter<'component'>;

  constructor(registry: client.Registry) {
    this.latency = new client.Histogram({
      name: 'sentio_api_request_duration_seconds',
      help: 'REST API request latency, from the first byte of the request to the reply, by route template.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.errors = new client.Counter({
      name: 'sentio_control_errors_total',
      help: 'Failures to reach the metadata store or the cache, by component: api, ingest_auth_store, ingest_auth_cache (device-token lookups), device_status (status writes), live_cache (cross-instance live fan-out).',
      labelNames: ['component'],
      registers: [registry],
    });
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    this.latency.observe({ method: method.toUpperCase(), route, status: String(status) }, seconds);
  }

  controlError(component: string): void {
    this.errors.inc({ component });
  }
}
