// Alert routes: the alerts of the stored rules (their states as evaluation
// left them in the metadata store) and the backtest of a rule.
//
// - GET /api/alerts: every alert, or those of one rule or one state.
// - POST /api/alerts/rules/{id}/backtest: the rule replayed over a past
//   range with the live evaluation's code (src/alerts/evaluator.ts backtest):
//   when each alert would have gone pending, fired and resolved, and the
//   notifications it would have sent (dedup, repeat and cooldown applied on
//   the replayed clock). At most 20,000 steps; the step defaults to
//   --alert-interval-s, as live.

import { z } from 'zod';
import { parseCondition, QueryCondition } from '../alerts/condition.js';
import { backtest } from '../alerts/evaluator.js';
import { evalRule } from '../alerts/index.js';
import { SentioError } from '../errors.js';
import type { QueryEngine } from '../query/types.js';
import type { MetaStore } from '../store/types.js';
import { route, type RouteDef } from './router.js';
import { Id, IdParams, list, Timestamp } from './schemas.js';

export interface AlertServices {
  store: Pick<MetaStore, 'listAlerts' | 'getAlertRule'>;
  query: QueryEngine;
  /** The live evaluation's step (--alert-interval-s), in ms. */
  stepMs: number;
}

const MAX_STEPS = 20_000;

const Alert = z
  .object({
    ruleId: Id,
    fingerprint: z.string().describe('A hash of the labels: the alert\'s identity within its rule.'),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()),
    state: z.enum(['pending', 'firing', 'resolved']),
    value: z.number().describe('The value that made the condition hold, as last evaluated.'),
    activeAt: Timestamp.describe('When the condition started to hold.'),
    firedAt: Timestamp.nullable(),
    resolvedAt: Timestamp.nullable(),
  })
  .meta({ id: 'Alert' });

const AlertsQuery = z.object({
  ruleId: Id.optional(),
  state: z.enum(['pending', 'firing', 'resolved']).optional(),
});

const BacktestBody = z
  .object({
    start: Timestamp,
    end: Timestamp,
    stepSeconds: z.number().int().min(1).max(86_400).optional().describe('Default: the live evaluation interval (--alert-interval-s).'),
  })
  .meta({ id: 'BacktestRequest' });

const BacktestResult = z
  .object({
    steps: z.number().int(),
    stepSeconds: z.number().int(),
    transitions: z.array(
      z.object({
        fingerprint: z.string(),
        labels: z.record(z.string(), z.string()),
        from: z.enum(['inactive', 'pending', 'firing', 'resolved']),
        to: z.enum(['inactive', 'pending', 'firing', 'resolved']),
        at: Timestamp,
        value: z.number(),
      }),
    ),
    notifications: z.array(z.object({ status: z.enum(['firing', 'resolved']), groupLabels: z.record(z.string(), z.string()), alerts: z.number().int(), at: Timestamp })),
  })
  .meta({ id: 'BacktestResult' });

export function alertRoutes(s: AlertServices): RouteDef<any, any, any, any>[] {
  const tag = 'alerts';
  return [
    route({
      method: 'get', path: '/api/alerts', operationId: 'listAlerts', tag, access: 'viewer',
      summary: 'The alerts of the rules: pending, firing, and recently resolved.',
      query: AlertsQuery, response: list(Alert),
      async handler(ctx) {
        const q = ctx.query as z.infer<typeof AlertsQuery>;
        const all = await s.store.listAlerts(q.ruleId);
        return { items: q.state ? all.filter((a) => a.state === q.state) : all };
      },
    }),
    route({
      method: 'post', path: '/api/alerts/rules/{id}/backtest', operationId: 'backtestAlertRule', tag, access: 'viewer',
      summary: 'Replay a rule over a past range with the live evaluation\'s code: when it would have fired and resolved, and its notifications.',
      params: IdParams, body: BacktestBody, response: BacktestResult, errors: ['SENTIO_ERR_NOT_FOUND', 'SENTIO_ERR_VALIDATION', 'SENTIO_ERR_BAD_QUERY'],
      async handler(ctx) {
        const rule = await s.store.getAlertRule(ctx.params.id);
        if (!rule) throw new SentioError('SENTIO_ERR_NOT_FOUND', `no alert rule ${ctx.params.id}`);
        const b = ctx.body as z.infer<typeof BacktestBody>;
        const stepMs = (b.stepSeconds ?? s.stepMs / 1000) * 1000;
        const startMs = Date.parse(b.start);
        const endMs = Date.parse(b.end);
        if (!(endMs > startMs)) throw new SentioError('SENTIO_ERR_VALIDATION', 'end must be after start');
        if ((endMs - startMs) / stepMs > MAX_STEPS) throw new SentioError('SENTIO_ERR_VALIDATION', `at most ${MAX_STEPS} steps: choose a larger stepSeconds or a shorter range`);
        const cond = new QueryCondition(s.query, parseCondition(rule.expr), stepMs);
        const r = await backtest(evalRule(rule), cond, { startMs, endMs, stepMs });
        return {
          steps: r.steps,
          stepSeconds: stepMs / 1000,
          transitions: r.transitions.map((t) => ({ fingerprint: t.fingerprint, labels: t.labels, from: t.from, to: t.to, at: new Date(t.atMs).toISOString(), value: t.value })),
          notifications: r.notifications.map((n) => ({ status: n.status, groupLabels: n.groupLabels, alerts: n.alerts.length, at: n.sentAt })),
        };
      },
    }),
  ];
}
