// The InfluxDB-compatible HTTP API against the embedded store.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { TOKEN, type TestGateway, metricValue, scrape, startTestGateway } from './helpers.js';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway(['--inline-max-load', '0', '--max-body-bytes', '65536', '--max-decompressed-bytes', '262144', '--max-errors', '3']);
});
after(async () => gw.close());

const store = () => gw.gateway.embedded!;
const write = (path: string, body: string | Buffer, headers: Record<string, string> = gw.auth) =>
  fetch(`${gw.url}${path}`, { method: 'POST', headers, body });

test('v1 /write: 204, samples stored with the db label, precision honoured', async () => {
  const res = await write('/write?db=plant&precision=s', 'boiler,site=a temp=71.5,on=t,state="ok" 1700000000\n');
  assert.equal(res.status, 204);
  const series = await store().exportSeries({ metric: 'boiler_temp' });
  assert.deepEqual(series, [{ labels: { __name__: 'boiler_temp', db: 'plant', site: 'a' }, samples: [{ timestamp: 1700000000000, value: 71.5 }] }]);
  const on = await store().exportSeries({ metric: 'boiler_on' });
  assert.equal(on[0]?.samples[0]?.value, 1);
  assert.deepEqual(await store().exportSeries({ metric: 'boiler_state' }), [], 'string fields are not samples');
});

test('v2 /api/v2/write with Token auth; org and bucket are not labels (as in VictoriaMetrics)', async () => {
  const res = await write('/api/v2/write?org=acme&bucket=fleet&precision=ms', 'pump,id=7 rpm=1500i 1700000000123');
  assert.equal(res.status, 204);
  const series = await store().exportSeries({ metric: 'pump_rpm' });
  assert.deepEqual(series, [{ labels: { __name__: 'pump_rpm', id: '7' }, samples: [{ timestamp: 1700000000123, value: 1500 }] }]);
});

test('partial write: 400 listing the rejected lines (capped), good lines still stored', async () => {
  const body = ['ok1 v=1 1700000001000000000', 'bad1 v=', 'ok2 v=2 1700000001000000000', 'bad2', 'bad3 v=1 notatime', 'bad4 v=1i2', 'ok3 v=3'].join('\n');
  const res = await write('/write', body);
  assert.equal(res.status, 400);
  const json = (await res.json()) as { code: string; error: string; accepted: number; rejected: number; errors: Array<{ line: number; reason: string }> };
  assert.equal(json.code, 'SENTIO_ERR_PARTIAL_WRITE');
  assert.match(json.error, /partial write: 4 of 7/);
  assert.equal(json.accepted, 3);
  assert.equal(json.rejected, 4);
  assert.deepEqual(json.errors.map((e) => e.line), [2, 4, 5], 'errors are listed by line number, capped by --max-errors');
  for (const e of json.errors) assert.ok(e.reason.length > 0);
  for (const m of ['ok1_v', 'ok2_v', 'ok3_v']) assert.equal((await store().exportSeries({ metric: m })).length, 1, m);
});

test('gzip bodies are decoded; bombs and oversized bodies get 413 with stable codes', async () => {
  const lines = Array.from({ length: 100 }, (_, i) => `gz,n=${i} v=${i} 1700000002000000000`).join('\n');
  const ok = await write('/write', gzipSync(lines), { ...gw.auth, 'content-encoding': 'gzip' });
  assert.equal(ok.status, 204);
  assert.equal((await store().exportSeries({ metric: 'gz_v' })).length, 100);

  const bomb = gzipSync(Buffer.alloc(1 << 20, 0x61)); // 1 MiB of 'a' in ~1 KiB: 1000×, over --max-compression-ratio 100
  const r1 = await write('/write', bomb, { ...gw.auth, 'content-encoding': 'gzip' });
  assert.equal(r1.status, 413);
  assert.equal(((await r1.json()) as { code: string }).code, 'SENTIO_ERR_COMPRESSION_RATIO');
  // ~7× (random a/b), within the ratio, but 300 kB decoded is over --max-decompressed-bytes 262144
  let seed = 7;
  const ab = Buffer.from(Array.from({ length: 300_000 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) & 1024 ? 0x61 : 0x62)));
  const big = gzipSync(ab);
  assert.ok(big.byteLength < 65536 && ab.byteLength / big.byteLength < 100, `${big.byteLength} bytes compressed`);
  const r5 = await write('/write', big, { ...gw.auth, 'content-encoding': 'gzip' });
  assert.equal(r5.status, 413);
  assert.equal(((await r5.json()) as { code: string }).code, 'SENTIO_ERR_DECOMPRESSED_TOO_LARGE');

  const r2 = await write('/write', Buffer.alloc(100_000, 0x61));
  assert.equal(r2.status, 413);
  assert.equal(((await r2.json()) as { code: string }).code, 'SENTIO_ERR_BODY_TOO_LARGE');

  const r3 = await write('/write', Buffer.from('not gzip at all'), { ...gw.auth, 'content-encoding': 'gzip' });
  assert.equal(r3.status, 400);
  assert.equal(((await r3.json()) as { code: string }).code, 'SENTIO_ERR_BAD_ENCODING');

  const r4 = await write('/write', 'x v=1', { ...gw.auth, 'content-encoding': 'br' });
  assert.equal(((await r4.json()) as { code: string }).code, 'SENTIO_ERR_BAD_ENCODING');
  const m = await scrape(gw.url);
  for (const limit of ['compression_ratio', 'decompressed_bytes', 'body_bytes']) assert.ok(metricValue(m, 'sentio_limit_hits_total', { limit }) >= 1, limit);
});

