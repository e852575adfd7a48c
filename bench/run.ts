// `npm run bench`: Sentio's throughput beside its peers, all measured in
// one run on this machine, printed as one table.
//
//   parse     native.parseLineProtocol vs a plain-TypeScript parser
//             (bench/ts-parser.ts) over the corpus, single thread; native
//             parse + encode (remote write, 2 shards); a fleet's 10-line
//             frames one per native call vs several (coalesce-max-bytes)
//   pipeline  Pipeline.ingest inline (main thread) vs in the worker pool,
//             batch sizes 1..10,000 lines, a few concurrency levels:
//             the measurement behind --inline-max-bytes; end to end, HTTP
//             /write with --inline-max-load 0, 0.9 and 1 (blackhole and →
//             VictoriaMetrics): the measurement behind --inline-max-load
//   http      /write samples/s: Sentio (blackhole), Sentio → VictoriaMetrics,
//             vmagent → the same VictoriaMetrics, VictoriaMetrics directly
//   ws        WebSocket frames with acks: Sentio blackhole and → VictoriaMetrics
//   mqtt, homeassistant, modbus  connectors (bench/connectors.ts): Zigbee2MQTT JSON
//             through Mosquitto beside the broker's own ceiling; 1,000 Home
//             Assistant entities changing once a second, Sentio's CPU; 50 Modbus
//             devices × 200 registers polled every second, Sentio's CPU
//   fleet     load-tests/fleet.ts: 10,000 devices over WebSocket into the queue →
//             VictoriaMetrics, a restart, the CPU of small frames against large
//   anomaly-quality, anomaly-throughput, anomaly-memory  the anomaly engine
//             (bench/anomaly-*.ts; only when named in --only): detection quality
//             per model over the seeded corpus, /write with scoring on vs off,
//             memory per scored series
//
// Options: --duration S (HTTP/WS runs, default 10), --only parse,pipeline,http,ws,
// --quick (2 s runs, short parse and pipeline cells), --connections N (HTTP,
// default 8), --ws-connections N (default 8), --ws-window W (default 4).
// The HTTP and WS sections need `npm run build` (dist/ and the addon) and
// the Debian package victoria-metrics (victoria-metrics, vmagent).
//
// The machine is noisy and the load generator shares it with the servers:
// read the ratios of runs made back to back, not the absolute figures.

import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Corpus, batchOfLines, makeCorpus, ownedCopy } from '../load-tests/corpus.js';
import { type HttpLoadResult, runHttpLoad } from '../load-tests/http.js';
import {
  type Server,
  cpuSeconds,
  onPath,
  repoRoot,
  sentioBuilt,
  startSentio,
  startVictoriaMetrics,
  startVmagent,
  vmForceFlush,
  vmQueryScalar,
  vmRowsInserted,
} from '../load-tests/servers.js';
import { runFleet } from '../load-tests/fleet.js';
import { type WsLoadResult, runWsLoad, wsProblems } from '../load-tests/ws.js';
import { native } from '../src/native/index.js';
import type { IngestOptions } from '../src/native/types.js';
import { NODE_HEAP_FLAG } from '../src/heap.js';
import { Pipeline } from '../src/pipeline/index.js';
import { benchHomeAssistant, benchModbus, benchMqtt } from './connectors.js';
import { LpBatch, tsParseLineProtocol } from './ts-parser.js';

interface Row {
  section: string;
  case: string;
  ours: string;
  peer: string;
  ratio: string;
  target: string;
  /** CPU seconds per million samples of each process during the run. */
  cpu: string;
}

const rows: Row[] = [];
const notes: string[] = [];
const live = new Set<Server>();

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function row(r: Partial<Row> & { section: string; case: string }): void {
  rows.push({ ours: '', peer: '', ratio: '', target: '', cpu: '', ...r });
}

const fmtM = (n: number): string => `${(n / 1e6).toFixed(2)} M`;
const fmtRatio = (a: number, b: number): string => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a');
const met = (ok: boolean): string => (ok ? 'met' : 'MISSED');

async function track(p: Promise<Server>): Promise<Server> {
  const s = await p;
  live.add(s);
  return s;
}

async function stop(s: Server | undefined): Promise<void> {
  if (!s) return;
  live.delete(s);
  await s.stop();
}

// ---------------------------------------------------------------- parse

/** Runs `fn` over the corpus bodies for `ms`, returns bytes/s and lines/s. */
function timeLoop(corpus: Corpus, ms: number, fn: (b: Buffer) => number): { bytesPerSec: number; linesPerSec: number; check: number } {
  let i = 0;
  let bytes = 0;
  let lines = 0;
  let check = 0;
  // warm-up
  for (let k = 0; k < 20; k++) check += fn(corpus.bodies[k % corpus.bodies.length]!);
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 8; k++) {
      const b = corpus.bodies[i++ % corpus.bodies.length]!;
      check += fn(b);
      bytes += b.byteLength;
      lines += corpus.linesPerBody;
    }
    t = performance.now();
  }
  const s = (t - t0) / 1000;
  return { bytesPerSec: bytes / s, linesPerSec: lines / s, check };
}

