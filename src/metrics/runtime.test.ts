import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { test } from 'node:test';
import client from 'prom-client';
import { runtimeMetrics } from './runtime.js';

test("the runtime metrics are prom-client's default ones, name for name", async () => {
  const ours = new client.Registry();
  const theirs = new client.Registry();
  const r = runtimeMetrics(ours);
  client.collectDefaultMetrics({ register: theirs });
  try {
    const names = (reg: client.Registry) => reg.getMetricsAsArray().map((m) => m.name).sort();
    assert.deepEqual(names(ours), names(theirs));
    assert.match(await ours.metrics(), /^process_cpu_seconds_total \S+$/m);
  } finally {
    r.stop();
  }
});

test('the event-loop lag gauges say how late the loop ran: about 0 when idle, a stall in full', async () => {
  const registry = new client.Registry();
  const r = runtimeMetrics(registry);
  // A scrape reads the window since the one before and starts the next.
  const scrape = async () => new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, (m.values[0] as { value: number } | undefined)?.value]));
  try {
    await scrape();
    await wait(450); // a few samples of an idle loop
    const idle = await scrape();
    assert.ok(idle.get('nodejs_eventloop_lag_max_seconds')! < 0.08, `idle: max ${idle.get('nodejs_eventloop_lag_max_seconds')} s late`);
    assert.ok(idle.get('nodejs_eventloop_lag_p50_seconds')! < 0.02, `idle: median ${idle.get('nodejs_eventloop_lag_p50_seconds')} s late (the 100 ms interval is not lag)`);
    await wait(150); // a sample after the scrape: the first one after a reset only starts the count
    const until = Date.now() + 300;
    while (Date.now() < until); // a 300 ms stall
    await wait(250); // the sample it delayed, and one after
    const stalled = await scrape();
    const max = stalled.get('nodejs_eventloop_lag_max_seconds')!;
    assert.ok(max > 0.2 && max < 0.5, `a 300 ms stall read as ${max} s`);
    const after = await scrape();
    assert.ok(after.get('nodejs_eventloop_lag_max_seconds')! < max, 'each scrape reads a new window');
  } finally {
    r.stop();
  }
});
