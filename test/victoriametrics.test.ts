// Against real VictoriaMetrics servers (Debian's victoria-metrics package,
// started by test/services): the series written through Sentio are the same
// as written to VictoriaMetrics directly; sharding splits series by hash
// with nothing lost or duplicated; replication; retries and refusals.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { native } from '../src/native/index.js';
import { type ExportedSeries, type VictoriaMetrics, seriesKey, startVictoriaMetrics } from './services/index.js';
import { type TestGateway, metricValue, scrape, startTestGateway } from './helpers.js';

const fixture = readFileSync(new URL('./fixtures/tricky.lp', import.meta.url), 'utf8');

/** The fixture with `{ts}` replaced by distinct, current timestamps in `precision`. */
function trickyBody(baseMs: number, precision: 'ns' | 'us' | 'ms' | 's' = 'ns'): string {
  const scale = { ns: 1_000_000n, us: 1000n, ms: 1n, s: 0n }[precision];
  let i = 0;
  return fixture.replace(/\{ts\}/g, () => {
    const ms = BigInt(baseMs + i++ * 1000);
    return String(precision === 's' ? ms / 1000n : ms * scale);
  });
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { method: 'POST', body, headers });
  await res.arrayBuffer();
  return res.status;
}

describe('equivalence with VictoriaMetrics /write', () => {
  let direct: VictoriaMetrics;
  let via: VictoriaMetrics;
  let gw: TestGateway;
  before(async () => {
    [direct, via] = await Promise.all([startVictoriaMetrics(), startVictoriaMetrics()]);
    gw = await startTestGateway(['--victoriametrics', via.writeUrl]);
  });
  after(async () => {
    await gw?.close();
    await Promise.all([direct?.destroy(), via?.destroy()]);
  });

  for (const precision of ['ns', 'us', 'ms', 's'] as const) {
    test(`tricky corpus, precision ${precision}: identical series, values and timestamps`, async () => {
      const db = `eq_${precision}`;
      const body = trickyBody(Date.now() - 3_600_000, precision);
      assert.equal(await post(`${direct.url}/write?db=${db}&precision=${precision}`, body), 204);
      const status = await post(`${gw.url}/write?db=${db}&precision=${precision}`, body, gw.auth);
      assert.ok(status === 204 || status === 400, `Sentio answered ${status}`);
      await gw.delivered();
      const match = `{db="${db}"}`;
      const [a, b] = await Promise.all([direct.export(match), via.export(match)]);
      assert.ok(a.length > 10, `the corpus yields series (${a.length})`);
      assert.deepEqual(b, a);
    });
  }

  test('points without a timestamp get the arrival time, as in VictoriaMetrics', async () => {
    const body = 'notime,host=a v=1,w=2i\nnotime,host=b v=3';
    const t0 = Date.now();
    assert.equal(await post(`${direct.url}/write?db=notime`, body), 204);
    assert.equal(await post(`${gw.url}/write?db=notime`, body, gw.auth), 204);
    const t1 = Date.now();
    await gw.delivered();
    const strip = (s: ExportedSeries[]) => s.map((x) => ({ metric: x.metric, values: x.values }));
    const [a, b] = await Promise.all([direct.export('{db="notime"}'), via.export('{db="notime"}')]);
    assert.equal(a.length, 3);
    assert.deepEqual(strip(b), strip(a));
    for (const s of b) for (const t of s.timestamps) assert.ok(t >= t0 - 1 && t <= t1 + 1, `timestamp ${t} within the request`);
  });
});

/** A workload of `n` series of 4 fields each at two timestamps. */
function fleet(n: number, baseMs: number): { body: string; series: number; samples: number } {
  const lines: string[] = [];
  for (const dt of [0, 10_000]) {
    for (let i = 0; i < n; i++) {
      lines.push(`env,host=dev-${i},zone=z${i % 7} temp=${i + dt / 1e4},hum=${i / 2},ok=t,uptime=${i}i ${(baseMs + dt) * 1_000_000}`);
    }
  }
  return { body: lines.join('\n'), series: n * 4, samples: n * 4 * 2 };
}

