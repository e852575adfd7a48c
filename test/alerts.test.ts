// Alert rules in a running gateway: a rule created through the API is
// evaluated on the schedule's steps (driven here with roundNow), its alerts
// go pending → firing → resolved in the metadata store and the audit log,
// GET /api/alerts shows them, and the backtest of the same rule over the
// same range gives the same transitions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { login, metricValue, startTestGateway } from './helpers.js';

test('a stored rule fires and resolves as evaluated, is audited, listed, and its backtest agrees', async () => {
  const gw = await startTestGateway(['--alert-interval-s', '15', '--anomaly-interval-s', '0']);
  try {
    const api = await login(gw.url);
    const step = 15_000;
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 1_800_000;
    const lines: string[] = [];
    // 10 minutes at 5 s: pump a above 90 from 180 s to 360 s.
    for (let k = 0; k < 120; k++) {
      const t = t0 + k * 5000;
      lines.push(`pump,site=a temp=${k >= 36 && k < 72 ? 95 : 60} ${t}`, `pump,site=b temp=70 ${t}`);
    }
    assert.equal((await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: lines.join('\n') })).status, 204);

    const bad = await api.call('POST', '/api/alert-rules', { name: 'bad', expr: 'anomaly(pump_temp)' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /needs a comparison/);
    const created = await api.call('POST', '/api/alert-rules', { name: 'PumpHot', expr: 'pump_temp > 90', forSeconds: 60, severity: 'critical', groupBy: ['site'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rule = created.body;
    assert.deepEqual(rule.groupBy, ['site']);

    const alerting = gw.gateway.alerting!;
    const states: string[] = [];
    for (let t = t0; t <= t0 + 600_000; t += step) {
      await alerting.roundNow(t);
      const { body } = await api.call('GET', `/api/alerts?ruleId=${rule.id}`);
      states.push(body.items.map((a: any) => a.state).join(',') || '-');
    }
    // pending at 180 s, firing from 240 s, resolved at 360 s.
    assert.equal(states[12], 'pending');
    assert.equal(states[16], 'firing');
    assert.equal(states[24], 'resolved');
    const [alert] = (await api.call('GET', '/api/alerts?state=resolved')).body.items;
    assert.deepEqual(alert.labels, { metric: 'pump_temp', site: 'a', alertname: 'PumpHot' });
    assert.equal(alert.firedAt, new Date(t0 + 240_000).toISOString());

    const audit = await gw.gateway.control.store.listAudit({});
    const moves = audit.filter((e) => e.action.startsWith('alert.')).map((e) => `${e.action} ${e.details.at}`).reverse();
    const iso = (s: number) => new Date(t0 + s * 1000).toISOString();
    assert.deepEqual(moves, [`alert.pending ${iso(180)}`, `alert.firing ${iso(240)}`, `alert.resolved ${iso(360)}`]);

    const bt = await api.call('POST', `/api/alerts/rules/${rule.id}/backtest`, { start: iso(0), end: iso(600) });
    assert.equal(bt.status, 200, JSON.stringify(bt.body));
    assert.deepEqual(bt.body.transitions.map((t: any) => `alert.${t.to} ${t.at}`), moves);
    assert.deepEqual(bt.body.notifications.map((n: any) => `${n.status} ${n.groupLabels.site} ${n.at}`), [`firing a ${iso(240)}`, `resolved a ${iso(360)}`]);
    assert.equal(bt.body.steps, 41);
    const tooMany = await api.call('POST', `/api/alerts/rules/${rule.id}/backtest`, { start: iso(0), end: iso(8 * 3600), stepSeconds: 1 });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.message, /at most 20000 steps/);

    const m = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(m, 'sentio_alert_transitions_total', { to: 'firing' }), 1);
    assert.equal(metricValue(m, 'sentio_alert_evaluations_total', { outcome: 'ok' }), 41);
    assert.equal(metricValue(m, 'sentio_alerts', { state: 'resolved' }), 1);
  } finally {
    await gw.close();
  }
});
