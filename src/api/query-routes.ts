// Query routes: the Prometheus HTTP API's query endpoints under /api, with
// its parameter forms (times as Unix seconds or RFC 3339, steps as seconds
// or durations such as 10s, 1m) and its reply shape
// `{"status":"success","data":...}`, answered by the configured engine
// (VictoriaMetrics, or the embedded store's subset: docs/query.md).

import { z } from 'zod';
import { SentioError } from '../errors.js';
import type { QueryEngine } from '../query/types.js';
import { route, type RouteDef } from './router.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
/** Most points one series may have in a range reply (as Prometheus: 11,000). */
const MAX_POINTS = 11_000;

export function parseTime(v: string, name: string): number {
  if (/^-?\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw new SentioError('SENTIO_ERR_BAD_QUERY', `${name}: expected Unix seconds or an RFC 3339 time, got "${v}"`);
  return ms;
}

export function parseStep(v: string): number {
  const m = DURATION.exec(v);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : NaN;
  if (!(ms > 0)) throw new SentioError('SENTIO_ERR_BAD_QUERY', `step: expected seconds or a duration such as 10s or 1m, got "${v}"`);
  return Math.round(ms);
}

const str = (d: string) => z.string().max(16_384).describe(d);
const Time = (d: string) => z.string().max(64).optional().describe(`${d}: Unix seconds or RFC 3339.`);
const Match = z.union([z.string(), z.array(z.string())]).optional().describe('Series selector(s), repeatable (match[]).');

const Success = (data: z.ZodType) => z.object({ status: z.literal('success'), data });
const Labels = z.record(z.string(), z.string());
const Pair = z.tuple([z.number(), z.string()]);
const Matrix = z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: Labels, values: z.array(Pair) })) }).meta({ id: 'Matrix' });
/** At run time a range reply's shape is checked down to each series, not each of its (up to 11,000) points. */
const MatrixShape = z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: Labels, values: z.array(z.unknown()) })) });
const Vector = z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: Labels, value: Pair })) }).meta({ id: 'Vector' });

function range(q: { start?: string | undefined; end?: string | undefined }, defaultSpanMs = 3_600_000): { startMs: number; endMs: number } {
  const endMs = q.end !== undefined ? parseTime(q.end, 'end') : Date.now();
  const startMs = q.start !== undefined ? parseTime(q.start, 'start') : endMs - defaultSpanMs;
  if (endMs < startMs) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'end is before start');
  return { startMs, endMs };
}

const matches = (m: string | string[] | undefined): string[] => (m === undefined ? [] : Array.isArray(m) ? m : [m]);

export function queryRoutes(engine: QueryEngine): RouteDef<any, any, any, any>[] {
  const errors = ['SENTIO_ERR_BAD_QUERY', 'SENTIO_ERR_UNSUPPORTED_QUERY', 'SENTIO_ERR_QUERY_FAILED'] as const;
  return [
    route({
      method: 'get', path: '/api/query/range', operationId: 'queryRange', tag: 'query', access: 'viewer',
      summary: 'Evaluate an expression over a time range (Prometheus query_range).',
      query: z.object({ query: str('PromQL/MetricsQL (embedded store: the subset in docs/query.md).'), start: Time('Start, default end - 1h'), end: Time('End, default now'), step: z.string().max(32).optional().describe('Seconds or a duration (10s, 1m); default: about 250 points.') }),
      response: Success(Matrix), responseCheck: Success(MatrixShape), errors: [...errors],
      async handler(ctx) {
        const { startMs, endMs } = range(ctx.query);
        const stepMs = ctx.query.step !== undefined ? parseStep(ctx.query.step) : Math.max(1000, Math.ceil((endMs - startMs) / 250 / 1000) * 1000);
        if ((endMs - startMs) / stepMs > MAX_POINTS) throw new SentioError('SENTIO_ERR_BAD_QUERY', `more than ${MAX_POINTS} points per series: raise step or shorten the range`);
        return { status: 'success' as const, data: await engine.range({ query: ctx.query.query, startMs, endMs, stepMs }) };
      },
    }),
    route({
      method: 'get', path: '/api/query/instant', operationId: 'queryInstant', tag: 'query', access: 'viewer',
      summary: 'Evaluate an expression at one instant (Prometheus query).',
      query: z.object({ query: str('PromQL/MetricsQL.'), time: Time('Evaluation time, default now') }),
      response: Success(Vector), errors: [...errors],
      handler: async (ctx) => ({ status: 'success' as const, data: await engine.instant({ query: ctx.query.query, timeMs: ctx.query.time !== undefined ? parseTime(ctx.query.time, 'time') : Date.now() }) }),
    }),
    route({
      method: 'get', path: '/api/series', operationId: 'listSeries', tag: 'query', access: 'viewer',
      summary: 'Series matching selectors with samples in the range (default: the last hour).',
      query: z.object({ 'match[]': Match, start: Time('Start'), end: Time('End') }), response: Success(z.array(Labels)), errors: [...errors],
      async handler(ctx) {
        const match = matches(ctx.query['match[]']);
        if (match.length === 0) throw new SentioError('SENTIO_ERR_BAD_QUERY', 'match[]: at least one series selector is required');
        return { status: 'success' as const, data: await engine.series({ match, ...range(ctx.query) }) };
      },
    }),
    route({
      method: 'get', path: '/api/labels', operationId: 'listLabels', tag: 'query', access: 'viewer',
      summary: 'Label names (of series matching match[], if given) in the range (default: the last hour).',
      query: z.object({ 'match[]': Match, start: Time('Start'), end: Time('End') }), response: Success(z.array(z.string())), errors: [...errors],
      handler: async (ctx) => ({ status: 'success' as const, data: await engine.labelNames({ match: matches(ctx.query['match[]']), ...range(ctx.query) }) }),
    }),
    route({
      method: 'get', path: '/api/label/{name}/values', operationId: 'listLabelValues', tag: 'query', access: 'viewer',
      summary: 'Values of one label (`__name__`: metric names), for pickers.',
      params: z.object({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a label name') }),
      query: z.object({ 'match[]': Match, start: Time('Start'), end: Time('End') }), response: Success(z.array(z.string())), errors: [...errors],
      handler: async (ctx) => ({ status: 'success' as const, data: await engine.labelValues(ctx.params.name, { match: matches(ctx.query['match[]']), ...range(ctx.query) }) }),
    }),
  ];
}
