// Starts an in-process gateway for end-to-end tests.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { silentLogger } from '../src/log/index.js';
import { native } from '../src/native/index.js';
import type { IngestResult, Readings } from '../src/native/types.js';
import type { IngestPort } from '../src/pipeline/port.js';
import { QueuedSink } from '../src/queue/sink.js';
import { type ExportedSeries, type Service, spawnService, type VictoriaMetrics, waitFor } from './services/index.js';

export const TOKEN = 'test-token-0123456789';
/** The password of the user `admin` on test gateways. */
export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestGateway {
  gateway: Gateway;
  url: string;
  wsUrl: string;
  dataDir: string;
  auth: Record<string, string>;
  /** Resolves once everything acknowledged so far has left the durable queue (at once without one). */
  delivered(): Promise<void>;
  close(): Promise<void>;
}

/** A gateway on a free loopback port with a temp data dir; `args` are `sentio start` flags. */
export async function startTestGateway(args: string[] = []): Promise<TestGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-gw-'));
  const { config } = loadConfig(['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN, '--workers', '2', '--admin-password', ADMIN_PASSWORD, ...args], {});
  const gateway = await startGateway(config, silentLogger);
  const url = `http://127.0.0.1:${gateway.port}`;
  return {
    gateway,
    url,
    wsUrl: `ws://127.0.0.1:${gateway.port}/ws`,
    dataDir,
    auth: { authorization: `Token ${TOKEN}` },
    async delivered() {
      for (const sink of gateway.sinks) if (sink instanceof QueuedSink) await sink.queue.drained();
    },
    async close() {
      await gateway.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The CLI's entry point, run with `node --import tsx`. */
export const sentioCli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/**
 * `sentio start` as a child process (it can be signalled, killed, restarted)
 * on a free loopback port with a temp data dir (or `existing`'s), the test
 * token and admin password; ready once /healthz answers 200.
 */
export function startSentioProcess(args: string[] = [], existing?: { dir: string; port: number }): Promise<Service> {
  return spawnService(
    'sentio',
    process.execPath,
    (dir, port) => ['--import', 'tsx', sentioCli, 'start', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--token', TOKEN, '--admin-password', ADMIN_PASSWORD, '--log-level', 'warn', ...args],
    async (url) => (await fetch(`${url}/healthz`)).ok,
    existing,
  );
}

/** The value of one sample of a Prometheus exposition, or 0 if absent. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? total : 0;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  return res.text();
}

/** Resolves once the WebSocket is open; rejects with "upgrade refused: <status>" when the server answers the upgrade with an HTTP error. */
export function opened(ws: import('ws').WebSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export interface ApiClient {
  accessToken: string;
  refreshToken: string;
  /** A JSON request with this client's access token; resolves with status, body (parsed when JSON) and headers. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
}

/** Logs in through POST /api/auth/login (default: the admin of test gateways). */
export async function login(url: string, username = 'admin', password = ADMIN_PASSWORD): Promise<ApiClient> {
  const res = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const body = (await res.json()) as { accessToken: string; refreshToken: string; message?: string };
  if (res.status !== 200) throw new Error(`login as ${username}: HTTP ${res.status}: ${body.message}`);
  return apiClient(url, body.accessToken, body.refreshToken);
}

export function apiClient(url: string, accessToken: string, refreshToken = ''): ApiClient {
  return {
    accessToken,
    refreshToken,
    async call(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${accessToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

/** Polls VictoriaMetrics until `done` holds for what `match` exports; fails with the last export. */
export async function exported(vm: VictoriaMetrics, match: string, done: (s: ExportedSeries[]) => boolean, timeoutMs = 20_000): Promise<ExportedSeries[]> {
  let last: ExportedSeries[] = [];
  try {
    await waitFor(`VictoriaMetrics holding ${match}`, async () => done((last = await vm.export(match))), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last export: ${JSON.stringify(last).slice(0, 3000)}`);
  }
  return last;
}

/** Polls GET /api/connectors/{id} until its status' state is `want` (or `want` holds for it); fails with the last answer. */
export async function connectorState(api: ApiClient, id: string, want: string | ((state: string) => boolean), timeoutMs = 20_000, what = typeof want === 'string' ? want : 'in the state wanted'): Promise<any> {
  const ok = typeof want === 'string' ? (s: string) => s === want : want;
  let last: any;
  await waitFor(`connector ${id} ${what}`, async () => ok((last = (await api.call('GET', `/api/connectors/${id}`)).body).status?.state), timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${JSON.stringify(last)}`);
  });
  return last;
}

/** One sample a recordingPort was given. */
export interface RecordedSample {
  labels: Record<string, string>;
  ts: number;
  value: number;
}

/** An IngestPort that keeps the typed readings it is given (a connector tested without a pipeline). */
export function recordingPort(): IngestPort & { samples: RecordedSample[] } {
  const samples: RecordedSample[] = [];
  return {
    samples,
    async writeBytes(): Promise<IngestResult> {
      throw new Error('recordingPort: writeBytes is not used by typed-readings connectors');
    },
    async writeReadings(_protocol: string, r: Readings): Promise<IngestResult> {
      // The batcher passes the series as text (encodeLabels of each, joined by U+0001), or as ids of the native series table.
      const texts = r.seriesIds !== undefined ? [...r.seriesIds].map((id) => native.seriesText(id) ?? assert.fail(`series id ${id} is not registered`)) : r.seriesText?.split('\u0001');
      const series =
        texts === undefined
          ? r.series
          : texts.map((t) => {
              const f = t.split('\0');
              return Object.fromEntries(Array.from({ length: f.length / 2 }, (_, j) => [f[2 * j]!, f[2 * j + 1]!])) as Record<string, string>;
            });
      for (let i = 0; i < r.values.length; i++) samples.push({ labels: series[r.sampleSeries[i]!]!, ts: r.timestamps[i]!, value: r.values[i]! });
      return { lines: r.values.length, rejected: 0, samples: r.values.length, skippedStrings: 0, errors: [], outputs: [], unroutedSamples: 0, rejectedLineBytes: 0, rejectedTags: 0 };
    },
    overloaded: () => false,
  };
}
