// The query engine of the embedded DuckDB store (docs/embedded-store.md for
// the schema, docs/query.md for what is supported and how it is computed).
//
// Subset: a series selector (metric name, matchers = != =~ !~), rate(sel[d]),
// and sum|min|max|avg [by|without (labels)] (X) with X one of those two,
// parentheses allowed. Anything else that parses as PromQL is refused with
// SENTIO_ERR_UNSUPPORTED_QUERY naming it; a syntax error is
// SENTIO_ERR_BAD_QUERY.
//
// Semantics are VictoriaMetrics 1.79.5's (the production engine), so a
// dashboard shows the same curve on either store (test/query.test.ts
// compares them on real data):
// - Points at start, start+step, ... <= end; with >= 50 points start and end
//   are aligned to multiples of step first, as VictoriaMetrics does with its
//   response cache on (its default; `alignStartEnd: false` for a server run
//   with -search.disableCache).
// - Per series, the scrape interval is the 0.6 quantile of its first 20
//   intervals from start - max(window, step) - 5m on; maxPrev is that plus a
//   margin (x5 up to 2 s ... +1/8 above 32 s). The lookbehind window is
//   max(step or [d], maxPrev).
// - A selector's point is the last sample in (t - window, t], none if empty
//   (no "last value forever").
// - rate: counter resets removed first (a drop is a reset, except a drop of
//   less than 1/8, which VictoriaMetrics takes for jitter and only levels);
//   then (last - prev) / (t_last - t_prev) where prev is the last sample
//   at or before t - window if it is younger than maxPrev and some sample
//   follows it, else (last - first) over the window's samples (none for
//   fewer than two); 0 if prev exists but the window is empty. No
//   extrapolation. __name__ is dropped.
// - Aggregations skip missing points; a group without any point has none.
// - Duplicate timestamps of a series: the last written sample wins (the
//   embedded store keeps all of them; VictoriaMetrics without deduplication
//   keeps them too and returns an unspecified one).
// - Series are sorted as VictoriaMetrics sorts them (metric name, then the
//   label pairs in name order); values are formatted like Go's
//   strconv.FormatFloat(v, 'f', -1, 64).
//
// The work: the matching series come from the small `series` table; their
// samples in [start - 5m - max(step, [d]), end] are read as typed arrays
// (embedded-samples.ts: no row conversion, no sort in DuckDB), and the
// rollups run in JS over each series (rollup.ts), one pass per series with
// two cursors. bench/query.ts measures it against the earlier all-SQL plan.

import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { SentioError } from '../errors.js';
import type { EmbeddedStore } from '../embedded/index.js';
import { children, parseDuration, parsePromQL, selectorOf, textOf, topAggregation, type SyntaxNode } from './promql.js';
import { readSamples } from './embedded-samples.js';
import { compareLabels, formatValue, groupLabels as aggregateLabels, labelsKey } from './format.js';
import { MAX_SILENCE_MS, maxPrevInterval, removeCounterResets, rollupLast, rollupRate, scrapeInterval, type Grid, type SeriesSamples } from './rollup.js';
import { parseSelector, type Matcher, type Selector } from './selector.js';
import type { InstantQuery, Labels, MatrixResult, QueryEngine, RangeQuery, SamplePair, SeriesQuery, VectorResult } from './types.js';

export type AggregateOp = 'sum' | 'min' | 'max' | 'avg';

/** A query of the embedded subset. */
export interface QueryPlan {
  selector: Selector;
  /** 'last': the plain selector; 'rate': rate(selector[windowMs]). */
  fn: 'last' | 'rate';
  windowMs: number;
  aggregate?: { op: AggregateOp; by?: string[]; without?: string[] };
}

export interface EmbeddedQueryOptions {
  /**
   * Align start and end to multiples of step when the query has 50 points or
   * more, as VictoriaMetrics does by default (with its response cache on).
   * Default true.
   */
  alignStartEnd?: boolean;
  /** The most points per series a range query may ask for (VictoriaMetrics' default). */
  maxPoints?: number;
}

/** VictoriaMetrics' default step for instant queries (its -search.maxStalenessInterval unset). */
const INSTANT_STEP_MS = 300_000;
const MIN_POINTS_FOR_ALIGNMENT = 50;

