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
import { Ingestor, type IngestPort } from './pipeline/port.js';
import { frontEndSources } from './sources/index.js';
import type { Source } from './sources/types.js';
import { IngestLimits } from './limits/index.js';
import { LiveHub } from './live/index.js';
import { createQueryEngine, type QueryEngine } from './query/index.js';
import type { Logger } from './log/index.js';
import { Metrics } from './metrics/index.js';
import { Pipeline } from './pipeline/index.js';
import { QueuedSink } from './queue/sink.js';
import { StartupError } from './errors.js';
import { SelfMetrics } from './self-metrics/index.js';
import { MemoryBudget } from './http/budget.js';
import { createApp, ListenError, listen, type Server } from './server/index.js';
import { defaultWebRoot } from './server/static.js';
import type { EmbeddedStore } from './embedded/index.js';
import { Router } from './router/index.js';
import { createSinks, type CreatedSink } from './sinks/index.js';
import type { Sink } from './sinks/types.js';
import { applyFileConnectors } from './connectors/file.js';
import { ConnectorRuntime } from './connectors/runtime.js';
import { ConnectorMetrics } from './connectors/status.js';
import { Alerting } from './alerts/index.js';
import { AnomalyEngine } from './anomaly/engine.js';
import { builtinModels } from './anomaly/models.js';
import { closeOnnxPool } from './anomaly/onnx.js';
import { ModelRegistry } from './anomaly/registry.js';

