// The fleet benchmark: many WebSocket devices, each with its own device
// token, each sending a small frame every second, into the durable queue →
// VictoriaMetrics, measured end to end.
//
//   node --import tsx load-tests/fleet.ts [--devices 10000] [--duration 60] [--lines 10]
//        [--interval-ms 1000] [--restart-seconds 20] [--batch-seconds 20] [--profile DIR]
//
// 1. Starts VictoriaMetrics (deduplication on, as docs/guarantees.md asks for
//    exact counts) and Sentio (`npm run build` first) on it, default queue.
// 2. Creates the devices through the API (one device token each).
// 3. Starts the load in a process of its own (load-tests/fleet-load.ts),
//    which opens one connection per device (`?client=` for resume); Sentio's
//    RSS before and after gives the bytes per idle connection.
// 4. Steady state for --duration: every device sends --lines lines (4 samples
//    each) every --interval-ms; ack latency p50/p99/max, Sentio's CPU per
//    million samples and RSS.
// 5. Restart: sending goes on for --restart-seconds while Sentio is stopped
//    (SIGTERM) and started again on the same port and data; every device
//    reconnects and resends what was not acknowledged, with its seq. Reports
//    the time until all are back and nothing is pending.
// 6. Every acknowledged sample must be in VictoriaMetrics exactly once:
//    sum(count_over_time(...)) of the fleet's series equals the acked samples.
// 7. The same samples per second as 1,000-line frames (one device in a
//    hundred sending 100× the lines) for --batch-seconds: Sentio's CPU per
//    sample of the small frames over that of the large ones (target ≤ 2×).

import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { FromLoad, RunStats, ToLoad } from './fleet-load.js';
import { type Server, cpuSeconds, onPath, scrapeCounter, sentioBuilt, startSentio, startVictoriaMetrics, vmForceFlush, vmQueryScalar } from './servers.js';
import { isMain } from './util.js';

export interface FleetOptions {
  devices: number;
  duration: number;
  lines: number;
  intervalMs: number;
  restartSeconds: number;
  batchSeconds: number;
  /** Write a CPU profile of Sentio (node --cpu-prof) into this directory. */
  profileDir?: string;
  log: (msg: string) => void;
}

export interface FleetResult {
  devices: number;
  createSeconds: number;
  connectSeconds: number;
  connectFailures: string[];
  idleRssBefore: number;
  idleRssAfter: number;
  bytesPerIdleConnection: number;
  steady: RunStats & { seconds: number; samplesPerSec: number; cpuPerMSamples: number; rssPeak: number };
  restart: (RunStats & { restartSeconds: number }) | undefined;
  ackedSamples: number;
  storedSamples: number;
  batch: { samplesPerSec: number; cpuPerMSamples: number; p99Ms: number } | undefined;
  vmCpuPerMSamples: number;
}

const TOKEN = 'fleet-bench-token-0123';
const ADMIN = 'fleet-admin-password-0123';

/** The load process, spoken to over IPC. */
class Load {
  private readonly child = fork(new URL('./fleet-load.ts', import.meta.url), { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private waiting: ((m: FromLoad) => void) | undefined;

  constructor() {
    this.child.on('message', (m: FromLoad) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.(m);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  ask<T extends FromLoad['type']>(m: ToLoad, want: T): Promise<Extract<FromLoad, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r.type === want ? resolve(r as Extract<FromLoad, { type: T }>) : reject(new Error(r.type === 'error' ? r.message : `unexpected ${r.type}`)));
      this.child.send(m);
    });
  }

  close(): void {
    this.child.send({ type: 'close' } satisfies ToLoad);
  }
}

async function rss(base: string): Promise<number> {
  return scrapeCounter(base, 'process_resident_memory_bytes');
}

async function createDevices(base: string, n: number, log: (m: string) => void): Promise<string[]> {
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: ADMIN }) });
  const { accessToken } = (await login.json()) as { accessToken: string };
  const tokens = new Array<string>(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) {
      const res = await fetch(`${base}/api/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}` },
        body: JSON.stringify({ name: `fleet-${i}` }),
      });
      const body = (await res.json()) as { token?: string; message?: string };
      if (body.token === undefined) throw new Error(`device ${i}: HTTP ${res.status}: ${body.message}`);
      tokens[i] = body.token;
      if ((i + 1) % 2000 === 0) log(`fleet: ${i + 1} devices created`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return tokens;
}

/** Samples VictoriaMetrics holds of the fleet (deduplicated), once its count stops growing. */
async function storedSamples(vm: Server, expected: number): Promise<number> {
  let last = -1;
  for (let i = 0; i < 120; i++) {
    await vmForceFlush(vm.base);
    const n = await vmQueryScalar(vm.base, 'sum(count_over_time({__name__=~"fleet_.*"}[1d]))');
    if (n === expected || (n === last && i > 5)) return n;
    last = n;
    await sleep(1000);
  }
  return last;
}

