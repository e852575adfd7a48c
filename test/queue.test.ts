// The durable queue against real processes: Sentio (src/cli.ts, a child
// process so it can be SIGKILLed) and a real VictoriaMetrics. Every point a
// client got an acknowledgement for must end up in VictoriaMetrics.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Service, type VictoriaMetrics, startVictoriaMetrics, waitFor } from './services/index.js';
import { TOKEN, metricValue, scrape, sentioCli, startSentioProcess } from './helpers.js';

const cli = sentioCli;
const startSentio = startSentioProcess;

/** `sentio queue verify` on a data directory: exit code and output. */
function queueVerify(dataDir: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'queue', 'verify', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

const BASE_MS = Date.now() - 3_600_000;
const LINES = 50;

/** Batch `b` of writer `w`: LINES points of series q_v{w}, timestamps unique per (w, b, i), value = b * LINES + i. */
function body(w: number, b: number): string {
  return Array.from({ length: LINES }, (_, i) => `q,w=w${w} v=${b * LINES + i}i ${BASE_MS + b * LINES + i}`).join('\n');
}

interface Writers {
  /** Per writer, the batches acknowledged (204). */
  acked: number[][];
  /** Per writer, every batch sent (acknowledged or not). */
  sent: number[][];
  statuses: Map<number, number>;
  /** Resolves when every writer has stopped. */
  done: Promise<void>;
  stop(): void;
}

/** `n` writers posting numbered batches back to back until stopped or the server is gone. */
function writers(url: string, n: number, db: string): Writers {
  let stopped = false;
  const w: Writers = { acked: [], sent: [], statuses: new Map(), done: Promise.resolve(), stop: () => (stopped = true) };
  const loops = Array.from({ length: n }, async (_, k) => {
    w.acked[k] = [];
    w.sent[k] = [];
    for (let b = 0; !stopped; b++) {
      w.sent[k]!.push(b);
      let status: number;
      try {
        const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', body: body(k, b), headers: { authorization: `Token ${TOKEN}` } });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0; // connection refused or reset
      }
      w.statuses.set(status, (w.statuses.get(status) ?? 0) + 1);
      if (status === 204) w.acked[k]!.push(b);
      else if (status === 0) await new Promise((r) => setTimeout(r, 20));
    }
  });
  w.done = Promise.all(loops).then(() => undefined);
  return w;
}

/** Points of q_v in VictoriaMetrics, as "w/value" strings, duplicates included. */
async function stored(vm: VictoriaMetrics, db: string): Promise<string[]> {
  const series = await vm.export(`{__name__="q_v",db="${db}"}`);
  return series.flatMap((s) => s.values.map((v, i) => {
    assert.equal(s.timestamps[i], BASE_MS + v, 'value and timestamp belong together');
    return `${s.metric.w}/${v}`;
  }));
}

function expectedPoints(batches: number[][]): string[] {
  return batches.flatMap((bs, w) => bs.flatMap((b) => Array.from({ length: LINES }, (_, i) => `w${w}/${b * LINES + i}`)));
}

async function awaitStored(vm: VictoriaMetrics, db: string, atLeast: number): Promise<string[]> {
  let last: string[] = [];
  await waitFor(`${atLeast} points in VictoriaMetrics`, async () => {
    last = await stored(vm, db);
    return new Set(last).size >= atLeast;
  }, 60_000, () => `have ${new Set(last).size}`);
  return last;
}

describe('durable queue, real processes', () => {
  const cleanup: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  test('crash: Sentio killed with SIGKILL at a random moment loses no acknowledged point', async () => {
    const vm = await startVictoriaMetrics();
    cleanup.push(() => vm.destroy());
    const sentio = await startSentio(['--victoriametrics', vm.writeUrl]);
    cleanup.push(() => sentio.destroy());
    const w = writers(sentio.url, 4, 'crash');
    const killAfter = 10 + Math.floor(Math.random() * 40);
    // A random moment: once `killAfter` batches (random, 10..49) were acknowledged.
    await waitFor('acknowledged batches', async () => w.acked.flat().length >= killAfter);
    sentio.process.kill('SIGKILL');
    await new Promise((r) => sentio.process.once('exit', r));
    w.stop();
    await w.done;
    const acked = expectedPoints(w.acked);
    assert.ok(acked.length >= killAfter * LINES, `killed after ${killAfter} acked batches`);

    const again = await startSentio(['--victoriametrics', vm.writeUrl], { dir: sentio.dir, port: sentio.port });
    cleanup.push(() => again.destroy());
    const got = new Set(await awaitStored(vm, 'crash', acked.length));
    const missing = acked.filter((p) => !got.has(p));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged points missing (kill after ${killAfter} batches)`);
    const sent = new Set(expectedPoints(w.sent));
    assert.deepEqual([...got].filter((p) => !sent.has(p)), [], 'nothing that was never sent');
  });

  test('shutdown: SIGTERM under load exits 0, and every acknowledged point arrives after the restart', async () => {
    const vm = await startVictoriaMetrics();
    cleanup.push(() => vm.destroy());
    const sentio = await startSentio(['--victoriametrics', vm.writeUrl, '--shutdown-grace-ms', '2000']);
    cleanup.push(() => sentio.destroy());
    const w = writers(sentio.url, 4, 'shutdown');
    await waitFor('acknowledged batches', async () => w.acked.flat().length >= 20);
    const exited = new Promise<number | null>((resolve) => sentio.process.once('exit', (code) => resolve(code)));
    sentio.process.kill('SIGTERM');
    assert.equal(await exited, 0, 'a clean exit');
    w.stop();
    await w.done;
    const refusedOrCut = [...w.statuses.keys()].filter((s) => s !== 204);
    assert.ok(refusedOrCut.every((s) => s === 0 || s === 503), `only refusals while stopping: ${refusedOrCut}`);
    const again = await startSentio(['--victoriametrics', vm.writeUrl], { dir: sentio.dir, port: sentio.port });
    cleanup.push(() => again.destroy());
    const acked = expectedPoints(w.acked);
    const got = new Set(await awaitStored(vm, 'shutdown', acked.length));
    assert.deepEqual(acked.filter((p) => !got.has(p)).slice(0, 10), []);
  });

  test('outage: VictoriaMetrics stopped under load and started again; every acknowledged point arrives, once per series and timestamp', async () => {
    // Delivery is at-least-once (docs/guarantees.md): a request VictoriaMetrics
    // stored while stopping, without answering, is sent again. Its samples are
    // identical, and VictoriaMetrics' deduplication, as guarantees.md
    // recommends, keeps one per series and timestamp.
    let vm = await startVictoriaMetrics(undefined, ['-dedup.minScrapeInterval=1ms']);
    cleanup.push(() => vm.destroy());
    const sentio = await startSentio(['--victoriametrics', vm.writeUrl, '--vm-max-retries', '1', '--vm-retry-base-ms', '20']);
    cleanup.push(() => sentio.destroy());
    const w = writers(sentio.url, 3, 'outage');
    const acked = () => w.acked.flat().length;
    await waitFor('batches before the outage', async () => acked() >= 10);
    await vm.stop();
    const atStop = acked();
    await waitFor('batches acknowledged while VictoriaMetrics is down', async () => acked() >= atStop + 30);
    const m = await scrape(sentio.url);
    assert.ok(metricValue(m, 'sentio_queue_batches', { sink: 'victoriametrics' }) > 0, 'the queue holds the backlog');
    vm = await vm.restart();
    const atRestart = acked();
    await waitFor('batches after the restart', async () => acked() >= atRestart + 10);
    w.stop();
    await w.done;
    assert.deepEqual([...w.statuses.keys()], [204], 'every write was acknowledged, outage or not');

    const points = expectedPoints(w.acked);
    const got = await awaitStored(vm, 'outage', points.length);
    assert.equal(got.length, new Set(got).size, 'no point stored twice');
    assert.deepEqual(new Set(got), new Set(points));
  });

  test('full queue: clients are told to back off, and nothing acknowledged is dropped', async () => {
    let vm = await startVictoriaMetrics();
    cleanup.push(() => vm.destroy());
    const sentio = await startSentio(['--victoriametrics', vm.writeUrl, '--queue-max-bytes', String(256 * 1024), '--vm-max-retries', '0']);
    cleanup.push(() => sentio.destroy());
    await vm.stop();
    const acked: number[] = [];
    let refusal: Response | undefined;
    for (let b = 0; b < 1000 && refusal === undefined; b++) {
      const res = await fetch(`${sentio.url}/write?db=full&precision=ms`, { method: 'POST', body: body(0, b), headers: { authorization: `Token ${TOKEN}` } });
      if (res.status === 204) acked.push(b);
      else refusal = res;
      if (res.status === 204) await res.arrayBuffer();
    }
    assert.ok(refusal, 'the queue filled up');
    assert.equal(refusal.status, 429);
    assert.ok(refusal.headers.get('retry-after'));
    assert.equal(((await refusal.json()) as { code: string }).code, 'SENTIO_ERR_QUEUE_FULL');
    assert.ok(acked.length > 5, `${acked.length} batches fitted`);

    vm = await vm.restart();
    const got = await awaitStored(vm, 'full', acked.length * LINES);
    assert.deepEqual(new Set(got), new Set(expectedPoints([acked])));
    await waitFor('room again', async () => {
      const res = await fetch(`${sentio.url}/write?db=full&precision=ms`, { method: 'POST', body: body(0, 5000), headers: { authorization: `Token ${TOKEN}` } });
      await res.arrayBuffer();
      return res.status === 204;
    });
  });

  test('corruption: a damaged record in the middle of a segment is skipped on start; the records around it are delivered', async () => {
    let vm = await startVictoriaMetrics();
    cleanup.push(() => vm.destroy());
    const sentio = await startSentio(['--victoriametrics', vm.writeUrl, '--vm-max-retries', '0', '--shutdown-grace-ms', '100']);
    cleanup.push(() => sentio.destroy());
    await vm.stop();
    for (let b = 0; b < 9; b++) {
      const res = await fetch(`${sentio.url}/write?db=corrupt&precision=ms`, { method: 'POST', body: body(0, b), headers: { authorization: `Token ${TOKEN}` } });
      assert.equal(res.status, 204);
    }
    await sentio.stop();
    assert.equal(sentio.process.exitCode, 0, 'a clean exit on SIGTERM with the sink down');

    const shardDir = join(sentio.dir, 'queue', 'victoriametrics', 'shard-0');
    const [segment] = (await readdir(shardDir)).filter((n) => n.endsWith('.seg'));
    const path = join(shardDir, segment!);
    const bytes = await readFile(path);
    const at = Math.floor(bytes.byteLength * (4.5 / 9)); // inside the fifth record
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
    await writeFile(path, bytes);
    const verify = await queueVerify(sentio.dir);
    assert.equal(verify.code, 1, verify.out);
    assert.match(verify.out, /damage: .*\.seg offset \d+, \d+ bytes: /);

    vm = await vm.restart();
    const again = await startSentio(['--victoriametrics', vm.writeUrl], { dir: sentio.dir, port: sentio.port });
    cleanup.push(() => again.destroy());
    const expected = expectedPoints([[0, 1, 2, 3, 5, 6, 7, 8]]);
    const got = await awaitStored(vm, 'corrupt', expected.length);
    assert.deepEqual(new Set(got), new Set(expected), 'all but the damaged batch');
    const m = await scrape(again.url);
    assert.ok(metricValue(m, 'sentio_queue_damaged_bytes_total', { sink: 'victoriametrics' }) > 0);
  });
});
