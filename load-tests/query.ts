// Query API load test on the embedded store (issue 4): for each sample
// interval (10 s, and 1 s unless left out) it starts a gateway of its own on
// the embedded default (DuckDB), fills one hour × 100 counter series through
// POST /write, waits until the whole hour is queryable, checks the answers
// against the values written, and then runs autocannon against
// GET /api/query/range (1 h, step 10 s: 361 points a series) for the plain
// selector, rate and sum by (dc) (rate), printing p50/p95/p99 latency and
// requests/s per query, the gateway's CPU time per request (less sensitive
// than latency to other load on the machine) and whether p99 < 100 ms holds.
//
//   npm run build && node --import tsx load-tests/query.ts
//   node --import tsx load-tests/query.ts --intervals 10s --connections 1 --duration 10
//
// The data: series i (host h00..h99, dc dc0..dc3 by i % 4) is a counter
// growing by i + 1 per second, so rate() is i + 1 at every point and the
// sum by dc is known exactly. The gateway runs built (dist/cli.js) with the
// API rate limit off (--api-rate-limit 0); requests carry the admin's
// access token (POST /api/auth/login).

import { parseArgs } from 'node:util';
import { type AutocannonResult, autocannon } from './autocannon.js';
import { cpuSeconds, sentioBuilt, startSentio, type Server } from './servers.js';
import { isMain, percentile } from './util.js';

const SERIES = 100;
const HOUR = 3_600_000;
const STEP = 10_000;
const TARGET_P99_MS = 100;
const TOKEN = 'query-load-token-0123';
const PASSWORD = 'query-load-admin-password';
/** Samples from this long before the range, so the first points have their look-back window. */
const LEAD_MS = 10 * 60_000;
const LINES_PER_REQUEST = 5000;

interface Row {
  interval: string;
  query: string;
  requests: number;
  perSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** The gateway's CPU time (all threads, DuckDB's included) per request. */
  cpuMs: number;
  failed: number;
}

function host(i: number): string {
  return `h${String(i).padStart(2, '0')}`;
}

/** Counter value of series i at time t: grows by i + 1 per second from the first sample. */
function counter(i: number, t: number, t0: number): number {
  return 1000 + ((i + 1) * (t - t0)) / 1000;
}

async function fill(gw: Server, metric: string, intervalMs: number, from: number, to: number): Promise<number> {
  let lines: string[] = [];
  let written = 0;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    const res = await fetch(`${gw.base}/write?precision=ms`, {
      method: 'POST',
      headers: { authorization: `Token ${TOKEN}`, 'content-type': 'text/plain' },
      body: `${lines.join('\n')}\n`,
    });
    const text = await res.text();
    if (res.status !== 204) throw new Error(`POST /write: ${res.status} ${text}`);
    written += lines.length;
    lines = [];
  };
  for (let t = from; t <= to; t += intervalMs) {
    for (let i = 0; i < SERIES; i++) {
      lines.push(`${metric},host=${host(i)},dc=dc${i % 4} total=${counter(i, t, from)} ${t}`);
    }
    if (lines.length >= LINES_PER_REQUEST) await flush();
  }
  await flush();
  return written;
}

async function login(gw: Server): Promise<string> {
  const res = await fetch(`${gw.base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  const body = (await res.json()) as { accessToken?: string };
  if (res.status !== 200 || !body.accessToken) throw new Error(`login: ${res.status} ${JSON.stringify(body)}`);
  return body.accessToken;
}

type Matrix = { status: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };

function rangeUrl(gw: Server, query: string, start: number, end: number): string {
  return `${gw.base}/api/query/range?${new URLSearchParams({ query, start: String(start / 1000), end: String(end / 1000), step: `${STEP / 1000}s` })}`;
}

async function getRange(url: string, bearer: string): Promise<Matrix> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as Matrix;
}

/** Waits until the selector answers every series with every point of the hour. */
async function waitQueryable(url: string, bearer: string, points: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const m = await getRange(url, bearer);
    const full = m.data.result.filter((s) => s.values.length === points).length;
    if (m.data.result.length === SERIES && full === SERIES) return;
    last = `${m.data.result.length} series, ${full} with all ${points} points`;
    if (Date.now() > deadline) throw new Error(`data not queryable after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** The answers checked against what was written: every point of every series. */
async function verify(gw: Server, bearer: string, metric: string, start: number, end: number, dataFrom: number, points: number): Promise<void> {
  const sel = await getRange(rangeUrl(gw, metric, start, end), bearer);
  for (const s of sel.data.result) {
    const i = Number(s.metric['host']!.slice(1));
    s.values.forEach(([t, v], k) => {
      if (!close(Number(v), counter(i, start + k * STEP, dataFrom)) || t * 1000 !== start + k * STEP) throw new Error(`${metric}{host="${host(i)}"} at ${t}: ${v}`);
    });
  }
  const rate = await getRange(rangeUrl(gw, `rate(${metric}[1m])`, start, end), bearer);
  if (rate.data.result.length !== SERIES) throw new Error(`rate: ${rate.data.result.length} series`);
  for (const s of rate.data.result) {
    const i = Number(s.metric['host']!.slice(1));
    if (s.values.length !== points || s.values.some(([, v]) => !close(Number(v), i + 1))) throw new Error(`rate(${metric}{host="${host(i)}"}[1m]) is not ${i + 1} at every point`);
  }
  const sum = await getRange(rangeUrl(gw, `sum by (dc) (rate(${metric}[1m]))`, start, end), bearer);
  if (sum.data.result.length !== 4) throw new Error(`sum by (dc): ${sum.data.result.length} series`);
  for (const s of sum.data.result) {
    const dc = Number(s.metric['dc']!.slice(2));
    let want = 0;
    for (let i = dc; i < SERIES; i += 4) want += i + 1;
    if (s.values.length !== points || s.values.some(([, v]) => !close(Number(v), want))) throw new Error(`sum by (dc) for dc${dc} is not ${want} at every point`);
  }
}

async function load(gw: Server, url: string, bearer: string, connections: number, duration: number): Promise<Omit<Row, 'interval' | 'query'>> {
  const times: number[] = [];
  const cpu0 = cpuSeconds(gw.pid);
  let failed = 0;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      { url, connections, duration, timeout: 30, headers: { authorization: `Bearer ${bearer}` } },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      times.push(ms);
      if (status !== 200) failed++;
    });
  });
  const cpu = cpuSeconds(gw.pid) - cpu0;
  times.sort((a, b) => a - b);
  return {
    requests: times.length,
    perSec: times.length / result.duration,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    max: times[times.length - 1] ?? Number.NaN,
    cpuMs: (cpu * 1000) / times.length,
    failed: failed + result.errors + result.timeouts,
  };
}

