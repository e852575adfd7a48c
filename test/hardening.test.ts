// Hostile input and faults against a real `sentio start` process (issue:
// hardening): malformed requests to every route, revocation across
// restarts, the login limit under concurrency, a port already taken,
// concurrent gzip bombs, unknown paths, readiness and shutdown time.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ADMIN_PASSWORD, TOKEN, apiClient, login, metricValue, scrape, sentioCli, startSentioProcess } from './helpers.js';
import { freePort, type Service, waitFor } from './services/index.js';
import { type Postgres, startPostgres } from './services/postgres.js';
import { type RedisService, startRedis } from './services/redis.js';

/** One raw HTTP/1.1 request (bytes as given, no encoding by a client library); resolves with the status, or 0 when the server closed without one. */
function rawRequest(port: number, head: Buffer | string, body: Buffer = Buffer.alloc(0)): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let reply = Buffer.alloc(0);
    const done = () => {
      const text = reply.toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
      socket.destroy();
    };
    socket.setTimeout(10_000, done);
    socket.once('error', done);
    socket.once('close', done);
    socket.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]);
      // One reply is enough: stop at the end of its body (or its headers, for a reply without one).
      const text = reply.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (reply.byteLength >= end + 4 + length) done();
    });
    socket.once('connect', () => socket.write(Buffer.concat([typeof head === 'string' ? Buffer.from(head, 'latin1') : head, Buffer.from('\r\n'), body])));
  });
}

/** The path of an OpenAPI route with every `{param}` replaced by `value` (already percent-encoded, or raw bytes). */
const withParams = (path: string, value: string) => path.replace(/\{[^}]+\}/g, value);

describe('every route survives malformed paths, query strings and bodies', () => {
  let sentio: Service;
  let admin: string;
  let routes: Array<{ method: string; path: string }>;

  before(async () => {
    sentio = await startSentioProcess();
    admin = (await login(sentio.url)).accessToken;
    const doc = (await (await fetch(`${sentio.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
    // The routes outside the REST API.
    routes.push(
      { method: 'POST', path: '/write' },
      { method: 'POST', path: '/api/v2/write' },
      { method: 'GET', path: '/query' },
      { method: 'GET', path: '/metrics' },
      { method: 'GET', path: '/healthz' },
      { method: 'GET', path: '/readyz' },
      { method: 'GET', path: '/ws' },
      { method: 'GET', path: '/live' },
      { method: 'GET', path: '/devices/{id}' },
    );
    assert.ok(routes.length > 30, `${routes.length} routes`);
  });
  after(() => sentio.destroy());

  test('malformed percent-encoding, bad UTF-8, control characters and absurd lengths get 4xx, never a crash', async () => {
    const values = ['%ZZ', '%', '%C3%28', '%FF%FE', '%ED%A0%80', '%00', 'a%0Ab', 'x'.repeat(20_000), '%E2%82'];
    const rawValues = [Buffer.from([0xff, 0xfe, 0x41]), Buffer.from([0xc3, 0x28])];
    const statuses = new Map<number, number>();
    for (const r of routes) {
      for (const auth of [undefined, admin]) {
        const headers = `Host: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n${auth ? `Authorization: Bearer ${auth}\r\n` : ''}`;
        const requests: Buffer[] = [
          ...values.map((v) => Buffer.from(`${r.method} ${withParams(r.path, v)}?q=${v}&query=${v}&start=${v}&db=${v}&precision=${v} HTTP/1.1\r\n${headers}`, 'latin1')),
          ...rawValues.map((v) => Buffer.concat([Buffer.from(`${r.method} ${withParams(r.path, '')}`.replace(/\/$/, '/'), 'latin1'), v, Buffer.from(`?name=`), v, Buffer.from(` HTTP/1.1\r\n${headers}`)])),
        ];
        for (const head of requests) {
          const { status, text } = await rawRequest(sentio.port, head, Buffer.from('{}'));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          // 0: the server closed the connection (uWS refuses request lines over its header limit that way).
          assert.ok(status === 0 || (status >= 200 && status < 500), `${head.toString('latin1').slice(0, 120)} -> ${status} ${text.slice(0, 300)}`);
        }
      }
    }
    // The issue's own reproduction: unauthenticated, a 400 with the validation code.
    for (const path of ['/api/users/%ZZ', '/api/devices/%ZZ', '/api/label/%ZZ/values']) {
      const res = await fetch(`${sentio.url}${path}`);
      assert.equal(res.status, 400, path);
      assert.equal(((await res.json()) as { code: string }).code, 'SENTIO_ERR_VALIDATION');
    }
    assert.equal(sentio.process.exitCode, null, 'the process is still running');
    assert.equal((await fetch(`${sentio.url}/healthz`)).status, 200);
    const m = await scrape(sentio.url);
    assert.equal(metricValue(m, 'sentio_handler_errors_total'), 0, 'no handler threw');
    assert.equal(metricValue(m, 'sentio_unhandled_rejections_total'), 0);
    assert.ok((statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]));
  });

  test('headers with bytes that are not UTF-8 and bodies that are not JSON are refused, not fatal', async () => {
    const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28]);
    for (const [method, path] of [['POST', '/write'], ['POST', '/api/auth/login'], ['GET', '/api/devices'], ['GET', '/live'], ['GET', '/ws']] as const) {
      for (const header of ['Authorization: Token ', 'Authorization: Bearer ', 'Authorization: Basic ', 'X-Request-Id: ', 'Origin: ', 'Content-Encoding: ']) {
        const head = Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n${header}`), bad, Buffer.from('\r\n')]);
        const { status } = await rawRequest(sentio.port, head, bad);
        assert.ok(status >= 400 && status < 500, `${method} ${path} ${header.trim()} -> ${status}`);
      }
    }
    assert.equal((await fetch(`${sentio.url}/healthz`)).status, 200);
    assert.equal(metricValue(await scrape(sentio.url), 'sentio_handler_errors_total'), 0);
  });

  test('unknown paths: a JSON 404 unless a browser navigates; /readyz says what writes depend on', async () => {
    for (const path of ['/ready', '/readyz/', '/healthz2', '/api', '/livez', '/metrics/x']) {
      const res = await fetch(`${sentio.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { code: string }).code, 'SENTIO_ERR_NOT_FOUND', path);
    }
    const post = await fetch(`${sentio.url}/devices`, { method: 'POST', headers: { accept: 'text/html' }, body: 'x' });
    assert.equal(post.status, 404);
    const page = await fetch(`${sentio.url}/devices`, { headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    await page.arrayBuffer();
    const ready = await fetch(`${sentio.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { store: 'ok', cache: 'ok', sink_embedded: 'ok' } });
  });
});

