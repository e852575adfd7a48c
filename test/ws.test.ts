// WebSocket ingestion: one reply per frame, sequence numbers, line protocol
// and msgpack frames, auth on upgrade, flow control (--ws-max-inflight,
// --ws-max-backpressure-bytes) and resume (?client=, --ws-resume-window).
// End to end against a gateway on the embedded store; the races of resume
// (a resend while the first copy is in flight) against a stub ingestor whose
// results the test releases.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pack } from 'msgpackr';
import uWS from 'uWebSockets.js';
import WebSocket from 'ws';
import { TOKEN, type TestGateway, metricValue, scrape, startTestGateway } from './helpers.js';
import { SentioError } from '../src/errors.js';
import type { IngestPort } from '../src/pipeline/port.js';
import { msgpackFrameSeq, textFrameSeq } from '../src/sources/ws/codec.js';
import { SLOW_DOWN, WebSocketSource, type WsSourceDeps } from '../src/sources/ws/index.js';
import { Metrics } from '../src/metrics/index.js';
import type { IngestResult } from '../src/native/types.js';
import { MemoryBudget, unbounded } from '../src/http/budget.js';
import { listen } from '../src/server/index.js';
import { waitFor } from './services/index.js';

let gw: TestGateway;
/** One frame in flight per connection; resume remembers 2 seqs for 2 client ids. */
let tight: TestGateway;
before(async () => {
  [gw, tight] = await Promise.all([
    startTestGateway(['--max-frame-bytes', '1048576', '--ws-max-inflight', '1024', '--ws-max-backpressure-bytes', '65536', '--max-errors', '1000']),
    startTestGateway(['--ws-max-inflight', '1', '--ws-resume-window', '2', '--ws-resume-clients', '2']),
  ]);
});
/** Closes what a failed or timed-out test left open, so the file still ends. */
const leftOpen = new Set<() => void>();
after(async () => {
  for (const close of leftOpen) close();
  await Promise.all([gw.close(), tight.close()]);
});

const store = (g = gw) => g.gateway.embedded!;

interface Reply {
  type: 'ack' | 'error';
  seq: number;
  lines?: number;
  accepted?: number;
  rejected?: number;
  skipped?: number;
  errors?: Array<{ line: number; reason: string }>;
  code?: string;
  message?: string;
  retryAfterMs?: number;
  duplicate?: boolean;
  slowDown?: boolean;
}

/** A connected client that collects replies and can wait for n of them. */
async function connect(query = `?token=${TOKEN}`, headers: Record<string, string> = {}, base = gw.wsUrl) {
  const ws = new WebSocket(`${base}${query}`, { headers });
  const terminate = () => ws.terminate();
  leftOpen.add(terminate);
  ws.once('close', () => leftOpen.delete(terminate));
  const replies: Reply[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'replies are text frames');
    replies.push(JSON.parse(data.toString()) as Reply);
    if (waiter && replies.length >= waiter.n) waiter.resolve();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    replies,
    waitFor(n: number): Promise<Reply[]> {
      if (replies.length >= n) return Promise.resolve(replies);
      return new Promise((resolve, reject) => {
        waiter = { n, resolve: () => resolve(replies) };
        ws.once('close', (code) => reject(new Error(`closed with ${code} after ${replies.length} replies`)));
      });
    },
    /** Closes the connection and resolves once it is closed. */
    close(): Promise<void> {
      if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise((resolve) => {
        ws.once('close', () => resolve());
        ws.close();
      });
    },
  };
}

/** For the tests below: a reply that never comes fails the test instead of hanging it. */
const bounded = { timeout: 60_000 };

const bySeq = (replies: Reply[]) => new Map(replies.map((r) => [r.seq, r]));

/** Every sample of a metric in the store, series by series. */
async function samplesOf(metric: string, g = gw): Promise<number> {
  const series = await store(g).exportSeries({ metric });
  return series.reduce((n, s) => n + s.samples.length, 0);
}