function benchParse(corpus: Corpus, quick: boolean): void {
  const per = quick ? 500 : 1000;
  const rounds = 2; // alternate native and TypeScript, ~2 s each in all
  // Both must agree on the corpus before their speeds are compared.
  const n = native.parseLineProtocol(corpus.bodies[0]!);
  const t = tsParseLineProtocol(corpus.bodies[0]!);
  if (n.lines !== t.lines || n.fields !== t.fields || n.rejected !== t.rejected) {
    notes.push(`parsers disagree on the corpus: native ${JSON.stringify(n)} vs TypeScript ${JSON.stringify(t)}`);
  }
  const batch = new LpBatch();
  const acc = { native: [] as number[], ts: [] as number[], nativeLines: [] as number[], tsLines: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const a = timeLoop(corpus, per, (b) => native.parseLineProtocol(b).fields);
    const b = timeLoop(corpus, per, (x) => tsParseLineProtocol(x, 'ns', batch).fields);
    acc.native.push(a.bytesPerSec);
    acc.nativeLines.push(a.linesPerSec);
    acc.ts.push(b.bytesPerSec);
    acc.tsLines.push(b.linesPerSec);
  }
  const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
  const nb = mean(acc.native);
  const tb = mean(acc.ts);
  row({
    section: 'parse',
    case: 'line protocol parse, 1 thread (native vs TypeScript)',
    ours: `${(nb / 1e6).toFixed(0)} MB/s, ${fmtM(mean(acc.nativeLines))} lines/s`,
    peer: `${(tb / 1e6).toFixed(0)} MB/s, ${fmtM(mean(acc.tsLines))} lines/s`,
    ratio: fmtRatio(nb, tb),
    target: `≥ 750 MB/s per core: ${met(nb >= 750e6)}`,
  });
  const opts: IngestOptions = { format: 'lp', nowMs: Date.now(), outputs: [{ encoding: 'remote_write', shards: 2 }] };
  const enc = timeLoop(corpus, per * rounds, (b) => native.ingest(b, opts).samples);
  row({
    section: 'parse',
    case: 'native parse + encode (remote write, 2 shards), 1 thread',
    ours: `${(enc.bytesPerSec / 1e6).toFixed(0)} MB/s, ${fmtM(enc.linesPerSec * corpus.fieldsPerLine)} samples/s`,
    peer: `parse only ${(nb / 1e6).toFixed(0)} MB/s`,
    ratio: fmtRatio(enc.bytesPerSec, nb),
  });
}

/**
 * A fleet's small frames: 10-line frames (40 samples) of distinct devices
 * parsed one call each (native.ingest) vs several per call
 * (native.ingestMany, what coalesce-max-bytes does with the frames of one
 * event-loop turn), alternated in rounds; the best round of each.
 */
function benchCoalesce(quick: boolean): void {
  const now = Date.now();
  const frames = Array.from({ length: 2048 }, (_, d) => {
    let text = `# seq=${d}\n`;
    for (let j = 0; j < 10; j++) text += `fleet,room=r${j} a=${d},b=${j},c=${d + j},d=1.5 ${now + d}\n`;
    return { input: Buffer.from(text), format: 'lp' as const, labels: `device\0dev-${d}` };
  });
  const shared = { nowMs: now, outputs: [{ encoding: 'remote_write' as const, shards: 1 }], maxErrors: 100 };
  const perFrameUs = (group: number): number => {
    const t0 = performance.now();
    for (let i = 0; i < frames.length; i += group) {
      if (group === 1) native.ingest(frames[i]!.input, { ...shared, format: 'lp', labels: frames[i]!.labels });
      else native.ingestMany(frames.slice(i, i + group), shared);
    }
    return ((performance.now() - t0) * 1000) / frames.length;
  };
  const groups = [1, 8, 64, 512];
  const best = new Map(groups.map((g) => [g, Number.POSITIVE_INFINITY]));
  for (let r = 0; r < (quick ? 3 : 10); r++) for (const g of groups) best.set(g, Math.min(best.get(g)!, perFrameUs(g)));
  const alone = best.get(1)!;
  for (const g of groups.slice(1)) {
    row({
      section: 'parse',
      case: `10-line frames of distinct devices, ${g} per native call (ingestMany) vs one each (ingest), remote write`,
      ours: `${best.get(g)!.toFixed(1)} µs per frame`,
      peer: `${alone.toFixed(1)} µs per frame alone`,
      ratio: fmtRatio(alone, best.get(g)!),
    });
  }
}

// ---------------------------------------------------------------- pipeline

interface Cell {
  linesPerSec: number;
  meanMs: number;
}

async function pipelineCell(p: Pipeline, template: Buffer, lines: number, concurrency: number, ms: number): Promise<Cell> {
  const opts: IngestOptions = { format: 'lp', nowMs: Date.now(), outputs: [{ encoding: 'remote_write', shards: 1 }] };
  // warm-up: every worker has loaded the addon
  await Promise.all(Array.from({ length: Math.max(4, concurrency) }, () => p.ingest(ownedCopy(template), opts)));
  let done = 0;
  let latency = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        // A body the pipeline may move to a worker, as the server's reader makes.
        const buf = ownedCopy(template);
        const s = performance.now();
        await p.ingest(buf, opts);
        latency += performance.now() - s;
        done++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { linesPerSec: (done * lines) / secs, meanMs: latency / done };
}

/** Per micro-benchmarked batch size: whether inline was at least as fast at all / none of the concurrency levels. */
let microWins: Array<{ bytes: number; all: boolean; none: boolean }> = [];
/** Per end-to-end frame size: whether inline was at least as fast. */
const e2eWins: Array<{ bytes: number; inline: boolean }> = [];

/**
 * The largest measured batch size at which inline parsing was at least as
 * fast in every measurement (in-process at every concurrency, and end to
 * end), rounded down to a power of two.
 */
