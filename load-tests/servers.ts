// Starts the servers a benchmark compares, each on a free loopback port in a
// temp dir removed on stop: VictoriaMetrics, vmagent and the built Sentio
// (dist/cli.js). Used by bench/run.ts; also handy from a REPL.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NODE_HEAP_FLAG } from '../src/heap.js';
import { freePort } from '../test/services/index.js';

export { freePort };

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

export interface Server {
  name: string;
  /** http://127.0.0.1:PORT */
  base: string;
  port: number;
  dir: string;
  pid: number;
  output(): string;
  /** Stops it and removes its data directory. */
  stop(): Promise<void>;
  /** Stops it (SIGTERM) and starts it again on the same port and data directory. */
  restart(): Promise<Server>;
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number, output: () => string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`${what} exited before it was ready:\n${output()}`);
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${output()}`);
    await sleep(50);
  }
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}

async function start(name: string, command: string, args: (dir: string, port: number) => string[], readyPath: string, ready?: (out: string) => boolean, existing?: { dir: string; port: number }): Promise<Server> {
  const dir = existing?.dir ?? (await mkdtemp(join(tmpdir(), `sentio-bench-${name}-`)));
  const port = existing?.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const child: ChildProcess = spawn(command, args(dir, port), { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exitedFlag = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { exitedFlag = true; resolve(); }));
  child.once('error', (e) => { out += `\nspawn error: ${e.message}`; exitedFlag = true; });
  const halt = async (): Promise<void> => {
    if (!exitedFlag) {
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  };
  const stop = async (): Promise<void> => {
    await halt();
    await rm(dir, { recursive: true, force: true });
  };
  const restart = async (): Promise<Server> => {
    await halt();
    return start(name, command, args, readyPath, ready, { dir, port });
  };
  try {
    await waitUntil(name, async () => (ready ? ready(out) : true) && httpOk(base + readyPath), 30_000, () => out, () => exitedFlag);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, base, port, dir, pid: child.pid ?? -1, output: () => out, stop, restart };
}

/** `extra`: more VictoriaMetrics flags (e.g. -dedup.minScrapeInterval=1ms). */
export function startVictoriaMetrics(extra: string[] = []): Promise<Server> {
  return start('victoria-metrics', 'victoria-metrics', (dir, port) => [
    `-storageDataPath=${dir}`,
    `-httpListenAddr=127.0.0.1:${port}`,
    '-retentionPeriod=100y',
    '-loggerLevel=ERROR',
    ...extra,
  ], '/health');
}

/** vmagent accepting InfluxDB /write and remote-writing to `remoteWriteUrl`. */
export function startVmagent(remoteWriteUrl: string): Promise<Server> {
  return start('vmagent', 'vmagent', (dir, port) => [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-remoteWrite.url=${remoteWriteUrl}`,
    `-remoteWrite.tmpDataPath=${dir}`,
    '-loggerLevel=ERROR',
  ], '/health');
}

export interface SentioOptions {
  token: string;
  /** 'blackhole', 'embedded' (DuckDB under the server's temp dir) or a VictoriaMetrics remote-write URL. */
  sink: 'blackhole' | 'embedded' | { victoriametrics: string };
  workers?: number;
  inlineMaxBytes?: number;
  inlineMaxLoad?: number;
  /** More `sentio start` flags. */
  args?: string[];
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Start node with the heap flag of `npm start` (src/heap.ts); default true. */
  nodeHeapFlag?: boolean;
}

export function sentioBuilt(): boolean {
  return existsSync(join(repoRoot, 'dist/cli.js')) && existsSync(join(repoRoot, 'native/napi/index.cjs'));
}

/** The built gateway (`npm run build` first): node dist/cli.js start ... */
export function startSentio(opts: SentioOptions): Promise<Server> {
  return start('sentio', process.execPath, (dir, port) => {
    const args = [...(opts.nodeHeapFlag === false ? [] : [NODE_HEAP_FLAG]), ...(opts.nodeArgs ?? []), join(repoRoot, 'dist/cli.js'), 'start', '--listen', `127.0.0.1:${port}`, '--token', opts.token, '--data-dir', dir, '--log-level', 'warn'];
    if (opts.sink === 'blackhole') args.push('--sink', 'blackhole');
    else if (opts.sink !== 'embedded') args.push('--victoriametrics', opts.sink.victoriametrics);
    if (opts.workers !== undefined) args.push('--workers', String(opts.workers));
    if (opts.inlineMaxBytes !== undefined) args.push('--inline-max-bytes', String(opts.inlineMaxBytes));
    if (opts.inlineMaxLoad !== undefined) args.push('--inline-max-load', String(opts.inlineMaxLoad));
    if (opts.args) args.push(...opts.args);
    return args;
  }, '/healthz', (out) => out.includes('sentio listening on'));
}

/** A counter of VictoriaMetrics' (or vmagent's) own /metrics, summed over the series whose labels contain `labelFilter`. */
export async function scrapeCounter(base: string, name: string, labelFilter = ''): Promise<number> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

/** Rows VictoriaMetrics received through one insert API (influx, promremotewrite, ...). */
export function vmRowsInserted(vmBase: string, type: string): Promise<number> {
  return scrapeCounter(vmBase, 'vm_rows_inserted_total', `type="${type}"`);
}

/** Flushes VictoriaMetrics' in-memory buffers so queries see every sample. */
export async function vmForceFlush(vmBase: string): Promise<void> {
  const res = await fetch(`${vmBase}/internal/force_flush`, { signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
}

/** The first value of an instant query (NaN when the result is empty). */
export async function vmQueryScalar(vmBase: string, query: string): Promise<number> {
  const res = await fetch(`${vmBase}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { data?: { result?: Array<{ value?: [number, string] }> } };
  const v = body.data?.result?.[0]?.value?.[1];
  return v === undefined ? Number.NaN : Number(v);
}

/** CPU time (user + system, all threads) a process has used so far, in seconds; NaN when unreadable (not Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name: utime is the 14th field, stime the 15th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;
