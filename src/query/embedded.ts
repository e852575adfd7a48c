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
// The work is one SQL statement per query: the window bounds come from
// ASOF joins of the (series x step) grid against the samples, so JS only
// sees one row per output point.

import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { SentioError } from '../errors.js';
import type { EmbeddedSink } from '../sinks/embedded/index.js';
import { children, parseDuration, parsePromQL, selectorOf, textOf, topAggregation, type SyntaxNode } from './promql.js';
import { compareLabels, formatValue, groupLabels as aggregateLabels, labelsKey } from './format.js';
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

/** VictoriaMetrics' maxSilenceInterval: how far back before the window data is read. */
const MAX_SILENCE_MS = 300_000;
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
    private readonly sink: EmbeddedSink,
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

    const points = Math.floor((endMs - startMs) / stepMs) + 1;
    const window = plan.fn === 'rate' ? plan.windowMs : stepMs;
    const minTs = Math.max(0, startMs - MAX_SILENCE_MS - Math.max(plan.windowMs, stepMs));
    const sql = rollupSql(plan);
    const params: DuckDBValue[] = [
      listValue(series.map((s) => s.id)),
      listValue(gids),
      BigInt(minTs),
      BigInt(endMs),
      BigInt(startMs),
      BigInt(stepMs),
      BigInt(points),
      BigInt(window),
    ];
    const rows = await this.read<[number, number, number]>(sql, params);
    const values: SamplePair[][] = groupLabels.map(() => []);
    for (const [g, t, v] of rows) values[g]!.push([t / 1000, formatValue(v)]);
    const result = groupLabels
      .map((metric, g) => ({ metric, values: values[g]! }))
      .filter((s) => s.values.length > 0)
      .sort((a, b) => compareLabels(a.metric, b.metric));
    return { resultType: 'matrix', result };
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
 * The rollup as one statement. Parameters: $1 series ids, $2 their output
 * group, $3..$4 the samples read [minTs, end], $5 start, $6 step, $7 points,
 * $8 the window before adjustment (step, or rate's [d]).
 * Rows: (group, t ms as DOUBLE, value), ordered by group and t.
 */
function rollupSql(plan: QueryPlan): string {
  const rate = plan.fn === 'rate';
  const agg = plan.aggregate?.op;
  const samples = `
    sel AS (SELECT unnest($1::BIGINT[]) AS sid, unnest($2::INTEGER[]) AS gid),
    raw AS (
      SELECT series_id AS sid, ts, arg_max(value, rowid) AS v
      FROM samples
      WHERE series_id IN (SELECT sid FROM sel) AND ts BETWEEN $3 AND $4
      GROUP BY series_id, ts
    ),`;
  // Counter resets removed as VictoriaMetrics does: a drop adds the previous value to
  // the correction, a drop of less than 1/8 of it only the difference.
  const counters = rate
    ? `
    lagged AS (SELECT sid, ts, v, lag(v) OVER (PARTITION BY sid ORDER BY ts) AS pv FROM raw),
    s AS (
      SELECT sid, ts, v + coalesce(sum(CASE WHEN v < pv THEN (CASE WHEN (pv - v) * 8 < pv THEN pv - v ELSE pv END) ELSE 0::DOUBLE END)
        OVER (PARTITION BY sid ORDER BY ts ROWS UNBOUNDED PRECEDING), 0::DOUBLE) AS v
      FROM lagged
    ),`
    : `
    s AS (SELECT sid, ts, v FROM raw),`;
  // Scrape interval: the 0.6 quantile (Go's formula) of the first 20 intervals; maxPrev from it.
  const stats = `
    iv AS (SELECT sid, ts, ts - lag(ts) OVER (PARTITION BY sid ORDER BY ts) AS d, row_number() OVER (PARTITION BY sid ORDER BY ts) AS rn FROM s),
    q AS (
      SELECT sid, count(*) AS n, max(ts) AS last_ts,
             list(d::DOUBLE ORDER BY d) FILTER (WHERE rn BETWEEN 2 AND 21) AS ds
      FROM iv GROUP BY sid
    ),
    qi AS (
      SELECT sid, n, last_ts, ds, 0.6::DOUBLE * (len(ds) - 1)::DOUBLE AS rank FROM q
    ),
    si AS (
      SELECT sid, last_ts,
        CASE WHEN n < 2 THEN ${MAX_SILENCE_MS}::BIGINT ELSE trunc(
          ds[floor(rank)::BIGINT + 1] * (1::DOUBLE - (rank - floor(rank))) +
          ds[least(len(ds) - 1, floor(rank)::BIGINT + 1) + 1] * (rank - floor(rank))
        )::BIGINT END AS si0
      FROM qi
    ),
    mp AS (
      SELECT sid, last_ts, CASE WHEN si0 <= 0 THEN ${MAX_SILENCE_MS}::BIGINT ELSE si0 END AS si FROM si
    ),
    mx AS (
      SELECT sid, last_ts,
        CASE WHEN si <= 2000 THEN si * 5 WHEN si <= 4000 THEN si * 3 WHEN si <= 8000 THEN si * 2
             WHEN si <= 16000 THEN si + si // 2 WHEN si <= 32000 THEN si + si // 4 ELSE si + si // 8 END AS mpi
      FROM mp
    ),
    grid AS (
      SELECT mx.sid, mx.last_ts, mx.mpi, greatest($8::BIGINT, mx.mpi) AS win, $5::BIGINT + r.k * $6::BIGINT AS t
      FROM mx, range($7::BIGINT) r(k)
    ),
    a AS (
      SELECT g.*, l.ts AS lt, l.v AS lv FROM grid g ASOF LEFT JOIN s l ON g.sid = l.sid AND g.t >= l.ts
    ),`;
  const value = rate
    ? `
    b AS (SELECT a.*, p.ts AS pt, p.v AS pv FROM a ASOF LEFT JOIN s p ON a.sid = p.sid AND a.t - a.win >= p.ts),
    c AS (SELECT b.*, f.ts AS ft, f.v AS fv FROM b ASOF LEFT JOIN s f ON b.sid = f.sid AND b.t - b.win < f.ts),
    pts AS (
      SELECT sid, t, CASE
        WHEN pt IS NOT NULL AND pt > t - win - mpi AND last_ts > t - win THEN
          CASE WHEN lt > t - win THEN (lv - pv) / ((lt - pt)::DOUBLE / 1000::DOUBLE) ELSE 0::DOUBLE END
        WHEN lt > t - win AND ft < lt THEN (lv - fv) / ((lt - ft)::DOUBLE / 1000::DOUBLE)
      END AS v
      FROM c
    )`
    : `
    pts AS (SELECT sid, t, CASE WHEN lt > t - win THEN lv END AS v FROM a)`;
  const out = agg
    ? `
    SELECT sel.gid, pts.t::DOUBLE AS t, ${agg}(pts.v) AS v
    FROM pts JOIN sel USING (sid)
    WHERE pts.v IS NOT NULL AND NOT isnan(pts.v)
    GROUP BY sel.gid, pts.t
    ORDER BY sel.gid, pts.t`
    : `
    SELECT sel.gid, pts.t::DOUBLE AS t, pts.v
    FROM pts JOIN sel USING (sid)
    WHERE pts.v IS NOT NULL AND NOT isnan(pts.v)
    ORDER BY sel.gid, pts.t`;
  return `WITH ${samples}${counters}${stats}${value}${out}`;
}