function count(series: ExportedSeries[]): number {
  return series.reduce((n, s) => n + s.values.length, 0);
}

describe('sharding over several VictoriaMetrics', () => {
  let vms: VictoriaMetrics[] = [];
  before(async () => {
    vms = await Promise.all([startVictoriaMetrics(), startVictoriaMetrics(), startVictoriaMetrics()]);
  });
  after(async () => {
    await Promise.all(vms.map((v) => v.destroy()));
  });

  test('two shards: series split by hash, nothing lost or duplicated', async () => {
    const gw = await startTestGateway(['--victoriametrics', vms[0]!.writeUrl, '--victoriametrics', vms[1]!.writeUrl]);
    try {
      const w = fleet(250, Date.now() - 600_000);
      assert.equal(await post(`${gw.url}/write?db=shard2`, w.body, gw.auth), 204);
      await gw.delivered();
      const parts = await Promise.all(vms.slice(0, 2).map((v) => v.export('{db="shard2"}')));
      const keys = parts.map((p) => new Set(p.map((s) => seriesKey(s.metric))));
      for (const k of keys[0]!) assert.ok(!keys[1]!.has(k), `series ${k} is on both shards`);
      assert.equal(keys[0]!.size + keys[1]!.size, w.series, 'every series is stored');
      assert.equal(count(parts[0]!) + count(parts[1]!), w.samples, 'every sample is stored once');
      for (const [shard, part] of parts.entries()) {
        assert.ok(part.length > w.series * 0.3, `shard ${shard} holds a fair share (${part.length} of ${w.series})`);
        for (const s of part) assert.equal(native.shardsFor(native.seriesHash(s.metric), 2, 1)[0], shard, `series ${seriesKey(s.metric)} on the shard its hash names`);
      }
      const m = await scrape(gw.url);
      assert.equal(metricValue(m, 'sentio_sink_sent_samples_total', { sink: 'victoriametrics' }), w.samples);
      // One queued batch per shard: its age at delivery, and each delivery's latency.
      assert.equal(metricValue(m, 'sentio_queue_delivery_age_seconds_count', { sink: 'victoriametrics' }), 2);
      assert.equal(metricValue(m, 'sentio_sink_delivery_seconds_count', { sink: 'victoriametrics' }), 2);
      assert.ok(metricValue(m, 'sentio_queue_delivery_age_seconds_sum', { sink: 'victoriametrics' }) >= metricValue(m, 'sentio_sink_delivery_seconds_sum', { sink: 'victoriametrics' }));
    } finally {
      await gw.close();
    }
  });

  test('three shards, replication 2: each series on exactly the two shards its hash names', async () => {
    const gw = await startTestGateway([...vms.flatMap((v) => ['--victoriametrics', v.writeUrl]), '--replication', '2']);
    try {
      const w = fleet(100, Date.now() - 600_000);
      assert.equal(await post(`${gw.url}/write?db=repl`, w.body, gw.auth), 204);
      await gw.delivered();
      const parts = await Promise.all(vms.map((v) => v.export('{db="repl"}')));
      const where = new Map<string, number[]>();
      for (const [shard, part] of parts.entries()) {
        for (const s of part) {
          const k = seriesKey(s.metric);
          where.set(k, [...(where.get(k) ?? []), shard]);
          assert.equal(s.values.length, 2, 'both samples of the series are on each replica');
        }
      }
      assert.equal(where.size, w.series);
      for (const s of parts.flat()) {
        const expected = native.shardsFor(native.seriesHash(s.metric), 3, 2).sort();
        assert.deepEqual(where.get(seriesKey(s.metric)), expected);
      }
    } finally {
      await gw.close();
    }
  });
});

