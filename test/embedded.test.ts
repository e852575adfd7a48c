// The embedded default: with no VictoriaMetrics configured, every accepted
// sample lands in the DuckDB file under the data directory and survives a
// restart.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { loadConfig } from '../src/config/index.js';
import { startGateway } from '../src/gateway.js';
import { silentLogger } from '../src/log/index.js';
import { TOKEN } from './helpers.js';

test('every accepted sample over HTTP and WebSocket is stored, and kept across a restart', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-embedded-'));
  const config = loadConfig(['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN, '--workers', '2', '--inline-max-bytes', '2048', '--inline-max-load', '0', '--ws-max-inflight', '64'], {}).config;
  const base = Date.now() - 60_000;
  let expected = 0;
  try {
    const gw = await startGateway(config, silentLogger);
    const url = `http://127.0.0.1:${gw.port}`;
    // Many concurrent HTTP batches of mixed sizes (inline and pooled), some with bad lines.
    const requests = Array.from({ length: 40 }, (_, r) => {
      const lines = Array.from({ length: 1 + r * 37 }, (_, i) => `fleet,dev=d${i % 13},batch=b${r} a=${i},b=${-i}i,c=${i % 2 === 0} ${(base + i) * 1_000_000}`);
      if (r % 5 === 0) lines.push('fleet,dev=x broken');
      expected += (lines.length - (r % 5 === 0 ? 1 : 0)) * 3;
      return fetch(`${url}/write`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: lines.join('\n') }).then((res) => res.status);
    });
    const statuses = await Promise.all(requests);
    assert.deepEqual(new Set(statuses), new Set([204, 400]));

    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws?token=${TOKEN}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const acks: Array<{ accepted: number }> = [];
    const frames = 30;
    const done = new Promise<void>((resolve) =>
      ws.on('message', (d) => {
        acks.push(JSON.parse(d.toString()) as { accepted: number });
        if (acks.length === frames) resolve();
      }),
    );
    for (let f = 0; f < frames; f++) {
      ws.send(Array.from({ length: 100 }, (_, i) => `wsfleet,dev=d${i % 10},f=f${f} v=${i} ${(base + i) * 1_000_000}`).join('\n'));
    }
    await done;
    ws.close();
    const wsSamples = acks.reduce((n, a) => n + a.accepted, 0);
    assert.equal(wsSamples, frames * 100);
    expected += wsSamples;

    const stats = await gw.embedded!.stats();
    assert.equal(stats.samples, expected, 'every accepted sample is in the store');
    await gw.close();
    assert.ok(existsSync(join(dataDir, 'sentio.duckdb')), 'the store is a DuckDB file under the data directory');

    const again = await startGateway(config, silentLogger);
    try {
      const after = await again.embedded!.stats();
      assert.deepEqual(after, stats, 'nothing lost or duplicated across a restart');
      const one = await again.embedded!.exportSeries({ metric: 'fleet_b' });
      assert.ok(one.every((s) => s.samples.every((x) => x.value <= 0)));
    } finally {
      await again.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
