// Assembles the gateway from a validated Config: sink, parser pool,
// ingestor, control plane (store, cache, auth, API), HTTP/WebSocket server.
// `startGateway` is what `sentio start` runs and what end-to-end tests
// start in-process.

import { accessSync, constants, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createApi } from './api/index.js';
import { type ControlPlane, openControlPlane } from './api/control.js';
import { ApiMetrics } from './api/metrics.js';
import { StatusSampler } from './api/status.js';
import { createAuthenticator } from './auth/index.js';
import type { Config } from './config/index.js';
import { Ingestor } from './ingest/index.js';
import { IngestLimits } from './limits/index.js';
import { LiveHub } from './live/index.js';
import { createQueryEngine } from './query/index.js';
import type { Logger } from './log/index.js';
import { Metrics } from './metrics/index.js';
import { Pipeline } from './pipeline/index.js';
import { DurableQueue } from './queue/index.js';
import { QueuedSink } from './queue/sink.js';
import { StartupError } from './errors.js';
import { SelfMetrics } from './self-metrics/index.js';
import { MemoryBudget } from './server/budget.js';
import { createApp, ListenError, listen, type Server } from './server/index.js';
import { defaultWebRoot } from './server/static.js';
import { BlackholeSink } from './sinks/blackhole/index.js';
import { EmbeddedSink } from './sinks/embedded/index.js';
import type { Sink } from './sinks/types.js';
import { VictoriaMetricsSink } from './sinks/victoriametrics/index.js';

export interface Gateway {
  port: number;
  /** 'http' or 'https' (TLS configured). */
  scheme: 'http' | 'https';
  mode: string;
  sink: Sink;
  metrics: Metrics;
  pipeline: Pipeline;
  control: ControlPlane;
  status: StatusSampler;
  /** Writes the gateway's own counters to its sink (undefined: --self-metrics-interval-s 0, or the blackhole). */
  selfMetrics: SelfMetrics | undefined;
  /** Start-up warnings worth printing (e.g. listening beyond loopback without TLS). */
  warnings: string[];
  /** Whether the built dashboard is served at `/`. */
  dashboard: boolean;
  /** The REST API's routes (method, OpenAPI path). */
  apiRoutes: ReadonlyArray<{ method: string; path: string }>;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

function checkReadable(path: string, what: string): void {
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new StartupError(`${what} ${path} cannot be read: ${(err as Error).message}`);
  }
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
    const mode = `victoriametrics, ${config.victoriametrics.length} shard(s), replication ${config.replication}`;
    const q = config.queue;
    if (q === undefined) return { sink, mode: `${mode}, no queue (acks wait for VictoriaMetrics)\n${shards}` };
    const dir = join(resolve(config.dataDir), 'queue', 'victoriametrics');
    let queue: DurableQueue | undefined;
    const queueMetrics = metrics.queue('victoriametrics', () => ({
      shards: (queue?.stats() ?? []).map((st) => ({ ...st, oldestAgeSeconds: st.oldestMs === undefined ? 0 : (Date.now() - st.oldestMs) / 1000 })),
    }));
    try {
      queue = await DurableQueue.open({
        ...q,
        dir,
        shards: sink.shards,
        concurrency: config.vm.concurrency,
        retryBaseMs: config.vm.retryBaseMs,
        sender: sink,
        metrics: queueMetrics,
        log,
      });
    } catch (err) {
      await sink.close();
      throw err;
    }
    return {
      sink: new QueuedSink(sink, queue),
      mode: `${mode}, durable queue under ${dir} (${q.maxBytes} bytes, fsync ${q.fsync}, when full: ${q.full})\n${shards}`,
    };
  }
  const dataDir = resolve(config.dataDir);
  const sink = await EmbeddedSink.open({ dataDir, metrics: metrics.sink('embedded'), log: (m) => log.info(m) });
  return { sink, mode: `embedded (DuckDB under ${dataDir})` };
}

/** How long a readiness check may take before it counts as failed. */
const READINESS_TIMEOUT_MS = 2000;