test('a text frame that is not UTF-8: uWS fails the connection (1006, no reply); it is counted, frames before it are stored, and resending them with resume stores nothing twice', bounded, async () => {
  const c = await connect(`?token=${TOKEN}&client=bad-utf8`);
  const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
  for (let seq = 1; seq <= 5; seq++) c.ws.send(`# seq=${seq}\nutf8bad,n=${seq} v=${seq} 1700000000000000000`);
  c.ws.send(Buffer.from([0x61, 0x20, 0x76, 0x3d, 0xff, 0xfe]), { binary: false });
  assert.equal(await closed, 1006, 'uWebSockets.js closes the TCP connection without a close frame');
  await waitFor('counted', async () => metricValue(await scrape(gw.url), 'sentio_ws_closed_total', { reason: 'invalid_utf8' }) === 1);
  // The client resends what was not acknowledged; each is acknowledged once more, as a duplicate, and stored once.
  const again = await connect(`?token=${TOKEN}&client=bad-utf8`);
  for (let seq = 1; seq <= 5; seq++) again.ws.send(`# seq=${seq}\nutf8bad,n=${seq} v=${seq} 1700000000000000000`);
  const replies = await again.waitFor(5);
  for (const r of replies) {
    assert.equal(r.type, 'ack', JSON.stringify(r));
    assert.equal(r.duplicate, true, `seq ${r.seq} was stored before the connection failed`);
  }
  assert.equal(await samplesOf('utf8bad_v'), 5);
  await again.close();
});

test('text frames: one ack per frame with seq, counts and rejected lines', async () => {
  const c = await connect();
  c.ws.send('# seq=41\nwsa,dev=1 x=1,y=2i,s="str" 1700000000000000000\nwsa,dev=2 x=3 1700000000000000000');
  c.ws.send('wsa,dev=3 x=4 1700000000000000000\nthis is not a point\nwsa,dev=4 x= 1');
  c.ws.send('# seq=100\nwsb v=1 1700000000000000000');
  const replies = await c.waitFor(3);
  /** For the tests below: a reply that never comes fails the test instead of hanging it. */
const bounded = { timeout: 60_000 };

const bySeq = new Map(replies.map((r) => [r.seq, r]));
  assert.deepEqual([...bySeq.keys()].sort((a, b) => a - b), [41, 42, 100], 'explicit seq, then implicit previous+1');
  assert.deepEqual(bySeq.get(41), { type: 'ack', seq: 41, lines: 2, accepted: 3, rejected: 0, skipped: 1, errors: [] });
  const partial = bySeq.get(42)!;
  assert.equal(partial.accepted, 1);
  assert.equal(partial.rejected, 2);
  assert.deepEqual(partial.errors!.map((e) => e.line), [2, 3]);
  assert.equal(bySeq.get(100)?.accepted, 1);
  await c.close();
  const x = await store().exportSeries({ metric: 'wsa_x' });
  assert.equal(x.length, 3);
});

test('binary frames carry msgpack batches into the same samples', async () => {
  const c = await connect('', { authorization: `Bearer ${TOKEN}` });
  const now = Date.now();
  c.ws.send(
    pack({
      seq: 7,
      precision: 'ms',
      points: [
        ['mp', { dev: 'a' }, { temp: 20.5, on: true, n: 3, label: 'x' }, now],
        ['mp', { dev: 'b' }, { temp: 21.5 }, null],
        ['mp', null, {}, now],
      ],
    }),
  );
  const [ack] = await c.waitFor(1);
  assert.equal(ack!.type, 'ack');
  assert.equal(ack!.seq, 7);
  assert.equal(ack!.lines, 3);
  assert.equal(ack!.accepted, 4);
  assert.equal(ack!.skipped, 1);
  assert.equal(ack!.rejected, 1);
  assert.equal(ack!.errors![0]!.line, 3);
  const temp = await store().exportSeries({ metric: 'mp_temp' });
  assert.deepEqual(temp.map((s) => s.labels.dev), ['a', 'b']);
  assert.equal(temp[0]!.samples[0]!.timestamp, now);
  const b = temp[1]!.samples[0]!.timestamp;
  assert.ok(Math.abs(b - Date.now()) < 60_000, 'a point without timestamp gets the arrival time');
  c.ws.send(Buffer.from([0xc1, 0x00, 0x01]));
  const replies = await c.waitFor(2);
  assert.equal(replies[1]!.seq, 8, 'a frame without seq gets previous+1');
  assert.equal(replies[1]!.type, 'error', 'a malformed batch is refused');
  assert.equal(replies[1]!.code, 'SENTIO_ERR_BAD_BATCH');
  await c.close();
});

test('upgrade without a valid token is refused with 401', async () => {
  const ws = new WebSocket(`${gw.wsUrl}?token=wrong-token-xyz`);
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
  });
  assert.equal(status, 401);
});