function unsupported(what: string): SentioError {
  return new SentioError('SENTIO_ERR_UNSUPPORTED_QUERY', `${what} is not supported by the embedded store`);
}

const BINARY_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Mod', 'Pow', 'Eql', 'Neq', 'Gtr', 'Lss', 'Gte', 'Lte', 'And', 'Or', 'Unless', 'Atan2', 'TrimUpper', 'TrimLower']);

/** A short name for what a node is, for the unsupported-query message. */
function describe(src: string, node: SyntaxNode): string {
  switch (node.name) {
    case 'FunctionCall':
      return `function "${textOf(src, node.firstChild!)}"`;
    case 'AggregateExpr':
      return `aggregation "${textOf(src, node.firstChild!).toLowerCase()}"`;
    case 'BinaryExpr': {
      const op = children(node).find((c) => BINARY_OPS.has(c.name));
      return `binary operator${op ? ` "${textOf(src, op)}"` : ''}`;
    }
    case 'UnaryExpr':
      return `unary operator "${textOf(src, node.firstChild!)}"`;
    case 'OffsetExpr':
      return 'the offset modifier';
    case 'StepInvariantExpr':
      return 'the @ modifier';
    case 'SubqueryExpr':
      return 'a subquery';
    case 'MatrixSelector':
      return `a range selector (${textOf(src, node)}) outside rate()`;
    case 'NumberDurationLiteral':
      return `a number literal (${textOf(src, node)})`;
    case 'StringLiteral':
      return 'a string literal';
    default:
      return `"${textOf(src, node)}"`;
  }
}

function unwrap(node: SyntaxNode): SyntaxNode {
  let n = node;
  while (n.name === 'ParenExpr' && n.firstChild) n = n.firstChild;
  return n;
}

/** The plan of a rate() call or a selector; throws for anything else. */
function innerPlan(src: string, node: SyntaxNode): Omit<QueryPlan, 'aggregate'> {
  const n = unwrap(node);
  if (n.name === 'VectorSelector') return { selector: selectorOf(src, n), fn: 'last', windowMs: 0 };
  if (n.name === 'FunctionCall') {
    const name = textOf(src, n.firstChild!);
    if (name !== 'rate') throw unsupported(`function "${name}"`);
    const args = children(n.lastChild!);
    if (args.length !== 1) throw new SentioError('SENTIO_ERR_BAD_QUERY', `rate() takes one argument, got ${args.length}`);
    const arg = unwrap(args[0]!);
    if (arg.name !== 'MatrixSelector') {
      if (arg.name === 'VectorSelector') throw unsupported('rate() without a range [d] (a MetricsQL extension)');
      throw unsupported(`rate() of ${describe(src, arg)}`);
    }
    const [sel, dur] = children(arg);
    if (!sel || !dur) throw new SentioError('SENTIO_ERR_BAD_QUERY', `malformed range selector ${textOf(src, arg)}`);
    if (sel.name !== 'VectorSelector') throw unsupported(`rate() of ${describe(src, sel)}`);
    if (dur.firstChild?.name !== 'NumberDurationLiteralInDurationContext' || dur.firstChild.nextSibling) {
      throw unsupported(`the duration expression ${JSON.stringify(textOf(src, dur))}`);
    }
    const windowMs = parseDuration(textOf(src, dur));
    if (windowMs <= 0) throw new SentioError('SENTIO_ERR_BAD_QUERY', `range ${textOf(src, dur)} must be positive`);
    return { selector: selectorOf(src, sel), fn: 'rate', windowMs };
  }
  throw unsupported(describe(src, n));
}

