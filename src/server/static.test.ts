import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import uWS from 'uWebSockets.js';
import { listen, type Server } from './index.js';
import { registerDashboard } from './static.js';

let root: string;
let server: Server;
let bare: Server;
let url: string;
const js = `console.log(${JSON.stringify('x'.repeat(4000))});`;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'sentio-web-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>Sentio</title><div id="root"></div>');
  writeFileSync(join(root, 'assets', 'index-abc123.js'), js);
  const app = uWS.App();
  const dashboard = registerDashboard(app, root);
  assert.equal(dashboard.served, true);
  // Compressed copies are made in the background; the encoding tests need them.
  await dashboard.compressed;
  server = await listen(app, '127.0.0.1', 0);
  url = `http://127.0.0.1:${server.port}`;
  const empty = uWS.App();
  assert.equal(registerDashboard(empty, join(root, 'nothing')).served, false);
  bare = await listen(empty, '127.0.0.1', 0);
});
after(() => {
  server.close();
  bare.close();
  rmSync(root, { recursive: true, force: true });
});

const NAVIGATION = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

test('index.html at / and for client-side routes, revalidated, with a strict CSP', async () => {
  for (const path of ['/', '/devices', '/explorer/anything']) {
    const res = await fetch(`${url}${path}`, { headers: NAVIGATION });
    assert.equal(res.status, 200, path);
    assert.match(await res.text(), /<title>Sentio<\/title>/);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  }
  const first = await fetch(`${url}/`);
  await first.arrayBuffer();
  const again = await fetch(`${url}/`, { headers: { 'if-none-match': first.headers.get('etag')! } });
  assert.equal(again.status, 304);
});

test('hashed assets: immutable, compressed as the client accepts', async () => {
  const raw = (enc: string) => fetch(`${url}/assets/index-abc123.js`, { headers: { 'accept-encoding': enc } });
  // fetch() decodes the body for us; the raw bytes are checked with undici.request below.
  const r = await raw('br, gzip');
  assert.equal(r.headers.get('content-encoding'), 'br');
  assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(await r.text(), js);
  const g = await raw('gzip');
  assert.equal(g.headers.get('content-encoding'), 'gzip');
  assert.equal(await g.text(), js);
  const { request } = await import('undici');
  const plain = await request(`${url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'gzip' } });
  const body = Buffer.from(await plain.body.arrayBuffer());
  assert.equal(gunzipSync(body).toString(), js);
  const br = await request(`${url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'br' } });
  assert.equal(brotliDecompressSync(Buffer.from(await br.body.arrayBuffer())).toString(), js);
});

test('an unknown path that is not a browser navigation is a JSON 404, not the dashboard', async () => {
  // Probes and scripts: no Accept, */*, or JSON; a path with an extension.
  const cases: Array<[string, RequestInit]> = [
    ['/ready', {}],
    ['/livez', { headers: { accept: '*/*' } }],
    ['/devices', { headers: { accept: 'application/json' } }],
    ['/favicon.png', { headers: NAVIGATION }],
  ];
  for (const [path, init] of cases) {
    const res = await fetch(`${url}${path}`, init);
    assert.equal(res.status, 404, `${init.method ?? 'GET'} ${path} ${JSON.stringify(init.headers)}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await res.json()) as { code: string }).code, 'SENTIO_ERR_NOT_FOUND');
  }
  // `/` is the dashboard whoever asks.
  const root = await fetch(`${url}/`);
  assert.equal(root.status, 200);
  assert.match(await root.text(), /<title>Sentio<\/title>/);
});

test('a missing file is 404; API paths are never answered with the dashboard; no build says how to build', async () => {
  const missing = await fetch(`${url}/assets/nope.js`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
  const api = await fetch(`${url}/api/nothing`);
  assert.equal(api.status, 404);
  assert.equal(((await api.json()) as { code: string }).code, 'SENTIO_ERR_NOT_FOUND');
  const none = await fetch(`http://127.0.0.1:${bare.port}/`);
  assert.equal(none.status, 404);
  assert.match(((await none.json()) as { message: string }).message, /npm run build:web/);
});