test('a frame over --max-frame-bytes is refused with SENTIO_ERR_FRAME_TOO_LARGE and counted; over twice that, the connection is closed', async () => {
  const before = metricValue(await scrape(gw.url), 'sentio_limit_hits_total', { limit: 'frame_bytes' });
  const c = await connect();
  c.ws.send(`# seq=7\n${'a'.repeat((1 << 20) + 1)}`); // one byte over the 1 MiB limit
  c.ws.send(`# seq=8\nfits v=1 ${1700000000000000000}`);
  const [refused, ok] = await c.waitFor(2);
  assert.deepEqual([refused!.type, refused!.seq, (refused as { code?: string }).code], ['error', 7, 'SENTIO_ERR_FRAME_TOO_LARGE']);
  assert.deepEqual([ok!.type, ok!.seq], ['ack', 8], 'the connection stays open');
  assert.equal(metricValue(await scrape(gw.url), 'sentio_limit_hits_total', { limit: 'frame_bytes' }), before + 1);
  const code = await new Promise<number>((resolve) => {
    c.ws.on('close', (code) => resolve(code));
    c.ws.send(Buffer.alloc((2 << 20) + 1, 0x61).toString());
  });
  assert.ok(code === 1009 || code === 1006, `closed with ${code}`);
});

test('many frames in flight: exactly one reply for each', async () => {
  const c = await connect();
  const frames = 200;
  for (let i = 0; i < frames; i++) {
    const lines = Array.from({ length: 50 }, (_, j) => `flood,conn=1,j=${j} v=${i} ${1700000000000000000 + i * 1000}`).join('\n');
    c.ws.send(`# seq=${i + 1}\n${lines}`);
  }
  const replies = await c.waitFor(frames);
  assert.equal(replies.length, frames);
  assert.deepEqual(new Set(replies.map((r) => r.seq)).size, frames);
  assert.ok(replies.every((r) => r.type === 'ack' && r.accepted === 50), 'all in flight at once, under --ws-max-inflight 1024');
  await c.close();
  assert.equal(await samplesOf('flood_v'), frames * 50);
});

/** Polls `check` until it holds (a condition, not a fixed sleep). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

// Without the close, neither outcome comes: the timeout fails the test.
test('a client that does not read its replies is disconnected past --ws-max-backpressure-bytes', bounded, async () => {
  const c = await connect();
  c.ws.on('error', () => {}); // the reset, if the close comes as one
  const received = async () => metricValue(await scrape(gw.url), 'sentio_received_points_total', { protocol: 'ws', format: 'lp' });
  const start = await received();
  c.ws.pause(); // stop reading: replies pile up in the kernel, then in uWS
  // Each frame's reply lists 1000 rejected lines (about 40 KB): 300 of them
  // fill the loopback socket buffers and then the 64 KiB limit.
  const frames = 300;
  const bad = Array.from({ length: 1000 }, () => 'x').join('\n');
  for (let i = 0; i < frames; i++) c.ws.send(`# seq=${i + 1}\n${bad}`);
  // Once every frame is parsed, its reply has been sent, buffered or dropped.
  await until(async () => (await received()) >= start + frames * 1000);
  const outcome = new Promise<string>((resolve) => {
    c.ws.once('close', () => resolve('closed'));
    c.waitFor(frames).then(() => resolve('every reply arrived'), () => {});
  });
  c.ws.resume();
  assert.equal(await outcome, 'closed');
  assert.ok(c.replies.length < frames, `${c.replies.length} replies before the close`);
});

test('beyond --ws-max-inflight a frame is refused with SENTIO_ERR_SLOW_DOWN; every frame gets one reply', bounded, async () => {
  const c = await connect(undefined, {}, tight.wsUrl);
  const frames = 20;
  const frame = (i: number) => `# seq=${i}\n${Array.from({ length: 10 }, (_, j) => `flow,f=${i},j=${j} v=${i} 1700000000000000000`).join('\n')}`;
  for (let i = 1; i <= frames; i++) c.ws.send(frame(i));
  const replies = [...(await c.waitFor(frames))];
  assert.deepEqual([...bySeq(replies).keys()].sort((a, b) => a - b), Array.from({ length: frames }, (_, i) => i + 1), 'one reply per frame');
  const refused = replies.filter((r) => r.type === 'error');
  assert.ok(refused.length > 0, 'sent at once, most frames find one already in flight');
  for (const r of refused) {
    assert.equal(r.code, SLOW_DOWN);
    assert.ok(typeof r.retryAfterMs === 'number' && r.retryAfterMs > 0);
  }
  const acked = replies.filter((r) => r.type === 'ack');
  assert.equal(acked.length + refused.length, frames);
  assert.equal(await samplesOf('flow_v', tight), acked.reduce((n, r) => n + r.accepted!, 0), 'refused frames stored nothing');
  const exposition = await scrape(tight.url);
  assert.equal(metricValue(exposition, 'sentio_rejected_requests_total', { protocol: 'ws', code: SLOW_DOWN }), refused.length);

  // A client that waits for each ack before the next resend is never refused.
  for (const r of refused) {
    c.ws.send(frame(r.seq));
    const all = await c.waitFor(c.replies.length + 1);
    assert.equal(all.at(-1)!.type, 'ack');
  }
  assert.equal(await samplesOf('flow_v', tight), frames * 10);
  await c.close();
});

test('a refused msgpack frame is answered with its own seq', bounded, async () => {
  const c = await connect(undefined, {}, tight.wsUrl);
  const seqs = [500, 600, 700, 800];
  // `seq` after `points`, so it is found by skipping the points.
  for (const seq of seqs) c.ws.send(pack({ points: [['flowmp', { s: String(seq) }, { v: 1 }, null]], seq }));
  const replies = await c.waitFor(seqs.length);
  assert.deepEqual(replies.map((r) => r.seq).sort((a, b) => a - b), seqs);
  assert.ok(replies.some((r) => r.code === SLOW_DOWN));
  await c.close();
});

// ---- resume -------------------------------------------------------------

/** A text frame with an explicit seq and two samples of `metric`_v, unique to that seq. */
const seqFrame = (seq: number, metric: string) => `# seq=${seq}\n${metric},f=${seq},k=1 v=${seq} 1700000000000000000\n${metric},f=${seq},k=2 v=${seq} 1700000000000000000`;

