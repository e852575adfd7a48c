// A rule's condition, from its stored `expr`, evaluated through the query
// engine (VictoriaMetrics or the embedded store). Forms:
//
//   <query> <op> <number>                  threshold: pump_temp{site="a"} > 90
//   anomaly(<selector>[, "<model>"]) <op> <number>
//                                          anomaly score: anomaly(pump_temp, "iforest") >= 0.8
//                                          (the series' sentio_anomaly_score of that model,
//                                          default "statistical"; every model version)
//   reaches(<query>, <op> <number>, <within>[, <window>])
//                                          time to threshold: the series' Theil–Sen trend over
//                                          <window> (default 6h) crosses the threshold within
//                                          <within>: reaches(pump_temp, >= 90, 24h); > and >=
//                                          watch a rise, < and <= a fall; the alert's value is
//                                          the seconds left (0: already beyond)
//   <query>                                every series of the result (PromQL-style
//                                          `up == 0` where the engine answers it)
//
// <op> is one of > >= < <= == !=. The query is evaluated at step times as a
// range query's point (range [t − step, t], that step): live evaluation and a
// backtest over a past range read the same points, so they agree.

import { SentioError } from '../errors.js';
import { fitTrend, timeToThreshold } from '../anomaly/trend.js';
import { parseDuration, parsePromQL } from '../query/promql.js';
import { formatSelector, parseSelector } from '../query/selector.js';
import type { QueryEngine } from '../query/types.js';
import type { ActiveSeries, Condition } from './evaluator.js';

export type CompareOp = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface ParsedCondition {
  kind: 'threshold' | 'anomaly' | 'query' | 'trend';
  /** What the engine is asked. */
  query: string;
  op?: CompareOp;
  threshold?: number;
  /** trend: the fit's window and how soon the crossing must be, in ms. */
  windowMs?: number;
  withinMs?: number;
}

const TAIL = /\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;
const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const REACHES = new RegExp(String.raw`^\s*reaches\s*\(\s*(.+?)\s*,\s*(>=|<=|>|<)\s*(${NUM})\s*,\s*([0-9a-z.]+)\s*(?:,\s*([0-9a-z.]+)\s*)?\)\s*$`, 's');
const ANOMALY = /^\s*anomaly\s*\(\s*(.+?)\s*(?:,\s*"([A-Za-z0-9_.-]+)"\s*)?\)\s*$/s;

function bad(message: string): SentioError {
  return new SentioError('SENTIO_ERR_BAD_QUERY', message);
}

