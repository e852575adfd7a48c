// Does a live dashboard slow ingestion, and does a stalled one? (issue 4:
// "a stalled subscriber does not reduce ingest throughput (measured)").
// HTTP /write (autocannon, the load-tests corpus: 1,000 lines and 4,000
// samples a request, 100 devices, ~400 series a batch) against a gateway in
// a child process (src/live/harness.ts: worker pool, blackhole sink,
// LiveHub), in one run, interleaved rounds:
//
//   no hub          the gateway without a LiveHub (context)
//   (a) none        a LiveHub nobody subscribes to (the tap is off)
//   (b) active      one client with the subscription set S, reading
//   (c) + stalled   the client of (b) plus one STALLED client with the same
//                   set S (its socket paused: it never reads, so the kernel's
//                   buffers fill within a second or two and the hub has to
//                   skip it, then drop it after slowClientMs)
//
// S: `--subscriptions` selectors (default 20), each a distinct topic
// matching every cpu_* series of the corpus.
//
// The primary figure is the gateway process's CPU seconds per million
// samples accepted (its own and its worker threads', from /proc): the
// machine is a shared 2-core box and the load generator runs on it too, so
// samples/s moves with whatever else runs; CPU per sample much less. Both
// are shown, as medians over rounds, and the ratios (b)/(a) and (c)/(b) as
// the median of the per-round ratios (cases of one round run back to back).
//
// `--before DIR` (repeatable): also runs every case against the gateway of
// another checkout (DIR/bench/live.ts --serve, which must accept the same
// flags; e.g. `git archive <commit>` with node_modules and its built addon),
// interleaved with this one, so before and after come from the same run.
//
// Lines carry no timestamp, so each point is "now" and every batch changes
// every series: the subscribers get the full maxRate (10/s) of all series.
//
//   node --import tsx bench/live.ts [--duration S] [--rounds R] [--connections N] [--workers N] [--pooled] [--subscriptions K] [--before DIR]...
//
// --pooled: every batch is parsed in the worker pool (default: on the main
// thread while it is not busy, as the gateway does), the path where the
// tap's result crosses threads.
//
// Not a test: it prints tables.

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { type Corpus, makeCorpus } from '../load-tests/corpus.js';
import { runHttpLoad } from '../load-tests/http.js';
import { cpuSeconds } from '../load-tests/servers.js';
import { startLiveGateway } from '../src/live/harness.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    subscriptions: { type: 'string', default: '20' },
    before: { type: 'string', multiple: true },
    pooled: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    'no-hub': { type: 'boolean', default: false },
  },
});

/** Child mode: a gateway that accepts any /live token; prints its URLs as one JSON line. */
async function serve(): Promise<void> {
  const g = await startLiveGateway({
    hub: { maxRate: 10, verify: async () => ({ userId: 'bench', username: 'bench', role: 'viewer', expiresAtMs: Date.now() + 3_600_000 }) },
    workers: Number(args.workers),
    pooled: args.pooled,
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

/** A gateway child process from `script` (this file, or another checkout's bench/live.ts). */
async function startServer(script: string, noHub: boolean): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--serve', '--workers', args.workers!, ...(args.pooled ? ['--pooled'] : []), ...(noHub ? ['--no-hub'] : [])], {
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

/** The subscription set S: `n` distinct topics, each matching every cpu_* series. */
function subscriptionSet(n: number): string[] {
  return Array.from({ length: n }, (_, k) => (k === 0 ? '{__name__=~"cpu_.*"}' : `{__name__=~"cpu_.*",host!="none-${k}"}`));
}

/** A client subscribed to `selectors`, reading, or stalled (its socket paused once subscribed). */
async function dashboard(liveUrl: string, selectors: string[], stalled: boolean): Promise<Dashboard> {
  const ws = new WebSocket(`${liveUrl}?access_token=bench`);
  const d: Dashboard = { ws, updates: 0, closeCode: undefined };
  ws.on('close', (code) => (d.closeCode = code));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let pending = selectors.length;
  const subscribed = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; series?: unknown[] };
      if (m.type === 'subscribed' && --pending === 0) resolve();
      if (m.type === 'data') d.updates += m.series!.length;
    });
  });
  selectors.forEach((selector, k) => ws.send(JSON.stringify({ type: 'subscribe', id: `s${k}`, selector })));
  await subscribed;
  if (stalled) ws.pause(); // never reads again
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
  /** false: the gateway without a hub. */
  hub: boolean;
  /** Opens the case's clients. */
  clients(liveUrl: string): Promise<Dashboard[]>;
}