test('resume: frames resent after a reconnect are acked again as duplicates and stored once', bounded, async () => {
  const q = `?token=${TOKEN}&client=abc`;
  const a = await connect(q);
  for (let s = 1; s <= 5; s++) a.ws.send(seqFrame(s, 'resume_a'));
  const first = bySeq(await a.waitFor(5));
  for (const r of first.values()) {
    assert.equal(r.type, 'ack');
    assert.equal(r.duplicate, undefined, 'a first copy is not a duplicate');
  }
  await a.close();

  const b = await connect(q);
  for (const s of [3, 4, 5, 6, 7]) b.ws.send(seqFrame(s, 'resume_a'));
  const second = bySeq(await b.waitFor(5));
  for (const s of [3, 4, 5]) assert.deepEqual(second.get(s), { ...first.get(s), duplicate: true }, `seq ${s}: the remembered ack again`);
  for (const s of [6, 7]) assert.deepEqual(second.get(s), { type: 'ack', seq: s, lines: 2, accepted: 2, rejected: 0, skipped: 0, errors: [] });
  await b.close();

  const series = await store().exportSeries({ metric: 'resume_a_v' });
  assert.equal(series.length, 7 * 2);
  assert.ok(series.every((s) => s.samples.length === 1), 'each sample exactly once');
});

test('resume is per client id, and only for explicit seqs', bounded, async () => {
  const one = await connect(`?token=${TOKEN}&client=scope-1`);
  one.ws.send(seqFrame(1, 'resume_scope'));
  one.ws.send('resume_scope,f=implicit v=1 1700000000000000000'); // implicit seq 2
  await one.waitFor(2);
  one.ws.send(seqFrame(1, 'resume_scope'));
  one.ws.send('resume_scope,f=implicit v=1 1700000000000000000');
  const replies = await one.waitFor(4);
  assert.equal(replies.filter((r) => r.duplicate).length, 1, 'the explicit seq only');
  await one.close();
  for (const query of [`?token=${TOKEN}&client=scope-2`, `?token=${TOKEN}`]) {
    const other = await connect(query);
    other.ws.send(seqFrame(1, 'resume_scope'));
    const [r] = await other.waitFor(1);
    assert.equal(r!.duplicate, undefined, `${query}: another client's seq 1 is a new frame`);
    await other.close();
  }
  const series = await store().exportSeries({ metric: 'resume_scope_v' });
  assert.deepEqual(series.map((s) => s.samples.length).sort(), [2, 3, 3], 'seq 1 stored once per client and once without one; the implicit frame twice');
});

