// Does a live dashboard slow ingestion? Ingest samples/s over HTTP /write
// (autocannon, the load-tests corpus: 1,000 lines and 4,000 samples a
// request, 100 devices, 400 series) against a gateway in a child process
// (src/live/harness.ts: worker pool, blackhole sink, LiveHub), in one run:
//
//   no hub          the gateway without a LiveHub (baseline)
//   no subscriber   a LiveHub nobody subscribes to (the tap is off)
//   1 active        one client subscribed to every series, reading
//   10 active       ten such clients
//   1 paused        one client that never reads (its socket paused), with 20
//                   subscriptions to every series (so the kernel's socket
//                   buffers fill within seconds and the hub has to skip it,
//                   then drop it), beside one active client
//
// The cases run in rounds, back to back, and the table shows the median.
//
// Lines carry no timestamp, so each point is "now" and every batch changes
// every series: the subscribers get the full maxRate (10/s) of 400 series.
//
//   node --import tsx bench/live.ts [--duration S] [--rounds R] [--connections N] [--workers N]
//
// Not a test: it prints a table. The load generator shares the machine
// with the gateway; compare rows of one run, not absolute figures. The
// gateway's CPU time per million samples is the steadier figure when the
// machine is busy with other work.

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { makeCorpus } from '../load-tests/corpus.js';
import { runHttpLoad } from '../load-tests/http.js';
import { cpuSeconds } from '../load-tests/servers.js';
import { startLiveGateway } from '../src/live/harness.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    serve: { type: 'boolean', default: false },
    'no-hub': { type: 'boolean', default: false },
  },
});

/** Child mode: a gateway that accepts any /live token; prints its URLs as one JSON line. */
async function serve(): Promise<void> {
  const g = await startLiveGateway({
    hub: { maxRate: 10, verify: async () => ({ userId: 'bench', username: 'bench', role: 'viewer', expiresAtMs: Date.now() + 3_600_000 }) },
    workers: Number(args.workers),
    withoutHub: args['no-hub'],
  });
  process.stdout.write(`${JSON.stringify({ url: g.url, liveUrl: g.liveUrl })}\n`);
  process.on('SIGTERM', () => {
    g.close().then(() => process.exit(0));
  });
}

interface Server {
  child: ChildProcess;
  url: string;
  liveUrl: string;
}

async function startServer(noHub: boolean): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', '--workers', args.workers!, ...(noHub ? ['--no-hub'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening`)));
  });
  return { child, ...(JSON.parse(first) as { url: string; liveUrl: string }) };
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

interface Dashboard {
  ws: WebSocket;
  updates: number;
  closeCode: number | undefined;
}

/** A client subscribed to every series `subscriptions` times (distinct topics), paused or reading. */
async function dashboard(liveUrl: string, paused: boolean, subscriptions = 1): Promise<Dashboard> {
  const ws = new WebSocket(`${liveUrl}?access_token=bench`);
  const d: Dashboard = { ws, updates: 0, closeCode: undefined };
  ws.on('close', (code) => (d.closeCode = code));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let pending = subscriptions;
  const subscribed = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; series?: unknown[] };
      if (m.type === 'subscribed' && --pending === 0) resolve();
      if (m.type === 'data') d.updates += m.series!.length;
    });
  });
  for (let k = 0; k < subscriptions; k++) {
    const selector = k === 0 ? '{__name__=~"cpu_.*"}' : `{__name__=~"cpu_.*",host!="none-${k}"}`;
    ws.send(JSON.stringify({ type: 'subscribe', id: `s${k}`, selector }));
  }
  await subscribed;
  if (paused) ws.pause();
  return d;
}

