// HTTP load generator for any InfluxDB-compatible `/write` endpoint
// (Sentio, VictoriaMetrics, vmagent, InfluxDB), on autocannon's API:
// N keep-alive connections POST the corpus bodies (1,000 lines, 4,000
// samples each, rotating over distinct bodies) for a fixed time, then it
// prints requests/s, samples/s, latency and the non-2xx count.
//
//   node --import tsx load-tests/http.ts --url http://127.0.0.1:8086/write --token T --connections 8 --duration 10
//
// Only loopback targets are accepted unless --allow-remote is given: this
// is a load generator, point it only at servers you run.

import { parseArgs } from 'node:util';
import { type AutocannonResult, autocannon } from './autocannon.js';
import { type Corpus, makeCorpus } from './corpus.js';
import { assertLoopback, isMain } from './util.js';

export interface HttpLoadOptions {
  /** The write URL, query included, e.g. http://127.0.0.1:8086/write?db=bench. */
  url: string;
  /** Sent as `Authorization: Token <token>` when set. */
  token?: string;
  connections?: number;
  /** Seconds. */
  duration?: number;
  corpus?: Corpus;
  /** Per-request timeout, seconds (default 30). */
  timeout?: number;
  /** Requests per second over all connections (default: as fast as answered). */
  rate?: number;
}

export interface HttpLoadResult {
  url: string;
  connections: number;
  seconds: number;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  requestsPerSec: number;
  /** Samples in 2xx-answered requests per second. */
  samplesPerSec: number;
  /** Bytes of 2xx-answered bodies per second. */
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  samplesPerRequest: number;
}

export async function runHttpLoad(opts: HttpLoadOptions): Promise<HttpLoadResult> {
  const corpus = opts.corpus ?? makeCorpus();
  const connections = opts.connections ?? 8;
  const duration = opts.duration ?? 10;
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  if (opts.token) headers.authorization = `Token ${opts.token}`;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    autocannon(
      {
        url: opts.url,
        connections,
        duration,
        timeout: opts.timeout ?? 30,
        ...(opts.rate !== undefined ? { overallRate: opts.rate } : {}),
        method: 'POST',
        headers,
        requests: corpus.bodies.map((body) => ({ method: 'POST', body })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
  const seconds = result.duration;
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats)) statusCodes[code] = s.count;
  const ok = result['2xx'];
  return {
    url: opts.url,
    connections,
    seconds,
    requests: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    requestsPerSec: result.requests.total / seconds,
    samplesPerSec: (ok * corpus.samplesPerBody) / seconds,
    bytesPerSec: (ok * corpus.meanBodyBytes) / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    meanMs: result.latency.average,
    samplesPerRequest: corpus.samplesPerBody,
  };
}

export function formatHttpResult(r: HttpLoadResult): string {
  const codes = Object.entries(r.statusCodes)
    .map(([c, n]) => `${c}×${n}`)
    .join(' ');
  return [
    `target        ${r.url}`,
    `connections   ${r.connections}, ${r.seconds.toFixed(1)} s, ${r.samplesPerRequest} samples/request`,
    `requests/s    ${r.requestsPerSec.toFixed(0)} (${r.requests} requests, status ${codes || 'none'})`,
    `samples/s     ${(r.samplesPerSec / 1e6).toFixed(2)} M (2xx only)`,
    `MB/s          ${(r.bytesPerSec / 1e6).toFixed(1)} of line protocol`,
    `latency       p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, mean ${r.meanMs.toFixed(1)} ms`,
    `non-2xx       ${r.non2xx}; errors ${r.errors}; timeouts ${r.timeouts}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8086/write?db=loadtest' },
      token: { type: 'string' },
      connections: { type: 'string', short: 'c', default: '8' },
      duration: { type: 'string', short: 'd', default: '10' },
      bodies: { type: 'string', default: '16' },
      'allow-remote': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node --import tsx load-tests/http.ts --url URL [--token T] [-c 8] [-d 10] [--bodies 16]\n');
    return 0;
  }
  if (!values['allow-remote']) assertLoopback(values.url);
  const corpus = makeCorpus({ bodies: Number(values.bodies) });
  const r = await runHttpLoad({
    url: values.url,
    token: values.token,
    connections: Number(values.connections),
    duration: Number(values.duration),
    corpus,
  });
  process.stdout.write(`${formatHttpResult(r)}\n`);
  return r.ok > 0 ? 0 : 1;
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`http load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
