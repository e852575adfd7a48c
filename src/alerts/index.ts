// Alerting: the stored rules (src/store, /api/alert-rules) evaluated on a
// schedule (--alert-interval-s) through the query engine, by every gateway
// instance. The states live in the metadata store and the notification
// claims in the shared cache (evaluator.ts), so the instances of a cluster
// agree on both and notify once.
//
// - Steps are at multiples of the interval (unix time), the same on every
//   instance and in a backtest, so they read the same points.
// - Parents are evaluated before their children in a round, so a child sees
//   its parent's firing alerts of the same step (inhibition).
// - A rule whose expr no longer parses, or whose query fails, is counted and
//   logged; the other rules go on, and its alerts keep their state until it
//   evaluates again.
// - Notifications go to the log channel (notify/); state changes go to the
//   audit log (actor `system`, action `alert.<state>`).

import client from 'prom-client';
import type { Registry } from 'prom-client';
import type { Cache } from '../cache/types.js';
import type { Logger } from '../log/index.js';
import type { QueryEngine } from '../query/types.js';
import type { AlertRule, MetaStore } from '../store/types.js';
import { parseCondition, QueryCondition } from './condition.js';
import { type EvalRule, RuleEvaluator, storeAlertStates, type Transition } from './evaluator.js';
import { type Channel, createChannel } from './notify/index.js';
import type { AlertInstance } from './types.js';

export interface AlertingOptions {
  store: MetaStore;
  cache: Cache;
  query: QueryEngine;
  intervalMs: number;
  log: Logger;
  registry: Registry;
  now?: () => number;
}

/** The evaluation view of a stored rule. */
export function evalRule(r: AlertRule): EvalRule {
  return {
    id: r.id, name: r.name, severity: r.severity, labels: r.labels, annotations: r.annotations, forSeconds: r.forSeconds,
    groupBy: r.groupBy, parentId: r.parentId, inhibitLabels: r.inhibitLabels, repeatSeconds: r.repeatSeconds, cooldownSeconds: r.cooldownSeconds,
  };
}

/** Rules in an order where each parent comes before its children (a cycle is broken where it closes). */
export function parentsFirst(rules: readonly AlertRule[]): AlertRule[] {
  const byId = new Map(rules.map((r) => [r.id, r]));
  const out: AlertRule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: AlertRule) => {
    if (state.has(r.id)) return;
    state.set(r.id, 'visiting');
    const p = r.parentId ? byId.get(r.parentId) : undefined;
    if (p) visit(p);
    state.set(r.id, 'done');
    out.push(r);
  };
  rules.forEach(visit);
  return out;
}

export class Alerting {
  private readonly evaluators = new Map<string, { version: string; ev: RuleEvaluator }>();
  private readonly channel: Channel;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly m;

  constructor(private readonly o: AlertingOptions) {
    this.channel = createChannel('log', { kind: 'log' }, { log: o.log, registry: o.registry });
    this.m = {
      evaluations: new client.Counter({ name: 'sentio_alert_evaluations_total', help: 'Rule evaluations, by outcome (ok, error).', labelNames: ['outcome'], registers: [o.registry] }),
      alerts: new client.Gauge({ name: 'sentio_alerts', help: 'Alerts of the enabled rules by state, at the last round.', labelNames: ['state'], registers: [o.registry] }),
      transitions: new client.Counter({ name: 'sentio_alert_transitions_total', help: 'Alert state changes, by the state entered.', labelNames: ['to'], registers: [o.registry] }),
      round: new client.Histogram({ name: 'sentio_alert_round_seconds', help: 'An evaluation round of every enabled rule.', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60], registers: [o.registry] }),
    };
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      const now = (this.o.now ?? Date.now)();
      const next = (Math.floor(now / this.o.intervalMs) + 1) * this.o.intervalMs;
      this.timer = setTimeout(() => {
        // A round still running makes this one wait for the next step.
        if (!this.running) this.running = this.round(next).finally(() => (this.running = undefined));
        tick();
      }, next - now);
      this.timer.unref();
    };
    tick();
  }

  /** Evaluates every enabled rule at the step at or before tMs (tests call it with their own time). */
  async roundNow(tMs: number): Promise<void> {
    await this.round(Math.floor(tMs / this.o.intervalMs) * this.o.intervalMs);
  }

  private async round(tMs: number): Promise<void> {
    const end = this.m.round.startTimer();
    const { store, log } = this.o;
    let rules: AlertRule[];
    try {
      rules = parentsFirst((await store.listAlertRules()).filter((r) => r.enabled));
    } catch (err) {
      log.pino.warn({ component: 'alerts', err }, 'alert rules could not be read; the round is skipped');
      end();
      return;
    }
    const firing = new Map<string, AlertInstance[]>();
    const counts = { pending: 0, firing: 0, resolved: 0 };
    for (const id of this.evaluators.keys()) if (!rules.some((r) => r.id === id)) this.evaluators.delete(id);
    for (const rule of rules) {
      try {
        const ev = this.evaluatorOf(rule, firing);
        const r = await ev.step(tMs);
        firing.set(rule.id, r.alerts.filter((a) => a.state === 'firing'));
        for (const a of r.alerts) counts[a.state]++;
        await this.record(rule, r.transitions);
        this.m.evaluations.inc({ outcome: 'ok' });
      } catch (err) {
        this.m.evaluations.inc({ outcome: 'error' });
        log.pino.warn({ component: 'alerts', rule: rule.name, err }, 'alert rule evaluation failed');
      }
    }
    for (const [state, n] of Object.entries(counts)) this.m.alerts.set({ state }, n);
    end();
  }

  private evaluatorOf(rule: AlertRule, firing: ReadonlyMap<string, AlertInstance[]>): RuleEvaluator {
    const have = this.evaluators.get(rule.id);
    if (have && have.version === rule.updatedAt) return have.ev;
    const cond = new QueryCondition(this.o.query, parseCondition(rule.expr), this.o.intervalMs);
    const ev = new RuleEvaluator(evalRule(rule), cond, {
      states: storeAlertStates(this.o.store),
      cache: this.o.cache,
      notify: (_r, n) => this.channel.send(n).catch(() => {}),
      silences: () => [],
      firing: (id) => firing.get(id),
    });
    this.evaluators.set(rule.id, { version: rule.updatedAt, ev });
    return ev;
  }

  private async record(rule: AlertRule, transitions: readonly Transition[]): Promise<void> {
    for (const t of transitions) {
      this.m.transitions.inc({ to: t.to });
      await this.o.store.appendAudit({
        actor: 'system',
        action: `alert.${t.to}`,
        target: `alert_rule:${rule.id}`,
        ip: '',
        details: { rule: rule.name, fingerprint: t.fingerprint, labels: t.labels, from: t.from, value: t.value, at: new Date(t.atMs).toISOString() },
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    await this.channel.close();
  }
}
