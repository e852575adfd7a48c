// Alert evaluation: one rule's state machine, its groups and their
// notifications. The same code runs live (a schedule, the metadata store, the
// shared cache) and in a backtest (an injected clock, state in memory, a
// MemoryCache on that clock, notifications counted instead of sent).
//
// Per alert (one label set of the rule, identified by its fingerprint):
//
//   inactive ──holds──► pending ──held for `forSeconds`──► firing ──stops──► resolved
//      ▲                  │ stops                                              │ holds again
//      └──────────────────┘                                                    ▼ pending
//
// With forSeconds 0 an alert fires in the step its condition starts to hold.
// A pending alert whose condition stops is forgotten (it never fired).
//
// Groups: the firing alerts of a rule with equal values of its `groupBy`
// labels form a group; notifications are per group. An alert is muted (and
// left out of its group's notifications, though its state is kept) while a
// silence matches its labels, or while the rule's parent rule has a firing
// alert that agrees with it on every `inhibitLabels` label (all of the
// parent's firing alerts when that list is empty): a "site down" parent mutes
// the per-device alerts of that site.
//
// Notifications, shared across gateways through the cache (Redis in a
// cluster): a group's notification is identified by its status and the set
// of its firing alerts. Whoever first claims that identity (cache.acquire,
// atomic) sends it; every other instance evaluating the same data finds it
// claimed and stays silent, so two gateways never notify twice.
// - Deduplication: an unchanged group is notified again only after
//   `repeatSeconds` (the claim's lifetime).
// - Cooldown: a group is not notified of a new firing set sooner than
//   `cooldownSeconds` after its previous notification (a flapping sensor);
//   the next step after the cooldown sends the group as it is then.
//   Resolution is never delayed.
// - Resolved: sent once no alert of the group's last firing notification
//   still fires (muting one is not resolving it).

import { createHash } from 'node:crypto';
import type { Cache } from '../cache/types.js';
import { matchesLabels, type Selector } from '../query/selector.js';
import type { MetaStore } from '../store/types.js';
import type { AlertInstance, AlertState, Notification } from './types.js';

/** What evaluation needs of a rule. */
export interface EvalRule {
  id: string;
  name: string;
  severity: 'info' | 'warning' | 'critical';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  forSeconds: number;
  /** Labels whose values split the rule's alerts into notification groups ([]: one group). */
  groupBy: readonly string[];
  /** A rule whose firing alerts mute this rule's (inhibition). */
  parentId?: string | null;
  /** Labels a parent's alert and a child's must agree on for the one to mute the other ([]: any). */
  inhibitLabels?: readonly string[];
  /** An unchanged group is notified again after this long (default 4 h). */
  repeatSeconds?: number;
  /** A group's firing set is notified at most once per this long (default 0). */
  cooldownSeconds?: number;
}

/** A series for which the rule's condition holds, and the value that makes it hold. */
export interface ActiveSeries {
  labels: Record<string, string>;
  value: number;
}

/** The series for which a rule's condition holds at a time (unix ms). */
export interface Condition {
  at(tMs: number): Promise<ActiveSeries[]>;
  /** Optionally reads a whole range at once ahead of at() calls within it (a backtest). */
  prefetch?(fromMs: number, toMs: number): Promise<void>;
}

export interface Silence {
  id: string;
  /** All must match (Prometheus matcher semantics, src/query/selector.ts). */
  selector: Selector;
  startsAtMs: number;
  endsAtMs: number;
}

/** Where alert states live: the metadata store live, memory in a backtest. */
export interface AlertStates {
  load(ruleId: string): Promise<AlertInstance[]>;
  /** Stores the alerts that changed and forgets `removed` (fingerprints). */
  save(ruleId: string, changed: readonly AlertInstance[], removed: readonly string[]): Promise<void>;
}

/** Alert states in the metadata store (shared by the instances of a cluster). */
export function storeAlertStates(store: Pick<MetaStore, 'listAlerts' | 'saveAlerts'>): AlertStates {
  return { load: (ruleId) => store.listAlerts(ruleId), save: (ruleId, changed, removed) => store.saveAlerts(ruleId, changed, removed) };
}

export class MemoryAlertStates implements AlertStates {
  private readonly byRule = new Map<string, Map<string, AlertInstance>>();

  async load(ruleId: string): Promise<AlertInstance[]> {
    return [...(this.byRule.get(ruleId)?.values() ?? [])].map((a) => ({ ...a }));
  }

  async save(ruleId: string, changed: readonly AlertInstance[], removed: readonly string[]): Promise<void> {
    let m = this.byRule.get(ruleId);
    if (!m) this.byRule.set(ruleId, (m = new Map()));
    for (const a of changed) m.set(a.fingerprint, { ...a });
    for (const f of removed) m.delete(f);
  }
}

export interface Transition {
  ruleId: string;
  fingerprint: string;
  labels: Record<string, string>;
  from: AlertState | 'inactive';
  to: AlertState | 'inactive';
  atMs: number;
  value: number;
}