test('resume: a binary frame resent is acked as a duplicate, wherever its seq key is', bounded, async () => {
  const q = `?token=${TOKEN}&client=mp-1`;
  const now = Date.now();
  const frames = [
    pack({ seq: 10, points: [['resume_mp', { k: 'a' }, { v: 1 }, now]] }),
    pack({ points: [['resume_mp', { k: 'b', pad: 'x'.repeat(300) }, { v: 2, s: 'str' }, now]], db: 'd', seq: 11 }),
  ];
  const a = await connect(q);
  for (const f of frames) a.ws.send(f);
  const first = bySeq(await a.waitFor(2));
  await a.close();
  const b = await connect(q);
  for (const f of frames) b.ws.send(f);
  const second = bySeq(await b.waitFor(2));
  for (const s of [10, 11]) assert.deepEqual(second.get(s), { ...first.get(s), duplicate: true });
  assert.equal(await samplesOf('resume_mp_v'), 2);
  await b.close();
});

test('resume: frames resent on another connection while their first copies are in flight are stored once', bounded, async () => {
  const q = `?token=${TOKEN}&client=twin`;
  const [a, b] = await Promise.all([connect(q), connect(q)]);
  // Each frame on both connections back to back: the second copy mostly
  // arrives while the first is being parsed or committed.
  const frames = 20;
  const lines = 500;
  for (let k = 1; k <= frames; k++) {
    const frame = `# seq=${k}\n${Array.from({ length: lines }, (_, i) => `resume_twin,k=${k},i=${i} v=${i} 1700000000000000000`).join('\n')}`;
    a.ws.send(frame);
    b.ws.send(frame);
  }
  const [ra, rb] = await Promise.all([a.waitFor(frames), b.waitFor(frames)]).then((r) => r.map(bySeq));
  for (let k = 1; k <= frames; k++) {
    const pair = [ra!.get(k)!, rb!.get(k)!];
    assert.ok(pair.every((r) => r.type === 'ack' && r.accepted === lines), `seq ${k}: both copies acked with the counts`);
    assert.equal(pair.filter((r) => r.duplicate === true).length, 1, `seq ${k}: one copy stored, the other a duplicate`);
  }
  assert.equal(await samplesOf('resume_twin_v'), frames * lines);
  await Promise.all([a.close(), b.close()]);
});

/** The HTTP status and JSON body with which an upgrade was refused (101 if it was not). */
async function upgradeRefusal(url: string): Promise<{ status: number; body?: { code: string } }> {
  const ws = new WebSocket(url);
  return new Promise((resolve) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code: string } }));
    });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
  });
}

test('a client id other than 1..128 of [A-Za-z0-9._:-] is refused at upgrade with 400', bounded, async () => {
  const base = `${gw.wsUrl}?token=${TOKEN}`;
  for (const id of ['a%20b', 'a/b', '%C3%A9', '', 'x'.repeat(129), 'ok&client=twice']) {
    const r = await upgradeRefusal(`${base}&client=${id}`);
    assert.equal(r.status, 400, `client=${id}`);
    assert.equal(r.body?.code, 'SENTIO_ERR_BAD_REQUEST');
  }
  assert.equal((await upgradeRefusal(`${base}&client=${'x'.repeat(128)}`)).status, 101);
  assert.equal((await upgradeRefusal(`${base}&client=Az09._:-`)).status, 101);
});

test('resume bounds: a seq older than --ws-resume-window, or of a forgotten client id, is stored again', bounded, async () => {
  const send = async (client: string, seq: number): Promise<Reply> => {
    const c = await connect(`?token=${TOKEN}&client=${client}`, {}, tight.wsUrl);
    c.ws.send(seqFrame(seq, 'bound'));
    const [r] = await c.waitFor(1);
    await c.close();
    assert.equal(r!.type, 'ack');
    return r!;
  };
  // Window of 2: after 1, 2, 3, seq 1 is forgotten and 3 is not.
  for (const seq of [1, 2, 3]) await send('w', seq);
  assert.equal((await send('w', 3)).duplicate, true);
  assert.equal((await send('w', 1)).duplicate, undefined, 'older than the window: stored again');
  // 2 client ids, the least recently used forgotten first (not the oldest).
  await send('x', 1);
  assert.equal((await send('w', 3)).duplicate, true, 'w is now used after x');
  await send('y', 1); // forgets x
  assert.equal((await send('w', 1)).duplicate, true, 'w was used more recently than x');
  assert.equal((await send('x', 1)).duplicate, undefined, 'x was forgotten');
  const series = await store(tight).exportSeries({ metric: 'bound_v' });
  const perSeq = new Map<string, number>();
  for (const s of series) perSeq.set(s.labels.f!, (perSeq.get(s.labels.f!) ?? 0) + s.samples.length);
  // Two samples a frame. Seq 1: w twice, x twice, y once; seq 2 and 3: once.
  assert.deepEqual(Object.fromEntries(perSeq), { '1': 2 * 5, '2': 2, '3': 2 });
});

