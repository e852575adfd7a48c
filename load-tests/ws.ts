// WebSocket load generator for Sentio's GET /ws: N connections, each
// keeping a window of W unacknowledged line-protocol frames in flight
// (1,000 lines, 4,000 samples a frame, each starting with `# seq=<n>`).
// Every reply is matched to its frame by seq (replies may come out of
// order); it checks that every frame got exactly one reply and reports
// frames without a reply, duplicate or unknown replies, error replies and
// acks whose `accepted` differs from the samples sent.
//
//   node --import tsx load-tests/ws.ts --url ws://127.0.0.1:8086/ws --token T --connections 8 --window 4 --duration 10
//
// Only loopback targets are accepted unless --allow-remote is given.

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type Corpus, makeCorpus } from './corpus.js';
import { assertLoopback, isMain, percentile } from './util.js';

/** The part of the `ws` client this module uses (the package ships no types). */
interface WsClient {
  readonly readyState: number;
  on(event: 'open', cb: () => void): this;
  on(event: 'message', cb: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', cb: (err: Error) => void): this;
  on(event: 'close', cb: (code: number, reason: Buffer) => void): this;
  on(event: 'unexpected-response', cb: (req: unknown, res: { statusCode?: number }) => void): this;
  send(data: Buffer, opts: { binary: boolean; compress: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number): void;
  terminate(): void;
}
type WsCtor = new (url: string, opts: { headers?: Record<string, string>; perMessageDeflate: boolean; maxPayload?: number }) => WsClient;
const WebSocket = createRequire(import.meta.url)('ws') as WsCtor;

export interface WsLoadOptions {
  /** e.g. ws://127.0.0.1:8086/ws?db=bench */
  url: string;
  token?: string;
  connections?: number;
  /** Unacknowledged frames in flight per connection. */
  window?: number;
  /** Seconds of sending; outstanding frames are then awaited (see drainSeconds). */
  duration?: number;
  /** How long to wait for the replies of frames in flight when sending stops. */
  drainSeconds?: number;
  corpus?: Corpus;
}

export interface WsLoadResult {
  url: string;
  connections: number;
  window: number;
  /** From the first frame to the last reply. */
  seconds: number;
  framesSent: number;
  acks: number;
  errorReplies: number;
  errorCodes: Record<string, number>;
  /** Sum of `accepted` over all acks. */
  acceptedSamples: number;
  /** Frames that never got a reply. */
  missingReplies: number;
  /** Replies for a seq that was not in flight (duplicates or unknown). */
  unexpectedReplies: number;
  /** Acks whose `accepted` or `rejected` differs from what the frame held. */
  countMismatches: number;
  /** Connections that failed to open or closed early. */
  connectionFailures: string[];
  framesPerSec: number;
  /** Acked samples (`accepted`) per second. */
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

interface Reply {
  type?: string;
  seq?: number;
  accepted?: number;
  rejected?: number;
  code?: string;
}

interface ConnStats {
  sent: number;
  acks: number;
  errors: number;
  accepted: number;
  missing: number;
  unexpected: number;
  countMismatches: number;
  errorCodes: Record<string, number>;
  latencies: number[];
  lastReplyAt: number;
  failure?: string;
}

function runConnection(opts: Required<Omit<WsLoadOptions, 'token'>> & { token?: string }, startAt: number, stopAt: number): Promise<ConnStats> {
  const { corpus } = opts;
  const stats: ConnStats = { sent: 0, acks: 0, errors: 0, accepted: 0, missing: 0, unexpected: 0, countMismatches: 0, errorCodes: {}, latencies: [], lastReplyAt: startAt };
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Token ${opts.token}`;
  const inFlight = new Map<number, number>(); // seq → send time
  let nextSeq = 1;
  let bodyIndex = Math.floor(Math.random() * corpus.bodies.length);

  return new Promise((resolve) => {
    const ws = new WebSocket(opts.url, { headers, perMessageDeflate: false, maxPayload: 64 << 20 });
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (failure?: string): void => {
      if (finished) return;
      finished = true;
      if (drainTimer) clearTimeout(drainTimer);
      stats.missing += inFlight.size;
      if (failure) stats.failure = failure;
      try {
        ws.close(1000);
      } catch {
        ws.terminate();
      }
      resolve(stats);
    };
    const sendOne = (): void => {
      const seq = nextSeq++;
      const body = corpus.bodies[bodyIndex++ % corpus.bodies.length]!;
      const frame = Buffer.concat([Buffer.from(`# seq=${seq}\n`, 'latin1'), body]);
      inFlight.set(seq, performance.now());
      stats.sent++;
      ws.send(frame, { binary: false, compress: false });
    };
    const fill = (): void => {
      while (inFlight.size < opts.window && performance.now() < stopAt) sendOne();
      if (inFlight.size === 0 && performance.now() >= stopAt) finish();
      else if (performance.now() >= stopAt && drainTimer === undefined) {
        drainTimer = setTimeout(() => finish(), opts.drainSeconds * 1000);
      }
    };
    ws.on('open', fill);
    ws.on('unexpected-response', (_req, res) => finish(`upgrade refused: HTTP ${res.statusCode ?? '?'}`));
    ws.on('error', (err) => finish(err.message));
    ws.on('close', (code) => finish(`closed by the server (${code}) with ${inFlight.size} frames in flight`));
    ws.on('message', (data, isBinary) => {
      const now = performance.now();
      let reply: Reply;
      try {
        reply = JSON.parse(data.toString(isBinary ? 'latin1' : 'utf8')) as Reply;
      } catch {
        stats.unexpected++;
        return;
      }
      const sentAt = typeof reply.seq === 'number' ? inFlight.get(reply.seq) : undefined;
      if (sentAt === undefined) {
        stats.unexpected++;
        return;
      }
      inFlight.delete(reply.seq!);
      stats.lastReplyAt = now;
      stats.latencies.push(now - sentAt);
      if (reply.type === 'ack') {
        stats.acks++;
        stats.accepted += reply.accepted ?? 0;
        if (reply.accepted !== corpus.samplesPerBody || reply.rejected !== 0) stats.countMismatches++;
      } else {
        stats.errors++;
        const code = reply.code ?? String(reply.type);
        stats.errorCodes[code] = (stats.errorCodes[code] ?? 0) + 1;
      }
      fill();
    });
  });
}

