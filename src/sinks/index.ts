// Sinks are made here, all the same way: a factory per type turns the
// sink's config (SinkSpec) into a Sink; a remote sink then gets its own
// durable queue under `<data-dir>/queue/<sink name>` unless the queue is off
// (`--no-queue`). Adding a sink type is adding a factory here and passing
// src/sinks/conformance.ts.

import { join, resolve } from 'node:path';
import type { Config, SinkSpec } from '../config/index.js';
import type { EmbeddedStore } from '../embedded/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { DurableQueue } from '../queue/index.js';
import { QueuedSink } from '../queue/sink.js';
import { BlackholeSink } from './blackhole/index.js';
import { EmbeddedSink } from './embedded/index.js';
import { isRemote, type Sink } from './types.js';
import { VictoriaMetricsSink } from './victoriametrics/index.js';

export interface SinkContext {
  config: Pick<Config, 'dataDir' | 'vm' | 'queue'>;
  metrics: Metrics;
  log: Logger;
  /** The embedded store (opened by the gateway, which owns it); asked for only by an embedded sink. */
  embedded: () => EmbeddedStore;
}

export interface CreatedSink {
  sink: Sink;
  /** One line (and indented details) for the start-up banner. */
  description: string;
}

type Factory<S extends SinkSpec> = (spec: S, ctx: SinkContext) => CreatedSink;

const factories: { [T in SinkSpec['type']]: Factory<Extract<SinkSpec, { type: T }>> } = {
  victoriametrics(spec, ctx) {
    const vm = ctx.config.vm;
    const sink = new VictoriaMetricsSink({
      name: spec.name,
      urls: spec.urls,
      replication: spec.replication,
      concurrency: vm.concurrency,
      timeoutMs: vm.timeoutMs,
      maxRetries: vm.maxRetries,
      retryBaseMs: vm.retryBaseMs,
      metrics: ctx.metrics.sink(spec.name),
      log: ctx.log,
    });
    const shards = spec.urls.map((u, i) => `\n    shard ${i}: ${u}`).join('');
    return { sink, description: `victoriametrics, ${spec.urls.length} shard(s), replication ${spec.replication}${shards}` };
  },
  embedded(spec, ctx) {
    const store = ctx.embedded();
    return { sink: new EmbeddedSink(spec.name, store), description: `embedded (DuckDB ${store.file})` };
  },
  blackhole(spec, ctx) {
    return { sink: new BlackholeSink(spec.name, ctx.metrics.sink(spec.name)), description: 'blackhole (samples are parsed, encoded and discarded)' };
  },
};

/** One sink, behind its durable queue when it is remote and the queue is on. */
async function createSink(spec: SinkSpec, ctx: SinkContext): Promise<CreatedSink> {
  const made = (factories[spec.type] as Factory<SinkSpec>)(spec, ctx);
  const { sink } = made;
  const q = ctx.config.queue;
  if (!isRemote(sink)) return made;
  if (q === undefined) return { sink, description: `${made.description}\n    no queue: acks wait for the sink` };
  const dir = join(resolve(ctx.config.dataDir), 'queue', sink.name);
  let queue: DurableQueue | undefined;
  const queueMetrics = ctx.metrics.queue(sink.name, () => ({
    shards: (queue?.stats() ?? []).map((st) => ({ ...st, oldestAgeSeconds: st.oldestMs === undefined ? 0 : (Date.now() - st.oldestMs) / 1000 })),
  }));
  try {
    queue = await DurableQueue.open({
      ...q,
      dir,
      shards: sink.shards,
      concurrency: ctx.config.vm.concurrency,
      retryBaseMs: ctx.config.vm.retryBaseMs,
      sender: sink,
      metrics: queueMetrics,
      log: ctx.log,
    });
  } catch (err) {
    await sink.close();
    throw err;
  }
  return {
    sink: new QueuedSink(sink, queue),
    description: `${made.description}\n    durable queue under ${dir} (${q.maxBytes} bytes, fsync ${q.fsync}, when full: ${q.full})`,
  };
}

/** Every configured sink, in config order; if one cannot be made, those made before it are closed. */
export async function createSinks(specs: readonly SinkSpec[], ctx: SinkContext): Promise<CreatedSink[]> {
  const made: CreatedSink[] = [];
  try {
    for (const spec of specs) made.push(await createSink(spec, ctx));
  } catch (err) {
    await Promise.allSettled(made.map((m) => m.sink.close()));
    throw err;
  }
  return made;
}