test('msgpackFrameSeq reads the first top-level seq of any integer width, and nothing else', () => {
  const points = [['m', { t: 'x'.repeat(40) }, { v: 1.5, big: 2 ** 40, s: 's'.repeat(300), b: true, n: -5 }, Date.now()], ['m', null, { v: 1 }, null]];
  const cases: Array<[string, Buffer, number | undefined]> = [
    ['first key', pack({ seq: 7, points }), 7],
    ['after points', pack({ points, db: 'x', bin: new Uint8Array(70_000), seq: 300 }), 300],
    ['uint16', pack({ points, seq: 65_535 }), 65_535],
    ['uint32', pack({ seq: 2 ** 32 - 1, points }), 2 ** 32 - 1],
    ['uint64', pack({ seq: 2n ** 53n - 1n, points }), 2 ** 53 - 1],
    ['int8', Buffer.from([0x81, 0xa3, 0x73, 0x65, 0x71, 0xd0, 0x05]), 5],
    ['beyond 2^53', pack({ seq: 2n ** 60n, points }), undefined],
    ['negative', pack({ seq: -1, points }), undefined],
    ['float', pack({ seq: 1.5, points }), undefined],
    ['absent', pack({ points, sequence: 3 }), undefined],
    ['not a map', pack([{ seq: 1 }]), undefined],
    ['truncated', pack({ points, seq: 5 }).subarray(0, 40), undefined],
    ['empty', Buffer.alloc(0), undefined],
    ['reserved marker', Buffer.from([0x82, 0xa1, 0x61, 0xc1, 0xa3, 0x73, 0x65, 0x71, 0x01]), undefined],
    ['non-string key', Buffer.from([0x82, 0x01, 0x02, 0xa3, 0x73, 0x65, 0x71, 0x01]), undefined],
    ['repeated key: the first', Buffer.from([0x82, 0xa3, 0x73, 0x65, 0x71, 0x01, 0xa3, 0x73, 0x65, 0x71, 0x02]), 1],
  ];
  for (const [name, frame, want] of cases) assert.equal(msgpackFrameSeq(frame), want, name);
  assert.equal(textFrameSeq(Buffer.from('# seq=12\nm v=1')), 12);
});

// ---- resume and flow control against a stub ingestor ------------------------

const result = (samples: number): IngestResult => ({ lines: 1, rejected: 0, samples, skippedStrings: 0, errors: [], rejectedLineBytes: 0, rejectedTags: 0, outputs: [], unroutedSamples: 0 });