export interface StepResult {
  alerts: AlertInstance[];
  transitions: Transition[];
  notifications: Notification[];
}

export interface EvaluatorDeps {
  states: AlertStates;
  cache: Cache;
  /** Delivers a notification to the rule's channels; the evaluator waits for it (channels bound their time). */
  notify(rule: EvalRule, n: Notification): Promise<void>;
  /** Silences in force (the evaluator checks their windows against the step's time). */
  silences(): readonly Silence[];
  /** The firing alerts of a rule (for inhibition), undefined when it is not known. */
  firing(ruleId: string): readonly AlertInstance[] | undefined;
  /** Resolved alerts are kept this long for the API, then forgotten (default 24 h). */
  keepResolvedMs?: number;
}

const DEFAULT_REPEAT_S = 4 * 3600;
const DAY_MS = 86_400_000;

/** Stable hex hash of a label set (order of keys does not matter). */
export function fingerprint(labels: Record<string, string>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) h.update(k).update('\0').update(labels[k]!).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The alert's labels: the series' (without __name__, which moves to `metric` when present), the rule's, alertname. */
export function alertLabels(rule: EvalRule, series: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(series)) {
    if (k === '__name__') out.metric ??= v;
    else out[k] = v;
  }
  return { ...out, ...rule.labels, alertname: rule.name };
}

export function groupKeyOf(rule: EvalRule, labels: Record<string, string>): { key: string; labels: Record<string, string> } {
  const g: Record<string, string> = {};
  for (const l of rule.groupBy) g[l] = labels[l] ?? '';
  return { key: `${rule.id}:${fingerprint(g)}`, labels: g };
}

function setHash(fingerprints: readonly string[]): string {
  return createHash('sha256').update([...fingerprints].sort().join(',')).digest('hex').slice(0, 16);
}

interface LastNotified {
  status: 'firing' | 'resolved';
  hash: string;
  fingerprints: string[];
  atMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Evaluates one rule, step by step. Keeps nothing between steps but what `states` and the cache hold. */
export class RuleEvaluator {
  constructor(
    readonly rule: EvalRule,
    private readonly condition: Condition,
    private readonly deps: EvaluatorDeps,
  ) {}

  async step(tMs: number): Promise<StepResult> {
    const { rule, deps } = this;
    const active = await this.condition.at(tMs);
    const prior = new Map((await deps.states.load(rule.id)).map((a) => [a.fingerprint, a]));
    const transitions: Transition[] = [];
    const changed: AlertInstance[] = [];
    const removed: string[] = [];
    const seen = new Set<string>();
    const move = (a: AlertInstance, from: Transition['from'], to: Transition['to']) =>
      transitions.push({ ruleId: rule.id, fingerprint: a.fingerprint, labels: a.labels, from, to, atMs: tMs, value: a.value });

    for (const s of active) {
      const labels = alertLabels(rule, s.labels);
      const fp = fingerprint(labels);
      if (seen.has(fp)) continue;
      seen.add(fp);
      const p = prior.get(fp);
      let a: AlertInstance;
      if (!p || p.state === 'resolved') {
        a = { ruleId: rule.id, fingerprint: fp, labels, annotations: rule.annotations, state: 'pending', value: s.value, activeAt: iso(tMs), firedAt: null, resolvedAt: null };
        move(a, p ? 'resolved' : 'inactive', 'pending');
      } else {
        a = { ...p, labels, annotations: rule.annotations, value: s.value };
      }
      if (a.state === 'pending' && tMs - Date.parse(a.activeAt) >= rule.forSeconds * 1000) {
        a.state = 'firing';
        a.firedAt = iso(tMs);
        move(a, 'pending', 'firing');
      }
      changed.push(a);
    }
    const keepResolved = deps.keepResolvedMs ?? DAY_MS;
    for (const p of prior.values()) {
      if (seen.has(p.fingerprint)) continue;
      if (p.state === 'pending') {
        removed.push(p.fingerprint);
        move(p, 'pending', 'inactive');
      } else if (p.state === 'firing') {
        const a: AlertInstance = { ...p, state: 'resolved', resolvedAt: iso(tMs) };
        changed.push(a);
        move(a, 'firing', 'resolved');
      } else if (tMs - Date.parse(p.resolvedAt!) >= keepResolved) {
        removed.push(p.fingerprint);
      } else {
        changed.push(p);
      }
    }
    await deps.states.save(rule.id, changed, removed);
    const notifications = await this.notifyGroups(changed, tMs);
    return { alerts: changed, transitions, notifications };
  }

  /** Whether a silence in force or the parent's firing alerts mute an alert. */
  muted(a: AlertInstance, tMs: number): boolean {
    for (const s of this.deps.silences()) {
      if (s.startsAtMs <= tMs && tMs < s.endsAtMs && matchesLabels(s.selector, a.labels)) return true;
    }
    const parent = this.rule.parentId ? this.deps.firing(this.rule.parentId) : undefined;
    if (!parent) return false;
    const equal = this.rule.inhibitLabels ?? [];
    return parent.some((p) => equal.every((l) => (p.labels[l] ?? '') === (a.labels[l] ?? '')));
  }