function recommendInlineMax(): void {
  const sizes = [...new Set([...microWins.map((w) => w.bytes), ...e2eWins.map((w) => w.bytes)])].sort((a, b) => a - b);
  let lastInline = 0;
  let firstPool: number | undefined;
  for (const bytes of sizes) {
    const micro = microWins.filter((w) => Math.abs(w.bytes - bytes) <= 16);
    const e2e = e2eWins.filter((w) => Math.abs(w.bytes - bytes) <= 16);
    const inlineEverywhere = micro.every((w) => w.all) && e2e.every((w) => w.inline);
    if (inlineEverywhere && firstPool === undefined) lastInline = bytes;
    else firstPool ??= bytes;
  }
  const pow2 = lastInline > 0 ? 2 ** Math.floor(Math.log2(lastInline)) : 0;
  row({
    section: 'pipeline',
    case: 'recommended --inline-max-bytes (current default 8192)',
    ours: `${pow2} B`,
    peer: `inline ≥ pool in every measurement up to ${lastInline} B${firstPool !== undefined ? `; not at ${firstPool} B` : ''}`,
  });
}

async function benchPipeline(corpus: Corpus, quick: boolean): Promise<void> {
  const cores = availableParallelism();
  const sizes = [1, 10, 100, 1000, 10000];
  const levels = [1, cores * 2, 16];
  const ms = quick ? 250 : 1000;
  const inline = new Pipeline({ workers: 0, inlineMaxBytes: 0, inlineMaxLoad: 0 });
  const pool = new Pipeline({ workers: cores, inlineMaxBytes: 0, inlineMaxLoad: 0 });
  const inlineWins: Array<{ bytes: number; all: boolean; none: boolean }> = [];
  try {
    for (const lines of sizes) {
      const template = batchOfLines(corpus, lines);
      let wins = 0;
      for (const c of levels) {
        const a = await pipelineCell(inline, template, lines, c, ms);
        const b = await pipelineCell(pool, template, lines, c, ms);
        if (a.linesPerSec >= b.linesPerSec) wins++;
        row({
          section: 'pipeline',
          case: `${lines} line(s) = ${template.byteLength} B, concurrency ${c} (inline vs pool of ${cores})`,
          ours: `inline ${fmtM(a.linesPerSec)} lines/s, mean ${a.meanMs.toFixed(3)} ms`,
          peer: `pool ${fmtM(b.linesPerSec)} lines/s, mean ${b.meanMs.toFixed(3)} ms`,
          ratio: fmtRatio(a.linesPerSec, b.linesPerSec),
        });
      }
      inlineWins.push({ bytes: template.byteLength, all: wins === levels.length, none: wins === 0 });
    }
  } finally {
    await Promise.all([inline.close(), pool.close()]);
  }
  microWins = inlineWins;
  notes.push(
    'pipeline: measured in-process with nothing else on the main thread; in the server the main thread also runs uWS I/O, ' +
      'so inline parsing costs more there than here: round the recommendation down, not up.',
  );
}

/**
 * The same choice end to end: Sentio (blackhole) fed WebSocket frames of a
 * given size, with every frame parsed inline vs every frame sent to the pool.
 */
async function benchPipelineE2e(quick: boolean): Promise<void> {
  if (!sentioBuilt()) {
    notes.push('dist/cli.js or the native addon is missing (run npm run build): no end-to-end pipeline rows');
    return;
  }
  const seconds = quick ? 1 : 3;
  for (const lines of [10, 100, 1000]) {
    const corpus = makeCorpus({ linesPerBody: lines, bodies: 16 });
    const results: WsLoadResult[] = [];
    // All inline, then every frame to the pool.
    for (const [inlineMaxBytes, inlineMaxLoad] of [[2 ** 30, 1], [0, 0]] as const) {
      const s = await track(startSentio({ token: TOKEN, sink: 'blackhole', inlineMaxBytes, inlineMaxLoad }));
      try {
        const opts = { url: `${s.base.replace(/^http/, 'ws')}/ws`, token: TOKEN, connections: 8, window: 4, corpus };
        await runWsLoad({ ...opts, duration: 1 });
        results.push(await runWsLoad({ ...opts, duration: seconds }));
      } finally {
        await stop(s);
      }
    }
    const [a, b] = results as [WsLoadResult, WsLoadResult];
    e2eWins.push({ bytes: Math.round(corpus.meanBodyBytes), inline: a.samplesPerSec >= b.samplesPerSec });
    row({
      section: 'pipeline',
      case: `end to end: Sentio /ws blackhole, ${lines}-line frames (${Math.round(corpus.meanBodyBytes)} B), inline vs pool`,
      ours: `inline ${fmtM(a.samplesPerSec / corpus.fieldsPerLine)} lines/s, p99 ${a.p99Ms.toFixed(1)} ms`,
      peer: `pool ${fmtM(b.samplesPerSec / corpus.fieldsPerLine)} lines/s, p99 ${b.p99Ms.toFixed(1)} ms`,
      ratio: fmtRatio(a.samplesPerSec, b.samplesPerSec),
    });
  }
}

// ---------------------------------------------------------------- http / ws

const TOKEN = 'bench-token-0123456789';

function httpCell(r: HttpLoadResult): string {
  const bad = r.non2xx + r.errors + r.timeouts;
  return `${fmtM(r.samplesPerSec)} samples/s (${r.requestsPerSec.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms${bad ? `, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}` : ''})`;
}