describe('revocation survives a restart', () => {
  let postgres: Postgres;
  let redis: RedisService;
  before(async () => {
    [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  });
  after(async () => {
    await Promise.all([postgres?.destroy(), redis?.destroy()]);
  });

  /** Logs out one session, deletes, disables and demotes three users; returns each one's old access token. */
  async function revokeFour(url: string, tag: string): Promise<Record<string, string>> {
    const adminApi = await login(url);
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['gone', 'operator'], ['off', 'operator'], ['demoted', 'admin']] as const) {
      const username = `${name}-${tag}`;
      const created = await adminApi.call('POST', '/api/users', { username, password: 'password-of-a-user', role });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      tokens[name] = (await login(url, username, 'password-of-a-user')).accessToken;
      assert.equal((await apiClient(url, tokens[name]!).call('GET', '/api/auth/me')).status, 200);
      if (name === 'gone') assert.equal((await adminApi.call('DELETE', `/api/users/${created.body.id}`)).status, 204);
      if (name === 'off') assert.equal((await adminApi.call('PATCH', `/api/users/${created.body.id}`, { disabled: true })).status, 200);
      if (name === 'demoted') assert.equal((await adminApi.call('PATCH', `/api/users/${created.body.id}`, { role: 'viewer' })).status, 200);
    }
    const out = await login(url);
    assert.equal((await out.call('POST', '/api/auth/logout', { refreshToken: out.refreshToken })).status, 204);
    tokens['loggedOut'] = out.accessToken;
    return tokens;
  }

  async function assertRefused(url: string, tokens: Record<string, string>, when: string): Promise<void> {
    for (const [name, token] of Object.entries(tokens)) {
      const me = await apiClient(url, token).call('GET', '/api/auth/me');
      assert.equal(me.status, 401, `${name} ${when}: ${JSON.stringify(me.body)}`);
      const devices = await apiClient(url, token).call('GET', '/api/devices');
      assert.equal(devices.status, 401, `${name} ${when}`);
    }
  }

  test('embedded default (PGlite, in-memory cache): revoked tokens stay revoked after the gateway restarts', async () => {
    const first = await startSentioProcess();
    const tokens = await revokeFour(first.url, 'embedded');
    await assertRefused(first.url, tokens, 'before the restart');
    await first.stop();
    const again = await startSentioProcess([], { dir: first.dir, port: first.port });
    try {
      await assertRefused(again.url, tokens, 'after the restart');
      assert.equal((await (await login(again.url)).call('GET', '/api/auth/me')).status, 200, 'a new login works');
    } finally {
      await again.destroy();
    }
  });

  test('PostgreSQL and Redis: revoked tokens stay revoked after Redis and the gateway restart', async () => {
    const db = await postgres.createDatabase();
    const args = ['--postgres', db, '--redis', redis.url];
    const first = await startSentioProcess(args);
    let again: Service | undefined;
    try {
      const tokens = await revokeFour(first.url, 'pg');
      redis = await redis.restart(); // nothing persisted: whatever the cache knew is gone
      await waitFor('gateway answers after the Redis restart', async () => (await fetch(`${first.url}/readyz`)).status === 200);
      await assertRefused(first.url, tokens, 'after the Redis restart');
      await first.stop();
      again = await startSentioProcess(args, { dir: first.dir, port: first.port });
      await assertRefused(again.url, tokens, 'after the gateway restart');
    } finally {
      await (again ?? first).destroy();
    }
  });
});

