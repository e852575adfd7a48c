// Several sinks at once, through a real gateway: VictoriaMetrics (Debian's
// victoria-metrics) behind its durable queue beside the embedded store,
// routing rules by label matchers, and what an ack means when one sink fails.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type ExportedSeries as VmSeries, startVictoriaMetrics } from './services/index.js';
import { type TestGateway, metricValue, scrape, startTestGateway } from './helpers.js';

async function post(gw: TestGateway, body: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body });
  return { status: res.status, text: await res.text() };
}

/** `series` → sorted "ts=value" of VictoriaMetrics' export. */
function vmSamples(series: VmSeries[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const s of series) m.set(s.metric['dev'] ?? s.metric['site'] ?? '?', s.timestamps.map((t, i) => `${t}=${s.values[i]}`));
  return m;
}

/** The same from the embedded store, in the order stored (duplicates kept). */
async function embeddedSamples(gw: TestGateway, metric: string): Promise<Map<string, string[]>> {
  const m = new Map<string, string[]>();
  for (const s of await gw.gateway.embedded!.exportSeries({ metric })) {
    m.set(s.labels['dev'] ?? s.labels['site'] ?? '?', s.samples.map((p) => `${p.timestamp}=${p.value}`).sort());
  }
  return m;
}

describe('two sinks: VictoriaMetrics behind its queue and the embedded store', () => {
  test('VictoriaMetrics down for 30 s while the embedded store stays up: every acked sample ends in both, exactly once in each', async () => {
    // Deduplication on, as docs/guarantees.md recommends: the queue delivers at least once.
    let vm = await startVictoriaMetrics(undefined, ['-dedup.minScrapeInterval=1ms']);
    const gw = await startTestGateway(['--victoriametrics', vm.writeUrl, '--embedded', '--vm-retry-base-ms', '100', '--vm-max-retries', '2']);
    try {
      assert.match(gw.gateway.mode, /^victoriametrics: victoriametrics, 1 shard.*\n[\s\S]*durable queue[\s\S]*\nembedded: embedded \(DuckDB/m);
      const t0 = Date.now() - 120_000;
      const acked: string[] = [];
      let n = 0;
      /** One batch: 5 devices × 1 sample, timestamps unique per batch. */
      const write = async (): Promise<void> => {
        const i = n++;
        const lines = Array.from({ length: 5 }, (_, d) => `two,dev=d${d} v=${i} ${t0 + i}`).join('\n');
        const r = await post(gw, lines);
        assert.equal(r.status, 204, `batch ${i}: ${r.text}`);
        for (let d = 0; d < 5; d++) acked.push(`d${d}:${t0 + i}=${i}`);
      };
      for (let i = 0; i < 20; i++) await write();
      await vm.stop();
      const downUntil = Date.now() + 30_000;
      // While it is down: writes keep being acknowledged (the queue takes them), the embedded store stores them.
      while (Date.now() < downUntil) {
        await write();
        await new Promise((r) => setTimeout(r, 100));
      }
      const queued = metricValue(await scrape(gw.url), 'sentio_queue_batches', { sink: 'victoriametrics', shard: '0' });
      assert.ok(queued > 0, `batches wait in the queue while VictoriaMetrics is down (${queued})`);
      vm = await vm.restart();
      for (let i = 0; i < 20; i++) await write();
      await gw.delivered();
      const want = new Map<string, string[]>();
      for (const a of acked) {
        const [dev, sample] = a.split(':') as [string, string];
        want.set(dev, [...(want.get(dev) ?? []), sample]);
      }
      for (const v of want.values()) v.sort();
      const inVm = vmSamples(await vm.export('{__name__="two_v"}'));
      for (const v of inVm.values()) v.sort();
      assert.deepEqual(inVm, want, 'VictoriaMetrics holds every acked sample once');
      assert.deepEqual(await embeddedSamples(gw, 'two_v'), want, 'the embedded store holds every acked sample once');
      assert.ok(n > 200, `${n} batches written`);
    } finally {
      await gw.close();
      await vm.destroy();
    }
  });

  test('an ack waits for every sink: without the queue, a sink that is down fails the batch (503), naming the sink', async () => {
    const vm = await startVictoriaMetrics();
    const gw = await startTestGateway(['--victoriametrics', vm.writeUrl, '--embedded', '--no-queue', '--vm-max-retries', '0', '--vm-retry-base-ms', '10']);
    try {
      assert.equal((await post(gw, `ack,dev=a v=1 ${Date.now()}`)).status, 204);
      await vm.stop();
      const r = await post(gw, `ack,dev=a v=2 ${Date.now()}`);
      assert.equal(r.status, 503, r.text);
      assert.equal(JSON.parse(r.text).code, 'SENTIO_ERR_SINK_UNAVAILABLE');
      assert.match(r.text, /VictoriaMetrics unavailable/);
      // The embedded store took its part: the retry writes it again (docs/guarantees.md, several sinks).
      const stored = await embeddedSamples(gw, 'ack_v');
      assert.equal(stored.get('a')?.length, 2);
      assert.equal(metricValue(await scrape(gw.url), 'sentio_dropped_samples_total', { protocol: 'influx_v1' }), 1);
    } finally {
      await gw.close();
      await vm.destroy();
    }
  });
});

describe('routing rules', () => {
  test('a rule sends matching series to one sink only; a sink named in no rule gets nothing; unrouted samples are counted', async () => {
    const [vmA, vmB] = await Promise.all([startVictoriaMetrics(), startVictoriaMetrics()]);
    const dir = await mkdtemp(join(tmpdir(), 'sentio-routes-'));
    const file = join(dir, 'sentio.yaml');
    await writeFile(
      file,
      [
        'sinks:',
        '  - {name: vm-a, type: victoriametrics, urls: [' + vmA.writeUrl + ']}',
        '  - {name: vm-b, type: victoriametrics, urls: [' + vmB.writeUrl + ']}',
        '  - {name: edge, type: embedded}',
        'routes:',
        `  - {sinks: [edge], match: '{site="plant-7"}'}`,
        `  - {sinks: [vm-a], signals: [metrics], match: '{site=~"plant-8|plant-7", room!="vault"}'}`,
        '',
      ].join('\n'),
    );
    const gw = await startTestGateway(['--config', file]);
    try {
      const now = Date.now();
      const body = [
        `r,site=plant-7,room=hall v=1 ${now}`,
        `r,site=plant-7,room=vault v=2 ${now}`,
        `r,site=plant-8,room=hall v=3 ${now}`,
        `r,site=plant-9,room=hall v=4 ${now}`,
        `r,site=plant-9,room=hall v=5,w=6 ${now + 1}`,
      ].join('\n');
      const r = await post(gw, body);
      assert.equal(r.status, 204, r.text);
      await gw.delivered();
      const series = (list: VmSeries[]) => list.map((s) => `${s.metric['site']}/${s.metric['room']}`).sort();
      assert.deepEqual(series(await vmA.export()), ['plant-7/hall', 'plant-8/hall'], 'vm-a: plant-8 and plant-7, not the vault');
      assert.deepEqual(await vmB.export(), [], 'vm-b is named in no rule');
      const edge = await gw.gateway.embedded!.exportSeries({ metric: 'r_v' });
      assert.deepEqual(edge.map((s) => `${s.labels['site']}/${s.labels['room']}`).sort(), ['plant-7/hall', 'plant-7/vault'], 'edge: plant-7 only');
      const metrics = await scrape(gw.url);
      assert.equal(metricValue(metrics, 'sentio_unrouted_samples_total'), 3, 'plant-9: 3 samples no rule routes');
      assert.equal(metricValue(metrics, 'sentio_accepted_samples_total', { protocol: 'influx_v1' }), 6);
      assert.equal(metricValue(metrics, 'sentio_sink_sent_samples_total', { sink: 'vm-a', shard: '0' }), 2);
      const status = await (await fetch(`${gw.url}/readyz`)).json() as { checks: Record<string, string> };
      assert.deepEqual(Object.keys(status.checks).sort(), ['cache', 'sink_edge', 'sink_vm-a', 'sink_vm-b', 'store']);
    } finally {
      await gw.close();
      await Promise.all([vmA.destroy(), vmB.destroy(), rm(dir, { recursive: true, force: true })]);
    }
  });
});