function wsCell(r: WsLoadResult): string {
  return `${fmtM(r.samplesPerSec)} samples/s (${r.framesPerSec.toFixed(0)} frames/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms)`;
}

/** CPU used by the given processes (and this one, the load generator) between start() and the returned function's call. */
function cpuMeter(procs: Array<{ name: string; pid: number }>): () => (samples: number) => { text: string; first: number } {
  const before = procs.map((p) => cpuSeconds(p.pid));
  const self = process.cpuUsage();
  return () => {
    const used = procs.map((p, i) => cpuSeconds(p.pid) - before[i]!);
    const d = process.cpuUsage(self);
    const gen = (d.user + d.system) / 1e6;
    return (samples: number) => {
      const perM = (sec: number): number => (samples > 0 && Number.isFinite(sec) ? sec / (samples / 1e6) : Number.NaN);
      const per = (sec: number): string => (Number.isFinite(perM(sec)) ? perM(sec).toFixed(3) : 'n/a');
      return { text: [...procs.map((p, i) => `${p.name} ${per(used[i]!)}`), `loadgen ${per(gen)}`].join(', '), first: perM(used[0] ?? Number.NaN) };
    };
  };
}

/** Waits until VictoriaMetrics' counter of `type` rows reaches `base + expected`, or stops growing. */
async function awaitRows(vm: Server, type: string, base: number, expected: number, maxMs = 60_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const got = (await vmRowsInserted(vm.base, type)) - base;
    if (got >= expected) return got;
    if (got !== last) {
      last = got;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 5000) return got;
    if (Date.now() > deadline) return got;
    await sleep(250);
  }
}

