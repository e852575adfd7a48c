// /live on a real gateway: a dashboard logs in through the API, opens /live
// with its access token, subscribes to a selector and to a device, and
// receives the points written after it subscribed (with a device token),
// plus the gateway status. A device token is not accepted on /live.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { type ApiClient, login, opened, startTestGateway, type TestGateway } from './helpers.js';

interface Frame {
  type: string;
  topic?: string;
  snapshot?: boolean;
  series?: Array<{ ref: number; labels?: Record<string, string>; p: [number, number | string] }>;
  status?: { ingest?: { samplesPerSecond: number }; sink?: { healthy: boolean } };
}

let gw: TestGateway;
let admin: ApiClient;
before(async () => {
  gw = await startTestGateway();
  admin = await login(gw.url);
});
after(() => gw.close());

/** Opens /live and collects frames; `next(pred)` resolves with the first frame (already received or to come) matching it. */
async function live(token: string) {
  const ws = new WebSocket(`${gw.wsUrl.replace(/\/ws$/, '/live')}?access_token=${token}`);
  const frames: Frame[] = [];
  const waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString()) as Frame;
    frames.push(f);
    for (const w of waiters.filter((w) => w.pred(f))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(f);
    }
  });
  await opened(ws);
  return {
    ws,
    next(pred: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
      const seen = frames.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${frames.map((f) => f.type).join(',')}`)), timeoutMs);
        waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      });
    },
  };
}

test('a dashboard subscribed to a selector and to a device receives the points written after it subscribed', async () => {
  const created = await admin.call('POST', '/api/devices', { name: 'live-dev' });
  const { token: deviceToken, id: deviceId } = created.body;
  const viewer = await admin.call('POST', '/api/users', { username: 'watcher', password: 'watcher-password-1', role: 'viewer' });
  assert.equal(viewer.status, 201);
  const c = await login(gw.url, 'watcher', 'watcher-password-1');
  const l = await live(c.accessToken);
  l.ws.send(JSON.stringify({ type: 'subscribe', id: 's1', selector: 'livetest_temp{site="north"}' }));
  l.ws.send(JSON.stringify({ type: 'subscribe', id: 'd1', device: deviceId }));
  const s1 = await l.next((f) => f.type === 'subscribed' && (f as { id?: string }).id === 's1');
  await l.next((f) => f.type === 'subscribed' && (f as { id?: string }).id === 'd1');

  const ts = Date.now();
  const res = await fetch(`${gw.url}/write?precision=ms`, {
    method: 'POST',
    headers: { authorization: `Token ${deviceToken}` },
    body: `livetest,site=north temp=21.5 ${ts}\nlivetest,site=south temp=9 ${ts}\n`,
  });
  assert.equal(res.status, 204);

  const data = await l.next((f) => f.type === 'data' && f.topic === s1.topic && !!f.series?.some((s) => s.p[0] === ts));
  const point = data.series!.find((s) => s.p[0] === ts)!;
  assert.equal(Number(point.p[1]), 21.5);
  assert.equal(data.series!.length, 1, 'south does not match the selector');
  const dev = await l.next((f) => f.type === 'data' && f.topic?.startsWith('dev:') === true && (f.series?.length ?? 0) >= 2);
  assert.equal(dev.series!.length, 2, 'both series of the device batch');

  const status = await l.next((f) => f.type === 'status');
  assert.equal(status.status?.sink?.healthy, true);
  l.ws.close();
});

test('batches parsed together (one turn, coalesce-max-bytes) reach a selector view, each point once', async () => {
  const l = await live(admin.accessToken);
  l.ws.send(JSON.stringify({ type: 'subscribe', id: 'c1', selector: 'coalesced_v' }));
  const sub = await l.next((f) => f.type === 'subscribed' && (f as { id?: string }).id === 'c1');
  const ts = Date.now();
  const before = gw.gateway.pipeline.inlineCount;
  // Three small batches in the same turn, as three devices' frames would come: one native call for all.
  const writes = ['a', 'b', 'c'].map((host, i) =>
    gw.gateway.ingest.writeBytes('ws', 'lp', Buffer.from(`coalesced,host=${host} v=${i + 1} ${ts}\n`), { principal: { key: `test:${host}` } }),
  );
  await Promise.all(writes);
  assert.equal(gw.gateway.pipeline.inlineCount - before, 1, 'parsed together');
  const got = new Map<string, number>();
  while (got.size < 3) {
    const f = await l.next((x) => x.type === 'data' && x.topic === sub.topic && !!x.series?.some((s) => s.p[0] === ts && s.labels?.host !== undefined && !got.has(s.labels.host)));
    for (const s of f.series!) if (s.p[0] === ts && s.labels?.host !== undefined) got.set(s.labels.host, Number(s.p[1]));
  }
  assert.deepEqual(Object.fromEntries([...got].sort()), { a: 1, b: 2, c: 3 });
  l.ws.close();
});

test('/live refuses a device token and a missing token (401)', async () => {
  const created = await admin.call('POST', '/api/devices', { name: 'live-dev-2' });
  await assert.rejects(live(created.body.token), /upgrade refused: 401/);
  await assert.rejects(live(''), /upgrade refused: 401/);
});
