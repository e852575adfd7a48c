// Query routes: the Prometheus HTTP API's query endpoints under /api, with
// its parameter forms (times as Unix seconds or RFC 3339, steps as seconds
// or durations such as 10s, 1m) and its reply shape
// `{"status":"success","data":...}`, answered by the configured engine
// (VictoriaMetrics, or the embedded store's subset: docs/query.md).
// GET /api/series/trend fits a Theil–Sen trend (src/anomaly/trend.ts) to
// each series of a range query over a window: slope and its CI, the fitted
// level at the newest sample, and with a threshold the predicted time to
// cross it (a series with fewer than 3 distinct times has `fit: null`).

import { z } from 'zod';
import { fitTrend, timeToThreshold } from '../anomaly/trend.js';
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

/** A duration such as 6h, 30m, 1d (or seconds): ms. */
export function parseDuration(v: string, name: string): number {
  const m = DURATION.exec(v);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : NaN;
  if (!(ms > 0)) throw new SentioError('SENTIO_ERR_BAD_QUERY', `${name}: expected seconds or a duration such as 30m or 6h, got "${v}"`);
  return Math.round(ms);
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

/** Default points of a trend's range query (more than a chart's 250: the fit gains from them). */
const TREND_POINTS = 500;
/** Most series one trend request fits (each fit is up to ~100 ms of CPU). */
const MAX_TREND_SERIES = 500;
const Fit = z.object({
  slopePerSecond: z.number(), slopePerHour: z.number(),
  slopeLowPerSecond: z.number(), slopeHighPerSecond: z.number(),
  slopeLowPerHour: z.number(), slopeHighPerHour: z.number(),
  level: z.number().describe('The fitted value at `at` (the newest sample).'),
  at: z.number().describe('Unix seconds of the newest sample.'),
  confidence: z.number(), sampled: z.boolean().describe('True when pairs were sampled (more than 1000 points).'),
});
const Crossing = z.object({
  seconds: z.number().describe('From `at` until the fitted line crosses the threshold (0: already beyond it).'),
  soonestSeconds: z.number(), latestSeconds: z.number().nullable().describe('null: the CI includes a flat or opposite trend (maybe never).'),
  time: z.string(), soonestTime: z.string(), latestTime: z.string().nullable(),
});
const Trend = z.object({
  resultType: z.literal('trend'), window: z.number().describe('Seconds.'), stepSeconds: z.number(), threshold: z.number().nullable(),
  result: z.array(z.object({
    metric: Labels, n: z.number().describe('Finite samples fitted.'),
    fit: Fit.nullable().describe('null: fewer than 3 distinct times.'),
    crossing: Crossing.nullable().describe('null: no threshold, no fit, or the trend is flat or moves away (direction up/down).'),
  })),
}).meta({ id: 'Trend' });

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
      method: 'get', path: '/api/series/trend', operationId: 'seriesTrend', tag: 'query', access: 'viewer',
      summary: 'Theil–Sen trend of each series over a window: slope with its CI, and the predicted time to cross a threshold.',
      query: z.object({
        query: str('A series selector or expression, as for /api/query/range.'),
        window: z.string().max(32).optional().describe('Duration fitted, ending at end (default 6h).'),
        end: Time('End of the window, default now'),
        step: z.string().max(32).optional().describe(`Seconds or a duration; default: about ${TREND_POINTS} points.`),
        threshold: z.string().max(64).optional().describe('A number: report the predicted time to cross it.'),
        direction: z.enum(['up', 'down', 'either']).optional().describe('up: an upper limit (a falling trend never reaches it), down: a lower limit, either (default): whichever way the trend moves.'),
        confidence: z.string().max(16).optional().describe('Of the slope CI, in (0, 1); default 0.95.'),
      }),
      response: Success(Trend), errors: [...errors],
      async handler(ctx) {
        const q = ctx.query;
        const endMs = q.end !== undefined ? parseTime(q.end, 'end') : Date.now();
        const windowMs = q.window !== undefined ? parseDuration(q.window, 'window') : 6 * 3_600_000;
        const startMs = endMs - windowMs;
        const stepMs = q.step !== undefined ? parseStep(q.step) : Math.max(1000, Math.ceil(windowMs / TREND_POINTS / 1000) * 1000);
        if (windowMs / stepMs > MAX_POINTS) throw new SentioError('SENTIO_ERR_BAD_QUERY', `more than ${MAX_POINTS} points per series: raise step or shorten the window`);
        const threshold = q.threshold !== undefined ? Number(q.threshold) : undefined;
        if (threshold !== undefined && (q.threshold!.trim() === '' || !Number.isFinite(threshold))) throw new SentioError('SENTIO_ERR_BAD_QUERY', `threshold: expected a number, got "${q.threshold}"`);
        const confidence = q.confidence !== undefined ? Number(q.confidence) : 0.95;
        if (!(confidence > 0 && confidence < 1)) throw new SentioError('SENTIO_ERR_BAD_QUERY', `confidence: expected a number in (0, 1), got "${q.confidence}"`);
        const matrix = await engine.range({ query: q.query, startMs, endMs, stepMs });
        if (matrix.result.length > MAX_TREND_SERIES) throw new SentioError('SENTIO_ERR_BAD_QUERY', `${matrix.result.length} series: at most ${MAX_TREND_SERIES} per trend request, narrow the selector`);
        const iso = (s: number) => new Date(s * 1000).toISOString();
        const result = [];
        for (const { metric, values } of matrix.result) {
          // Let other requests in between fits (each is up to ~100 ms of CPU).
          if (result.length > 0) await new Promise<void>((r) => setImmediate(r));
          result.push(fitOne(metric, values));
        }
        return { status: 'success' as const, data: { resultType: 'trend' as const, window: windowMs / 1000, stepSeconds: stepMs / 1000, threshold: threshold ?? null, result } };
        function fitOne(metric: Record<string, string>, values: Array<[number, string]>) {
          const ts = new Float64Array(values.length);
          const ys = new Float64Array(values.length);
          let finite = 0;
          for (let i = 0; i < values.length; i++) {
            ts[i] = values[i]![0];
            ys[i] = Number(values[i]![1]);
            if (Number.isFinite(ys[i]!)) finite++;
          }
          const f = fitTrend(ts, ys, undefined, confidence);
          if (!f) return { metric, n: finite, fit: null, crossing: null };
          const c = threshold !== undefined ? timeToThreshold(f, threshold, q.direction ?? 'either') : null;
          return {
            metric, n: f.n,
            fit: {
              slopePerSecond: f.slope, slopePerHour: f.slope * 3600,
              slopeLowPerSecond: f.slopeLow, slopeHighPerSecond: f.slopeHigh,
              slopeLowPerHour: f.slopeLow * 3600, slopeHighPerHour: f.slopeHigh * 3600,
              level: f.level, at: f.atS, confidence: f.confidence, sampled: f.sampled,
            },
            crossing: c && {
              seconds: c.seconds, soonestSeconds: c.soonest, latestSeconds: Number.isFinite(c.latest) ? c.latest : null,
              time: iso(f.atS + c.seconds), soonestTime: iso(f.atS + c.soonest), latestTime: Number.isFinite(c.latest) ? iso(f.atS + c.latest) : null,
            },
          };
        }
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
