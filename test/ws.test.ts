// WebSocket ingestion: one reply per frame, sequence numbers, line protocol
// and msgpack frames, auth on upgrade.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pack } from 'msgpackr';
import WebSocket from 'ws';
import { TOKEN, type TestGateway, startTestGateway } from './helpers.js';
import type { EmbeddedSink } from '../src/sinks/embedded/index.js';

let gw: TestGateway;
before(async () => {
  gw = await startTestGateway(['--max-frame-bytes', '1048576']);
});
after(async () => gw.close());

const store = () => gw.gateway.sink as EmbeddedSink;

interface Reply {
  type: 'ack' | 'error';
  seq: number;
  lines?: number;
  accepted?: number;
  rejected?: number;
  skipped?: number;
  errors?: Array<{ line: number; reason: string }>;
  code?: string;
}

/** A connected client that collects replies and can wait for n of them. */
async function connect(query = `?token=${TOKEN}`, headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${gw.wsUrl}${query}`, { headers });
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
  };
}

test('text frames: one ack per frame with seq, counts and rejected lines', async () => {
  const c = await connect();
  c.ws.send('# seq=41\nwsa,dev=1 x=1,y=2i,s="str" 1700000000000000000\nwsa,dev=2 x=3 1700000000000000000');
  c.ws.send('wsa,dev=3 x=4 1700000000000000000\nthis is not a point\nwsa,dev=4 x= 1');
  c.ws.send('# seq=100\nwsb v=1 1700000000000000000');
  const replies = await c.waitFor(3);
  const bySeq = new Map(replies.map((r) => [r.seq, r]));
  assert.deepEqual([...bySeq.keys()].sort((a, b) => a - b), [41, 42, 100], 'explicit seq, then implicit previous+1');
  assert.deepEqual(bySeq.get(41), { type: 'ack', seq: 41, lines: 2, accepted: 3, rejected: 0, skipped: 1, errors: [] });
  const partial = bySeq.get(42)!;
  assert.equal(partial.accepted, 1);
  assert.equal(partial.rejected, 2);
  assert.deepEqual(partial.errors!.map((e) => e.line), [2, 3]);
  assert.equal(bySeq.get(100)?.accepted, 1);
  c.ws.close();
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
  c.ws.close();
});

test('upgrade without a valid token is refused with 401', async () => {
  const ws = new WebSocket(`${gw.wsUrl}?token=wrong-token-xyz`);
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
  });
  assert.equal(status, 401);
});

test('a frame over --max-frame-bytes closes the connection', async () => {
  const c = await connect();
  const code = await new Promise<number>((resolve) => {
    c.ws.on('close', (code) => resolve(code));
    c.ws.send(Buffer.alloc(2 << 20, 0x61).toString());
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
  assert.ok(replies.every((r) => r.type === 'ack' && r.accepted === 50));
  c.ws.close();
  const stored = await store().exportSeries({ metric: 'flood_v' });
  assert.equal(stored.reduce((n, s) => n + s.samples.length, 0), frames * 50);
});
