// Small byte batches arriving in one event-loop turn (a fleet's frames) are
// parsed in one native call and stored as one batch (coalesce-max-bytes),
// while each keeps its own labels, counts, errors, limits and answer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'msgpackr';
import type { Principal } from '../src/auth/index.js';
import type { IngestResult } from '../src/native/types.js';
import { metricValue, scrape, startTestGateway } from './helpers.js';

const device = (name: string, key = `device:${name}`): Principal => ({ key, labels: { device: name, site: 'north' } });

/** Writes every body in the same turn; settles each on its own. */
function writeTogether(gw: Awaited<ReturnType<typeof startTestGateway>>, writes: Array<{ body: Buffer; principal: Principal; format?: 'lp' | 'msgpack' }>) {
  return Promise.allSettled(writes.map((w) => gw.gateway.ingest.writeBytes('ws', w.format ?? 'lp', w.body, { principal: w.principal })));
}

function counts(s: PromiseSettledResult<IngestResult>): unknown {
  if (s.status === 'rejected') return { code: (s.reason as { code: string }).code };
  const r = s.value;
  return { lines: r.lines, samples: r.samples, rejected: r.rejected, seq: r.seq, errors: r.errors };
}

test('batches of one turn are parsed once and stored once, each with its own labels, counts and errors', async () => {
  const gw = await startTestGateway(['--max-series-per-minute', '1000']);
  try {
    const now = Date.now();
    const parsedBefore = gw.gateway.pipeline.inlineCount;
    const settled = await writeTogether(gw, [
      { body: Buffer.from(`temp,room=hall v=1 ${now}\ntemp,room=hall v=2 ${now + 1}\n`), principal: device('a') },
      { body: Buffer.from(`temp,room=hall v=3 ${now}\nbroken\n`), principal: device('b') },
      { body: encode({ seq: 41, points: [['temp', { room: 'hall' }, { v: 4 }, now]] }), principal: device('c'), format: 'msgpack' },
      { body: Buffer.from([0xc1, 0x00]), principal: device('d'), format: 'msgpack' },
    ]);
    assert.equal(gw.gateway.pipeline.inlineCount - parsedBefore, 1, 'one native call for the turn');
    assert.deepEqual(settled.map(counts), [
      { lines: 2, samples: 2, rejected: 0, seq: undefined, errors: [] },
      { lines: 2, samples: 1, rejected: 1, seq: undefined, errors: [{ line: 2, reason: 'missing fields (no space after measurement) in "broken"' }] },
      { lines: 1, samples: 1, rejected: 0, seq: 41, errors: [] },
      { code: 'SENTIO_ERR_BAD_BATCH' },
    ]);
    const series = await gw.gateway.embedded!.exportSeries({ metric: 'temp_v' });
    assert.deepEqual(
      series.map((s) => [s.labels.device, s.samples.map((x) => x.value)]).sort(),
      [['a', [1, 2]], ['b', [3]], ['c', [4]]],
      'the same line from two devices is two series, each with its device label',
    );
    const m = await scrape(gw.url);
    assert.equal(metricValue(m, 'sentio_accepted_samples_total', { protocol: 'ws', format: 'lp' }), 3);
    assert.equal(metricValue(m, 'sentio_accepted_samples_total', { protocol: 'ws', format: 'msgpack' }), 1);
    assert.equal(metricValue(m, 'sentio_rejected_points_total', { protocol: 'ws', format: 'lp' }), 1);
  } finally {
    await gw.close();
  }
});

test('a batch its limits refuse is left out; the others of its turn are stored', async () => {
  const gw = await startTestGateway(['--max-samples-per-second', '5']);
  try {
    const now = Date.now();
    const lines = (v: number) => Buffer.from(Array.from({ length: 10 }, (_, i) => `load,core=${i} v=${v} ${now}`).join('\n'));
    // One token's bucket holds 5 samples a second: its first batch borrows, its second is refused.
    const settled = await writeTogether(gw, [
      { body: lines(1), principal: device('a', 'token:shared') },
      { body: lines(2), principal: device('b', 'token:shared') },
      { body: lines(3), principal: device('c', 'token:other') },
    ]);
    assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value.samples : (s.reason as { code: string }).code)), [10, 'SENTIO_ERR_RATE_LIMITED', 10]);
    const series = await gw.gateway.embedded!.exportSeries({ metric: 'load_v' });
    assert.deepEqual([...new Set(series.map((s) => s.labels.device))].sort(), ['a', 'c'], 'nothing of the refused batch is stored');
    assert.equal(series.reduce((n, s) => n + s.samples.length, 0), 20);
  } finally {
    await gw.close();
  }
});

test('coalesce-max-bytes 0 parses each batch alone, with the same answers', async () => {
  const gw = await startTestGateway(['--coalesce-max-bytes', '0']);
  try {
    const now = Date.now();
    const parsedBefore = gw.gateway.pipeline.inlineCount;
    const settled = await writeTogether(gw, [
      { body: Buffer.from(`temp v=1 ${now}\n`), principal: device('a') },
      { body: Buffer.from(`temp v=2 ${now}\nbroken\n`), principal: device('b') },
    ]);
    assert.equal(gw.gateway.pipeline.inlineCount - parsedBefore, 2);
    assert.deepEqual(settled.map(counts), [
      { lines: 1, samples: 1, rejected: 0, seq: undefined, errors: [] },
      { lines: 2, samples: 1, rejected: 1, seq: undefined, errors: [{ line: 2, reason: 'missing fields (no space after measurement) in "broken"' }] },
    ]);
  } finally {
    await gw.close();
  }
});

test('a lone batch that alone fills the turn (coalesce-max-bytes above 256 KiB) is parsed and answered', { timeout: 30_000 }, async () => {
  const gw = await startTestGateway(['--coalesce-max-bytes', String(1 << 20)]);
  try {
    const now = Date.now();
    const body = Buffer.from(Array.from({ length: 12_000 }, (_, i) => `big,n=${i % 50} v=${i} ${now + i}`).join('\n'));
    assert.ok(body.byteLength > 256 << 10 && body.byteLength <= 1 << 20, `${body.byteLength} bytes`);
    const [settled] = await writeTogether(gw, [{ body, principal: device('a') }]);
    assert.deepEqual(counts(settled!), { lines: 12_000, samples: 12_000, rejected: 0, seq: undefined, errors: [] });
  } finally {
    await gw.close();
  }
});