const S = subscriptionSet(Number(args.subscriptions));
const NO_HUB = 'no hub';
const A = '(a) no subscriber';
const B = '(b) 1 active, S';
const C = '(c) (b) + 1 stalled, S';
const cases: Case[] = [
  { name: NO_HUB, hub: false, clients: async () => [] },
  { name: A, hub: true, clients: async () => [] },
  { name: B, hub: true, clients: async (u) => [await dashboard(u, S, false)] },
  { name: C, hub: true, clients: async (u) => [await dashboard(u, S, false), await dashboard(u, S, true)] },
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
  closed: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Gateway {
  label: string;
  hub: Server;
  /** Without a hub (the 'no hub' case); only for this checkout. */
  plain: Server | undefined;
  results: Map<string, Sample[]>;
}

async function runCase(g: Gateway, c: Case, corpus: Corpus, round: number): Promise<void> {
  const s = c.hub ? g.hub : g.plain!;
  const duration = Number(args.duration);
  const connections = Number(args.connections);
  const clients = await c.clients(s.liveUrl);
  const before = await scrape(s.url, [FRAMES, SKIPPED, DROPPED]);
  const cpu0 = cpuSeconds(s.child.pid!);
  const r = await runHttpLoad({ url: `${s.url}/write`, connections, duration, corpus });
  const cpu = cpuSeconds(s.child.pid!) - cpu0;
  const after = await scrape(s.url, [FRAMES, SKIPPED, DROPPED]);
  const closed = clients.filter((d) => d.closeCode !== undefined).map((d) => d.closeCode);
  g.results.get(c.name)!.push({
    samplesPerSec: r.samplesPerSec,
    cpuPerM: cpu / ((r.samplesPerSec * r.seconds) / 1e6),
    p99Ms: r.p99Ms,
    errors: r.non2xx + r.errors,
    frames: after[FRAMES]! - before[FRAMES]!,
    received: clients.reduce((n, d) => n + d.updates, 0),
    skipped: after[SKIPPED]! - before[SKIPPED]!,
    dropped: after[DROPPED]! - before[DROPPED]!,
    closed: closed.length,
  });
  const last = g.results.get(c.name)!.at(-1)!;
  process.stderr.write(
    `bench live: round ${round} ${g.label} ${c.name}: ${(r.samplesPerSec / 1e6).toFixed(2)} M samples/s, ${last.cpuPerM.toFixed(3)} CPU s/M${closed.length ? `, closed by the server: ${closed.join(', ')}` : ''}\n`,
  );
  for (const d of clients) d.ws.terminate();
  // The hub forgets a client's topics when its close arrives.
  await waitFor(async () => (await scrape(s.url, ['sentio_live_subscribers'])).sentio_live_subscribers === 0);
}

/** Median over rounds of the per-round ratio x/y of a figure. */
function ratio(g: Gateway, x: string, y: string, f: (s: Sample) => number): number {
  const xs = g.results.get(x)!;
  const ys = g.results.get(y)!;
  return median(xs.map((s, i) => f(s) / f(ys[i]!)));
}

function table(g: Gateway): string {
  const head = ['case', 'CPU s / M samples', 'vs (a)', 'samples/s', 'vs (a)', 'samples/s each round', 'p99 ms', 'errors', 'frames sent', 'updates received', 'updates skipped', 'clients dropped'];
  const rows = cases
    .filter((c) => g.results.get(c.name)!.length > 0)
    .map((c) => {
      const xs = g.results.get(c.name)!;
      const sum = (f: (x: Sample) => number): string => String(xs.reduce((n, x) => n + f(x), 0));
      return [
        c.name,
        median(xs.map((x) => x.cpuPerM)).toFixed(3),
        `${ratio(g, c.name, A, (x) => x.cpuPerM).toFixed(2)}×`,
        `${(median(xs.map((x) => x.samplesPerSec)) / 1e6).toFixed(2)} M`,
        `${ratio(g, c.name, A, (x) => x.samplesPerSec).toFixed(2)}×`,
        xs.map((x) => (x.samplesPerSec / 1e6).toFixed(2)).join(' '),
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
  const cpu = (x: Sample): number => x.cpuPerM;
  const sps = (x: Sample): number => x.samplesPerSec;
  return [
    `${g.label}:`,
    '',
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    '',
    `${g.label}: (b)/(a) CPU per sample ${ratio(g, B, A, cpu).toFixed(3)}, samples/s ${ratio(g, B, A, sps).toFixed(3)}; ` +
      `(c)/(b) CPU per sample ${ratio(g, C, B, cpu).toFixed(3)}, samples/s ${ratio(g, C, B, sps).toFixed(3)} (medians of per-round ratios)`,
  ].join('\n');
}

async function main(): Promise<void> {
  const rounds = Number(args.rounds);
  // The shared corpus without timestamps: every point is "now".
  const base = makeCorpus();
  const corpus = { ...base, bodies: base.bodies.map((b) => Buffer.from(b.toString('utf8').replace(/ \d+$/gm, ''))) };
  const self = fileURLToPath(import.meta.url);
  const gateways: Gateway[] = [];
  const fresh = (): Map<string, Sample[]> => new Map(cases.map((c) => [c.name, []]));
  try {
    gateways.push({ label: 'this checkout', hub: await startServer(self, false), plain: await startServer(self, true), results: fresh() });
    for (const dir of args.before ?? []) {
      gateways.push({ label: `before (${dir})`, hub: await startServer(resolve(dir, 'bench/live.ts'), false), plain: undefined, results: fresh() });
    }
    for (const g of gateways) for (const s of [g.hub, g.plain]) if (s) await runHttpLoad({ url: `${s.url}/write`, connections: Number(args.connections), duration: 2, corpus }); // warm-up
    // Rounds of every case back to back, the checkouts alternating first:
    // the machine's noise spreads over all of them.
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? gateways : [...gateways].reverse();
      for (const g of order) for (const c of cases) if (c.hub || g.plain) await runCase(g, c, corpus, round);
    }
  } finally {
    await Promise.all(gateways.flatMap((g) => [g.hub, g.plain]).filter((s) => s !== undefined).map(stopServer));
  }
  for (const g of gateways) console.log(`${table(g)}\n`);
  const ours = gateways[0]!;
  for (const old of gateways.slice(1)) {
    const cpu = (name: string, g: Gateway): number => median(g.results.get(name)!.map((x) => x.cpuPerM));
    const extra = (g: Gateway, name: string): number => cpu(name, g) - cpu(A, g);
    console.log(
      `extra CPU s / M samples over (a): (b) ${extra(old, B).toFixed(3)} ${old.label} → ${extra(ours, B).toFixed(3)} now; (c) ${extra(old, C).toFixed(3)} ${old.label} → ${extra(ours, C).toFixed(3)} now\n`,
    );
  }
  console.log(
    `${rounds} rounds of ${args.duration} s per case and checkout (counts summed over rounds), ${args.connections} connections, ${corpus.samplesPerBody} samples a request, ` +
      `${args.workers} parser worker(s)${args.pooled ? ' (every batch pooled)' : ''}, maxRate 10/s, S = ${S.length} selectors each matching every cpu_* series.`,
  );
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