describe('VictoriaMetrics sink failures without the queue (--no-queue)', () => {
  test('a stopped VictoriaMetrics: retried, then 503 with Retry-After; accepted again once it is back', async () => {
    let vm = await startVictoriaMetrics();
    const gw = await startTestGateway(['--no-queue', '--victoriametrics', vm.writeUrl, '--vm-max-retries', '2', '--vm-retry-base-ms', '10']);
    try {
      await vm.stop();
      const res = await fetch(`${gw.url}/write?db=outage`, { method: 'POST', body: 'down v=1', headers: gw.auth });
      assert.equal(res.status, 503);
      assert.ok(res.headers.get('retry-after'));
      assert.equal(((await res.json()) as { code: string }).code, 'SENTIO_ERR_SINK_UNAVAILABLE');
      const m = await scrape(gw.url);
      assert.equal(metricValue(m, 'sentio_sink_retries_total', { sink: 'victoriametrics' }), 2);
      assert.equal(metricValue(m, 'sentio_sink_failed_samples_total', { sink: 'victoriametrics' }), 1);
      assert.equal(metricValue(m, 'sentio_dropped_samples_total', { protocol: 'influx_v1' }), 1);
      assert.equal((await fetch(`${gw.url}/healthz`)).status, 503, '/healthz reports the sink down');

      vm = await vm.restart();
      assert.equal(await post(`${gw.url}/write?db=outage`, 'up v=2', gw.auth), 204);
      const series = await vm.export('{db="outage"}');
      assert.deepEqual(series.map((s) => s.metric.__name__), ['up_v']);
    } finally {
      await gw.close();
      await vm.destroy();
    }
  });

  test('a 4xx from the sink is not retried and is reported with its reason', async () => {
    const vm = await startVictoriaMetrics();
    // A path VictoriaMetrics answers with 400: the request can never succeed.
    const gw = await startTestGateway(['--no-queue', '--victoriametrics', `${vm.url}/api/v1/import/prometheus?extra_label=bad`, '--vm-max-retries', '5', '--vm-retry-base-ms', '10']);
    try {
      const res = await fetch(`${gw.url}/write`, { method: 'POST', body: 'rejected v=1', headers: gw.auth });
      const json = (await res.json()) as { code: string; message: string };
      assert.equal(res.status, 400, JSON.stringify(json));
      assert.equal(json.code, 'SENTIO_ERR_SINK_REJECTED');
      assert.match(json.message, /HTTP 400/);
      const m = await scrape(gw.url);
      assert.equal(metricValue(m, 'sentio_sink_retries_total', { sink: 'victoriametrics' }), 0);
      assert.equal(metricValue(m, 'sentio_sink_failed_requests_total', { sink: 'victoriametrics', reason: 'http_400' }), 1);
    } finally {
      await gw.close();
      await vm.destroy();
    }
  });
});

describe('VictoriaMetrics sink behind the durable queue', () => {
  test('a batch VictoriaMetrics rejects for good is acknowledged (it was stored), then dropped and counted', async () => {
    const vm = await startVictoriaMetrics();
    const gw = await startTestGateway(['--victoriametrics', `${vm.url}/api/v1/import/prometheus?extra_label=bad`]);
    try {
      assert.equal(await post(`${gw.url}/write`, 'rejected v=1,w=2', gw.auth), 204);
      await gw.delivered();
      const m = await scrape(gw.url);
      assert.equal(metricValue(m, 'sentio_queue_dropped_samples_total', { sink: 'victoriametrics', reason: 'rejected' }), 2);
      assert.equal(metricValue(m, 'sentio_sink_failed_requests_total', { sink: 'victoriametrics', reason: 'http_400' }), 1);
      assert.equal(metricValue(m, 'sentio_queue_batches', { sink: 'victoriametrics' }), 0, 'nothing left queued');
    } finally {
      await gw.close();
      await vm.destroy();
    }
  });
});