export async function runWsLoad(options: WsLoadOptions): Promise<WsLoadResult> {
  const opts = {
    url: options.url,
    token: options.token,
    connections: options.connections ?? 8,
    window: options.window ?? 4,
    duration: options.duration ?? 10,
    drainSeconds: options.drainSeconds ?? 30,
    corpus: options.corpus ?? makeCorpus(),
  };
  const startAt = performance.now();
  const stopAt = startAt + opts.duration * 1000;
  const all = await Promise.all(Array.from({ length: opts.connections }, () => runConnection(opts, startAt, stopAt)));
  const latencies = Float64Array.from(all.flatMap((s) => s.latencies)).sort();
  const lastReply = Math.max(...all.map((s) => s.lastReplyAt));
  const seconds = Math.max(1e-3, (lastReply - startAt) / 1000);
  const sum = (f: (s: ConnStats) => number): number => all.reduce((n, s) => n + f(s), 0);
  const errorCodes: Record<string, number> = {};
  for (const s of all) for (const [c, n] of Object.entries(s.errorCodes)) errorCodes[c] = (errorCodes[c] ?? 0) + n;
  const acks = sum((s) => s.acks);
  const accepted = sum((s) => s.accepted);
  return {
    url: opts.url,
    connections: opts.connections,
    window: opts.window,
    seconds,
    framesSent: sum((s) => s.sent),
    acks,
    errorReplies: sum((s) => s.errors),
    errorCodes,
    acceptedSamples: accepted,
    missingReplies: sum((s) => s.missing),
    unexpectedReplies: sum((s) => s.unexpected),
    countMismatches: sum((s) => s.countMismatches),
    connectionFailures: all.flatMap((s) => (s.failure ? [s.failure] : [])),
    framesPerSec: acks / seconds,
    samplesPerSec: accepted / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    meanMs: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : Number.NaN,
  };
}

/** Problems a run found; empty when every frame got exactly one full ack. */
export function wsProblems(r: WsLoadResult): string[] {
  const p: string[] = [];
  if (r.missingReplies) p.push(`${r.missingReplies} frames without a reply`);
  if (r.unexpectedReplies) p.push(`${r.unexpectedReplies} duplicate/unknown replies`);
  if (r.errorReplies) p.push(`${r.errorReplies} error replies (${Object.entries(r.errorCodes).map(([c, n]) => `${c}×${n}`).join(', ')})`);
  if (r.countMismatches) p.push(`${r.countMismatches} acks with unexpected accepted/rejected counts`);
  for (const f of new Set(r.connectionFailures)) p.push(`connection: ${f}`);
  return p;
}

export function formatWsResult(r: WsLoadResult): string {
  const problems = wsProblems(r);
  return [
    `target        ${r.url}`,
    `connections   ${r.connections} × window ${r.window}, ${r.seconds.toFixed(1)} s`,
    `frames/s      ${r.framesPerSec.toFixed(0)} acked (${r.acks} acks of ${r.framesSent} frames sent)`,
    `samples/s     ${(r.samplesPerSec / 1e6).toFixed(2)} M accepted (acked)`,
    `ack latency   p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, mean ${r.meanMs.toFixed(1)} ms`,
    `check         ${problems.length === 0 ? 'every frame got exactly one full ack' : problems.join('; ')}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:8086/ws?db=loadtest' },
      token: { type: 'string' },
      connections: { type: 'string', short: 'c', default: '8' },
      window: { type: 'string', short: 'w', default: '4' },
      duration: { type: 'string', short: 'd', default: '10' },
      bodies: { type: 'string', default: '16' },
      'allow-remote': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node --import tsx load-tests/ws.ts --url ws://HOST:PORT/ws [--token T] [-c 8] [-w 4] [-d 10] [--bodies 16]\n');
    return 0;
  }
  if (!values['allow-remote']) assertLoopback(values.url);
  const r = await runWsLoad({
    url: values.url,
    token: values.token,
    connections: Number(values.connections),
    window: Number(values.window),
    duration: Number(values.duration),
    corpus: makeCorpus({ bodies: Number(values.bodies) }),
  });
  process.stdout.write(`${formatWsResult(r)}\n`);
  return wsProblems(r).length === 0 && r.acks > 0 ? 0 : 1;
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`ws load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
