// The standard process_* and nodejs_* metrics of every Node.js exporter
// (prom-client's default metrics, the same names and labels), with one
// difference: the event-loop lag is sampled by a 100 ms timer, not 10 ms.
//
// prom-client's 10 ms sampling timer woke the gateway 100 times a second
// whatever it did: about 1 % of a core on an idle gateway here, all of it in
// wakeups (bench/RESULTS.md, Modbus), which an edge device pays in power.
// A stall still shows in full at 100 ms: it delays the next sample by as
// long as it lasts. prom-client reports the time between samples (so a
// healthy loop reads its 10 ms interval); these gauges report how late the
// samples ran, the interval taken off (a healthy loop reads about 0).

import { createRequire } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';

/** The event-loop lag's sampling interval. */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** prom-client's default metric collectors other than its event-loop lag (lib/metrics/<name>.js: (registry, config) => void). */
const DEFAULTS_BUT_LAG = [
  'processCpuTotal',
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  ...(typeof process.getActiveResourcesInfo === 'function' ? ['processResources'] : []),
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

type Collector = (registry: client.Registry, config: object) => void;

/** Registers the process_* and nodejs_* metrics in `registry`; stop() ends the lag sampling. */
export function runtimeMetrics(registry: client.Registry): { stop(): void } {
  const require = createRequire(import.meta.url);
  for (const name of DEFAULTS_BUT_LAG) (require(`prom-client/lib/metrics/${name}.js`) as Collector)(registry, {});
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  histogram.enable();
  const late = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - EVENT_LOOP_SAMPLE_MS) / 1000 : 0);
  // As prom-client measures it: the delay of a setImmediate queued at the scrape (the value of the
  // previous scrape). Registered first, so a scrape reads it first: it sets the others and starts a new window.
  let immediateLag = 0;
  new client.Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers: [registry],
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => (immediateLag = Number(process.hrtime.bigint() - start) / 1e9));
      this.set(immediateLag);
      min.set(late(histogram.min));
      max.set(late(histogram.max));
      mean.set(late(histogram.mean));
      stddev.set(Number.isFinite(histogram.stddev) ? histogram.stddev / 1e9 : 0);
      p50.set(late(histogram.percentile(50)));
      p90.set(late(histogram.percentile(90)));
      p99.set(late(histogram.percentile(99)));
      histogram.reset();
    },
  });
  const gauge = (suffix: string, help: string) => new client.Gauge({ name: `nodejs_eventloop_lag_${suffix}_seconds`, help, registers: [registry] });
  const min = gauge('min', `The least the event loop ran late since the last scrape (sampled by a ${EVENT_LOOP_SAMPLE_MS} ms timer).`);
  const max = gauge('max', 'The most the event loop ran late since the last scrape.');
  const mean = gauge('mean', 'How late the event loop ran on average since the last scrape.');
  const stddev = gauge('stddev', 'The standard deviation of how late it ran since the last scrape.');
  const p50 = gauge('p50', 'The median of how late it ran since the last scrape.');
  const p90 = gauge('p90', 'The 90th percentile of how late it ran since the last scrape.');
  const p99 = gauge('p99', 'The 99th percentile of how late it ran since the last scrape.');
  return { stop: () => histogram.disable() };
}
