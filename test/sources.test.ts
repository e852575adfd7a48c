// Sources and the IngestPort: the server serves what sources declare, a
// stopped source refuses, and typed readings (a connector's) go through the
// same limits, default labels, router and counters as parsed bytes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import uWS from 'uWebSockets.js';
import { silentLogger } from '../src/log/index.js';
import { Metrics } from '../src/metrics/index.js';
import { send, watchAbort } from '../src/http/respond.js';
import type { IngestPort } from '../src/pipeline/port.js';
import { createApp, listen } from '../src/server/index.js';
import type { Source } from '../src/sources/types.js';
import { metricValue, scrape, startTestGateway } from './helpers.js';

test('the server serves the routes a source declares, behind its guard', async () => {
  let started: IngestPort | undefined;
  const echo: Source = {
    name: 'echo',
    protocols: ['echo'],
    http: [
      { method: 'post', path: '/echo', handler: (res) => send(res, watchAbort(res), 200, started ? 'started\n' : 'not started\n') },
      { method: 'get', path: '/boom', handler: () => { throw new Error('a handler that throws'); } },
    ],
    async start(port) {
      started = port;
    },
    async stop() {},
    health: () => ({ ok: started !== undefined }),
  };
  const metrics = new Metrics();
  await echo.start({} as IngestPort);
  const app = createApp({ sources: [echo], metrics, log: silentLogger, isReady: () => true, health: async () => undefined });
  const server = await listen(app, '127.0.0.1', 0);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const r = await fetch(`${base}/echo`, { method: 'POST' });
    assert.equal(await r.text(), 'started\n');
    assert.equal((await fetch(`${base}/boom`)).status, 500, 'a throwing source handler is answered, the process goes on');
    const wrong = await fetch(`${base}/echo`);
    assert.equal(wrong.status, 405, 'a source path with another method');
    assert.equal((await wrong.json() as { code: string }).code, 'SENTIO_ERR_METHOD_NOT_ALLOWED');
    assert.equal((await fetch(`${base}/write`, { method: 'POST' })).status, 404, 'no InfluxDB route without the influx source');
    assert.equal(metricValue(await metrics.exposition(), 'sentio_handler_errors_total'), 1);
  } finally {
    server.close();
  }
});

test('typed readings go through the port like parsed bytes: default labels, routing, limits and counters', async () => {
  const gw = await startTestGateway(['--max-tags', '2']);
  try {
    const now = Date.now();
    const principal = { key: 'connector:test', labels: { site: 'north', device: 'boiler-1' } };
    const r = await gw.gateway.ingest.writeReadings(
      'mqtt',
      {
        series: [{ __name__: 'boiler_temp_c', room: 'cellar' }, { room: 'no-name' }, { __name__: 'x', a: '1', b: '2', c: '3' }],
        sampleSeries: Uint32Array.from([0, 0, 1, 2]),
        timestamps: Float64Array.from([now, now + 1000, now, now]),
        values: Float64Array.from([61.5, 62, 1, 1]),
      },
      { principal },
    );
    assert.deepEqual(
      { lines: r.lines, samples: r.samples, rejected: r.rejected, errors: r.errors },
      { lines: 4, samples: 2, rejected: 2, errors: [{ line: 3, reason: 'series has no __name__' }, { line: 4, reason: 'point has more than 2 tags' }] },
    );
    const [s] = await gw.gateway.embedded!.exportSeries({ metric: 'boiler_temp_c' });
    assert.deepEqual(s, {
      labels: { __name__: 'boiler_temp_c', device: 'boiler-1', room: 'cellar', site: 'north' },
      samples: [{ timestamp: now, value: 61.5 }, { timestamp: now + 1000, value: 62 }],
    });
    const m = await scrape(gw.url);
    assert.equal(metricValue(m, 'sentio_accepted_samples_total', { protocol: 'mqtt', format: 'readings' }), 2);
    assert.equal(metricValue(m, 'sentio_rejected_points_total', { protocol: 'mqtt', format: 'readings' }), 2);
    assert.equal(metricValue(m, 'sentio_limit_hits_total', { limit: 'tags' }), 1);
    await assert.rejects(
      gw.gateway.ingest.writeReadings('mqtt', { series: [{ __name__: 'y' }], sampleSeries: Uint32Array.from([0]), timestamps: Float64Array.from([1.5]), values: Float64Array.from([1]) }, { principal }),
      /timestamps\[0\] must be a safe integer/,
    );
  } finally {
    await gw.close();
  }
});

test('a stopped source refuses with SENTIO_ERR_NOT_READY while the rest of the gateway answers', async () => {
  const gw = await startTestGateway();
  try {
    const influx = gw.gateway.sources.find((s) => s.name === 'influx')!;
    assert.deepEqual(influx.health(), { ok: true });
    await influx.stop();
    const r = await fetch(`${gw.url}/write`, { method: 'POST', headers: gw.auth, body: 'm v=1' });
    assert.equal(r.status, 503);
    assert.equal((await r.json() as { code: string }).code, 'SENTIO_ERR_NOT_READY');
    assert.equal(influx.health().ok, false);
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  } finally {
    await gw.close();
  }
});
