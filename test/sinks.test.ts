// The sink conformance suite (src/sinks/conformance.ts) against every sink:
// the blackhole, the embedded DuckDB store, and a real VictoriaMetrics
// (Debian's victoria-metrics) written directly and behind the durable queue.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { EmbeddedStore } from '../src/embedded/index.js';
import { silentLogger } from '../src/log/index.js';
import { Metrics } from '../src/metrics/index.js';
import { DurableQueue } from '../src/queue/index.js';
import { QueuedSink } from '../src/queue/sink.js';
import { BlackholeSink } from '../src/sinks/blackhole/index.js';
import { sinkConformance, type StoredSeries } from '../src/sinks/conformance.js';
import { EmbeddedSink } from '../src/sinks/embedded/index.js';
import { VictoriaMetricsSink } from '../src/sinks/victoriametrics/index.js';
import { type VictoriaMetrics, startVictoriaMetrics } from './services/index.js';

let vm: VictoriaMetrics;
before(async () => {
  vm = await startVictoriaMetrics();
});
after(async () => {
  await vm.destroy();
});

sinkConformance('blackhole', {
  malformed: 'discarded',
  async open() {
    const metrics = new Metrics();
    return { sink: new BlackholeSink('blackhole', metrics.sink('blackhole')), metrics, settled: async () => {}, close: async () => {} };
  },
});

sinkConformance('embedded (DuckDB)', {
  malformed: 'rejected',
  async open(run) {
    const dir = await mkdtemp(join(tmpdir(), 'sentio-sink-embedded-'));
    const metrics = new Metrics();
    const store = await EmbeddedStore.open({ dataDir: dir, metrics: metrics.sink('edge') });
    const sink = new EmbeddedSink('edge', store);
    return {
      sink,
      metrics,
      settled: () => store.flush(),
      async stored() {
        // Reopen-free read of what is committed, in insertion order.
        const all = await store.exportSeries({ metric: 'conf_v' });
        return all.filter((s) => s.labels['run'] === run);
      },
      async close() {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});

function vmSink(metrics: Metrics): VictoriaMetricsSink {
  return new VictoriaMetricsSink({
    name: 'longterm',
    urls: [vm.writeUrl],
    replication: 1,
    concurrency: 4,
    timeoutMs: 5000,
    maxRetries: 8,
    retryBaseMs: 100,
    metrics: metrics.sink('longterm'),
    log: silentLogger,
  });
}

async function storedInVm(run: string): Promise<StoredSeries[]> {
  const series = await vm.export(`{run="${run}"}`);
  return series.map((s) => ({ labels: s.metric, samples: s.timestamps.map((t, i) => ({ timestamp: t, value: s.values[i]! })) }));
}

/** Stops VictoriaMetrics; `end` starts it again on the same port and data. */
async function vmOutage(): Promise<{ end(): Promise<void> }> {
  await vm.stop();
  return {
    async end() {
      vm = await vm.restart();
    },
  };
}

sinkConformance('victoriametrics (real server, no queue)', {
  malformed: 'rejected',
  async open(run) {
    const metrics = new Metrics();
    const sink = vmSink(metrics);
    return { sink, metrics, settled: () => vm.flush(), stored: () => storedInVm(run), outage: vmOutage, close: async () => {} };
  },
});

sinkConformance('victoriametrics (real server) behind the durable queue', {
  malformed: 'dropped',
  async open(run) {
    const dir = await mkdtemp(join(tmpdir(), 'sentio-sink-queued-'));
    const metrics = new Metrics();
    const inner = vmSink(metrics);
    const queue = await DurableQueue.open({
      dir,
      shards: inner.shards,
      maxBytes: 64 << 20,
      full: 'refuse',
      fsync: 'batch',
      fsyncIntervalMs: 100,
      segmentBytes: 4 << 20,
      memoryBytes: 8 << 20,
      concurrency: 4,
      retryBaseMs: 100,
      sender: inner,
      metrics: metrics.queue('longterm', () => ({ shards: [] })),
      log: silentLogger,
    });
    const sink = new QueuedSink(inner, queue);
    return {
      sink,
      metrics,
      async settled() {
        await queue.drained();
        await vm.flush();
      },
      stored: () => storedInVm(run),
      outage: vmOutage,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
