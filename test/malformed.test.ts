// A corpus of malformed and hostile inputs against a real Sentio process
// (embedded store): every one gets its documented answer, the valid lines
// of mixed batches are stored, the process stays up and its memory stays
// bounded over many rounds.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { silentLogger } from '../src/log/index.js';
import { Metrics } from '../src/metrics/index.js';
import { EmbeddedStore } from '../src/embedded/index.js';
import { TOKEN, metricValue, scrape, startSentioProcess } from './helpers.js';

const TS = '1700000009000000000';

interface Case {
  name: string;
  body: Buffer | string;
  headers?: Record<string, string>;
  status: number;
  code?: string;
  /** Valid samples in the body, which must be stored. */
  valid: number;
}

function cases(): Case[] {
  const auth = { authorization: `Token ${TOKEN}` };
  const gz = { ...auth, 'content-encoding': 'gzip' };
  const escapes = `esc,t=${'\\,\\ \\='.repeat(2000)} v=1 ${TS}`; // ~12 kB of escapes in a tag value
  return [
    { name: 'oversized body', body: Buffer.alloc(300_000, 0x61), status: 413, code: 'SENTIO_ERR_BODY_TOO_LARGE', valid: 0 },
    { name: 'gzip bomb', body: gzipSync(Buffer.alloc(8 << 20, 0x61)), headers: gz, status: 413, code: 'SENTIO_ERR_COMPRESSION_RATIO', valid: 0 },
    { name: 'corrupt gzip', body: Buffer.concat([gzipSync('ok v=1'), randomBytes(64)]).subarray(5), headers: gz, status: 400, code: 'SENTIO_ERR_BAD_ENCODING', valid: 0 },
    { name: 'unknown encoding', body: 'ok v=1', headers: { ...auth, 'content-encoding': 'zstd' }, status: 400, code: 'SENTIO_ERR_BAD_ENCODING', valid: 0 },
    { name: 'no credentials', body: 'ok v=1', headers: {}, status: 401, code: 'SENTIO_ERR_UNAUTHORIZED', valid: 0 },
    {
      name: 'invalid UTF-8 beside valid lines',
      body: Buffer.concat([Buffer.from(`mix,k=a v=1 ${TS}\n`), Buffer.from([0x6d, 0x20, 0x76, 0x3d, 0xff, 0xfe, 0x0a]), Buffer.from(`mix,k=b v=2 ${TS}\n`)]),
      status: 400,
      code: 'SENTIO_ERR_PARTIAL_WRITE',
      valid: 2,
    },
    { name: 'deep escapes', body: `${escapes}\nesc2 v=3 ${TS}`, status: 204, valid: 2 },
    { name: 'over-long line beside a valid one', body: `long v=1,s="${'x'.repeat(70_000)}" ${TS}\nshort v=1 ${TS}`, status: 400, code: 'SENTIO_ERR_PARTIAL_WRITE', valid: 1 },
    {
      name: 'too many tags',
      body: `tags,${Array.from({ length: 300 }, (_, i) => `t${i}=v`).join(',')} v=1 ${TS}\nfew,t=1 v=1 ${TS}`,
      status: 400,
      code: 'SENTIO_ERR_PARTIAL_WRITE',
      valid: 1,
    },
    { name: 'binary junk', body: randomBytes(4096), status: 400, code: 'SENTIO_ERR_PARTIAL_WRITE', valid: 0 },
    {
      name: 'numbers and timestamps out of range',
      body: `num v=1 99999999999999999999\nnum w=NaNx ${TS}\nnum u=1.2.3 ${TS}\nnum z=12 ${TS}`,
      status: 400,
      code: 'SENTIO_ERR_PARTIAL_WRITE',
      valid: 1,
    },
    // 0xc1 is never used in msgpack: whatever follows, the batch is malformed.
    { name: 'msgpack garbage', body: Buffer.concat([Buffer.from([0xc1]), randomBytes(511)]), headers: { ...auth, 'content-type': 'application/msgpack' }, status: 400, code: 'SENTIO_ERR_BAD_BATCH', valid: 0 },
    { name: 'unterminated quotes and lone backslashes', body: `q s="abc v=1 ${TS}\nq\\ v=1 ${TS}\n\\\n,,, =\nq2 v=5 ${TS}`, status: 400, code: 'SENTIO_ERR_PARTIAL_WRITE', valid: 1 },
  ].map((c) => ({ ...c, headers: c.headers ?? auth }));
}

