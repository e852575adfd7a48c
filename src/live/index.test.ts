// GET /live against a real gateway assembly (harness.ts: parser pipeline,
// sink, Ingestor observed by the hub, uWS routes) on a loopback port, with
// the `ws` client, HS256 JWTs from `jose`, and a real redis-server for the
// cross-instance test. Every wait is on a message, a close or a metric.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import WebSocket from 'ws';
import { type Cache, openCache } from '../cache/index.js';
import { SentioError } from '../errors.js';
import { native } from '../native/index.js';
import type { IngestResult } from '../native/types.js';
import { startRedis, type RedisService } from '../../test/services/redis.js';
import { type LiveGateway, startLiveGateway } from './harness.js';
import { CLOSE_TOKEN_EXPIRED, CLOSE_TOO_SLOW, type LiveUser, presentedLiveToken, type VerifyToken } from './index.js';

const secret = new TextEncoder().encode('live-test-secret-0123456789abcdef');

async function jwt(sub: string, expiresAtMs: number, role: LiveUser['role'] = 'viewer'): Promise<string> {
  return new SignJWT({ username: `user-${sub}`, role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(expiresAtMs / 1000))
    .sign(secret);
}

/** A `verify` as the API's will be: HS256, SentioError on anything wrong. */
const verify: VerifyToken = async (token) => {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'] });
    return { userId: payload.sub!, username: String(payload.username), role: payload.role as LiveUser['role'], expiresAtMs: payload.exp! * 1000 };
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new SentioError('SENTIO_ERR_TOKEN_EXPIRED');
    throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'invalid access token');
  }
};

const HOUR = 3_600_000;

interface Point {
  ref: number;
  labels?: Record<string, string>;
  p: [number, number | string];
}
interface Msg {
  type: string;
  id?: string;
  topic?: string;
  t?: number;
  snapshot?: boolean;
  series?: Point[];
  code?: string;
  [k: string]: unknown;
}

/** A /live client that keeps every message and lets a test wait for one. */
class LiveClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  /** Labels by ref, as announced to this client. */
  readonly labels = new Map<number, Record<string, string>>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Msg;
      for (const s of m.series ?? []) if (s.labels) this.labels.set(s.ref, s.labels);
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.waiters.splice(0)) w();
      }),
    );
  }

  static open(url: string, opts: { token?: string; header?: string; protocol?: string } = {}): Promise<LiveClient> {
    const u = opts.token !== undefined ? `${url}?access_token=${encodeURIComponent(opts.token)}` : url;
    const ws = new WebSocket(u, opts.protocol !== undefined ? ['bearer', opts.protocol] : [], opts.header !== undefined ? { headers: { authorization: `Bearer ${opts.header}` } } : {});
    const c = new LiveClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  /** The first message from `from` on that satisfies `pred` (waiting for it). */
  async next(pred: (m: Msg) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.messages.length; i++) if (pred(this.messages[i]!)) return this.messages[i]!;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} after ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(m: object): void {
    this.ws.send(JSON.stringify(m));
  }

  async subscribe(id: string, target: { selector: string } | { device: string }): Promise<Msg> {
    const from = this.messages.length;
    this.send({ type: 'subscribe', id, ...target });
    return this.next((m) => (m.type === 'subscribed' || m.type === 'error') && m.id === id, `reply to subscribe ${id}`, 10_000, from);
  }

  /** Every non-snapshot update of the series whose labels satisfy `pred`: [frame t, point]. */
  updates(pred: (labels: Record<string, string>) => boolean, topic?: string): Array<[number, [number, number | string]]> {
    const out: Array<[number, [number, number | string]]> = [];
    for (const m of this.messages) {
      if (m.type !== 'data' || m.snapshot || (topic !== undefined && m.topic !== topic)) continue;
      for (const s of m.series!) {
        const l = this.labels.get(s.ref);
        assert.ok(l, `ref ${s.ref} used before its labels were sent`);
        if (pred(l)) out.push([m.t!, s.p]);
      }
    }
    return out;
  }

  close(): void {
    this.ws.close();
  }
}

/** The status and JSON body of a refused upgrade. */
function refusal(url: string, init: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, init.protocols ?? [], { headers: init.headers ?? {} });
    ws.on('open', () => reject(new Error('upgrade was accepted')));
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }));
    });
  });
}

