// The query engine for VictoriaMetrics: PromQL/MetricsQL passed through to
// its Prometheus API (/api/v1/query_range, /query, /series, /labels,
// /label/<name>/values).
//
// Topologies:
// - vmselect (a cluster's Prometheus-API prefix, e.g.
//   http://host:8481/select/0/prometheus): every query goes to it alone; the
//   cluster merges its storage nodes itself.
// - One single-node VictoriaMetrics: passed through.
// - Several single nodes (the gateway shards writes by series hash, with
//   optional replication): every node is asked and the answers merged.
//   Series are united by label set; replicas of a series (same labels on
//   several nodes) are merged by timestamp, the first node's value winning
//   on equal timestamps. A top-level `sum|min|max|avg [by|without (...)] (X)`
//   is computed here from X's merged series (avg = sum / count), because
//   per-node aggregates cannot be combined in general (an avg of avgs, a sum
//   counting replicas twice). Anything else is united as it comes, which is
//   right for queries that work per series (selectors, rate, ...) and wrong
//   for other aggregations across nodes (count, topk, quantile, ...) and for
//   binary operators between series on different nodes: use a vmselect for
//   those. Queries the PromQL grammar cannot parse (MetricsQL extensions)
//   are passed through and united.
//
// Errors: VictoriaMetrics' 400/422 (a bad expression or argument) become
// SENTIO_ERR_BAD_QUERY, any other failure (status, network, timeout, a body
// that is not its JSON) SENTIO_ERR_QUERY_FAILED, both with its message.

import { request } from 'undici';
import { SentioError } from '../errors.js';
import { compareLabels, formatValue, groupLabels, labelsKey } from './format.js';
import { parsePromQL, textOf, topAggregation } from './promql.js';
import type { InstantQuery, Labels, MatrixResult, QueryEngine, RangeQuery, SamplePair, SeriesQuery, VectorResult } from './types.js';

export interface VictoriaMetricsQueryOptions {
  /** A Prometheus-API prefix that sees all data (cluster vmselect); when set, `shards` are not queried. */
  vmselect?: string;
  /** Base URLs of single-node servers, e.g. http://127.0.0.1:8428 (see baseUrlOf). */
  shards: string[];
  timeoutMs: number;
}

const WRITE_PATHS = ['/api/v1/write', '/api/v1/import', '/api/v2/write', '/influx/write', '/write', '/api/v1/push'];

/** The query base URL of a single-node VictoriaMetrics from its write URL (http://h:8428/api/v1/write → http://h:8428). */
export function baseUrlOf(writeUrl: string): string {
  const url = new URL(writeUrl);
  let path = url.pathname.replace(/\/+$/, '');
  const suffix = WRITE_PATHS.find((p) => path.endsWith(p));
  if (suffix) path = path.slice(0, -suffix.length);
  return `${url.origin}${path}`;
}

type Aggregate = { op: 'sum' | 'min' | 'max' | 'avg'; by?: string[]; without?: string[]; inner: string };

/** A top-level sum/min/max/avg with one argument, else undefined (also for what PromQL cannot parse). */
function mergeableAggregate(query: string): Aggregate | undefined {
  let agg;
  try {
    agg = topAggregation(query, parsePromQL(query));
  } catch {
    return undefined;
  }
  if (!agg || agg.args.length !== 1) return undefined;
  const { op, by, without } = agg;
  if (op !== 'sum' && op !== 'min' && op !== 'max' && op !== 'avg') return undefined;
  return { op, ...(by ? { by } : {}), ...(without ? { without } : {}), inner: textOf(query, agg.args[0]!) };
}

interface Series {
  metric: Labels;
  points: Map<number, string>;
}

/** Union of series by label set; a replica's points fill the timestamps the first one lacks. */
function unite(answers: Array<Array<{ metric: Labels; values: SamplePair[] }>>): Series[] {
  const byKey = new Map<string, Series>();
  for (const answer of answers) {
    for (const s of answer) {
      const key = labelsKey(s.metric);
      let e = byKey.get(key);
      if (!e) byKey.set(key, (e = { metric: s.metric, points: new Map() }));
      for (const [t, v] of s.values) if (!e.points.has(t)) e.points.set(t, v);
    }
  }
  return [...byKey.values()];
}

function toMatrix(series: Series[]): MatrixResult {
  return {
    resultType: 'matrix',
    result: series
      .map((s) => ({ metric: s.metric, values: [...s.points.entries()].sort((a, b) => a[0] - b[0]) }))
      .sort((a, b) => compareLabels(a.metric, b.metric)),
  };
}

/** The aggregation of merged series, per timestamp over the series that have a point there. */
function aggregate(agg: Aggregate, series: Series[]): Series[] {
  const groups = new Map<string, { metric: Labels; acc: Map<number, { v: number; n: number }> }>();
  for (const s of series) {
    const metric = groupLabels(agg, s.metric);
    const key = labelsKey(metric);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { metric, acc: new Map() }));
    for (const [t, text] of s.points) {
      const v = Number(text);
      if (Number.isNaN(v)) continue;
      const a = g.acc.get(t);
      if (!a) g.acc.set(t, { v, n: 1 });
      else {
        a.n++;
        if (agg.op === 'sum' || agg.op === 'avg') a.v += v;
        else if (agg.op === 'min') a.v = Math.min(a.v, v);
        else a.v = Math.max(a.v, v);
      }
    }
  }
  return [...groups.values()].map((g) => ({
    metric: g.metric,
    points: new Map([...g.acc.entries()].map(([t, a]) => [t, formatValue(agg.op === 'avg' ? a.v / a.n : a.v)])),
  }));
}