/** VictoriaMetrics' rows counter of `type` once it has not moved for a second (what was in flight has landed). */
async function settledRows(vm: Server, type: string, maxMs = 30_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = await vmRowsInserted(vm.base, type);
  for (;;) {
    await sleep(1000);
    const now = await vmRowsInserted(vm.base, type);
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}

async function seriesIn(vm: Server, db: string): Promise<number> {
  await vmForceFlush(vm.base);
  const n = await vmQueryScalar(vm.base, `count(last_over_time({db="${db}"}[1d]))`);
  return Number.isNaN(n) ? 0 : n;
}

interface E2eOptions {
  corpus: Corpus;
  duration: number;
  /** Seconds of unmeasured load before each measured run. */
  warmup: number;
  connections: number;
  wsConnections: number;
  wsWindow: number;
}

type HttpRun = HttpLoadResult & { base: number; cpu: string; /** CPU seconds per million samples of the first process measured. */ firstCpu: number };

/**
 * One HTTP /write measurement: an unmeasured warm-up (JIT, connections,
 * series creation), then the measured run. `rows` names VictoriaMetrics'
 * rows counter to snapshot once the warm-up has been delivered (`base`);
 * `procs` are the servers whose CPU use is reported per sample.
 */
async function httpRun(o: E2eOptions, vm: Server | undefined, url: string, token: string | undefined, rows: string, procs: Server[]): Promise<HttpRun> {
  await runHttpLoad({ url, token, connections: o.connections, duration: o.warmup, corpus: o.corpus });
  const base = vm ? await settledRows(vm, rows) : 0;
  const meter = cpuMeter(procs);
  const r = await runHttpLoad({ url, token, connections: o.connections, duration: o.duration, corpus: o.corpus });
  const cpu = meter()(r.ok * o.corpus.samplesPerBody);
  return { ...r, base, cpu: cpu.text, firstCpu: cpu.first };
}

/**
 * Where large batches are parsed, end to end: HTTP /write of the corpus
 * (124 kB bodies, over --inline-max-bytes) with --inline-max-load 0 (every
 * one to the pool), the default 0.9, and 1 (the pool only when the main
 * thread is fully busy), into the blackhole and into VictoriaMetrics.
 */
async function benchDispatch(o: E2eOptions, vm: Server | undefined): Promise<void> {
  if (!sentioBuilt()) {
    notes.push('dist/cli.js or the native addon is missing (run npm run build): no --inline-max-load rows');
    return;
  }
  const sinks: Array<['blackhole' | { victoriametrics: string }, string]> = [['blackhole', 'blackhole']];
  if (vm) sinks.push([{ victoriametrics: `${vm.base}/api/v1/write` }, 'VictoriaMetrics']);
  for (const [sink, label] of sinks) {
    const runs: Array<[number, HttpRun]> = [];
    for (const inlineMaxLoad of [0, 0.9, 1]) {
      log(`pipeline: HTTP → ${label}, --inline-max-load ${inlineMaxLoad}`);
      const s = await track(startSentio({ token: TOKEN, sink, inlineMaxLoad }));
      try {
        const procs = sink === 'blackhole' || !vm ? [s] : [s, vm];
        runs.push([inlineMaxLoad, await httpRun(o, sink === 'blackhole' ? undefined : vm, `${s.base}/write?db=dispatch`, TOKEN, 'promremotewrite', procs)]);
      } finally {
        await stop(s);
      }
    }
    const byDefault = runs.find(([l]) => l === 0.9)![1];
    for (const [inlineMaxLoad, r] of runs) {
      row({
        section: 'pipeline',
        case: `end to end: HTTP /write → ${label}, c=${o.connections}, --inline-max-load ${inlineMaxLoad}${inlineMaxLoad === 0.9 ? ' (default)' : ''}`,
        ours: httpCell(r),
        cpu: r.cpu,
        peer: inlineMaxLoad === 0.9 ? '' : `default ${fmtM(byDefault.samplesPerSec)} samples/s`,
        ratio: inlineMaxLoad === 0.9 ? '' : fmtRatio(r.samplesPerSec, byDefault.samplesPerSec),
      });
    }
  }
}

async function benchHttp(o: E2eOptions, vm: Server): Promise<void> {
  const load = (url: string, token: string | undefined, rows: string, procs: Server[]): Promise<HttpRun> => httpRun(o, vm, url, token, rows, procs);

  // 1. VictoriaMetrics directly: the ceiling.
  log('http: VictoriaMetrics /write directly');
  const direct = await load(`${vm.base}/write?db=vm_direct`, undefined, 'influx', [vm]);
  const directRows = (await vmRowsInserted(vm.base, 'influx')) - direct.base;
  row({ section: 'http', case: `VictoriaMetrics /write directly (ceiling), c=${o.connections}`, ours: httpCell(direct), peer: `VM counted ${fmtM(directRows)} rows`, cpu: direct.cpu });

  // 2. vmagent → VictoriaMetrics.
  let viaAgent: HttpLoadResult | undefined;
  if (onPath('vmagent')) {
    log('http: vmagent → VictoriaMetrics');
    const agent = await track(startVmagent(`${vm.base}/api/v1/write`));
    try {
      const r = await load(`${agent.base}/write?db=vmagent`, undefined, 'promremotewrite', [agent, vm]);
      viaAgent = r;
      const expected = r.ok * o.corpus.samplesPerBody;
      const got = await awaitRows(vm, 'promremotewrite', r.base, expected);
      row({
        section: 'http',
        case: `vmagent /write → VictoriaMetrics, c=${o.connections}`,
        ours: httpCell(viaAgent),
        cpu: r.cpu,
        peer: `VM received ${fmtM(got)} of ${fmtM(expected)} samples`,
        ratio: `${fmtRatio(viaAgent.samplesPerSec, direct.samplesPerSec)} of VM direct`,
      });
    } finally {
      await stop(agent);
    }
  } else notes.push('vmagent is not installed: no vmagent → VictoriaMetrics row');

  // 3. Sentio → VictoriaMetrics: with the durable queue (the default), and without it.
  if (!sentioBuilt()) {
    notes.push('dist/cli.js or the native addon is missing (run npm run build): no Sentio HTTP rows');
    return;
  }
  // The Sentio → VictoriaMetrics runs: the default (durable queue, the heap flag of npm start), and one change from it each.
  const variants = {
    queue: { db: 'sentio_vm', what: '', args: [], nodeHeapFlag: true },
    noQueue: { db: 'sentio_vm_noqueue', what: ', --no-queue', args: ['--no-queue'], nodeHeapFlag: true },
    twoSinks: { db: 'sentio_vm_embedded', what: ' and the embedded store (two sinks)', args: ['--embedded'], nodeHeapFlag: true },
    defaultHeap: { db: 'sentio_vm_default_heap', what: `, node's default heap (no ${NODE_HEAP_FLAG})`, args: [], nodeHeapFlag: false },
  };
  const sentioToVm = async (variant: keyof typeof variants): Promise<HttpRun> => {
    const { db, what, args, nodeHeapFlag } = variants[variant];
    const queue = variant !== 'noQueue';
    log(`http: Sentio → VictoriaMetrics${what}`);
    const s = await track(startSentio({ token: TOKEN, sink: { victoriametrics: `${vm.base}/api/v1/write` }, nodeHeapFlag, args }));
    try {
      const r = await load(`${s.base}/write?db=${db}`, TOKEN, 'promremotewrite', [s, vm]);
      const acked = r.ok * o.corpus.samplesPerBody;
      const got = await awaitRows(vm, 'promremotewrite', r.base, acked, 30_000);
      const series = await seriesIn(vm, db);
      row({
        section: 'http',
        case: `Sentio /write → VictoriaMetrics${what}, c=${o.connections}${queue ? ' (durable queue, fsync batch: the default)' : ''}`,
        ours: httpCell(r),
        cpu: r.cpu,
        peer: viaAgent ? `vmagent → VM ${fmtM(viaAgent.samplesPerSec)} samples/s` : 'no vmagent',
        ratio: viaAgent ? fmtRatio(r.samplesPerSec, viaAgent.samplesPerSec) : 'n/a',
        target:
          variant === 'queue'
            ? `≥ 1.2× vmagent: ${viaAgent ? met(r.samplesPerSec >= 1.2 * viaAgent.samplesPerSec) : 'n/a'}; Sentio ≤ 0.12 CPU s per M samples: ${met(r.firstCpu <= 0.12)} (${r.firstCpu.toFixed(3)})`
            : '',
      });
      row({
        section: 'http',
        case: `VictoriaMetrics received from Sentio${what} (rows counter; series after force_flush)`,
        ours: `${fmtM(got)} samples, ${series} series`,
        peer: `Sentio acked ${fmtM(acked)} samples (expected series ${100 * o.corpus.fieldsPerLine})`,
        ratio: fmtRatio(got, acked),
      });
      return r;
    } finally {
      await stop(s);
    }
  };
  const queued = await sentioToVm('queue');
  const noQueue = await sentioToVm('noQueue');
  const both = await sentioToVm('twoSinks');
  const defaultHeap = await sentioToVm('defaultHeap');
  row({
    section: 'http',
    case: `${NODE_HEAP_FLAG} (npm start, src/heap.ts) vs node's default heap (Sentio → VictoriaMetrics)`,
    ours: `${fmtM(queued.samplesPerSec)} samples/s, ${queued.firstCpu.toFixed(3)} CPU s per M samples`,
    peer: `default heap ${fmtM(defaultHeap.samplesPerSec)} samples/s, ${defaultHeap.firstCpu.toFixed(3)} CPU s per M samples`,
    ratio: `${fmtRatio(queued.samplesPerSec, defaultHeap.samplesPerSec)}, CPU per sample ${fmtRatio(queued.firstCpu, defaultHeap.firstCpu)}`,
  });
  row({
    section: 'http',
    case: 'durable queue on vs off (Sentio → VictoriaMetrics)',
    ours: `queue ${fmtM(queued.samplesPerSec)} samples/s`,
    peer: `--no-queue ${fmtM(noQueue.samplesPerSec)} samples/s`,
    ratio: fmtRatio(queued.samplesPerSec, noQueue.samplesPerSec),
    target: `≥ 0.95× queue-less: ${met(queued.samplesPerSec >= 0.95 * noQueue.samplesPerSec)}`,
  });
  row({
    section: 'http',
    case: 'two sinks (VictoriaMetrics behind its queue + the embedded store) vs VictoriaMetrics alone',
    ours: `two sinks ${fmtM(both.samplesPerSec)} samples/s`,
    peer: `VictoriaMetrics alone ${fmtM(queued.samplesPerSec)} samples/s`,
    ratio: fmtRatio(both.samplesPerSec, queued.samplesPerSec),
    target: `≥ 0.8× VictoriaMetrics alone: ${met(both.samplesPerSec >= 0.8 * queued.samplesPerSec)}`,
  });

  // 4. Sentio, blackhole sink.
  log('http: Sentio blackhole');
  const hole = await track(startSentio({ token: TOKEN, sink: 'blackhole' }));
  try {
    const r = await load(`${hole.base}/write?db=sentio_blackhole`, TOKEN, 'promremotewrite', [hole]);
    row({
      section: 'http',
      case: `Sentio /write, blackhole sink, c=${o.connections}`,
      ours: httpCell(r),
      cpu: r.cpu,
      peer: `VM direct ${fmtM(direct.samplesPerSec)} samples/s`,
      ratio: fmtRatio(r.samplesPerSec, direct.samplesPerSec),
      target: `≥ 1.0× VM direct: ${met(r.samplesPerSec >= direct.samplesPerSec)}`,
    });
  } finally {
    await stop(hole);
  }
}

/**
 * What checking credentials costs on the hot path: HTTP /write into the
 * blackhole (where it weighs most) with --no-auth, with a configured
 * --token, and with a device token issued through the API (looked up in
 * the cache once, then answered from the instance's own map). Three rounds,
 * interleaved, so drift on a noisy machine hits every case alike; the
 * ratio is of the medians.
 */
async function benchAuth(o: E2eOptions): Promise<void> {
  if (!sentioBuilt()) {
    notes.push('dist/cli.js or the native addon is missing (run npm run build): no auth rows');
    return;
  }
  const password = 'bench-admin-password';
  const open = await track(startSentio({ token: TOKEN, sink: 'blackhole', args: ['--no-auth'] }));
  const guarded = await track(startSentio({ token: TOKEN, sink: 'blackhole', args: ['--admin-password', password, '--api-rate-limit', '0'] }));
  try {
    const loginRes = await fetch(`${guarded.base}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password }) });
    const { accessToken } = (await loginRes.json()) as { accessToken: string };
    const dev = await fetch(`${guarded.base}/api/devices`, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` }, body: JSON.stringify({ name: 'bench-device' }) });
    const { token: deviceToken } = (await dev.json()) as { token: string };
    if (!deviceToken) throw new Error(`could not create a device: HTTP ${dev.status}`);
    const cases: Array<[string, Server, string]> = [
      ['--no-auth', open, TOKEN],
      ['configured --token', guarded, TOKEN],
      ['device token (API-issued)', guarded, deviceToken],
    ];
    const runs = new Map<string, HttpRun[]>();
    const ROUNDS = 3;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, server, token] of cases) {
        log(`auth: HTTP → blackhole, ${label}, round ${round + 1}`);
        const r = await httpRun(o, undefined, `${server.base}/write?db=auth`, token, 'promremotewrite', [server]);
        if (r.non2xx > 0) throw new Error(`${label}: ${r.non2xx} requests refused`);
        runs.set(label, [...(runs.get(label) ?? []), r]);
      }
    }
    const median = (label: string) => {
      const v = runs.get(label)!.map((r) => r.samplesPerSec).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)]!;
    };
    const base = median('--no-auth');
    for (const [label] of cases) {
      const m = median(label);
      const rs = runs.get(label)!;
      row({
        section: 'auth',
        case: `HTTP /write → blackhole, c=${o.connections}, ${label} (median of ${ROUNDS} rounds)`,
        ours: `${fmtM(m)} samples/s (${rs.map((r) => fmtM(r.samplesPerSec)).join(', ')})`,
        cpu: rs[rs.length - 1]!.cpu,
        peer: label === '--no-auth' ? '' : `--no-auth ${fmtM(base)} samples/s`,
        ratio: label === '--no-auth' ? '' : fmtRatio(m, base),
        target: label === 'device token (API-issued)' ? `cost < 2 %: ${met(m >= 0.98 * base)}` : '',
      });
    }
  } finally {
    await stop(open);
    await stop(guarded);
  }
}

