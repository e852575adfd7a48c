// Alert evaluation: the state machine on an injected clock, grouping,
// silences, inhibition, cooldown and repeat; two evaluators sharing a real
// Redis notify a real HTTP receiver exactly once per group, signed; and a
// rule read through the embedded query engine, whose backtest equals its
// step-by-step live evaluation.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import client from 'prom-client';
import { startTestGateway } from '../../test/helpers.js';
import { type RedisService, startRedis } from '../../test/services/redis.js';
import { MemoryCache } from '../cache/memory.js';
import { RedisCache } from '../cache/redis.js';
import { createLogger } from '../log/index.js';
import { EmbeddedQueryEngine } from '../query/embedded.js';
import { parseSelector } from '../query/selector.js';
import { parseCondition, QueryCondition } from './condition.js';
import { type ActiveSeries, backtest, type EvalRule, MemoryAlertStates, RuleEvaluator, type Silence } from './evaluator.js';
import { createChannel } from './notify/index.js';
import type { AlertInstance, Notification } from './types.js';

const S = 1000;
const rule = (o: Partial<EvalRule> = {}): EvalRule => ({
  id: 'r1', name: 'PumpHot', severity: 'critical', labels: { team: 'ops' }, annotations: { summary: 'hot' }, forSeconds: 30, groupBy: ['site'], ...o,
});

/** A condition from a script: the active series at each time. */
function scripted(at: (t: number) => ActiveSeries[]) {
  return { at: async (t: number) => at(t) };
}

function harness(r: EvalRule, at: (t: number) => ActiveSeries[], o: { silences?: Silence[]; firing?: (id: string) => AlertInstance[] | undefined } = {}) {
  let clock = 0;
  const cache = new MemoryCache({ now: () => clock });
  const sent: Notification[] = [];
  const ev = new RuleEvaluator(r, scripted(at), {
    states: new MemoryAlertStates(),
    cache,
    notify: async (_r, n) => void sent.push(n),
    silences: () => o.silences ?? [],
    firing: o.firing ?? (() => undefined),
  });
  return {
    ev,
    sent,
    cache,
    async step(t: number) {
      clock = t;
      return ev.step(t);
    },
  };
}

