// Resident memory of an idle gateway on the embedded default, where it goes,
// and how much a first start costs: `node --import tsx bench/footprint.ts`
// (after `npm run build`: it runs dist/cli.js, what `npm start` runs).
//
// Each configuration runs as its own process: RSS is sampled from
// /proc/<pid>/status every 20 ms from spawn until /healthz answers (peak
// during start-up), then once after --idle-s seconds of idling (idle). The
// peers in the same run: a bare Node process (the floor), and the same
// process with only the embedded metadata store (PGlite) open, so the
// table says what the gateway adds on top of them.
//
// Options: --rounds N (default 3; the table shows medians), --idle-s S
// (default 20), --cli PATH (another build's dist/cli.js, to compare).

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, waitFor } from '../test/services/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'idle-s': { type: 'string', default: '20' },
    cli: { type: 'string', default: resolve('dist/cli.js') },
  },
});
const rounds = Number(values.rounds);
const idleMs = Number(values['idle-s']) * 1000;
const cli = values.cli;
const MiB = 2 ** 20;

async function rssOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}

interface Sample {
  peak: number;
  idle: number;
}

/** Runs `args` (node arguments) until ready, samples its RSS, stops it. */
async function measure(args: string[], ready: (port: number) => Promise<boolean>, port: number): Promise<Sample> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let peak = 0;
  const sampler = setInterval(() => {
    void rssOf(child.pid!).then((r) => {
      if (r !== undefined && r > peak) peak = r;
    });
  }, 20);
  try {
    await waitFor('process', () => ready(port), 60_000, () => stderr);
    await new Promise((r) => setTimeout(r, idleMs));
    const idle = (await rssOf(child.pid!)) ?? 0;
    return { peak: Math.max(peak, idle), idle };
  } finally {
    clearInterval(sampler);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

const healthz = async (port: number) => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A Node process that runs `code` (an ES module, written to `dir`), then signals readiness by answering HTTP on `port`. */
function nodeWith(dir: string, code: string, port: number): string[] {
  const file = join(dir, `peer-${port}.mjs`);
  writeFileSync(file, `${code}\nimport('node:net').then(({ createServer }) => createServer((s) => s.end('HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\n\\r\\n')).listen(${port}, '127.0.0.1'));\n`);
  return [file];
}

const rows: Array<{ name: string; peak: number[]; idle: number[] }> = [];
async function run(name: string, make: (dir: string, port: number) => string[], fresh: boolean): Promise<void> {
  const row = { name, peak: [] as number[], idle: [] as number[] };
  rows.push(row);
  const dir = await mkdtemp(join(tmpdir(), 'sentio-footprint-'));
  try {
    if (!fresh) {
      const port = await freePort();
      await measure(make(dir, port), healthz, port); // creates the data dir: the rounds are restarts
    }
    for (let i = 0; i < rounds; i++) {
      if (fresh) await rm(dir, { recursive: true, force: true });
      const port = await freePort();
      const s = await measure(make(dir, port), healthz, port);
      row.peak.push(s.peak);
      row.idle.push(s.idle);
      process.stderr.write(`${name}: peak ${(s.peak / MiB).toFixed(0)} MiB, idle ${(s.idle / MiB).toFixed(0)} MiB\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sentio = (extra: string[]) => (dir: string, port: number) => [cli, 'start', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--log-level', 'warn', ...extra];
const storeModule = resolve(cli, '../store/index.js');

await run('bare Node (the floor)', (dir, port) => nodeWith(dir, 'setInterval(() => {}, 1000);', port), false);
await run('the metadata store alone (PGlite)', (dir, port) => nodeWith(dir, `const { openStore } = await import(${JSON.stringify(storeModule)}); await openStore({ dataDir: ${JSON.stringify(dir)} });`, port), false);
await run('sentio start, first start (empty data dir)', sentio([]), true);
await run('sentio start, restart', sentio([]), false);
await run('sentio start --workers 0, restart', sentio(['--workers', '0']), false);
await run('sentio start --sink blackhole, restart', sentio(['--sink', 'blackhole']), false);

const fmt = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
console.log(`\nidle after ${idleMs / 1000} s, peak from spawn to ready; medians of ${rounds}; ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ${cli}\n`);
console.log('| process | peak during start | idle |');
console.log('| --- | --- | --- |');
for (const r of rows) console.log(`| ${r.name} | ${fmt(median(r.peak))} | ${fmt(median(r.idle))} |`);
