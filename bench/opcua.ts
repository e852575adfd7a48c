// OPC-UA connector benchmark: 10,000 monitored items changing every second on
// a node-opcua OPCUAServer in another process (test/fixtures/opcua-server.mjs,
// `bulk`), read by Sentio's OpcuaConnector in this process into a port that
// counts what it is given (the connector, its decoding and the batcher; not
// the pipeline behind them, the native mapping and the queue).
// Prints this process's CPU seconds per second and samples per second over
// the measured window, after the subscription is up and a warm-up.
//
//   node --import tsx bench/opcua.ts [items=10000] [seconds=20]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import client from 'prom-client';
import { OpcuaConfig } from '../src/connectors/opcua/config.js';
import { OpcuaConnector } from '../src/connectors/opcua/index.js';
import { ConnectorMetrics, ConnectorStatus } from '../src/connectors/status.js';
import { silentLogger } from '../src/log/index.js';
import type { IngestResult, Readings } from '../src/native/types.js';
import type { IngestPort } from '../src/pipeline/port.js';
import { waitFor } from '../test/services/index.js';
import { startOpcuaServer } from '../test/services/opcua.js';

const items = Number(process.argv[2] ?? 10_000);
const seconds = Number(process.argv[3] ?? 20);
const WARM_UP_S = 5;

let samples = 0;
const port: IngestPort = {
  async writeBytes(): Promise<IngestResult> {
    throw new Error('not used');
  },
  async writeReadings(_p: string, r: Readings): Promise<IngestResult> {
    samples += r.values.length;
    return { lines: r.values.length, rejected: 0, samples: r.values.length, skippedStrings: 0, errors: [], outputs: [], unroutedSamples: 0, rejectedLineBytes: 0, rejectedTags: 0 };
  },
  overloaded: () => false,
};

const server = await startOpcuaServer({ bulk: items, tickMs: 3_600_000 });
const dataDir = await mkdtemp(join(tmpdir(), 'sentio-bench-opcua-'));
const status = new ConnectorStatus('bench', 'opcua', new ConnectorMetrics(new client.Registry()), 'bench:1');
const cfg = OpcuaConfig.parse({ endpoint: server.endpoint, publishingIntervalMs: 1000, items: Array.from({ length: items }, (_, i) => ({ name: `v${i}`, nodeId: `ns=1;s=V${i}.g1` })) });
const connector = new OpcuaConnector(cfg, { name: 'bench', port, status, log: silentLogger, dataDir });
try {
  const t0 = Date.now();
  await connector.start();
  await waitFor('the first values of every item', async () => samples >= items, 120_000, () => JSON.stringify(status.view()));
  console.log(`opcua bench: ${items} items subscribed and first values in ${Date.now() - t0} ms`);
  await sleep(WARM_UP_S * 1000);
  const cpu0 = process.cpuUsage();
  const s0 = samples;
  const w0 = performance.now();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - w0) / 1000;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(`opcua bench: ${items} monitored items changing every second, ${seconds} s measured`);
  console.log(`| items | samples/s | Sentio CPU-s per s | µs CPU per sample | state |`);
  console.log(`| ---: | ---: | ---: | ---: | --- |`);
  console.log(`| ${items} | ${Math.round((samples - s0) / wall)} | ${(cpuS / wall).toFixed(3)} | ${((cpuS * 1e6) / Math.max(1, samples - s0)).toFixed(1)} | ${status.state} |`);
} finally {
  await connector.stop();
  await server.destroy();
  await rm(dataDir, { recursive: true, force: true });
}