/** The WebSocket source alone, on a port whose calls wait until the test settles them. */
async function stubServer(ws: Partial<WsSourceDeps['ws']> = {}, budget = unbounded) {
  const calls: Array<{ body: Buffer; resolve: (r: IngestResult) => void; reject: (e: unknown) => void }> = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const state = { overloaded: false };
  const port = {
    writeBytes: (_protocol: string, _format: string, body: Buffer) =>
      new Promise<IngestResult>((resolve, reject) => {
        calls.push({ body, resolve, reject });
        for (const w of waiters.filter((w) => calls.length >= w.n)) w.resolve();
      }),
    overloaded: () => state.overloaded,
  } as unknown as IngestPort;
  const app = uWS.App();
  const source = new WebSocketSource({
    auth: { enabled: false, identify: () => ({ key: 'anonymous' }) },
    metrics: new Metrics(),
    maxFrameBytes: 1 << 20,
    budget,
    isReady: () => true,
    ws: { maxInflight: 16, maxInflightBytes: 1 << 20, maxBackpressureBytes: 1 << 20, resumeWindow: 1024, resumeClients: 100, ...ws },
  });
  await source.start(port);
  for (const w of source.websockets) w.attach(app);
  const server = await listen(app, '127.0.0.1', 0);
  let open = true;
  const close = () => {
    if (open) server.close();
    open = false;
  };
  leftOpen.add(close);
  return {
    url: `ws://127.0.0.1:${server.port}/ws`,
    source,
    calls,
    state,
    /** Resolves once the ingestor has been called n times. */
    called(n: number): Promise<void> {
      if (calls.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close,
  };
}

/**
 * Client `a` sends seq 1; `b`, with the same client id, sends it again while
 * a's copy is in flight, then seq 2. Once seq 2 reaches the ingestor, b's
 * seq 1 has been handled (one connection's frames are handled in order).
 */
async function resendWhileInFlight(s: Awaited<ReturnType<typeof stubServer>>, client: string) {
  const [a, b] = await Promise.all([connect(`?client=${client}`, {}, s.url), connect(`?client=${client}`, {}, s.url)]);
  a.ws.send('# seq=1\nm v=1');
  await s.called(1);
  b.ws.send('# seq=1\nm v=1');
  b.ws.send('# seq=2\nm v=2');
  await s.called(2);
  assert.equal(textFrameSeq(s.calls[1]!.body), 2, "b's seq 1 was not ingested");
  assert.equal(b.replies.length, 0, 'the resend waits for the first copy');
  return { a, b };
}

test('stub: a resend while the first copy is in flight waits for it; one ingest, the same ack twice', bounded, async () => {
  const s = await stubServer();
  const { a, b } = await resendWhileInFlight(s, 'twin');
  s.calls[0]!.resolve(result(3));
  const [[ra], [rb]] = await Promise.all([a.waitFor(1), b.waitFor(1)]);
  assert.deepEqual(ra, { type: 'ack', seq: 1, lines: 1, accepted: 3, rejected: 0, skipped: 0, errors: [] });
  assert.deepEqual(rb, { ...ra, duplicate: true });
  s.calls[1]!.resolve(result(1));
  await b.waitFor(2);
  b.ws.send('# seq=1\nm v=1');
  assert.deepEqual((await b.waitFor(3))[2], { ...ra, duplicate: true }, 'remembered once acked');
  assert.equal(s.calls.length, 2);
  await Promise.all([a.close(), b.close()]);
  s.close();
});

test('stub: an error reply is not remembered, so the frame can be resent and stored', bounded, async () => {
  const s = await stubServer();
  const { a, b } = await resendWhileInFlight(s, 'e');
  s.calls[0]!.reject(new SentioError('SENTIO_ERR_QUEUE_FULL'));
  const [[ra], [rb]] = await Promise.all([a.waitFor(1), b.waitFor(1)]);
  const refusal = { type: 'error', seq: 1, code: 'SENTIO_ERR_QUEUE_FULL', message: new SentioError('SENTIO_ERR_QUEUE_FULL').message, retryAfterMs: 1000 };
  assert.deepEqual(ra, refusal);
  assert.deepEqual(rb, refusal, 'the waiting copy gets the same refusal, not marked duplicate');
  a.ws.send('# seq=1\nm v=1');
  await s.called(3);
  s.calls[2]!.resolve(result(1));
  const r = (await a.waitFor(2))[1]!;
  assert.equal(r.type, 'ack');
  assert.equal(r.duplicate, undefined);
  s.calls[1]!.resolve(result(1));
  await b.waitFor(2);
  await Promise.all([a.close(), b.close()]);
  s.close();
});

test('stub: acks carry slowDown while the ingestor is overloaded; duplicates are answered at the in-flight limit', bounded, async () => {
  const s = await stubServer({ maxInflight: 1 });
  const c = await connect('?client=slow', {}, s.url);
  s.state.overloaded = true;
  c.ws.send('# seq=1\nm v=1');
  await s.called(1);
  c.ws.send('# seq=2\nm v=2');
  const [refused] = await c.waitFor(1);
  assert.deepEqual(refused, { type: 'error', seq: 2, code: SLOW_DOWN, message: refused!.message, retryAfterMs: refused!.retryAfterMs });
  assert.equal(s.calls.length, 1, 'a refused frame is not ingested');
  s.calls[0]!.resolve(result(1));
  assert.equal((await c.waitFor(2))[1]!.slowDown, true);
  c.ws.send('# seq=3\nm v=3');
  await s.called(2); // seq 3 in flight: the limit is reached
  c.ws.send('# seq=1\nm v=1');
  const dup = (await c.waitFor(3))[2]!;
  assert.equal(dup.duplicate, true, 'answered from memory, not refused');
  assert.equal(dup.slowDown, true);
  s.state.overloaded = false;
  s.calls[1]!.resolve(result(1));
  assert.equal((await c.waitFor(4))[3]!.slowDown, undefined);
  await c.close();
  s.close();
});

test('stub: with --ws-resume-window 0 nothing is remembered, and ?client= is still checked', bounded, async () => {
  const s = await stubServer({ resumeWindow: 0 });
  const c = await connect('?client=off', {}, s.url);
  c.ws.send('# seq=1\nm v=1');
  await s.called(1);
  s.calls[0]!.resolve(result(1));
  await c.waitFor(1);
  c.ws.send('# seq=1\nm v=1');
  await s.called(2);
  s.calls[1]!.resolve(result(1));
  assert.equal((await c.waitFor(2))[1]!.duplicate, undefined);
  assert.equal((await upgradeRefusal(`${s.url}?client=a%20b`)).status, 400);
  await c.close();
  s.close();
});

test('stub: frames take their bytes from the shared memory budget; one that does not fit is refused unparsed and retried later', bounded, async () => {
  const budget = new MemoryBudget(1000);
  const s = await stubServer({}, budget);
  const [a, b] = await Promise.all([connect('', {}, s.url), connect('', {}, s.url)]);
  const frame = (seq: number) => `# seq=${seq}\nm v=${'1'.repeat(590)}`; // ~600 bytes
  a.ws.send(frame(1));
  await s.called(1);
  assert.ok(budget.inUse >= 600, `the frame in flight holds its bytes (${budget.inUse})`);
  b.ws.send(frame(7)); // another connection: the budget is the process's, not the connection's
  const [refused] = await b.waitFor(1);
  assert.equal(refused!.type, 'error');
  assert.equal(refused!.code, 'SENTIO_ERR_OVERLOADED');
  assert.equal(refused!.seq, 7);
  assert.equal(refused!.retryAfterMs, 1000);
  assert.equal(s.calls.length, 1, 'the refused frame was not parsed');
  s.calls[0]!.resolve(result(1));
  await a.waitFor(1);
  assert.equal(budget.inUse, 0, 'an answered frame gives its bytes back');
  b.ws.send(frame(7));
  await s.called(2);
  s.calls[1]!.resolve(result(1));
  assert.equal((await b.waitFor(2))[1]!.type, 'ack');
  await Promise.all([a.close(), b.close()]);
  s.close();
});

test('stub: a client pipelining under --ws-max-inflight-bytes is not refused; past the window a frame is refused with retryAfterMs, unless it is alone', bounded, async () => {
  const frame = (seq: number, bytes: number) => `# seq=${seq}\n${'m v=1\n'.repeat(Math.ceil(bytes / 6))}`;
  const s = await stubServer({ maxInflight: 1000, maxInflightBytes: 10_000 });
  const c = await connect('', {}, s.url);
  // Nine frames of ~1 kB in flight at once, none answered yet: all taken.
  for (let i = 1; i <= 9; i++) c.ws.send(frame(i, 1000));
  await s.called(9);
  // The tenth would bring the window past 10,000 bytes: refused, not ingested.
  c.ws.send(frame(10, 2000));
  const [refused] = await c.waitFor(1);
  assert.equal(refused!.type, 'error');
  assert.equal(refused!.code, SLOW_DOWN);
  assert.equal(refused!.seq, 10);
  assert.equal(refused!.retryAfterMs, 100);
  assert.match(String(refused!.message), /--ws-max-inflight-bytes/);
  assert.equal(s.calls.length, 9);
  for (const call of s.calls) call.resolve(result(1));
  await c.waitFor(10);
  // Alone, a frame larger than the window passes.
  c.ws.send(frame(11, 20_000));
  await s.called(10);
  s.calls[9]!.resolve(result(1));
  const last = (await c.waitFor(11))[10]!;
  assert.deepEqual([last.type, last.seq], ['ack', 11]);
  await c.close();
  s.close();
});

test('stub: at shutdown (stop, disconnect) each connection ends with 1001 once its frames in flight are answered', bounded, async () => {
  const s = await stubServer();
  const busy = await connect('', {}, s.url);
  const idle = await connect('', {}, s.url);
  const closeCode = (c: { ws: WebSocket }) => new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
  const busyClosed = closeCode(busy);
  const idleClosed = closeCode(idle);
  busy.ws.send('# seq=1\nm v=1');
  busy.ws.send('# seq=2\nm v=2');
  await s.called(2);
  await s.source.stop();
  s.source.disconnect();
  assert.equal(await idleClosed, 1001, 'nothing in flight: ended at once');
  // Still open while two frames are in flight; a new frame is refused as not ready.
  busy.ws.send('# seq=3\nm v=3');
  const [refused] = await busy.waitFor(1);
  assert.deepEqual([refused!.type, refused!.seq, refused!.code], ['error', 3, 'SENTIO_ERR_NOT_READY']);
  assert.equal(busy.ws.readyState, WebSocket.OPEN);
  for (const call of s.calls) call.resolve(result(1));
  assert.equal(await busyClosed, 1001);
  assert.deepEqual(busy.replies.map((r) => [r.type, r.seq]), [['error', 3], ['ack', 1], ['ack', 2]], 'every frame answered before the close');
  s.close();
});
