// The official InfluxDB v2 JavaScript client writes to Sentio unchanged.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HttpError, InfluxDB, Point } from '@influxdata/influxdb-client';
import { TOKEN, type TestGateway, startTestGateway } from './helpers.js';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway();
});
after(async () => gw.close());

test('@influxdata/influxdb-client writes points with gzip, retries off', async () => {
  const client = new InfluxDB({ url: gw.url, token: TOKEN });
  const writer = client.getWriteApi('acme', 'fleet', 'ms', { gzipThreshold: 100, maxRetries: 0, batchSize: 1000 });
  writer.useDefaultTags({ site: 'plant 1' });
  const t = Date.now() - 5000;
  for (let i = 0; i < 500; i++) {
    writer.writePoint(new Point('sensor').tag('id', `s${i % 10}`).floatField('temp', i / 10).intField('count', i).booleanField('ok', i % 2 === 0).timestamp(new Date(t + i)));
  }
  await writer.close();
  const store = gw.gateway.embedded!;
  const temp = await store.exportSeries({ metric: 'sensor_temp' });
  assert.equal(temp.length, 10);
  assert.deepEqual(temp[0]!.labels, { __name__: 'sensor_temp', id: 's0', site: 'plant 1' });
  assert.equal(temp.reduce((n, s) => n + s.samples.length, 0), 500);
  assert.equal((await store.exportSeries({ metric: 'sensor_count' })).reduce((n, s) => n + s.samples.length, 0), 500);
});

test('the client sees a wrong token as an HTTP 401 error', async () => {
  const writer = new InfluxDB({ url: gw.url, token: 'not-the-token' }).getWriteApi('acme', 'fleet', 'ms', { maxRetries: 0 });
  writer.writeRecord('x v=1');
  await assert.rejects(writer.close(), (e: unknown) => e instanceof HttpError && e.statusCode === 401);
});
