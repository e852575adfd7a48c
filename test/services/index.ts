// Starts real servers for tests, each in a temp dir on a free loopback port,
// and stops them (and removes their data) when the test is done. The
// binaries come from Debian's packages; scripts/test.mjs installs them.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns true; fails after `timeoutMs` with what the process printed. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000, output?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms${output ? `:\n${output()}` : ''}`);
    await sleep(50);
  }
}

export interface Service {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>;
}

export async function spawnService(name: string, command: string, args: (dir: string, port: number) => string[], ready: (url: string) => Promise<boolean>, existing?: { dir: string; port: number }): Promise<Service> {
  const dir = existing?.dir ?? (await mkdtemp(join(tmpdir(), `sentio-${name}-`)));
  const port = existing?.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  const child = spawn(command, args(dir, port), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  await waitFor(name, async () => {
    if (spawnError) throw Object.assign(new Error(`${name}: ${spawnError.message}`), { fatal: true });
    return ready(url);
  }, 30_000, () => out).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw spawnError ?? e;
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    url,
    port,
    dir,
    process: child,
    output: () => out,
    stop,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface VictoriaMetrics extends Service {
  writeUrl: string;
  /** Makes recent writes searchable (VictoriaMetrics buffers them for about a second). */
  flush(): Promise<void>;
  /** Every series matching `match` with its samples, from /api/v1/export, sorted canonically. */
  export(match?: string): Promise<ExportedSeries[]>;
  /** Restarts the server on the same port and data directory. */
  restart(): Promise<VictoriaMetrics>;
}

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/** A canonical, comparable key of a label set. */
export function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `extraArgs` are further VictoriaMetrics flags, kept across restart(). */
export async function startVictoriaMetrics(existing?: { dir: string; port: number }, extraArgs: string[] = []): Promise<VictoriaMetrics> {
  const svc = await spawnService(
    'victoria-metrics',
    'victoria-metrics',
    (dir, port) => [
      `-storageDataPath=${dir}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      '-retentionPeriod=100y',
      '-search.disableCache',
      '-loggerLevel=ERROR',
      '-search.latencyOffset=0s',
      ...extraArgs,
    ],
    async (url) => (await fetch(`${url}/health`)).ok,
    existing,
  );
  const vm: VictoriaMetrics = {
    ...svc,
    writeUrl: `${svc.url}/api/v1/write`,
    async flush() {
      const res = await fetch(`${svc.url}/internal/force_flush`);
      await res.arrayBuffer();
    },
    async export(match = '{__name__=~".+"}') {
      await vm.flush();
      // An explicit range: samples stamped "now" by the server are otherwise at the edge of export's default end.
      const end = String(Math.ceil(Date.now() / 1000) + 3600);
      const res = await fetch(`${svc.url}/api/v1/export?${new URLSearchParams({ 'match[]': match, start: '0', end })}`);
      if (!res.ok) throw new Error(`export: HTTP ${res.status}: ${await res.text()}`);
      const text = await res.text();
      const series = text
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ExportedSeries);
      for (const s of series) {
        const order = s.timestamps.map((t, i) => i).sort((a, b) => s.timestamps[a]! - s.timestamps[b]! || s.values[a]! - s.values[b]!);
        s.timestamps = order.map((i) => s.timestamps[i]!);
        s.values = order.map((i) => s.values[i]!);
      }
      return series.sort((a, b) => (seriesKey(a.metric) < seriesKey(b.metric) ? -1 : 1));
    },
    async restart() {
      await svc.stop();
      return startVictoriaMetrics({ dir: svc.dir, port: svc.port }, extraArgs);
    },
  };
  return vm;
}