async function scrape(url: string, names: string[]): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const n of names) {
    const line = text.split('\n').find((l) => l.startsWith(`${n} `));
    out[n] = line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

const FRAMES = 'sentio_live_frames_sent_total';
const SKIPPED = 'sentio_live_updates_skipped_total{reason="backpressure"}';
const DROPPED = 'sentio_live_clients_dropped_total{reason="backpressure"}';

interface Case {
  name: string;
  hub: boolean;
  /** Opens the case's clients. */
  clients(liveUrl: string): Promise<Dashboard[]>;
}

const cases: Case[] = [
  { name: 'no hub', hub: false, clients: async () => [] },
  { name: 'no subscriber', hub: true, clients: async () => [] },
  { name: '1 active', hub: true, clients: async (u) => [await dashboard(u, false)] },
  { name: '10 active', hub: true, clients: async (u) => Promise.all(Array.from({ length: 10 }, () => dashboard(u, false))) },
  { name: '1 paused (20 subs) + 1 active', hub: true, clients: async (u) => [await dashboard(u, false), await dashboard(u, true, 20)] },
];

interface Sample {
  samplesPerSec: number;
  /** The gateway process's CPU seconds per million samples accepted. */
  cpuPerM: number;
  p99Ms: number;
  errors: number;
  frames: number;
  received: number;
  skipped: number;
  dropped: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const duration = Number(args.duration);
  const connections = Number(args.connections);
  const rounds = Number(args.rounds);
  // The shared corpus without timestamps: every point is "now".
  const base = makeCorpus();
  const corpus = { ...base, bodies: base.bodies.map((b) => Buffer.from(b.toString('utf8').replace(/ \d+$/gm, ''))) };
  const servers = { hub: await startServer(false), plain: await startServer(true) };
  const results = new Map<string, Sample[]>(cases.map((c) => [c.name, []]));
  try {
    for (const s of [servers.hub, servers.plain]) await runHttpLoad({ url: `${s.url}/write`, connections, duration: 2, corpus }); // warm-up
    // Rounds of every case back to back: the machine's noise spreads over all of them.
    for (let round = 1; round <= rounds; round++) {
      for (const c of cases) {
        const s = c.hub ? servers.hub : servers.plain;
        const clients = await c.clients(s.liveUrl);
        const before = await scrape(s.url, [FRAMES, SKIPPED, DROPPED]);
        const cpu0 = cpuSeconds(s.child.pid!);
        const r = await runHttpLoad({ url: `${s.url}/write`, connections, duration, corpus });
        const cpu = cpuSeconds(s.child.pid!) - cpu0;
        const after = await scrape(s.url, [FRAMES, SKIPPED, DROPPED]);
        results.get(c.name)!.push({
          samplesPerSec: r.samplesPerSec,
          cpuPerM: cpu / ((r.samplesPerSec * r.seconds) / 1e6),
          p99Ms: r.p99Ms,
          errors: r.non2xx + r.errors,
          frames: after[FRAMES]! - before[FRAMES]!,
          received: clients.reduce((n, d) => n + d.updates, 0),
          skipped: after[SKIPPED]! - before[SKIPPED]!,
          dropped: after[DROPPED]! - before[DROPPED]!,
        });
        const closed = clients.filter((d) => d.closeCode !== undefined).map((d) => d.closeCode);
        process.stderr.write(`bench live: round ${round} ${c.name}: ${(r.samplesPerSec / 1e6).toFixed(2)} M samples/s${closed.length ? `, closed by the server: ${closed.join(', ')}` : ''}\n`);
        for (const d of clients) d.ws.terminate();
        // The hub forgets a client's topics when its close arrives.
        await waitFor(async () => (await scrape(s.url, ['sentio_live_subscribers'])).sentio_live_subscribers === 0);
      }
    }
  } finally {
    await Promise.all([stopServer(servers.hub), stopServer(servers.plain)]);
  }

  const baseline = median(results.get('no hub')!.map((x) => x.samplesPerSec));
  const baseCpu = median(results.get('no hub')!.map((x) => x.cpuPerM));
  const head = ['case', 'samples/s (median)', 'vs no hub', 'each round', 'gateway CPU s / M samples', 'vs no hub', 'p99 ms', 'errors', 'frames sent', 'updates received', 'updates skipped', 'clients dropped'];
  const rows = cases.map((c) => {
    const xs = results.get(c.name)!;
    const sps = median(xs.map((x) => x.samplesPerSec));
    const sum = (f: (x: Sample) => number): string => String(xs.reduce((n, x) => n + f(x), 0));
    return [
      c.name,
      `${(sps / 1e6).toFixed(2)} M`,
      `${(sps / baseline).toFixed(2)}×`,
      xs.map((x) => (x.samplesPerSec / 1e6).toFixed(2)).join(' '),
      median(xs.map((x) => x.cpuPerM)).toFixed(3),
      `${(median(xs.map((x) => x.cpuPerM)) / baseCpu).toFixed(2)}×`,
      String(median(xs.map((x) => x.p99Ms))),
      sum((x) => x.errors),
      sum((x) => x.frames),
      sum((x) => x.received),
      sum((x) => x.skipped),
      sum((x) => x.dropped),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(`\n${rounds} rounds of ${duration} s per case (counts summed over rounds), ${connections} connections, ${corpus.samplesPerBody} samples a request, ${args.workers} parser worker(s), maxRate 10/s, 400 series per subscription.`);
}

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

if (args.serve) await serve();
else await main();