describe('the alert state machine', () => {
  test('pending until `for` has passed, then firing, then resolved; a pending alert that stops is forgotten', async () => {
    // Site a is hot from 10 s to 100 s; site b only at 20 s (shorter than `for`).
    const h = harness(rule(), (t) => [
      ...(t >= 10 * S && t < 100 * S ? [{ labels: { __name__: 'pump_temp', site: 'a' }, value: 95 }] : []),
      ...(t === 20 * S ? [{ labels: { __name__: 'pump_temp', site: 'b' }, value: 91 }] : []),
    ]);
    const moves: string[] = [];
    for (let t = 0; t <= 120 * S; t += 10 * S) {
      const r = await h.step(t);
      for (const m of r.transitions) moves.push(`${t / S}s ${m.labels.site} ${m.from}->${m.to}`);
    }
    assert.deepEqual(moves, ['10s a inactive->pending', '20s b inactive->pending', '30s b pending->inactive', '40s a pending->firing', '100s a firing->resolved']);
    assert.deepEqual(h.sent.map((n) => `${n.status} ${n.alerts.map((a) => `${a.labels.site}:${a.state}`).join(',')}`), ['firing a:firing', 'resolved a:resolved']);
    const fired = h.sent[0]!.alerts[0]!;
    assert.deepEqual(fired.labels, { metric: 'pump_temp', site: 'a', team: 'ops', alertname: 'PumpHot' });
    assert.equal(fired.activeAt, new Date(10 * S).toISOString());
    assert.equal(fired.firedAt, new Date(40 * S).toISOString());
    assert.deepEqual(h.sent[0]!.groupLabels, { site: 'a' });
  });

  test('alerts group by the groupBy labels; a new member re-notifies its group; repeat after repeatSeconds; cooldown delays a flapping group', async () => {
    let hot: string[] = [];
    const h = harness(rule({ forSeconds: 0, groupBy: ['site'], repeatSeconds: 100, cooldownSeconds: 50 }), () =>
      hot.map((d) => ({ labels: { __name__: 'pump_temp', site: d.split('/')[0]!, device: d }, value: 1 })),
    );
    hot = ['a/1', 'b/1'];
    await h.step(0);
    assert.equal(h.sent.length, 2, 'one notification per group');
    await h.step(10 * S);
    assert.equal(h.sent.length, 2, 'unchanged: deduplicated');
    hot = ['a/1', 'a/2', 'b/1'];
    await h.step(60 * S);
    assert.equal(h.sent.length, 3, 'group a changed: notified again');
    assert.deepEqual(h.sent[2]!.alerts.map((a) => a.labels.device).sort(), ['a/1', 'a/2']);
    await h.step(100 * S);
    assert.deepEqual(h.sent.slice(3).map((n) => n.groupLabels.site), ['b'], 'group b repeats after 100 s');
    // Group b flaps: resolved at once, firing again within the cooldown waits for it.
    hot = ['a/1', 'a/2'];
    await h.step(110 * S);
    assert.equal(h.sent.at(-1)!.status, 'resolved');
    hot = ['a/1', 'a/2', 'b/1'];
    const before = h.sent.length;
    await h.step(120 * S);
    assert.equal(h.sent.length, before, 'within the cooldown of the resolution');
    const r = await h.step(160 * S);
    // b after its cooldown; a, unchanged since 60 s, repeats.
    assert.deepEqual(r.notifications.map((n) => `${n.status} ${n.groupLabels.site}`).sort(), ['firing a', 'firing b']);
  });

  test('a silence mutes the alerts it matches in its window; a firing parent mutes the children that agree on its labels', async () => {
    const silences: Silence[] = [{ id: 's', selector: parseSelector('{site="a"}'), startsAtMs: 0, endsAtMs: 50 * S }];
    let parentFiring: AlertInstance[] = [];
    const h = harness(
      rule({ forSeconds: 0, parentId: 'site-down', inhibitLabels: ['site'] }),
      () => ['a', 'b', 'c'].map((site) => ({ labels: { __name__: 'pump_temp', site }, value: 1 })),
      { silences, firing: (id) => (id === 'site-down' ? parentFiring : undefined) },
    );
    parentFiring = [{ labels: { site: 'b', alertname: 'SiteDown' }, state: 'firing' } as unknown as AlertInstance];
    await h.step(0);
    assert.deepEqual(h.sent.map((n) => n.groupLabels.site), ['c'], 'a silenced, b inhibited');
    parentFiring = [];
    await h.step(10 * S);
    assert.deepEqual(h.sent.map((n) => n.groupLabels.site), ['c', 'b'], 'the parent resolved: b is told');
    await h.step(60 * S);
    assert.deepEqual(h.sent.map((n) => n.groupLabels.site), ['c', 'b', 'a'], 'the silence ended');
  });
});