/** Parses a query of the embedded subset. Throws SENTIO_ERR_BAD_QUERY or SENTIO_ERR_UNSUPPORTED_QUERY. */
export function planQuery(text: string): QueryPlan {
  const expr = parsePromQL(text);
  const agg = topAggregation(text, expr);
  if (!agg) return innerPlan(text, expr);
  const { op, by, without, args } = agg;
  if (op !== 'sum' && op !== 'min' && op !== 'max' && op !== 'avg') throw unsupported(`aggregation "${op}"`);
  if (args.length !== 1) throw new SentioError('SENTIO_ERR_BAD_QUERY', `${op}() takes one argument, got ${args.length}`);
  const inner = args[0]!;
  if (inner.name === 'AggregateExpr') throw unsupported(`${describe(text, inner)} inside an aggregation`);
  const plan: QueryPlan = innerPlan(text, inner);
  plan.aggregate = { op, ...(by ? { by } : {}), ...(without ? { without } : {}) };
  return plan;
}

/** The SQL condition (on table `series`) for one matcher; pushes its parameters. */
function matcherSql(m: Matcher, params: DuckDBValue[]): string {
  let col: string;
  if (m.name === '__name__') col = 'metric';
  else {
    params.push(`$.${JSON.stringify(m.name)}`);
    col = `coalesce(json_extract_string(labels, $${params.length}), '')`;
  }
  params.push(m.value);
  const p = `$${params.length}`;
  switch (m.op) {
    case '=': return `${col} = ${p}`;
    case '!=': return `${col} <> ${p}`;
    // RE2, the regex engine of Prometheus and VictoriaMetrics; 's': `.` matches a newline, as there.
    case '=~': return `regexp_full_match(${col}, ${p}, 's')`;
    case '!~': return `NOT regexp_full_match(${col}, ${p}, 's')`;
  }
}

function selectorSql(sel: Selector, params: DuckDBValue[]): string {
  return sel.matchers.map((m) => matcherSql(m, params)).join(' AND ') || 'true';
}

interface SeriesRow {
  id: bigint;
  labels: Labels;
}

/** The labels of an output series of the plan, for a source series. */
function outputLabels(plan: QueryPlan, labels: Labels): Labels {
  if (plan.aggregate) return aggregateLabels(plan.aggregate, labels);
  if (plan.fn !== 'rate') return labels;
  const { __name__: _, ...rest } = labels;
  return rest;
}

function checkRange(startMs: number, endMs: number): void {
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'start and end must be numbers');
  if (endMs < startMs) throw new SentioError('SENTIO_ERR_BAD_QUERY', `end (${endMs}) is before start (${startMs})`);
}

export class EmbeddedQueryEngine implements QueryEngine {
  readonly name = 'embedded';
  private readonly align: boolean;
  private readonly maxPoints: number;

  constructor(
    protected readonly sink: EmbeddedStore,
    opts: EmbeddedQueryOptions = {},
  ) {
    this.align = opts.alignStartEnd ?? true;
    this.maxPoints = opts.maxPoints ?? 30_000;
  }

  async range(q: RangeQuery): Promise<MatrixResult> {
    const plan = planQuery(q.query);
    let { startMs, endMs } = q;
    const { stepMs } = q;
    checkRange(startMs, endMs);
    if (!Number.isInteger(stepMs) || stepMs <= 0) throw new SentioError('SENTIO_ERR_BAD_QUERY', `step must be a positive number of ms, got ${stepMs}`);
    startMs = Math.floor(startMs);
    endMs = Math.floor(endMs);
    const points = Math.floor((endMs - startMs) / stepMs) + 1;
    if (points > this.maxPoints) {
      throw new SentioError('SENTIO_ERR_BAD_QUERY', `${points} points per series exceed the limit of ${this.maxPoints}; use a bigger step`);
    }
    if (this.align && points >= MIN_POINTS_FOR_ALIGNMENT) [startMs, endMs] = alignStartEnd(startMs, endMs, stepMs, points);
    return this.evaluate(plan, startMs, endMs, stepMs);
  }

  async instant(q: InstantQuery): Promise<VectorResult> {
    const plan = planQuery(q.query);
    const t = Math.floor(q.timeMs);
    checkRange(t, t);
    const m = await this.evaluate(plan, t, t, INSTANT_STEP_MS);
    return {
      resultType: 'vector',
      result: m.result.filter((s) => s.values.length > 0).map((s) => ({ metric: s.metric, value: s.values[0]! })),
    };
  }