  private async notifyGroups(alerts: readonly AlertInstance[], tMs: number): Promise<Notification[]> {
    const { rule } = this;
    const groups = new Map<string, { labels: Record<string, string>; alerts: AlertInstance[] }>();
    for (const a of alerts) {
      if (a.state === 'pending') continue;
      const g = groupKeyOf(rule, a.labels);
      let entry = groups.get(g.key);
      if (!entry) groups.set(g.key, (entry = { labels: g.labels, alerts: [] }));
      entry.alerts.push(a);
    }
    const sent: Notification[] = [];
    for (const [key, g] of groups) {
      const n = await this.decide(key, g.labels, g.alerts, tMs);
      if (n) sent.push(n);
    }
    await Promise.allSettled(sent.map((n) => this.deps.notify(rule, n)));
    return sent;
  }

  /** The group's notification due at tMs, claimed in the cache; undefined when none is due or another instance claimed it. */
  private async decide(key: string, groupLabels: Record<string, string>, alerts: readonly AlertInstance[], tMs: number): Promise<Notification | undefined> {
    const { rule, deps } = this;
    const repeatMs = (rule.repeatSeconds ?? DEFAULT_REPEAT_S) * 1000;
    const cooldownMs = (rule.cooldownSeconds ?? 0) * 1000;
    const lastKey = `alert:last:${key}`;
    const raw = await deps.cache.get(lastKey);
    const last = raw ? (JSON.parse(raw) as LastNotified) : undefined;
    const firing = alerts.filter((a) => a.state === 'firing' && !this.muted(a, tMs));
    let status: 'firing' | 'resolved';
    let members: AlertInstance[];
    if (firing.length > 0) {
      status = 'firing';
      members = firing;
    } else {
      if (last?.status !== 'firing') return undefined;
      const byFp = new Map(alerts.map((a) => [a.fingerprint, a]));
      // Muted but still firing is not resolved.
      if (last.fingerprints.some((f) => byFp.get(f)?.state === 'firing')) return undefined;
      status = 'resolved';
      members = last.fingerprints.flatMap((f) => byFp.get(f) ?? []);
    }
    const fps = members.map((a) => a.fingerprint);
    const hash = setHash(fps);
    if (last && last.status === status && last.hash === hash && (status === 'resolved' || tMs - last.atMs < repeatMs)) return undefined;
    if (status === 'firing' && last && tMs - last.atMs < cooldownMs) return undefined;
    if (!(await deps.cache.acquire(`alert:claim:${key}:${status}:${hash}`, Math.max(repeatMs, 1000)))) return undefined;
    // A group that resolved may fire again with the same alerts: that is news again (after the cooldown).
    if (status === 'resolved') await deps.cache.del(`alert:claim:${key}:firing:${hash}`);
    const next: LastNotified = { status, hash, fingerprints: fps, atMs: tMs };
    await deps.cache.set(lastKey, JSON.stringify(next), Math.max(repeatMs, 7 * DAY_MS));
    if (status === 'firing') {
      // Alerts of the last notification that resolved since are told with it.
      const resolved = alerts.filter((a) => a.state === 'resolved' && last?.fingerprints.includes(a.fingerprint));
      members = [...members, ...resolved];
    }
    return { status, groupKey: key, rule: { id: rule.id, name: rule.name, severity: rule.severity }, groupLabels, alerts: members, sentAt: iso(tMs) };
  }
}

export interface BacktestResult {
  transitions: Transition[];
  notifications: Notification[];
  steps: number;
}

/**
 * Replays a rule over [startMs, endMs] at `stepMs` with the live code: the
 * same condition and state machine, state in memory, the dedup and cooldown
 * in a MemoryCache on the replayed clock, notifications counted, not sent.
 * Silences apply by their windows; inhibition needs the parent's states,
 * which a backtest of one rule does not have, so it is left out.
 */
export async function backtest(rule: EvalRule, condition: Condition, o: { startMs: number; endMs: number; stepMs: number; silences?: readonly Silence[] }): Promise<BacktestResult> {
  const { MemoryCache } = await import('../cache/memory.js');
  let clock = o.startMs;
  const cache = new MemoryCache({ now: () => clock, sweepIntervalMs: 3_600_000 });
  const ev = new RuleEvaluator(rule, condition, {
    states: new MemoryAlertStates(),
    cache,
    notify: async () => {},
    silences: () => o.silences ?? [],
    firing: () => undefined,
  });
  const out: BacktestResult = { transitions: [], notifications: [], steps: 0 };
  await condition.prefetch?.(o.startMs, o.endMs);
  try {
    for (let t = Math.ceil(o.startMs / o.stepMs) * o.stepMs; t <= o.endMs; t += o.stepMs) {
      clock = t;
      const r = await ev.step(t);
      out.transitions.push(...r.transitions);
      out.notifications.push(...r.notifications);
      out.steps++;
    }
  } finally {
    await cache.close();
  }
  return out;
}
