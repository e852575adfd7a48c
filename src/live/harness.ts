// A minimal gateway around a LiveHub, for src/live's tests and bench/live.ts
// (the real gateway wiring is src/gateway.ts): a real parser pipeline,
// a blackhole sink (remote-write output, as with VictoriaMetrics) or the
// embedded store (columns output), an Ingestor observed by the hub, the
// front-end sources (POST /write, /ws) and GET /live, on a free
// loopback port. Ingest auth is off; /live checks what `verify` says.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator } from '../auth/index.js';
import { Ingestor } from '../pipeline/port.js';
import { IngestLimits } from '../limits/index.js';
import { silentLogger } from '../log/index.js';
import { Metrics } from '../metrics/index.js';
import { Pipeline } from '../pipeline/index.js';
import { unbounded } from '../http/budget.js';
import { createApp, listen } from '../server/index.js';
import { frontEndSources } from '../sources/index.js';
import { BlackholeSink } from '../sinks/blackhole/index.js';
import { EmbeddedStore } from '../embedded/index.js';
import { Router } from '../router/index.js';
import { EmbeddedSink } from '../sinks/embedded/index.js';
import type { Sink } from '../sinks/types.js';
import { LiveHub, type LiveHubOptions } from './index.js';

export interface LiveGatewayOptions {
  hub: Omit<LiveHubOptions, 'registry' | 'status'> & { status?: () => unknown };
  /** 'blackhole' (default): remote-write output; 'embedded': columns into DuckDB in a temp dir. */
  sink?: 'blackhole' | 'embedded';
  /** Parser worker threads (default 0: inline); with `pooled`, every batch goes to them. */
  workers?: number;
  pooled?: boolean;
  /** No live hub at all (the bench's baseline): `hub` is then not registered as an observer. */
  withoutHub?: boolean;
}

export interface LiveGateway {
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port>/live */
  liveUrl: string;
  hub: LiveHub;
  metrics: Metrics;
  ingestor: Ingestor;
  close(): Promise<void>;
}

export async function startLiveGateway(o: LiveGatewayOptions): Promise<LiveGateway> {
  const metrics = new Metrics();
  let dataDir: string | undefined;
  let sink: Sink;
  let store: EmbeddedStore | undefined;
  if (o.sink === 'embedded') {
    dataDir = await mkdtemp(join(tmpdir(), 'sentio-live-'));
    store = await EmbeddedStore.open({ dataDir, metrics: metrics.sink('embedded') });
    sink = new EmbeddedSink('embedded', store);
  } else {
    sink = new BlackholeSink('blackhole', metrics.sink('blackhole'));
  }
  const router = new Router([sink], undefined, metrics.router);
  const workers = o.workers ?? 0;
  const pipeline = new Pipeline({ workers, inlineMaxBytes: o.pooled ? 0 : 64 * 1024, inlineMaxLoad: o.pooled ? 0 : 0.7 });
  const hub = new LiveHub({
    status: () => ({ queueDepth: pipeline.queueDepth, sink: sink.name, healthy: true }),
    ...o.hub,
    registry: metrics.registry,
  });
  const ingestor = new Ingestor({
    pipeline,
    router,
    metrics,
    maxErrors: 100,
    maxLineBytes: 0,
    maxTags: 0,
    limits: new IngestLimits({ maxSamplesPerSecond: 0, maxSeriesPerMinute: 0 }),
    observers: o.withoutHub ? [] : [hub],
  });
  const sources = frontEndSources({
    auth: createAuthenticator([], false),
    metrics,
    log: silentLogger,
    limits: { maxBodyBytes: 64 << 20, maxDecompressedBytes: 64 << 20, maxCompressionRatio: 100 },
    budget: unbounded,
    maxFrameBytes: 16 << 20,
    ws: { maxInflight: 64, maxInflightBytes: 64 << 20, maxBackpressureBytes: 16 << 20, resumeWindow: 0, resumeClients: 0 },
    isReady: () => true,
  });
  for (const source of sources) await source.start(ingestor);
  const app = createApp({
    sources,
    metrics,
    log: silentLogger,
    isReady: () => true,
    health: async () => undefined,
  });
  hub.register(app);
  const server = await listen(app, '127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${server.port}`,
    liveUrl: `ws://127.0.0.1:${server.port}/live`,
    hub,
    metrics,
    ingestor,
    async close() {
      server.close();
      await hub.close();
      await ingestor.stop();
      await router.close();
      await store?.close();
      await pipeline.close();
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