async function benchWs(o: E2eOptions, vm: Server | undefined): Promise<void> {
  if (!sentioBuilt()) {
    notes.push('dist/cli.js or the native addon is missing (run npm run build): no WebSocket rows');
    return;
  }
  const run = async (label: string, sink: 'blackhole' | { victoriametrics: string }, db: string): Promise<WsLoadResult & { base: number }> => {
    log(`ws: Sentio ${label}`);
    const s = await track(startSentio({ token: TOKEN, sink }));
    try {
      const url = `${s.base.replace(/^http/, 'ws')}/ws?db=${db}`;
      const opts = { url, token: TOKEN, connections: o.wsConnections, window: o.wsWindow, corpus: o.corpus };
      await runWsLoad({ ...opts, duration: o.warmup });
      const base = vm ? await settledRows(vm, 'promremotewrite') : 0;
      const meter = cpuMeter(typeof sink === 'string' || !vm ? [s] : [s, vm]);
      const r = await runWsLoad({ ...opts, duration: o.duration });
      const cpu = meter()(r.acceptedSamples).text;
      const problems = wsProblems(r);
      row({
        section: 'ws',
        case: `Sentio /ws with acks, ${label}, ${o.wsConnections} conn × window ${o.wsWindow}`,
        ours: wsCell(r),
        cpu,
        peer: problems.length === 0 ? `every frame (${r.framesSent}) got one full ack` : `PROBLEMS: ${problems.join('; ')}`,
        ratio: `${(r.samplesPerSec / 2e6).toFixed(2)}× target`,
        target: `≥ 2 M samples/s: ${met(r.samplesPerSec >= 2e6)}`,
      });
      return { ...r, base };
    } finally {
      await stop(s);
    }
  };
  await run('blackhole', 'blackhole', 'ws_blackhole');
  if (vm) {
    const r = await run('→ VictoriaMetrics', { victoriametrics: `${vm.base}/api/v1/write` }, 'ws_vm');
    const got = await awaitRows(vm, 'promremotewrite', r.base, r.acceptedSamples, 10_000);
    const series = await seriesIn(vm, 'ws_vm');
    row({
      section: 'ws',
      case: 'VictoriaMetrics received from Sentio /ws (rows counter; series)',
      ours: `${fmtM(got)} samples, ${series} series`,
      peer: `Sentio acked ${fmtM(r.acceptedSamples)} samples`,
      ratio: fmtRatio(got, r.acceptedSamples),
    });
  }
}