test('malformed and hostile input: documented answers, valid lines stored, the process up and its memory bounded', async () => {
  const sentio = await startSentioProcess(['--max-body-bytes', '262144', '--max-line-bytes', '65536', '--max-tags', '256', '--max-frame-bytes', '1048576']);
  try {
    const rss = async (): Promise<number> => {
      const bytes = metricValue(await scrape(sentio.url), 'process_resident_memory_bytes');
      assert.ok(bytes > 0, 'resident memory is exported');
      return bytes;
    };
    let expectedSamples = 0;
    let afterFirstRound = 0;
    const rounds = 15;
    for (let round = 0; round < rounds; round++) {
      for (const c of cases()) {
        const res = await fetch(`${sentio.url}/write?db=hostile`, { method: 'POST', body: c.body, headers: c.headers });
        const text = await res.text();
        assert.equal(res.status, c.status, `${c.name}: ${text.slice(0, 300)}`);
        if (c.code !== undefined) assert.equal((JSON.parse(text) as { code: string }).code, c.code, c.name);
        expectedSamples += c.valid;
      }
      // WebSocket: junk frames get error replies, an oversized frame closes only its own connection.
      const ws = new WebSocket(`${sentio.url.replace('http', 'ws')}/ws?token=${TOKEN}`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const replies: Array<{ type: string; code?: string; accepted?: number }> = [];
      const got = new Promise<void>((resolve) =>
        ws.on('message', (d) => {
          replies.push(JSON.parse(d.toString()) as { type: string });
          if (replies.length === 2) resolve();
        }),
      );
      ws.send(Buffer.concat([Buffer.from([0xc1]), randomBytes(255)]), { binary: true });
      ws.send(`wsok v=1 ${TS}\n\xff junk line`);
      await got;
      assert.deepEqual(replies.map((r) => r.type).sort(), ['ack', 'error']);
      assert.equal(replies.find((r) => r.type === 'error')?.code, 'SENTIO_ERR_BAD_BATCH');
      assert.equal(replies.find((r) => r.type === 'ack')?.accepted, 1);
      expectedSamples += 1;
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.send(Buffer.alloc(3 << 20, 0x61)); // over twice --max-frame-bytes
      const code = await closed;
      assert.ok(code === 1009 || code === 1006, `oversized frame closed with ${code}`);
      if (round === 0) afterFirstRound = await rss();
    }
    assert.equal((await fetch(`${sentio.url}/healthz`)).status, 200, 'still up and healthy');
    const grown = (await rss()) - afterFirstRound;
    assert.ok(grown < 96 * 2 ** 20, `resident memory grew by ${(grown / 2 ** 20).toFixed(1)} MiB over ${rounds - 1} more rounds`);
    const m = await scrape(sentio.url);
    assert.equal(metricValue(m, 'sentio_accepted_samples_total'), expectedSamples);
    await sentio.stop();
    assert.equal(sentio.process.exitCode, 0);
    const store = await EmbeddedStore.open({ dataDir: sentio.dir, metrics: new Metrics().sink('embedded'), log: () => silentLogger.info('') });
    try {
      assert.equal((await store.stats()).samples, expectedSamples, 'every valid sample is in the store');
    } finally {
      await store.close();
    }
  } finally {
    await sentio.destroy();
  }
});