/** Parses a rule's expr; throws SentioError SENTIO_ERR_BAD_QUERY. */
export function parseCondition(expr: string): ParsedCondition {
  const reaches = REACHES.exec(expr);
  if (reaches) {
    const windowMs = reaches[5] ? parseDuration(reaches[5]) : 6 * 3_600_000;
    const withinMs = parseDuration(reaches[4]!);
    if (!(windowMs > 0) || !(withinMs > 0)) throw bad('reaches(...) needs positive durations');
    parsePromQL(reaches[1]!);
    return { kind: 'trend', query: reaches[1]!, op: reaches[2] as CompareOp, threshold: Number(reaches[3]), windowMs, withinMs };
  }
  if (/^\s*reaches\s*\(/.test(expr)) throw bad('reaches(<query>, <op> <number>, <within>[, <window>]), e.g. reaches(pump_temp, >= 90, 24h)');
  const tail = TAIL.exec(expr);
  const left = tail ? expr.slice(0, tail.index) : expr;
  const op = tail?.[1] as CompareOp | undefined;
  const threshold = tail ? Number(tail[2]) : undefined;
  const anomaly = ANOMALY.exec(left);
  if (anomaly) {
    if (!tail) throw bad('anomaly(...) needs a comparison with a score, e.g. anomaly(pump_temp) >= 0.8');
    const sel = parseSelector(anomaly[1]!);
    const name = sel.matchers.find((m) => m.name === '__name__' && m.op === '=');
    if (!name) throw bad('anomaly(...) needs a selector with a metric name');
    const matchers = [
      { name: '__name__', op: '=' as const, value: 'sentio_anomaly_score' },
      { name: 'metric', op: '=' as const, value: name.value },
      ...sel.matchers.filter((m) => m.name !== '__name__' && m.name !== 'model'),
      { name: 'model', op: '=' as const, value: anomaly[2] ?? 'statistical' },
    ];
    return { kind: 'anomaly', query: formatSelector({ matchers }), op: op!, threshold: threshold! };
  }
  if (left.trim() === '') throw bad('an alert rule expression needs a query');
  return tail ? { kind: 'threshold', query: left.trim(), op: op!, threshold: threshold! } : { kind: 'query', query: expr.trim() };
}

export function compare(v: number, op: CompareOp, t: number): boolean {
  switch (op) {
    case '>': return v > t;
    case '>=': return v >= t;
    case '<': return v < t;
    case '<=': return v <= t;
    case '==': return v === t;
    case '!=': return v !== t;
  }
}

/** The condition of a parsed expr, read at steps of `stepMs` through `engine`. */
export class QueryCondition implements Condition {
  constructor(
    private readonly engine: QueryEngine,
    readonly parsed: ParsedCondition,
    private readonly stepMs: number,
  ) {}

  private prefetched: { fromMs: number; toMs: number; byT: Map<number, ActiveSeries[]> } | undefined;

  /** Reads the steps of [fromMs, toMs] in one range query, for at() to answer from (a backtest). */
  async prefetch(fromMs: number, toMs: number): Promise<void> {
    this.prefetched = { fromMs, toMs, byT: await this.points(fromMs, toMs) };
  }

  async at(tMs: number): Promise<ActiveSeries[]> {
    const p = this.prefetched;
    if (p && tMs >= p.fromMs && tMs <= p.toMs) return p.byT.get(tMs) ?? [];
    return (await this.points(tMs, tMs)).get(tMs) ?? [];
  }

  /** The active series at each step in [fromMs, toMs] (multiples of the step), from one range query starting a step earlier. */
  private async points(fromMs: number, toMs: number): Promise<Map<number, ActiveSeries[]>> {
    if (this.parsed.kind === 'trend') return this.trendPoints(fromMs, toMs);
    const step = this.stepMs;
    const m = await this.engine.range({ query: this.parsed.query, startMs: Math.ceil(fromMs / step) * step - step, endMs: toMs, stepMs: step });
    const { op, threshold, kind } = this.parsed;
    const byT = new Map<number, Map<string, ActiveSeries>>();
    for (const s of m.result) {
      const labels = { ...s.metric };
      // Scores of several versions of one model are one alert: the highest counts.
      if (kind === 'anomaly') delete labels.model_version;
      const key = JSON.stringify(Object.entries(labels).sort());
      for (const [tS, text] of s.values) {
        const t = Math.round(tS * 1000);
        const v = Number(text);
        if (t < fromMs || Number.isNaN(v)) continue;
        if (op !== undefined && !compare(v, op, threshold!)) continue;
        let at = byT.get(t);
        if (!at) byT.set(t, (at = new Map()));
        const prev = at.get(key);
        if (!prev || v > prev.value) at.set(key, { labels, value: v });
      }
    }
    return new Map([...byT].map(([t, at]) => [t, [...at.values()]]));
  }

  /** trend: at each step, each series' fit over the window before it, and whether it crosses within the bound. */
  private async trendPoints(fromMs: number, toMs: number): Promise<Map<number, ActiveSeries[]>> {
    const step = this.stepMs;
    const { windowMs, withinMs, op, threshold } = this.parsed as Required<ParsedCondition>;
    const first = Math.ceil(fromMs / step) * step;
    const m = await this.engine.range({ query: this.parsed.query, startMs: Math.ceil((first - windowMs) / step) * step, endMs: toMs, stepMs: step });
    const direction = op === '>' || op === '>=' ? 'up' : 'down';
    const byT = new Map<number, ActiveSeries[]>();
    for (const s of m.result) {
      const ts = s.values.map((v) => Math.round(v[0] * 1000) / 1000);
      const vs = s.values.map((v) => Number(v[1]));
      let lo = 0;
      let hi = 0;
      for (let t = first; t <= toMs; t += step) {
        // The samples in (t − window, t].
        while (hi < ts.length && Math.round(ts[hi]! * 1000) <= t) hi++;
        while (lo < hi && Math.round(ts[lo]! * 1000) <= t - windowMs) lo++;
        if (hi - lo < 3 || Math.round(ts[hi - 1]! * 1000) !== t) continue;
        const fit = fitTrend(ts.slice(lo, hi), vs.slice(lo, hi));
        if (!fit) continue;
        const cross = timeToThreshold(fit, threshold, direction);
        if (!cross || cross.seconds * 1000 > withinMs) continue;
        let at = byT.get(t);
        if (!at) byT.set(t, (at = []));
        at.push({ labels: { ...s.metric }, value: cross.seconds });
      }
    }
    return byT;
  }
}