  /** Series whose labels match the selector, as id + labels. */
  private async matching(sel: Selector): Promise<SeriesRow[]> {
    const params: DuckDBValue[] = [];
    const rows = await this.read<[bigint, string]>(`SELECT id, labels FROM series WHERE ${selectorSql(sel, params)}`, params);
    return rows.map(([id, labels]) => ({ id, labels: JSON.parse(labels) as Labels }));
  }

  private async evaluate(plan: QueryPlan, startMs: number, endMs: number, stepMs: number): Promise<MatrixResult> {
    const series = await this.matching(plan.selector);
    if (series.length === 0) return { resultType: 'matrix', result: [] };
    // Output series: one per source series, or one per group.
    const groups = new Map<string, number>();
    const groupLabels: Labels[] = [];
    const gids = series.map((s) => {
      const labels = outputLabels(plan, s.labels);
      const key = labelsKey(labels);
      let g = groups.get(key);
      if (g === undefined) {
        g = groupLabels.length;
        groups.set(key, g);
        groupLabels.push(labels);
      }
      return g;
    });
    if (!plan.aggregate && groupLabels.length < series.length) {
      // rate() of series that differ only in __name__ (Prometheus refuses this; VictoriaMetrics keeps both).
      throw new SentioError('SENTIO_ERR_UNSUPPORTED_QUERY', 'rate() over several metrics whose series differ only in the metric name is not supported by the embedded store');
    }

    const values = await this.rollup(plan, series.map((s) => s.id), gids, groupLabels.length, startMs, endMs, stepMs);
    const result = groupLabels
      .map((metric, g) => ({ metric, values: values[g]! }))
      .filter((s) => s.values.length > 0)
      .sort((a, b) => compareLabels(a.metric, b.metric));
    return { resultType: 'matrix', result };
  }

  /**
   * The points of each output group: series `ids[i]` goes into group
   * `gids[i]`. Protected so that bench/query.ts can run the earlier plan
   * in its place.
   */
  protected async rollup(plan: QueryPlan, ids: bigint[], gids: number[], groups: number, startMs: number, endMs: number, stepMs: number): Promise<SamplePair[][]> {
    const points = Math.floor((endMs - startMs) / stepMs) + 1;
    const window = plan.fn === 'rate' ? plan.windowMs : stepMs;
    const minTs = Math.max(0, startMs - MAX_SILENCE_MS - Math.max(plan.windowMs, stepMs));
    const grid: Grid = { t0: startMs - minTs, step: stepMs, points };
    const acc = new GroupAccumulator(plan.aggregate?.op, groups, points);
    const point = new Float64Array(points);
    let corrected = new Float64Array(0);
    await this.samples(ids, minTs, endMs, (i, s) => {
      const maxPrev = maxPrevInterval(scrapeInterval(s));
      const win = Math.max(window, maxPrev);
      if (plan.fn === 'rate') {
        if (corrected.length < s.n) corrected = new Float64Array(s.n);
        rollupRate(s, removeCounterResets(s, corrected), grid, win, maxPrev, point);
      }
      else rollupLast(s, grid, win, point);
      acc.add(gids[i]!, point);
    });
    return Array.from({ length: groups }, (_, g) => acc.pairs(g, startMs, stepMs));
  }

