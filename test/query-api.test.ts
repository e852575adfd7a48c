// The query routes over HTTP on an embedded gateway: Prometheus-shaped
// replies, parameter forms, the unsupported-subset and syntax errors, the
// pickers' listings, and the viewer role.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ApiClient, login, startTestGateway, TOKEN, type TestGateway } from './helpers.js';

let gw: TestGateway;
let api: ApiClient;
const now = Math.floor(Date.now() / 10_000) * 10_000;

before(async () => {
  gw = await startTestGateway();
  api = await login(gw.url);
  const lines: string[] = [];
  for (let i = 0; i < 30; i++) for (const host of ['a', 'b']) lines.push(`qapi,host=${host},dc=x load=${i + (host === 'b' ? 100 : 0)} ${now - (29 - i) * 10_000}`);
  const res = await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: lines.join('\n') });
  assert.equal(res.status, 204);
});
after(() => gw.close());

const q = (path: string, params: Record<string, string>) => api.call('GET', `${path}?${new URLSearchParams(params)}`);

test('range query: Prometheus reply shape, RFC 3339 and Unix times, duration steps', async () => {
  const start = new Date(now - 290_000).toISOString();
  const r = await q('/api/query/range', { query: 'qapi_load{host="a"}', start, end: String(now / 1000), step: '10s' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'success');
  assert.equal(r.body.data.resultType, 'matrix');
  assert.equal(r.body.data.result.length, 1);
  const s = r.body.data.result[0];
  assert.deepEqual(s.metric, { __name__: 'qapi_load', host: 'a', dc: 'x' });
  assert.equal(s.values.length, 30);
  assert.deepEqual(s.values.at(-1), [now / 1000, '29']);

  const sum = await q('/api/query/range', { query: 'sum by (dc) (qapi_load)', start: String((now - 60_000) / 1000), end: String(now / 1000), step: '30' });
  assert.deepEqual(sum.body.data.result, [{ metric: { dc: 'x' }, values: [[(now - 60_000) / 1000, '146'], [(now - 30_000) / 1000, '152'], [now / 1000, '158']] }]);
});

test('instant query, series, label names and values', async () => {
  const i = await q('/api/query/instant', { query: 'max(qapi_load)', time: String(now / 1000) });
  assert.equal(i.status, 200);
  assert.deepEqual(i.body.data, { resultType: 'vector', result: [{ metric: {}, value: [now / 1000, '129'] }] });
  const series = await q('/api/series', { 'match[]': 'qapi_load' });
  assert.equal(series.body.data.length, 2);
  const names = await q('/api/label/__name__/values', {});
  assert.ok(names.body.data.includes('qapi_load'));
  const hosts = await q('/api/label/host/values', { 'match[]': 'qapi_load' });
  assert.deepEqual(hosts.body.data, ['a', 'b']);
  const labels = await q('/api/labels', { 'match[]': 'qapi_load' });
  assert.deepEqual(labels.body.data, ['__name__', 'dc', 'host']);
});

test('outside the embedded subset: 422 naming what; bad syntax and parameters: 400', async () => {
  const un = await q('/api/query/range', { query: 'histogram_quantile(0.9, qapi_load)', step: '10s' });
  assert.equal(un.status, 422);
  assert.equal(un.body.code, 'SENTIO_ERR_UNSUPPORTED_QUERY');
  assert.match(un.body.message, /histogram_quantile/);
  const bad = await q('/api/query/range', { query: 'qapi_load{', step: '10s' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'SENTIO_ERR_BAD_QUERY');
  const step = await q('/api/query/range', { query: 'qapi_load', step: 'often' });
  assert.equal(step.body.code, 'SENTIO_ERR_BAD_QUERY');
  const tooMany = await q('/api/query/range', { query: 'qapi_load', start: '0', end: String(now / 1000), step: '1s' });
  assert.equal(tooMany.body.code, 'SENTIO_ERR_BAD_QUERY');
  const noMatch = await q('/api/series', {});
  assert.equal(noMatch.body.code, 'SENTIO_ERR_BAD_QUERY');
  const missing = await api.call('GET', '/api/query/range');
  assert.equal(missing.body.code, 'SENTIO_ERR_VALIDATION');
});
