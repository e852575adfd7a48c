// GET /api/series/trend on an embedded gateway: samples written with line
// protocol, a Theil–Sen fit per series (an outlier does not move it), the
// predicted time to a threshold (directed or not), too-short series, bad
// parameters with their codes, and the viewer role. Then the explorer in
// headless Chromium (needs `npm run build:web`): the anomaly overlay shades
// the stretch where the score series is >= 0.8, and the trend panel shows
// the predicted time to a typed threshold.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ADMIN_PASSWORD, type ApiClient, login, startTestGateway, TOKEN, type TestGateway } from './helpers.js';

let gw: TestGateway;
let api: ApiClient;
const now = Math.floor(Date.now() / 60_000) * 60_000;
const end = String(now / 1000);

before(async () => {
  gw = await startTestGateway();
  api = await login(gw.url);
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    const t = now - (59 - i) * 60_000;
    // p1 rises 0.002/s (7.2/h) from 70, with one wild outlier; p2 falls 0.001/s from 50.
    lines.push(`pump,pump=p1 temp=${i === 30 ? 500 : 70 + 0.002 * i * 60} ${t}`);
    lines.push(`pump,pump=p2 temp=${50 - 0.001 * i * 60} ${t}`);
    // p1's anomaly score: one anomalous stretch (minutes 20–25), two models.
    lines.push(`sentio_anomaly,metric=pump_temp,pump=p1,model=statistical,model_version=1 score=${i >= 20 && i <= 25 ? 0.95 : 0.1} ${t}`);
    lines.push(`sentio_anomaly,metric=pump_temp,pump=p1,model=iforest,model_version=1 score=0.2 ${t}`);
  }
  lines.push(`pump,pump=p3 temp=1 ${now}`);
  const res = await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: { authorization: `Token ${TOKEN}` }, body: lines.join('\n') });
  assert.equal(res.status, 204);
});
after(() => gw.close());

const trend = (params: Record<string, string>, client = api) => client.call('GET', `/api/series/trend?${new URLSearchParams(params)}`);
const near = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('slope per second and hour, level, CI and time to a threshold per series', async () => {
  const r = await trend({ query: 'pump_temp', window: '1h', end, step: '60s', threshold: '90' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.data.resultType, 'trend');
  assert.equal(r.body.data.window, 3600);
  assert.equal(r.body.data.stepSeconds, 60);
  const by = new Map<string, any>(r.body.data.result.map((s: any) => [s.metric.pump, s]));
  const p1 = by.get('p1');
  assert.equal(p1.n, 60);
  near(p1.fit.slopePerSecond, 0.002, 1e-9); // the outlier (500) does not move it
  near(p1.fit.slopePerHour, 7.2, 1e-6);
  assert.ok(p1.fit.slopeLowPerSecond <= 0.002 && p1.fit.slopeHighPerSecond >= 0.002);
  near(p1.fit.level, 70 + 0.002 * 59 * 60, 1e-6);
  assert.equal(p1.fit.at, now / 1000);
  assert.equal(p1.fit.confidence, 0.95);
  const sec = (90 - (70 + 0.002 * 3540)) / 0.002;
  near(p1.crossing.seconds, sec, 1e-3);
  assert.equal(p1.crossing.time, new Date(now + Math.round(sec * 1000)).toISOString());
  assert.ok(p1.crossing.soonestSeconds <= p1.crossing.seconds && p1.crossing.latestSeconds >= p1.crossing.seconds);

  // p2 falls (level 46.46): by default it crosses 90 "either" way: already beyond it.
  const p2 = by.get('p2');
  near(p2.fit.slopePerHour, -3.6, 1e-6);
  assert.equal(p2.crossing.seconds, 0);
  // p3 has one sample: no fit.
  assert.deepEqual(by.get('p3'), { metric: { __name__: 'pump_temp', pump: 'p3' }, n: 1, fit: null, crossing: null });
});

test('directed thresholds: an upper limit is never reached by a falling trend', async () => {
  const up = await trend({ query: 'pump_temp{pump="p2"}', window: '1h', end, step: '60s', threshold: '90', direction: 'up' });
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.equal(up.body.data.result[0].crossing, null);
  const down = await trend({ query: 'pump_temp{pump="p2"}', window: '1h', end, step: '60s', threshold: '40', direction: 'down' });
  near(down.body.data.result[0].crossing.seconds, (50 - 3.54 - 40) / 0.001, 1e-3);
  const none = await trend({ query: 'pump_temp{pump="p1"}', window: '1h', end, step: '60s' });
  assert.equal(none.body.data.threshold, null);
  assert.equal(none.body.data.result[0].crossing, null);
});

test('the default window (6h) and step, a viewer may ask', async () => {
  assert.equal((await api.call('POST', '/api/users', { username: 'trendviewer', password: 'trendviewer-password-1', role: 'viewer' })).status, 201);
  const viewer = await login(gw.url, 'trendviewer', 'trendviewer-password-1');
  const r = await trend({ query: 'pump_temp{pump="p1"}', end }, viewer);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.data.window, 21_600);
  assert.equal(r.body.data.stepSeconds, 44); // 6 h / 500 points, rounded up to whole seconds
  assert.ok(r.body.data.result[0].fit.slopePerSecond > 0);
  const anon = await fetch(`${gw.url}/api/series/trend?query=pump_temp`);
  assert.equal(anon.status, 401);
});

