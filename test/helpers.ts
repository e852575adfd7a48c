// Starts an in-process gateway for end-to-end tests.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { silentLogger } from '../src/log/index.js';
import { QueuedSink } from '../src/queue/sink.js';

export const TOKEN = 'test-token-0123456789';

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
  const { config } = loadConfig(['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN, '--workers', '2', ...args], {});
  const gateway = await startGateway(config, silentLogger);
  const url = `http://127.0.0.1:${gateway.port}`;
  return {
    gateway,
    url,
    wsUrl: `ws://127.0.0.1:${gateway.port}/ws`,
    dataDir,
    auth: { authorization: `Token ${TOKEN}` },
    async delivered() {
      if (gateway.sink instanceof QueuedSink) await gateway.sink.queue.drained();
    },
    async close() {
      await gateway.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
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