test('auth: 401 without or with a wrong token; v1 ?u=&p= and Basic work', async () => {
  const none = await write('/write', 'a v=1', {});
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { code: string }).code, 'SENTIO_ERR_UNAUTHORIZED');
  assert.equal((await write('/write', 'a v=1', { authorization: 'Token wrong-token-123' })).status, 401);
  assert.equal((await write(`/write?u=telegraf&p=${TOKEN}`, 'auth1 v=1', {})).status, 204);
  const basic = `Basic ${Buffer.from(`telegraf:${TOKEN}`).toString('base64')}`;
  assert.equal((await write('/write', 'auth2 v=1', { authorization: basic })).status, 204);
});

test('bad precision is refused with SENTIO_ERR_BAD_PRECISION', async () => {
  const r = await write('/api/v2/write?precision=h', 'a v=1');
  assert.equal(r.status, 400);
  assert.equal(((await r.json()) as { code: string }).code, 'SENTIO_ERR_BAD_PRECISION');
  assert.equal((await write('/write?precision=h', 'hours v=1 1')).status, 204, 'v1 accepts h');
  assert.deepEqual((await store().exportSeries({ metric: 'hours_v' }))[0]?.samples[0]?.timestamp, 3_600_000);
});

test('/ping, /query CREATE DATABASE, /health, /healthz and unknown routes', async () => {
  const ping = await fetch(`${gw.url}/ping`);
  assert.equal(ping.status, 204);
  assert.ok(ping.headers.get('x-influxdb-version'));
  const create = await fetch(`${gw.url}/query?q=${encodeURIComponent('CREATE DATABASE "telegraf"')}`, { method: 'POST' });
  assert.equal(create.status, 200);
  assert.deepEqual(await create.json(), { results: [{ statement_id: 0 }] });
  const form = await fetch(`${gw.url}/query`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'q=CREATE+DATABASE+x' });
  assert.equal(form.status, 200);
  const select = await fetch(`${gw.url}/query?q=SELECT+*+FROM+x`);
  assert.equal(select.status, 400);
  assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${gw.url}/health`)).status, 200);
  // (A GET of a path without an extension is the dashboard's: client-side routes.)
  const missing = await fetch(`${gw.url}/nope.php`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'SENTIO_ERR_NOT_FOUND');
  assert.equal((await fetch(`${gw.url}/write`)).status, 405);
});

test('/metrics counts received, accepted and rejected per protocol, and sink sends', async () => {
  const before = await scrape(gw.url);
  assert.equal((await write('/write', 'm1 a=1,b=2,s="x"\nbroken\n')).status, 400);
  const after = await scrape(gw.url);
  const delta = (name: string, labels: Record<string, string>) => metricValue(after, name, labels) - metricValue(before, name, labels);
  const v1 = { protocol: 'influx_v1', format: 'lp' };
  assert.equal(delta('sentio_received_points_total', v1), 2);
  assert.equal(delta('sentio_accepted_samples_total', v1), 2);
  assert.equal(delta('sentio_rejected_points_total', v1), 1);
  assert.equal(delta('sentio_skipped_string_fields_total', v1), 1);
  assert.equal(delta('sentio_received_bytes_total', v1), 'm1 a=1,b=2,s="x"\nbroken\n'.length);
  assert.equal(delta('sentio_sink_sent_samples_total', { sink: 'embedded' }), 2);
  assert.match(after, /sentio_pool_queue_depth \d+/);
  assert.match(after, /sentio_main_thread_load [\d.e-]+/);
  assert.ok(metricValue(after, 'sentio_parsed_batches_total', { path: 'inline' }) > metricValue(before, 'sentio_parsed_batches_total', { path: 'inline' }), 'a small batch is parsed inline and counted');
  assert.match(after, /sentio_rejected_requests_total\{protocol="influx_v1",code="SENTIO_ERR_UNAUTHORIZED"\} [1-9]/);
});

test('large batches go through the worker pool and are stored whole', async () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `big,dev=d${i % 50} a=${i},b=${i * 2}i ${1700000003000000000 + i * 1_000_000}`).join('\n');
  const res = await write('/write', lines);
  assert.equal(res.status, 204);
  const series = await store().exportSeries({ metric: 'big_a' });
  assert.equal(series.length, 50);
  assert.equal(series.reduce((n, s) => n + s.samples.length, 0), 1000);
  assert.ok(gw.gateway.pipeline.pooledCount > 0, 'a 1000-line body (over --inline-max-bytes, --inline-max-load 0) is parsed in the pool');
  assert.ok(metricValue(await scrape(gw.url), 'sentio_parsed_batches_total', { path: 'pool' }) > 0);
});

test('per-point limits: over-long lines and points with too many tags are rejected, their neighbours stored', async () => {
  const g = await startTestGateway(['--max-line-bytes', '64', '--max-tags', '3']);
  try {
    const long = `lim,host=a v=1,pad="${'x'.repeat(80)}" 1700000005000000000`;
    const body = ['lim,host=a v=1 1700000005000000000', long, 'lim,a=1,b=2,c=3,d=4 v=2 1700000005000000000', 'lim,host=b v=3 1700000005000000000'].join('\n');
    const res = await fetch(`${g.url}/write`, { method: 'POST', body, headers: g.auth });
    assert.equal(res.status, 400);
    const json = (await res.json()) as { errors: Array<{ line: number; reason: string }>; accepted: number };
    assert.deepEqual(json.errors, [
      { line: 2, reason: 'line exceeds 64 bytes' },
      { line: 3, reason: 'point has more than 3 tags' },
    ]);
    assert.equal(json.accepted, 2);
    const m = await scrape(g.url);
    assert.equal(metricValue(m, 'sentio_limit_hits_total', { limit: 'line_bytes' }), 1);
    assert.equal(metricValue(m, 'sentio_limit_hits_total', { limit: 'tags' }), 1);
  } finally {
    await g.close();
  }
});

test('per-token limits: samples per second and series per minute are refused with 429 and Retry-After, nothing of the batch stored', async () => {
  const g = await startTestGateway(['--max-samples-per-second', '100', '--max-series-per-minute', '50']);
  try {
    const post = (body: string) => fetch(`${g.url}/write`, { method: 'POST', body, headers: g.auth });
    // 60 new series: over the cardinality limit as a whole.
    const wide = Array.from({ length: 60 }, (_, i) => `card,s=${i} v=1 1700000006000000000`).join('\n');
    const r1 = await post(wide);
    assert.equal(r1.status, 429);
    assert.ok(Number(r1.headers.get('retry-after')) >= 1);
    assert.equal(((await r1.json()) as { code: string }).code, 'SENTIO_ERR_CARDINALITY_LIMIT');
    const store = g.gateway.embedded!;
    assert.equal((await store.exportSeries({ metric: 'card_v' })).length, 0, 'a refused batch leaves nothing');
    // 40 series fit; 150 samples drain the bucket (one batch may borrow), the next batch is refused.
    const narrow = Array.from({ length: 150 }, (_, i) => `rate,s=${i % 40} v=${i} ${1700000006000000000 + i}`).join('\n');
    assert.equal((await post(narrow)).status, 204);
    const r2 = await post(narrow);
    assert.equal(r2.status, 429);
    assert.equal(((await r2.json()) as { code: string }).code, 'SENTIO_ERR_RATE_LIMITED');
    assert.ok(Number(r2.headers.get('retry-after')) >= 1);
    const m = await scrape(g.url);
    assert.equal(metricValue(m, 'sentio_limit_hits_total', { limit: 'series_per_minute' }), 1);
    assert.equal(metricValue(m, 'sentio_limit_hits_total', { limit: 'samples_per_second' }), 1);
  } finally {
    await g.close();
  }
});