// ---------------------------------------------------------------- main

function machine(): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  let vmVersion = 'not installed';
  try {
    // This build prints no -version; Debian's package version names it.
    const v = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'victoria-metrics'], { encoding: 'utf8' });
    vmVersion = v.status === 0 ? `victoria-metrics ${v.stdout.trim()}` : 'victoria-metrics (version unknown)';
  } catch {
    // absent
  }
  return [
    `date:     ${new Date().toString()}`,
    `machine:  ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${cpu}`,
    `software: Node ${process.version}, sentio ${commit}, ${vmVersion}`,
  ];
}

function table(): string {
  const head: Row = { section: 'section', case: 'case', ours: 'Sentio / ours', peer: 'peer / baseline / check', ratio: 'ratio', target: 'target', cpu: 'CPU s per M samples' };
  const all = [head, ...rows];
  const keys = Object.keys(head) as Array<keyof Row>;
  const width = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row): string => `| ${keys.map((k, i) => r[k].padEnd(width[i]!)).join(' | ')} |`;
  return [line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      only: { type: 'string', default: 'parse,pipeline,http,ws,auth,mqtt,homeassistant,modbus,fleet' },
      'fleet-devices': { type: 'string', default: '10000' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '8' },
      'ws-connections': { type: 'string', default: '8' },
      'ws-window': { type: 'string', default: '4' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--duration S] [--only parse,pipeline,http,ws,auth,mqtt,homeassistant,modbus,fleet,anomaly-quality,anomaly-throughput,anomaly-memory] [--quick] [--connections N] [--ws-connections N] [--ws-window W] [--fleet-devices N]\n');
    return 0;
  }
  const only = new Set(values.only.split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of only) if (!['parse', 'pipeline', 'http', 'ws', 'auth', 'mqtt', 'homeassistant', 'modbus', 'fleet', 'anomaly-quality', 'anomaly-throughput', 'anomaly-memory'].includes(s)) throw new Error(`--only: unknown section "${s}"`);
  const quick = values.quick;
  const duration = quick ? 2 : Number(values.duration);
  const corpus = makeCorpus();
  const e2e: E2eOptions = {
    corpus,
    duration,
    warmup: quick ? 1 : 2,
    connections: Number(values.connections),
    wsConnections: Number(values['ws-connections']),
    wsWindow: Number(values['ws-window']),
  };
  const header = machine();
  const section = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
    if (!only.has(name)) return;
    try {
      await fn();
    } catch (err) {
      row({ section: name, case: 'FAILED', ours: (err as Error).message.split('\n')[0]!.slice(0, 200) });
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
    }
  };

  process.once('SIGINT', () => {
    void Promise.allSettled([...live].map((s) => s.stop())).then(() => process.exit(130));
  });

  log(`corpus: ${corpus.bodies.length} bodies × ${corpus.linesPerBody} lines, ${(corpus.meanBodyBytes / 1000).toFixed(1)} kB, ${corpus.samplesPerBody} samples each`);
  await section('parse', () => {
    log('parse');
    benchParse(corpus, quick);
    benchCoalesce(quick);
  });
  let vm: Server | undefined;
  try {
    const needVm = only.has('pipeline') || only.has('http') || only.has('ws') || only.has('mqtt') || only.has('homeassistant') || only.has('modbus');
    if (needVm && onPath('victoria-metrics')) vm = await track(startVictoriaMetrics());
    else if (needVm) notes.push('victoria-metrics is not installed (apt-get install victoria-metrics): no VictoriaMetrics rows');
    await section('pipeline', async () => {
      log('pipeline');
      await benchPipeline(corpus, quick);
      await benchPipelineE2e(quick);
      recommendInlineMax();
      await benchDispatch(e2e, vm);
    });
    await section('http', async () => {
      if (!vm) throw new Error('VictoriaMetrics is needed for the HTTP comparison');
      await benchHttp(e2e, vm);
    });
    await section('ws', () => benchWs(e2e, vm));
    await section('auth', () => benchAuth(e2e));
    const connectorBench = { durationS: duration, row, log, track, stop, vm };
    await section('mqtt', () => benchMqtt(connectorBench));
    await section('homeassistant', () => benchHomeAssistant(connectorBench));
    await section('modbus', () => benchModbus(connectorBench));
  } finally {
    await stop(vm);
  }
  // The anomaly engine (bench/anomaly-*.ts, not in the default --only): each prints its own Markdown.
  await section('anomaly-quality', async () => {
    const { qualityTables } = await import('./anomaly-quality.js');
    const { closeOnnxPool } = await import('../src/anomaly/onnx.js');
    try {
      process.stdout.write(`${await qualityTables(1, [0.8, 0.5])}\n\n`);
    } finally {
      await closeOnnxPool();
    }
  });
  await section('anomaly-throughput', async () => {
    const { benchAnomalyThroughput } = await import('./anomaly-throughput.js');
    process.stdout.write(`${await benchAnomalyThroughput({ duration, connections: Number(values.connections) })}\n\n`);
  });
  await section('anomaly-memory', async () => {
    const { benchAnomalyMemory } = await import('./anomaly-memory.js');
    process.stdout.write(`${await benchAnomalyMemory()}\n\n`);
  });
  // Last, and alone: it starts its own VictoriaMetrics and Sentio, and loads the machine for minutes.
  await section('fleet', async () => {
    const devices = quick ? 1000 : Number(values['fleet-devices']);
    log(`fleet: ${devices} WebSocket devices (load-tests/fleet.ts)`);
    const r = await runFleet({ devices, duration: quick ? 10 : 60, lines: 10, intervalMs: 1000, restartSeconds: quick ? 8 : 20, batchSeconds: quick ? 5 : 20, log });
    const s = r.steady;
    row({
      section: 'fleet',
      case: `${devices} devices × a 10-line frame a second (own tokens, WebSocket → queue → VictoriaMetrics), ${s.seconds.toFixed(0)} s`,
      ours: `${(s.samplesPerSec / 1000).toFixed(0)} k samples/s, ack p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms`,
      peer: `RSS peak ${(s.rssPeak / 2 ** 20).toFixed(0)} MiB, ${(r.bytesPerIdleConnection / 1024).toFixed(1)} KiB per idle connection`,
      cpu: `sentio ${s.cpuPerMSamples.toFixed(3)}, victoria-metrics ${r.vmCpuPerMSamples.toFixed(3)}`,
      target: `p99 < 100 ms: ${met(s.p99Ms < 100)}; ${r.storedSamples} of ${r.ackedSamples} acked samples in VictoriaMetrics: ${met(r.storedSamples === r.ackedSamples)}`,
    });
    if (r.restart) {
      row({
        section: 'fleet',
        case: 'restart of the gateway while the devices send: all reconnect and resume',
        ours: `all back and nothing pending after ${r.restart.reconnectSeconds.toFixed(1)} s`,
        peer: `gateway restarted in ${r.restart.restartSeconds.toFixed(1)} s; ${r.restart.duplicateAcks} duplicate acks`,
        target: `≤ 15 s: ${met(r.restart.reconnectSeconds <= 15 && r.restart.pending === 0)}`,
      });
    }
    if (r.batch) {
      const ratio = s.cpuPerMSamples / r.batch.cpuPerMSamples;
      row({
        section: 'fleet',
        case: 'the same samples/s as 1,000-line frames: CPU per sample, small frames over large',
        ours: `${s.cpuPerMSamples.toFixed(3)} CPU s per M samples`,
        peer: `1,000-line frames ${r.batch.cpuPerMSamples.toFixed(3)}`,
        ratio: `${ratio.toFixed(2)}×`,
        target: `≤ 2×: ${met(ratio <= 2)}`,
      });
    }
  });

  const out = [
    ...header,
    `run:      npm run bench -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
    `corpus:   ${corpus.linesPerBody} lines/request, ${(corpus.meanBodyBytes / corpus.linesPerBody).toFixed(0)} B/line, ${corpus.fieldsPerLine} samples/line, ${corpus.bodies.length} distinct bodies; HTTP/WS runs ${duration} s each`,
    '',
    table(),
    '',
    ...notes.map((n) => `note: ${n}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    await Promise.allSettled([...live].map((s) => s.stop()));
    process.exit(1);
  },
);