  private async samples(ids: bigint[], fromMs: number, toMs: number, visit: (i: number, s: SeriesSamples) => void): Promise<void> {
    let conn: DuckDBConnection | undefined;
    try {
      conn = await this.sink.connectReader();
      await readSamples(conn, ids, fromMs, toMs, visit);
    } catch (err) {
      if (err instanceof SentioError) throw err;
      throw new SentioError('SENTIO_ERR_QUERY_FAILED', `embedded store: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      conn?.closeSync();
    }
  }

  async series(q: SeriesQuery): Promise<Labels[]> {
    if (q.match.length === 0) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'at least one match[] selector is needed');
    checkRange(q.startMs, q.endMs);
    const rows = await this.seriesIn(q.match, q.startMs, q.endMs, 'labels');
    return rows.map(([labels]) => JSON.parse(labels) as Labels).sort(compareLabels);
  }

  async labelNames(q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]> {
    checkRange(q.startMs, q.endMs);
    const rows = await this.seriesIn(q.match ?? [], q.startMs, q.endMs, 'DISTINCT unnest(json_keys(labels))');
    return rows.map(([n]) => n).sort();
  }

  async labelValues(label: string, q: Partial<SeriesQuery> & { startMs: number; endMs: number }): Promise<string[]> {
    checkRange(q.startMs, q.endMs);
    const col = label === '__name__' ? 'metric' : `json_extract_string(labels, ${sqlString(`$.${JSON.stringify(label)}`)})`;
    const rows = await this.seriesIn(q.match ?? [], q.startMs, q.endMs, `DISTINCT ${col} AS v`, `${col} IS NOT NULL AND ${col} <> ''`);
    return rows.map(([v]) => v).sort();
  }

  /** `what` of the series matching any of `match` (all if empty) with a sample in [start, end]. */
  private async seriesIn(match: string[], startMs: number, endMs: number, what: string, extra = 'true'): Promise<Array<[string]>> {
    const params: DuckDBValue[] = [BigInt(Math.floor(startMs)), BigInt(Math.floor(endMs))];
    const selectors = match.map((m) => `(${selectorSql(parseSelector(m), params)})`);
    const where = selectors.length > 0 ? selectors.join(' OR ') : 'true';
    return this.read<[string]>(
      `SELECT ${what} FROM series
       WHERE (${where}) AND ${extra}
         AND id IN (SELECT DISTINCT series_id FROM samples WHERE ts BETWEEN $1 AND $2)`,
      params,
    );
  }

  private async read<T extends unknown[]>(sql: string, params: DuckDBValue[]): Promise<T[]> {
    try {
      return await this.sink.read<T>(sql, params);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/regex|regular expression/i.test(msg)) throw new SentioError('SENTIO_ERR_BAD_QUERY', `invalid regular expression: ${msg}`, { cause: err });
      throw new SentioError('SENTIO_ERR_QUERY_FAILED', `embedded store: ${msg}`, { cause: err });
    }
  }
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** VictoriaMetrics' AdjustStartEnd: start down and end up to multiples of step, keeping the number of points. */
export function alignStartEnd(startMs: number, endMs: number, stepMs: number, points: number): [number, number] {
  let start = startMs - (startMs % stepMs);
  let end = endMs;
  const adjust = end % stepMs;
  if (adjust > 0) end += stepMs - adjust;
  if (Math.floor((end - start) / stepMs) + 1 > points) {
    if (start < end) end -= stepMs;
    else start += stepMs;
  }
  return [start, end];
}

/**
 * The points of the output series: one series' points as they are, or an
 * aggregation across series per point (missing points skipped; none where
 * no series has one).
 */
class GroupAccumulator {
  private readonly value: Float64Array[];
  private readonly count: Float64Array[];

  constructor(
    private readonly op: AggregateOp | undefined,
    groups: number,
    points: number,
  ) {
    this.value = Array.from({ length: groups }, () => new Float64Array(points).fill(NaN));
    this.count = Array.from({ length: groups }, () => new Float64Array(points));
  }

  add(g: number, point: Float64Array): void {
    const value = this.value[g]!;
    const count = this.count[g]!;
    for (let k = 0; k < point.length; k++) {
      const v = point[k]!;
      if (Number.isNaN(v)) continue;
      const c = count[k]!;
      count[k] = c + 1;
      if (c === 0 || this.op === undefined) value[k] = v;
      else if (this.op === 'sum' || this.op === 'avg') value[k]! += v;
      else if (this.op === 'min') value[k] = Math.min(value[k]!, v);
      else value[k] = Math.max(value[k]!, v);
    }
  }

  /** [seconds, value] pairs of group g; NaN results (e.g. +Inf + -Inf) left out, as VictoriaMetrics does. */
  pairs(g: number, startMs: number, stepMs: number): SamplePair[] {
    const value = this.value[g]!;
    const count = this.count[g]!;
    const out: SamplePair[] = [];
    for (let k = 0; k < value.length; k++) {
      if (count[k] === 0) continue;
      const v = this.op === 'avg' ? value[k]! / count[k]! : value[k]!;
      if (!Number.isNaN(v)) out.push([(startMs + k * stepMs) / 1000, formatValue(v)]);
    }
    return out;
  }
}