async function write(g: LiveGateway, lines: string): Promise<void> {
  const res = await fetch(`${g.url}/write?precision=ms`, { method: 'POST', body: lines });
  assert.equal(res.status, 204, await res.text());
}

async function metric(g: LiveGateway, name: string, labels = ''): Promise<number> {
  const text = await g.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls a metric until `ok` (a condition, not a fixed sleep). */
async function metricUntil(g: LiveGateway, name: string, labels: string, ok: (v: number) => boolean, what: string, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await metric(g, name, labels);
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: ${name}${labels} is ${v} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('presentedLiveToken reads the three forms', () => {
  assert.deepEqual(presentedLiveToken('access_token=q', '', ''), { token: 'q', viaProtocol: false });
  assert.deepEqual(presentedLiveToken('', 'Bearer h', ''), { token: 'h', viaProtocol: false });
  assert.deepEqual(presentedLiveToken('', '', 'bearer, p'), { token: 'p', viaProtocol: true });
  assert.deepEqual(presentedLiveToken('', 'Token x', 'other'), { token: undefined, viaProtocol: false });
  assert.deepEqual(presentedLiveToken('access_token=q', 'Bearer h', 'bearer, p').token, 'p');
});

describe('one instance (blackhole sink: remote-write output)', () => {
  let g: LiveGateway;
  const maxRate = 5;
  before(async () => {
    g = await startLiveGateway({ hub: { maxRate, verify } });
  });
  after(async () => {
    await g.close();
  });

  test('the upgrade is refused with 401 JSON without a token, with a bad one or an expired one', async () => {
    const none = await refusal(g.liveUrl);
    assert.equal(none.status, 401);
    assert.equal(none.body.code, 'SENTIO_ERR_UNAUTHORIZED');
    assert.equal(typeof none.body.message, 'string');
    const forged = (await jwt('u1', Date.now() + HOUR)).replace(/.{4}$/, 'AAAA');
    const bad = await refusal(`${g.liveUrl}?access_token=${forged}`);
    assert.equal(bad.status, 401);
    assert.equal(bad.body.code, 'SENTIO_ERR_UNAUTHORIZED');
    const badHeader = await refusal(g.liveUrl, { headers: { authorization: 'Bearer not-a-jwt' } });
    assert.equal(badHeader.status, 401);
    const expired = await refusal(g.liveUrl, { protocols: ['bearer', await jwt('u1', Date.now() - 5000)] });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.code, 'SENTIO_ERR_TOKEN_EXPIRED');
    assert.ok((await metric(g, 'sentio_live_refused_total', '{code="SENTIO_ERR_UNAUTHORIZED"}')) >= 3);
  });

  test('a valid token is accepted in each form; the subprotocol form is answered with "bearer"', async () => {
    const t = await jwt('u1', Date.now() + HOUR, 'operator');
    for (const opts of [{ token: t }, { header: t }, { protocol: t }]) {
      const c = await LiveClient.open(g.liveUrl, opts);
      const welcome = await c.next((m) => m.type === 'welcome', 'welcome');
      assert.deepEqual(welcome.user, { userId: 'u1', username: 'user-u1', role: 'operator' });
      assert.equal(welcome.maxRate, maxRate);
      assert.equal(c.ws.protocol, opts.protocol !== undefined ? 'bearer' : '');
      c.close();
      await c.closed;
    }
  });

  test('a subscriber gets points written after it subscribed, for matching series only, labels once', async () => {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    const sub = await c.subscribe('mine', { selector: 'match_usage{host=~"a.*"}' });
    assert.equal(sub.type, 'subscribed');
    assert.equal(sub.topic, 'sel:match_usage{host=~"a.*"}');
    const now = Date.now();
    // Not matching: other host, other metric; written first, so a leak would arrive no later than the match.
    await write(g, `match,host=b1 usage=1 ${now}\nother,host=a1 usage=2 ${now}\nmatch,host=a1 other=3 ${now}\n`);
    await write(g, `match,host=a1 usage=4 ${now}\nmatch,host=a2 usage=5 ${now}\n`);
    await c.next((m) => m.type === 'data' && c.updates((l) => l.host === 'a2').length > 0 && c.updates((l) => l.host === 'a1').length > 0, 'both matching series');
    const seen = c.updates(() => true, sub.topic);
    assert.deepEqual(
      seen.map(([, p]) => p).sort(),
      [[now, 4], [now, 5]].sort(),
    );
    for (const l of c.labels.values()) assert.deepEqual(Object.keys(l).sort(), ['__name__', 'host'], JSON.stringify(l));
    assert.deepEqual([...c.labels.values()].map((l) => `${l.__name__}/${l.host}`).sort(), ['match_usage/a1', 'match_usage/a2']);

    // A later point of a known series comes with its ref only.
    const from = c.messages.length;
    await write(g, `match,host=a1 usage=6 ${now + 1}\n`);
    const m = await c.next((x) => x.type === 'data', 'second update', 10_000, from);
    assert.equal(m.series!.length, 1);
    assert.equal(m.series![0]!.labels, undefined);
    assert.deepEqual(m.series![0]!.p, [now + 1, 6]);
    // An older point never replaces a newer one.
    await write(g, `match,host=a1 usage=99 ${now - 1000}\nmatch,host=a2 usage=7 ${now + 1}\n`);
    await c.next((x) => x.type === 'data' && x.series!.some((s) => s.p[1] === 7), 'a2 update', 10_000, from);
    assert.ok(!c.updates(() => true).some(([, p]) => p[1] === 99), 'an older point was sent as latest');

    // A second client on an equal selector (other spelling) shares the topic and gets a snapshot with labels.
    const c2 = await LiveClient.open(g.liveUrl, { token: await jwt('u2', Date.now() + HOUR) });
    const sub2 = await c2.subscribe('x', { selector: '{host=~"a.*", __name__="match_usage"}' });
    assert.equal(sub2.topic, sub.topic);
    const snap = await c2.next((x) => x.type === 'data' && x.snapshot === true, 'snapshot');
    assert.deepEqual(snap.series!.map((s) => [s.labels!.host, s.p]).sort(), [['a1', [now + 1, 6]], ['a2', [now + 1, 7]]]);

    // Unsubscribed: nothing more.
    c.send({ type: 'unsubscribe', id: 'mine' });
    await c.next((x) => x.type === 'unsubscribed' && x.id === 'mine', 'unsubscribed');
    const after = c.messages.length;
    await write(g, `match,host=a1 usage=8 ${now + 2}\n`);
    await c2.next((x) => x.type === 'data' && !x.snapshot && x.series!.some((s) => s.p[1] === 8), 'update after c unsubscribed');
    // c2 got the tick's frame; c, subscribed to nothing now, must not have.
    await c.next((x) => x.type === 'status', 'a status frame after that tick', 5000, after);
    assert.ok(!c.messages.slice(after).some((x) => x.type === 'data'), 'data after unsubscribe');
    c.close();
    c2.close();
  });

  test('bad messages get error replies and the connection stays', async () => {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    assert.equal((await c.subscribe('q', { selector: 'cpu{' })).code, 'SENTIO_ERR_BAD_QUERY');
    assert.equal((await c.subscribe('', { selector: 'cpu' })).type, 'error');
    assert.equal((await c.subscribe('d', { selector: 'cpu' })).type, 'subscribed');
    assert.equal((await c.subscribe('d', { selector: 'mem' })).code, 'SENTIO_ERR_CONFLICT');
    c.ws.send('not json');
    await c.next((m) => m.type === 'error' && m.code === 'SENTIO_ERR_BAD_REQUEST' && m.id === undefined, 'error for bad JSON');
    c.send({ type: 'unsubscribe', id: 'nope' });
    await c.next((m) => m.type === 'error' && m.code === 'SENTIO_ERR_NOT_FOUND', 'error for an unknown id');
    c.send({ type: 'status-please' });
    await c.next((m) => m.type === 'error' && String(m.message).includes('unknown message type'), 'error for an unknown type');
    assert.equal((await c.subscribe('e', { selector: 'mem' })).type, 'subscribed');
    c.close();
  });

  test('no series is sent more than maxRate times a second, and the last value arrives', async () => {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    await c.subscribe('r', { selector: '{__name__=~"rate_v[12]"}' });
    const t0 = Date.now();
    let n = 0;
    // ~2.5 s of writes as fast as four concurrent writers go: far more points than ticks.
    const writer = async (): Promise<void> => {
      while (Date.now() - t0 < 2500) {
        const i = n++;
        await write(g, `rate,dev=a v1=${i},v2=${-i} ${t0 + i}\nrate,dev=b v1=${i} ${t0 + i}\n`);
      }
    };
    await Promise.all([writer(), writer(), writer(), writer()]);
    const last = n - 1;
    // The newest point (greatest timestamp) of each series arrives.
    await c.next(() => c.updates((l) => l.__name__ === 'rate_v2').some(([, p]) => p[1] === -last), 'the last value of rate_v2');
    await c.next(() => c.updates((l) => l.__name__ === 'rate_v1' && l.dev === 'b').some(([, p]) => p[1] === last), 'the last value of rate_v1{dev="b"}');
    assert.ok(n > 100, `only ${n} batches written`);
    for (const key of ['rate_v1/a', 'rate_v2/a', 'rate_v1/b']) {
      const times = c.updates((l) => `${l.__name__}/${l.dev}` === key).map(([t]) => t);
      assert.ok(times.length >= 2 * maxRate, `${key}: only ${times.length} updates in ~2.5 s`);
      for (let i = 0; i < times.length; i++) {
        let inWindow = 0;
        for (let j = i; j < times.length && times[j]! < times[i]! + 1000; j++) inWindow++;
        assert.ok(inWindow <= maxRate, `${key}: ${inWindow} updates within 1 s from t=${times[i]}`);
      }
    }
    c.close();
  });

  test('a device subscription gets the series of batches written with that device\'s token', async () => {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    const sub = await c.subscribe('dev', { device: 'dev-1' });
    assert.equal(sub.topic, 'dev:dev-1');
    const now = Date.now();
    await g.ingestor.writeBytes('influx_v1', 'lp', Buffer.from(`env,room=x temp=20 ${now}\n`), { principal: { key: 'p2', deviceId: 'dev-2' }, precision: 'ms' });
    await g.ingestor.writeBytes('influx_v1', 'lp', Buffer.from(`env,room=y temp=21,hum=40 ${now}\n`), { principal: { key: 'p1', deviceId: 'dev-1' }, precision: 'ms' });
    await c.next(() => c.updates(() => true).length >= 2, 'both series of dev-1');
    assert.deepEqual(
      c.updates(() => true).map(([, p]) => p[1]).sort(),
      [21, 40],
    );
    assert.deepEqual([...c.labels.values()].map((l) => l.room), ['y', 'y']);
    c.close();
  });

  test('status arrives every second as status() returned it', async () => {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    const a = await c.next((m) => m.type === 'status', 'status');
    const b = await c.next((m) => m.type === 'status' && m !== a, 'second status');
    assert.deepEqual(a.status, { queueDepth: 0, sink: 'blackhole', healthy: true });
    assert.ok(b.t! - a.t! >= 1000 && b.t! - a.t! < 2000, `${b.t! - a.t!} ms between status frames`);
    c.close();
  });

  test('an expired token closes the socket (4001) unless a fresher one arrived in time', async () => {
    const exp = Date.now() + 2000;
    const stale = await LiveClient.open(g.liveUrl, { token: await jwt('u3', exp) });
    const renewed = await LiveClient.open(g.liveUrl, { token: await jwt('u3', exp) });
    const refused = await LiveClient.open(g.liveUrl, { token: await jwt('u3', exp) });
    const other = await LiveClient.open(g.liveUrl, { token: await jwt('u3', exp) });
    renewed.send({ type: 'auth', token: await jwt('u3', Date.now() + HOUR) });
    const ok = await renewed.next((m) => m.type === 'auth', 'auth reply');
    assert.ok((ok.expiresAtMs as number) > exp);
    refused.send({ type: 'auth', token: 'garbage' });
    assert.equal((await refused.next((m) => m.type === 'error', 'auth refusal')).code, 'SENTIO_ERR_UNAUTHORIZED');
    other.send({ type: 'auth', token: await jwt('someone-else', Date.now() + HOUR) });
    assert.equal((await other.next((m) => m.type === 'error', 'auth refusal')).code, 'SENTIO_ERR_FORBIDDEN');

    for (const c of [stale, refused, other]) {
      const closed = await c.closed;
      assert.equal(closed.code, CLOSE_TOKEN_EXPIRED);
      assert.equal(closed.reason, 'token expired');
    }
    const closedAt = Date.now();
    assert.ok(closedAt >= Math.floor(exp / 1000) * 1000, 'closed before the token expired');
    // The renewed one is still served after the others' expiry: a status frame from later on.
    await renewed.next((m) => m.type === 'status' && m.t! > closedAt + 200, 'a status frame after the expiry');
    assert.equal(renewed.ws.readyState, WebSocket.OPEN);
    renewed.close();
  });
});

test('columns output (embedded store) and the worker pool feed the tap the same way', async () => {
  for (const variant of [{ sink: 'embedded' as const }, { sink: 'blackhole' as const, workers: 1, pooled: true }]) {
    const g = await startLiveGateway({ hub: { maxRate: 10, verify }, ...variant });
    try {
      const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
      await c.subscribe('s', { selector: 'col_v' });
      const now = Date.now();
      await write(g, `col v=1 ${now}\ncol v=2 ${now + 5}\ncol v=3 ${now + 2}\n`);
      await c.next(() => c.updates(() => true).length > 0, `an update (${JSON.stringify(variant)})`);
      assert.deepEqual(c.updates(() => true).map(([, p]) => p), [[now + 5, 2]]);
      c.close();
    } finally {
      await g.close();
    }
  }
});

test('label sets come once; a tap result that never reached the hub heals with a new epoch', async () => {
  // workers 0: the gateway parses on this thread, whose core keeps the
  // label sets it returned under the hub's epoch.
  const g = await startLiveGateway({ hub: { maxRate: 50, verify } });
  try {
    const c = await LiveClient.open(g.liveUrl, { token: await jwt('u1', Date.now() + HOUR) });
    await c.subscribe('s', { selector: 'heal_v' });
    const tap = g.hub.parseOptions();
    assert.equal(typeof tap?.latest, 'number', 'an epoch');
    const now = Date.now();
    const parse = (line: string, parseOptions = tap): IngestResult => native.ingest(Buffer.from(line), { format: 'lp', precision: 'ms', nowMs: now, outputs: [{ encoding: 'remote_write' }], ...parseOptions });
    /** [series, definition bytes of the first series] of a packed tap. */
    const shape = (l: Uint8Array): [number, number] => {
      const b = Buffer.from(l.buffer, l.byteOffset, l.byteLength);
      return [b.readUInt32LE(0), b.readUInt32LE(8 + 24 + 4) - b.readUInt32LE(8 + 24)];
    };
    // A batch whose result is lost (as when its sink fails): the core now
    // counts heal_v's label set as returned under this epoch ...
    assert.deepEqual(shape(parse(`heal v=1 ${now}\n`).latest!), [1, '{"__name__":"heal_v"}'.length]);
    // ... and leaves it out of the next one, which the hub cannot use.
    const second = parse(`heal v=2 ${now + 1}\n`);
    assert.deepEqual(shape(second.latest!), [1, 0]);
    g.hub.accepted(second, { principal: { key: 'test' } });
    assert.notEqual(g.hub.parseOptions()?.latest, tap?.latest, 'a new epoch');
    // Every label set comes again: the client gets the series (labels before the ref, checked by updates()).
    await write(g, `heal v=3 ${now + 2}\n`);
    await c.next(() => c.updates(() => true).length > 0, 'an update');
    assert.deepEqual(c.updates(() => true).map(([, p]) => p), [[now + 2, 3]]);
    // Known from now on: left out again under the new epoch.
    assert.deepEqual(shape(parse(`heal v=4 ${now + 3}\n`, g.hub.parseOptions()).latest!), [1, 0]);
    c.close();
  } finally {
    await g.close();
  }
});

test('a stalled client is skipped then dropped (4008) and counted; others keep getting updates', async () => {
  // Fast ticks and many series, so the kernel's socket buffers (a few MB on
  // loopback) fill within a second or two once the client stops reading.
  const g = await startLiveGateway({ hub: { maxRate: 100, verify, skipBufferedBytes: 32 * 1024, slowClientMs: 500 } });
  try {
    const token = await jwt('u1', Date.now() + HOUR);
    const stalled = await LiveClient.open(g.liveUrl, { token });
    const healthy = await LiveClient.open(g.liveUrl, { token });
    await stalled.subscribe('all', { selector: 'slow_v' });
    await healthy.subscribe('all', { selector: 'slow_v' });
    stalled.ws.pause(); // stops reading from the socket
    const batch = (i: number): string => {
      let s = '';
      for (let d = 0; d < 2000; d++) s += `slow,dev=d${d} v=${i}\n`;
      return s;
    };
    let i = 0;
    const stop = { done: false };
    const writing = (async () => {
      while (!stop.done) await write(g, batch(i++));
    })();
    try {
      await metricUntil(g, 'sentio_live_updates_skipped_total', '{reason="backpressure"}', (v) => v > 0, 'skips');
      await metricUntil(g, 'sentio_live_clients_dropped_total', '{reason="backpressure"}', (v) => v >= 1, 'drop');
      await metricUntil(g, 'sentio_live_subscribers', '', (v) => v === 1, 'the stalled client gone');
      // The healthy client still gets fresh values.
      const mark = i;
      await healthy.next((m) => m.type === 'data' && m.series!.some((x) => (x.p[1] as number) > mark), 'an update after the drop', 15_000);
    } finally {
      stop.done = true;
      await writing;
    }
    stalled.ws.resume();
    assert.equal((await stalled.closed).code, CLOSE_TOO_SLOW);
    assert.ok((await metric(g, 'sentio_live_frames_sent_total')) > 0);
    healthy.close();
  } finally {
    await g.close();
  }
});

describe('two instances sharing a real Redis', () => {
  let redis: RedisService;
  let caches: Cache[];
  let a: LiveGateway;
  let b: LiveGateway;
  before(async () => {
    redis = await startRedis();
    caches = [await openCache({ redis: redis.url, prefix: 'livetest:' }), await openCache({ redis: redis.url, prefix: 'livetest:' })];
    a = await startLiveGateway({ hub: { maxRate: 10, verify, cache: caches[0]!, instanceId: 'a' } });
    b = await startLiveGateway({ hub: { maxRate: 10, verify, cache: caches[1]!, instanceId: 'b' } });
    await Promise.all([a.hub.ready, b.hub.ready]);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    for (const c of caches ?? []) await c.close();
    await redis?.destroy();
  });

  test('updates cross instances once each, never echoed back to their own instance', async () => {
    const token = await jwt('u1', Date.now() + HOUR);
    const onA = await LiveClient.open(a.liveUrl, { token });
    const onB = await LiveClient.open(b.liveUrl, { token });
    await onA.subscribe('x', { selector: 'xi_v' });
    await onB.subscribe('x', { selector: 'xi_v' });
    await onB.subscribe('d', { device: 'dev-9' });
    // Each instance learns what the other serves.
    await metricUntil(a, 'sentio_live_topics', '{scope="remote"}', (v) => v === 2, 'a knows b\'s topics');
    await metricUntil(b, 'sentio_live_topics', '{scope="remote"}', (v) => v === 1, 'b knows a\'s topic');

    const now = Date.now();
    await write(b, `xi,src=b v=1 ${now}\n`);
    await onA.next(() => onA.updates(() => true).length === 1, 'b\'s point on a');
    await onB.next(() => onB.updates(() => true).length === 1, 'b\'s point on b');
    await write(a, `xi,src=a v=2 ${now}\n`);
    await onB.next(() => onB.updates((l) => l.src === 'a').length === 1, 'a\'s point on b');
    await onA.next(() => onA.updates((l) => l.src === 'a').length === 1, 'a\'s point on a');
    await b.ingestor.writeBytes('influx_v1', 'lp', Buffer.from(`dv,k=1 v=3 ${now}\n`), { principal: { key: 'p', deviceId: 'other' }, precision: 'ms' });
    await a.ingestor.writeBytes('influx_v1', 'lp', Buffer.from(`dv,k=2 v=4 ${now}\n`), { principal: { key: 'p', deviceId: 'dev-9' }, precision: 'ms' });
    await onB.next(() => onB.updates((l) => l.__name__ === 'dv_v').length === 1, 'dev-9\'s point from a on b');
    // Once each: b's own point came back through Redis to b and was ignored, as was a's to a.
    assert.deepEqual(onB.updates((l) => l.__name__ === 'xi_v').map(([, p]) => p).sort(), [[now, 1], [now, 2]]);
    assert.deepEqual(onA.updates(() => true).map(([, p]) => p).sort(), [[now, 1], [now, 2]]);
    assert.deepEqual(onB.updates((l) => l.__name__ === 'dv_v').map(([, p]) => p), [[now, 4]]);
    assert.equal(await metric(b, 'sentio_live_remote_updates_total'), 2);
    assert.equal(await metric(a, 'sentio_live_remote_updates_total'), 1);

    // b's client leaves: a stops wanting nothing from b... and b stops being wanted by a? a still has its own.
    onB.close();
    await metricUntil(a, 'sentio_live_topics', '{scope="remote"}', (v) => v === 0, 'a forgets b\'s topics');
    onA.close();
    await metricUntil(b, 'sentio_live_topics', '{scope="remote"}', (v) => v === 0, 'b forgets a\'s topic');
  });
});