export class VictoriaMetricsQueryEngine implements QueryEngine {
  readonly name = 'victoriametrics';
  private readonly targets: string[];

  constructor(private readonly opts: VictoriaMetricsQueryOptions) {
    const bases = opts.vmselect ? [opts.vmselect] : opts.shards;
    if (bases.length === 0) throw new Error('VictoriaMetricsQueryEngine needs a vmselect URL or at least one shard');
    this.targets = bases.map((b) => b.replace(/\/+$/, ''));
  }

  async range(q: RangeQuery): Promise<MatrixResult> {
    const params = (query: string) => ({ query, start: seconds(q.startMs), end: seconds(q.endMs), step: seconds(q.stepMs) });
    return toMatrix(await this.evaluate(q.query, (query) => this.all<MatrixResult>('/api/v1/query_range', params(query)).then((rs) => rs.map((r) => matrixOf(r)))));
  }

  async instant(q: InstantQuery): Promise<VectorResult> {
    const params = (query: string) => ({ query, time: seconds(q.timeMs) });
    const series = await this.evaluate(q.query, (query) =>
      this.all<VectorResult>('/api/v1/query', params(query)).then((rs) =>
        rs.map((r) => {
          if (r.resultType !== 'vector') throw new SentioError('SENTIO_ERR_QUERY_FAILED', `VictoriaMetrics answered a ${String(r.resultType)}, not a vector`);
          return r.result.map((s) => ({ metric: s.metric, values: [s.value] }));
        }),
      ),
    );
    return {
      resultType: 'vector',
      result: toMatrix(series).result.flatMap((s) => (s.values.length > 0 ? [{ metric: s.metric, value: s.values[s.values.length - 1]! }] : [])),
    };
  }

  /** The merged series of a query: asked as it is, or its aggregation computed here from its argument. */
  private async evaluate(query: string, ask: (query: string) => Promise<Array<Array<{ metric: Labels; values: SamplePair[] }>>>): Promise<Series[]> {
    const agg = this.targets.length > 1 ? mergeableAggregate(query) : undefined;
    if (!agg) return unite(await ask(query));
    return aggregate(agg, unite(await ask(agg.inner)));
  }

  async series(q: SeriesQuery): Promise<Labels[]> {
    if (q.match.length === 0) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'at least one match[] selector is needed');
    const answers = await this.all<Labels[]>('/api/v1/series', { 'match[]': q.match, start: seconds(q.startMs), end: seconds(q.endMs) });
    const byKey = new Map<string, Labels>();
    for (const a of answers) for (const l of a) byKey.set(labelsKey(l), l);
    return [...byKey.values()].sort(compareLabels);
  }

  async labelNames(q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]> {
    return union(await this.all<string[]>('/api/v1/labels', { 'match[]': q.match ?? [], start: seconds(q.startMs), end: seconds(q.endMs) }));
  }

  async labelValues(label: string, q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]> {
    const path = `/api/v1/label/${encodeURIComponent(label)}/values`;
    return union(await this.all<string[]>(path, { 'match[]': q.match ?? [], start: seconds(q.startMs), end: seconds(q.endMs) }));
  }

  /** `data` of the same request to every target. */
  private all<T>(path: string, params: Record<string, string | string[]>): Promise<T[]> {
    return Promise.all(this.targets.map((base) => this.call<T>(base, path, params)));
  }

  private async call<T>(base: string, path: string, params: Record<string, string | string[]>): Promise<T> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
    const url = `${base}${path}`;
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'sentio' },
        body: form.toString(),
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw new SentioError('SENTIO_ERR_QUERY_FAILED', `VictoriaMetrics ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    let body: { status?: string; data?: T; error?: string } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    if (status === 200 && body?.status === 'success' && body.data !== undefined) return body.data;
    const message = body?.error ?? text.slice(0, 500).trim();
    const code = status === 400 || status === 422 ? 'SENTIO_ERR_BAD_QUERY' : 'SENTIO_ERR_QUERY_FAILED';
    throw new SentioError(code, `VictoriaMetrics ${url}: HTTP ${status}: ${message}`);
  }
}

function matrixOf(r: MatrixResult): Array<{ metric: Labels; values: SamplePair[] }> {
  if (r.resultType !== 'matrix') throw new SentioError('SENTIO_ERR_QUERY_FAILED', `VictoriaMetrics answered a ${String(r.resultType)}, not a matrix`);
  return r.result;
}

function union(lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

/** Unix ms as the seconds VictoriaMetrics takes ("1700000000.5"). */
function seconds(ms: number): string {
  return String(ms / 1000);
}