export interface Gateway {
  port: number;
  /** 'http' or 'https' (TLS configured). */
  scheme: 'http' | 'https';
  /** The sinks and routes, a line each, for the start-up banner. */
  mode: string;
  sinks: readonly Sink[];
  /** The ways in. */
  sources: readonly Source[];
  /** The port every source writes through (connectors and tests use it directly). */
  ingest: IngestPort;
  /** Runs the stored connectors (those whose lease this instance holds). */
  connectors: ConnectorRuntime;
  router: Router;
  /** The embedded store, when a sink of type embedded is configured. */
  embedded: EmbeddedStore | undefined;
  metrics: Metrics;
  pipeline: Pipeline;
  control: ControlPlane;
  status: StatusSampler;
  /** Scores every series (undefined: --anomaly-interval-s 0). */
  anomaly: AnomalyEngine | undefined;
  /** Evaluates the alert rules (undefined: --alert-interval-s 0, or nothing to query). */
  alerting: Alerting | undefined;
  /** Writes the gateway's own counters to its sinks (undefined: --self-metrics-interval-s 0, or only the blackhole). */
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

/** The embedded store, opened when a sink of type embedded is configured; the gateway owns it (the sink writes, queries read). */
async function openEmbedded(config: Config, metrics: Metrics, log: Logger): Promise<EmbeddedStore | undefined> {
  const spec = config.sinks.find((s) => s.type === 'embedded');
  if (spec === undefined) return undefined;
  const { EmbeddedStore } = await import('./embedded/index.js');
  return EmbeddedStore.open({ dataDir: resolve(config.dataDir), metrics: metrics.sink(spec.name), log: (m) => log.info(m) });
}

/** The sinks' start-up banner lines. */
function describeSinks(made: CreatedSink[], router: Router): string {
  const lines = made.map((m) => `${m.sink.name}: ${m.description}`);
  for (const r of router.rules ?? []) lines.push(`route ${r.signals?.join('+') ?? 'all signals'}${r.selector ? ` ${r.selector}` : ''} -> ${r.sinks.join(', ')}`);
  return lines.join('\n');
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

/** Queries go to --vmselect when given, else to the embedded store when it is on, else to the VictoriaMetrics sink's shards; none for the blackhole alone. */
function queryEngineFor(config: Config, embedded: EmbeddedStore | undefined): QueryEngine | undefined {
  const vm = config.sinks.find((s) => s.type === 'victoriametrics');
  if (config.control.vmselect === undefined && embedded === undefined && vm === undefined) return undefined;
  return createQueryEngine({
    ...(config.control.vmselect !== undefined ? { vmselect: config.control.vmselect } : {}),
    victoriametrics: config.control.vmselect === undefined && embedded !== undefined ? [] : vm?.urls ?? [],
    ...(embedded !== undefined ? { embedded } : {}),
    timeoutMs: config.vm.timeoutMs,
  });
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
  let embedded: EmbeddedStore | undefined;
  let made: CreatedSink[];
  try {
    // Before anything listens or runs: a file the store refuses stops the start, and the runtime's first pass sees the file's connectors.
    await applyFileConnectors(control.store, config.connectors, log);
    embedded = await openEmbedded(config, metrics, log);
    made = await createSinks(config.sinks, {
      config,
      metrics,
      log,
      embedded: () => embedded ?? (() => { throw new Error('no embedded store is open'); })(),
    });
  } catch (err) {
    await embedded?.close();
    await control.close();
    throw err;
  }
  const sinks = made.map((m) => m.sink);
  const router = new Router(sinks, config.routes, metrics.router);
  for (const idle of router.idleSinks()) log.warn(`sink ${idle.name} is named in no route: it gets nothing`);
  const mode = describeSinks(made, router);
  const pipeline = new Pipeline({ workers: config.workers, inlineMaxBytes: config.inlineMaxBytes, inlineMaxLoad: config.inlineMaxLoad });
  metrics.poolProbe = () => ({
    queueDepth: pipeline.queueDepth,
    threads: pipeline.threads,
    utilization: pipeline.utilization,
    inline: pipeline.inlineCount,
    pooled: pipeline.pooledCount,
    mainLoad: pipeline.mainLoad,
  });
  // High-water marks: a queue 80 % full, or more batches waiting for a parser than there are parsers.
  const queues = sinks.filter((s): s is QueuedSink => s instanceof QueuedSink);
  const highWater = config.queue ? config.queue.maxBytes * 0.8 : Number.POSITIVE_INFINITY;
  const overloaded = (): boolean => queues.some((q) => q.queue.diskBytes > highWater) || pipeline.queueDepth > Math.max(1, config.workers);
  const status = new StatusSampler({
    metrics,
    router,
    queues: () => queues.flatMap((q) => q.queue.stats().map((st) => ({ sink: q.name, ...st }))),
    mainLoad: () => pipeline.mainLoad,
  });
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
  // Scores are written as the self metrics are: past the port (their own counters, no per-token
  // limits, not fed back to the features), to every routed sink and the live views.
  const anomalyPrincipal = { key: 'anomaly-engine' };
  const anomaly = config.anomaly
    ? new AnomalyEngine({
        models: config.anomaly.models.map((name) => ({ model: builtinModels.get(name)!, intervalMs: config.anomaly!.intervalS * 1000 })),
        maxSeries: config.anomaly.maxSeries,
        idleMs: config.anomaly.idleS * 1000,
        registry: metrics.registry,
        log,
        async write(readings) {
          const result = pipeline.readings(readings, { nowMs: Date.now(), outputs: router.metricsOutputs, maxErrors: 10, ...live.parseOptions() });
          if (result.rejected > 0) throw new Error(`the core rejected ${result.rejected} scores: ${result.errors[0]?.reason}`);
          await router.routeMetrics(result);
          live.accepted(result, { principal: anomalyPrincipal });
        },
      })
    : undefined;
  const ingestor = new Ingestor({
    pipeline,
    router,
    metrics,
    maxErrors: config.maxErrors,
    maxLineBytes: config.maxLineBytes,
    maxTags: config.maxTags,
    coalesceMaxBytes: config.coalesceMaxBytes,
    limits: new IngestLimits({
      maxSamplesPerSecond: config.maxSamplesPerSecond,
      maxSeriesPerMinute: config.maxSeriesPerMinute,
      // Shared buckets only when the cache is shared: an in-memory cache is this process anyway.
      ...(control.cache.kind === 'redis' ? { shared: control.cache } : {}),
    }),
    overloaded,
    observers: [control.activity, live, ...(anomaly ? [anomaly] : [])],
  });
  const connectors = new ConnectorRuntime({
    store: control.store,
    cache: control.cache,
    port: ingestor,
    metrics: new ConnectorMetrics(metrics.registry),
    log,
    instance: status.status.instance,
    dataDir: config.dataDir,
  });
  // User anomaly models (the registry in the metadata store): scored beside the configured ones.
  const modelRegistry = new ModelRegistry({ store: control.store, engine: anomaly, log, registry: metrics.registry });
  const queryEngine = queryEngineFor(config, embedded);
  const api = createApi(
    { store: control.store, sessions: control.sessions, deviceTokens: control.deviceTokens, activity: control.activity, status: () => status.status, connectors },
    {
      sessions: control.sessions,
      cache: control.cache,
      audit: (e) => control.store.appendAudit(e),
      log: log.pino.child({ component: 'api' }),
      metrics: apiMetrics,
      rateLimit: config.control.apiRateLimit,
      corsOrigins: config.control.corsOrigins,
    },
    queryEngine,
    { store: control.store, registry: modelRegistry, scored: config.anomaly?.models ?? [] },
    queryEngine ? { store: control.store, query: queryEngine, stepMs: Math.max(1, config.alertIntervalS) * 1000 } : undefined,
  );
  // Alert rules need something to query: off with the blackhole sink alone.
  const alerting =
    config.alertIntervalS > 0 && queryEngine
      ? new Alerting({ store: control.store, cache: control.cache, query: queryEngine, intervalMs: config.alertIntervalS * 1000, log, registry: metrics.registry })
      : undefined;
  const budget = new MemoryBudget(config.maxInflightBodyBytes);
  metrics.budgetProbe = () => ({ inUse: budget.inUse, peak: budget.takePeak(), capacity: budget.capacity });
  let ready = false;
  const sources = frontEndSources({
    auth: createAuthenticator(tokens, !config.noAuth, control.deviceTokens),
    metrics,
    log,
    limits: { maxBodyBytes: config.maxBodyBytes, maxDecompressedBytes: config.maxDecompressedBytes, maxCompressionRatio: config.maxCompressionRatio },
    budget,
    maxFrameBytes: config.maxFrameBytes,
    ws: config.ws,
    isReady: () => ready,
  });
  for (const source of sources) await source.start(ingestor);
  const app = createApp({
    sources,
    metrics,
    log,
    isReady: () => ready,
    async health() {
      const h = await router.health();
      const bad = h.sinks.filter((s) => !s.health.ok).map((s) => `sink ${s.sink.name}: ${s.health.detail ?? 'unhealthy'}`);
      return bad.length === 0 ? undefined : bad.join('; ');
    },
    async readiness() {
      const [store, cache, ...sinkStates] = await Promise.all([
        answers(control.store.health()),
        answers(control.cache.health()),
        // A queued sink is ready while its queue takes batches, whatever the sink behind it does.
        ...sinks.map((s) =>
          s.refusal !== undefined ? Promise.resolve(s.refusal() ?? 'ok') : answers(s.health().then((h) => (h.ok ? undefined : Promise.reject(new Error(h.detail ?? 'unhealthy'))))),
        ),
      ]);
      return { store, cache, ...Object.fromEntries(sinks.map((s, i) => [`sink_${s.name}`, sinkStates[i]!])) };
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
    await Promise.allSettled([live.close(), anomaly?.close().then(closeOnnxPool), pipeline.close(), router.close().then(() => embedded?.close()), control.close()]);
    if (err instanceof ListenError) throw new StartupError(`${err.message}: stop it, or choose another address with --listen HOST:PORT`, { cause: err });
    throw err;
  }
  ready = true;
  await modelRegistry.start();
  anomaly?.start();
  alerting?.start();
  await connectors.start();
  // The gateway's own counters, into its own sinks (not when only the blackhole would get them: nothing would be kept).
  const selfMetrics =
    config.selfMetricsIntervalS > 0 && sinks.some((s) => s.type !== 'blackhole')
      ? new SelfMetrics({
          registry: metrics.registry,
          instance: `${hostname()}:${server.port}`,
          protocols: sources.flatMap((s) => s.protocols),
          intervalMs: config.selfMetricsIntervalS * 1000,
          log,
          async write(body) {
            const result = await pipeline.ingest(body, { format: 'lp', precision: 'ms', nowMs: Date.now(), outputs: router.metricsOutputs, maxErrors: 10 });
            if (result.rejected > 0) throw new Error(`the core rejected ${result.rejected} of its lines: ${result.errors[0]?.reason}`);
            await router.routeMetrics(result);
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
    sinks,
    sources,
    ingest: ingestor,
    connectors,
    router,
    embedded,
    metrics,
    pipeline,
    control,
    status,
    selfMetrics,
    anomaly,
    alerting,
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
        // Connectors stop while the pipeline still stores: what they hold pending gets stored (and acknowledged) first.
        await Promise.all([...sources.map((s) => s.stop()), connectors.close()]);
        // Connections end once their requests in flight are answered: clients reconnect rather than
        // send into a gateway that refuses every frame (10,000 devices resending theirs kept the main
        // thread busy past the grace period).
        for (const s of sources) s.disconnect?.();
        server.close();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([ingestor.stop(), new Promise<void>((r) => (timer = setTimeout(r, config.shutdownGraceMs)))]);
        clearTimeout(timer);
        status.close();
        await selfMetrics?.close();
        await modelRegistry.close();
        await alerting?.close();
        await anomaly?.close();
        await closeOnnxPool();
        await live.close();
        await router.close(Math.max(0, deadline - Date.now()));
        await embedded?.close();
        await pipeline.close();
        await control.close();
        metrics.close();
      })();
      return closing;
    },
  };
}