test('bad parameters: stable codes', async () => {
  const bad: Array<Record<string, string>> = [{ window: 'forever' }, { threshold: 'hot' }, { threshold: '' }, { confidence: '1.5' }, { step: '1ms', window: '1h' }, { end: 'yesterday' }];
  for (const params of bad) {
    const r = await trend({ query: 'pump_temp', ...params });
    assert.equal(r.status, 400, JSON.stringify(params));
    assert.equal(r.body.code, 'SENTIO_ERR_BAD_QUERY', JSON.stringify(params));
  }
  assert.equal((await trend({ query: 'pump_temp{' })).body.code, 'SENTIO_ERR_BAD_QUERY');
  assert.equal((await trend({ query: 'histogram_quantile(0.9, pump_temp)' })).body.code, 'SENTIO_ERR_UNSUPPORTED_QUERY');
  assert.equal((await trend({ query: 'pump_temp', direction: 'sideways' })).body.code, 'SENTIO_ERR_VALIDATION');
  assert.equal((await api.call('GET', '/api/series/trend')).body.code, 'SENTIO_ERR_VALIDATION');
});

test('explorer: anomaly overlay bands and the trend panel', async () => {
  await mkdir('.tmp', { recursive: true });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${gw.url}/login`);
    await page.getByTestId('login-username').fill('admin');
    await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('logout').waitFor();
    await page.goto(`${gw.url}/explorer?metric=pump_temp&f=pump%3Dp1&range=1h&step=1m&paused=1`);
    const bands = page.getByTestId('anomaly-bands');
    const value = async (want: string) => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const v = await bands.getAttribute('data-value');
        if (v === want) return;
        if (Date.now() > deadline) throw new Error(`anomaly-bands is ${v}, wanted ${want}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await value('1');
    assert.match((await bands.textContent()) ?? '', /1 anomalous stretch shaded/);
    // Another model: its scores never reach 0.8.
    await page.getByTestId('model-picker').selectOption('iforest');
    await value('0');
    await page.getByTestId('model-picker').selectOption('statistical');
    await value('1');
    await page.screenshot({ path: '.tmp/explorer-anomaly.png', fullPage: true });
    // Threshold above the peak: nothing shaded.
    await page.getByTestId('score-threshold').fill('0.99');
    await page.getByTestId('score-threshold').press('Enter');
    await value('0');

    await page.getByTestId('trend-threshold').fill('90');
    await page.getByTestId('trend-run').click();
    await page.getByTestId('trend-table').waitFor();
    const text = (await page.getByTestId('trend-table').textContent()) ?? '';
    assert.match(text, /7\.2/); // slope per hour
    assert.match(text, /in 1 h 47 min/); // (90 - 77.08) / 0.002 s = 6460 s
    await page.screenshot({ path: '.tmp/explorer-trend.png', fullPage: true });
  } finally {
    await browser.close();
  }
});
