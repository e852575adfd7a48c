// /metrics as an operator scrapes it: the standard process and runtime
// names, the latency histograms, and every sentio_* metric documented in
// docs/metrics.md.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { type TestGateway, TOKEN, login, metricValue, opened, scrape, startTestGateway } from './helpers.js';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway();
});
after(() => gw.close());

test('process and runtime metrics carry the standard names', async () => {
  const m = await scrape(gw.url);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(metricValue(m, name) > 0, `${name} is exported`);
  }
  assert.match(m, /^nodejs_eventloop_lag_seconds \S+$/m);
  assert.doesNotMatch(m, /^sentio_process_/m, 'no prefixed copies');
});

test('write latency per protocol (received to replied) and sink delivery latency per sink are histograms', async () => {
  const res = await fetch(`${gw.url}/write`, { method: 'POST', headers: gw.auth, body: 'lat v=1' });
  assert.equal(res.status, 204);
  const refused = await fetch(`${gw.url}/api/v2/write`, { method: 'POST', body: 'lat v=1' });
  assert.equal(refused.status, 401);
  const ws = new WebSocket(`${gw.wsUrl}?token=${TOKEN}`);
  await opened(ws);
  const ack = new Promise((resolve) => ws.once('message', resolve));
  ws.send('lat v=2');
  await ack;
  ws.close();
  const m = await scrape(gw.url);
  assert.equal(metricValue(m, 'sentio_ingest_latency_seconds_count', { protocol: 'influx_v1', outcome: 'ok' }), 1);
  assert.equal(metricValue(m, 'sentio_ingest_latency_seconds_count', { protocol: 'influx_v2', outcome: 'error' }), 1);
  assert.equal(metricValue(m, 'sentio_ingest_latency_seconds_count', { protocol: 'ws', outcome: 'ok' }), 1);
  assert.ok(metricValue(m, 'sentio_ingest_latency_seconds_bucket', { protocol: 'influx_v1', outcome: 'ok', le: '+Inf' }) === 1);
  assert.equal(metricValue(m, 'sentio_sink_delivery_seconds_count', { sink: 'embedded' }), 2);
  assert.ok(metricValue(m, 'sentio_sink_delivery_seconds_sum', { sink: 'embedded' }) > 0);
});

test('every sentio_* metric is documented in docs/metrics.md', async () => {
  const doc = readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8');
  const names = [...(await scrape(gw.url)).matchAll(/^# HELP (sentio_\w+)/gm)].map((m) => m[1]!);
  assert.ok(names.length > 40, `${names.length} metrics`);
  for (const name of names) assert.ok(doc.includes(`| \`${name}\` |`), `${name} is missing from docs/metrics.md`);
});

test("the gateway's own counters are written to its sink and can be queried, a rate included", async () => {
  const self = gw.gateway.selfMetrics;
  assert.ok(self, 'on by default');
  const t0 = Date.now() - 20_000;
  await self.tick(t0);
  const body = Array.from({ length: 100 }, (_, i) => `selfm,n=${i} v=1`).join('\n');
  assert.equal((await fetch(`${gw.url}/write`, { method: 'POST', headers: gw.auth, body })).status, 204);
  await self.tick(t0 + 10_000);
  const admin = await login(gw.url);
  const series = await admin.call('GET', `/api/series?match[]=${encodeURIComponent('sentio_accepted_samples_total')}`);
  assert.deepEqual(
    (series.body.data as Array<Record<string, string>>).map((s) => s.protocol).sort(),
    ['influx_v1', 'influx_v2', 'ws'],
    'one series per protocol, zeros included',
  );
  const q = new URLSearchParams({ query: 'sum(rate(sentio_accepted_samples_total[1m]))', start: String((t0 + 10_000) / 1000), end: String((t0 + 10_000) / 1000), step: '10' });
  const r = await admin.call('GET', `/api/query/range?${q}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const value = Number(r.body.data.result[0].values[0][1]);
  assert.ok(value >= 10, `100 samples in 10 s: ${value}/s`);
  assert.ok(metricValue(await scrape(gw.url), 'sentio_self_metrics_samples_total') >= 18);
});