/** 'ok' when `check` resolves within READINESS_TIMEOUT_MS, else why not. */
function answers(check: Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${READINESS_TIMEOUT_MS} ms`), READINESS_TIMEOUT_MS);
  });
  return Promise.race([check.then(() => 'ok', (err: unknown) => (err as Error).message), late]).finally(() => clearTimeout(timer));
}

export async function startGateway(config: Config, log: Logger, tokens: readonly string[] = config.tokens): Promise<Gateway> {
  const tls = config.control.tls;
  if (tls) {
    checkReadable(tls.cert, 'TLS certificate (--tls-cert)');
    checkReadable(tls.key, 'TLS key (--tls-key)');
  }
  const metrics = new Metrics();
  const apiMetrics = new ApiMetrics(metrics.registry);
  const control = await openControlPlane(config.control, resolve(config.dataDir), log, apiMetrics);
  let sink: Sink;
  let mode: string;
  try {
    ({ sink, mode } = await createSink(config, metrics, log));
  } catch (err) {
    await control.close();
    throw err;
  }
  const pipeline = new Pipeline({ workers: config.workers, inlineMaxBytes: config.inlineMaxBytes, inlineMaxLoad: config.inlineMaxLoad });
  metrics.poolProbe = () => ({
    queueDepth: pipeline.queueDepth,
    threads: pipeline.threads,
    utilization: pipeline.utilization,
    inline: pipeline.inlineCount,
    pooled: pipeline.pooledCount,
    mainLoad: pipeline.mainLoad,
  });
  // High-water marks: the queue 80 % full, or more batches waiting for a parser than there are parsers.
  const queue = sink instanceof QueuedSink ? sink.queue : undefined;
  const highWater = config.queue ? config.queue.maxBytes * 0.8 : Number.POSITIVE_INFINITY;
  const overloaded = (): boolean => (queue !== undefined && queue.diskBytes > highWater) || pipeline.queueDepth > Math.max(1, config.workers);
  const status = new StatusSampler({ metrics, sink, queue: () => queue?.stats() ?? [], mainLoad: () => pipeline.mainLoad });
  const live = new LiveHub({
    maxRate: config.control.liveMaxRate,
    async verify(token) {
      const c = await control.sessions.authenticate(token);
      return { userId: c.sub, username: c.name, role: c.role, expiresAtMs: c.exp * 1000 };
    },
    cache: control.cache,
    status: () => status.status,
    registry: metrics.registry,
    instanceId: status.status.instance,
    onCacheError: () => apiMetrics.controlError('live_cache'),
  });
  const ingestor = new Ingestor({
    pipeline,
    sink,
    metrics,
    maxErrors: config.maxErrors,
    maxLineBytes: config.maxLineBytes,
    maxTags: config.maxTags,
    limits: new IngestLimits({
      maxSamplesPerSecond: config.maxSamplesPerSecond,
      maxSeriesPerMinute: config.maxSeriesPerMinute,
      // Shared buckets only when the cache is shared: an in-memory cache is this process anyway.
      ...(control.cache.kind === 'redis' ? { shared: control.cache } : {}),
    }),
    overloaded,
    observers: [control.activity, live],
  });
  const api = createApi(
    { store: control.store, sessions: control.sessions, deviceTokens: control.deviceTokens, activity: control.activity, status: () => status.status },
    {
      sessions: control.sessions,
      cache: control.cache,
      audit: (e) => control.store.appendAudit(e),
      log: log.pino.child({ component: 'api' }),
      metrics: apiMetrics,
      rateLimit: config.control.apiRateLimit,
      corsOrigins: config.control.corsOrigins,
    },
    sink instanceof BlackholeSink
      ? undefined
      : createQueryEngine({
          ...(config.control.vmselect !== undefined ? { vmselect: config.control.vmselect } : {}),
          victoriametrics: config.victoriametrics,
          ...(sink instanceof EmbeddedSink ? { embedded: sink } : {}),
          timeoutMs: config.vm.timeoutMs,
        }),
  );
  const budget = new MemoryBudget(config.maxInflightBodyBytes);
  metrics.budgetProbe = () => ({ inUse: budget.inUse, peak: budget.takePeak(), capacity: budget.capacity });
  let ready = false;
  const app = createApp({
    ingestor,
    auth: createAuthenticator(tokens, !config.noAuth, control.deviceTokens),
    metrics,
    log,
    limits: { maxBodyBytes: config.maxBodyBytes, maxDecompressedBytes: config.maxDecompressedBytes, maxCompressionRatio: config.maxCompressionRatio },
    budget,
    maxFrameBytes: config.maxFrameBytes,
    ws: config.ws,
    isReady: () => ready,
    async health() {
      const h = await sink.health();
      return h.ok ? undefined : `sink ${sink.name}: ${h.detail ?? 'unhealthy'}`;
    },
    async readiness() {
      const [store, cache, sinkState] = await Promise.all([
        answers(control.store.health()),
        answers(control.cache.health()),
        // A queued sink is ready while its queue takes batches, whatever the sink behind it does.
        queue !== undefined ? queue.refusal() ?? 'ok' : answers(sink.health().then((h) => (h.ok ? undefined : Promise.reject(new Error(h.detail ?? 'unhealthy'))))),
      ]);
      return { store, cache, [`sink_${sink.name}`]: sinkState };
    },
    ...(tls ? { tls } : {}),
    routes: (a) => {
      api.register(a);
      live.register(a);
    },
  });
  let server: Server;
  try {
    server = await listen(app, config.listen.host, config.listen.port);
  } catch (err) {
    status.close();
    await Promise.allSettled([live.close(), pipeline.close(), sink.close(), control.close()]);
    if (err instanceof ListenError) throw new StartupError(`${err.message}: stop it, or choose another address with --listen HOST:PORT`, { cause: err });
    throw err;
  }
  ready = true;
  // The gateway's own counters, into its own sink (not the blackhole's: nothing would be kept).
  const selfMetrics =
    config.selfMetricsIntervalS > 0 && !(sink instanceof BlackholeSink)
      ? new SelfMetrics({
          registry: metrics.registry,
          instance: `${hostname()}:${server.port}`,
          intervalMs: config.selfMetricsIntervalS * 1000,
          log,
          async write(body) {
            const result = await pipeline.ingest(body, { format: 'lp', precision: 'ms', nowMs: Date.now(), output: sink.output, shards: sink.shards, replication: sink.replication, maxErrors: 10 });
            if (result.rejected > 0) throw new Error(`the core rejected ${result.rejected} of its lines: ${result.errors[0]?.reason}`);
            await sink.write(result);
          },
        })
      : undefined;
  const warnings: string[] = [];
  if (!tls && !LOOPBACK.test(config.listen.host)) {
    warnings.push(`listening on ${config.listen.host} without TLS: passwords, access tokens and device tokens cross the network in clear text; set --tls-cert and --tls-key, or put a TLS proxy in front`);
  }
  for (const w of warnings) log.warn(w);
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    scheme: tls ? 'https' : 'http',
    mode,
    sink,
    metrics,
    pipeline,
    control,
    status,
    selfMetrics,
    warnings,
    apiRoutes: api.routes.map((r) => ({ method: r.method, path: r.path })),
    dashboard: existsSync(join(defaultWebRoot, 'index.html')),
    close() {
      closing ??= (async () => {
        // One deadline for the whole shutdown: stop taking batches, finish
        // those in flight, let a queued sink deliver until the deadline (the
        // rest stays on disk; requests still in flight then are aborted),
        // then close what is left, which takes well under a second.
        const deadline = Date.now() + config.shutdownGraceMs;
        ready = false;
        server.close();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([ingestor.stop(), new Promise<void>((r) => (timer = setTimeout(r, config.shutdownGraceMs)))]);
        clearTimeout(timer);
        status.close();
        await selfMetrics?.close();
        await live.close();
        await sink.close(Math.max(0, deadline - Date.now()));
        await pipeline.close();
        await control.close();
      })();
      return closing;
    },
  };
}