export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  if (!sentioBuilt()) throw new Error('run npm run build first (dist/cli.js and the native addon)');
  if (!onPath('victoria-metrics')) throw new Error('the Debian package victoria-metrics is not installed');
  const vm = await startVictoriaMetrics(['-dedup.minScrapeInterval=1ms', '-search.maxUniqueTimeseries=5000000', '-search.latencyOffset=0s']);
  let sentio: Server | undefined;
  let load: Load | undefined;
  try {
    sentio = await startSentio({
      token: TOKEN,
      sink: { victoriametrics: `${vm.base}/api/v1/write` },
      // Resume memory sized to the fleet (the default remembers 1,000 client ids).
      args: ['--admin-password', ADMIN, '--api-rate-limit', '0', '--max-series-per-minute', '0', '--self-metrics-interval-s', '0', '--ws-resume-clients', String(Math.max(1000, 2 * o.devices)), '--ws-resume-window', '64', '--shutdown-grace-ms', '1000'],
      ...(o.profileDir !== undefined ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] } : {}),
    });
    let t = performance.now();
    const tokens = await createDevices(sentio.base, o.devices, o.log);
    const createSeconds = (performance.now() - t) / 1000;
    o.log(`fleet: ${o.devices} devices in ${createSeconds.toFixed(1)} s`);

    await sleep(3000);
    const idleRssBefore = await rss(sentio.base);
    load = new Load();
    const t0 = Date.now() - 3_600_000;
    const wsUrl = `ws://127.0.0.1:${sentio.port}/ws`;
    const connected = await load.ask({ type: 'connect', url: wsUrl, tokens, lines: o.lines, intervalMs: o.intervalMs, t0 }, 'connected');
    o.log(`fleet: ${o.devices} connections open in ${connected.seconds.toFixed(1)} s${connected.failures.length ? `, failures: ${connected.failures.join('; ')}` : ''}`);
    await sleep(2000);
    const idleRssAfter = await rss(sentio.base);

    o.log(`fleet: steady state for ${o.duration} s`);
    const cpu0 = cpuSeconds(sentio.pid);
    const vmCpu0 = cpuSeconds(vm.pid);
    t = performance.now();
    let rssPeak = 0;
    const watcher = setInterval(() => void rss(sentio!.base).then((r) => (rssPeak = Math.max(rssPeak, r)), () => undefined), 2000);
    const steadyRun = await load.ask({ type: 'run', seconds: o.duration, measure: true }, 'ran');
    clearInterval(watcher);
    const seconds = (performance.now() - t) / 1000;
    const samples = steadyRun.stats.acks * o.lines * 4;
    const steady = {
      ...steadyRun.stats,
      seconds,
      samplesPerSec: samples / seconds,
      cpuPerMSamples: (cpuSeconds(sentio.pid) - cpu0) / (samples / 1e6),
      rssPeak,
    };
    const vmCpuPerMSamples = (cpuSeconds(vm.pid) - vmCpu0) / (samples / 1e6);

    let restart: FleetResult['restart'];
    if (o.restartSeconds > 0) {
      o.log(`fleet: restarting Sentio while the devices keep sending (${o.restartSeconds} s)`);
      const running = load.ask({ type: 'run', seconds: o.restartSeconds, measure: false }, 'ran');
      await sleep(Math.min(3000, (o.restartSeconds * 1000) / 4));
      const r0 = performance.now();
      sentio = await sentio.restart();
      const restartSeconds = (performance.now() - r0) / 1000;
      restart = { ...(await running).stats, restartSeconds };
    }

    const report = await load.ask({ type: 'report' }, 'report');
    o.log('fleet: waiting for the queue to drain, then counting what VictoriaMetrics holds');
    // A gateway catching up may answer /metrics late: a failed scrape counts as not drained yet.
    const queued = (): Promise<number> => scrapeCounter(sentio!.base, 'sentio_queue_batches').catch(() => Number.POSITIVE_INFINITY);
    for (let i = 0; i < 600 && (await queued()) > 0; i++) await sleep(500);
    const stored = await storedSamples(vm, report.ackedSamples);

    let batch: FleetResult['batch'];
    if (o.batchSeconds > 0) {
      load.close();
      load = undefined;
      // The same samples per second as 1,000-line frames: a hundredth of the devices, 100× the lines.
      const bigLoad = new Load();
      load = bigLoad;
      const devices = Math.max(1, Math.round(o.devices / 100));
      await bigLoad.ask({ type: 'connect', url: wsUrl, tokens: tokens.slice(0, devices), lines: o.lines * 100, intervalMs: o.intervalMs, t0: t0 - 3_600_000 }, 'connected');
      o.log(`fleet: the same rate as ${devices} devices × ${o.lines * 100}-line frames for ${o.batchSeconds} s`);
      const c0 = cpuSeconds(sentio.pid);
      const b0 = performance.now();
      const big = await bigLoad.ask({ type: 'run', seconds: o.batchSeconds, measure: true }, 'ran');
      const bs = (performance.now() - b0) / 1000;
      const bSamples = big.stats.acks * o.lines * 100 * 4;
      batch = { samplesPerSec: bSamples / bs, cpuPerMSamples: (cpuSeconds(sentio.pid) - c0) / (bSamples / 1e6), p99Ms: big.stats.p99Ms };
    }
    return {
      devices: o.devices,
      createSeconds,
      connectSeconds: connected.seconds,
      connectFailures: connected.failures,
      idleRssBefore,
      idleRssAfter,
      bytesPerIdleConnection: (idleRssAfter - idleRssBefore) / o.devices,
      steady,
      restart,
      ackedSamples: report.ackedSamples,
      storedSamples: stored,
      batch,
      vmCpuPerMSamples,
    };
  } finally {
    load?.close();
    await sentio?.stop();
    await vm.stop();
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The result as lines for a terminal or bench/RESULTS.md. */
export function describeFleet(r: FleetResult): string[] {
  const s = r.steady;
  const lines = [
    `devices: ${r.devices} (created in ${r.createSeconds.toFixed(1)} s, connected in ${r.connectSeconds.toFixed(1)} s${r.connectFailures.length ? `, ${r.connectFailures.length} failures` : ''})`,
    `idle: Sentio RSS ${mib(r.idleRssBefore)} → ${mib(r.idleRssAfter)} with every connection open: ${(r.bytesPerIdleConnection / 1024).toFixed(1)} KiB per idle connection`,
    `steady state ${s.seconds.toFixed(0)} s: ${s.framesSent} frames, ${s.acks} acks, ${(s.samplesPerSec / 1000).toFixed(0)} k samples/s; ack latency p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms, max ${s.maxMs.toFixed(0)} ms (target p99 < 100 ms: ${s.p99Ms < 100 ? 'met' : 'MISSED'}); errors ${JSON.stringify(s.errors)}, pending ${s.pending}, unexpected ${s.unexpected}`,
    `Sentio CPU ${s.cpuPerMSamples.toFixed(3)} s per M samples (${((s.cpuPerMSamples * s.samplesPerSec) / 1e6).toFixed(2)} cores), RSS peak ${mib(s.rssPeak)}; VictoriaMetrics ${r.vmCpuPerMSamples.toFixed(3)} s per M samples`,
  ];
  if (r.restart) {
    const x = r.restart;
    lines.push(
      `restart: Sentio back in ${x.restartSeconds.toFixed(1)} s; ${x.disconnects} connections lost, all back and nothing pending ${x.reconnectSeconds.toFixed(1)} s after the first loss (target ≤ 15 s: ${x.reconnectSeconds <= 15 && x.pending === 0 ? 'met' : 'MISSED'}); ${x.duplicateAcks} duplicate acks, pending ${x.pending}, errors ${JSON.stringify(x.errors)}`,
    );
  }
  lines.push(`VictoriaMetrics holds ${r.storedSamples} samples of ${r.ackedSamples} acknowledged (deduplicated): ${r.storedSamples === r.ackedSamples ? 'none missing, none twice' : `MISMATCH (${r.storedSamples - r.ackedSamples})`}`);
  if (r.batch) {
    const ratio = s.cpuPerMSamples / r.batch.cpuPerMSamples;
    lines.push(
      `same rate in ${r.devices / 100 >= 1 ? Math.round(r.devices / 100) : 1} connections × 100× larger frames: ${(r.batch.samplesPerSec / 1000).toFixed(0)} k samples/s, ${r.batch.cpuPerMSamples.toFixed(3)} CPU s per M samples, p99 ${r.batch.p99Ms.toFixed(0)} ms; small frames cost ${ratio.toFixed(2)}× per sample (target ≤ 2×: ${ratio <= 2 ? 'met' : 'MISSED'})`,
    );
  }
  return lines;
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '10000' },
      duration: { type: 'string', default: '60' },
      lines: { type: 'string', default: '10' },
      'interval-ms': { type: 'string', default: '1000' },
      'restart-seconds': { type: 'string', default: '20' },
      'batch-seconds': { type: 'string', default: '20' },
      profile: { type: 'string' },
    },
  });
  const r = await runFleet({
    devices: Number(values.devices),
    duration: Number(values.duration),
    lines: Number(values.lines),
    intervalMs: Number(values['interval-ms']),
    restartSeconds: Number(values['restart-seconds']),
    batchSeconds: Number(values['batch-seconds']),
    ...(values.profile !== undefined ? { profileDir: values.profile } : {}),
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(`${describeFleet(r).join('\n')}\n`);
}