describe('two gateways sharing a real Redis', () => {
  let redis: RedisService;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('a real HTTP receiver gets exactly one signed notification per firing group', async () => {
    const bodies: Array<{ body: string; ts: string; sig: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        bodies.push({ body, ts: String(req.headers['x-sentio-timestamp']), sig: String(req.headers['x-sentio-signature']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const secret = 'hook-secret';
    const caches = await Promise.all([0, 1].map(() => RedisCache.open({ url: redis.url, prefix: 'alerts-test:' })));
    const states = new MemoryAlertStates(); // the shared metadata store's part
    const hot = (t: number) => (t >= 0 ? ['a', 'b'].map((site) => ({ labels: { __name__: 'pump_temp', site }, value: 95 })) : []);
    const r = rule({ forSeconds: 0 });
    const gateways = caches.map((cache) => {
      const channel = createChannel('ops-hook', { kind: 'webhook', url, secret, retries: 0 }, { log: createLogger('error'), registry: new client.Registry() });
      return {
        channel,
        ev: new RuleEvaluator(r, scripted(hot), { states, cache, notify: (_r, n) => channel.send(n), silences: () => [], firing: () => undefined }),
      };
    });
    try {
      // Both evaluate the same steps at the same time, several times over.
      for (const t of [0, 15 * S, 30 * S]) await Promise.all(gateways.map((g) => g.ev.step(t)));
      assert.equal(bodies.length, 2, 'one per group, not per gateway or step');
      const sites = bodies.map((b) => (JSON.parse(b.body) as Notification).groupLabels.site).sort();
      assert.deepEqual(sites, ['a', 'b']);
      for (const b of bodies) {
        assert.equal(b.sig, `sha256=${createHmac('sha256', secret).update(`${b.ts}.${b.body}`).digest('hex')}`);
      }
    } finally {
      await Promise.all(gateways.map((g) => g.channel.close()));
      await Promise.all(caches.map((c) => c.close()));
      server.close();
    }
  });
});

test('a rule through the embedded query engine: threshold and anomaly conditions; the backtest equals live evaluation', async () => {
  const gw = await startTestGateway(['--anomaly-interval-s', '0']);
  try {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const lines: string[] = [];
    // 10 minutes at 5 s: site a above 90 from minute 3 to minute 6, site b never.
    for (let k = 0; k < 120; k++) {
      const t = t0 + k * 5 * S;
      lines.push(`pump,site=a temp=${k >= 36 && k < 72 ? 95 : 60} ${t}`, `pump,site=b temp=70 ${t}`, `pump,site=c temp=${50 + k * 0.1} ${t}`);
      // As the engine names scores: measurement sentio_anomaly, field score.
      lines.push(`sentio_anomaly,metric=pump_temp,site=a,model=statistical,model_version=1 score=${k === 60 ? 0.95 : 0.1} ${t}`);
    }
    const res = await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: lines.join('\n') });
    assert.equal(res.status, 204);
    const engine = new EmbeddedQueryEngine(gw.gateway.embedded!);
    const step = 15 * S;
    const r = rule({ forSeconds: 60 });
    const cond = new QueryCondition(engine, parseCondition('pump_temp{site=~"a|b"} > 90'), step);

    // Live: one evaluator stepping through the same times.
    let clock = t0;
    const cache = new MemoryCache({ now: () => clock });
    const live = new RuleEvaluator(r, cond, { states: new MemoryAlertStates(), cache, notify: async () => {}, silences: () => [], firing: () => undefined });
    const liveMoves = [];
    for (let t = t0; t <= t0 + 600 * S; t += step) {
      clock = t;
      liveMoves.push(...(await live.step(t)).transitions);
    }
    const bt = await backtest(r, cond, { startMs: t0, endMs: t0 + 600 * S, stepMs: step });
    assert.deepEqual(bt.transitions, liveMoves);
    const moves = bt.transitions.map((m) => `${(m.atMs - t0) / S}s ${m.labels.site} ${m.from}->${m.to}`);
    assert.deepEqual(moves, ['180s a inactive->pending', '240s a pending->firing', '360s a firing->resolved']);
    assert.equal(bt.notifications.length, 2, 'fired and resolved');

    // The score series through anomaly(): only its one high point.
    const parsed = parseCondition('anomaly(pump_temp{site="a"}) >= 0.8');
    assert.equal(parsed.query, 'sentio_anomaly_score{metric="pump_temp",model="statistical",site="a"}');
    const an = new QueryCondition(engine, parsed, 5 * S);
    const hits = [];
    for (let t = t0; t < t0 + 600 * S; t += 5 * S) if ((await an.at(t)).length > 0) hits.push((t - t0) / S);
    assert.deepEqual(hits, [300]);
    assert.throws(() => parseCondition('anomaly(pump_temp)'), /needs a comparison/);

    // Time to threshold: site c rises 1.2 a minute (62 at the end): 90 in about 23 min, within the hour; b is flat.
    const trend = parseCondition('reaches(pump_temp, >= 90, 1h, 5m)');
    assert.deepEqual([trend.kind, trend.windowMs, trend.withinMs], ['trend', 300_000, 3_600_000]);
    const tc = new QueryCondition(engine, trend, step);
    const at = await tc.at(t0 + 585 * S);
    assert.deepEqual(at.map((a) => a.labels.site), ['c']);
    assert.ok(Math.abs(at[0]!.value - (90 - (50 + 117 * 0.1)) / 1.2 * 60) < 30, `seconds to 90: ${at[0]!.value}`);
    assert.equal((await new QueryCondition(engine, parseCondition('reaches(pump_temp, >= 90, 10m, 5m)'), step).at(t0 + 585 * S)).length, 0, 'not within 10 min');
    const tr = rule({ forSeconds: 0 });
    const btTrend = await backtest(tr, tc, { startMs: t0, endMs: t0 + 600 * S, stepMs: step });
    const liveTrend = new RuleEvaluator(tr, new QueryCondition(engine, trend, step), { states: new MemoryAlertStates(), cache: new MemoryCache(), notify: async () => {}, silences: () => [], firing: () => undefined });
    const lt = [];
    for (let t = t0; t <= t0 + 600 * S; t += step) lt.push(...(await liveTrend.step(t)).transitions);
    assert.deepEqual(btTrend.transitions, lt);
    assert.ok(lt.some((m) => m.to === 'firing' && m.labels.site === 'c'));
    assert.throws(() => parseCondition('reaches(pump_temp, 90)'), /reaches\(<query>/);
  } finally {
    await gw.close();
  }
});
