// Assembles the gateway from a validated Config: sink, parser pool,
// ingestor, HTTP/WebSocket server. `startGateway` is what `sentio start`
// runs and what end-to-end tests start in-process.

import { resolve } from 'node:path';
import { createAuthenticator } from './auth/index.js';
import type { Config } from './config/index.js';
import { Ingestor } from './ingest/index.js';
import type { Logger } from './log/index.js';
import { Metrics } from './metrics/index.js';
import { Pipeline } from './pipeline/index.js';
import { createApp, listen, type Server } from './server/index.js';
import { BlackholeSink } from './sinks/blackhole/index.js';
import { EmbeddedSink } from './sinks/embedded/index.js';
import type { Sink } from './sinks/types.js';
import { VictoriaMetricsSink } from './sinks/victoriametrics/index.js';

export interface Gateway {
  port: number;
  mode: string;
  sink: Sink;
  metrics: Metrics;
  pipeline: Pipeline;
  close(): Promise<void>;
}

async function createSink(config: Config, metrics: Metrics, log: Logger): Promise<{ sink: Sink; mode: string }> {
  if (config.sink === 'blackhole') {
    return { sink: new BlackholeSink(metrics.sink('blackhole')), mode: 'blackhole (samples are parsed, encoded and discarded)' };
  }
  if (config.victoriametrics.length > 0) {
    const sink = new VictoriaMetricsSink({
      urls: config.victoriametrics,
      replication: config.replication,
      concurrency: config.vm.concurrency,
      timeoutMs: config.vm.timeoutMs,
      maxRetries: config.vm.maxRetries,
      retryBaseMs: config.vm.retryBaseMs,
      metrics: metrics.sink('victoriametrics'),
      log,
    });
    const shards = config.victoriametrics.map((u, i) => `  shard ${i}: ${u}`).join('\n');
    return { sink, mode: `victoriametrics, ${config.victoriametrics.length} shard(s), replication ${config.replication}\n${shards}` };
  }
  const dataDir = resolve(config.dataDir);
  const sink = await EmbeddedSink.open({ dataDir, metrics: metrics.sink('embedded'), log: (m) => log.info(m) });
  return { sink, mode: `embedded (DuckDB under ${dataDir})` };
}

export async function startGateway(config: Config, log: Logger, tokens: readonly string[] = config.tokens): Promise<Gateway> {
  const metrics = new Metrics();
  const { sink, mode } = await createSink(config, metrics, log);
  const pipeline = new Pipeline({ workers: config.workers, inlineMaxBytes: config.inlineMaxBytes, inlineMaxLoad: config.inlineMaxLoad });
  metrics.poolProbe = () => ({
    queueDepth: pipeline.queueDepth,
    threads: pipeline.threads,
    utilization: pipeline.utilization,
    inline: pipeline.inlineCount,
    pooled: pipeline.pooledCount,
    mainLoad: pipeline.mainLoad,
  });
  const ingestor = new Ingestor(pipeline, sink, metrics, config.maxErrors);
  let ready = false;
  const app = createApp({
    ingestor,
    auth: createAuthenticator(tokens, !config.noAuth),
    metrics,
    limits: { maxBodyBytes: config.maxBodyBytes, maxDecompressedBytes: config.maxDecompressedBytes },
    maxFrameBytes: config.maxFrameBytes,
    isReady: () => ready,
    async health() {
      const h = await sink.health();
      return h.ok ? undefined : `sink ${sink.name}: ${h.detail ?? 'unhealthy'}`;
    },
  });
  let server: Server;
  try {
    server = await listen(app, config.listen.host, config.listen.port);
  } catch (err) {
    await Promise.allSettled([pipeline.close(), sink.close()]);
    throw err;
  }
  ready = true;
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    mode,
    sink,
    metrics,
    pipeline,
    close() {
      closing ??= (async () => {
        ready = false;
        server.close();
        await pipeline.close();
        await sink.close();
      })();
      return closing;
    },
  };
}