describe('the login limit holds under concurrency', () => {
  test('120 parallel attempts at one user: at most 10 get a verdict; 120 at different users from one address: at most 50', async () => {
    const sentio = await startSentioProcess();
    try {
      const attempt = (username: string, password: string) =>
        fetch(`${sentio.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const one = await Promise.all(Array.from({ length: 120 }, (_, i) => attempt('admin', i === 60 ? ADMIN_PASSWORD : `wrong-password-${i}`)));
      const verdicts = one.filter((s) => s !== 429);
      assert.ok(verdicts.length <= 10, `${verdicts.length} attempts were verified: ${JSON.stringify(one)}`);
      assert.ok(verdicts.every((s) => s === 401 || s === 200));
      const many = await Promise.all(Array.from({ length: 120 }, (_, i) => attempt(`user-${i}`, 'wrong-password')));
      const verified = many.filter((s) => s !== 429).length;
      // The address has 50 in all, some already spent above.
      assert.ok(verified <= 50 - verdicts.filter((s) => s === 401).length, `${verified} attempts at other users were verified`);
    } finally {
      await sentio.destroy();
    }
  });

  test('two instances sharing PostgreSQL and Redis: the per-user limit holds across them', async () => {
    const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
    const db = await postgres.createDatabase();
    const a = await startSentioProcess(['--postgres', db, '--redis', redis.url]);
    const b = await startSentioProcess(['--postgres', db, '--redis', redis.url]);
    try {
      const attempt = (url: string, i: number) =>
        fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: `wrong-${i}` }) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const all = await Promise.all(Array.from({ length: 80 }, (_, i) => attempt(i % 2 ? a.url : b.url, i)));
      assert.equal(all.filter((s) => s === 401).length, 10, JSON.stringify(all));
      assert.equal(all.filter((s) => s === 429).length, 70);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
      await Promise.all([postgres.destroy(), redis.destroy()]);
    }
  });
});

/** `sentio start` on a port: resolves with the exit code (or 'running' after 15 s) and what it printed. */
async function startOnPort(port: number): Promise<{ code: number | string | null; stderr: string; stdout: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sentio-port-'));
  return new Promise<{ code: number | string | null; stderr: string; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', sentioCli, 'start', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--token', TOKEN, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'running', stderr, stdout });
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  }).finally(() => rm(dir, { recursive: true, force: true }));
}

test('a port already in use (by another Sentio or any process) fails start-up with exit code 1 and one line', async () => {
  const first = await startSentioProcess();
  const holder: NetServer = createServer();
  const held = await freePort();
  await new Promise<void>((resolve) => holder.listen(held, '127.0.0.1', resolve));
  try {
    for (const port of [first.port, held]) {
      const r = await startOnPort(port);
      assert.equal(r.code, 1, `port ${port}: ${r.stdout}${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^sentio: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use .*--listen`));
      assert.doesNotMatch(r.stdout, /listening/);
    }
    // The first instance kept the port to itself: its token still writes, every time.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${first.url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: `p v=${i}` });
      assert.equal(res.status, 204);
    }
  } finally {
    holder.close();
    await first.destroy();
  }
});

test('concurrent gzip bombs stay within the memory budget, are answered 413 or 503 with Retry-After, and the budget empties', async () => {
  const MiB = 2 ** 20;
  // Each bomb may inflate 64 MiB before it is refused; 24 at once would be 1.5 GiB without a budget.
  const sentio = await startSentioProcess(['--max-decompressed-bytes', String(64 * MiB), '--max-compression-ratio', '1000000', '--max-inflight-body-bytes', String(160 * MiB)]);
  try {
    const bomb = gzipSync(Buffer.alloc(256 * MiB, 0x61), { level: 9 }); // ~250 kB
    const rss = async () => metricValue(await scrape(sentio.url), 'process_resident_memory_bytes');
    const before = await rss();
    const replies = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const res = await fetch(`${sentio.url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}`, 'content-encoding': 'gzip' }, body: bomb });
        const body = (await res.json()) as { code: string };
        return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
      }),
    );
    for (const r of replies) {
      if (r.status === 413) assert.equal(r.code, 'SENTIO_ERR_DECOMPRESSED_TOO_LARGE');
      else {
        assert.equal(r.status, 503, JSON.stringify(r));
        assert.equal(r.code, 'SENTIO_ERR_OVERLOADED');
        assert.ok(Number(r.retryAfter) >= 1);
      }
    }
    assert.ok(replies.some((r) => r.status === 413), 'some bombs were inflated to the limit and refused for it');
    const m = await scrape(sentio.url);
    assert.ok(metricValue(m, 'sentio_inflight_body_peak_bytes') <= 160 * MiB, 'never more than the budget held');
    assert.equal(metricValue(m, 'sentio_inflight_body_bytes'), 0, 'everything given back');
    const grown = (await rss()) - before;
    assert.ok(grown < 400 * MiB, `resident memory grew by ${(grown / MiB).toFixed(0)} MiB`);
    // Still serving, and an empty body that claims gzip is a bad encoding, not a bomb.
    const empty = await fetch(`${sentio.url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}`, 'content-encoding': 'gzip' }, body: '' });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { code: string }).code, 'SENTIO_ERR_BAD_ENCODING');
    const ok = await fetch(`${sentio.url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}`, 'content-encoding': 'gzip' }, body: gzipSync('after v=1') });
    assert.equal(ok.status, 204);
  } finally {
    await sentio.destroy();
  }
});

describe('shutdown keeps to its grace period with VictoriaMetrics unreachable', () => {
  let silent: NetServer;
  let port: number;
  before(async () => {
    // Accepts connections and never answers: the worst case for a sender waiting on requests in flight.
    silent = createServer((socket) => socket.on('error', () => {}));
    port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
  });
  after(() => silent.close());

  for (const graceMs of [1000, 3000]) {
    test(`--shutdown-grace-ms ${graceMs}: the process exits within the grace period plus 1 s, the batches kept on disk`, async () => {
      const sentio = await startSentioProcess(['--victoriametrics', `http://127.0.0.1:${port}/api/v1/write`, '--shutdown-grace-ms', String(graceMs), '--vm-timeout-ms', '60000']);
      try {
        for (let i = 0; i < 20; i++) {
          const res = await fetch(`${sentio.url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: `s,i=${i} v=${i}` });
          assert.equal(res.status, 204);
        }
        const exited = new Promise<number>((resolve) => sentio.process.once('exit', () => resolve(performance.now())));
        const signalled = performance.now();
        sentio.process.kill('SIGTERM');
        const took = (await exited) - signalled;
        assert.ok(took < graceMs + 1000, `exited ${Math.round(took)} ms after SIGTERM`);
        assert.equal(sentio.process.exitCode, 0, sentio.output());
        const queued = spawn(process.execPath, ['--import', 'tsx', sentioCli, 'queue', 'inspect', '--json', '--data-dir', sentio.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        queued.stdout.on('data', (d: Buffer) => (out += d.toString()));
        await new Promise((resolve) => queued.once('exit', resolve));
        const records = (JSON.parse(out) as Array<{ batches: number }>).reduce((n, r) => n + r.batches, 0);
        assert.equal(records, 20, 'every acknowledged batch is still queued for the next start');
      } finally {
        await sentio.destroy();
      }
    });
  }
});