async function scenario(intervalMs: number, connections: number, duration: number): Promise<Row[]> {
  const label = intervalMs >= 1000 ? `${intervalMs / 1000} s` : `${intervalMs} ms`;
  const metric = 'load';
  const end = Math.floor(Date.now() / STEP) * STEP;
  const start = end - HOUR;
  const points = HOUR / STEP + 1;
  const gw = await startSentio({
    token: TOKEN,
    sink: 'embedded',
    args: ['--admin-password', PASSWORD, '--api-rate-limit', '0'],
  });
  try {
    const t0 = performance.now();
    const samples = await fill(gw, metric, intervalMs, start - LEAD_MS, end);
    const bearer = await login(gw);
    const selector = `${metric}_total`;
    await waitQueryable(rangeUrl(gw, selector, start, end), bearer, points);
    console.log(`${label}: ${samples} samples (${SERIES} series, ${(LEAD_MS + HOUR) / 60_000} min) written and queryable in ${((performance.now() - t0) / 1000).toFixed(1)} s; answers checked`);
    await verify(gw, bearer, selector, start, end, start - LEAD_MS, points);
    const rows: Row[] = [];
    for (const query of [selector, `rate(${selector}[1m])`, `sum by (dc) (rate(${selector}[1m]))`]) {
      const url = rangeUrl(gw, query, start, end);
      await getRange(url, bearer); // warm-up
      rows.push({ interval: label, query, ...(await load(gw, url, bearer, connections, duration)) });
    }
    return rows;
  } finally {
    await gw.stop();
  }
}

function parseInterval(s: string): number {
  const m = /^(\d+)(ms|s)$/.exec(s.trim());
  if (!m) throw new Error(`--intervals: expected e.g. 10s,1s, got "${s}"`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      intervals: { type: 'string', default: '10s,1s' },
      connections: { type: 'string', short: 'c', default: '1' },
      duration: { type: 'string', short: 'd', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: node --import tsx load-tests/query.ts [--intervals 10s,1s] [-c 1] [-d 10]\n');
    return 0;
  }
  if (!sentioBuilt()) throw new Error('dist/cli.js or the native addon is missing: run npm run build first');
  const connections = Number(values.connections);
  const duration = Number(values.duration);
  const rows: Row[] = [];
  for (const interval of values.intervals.split(',')) rows.push(...(await scenario(parseInterval(interval), connections, duration)));

  console.log(`\nGET /api/query/range, 1 h x ${SERIES} series, step 10 s (361 points); autocannon ${connections} connection(s), ${duration} s per query`);
  console.log('| data | query | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | gateway CPU ms/request | failed | p99 < 100 ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const met = r.p99 < TARGET_P99_MS ? 'yes' : 'no';
    console.log(`| ${r.interval} | \`${r.query}\` | ${r.requests} | ${r.perSec.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.cpuMs.toFixed(1)} | ${r.failed} | ${met} |`);
  }
  const missed = rows.filter((r) => r.p99 >= TARGET_P99_MS);
  console.log(missed.length === 0 ? `target p99 < ${TARGET_P99_MS} ms: met for every query` : `target p99 < ${TARGET_P99_MS} ms: NOT met for ${missed.map((r) => `${r.query} on ${r.interval} data`).join(', ')}`);
  return rows.some((r) => r.failed > 0 || r.requests === 0) ? 1 : 0;
}

if (isMain(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`query load: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
