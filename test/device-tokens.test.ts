// Device tokens end to end: create a device, write with its token over
// HTTP and WebSocket, rotate and revoke tokens; the next write after a
// revocation is refused (401) on this instance and on a second instance
// sharing a real PostgreSQL and a real Redis.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { type ApiClient, login, opened, startTestGateway, type TestGateway } from './helpers.js';
import { startPostgres, type Postgres } from './services/postgres.js';
import { startRedis, type RedisService } from './services/redis.js';

const line = (n: number) => `devtest,host=h${n} v=${n}\n`;

async function write(url: string, token: string, body = line(1)): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${url}/write`, { method: 'POST', headers: { authorization: `Token ${token}` }, body });
  const text = await res.text();
  return { status: res.status, ...(text ? { code: (JSON.parse(text) as { code: string }).code } : {}) };
}

/** Opens a WebSocket with a device token; resolves with a function sending one frame and waiting for its reply, and the close event. */
async function openWs(wsUrl: string, token: string) {
  const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
  const replies: Array<(m: { type: string; code?: string }) => void> = [];
  ws.on('message', (d) => replies.shift()?.(JSON.parse(d.toString()) as { type: string; code?: string }));
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await opened(ws);
  return {
    ws,
    closed,
    send(frame: string) {
      return new Promise<{ type: string; code?: string }>((resolve) => {
        replies.push(resolve);
        ws.send(frame);
      });
    },
  };
}

describe('device tokens on one instance (embedded default)', () => {
  let gw: TestGateway;
  let op: ApiClient;
  before(async () => {
    gw = await startTestGateway();
    op = await login(gw.url);
  });
  after(() => gw.close());

  test('create a device, write with its token over HTTP and WebSocket, revoke it: the next write is 401 on both', async () => {
    const created = await op.call('POST', '/api/devices', { name: 'boiler-1', labels: { site: 'north' } });
    assert.equal(created.status, 201);
    const { token, id, tokenInfo } = created.body;
    assert.match(token, /^sdt_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.status.state, 'never');

    assert.equal((await write(gw.url, token)).status, 204);
    const ws = await openWs(gw.wsUrl, token);
    assert.equal((await ws.send(line(2))).type, 'ack');

    // Listing shows metadata, never the secret or its hash.
    const list = await op.call('GET', `/api/devices/${id}/tokens`);
    assert.equal(list.status, 200);
    assert.equal(list.body.items.length, 1);
    assert.deepEqual(Object.keys(list.body.items[0]).sort(), ['createdAt', 'deviceId', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'state'].sort());
    assert.ok(!JSON.stringify(list.body).includes(token.slice(12)));
    assert.equal(token.slice(0, 12), list.body.items[0].prefix);

    assert.equal((await op.call('DELETE', `/api/devices/${id}/tokens/${tokenInfo.id}`)).status, 204);
    const refused = await write(gw.url, token);
    assert.equal(refused.status, 401);
    assert.equal(refused.code, 'SENTIO_ERR_UNAUTHORIZED');
    const reply = await ws.send(line(3));
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'SENTIO_ERR_UNAUTHORIZED');
    assert.equal(await ws.closed, 1008);
    // A new connection is refused at the upgrade.
    await assert.rejects(openWs(gw.wsUrl, token), /upgrade refused: 401/);

    const revoked = await op.call('GET', `/api/devices/${id}/tokens`);
    assert.equal(revoked.body.items[0].state, 'revoked');
  });

  test("a device's labels and name are on every sample it writes, HTTP and WebSocket; the point's own tag wins; a change applies to the next write", async () => {
    const created = await op.call('POST', '/api/devices', { name: 'labelled-1', labels: { site: 'north', zone: 'z1' } });
    assert.equal(created.status, 201);
    const { token, id } = created.body;
    const t = Math.floor(Date.now() / 1000);
    assert.equal((await write(gw.url, token, `lbl,host=a v=1 ${t}000000000\nlbl,host=b,site=own v=2 ${t}000000000`)).status, 204);
    const ws = await openWs(gw.wsUrl, token);
    assert.equal((await ws.send(`lblws v=3 ${t}000000000`)).type, 'ack');
    const series = async (match: string) => {
      const r = await op.call('GET', `/api/series?match[]=${encodeURIComponent(match)}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.data as Array<Record<string, string>>).sort((x, y) => (x.host ?? '').localeCompare(y.host ?? ''));
    };
    assert.deepEqual(await series('lbl_v'), [
      { __name__: 'lbl_v', device: 'labelled-1', host: 'a', site: 'north', zone: 'z1' },
      { __name__: 'lbl_v', device: 'labelled-1', host: 'b', site: 'own', zone: 'z1' },
    ]);
    assert.deepEqual(await series('lblws_v'), [{ __name__: 'lblws_v', device: 'labelled-1', site: 'north', zone: 'z1' }]);
    // Relabel and rename: the very next write, on the open WebSocket too, carries the new ones.
    assert.equal((await op.call('PATCH', `/api/devices/${id}`, { name: 'labelled-2', labels: { site: 'south' } })).status, 200);
    assert.equal((await write(gw.url, token, `lbl2 v=1 ${t}000000000`)).status, 204);
    assert.equal((await ws.send(`lbl2ws v=1 ${t}000000000`)).type, 'ack');
    assert.deepEqual(await series('lbl2_v'), [{ __name__: 'lbl2_v', device: 'labelled-2', site: 'south' }]);
    assert.deepEqual(await series('lbl2ws_v'), [{ __name__: 'lbl2ws_v', device: 'labelled-2', site: 'south' }]);
    ws.ws.close();
    // `device` is the name, and __-prefixed names are reserved.
    for (const labels of [{ device: 'x' }, { __name__: 'x' }]) {
      const r = await op.call('PATCH', `/api/devices/${id}`, { labels });
      assert.equal(r.status, 400, JSON.stringify(labels));
      assert.equal(r.body.code, 'SENTIO_ERR_VALIDATION');
    }
  });

  test('a device is online from the request right after its first acknowledged write', async () => {
    for (let i = 0; i < 5; i++) {
      const created = await op.call('POST', '/api/devices', { name: `fresh-${i}` });
      const { token, id } = created.body;
      assert.equal((await op.call('GET', `/api/devices/${id}`)).body.status.state, 'never');
      assert.equal((await write(gw.url, token)).status, 204);
      const d = await op.call('GET', `/api/devices/${id}`);
      assert.equal(d.body.status.state, 'online', JSON.stringify(d.body.status));
      const listed = (await op.call('GET', '/api/devices')).body.items.find((x: { id: string }) => x.id === id);
      assert.equal(listed.status.state, 'online');
    }
  });

  test('device status: last seen, samples/s and last error come from the ingest path', async () => {
    const created = await op.call('POST', '/api/devices', { name: 'meter-7' });
    const { token, id } = created.body;
    const body = Array.from({ length: 50 }, (_, i) => line(i)).join('');
    for (let i = 0; i < 5; i++) assert.equal((await write(gw.url, token, body)).status, 204);
    // A batch refused whole (a msgpack envelope that cannot be read) becomes the device's last error.
    const bad = await fetch(`${gw.url}/write`, { method: 'POST', headers: { authorization: `Token ${token}`, 'content-type': 'application/msgpack' }, body: Buffer.from([0xc1]) });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    await gw.gateway.control.activity.flush();
    const d = await op.call('GET', `/api/devices/${id}`);
    assert.equal(d.status, 200);
    assert.equal(d.body.status.state, 'online');
    assert.ok(Date.now() - Date.parse(d.body.status.lastSeenAt) < 60_000);
    assert.match(d.body.status.lastError, /SENTIO_ERR_BAD_BATCH/);
    const tokens = await op.call('GET', `/api/devices/${id}/tokens`);
    assert.ok(tokens.body.items[0].lastUsedAt !== null, 'lastUsedAt recorded');
  });

  test('rotation: the new token works at once and the old one until the overlap ends; expired tokens are refused', async () => {
    const created = await op.call('POST', '/api/devices', { name: 'pump-3' });
    const { token: oldToken, id, tokenInfo } = created.body;
    const rotated = await op.call('POST', `/api/devices/${id}/tokens`, { name: 'v2', rotate: { tokenId: tokenInfo.id, overlapSeconds: 3600 } });
    assert.equal(rotated.status, 201);
    assert.equal(rotated.body.rotated.state, 'expiring');
    assert.equal((await write(gw.url, rotated.body.token)).status, 204);
    assert.equal((await write(gw.url, oldToken)).status, 204);
    // Overlap 0: the old token stops now (a rotation of the new one).
    const again = await op.call('POST', `/api/devices/${id}/tokens`, { rotate: { tokenId: rotated.body.id, overlapSeconds: 0 } });
    assert.equal(again.status, 201);
    assert.equal((await write(gw.url, rotated.body.token)).status, 401);
    assert.equal((await write(gw.url, again.body.token)).status, 204);
    const audit = await op.call('GET', `/api/audit?target=device:${id}`);
    assert.deepEqual(audit.body.items.map((e: { action: string }) => e.action), ['token.rotate', 'token.rotate', 'device.create']);
  });

  test('deleting a device ends its tokens; an unknown token is 401', async () => {
    const created = await op.call('POST', '/api/devices', { name: 'gone-1' });
    assert.equal((await write(gw.url, created.body.token)).status, 204);
    assert.equal((await op.call('DELETE', `/api/devices/${created.body.id}`)).status, 204);
    assert.equal((await write(gw.url, created.body.token)).status, 401);
    assert.equal((await write(gw.url, 'sdt_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).status, 401);
    assert.equal((await op.call('GET', `/api/devices/${created.body.id}`)).status, 404);
  });
});

describe('device tokens on two instances sharing PostgreSQL and Redis', () => {
  let pg: Postgres;
  let redis: RedisService;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    // A per-token rate low enough to reach in a test; the other tests here write a sample or two.
    const shared = ['--postgres', pg.url, '--redis', redis.url, '--max-samples-per-second', '1000'];
    a = await startTestGateway(shared);
    b = await startTestGateway(shared);
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([pg?.destroy(), redis?.destroy()]);
  });

  test('a token issued on A writes on B; revoked on A, the next write on B is 401', async () => {
    const opA = await login(a.url);
    // One admin for both: the second instance found the user the first created.
    const opB = await login(b.url);
    const created = await opA.call('POST', '/api/devices', { name: 'shared-1' });
    assert.equal(created.status, 201);
    const { token, id, tokenInfo } = created.body;
    assert.equal((await opB.call('GET', `/api/devices/${id}`)).status, 200);
    // B looks the token up (store, then cache) and keeps it locally.
    assert.equal((await write(b.url, token)).status, 204);
    assert.equal((await write(b.url, token)).status, 204);
    const wsB = await openWs(b.wsUrl, token);
    assert.equal((await wsB.send(line(5))).type, 'ack');

    assert.equal((await opA.call('DELETE', `/api/devices/${id}/tokens/${tokenInfo.id}`)).status, 204);
    // Status: A shows the device online from B's writes (written through to the store as it came online).
    const status = await opA.call('GET', `/api/devices/${id}`);
    assert.equal(status.body.status.state, 'online');

    const refused = await write(b.url, token);
    assert.equal(refused.status, 401, 'B refuses at once (the revocation was broadcast through Redis)');
    assert.equal((await wsB.send(line(6))).code, 'SENTIO_ERR_UNAUTHORIZED');
    assert.equal((await write(a.url, token)).status, 401);
  });

  test('the per-token rate limit is one bucket across instances (Redis)', async () => {
    const opA = await login(a.url);
    const { token } = (await opA.call('POST', '/api/devices', { name: 'rated-1' })).body;
    const batch = (n: number) => Array.from({ length: n }, (_, i) => `rated,host=h${i} v=${i}\n`).join('');
    assert.equal((await write(a.url, token, batch(600))).status, 204);
    // 600 of the 1000 a second are used on A: 600 more on B must not pass (each instance alone would allow it).
    const onB = await write(b.url, token, batch(600));
    assert.equal(onB.status, 429);
    assert.equal(onB.code, 'SENTIO_ERR_RATE_LIMITED');
  });

  test('Redis down: the API answers 503 SENTIO_ERR_STORE_UNAVAILABLE (counted), and recovers when Redis is back', async () => {
    const c = await login(a.url);
    await redis.stop();
    try {
      const down = await c.call('GET', '/api/devices');
      assert.equal(down.status, 503);
      assert.equal(down.body.code, 'SENTIO_ERR_STORE_UNAVAILABLE');
      assert.match(down.body.message, /Redis unavailable/);
      assert.ok(Number(down.headers.get('retry-after')) >= 1);
      const metrics = await (await fetch(`${a.url}/metrics`)).text();
      assert.match(metrics, /sentio_control_errors_total\{component="api"\} [1-9]/);
    } finally {
      redis = await redis.restart();
    }
    // The client reconnects by itself; wait for it rather than for a fixed time.
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await c.call('GET', '/api/devices')).status) !== 200) await new Promise((r) => setTimeout(r, 100));
    assert.equal(status, 200);
  });

  test('sessions are shared: a token from A works on B, and logout on A ends it on B', async () => {
    const c = await login(a.url);
    const onB = { ...c, call: (m: string, p: string, body?: unknown) => fetch(`${b.url}${p}`, { method: m, headers: { authorization: `Bearer ${c.accessToken}` }, ...(body ? { body: JSON.stringify(body) } : {}) }) };
    assert.equal((await onB.call('GET', '/api/auth/me')).status, 200);
    assert.equal((await c.call('POST', '/api/auth/logout', { refreshToken: c.refreshToken })).status, 204);
    assert.equal((await onB.call('GET', '/api/auth/me')).status, 401);
  });
});
