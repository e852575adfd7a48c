// Configuration: parsed once at start from, in increasing precedence, the
// built-in defaults, a YAML file (`--config`), `SENTIO_*` environment
// variables and command-line flags. Each setting has one name used
// everywhere: flag `--data-dir`, environment `SENTIO_DATA_DIR`, YAML key
// `data-dir`. The merged values are validated with one schema; a bad value
// stops start-up with a message naming the key and what is wrong. No other
// module reads process.env: the result is passed down explicitly (connector
// configs' `${NAME}` references are replaced here: connectors.ts).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { LabelMatcher } from '../native/types.js';
import { parseSelector } from '../query/selector.js';
import { SIGNALS, type Signal } from '../signals/index.js';
import { checkConnectors, connectorLabel, type ConnectorSpec, connectorSpecSchema } from './connectors.js';

export type { ConnectorSpec } from './connectors.js';

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list' | 'yaml';

interface Setting {
  kind: Kind;
  help: string;
  /** Single-letter flag alias. */
  short?: string;
  /** Flag only: not read from the environment or the YAML file. */
  flagOnly?: boolean;
}

/** Structured settings (kind 'yaml') have no flag: they are set in the YAML file, or in the environment as YAML text. */
function isFlag(s: Setting): boolean {
  return s.kind !== 'yaml';
}

/** Every setting, by its flag name. The order is the order of `--help`. */
export const settings = {
  listen: { kind: 'string', help: 'HOST:PORT to listen on; 8086 is the InfluxDB port' },
  'data-dir': { kind: 'string', help: 'directory for the embedded store and generated secrets' },
  victoriametrics: {
    kind: 'list',
    help: 'VictoriaMetrics remote-write URL, e.g. http://127.0.0.1:8428/api/v1/write; repeat for one URL per shard',
  },
  replication: { kind: 'int', help: 'copies of each series over the VictoriaMetrics shards' },
  embedded: {
    kind: 'bool',
    help: 'keep the embedded store (DuckDB under data-dir) on beside remote sinks, e.g. as the local store of the dashboard and queries; it is on by itself when no other sink is configured',
  },
  sink: { kind: 'string', help: 'auto (default: the sinks configured, else embedded) | blackhole (discard everything, for benchmarks; no other sink)' },
  sinks: {
    kind: 'yaml',
    help: 'list of sinks, each {name, type: victoriametrics | embedded | blackhole, urls (victoriametrics), replication}; beside the one --victoriametrics makes (named victoriametrics)',
  },
  routes: {
    kind: 'yaml',
    help: 'list of routing rules, each {sinks: [names], signals: [metrics], match: a series selector such as \'{site="plant-7"}\'}; a series goes to every sink of every rule it matches, a sink named in no rule gets nothing; default: every sink takes everything of its signals',
  },
  connectors: {
    kind: 'yaml',
    help: 'list of connectors, each {name, kind, config, enabled} as the API takes them; ${NAME} in config strings is replaced from the environment; applied to the metadata store at start (created, changed, and removed once no longer listed), and read-only through the API; unset: connectors defined by a file earlier are left as they are',
  },
  token: { kind: 'list', help: 'ingest token accepted as "Authorization: Token|Bearer ..." (repeatable)' },
  'no-auth': { kind: 'bool', help: 'accept writes without credentials' },
  workers: { kind: 'int', help: 'parser worker threads (default: the number of cores)' },
  'inline-max-bytes': { kind: 'int', help: 'batches up to this size are always parsed on the main thread' },
  'inline-max-load': {
    kind: 'number',
    help: 'larger batches are parsed on the main thread too while its event-loop utilization (0..1) is below this; 0: always in the pool',
  },
  'coalesce-max-bytes': {
    kind: 'int',
    help: 'write requests and frames up to this size arriving together (in one event-loop turn) are parsed in one call and stored as one batch, each still answered on its own; 0: each alone',
  },
  'max-body-bytes': { kind: 'int', help: 'largest HTTP body accepted, compressed' },
  'max-decompressed-bytes': { kind: 'int', help: 'largest HTTP body after decompression' },
  'max-frame-bytes': { kind: 'int', help: 'largest WebSocket frame' },
  'max-inflight-body-bytes': {
    kind: 'int',
    help: 'memory all write requests being received, decompressed and stored may hold at once (HTTP bodies and WebSocket frames); beyond it requests are refused with 503 and Retry-After',
  },
  'max-compression-ratio': { kind: 'int', help: 'largest decompressed/compressed size ratio of an HTTP body (gzip bombs)' },
  'max-line-bytes': { kind: 'int', help: 'longest line-protocol line; longer lines are rejected (0: unlimited)' },
  'max-tags': { kind: 'int', help: 'most tags a point may have; points with more are rejected (0: unlimited)' },
  'max-series-per-minute': { kind: 'int', help: 'distinct series one token may write per minute (cardinality guard; 0: unlimited)' },
  'max-samples-per-second': { kind: 'int', help: 'samples one token may write per second (0: unlimited)' },
  'max-errors': { kind: 'int', help: 'rejected lines listed in a reply' },
  'ws-max-inflight': { kind: 'int', help: 'WebSocket frames of one connection being parsed and stored at once; more are refused with a back-off reply' },
  'ws-max-inflight-bytes': {
    kind: 'int',
    help: 'bytes of the WebSocket frames of one connection being parsed and stored at once (a window: a client may pipeline frames without waiting for acks while under it); a frame beyond is refused with a back-off reply, except when it is the only one',
  },
  'ws-max-backpressure-bytes': { kind: 'int', help: 'unsent replies buffered for one WebSocket connection before it is closed (a reader too slow for its own acks)' },
  'ws-resume-window': { kind: 'int', help: 'accepted sequence numbers remembered per WebSocket client id, so resent frames are acknowledged again, not stored twice; 0: off' },
  'ws-resume-clients': { kind: 'int', help: 'WebSocket client ids remembered for resume (least recently seen forgotten first)' },
  'vm-concurrency': { kind: 'int', help: 'concurrent remote-write requests per VictoriaMetrics URL' },
  'vm-timeout-ms': { kind: 'int', help: 'timeout of one remote-write request' },
  'vm-max-retries': { kind: 'int', help: 'retries of a remote-write request on network errors and 5xx' },
  'vm-retry-base-ms': { kind: 'int', help: 'first retry delay; doubles each retry, with full jitter, up to 30 s' },
  'no-queue': { kind: 'bool', help: 'send to VictoriaMetrics directly, without the durable queue (acks then wait for VictoriaMetrics)' },
  'queue-max-bytes': { kind: 'int', help: 'disk space of the durable queue, per sink; when full, see queue-full' },
  'queue-full': { kind: 'string', help: 'refuse (tell clients to back off) | drop-oldest (make room by dropping the oldest batches, counted)' },
  'queue-fsync': {
    kind: 'string',
    help: 'batch (acknowledge after an fsync covering the batch; concurrent batches share one) | interval (acknowledge after write(), fsync every queue-fsync-interval-ms)',
  },
  'queue-fsync-interval-ms': { kind: 'int', help: 'fsync period of queue-fsync interval' },
  'queue-segment-bytes': { kind: 'int', help: 'size at which a queue segment file is closed and a new one started' },
  'queue-memory-bytes': { kind: 'int', help: 'recent batches kept in memory per sink, so delivery need not read them back from disk' },
  'shutdown-grace-ms': { kind: 'int', help: 'on SIGTERM/SIGINT, time to finish in-flight batches and deliver queued ones before exiting' },
  postgres: { kind: 'string', help: 'PostgreSQL URL for the metadata store (users, devices, tokens, rules, audit); default: PGlite under data-dir' },
  redis: { kind: 'string', help: 'Redis URL for the shared cache (token lookups, rate limits, revocations, live fan-out); default: in memory' },
  vmselect: { kind: 'string', help: 'URL queries go to (a vmselect or single VictoriaMetrics, e.g. http://127.0.0.1:8481/select/0/prometheus); default: every victoriametrics shard, merged' },
  'admin-password': { kind: 'string', help: 'initial password of the user "admin", created on first start (default: generated and printed once)' },
  'access-token-ttl': { kind: 'int', help: 'lifetime of an API access token (JWT), seconds' },
  'refresh-token-ttl': { kind: 'int', help: 'lifetime of a refresh token, seconds (each use rotates it)' },
  'token-cache-ttl-ms': {
    kind: 'int',
    help: 'how long an instance trusts a device-token lookup without asking the cache again; bounds how late a revocation takes effect when its broadcast is missed',
  },
  'api-rate-limit': { kind: 'int', help: 'API requests per user (or per address, before login) per minute; 0: unlimited' },
  'login-max-failures': { kind: 'int', help: 'failed logins allowed per username (an address: five times as many); the allowance refills over 15 minutes, login is refused while it is used up' },
  'cors-origin': { kind: 'list', help: 'origins allowed to call the API from a browser ("*" for any); default: none (same origin only)' },
  'tls-cert': { kind: 'string', help: 'PEM certificate (chain): serve HTTPS and WSS on the listen port' },
  'tls-key': { kind: 'string', help: 'PEM private key of tls-cert' },
  'live-max-rate': { kind: 'number', help: 'updates per second per series sent to a /live subscriber (latest value wins)' },
  'self-metrics-interval-s': {
    kind: 'int',
    help: "write the gateway's own ingest counters (sentio_accepted_samples_total, ...) to its sink this often, so their history can be queried (the dashboard's ingest chart); 0: off",
  },
  'alert-interval-s': {
    kind: 'int',
    help: 'evaluate every enabled alert rule this often (at multiples of it), through the query engine; states in the metadata store, notifications claimed in the cache; 0: alerting is off',
  },
  'anomaly-interval-s': {
    kind: 'int',
    help: 'score every series for anomalies this often (the statistical detector), writing sentio_anomaly_score{metric, <labels>, model, model_version}; 0: the anomaly engine is off',
  },
  'anomaly-max-series': { kind: 'int', help: 'series whose features the anomaly engine tracks at most (about 0.8 kB each plus their labels); samples of others are counted, not scored' },
  'anomaly-idle-s': { kind: 'int', help: 'a series silent this long is no longer tracked or scored' },
  'anomaly-models': {
    kind: 'list',
    help: 'the shipped models that score every series, comma-separated: statistical (the default) and iforest (an Isolation Forest, ONNX, run in a worker thread); each writes its own score series',
  },
  'log-level': { kind: 'string', help: 'error | warn | info | debug' },
  config: { kind: 'string', help: 'YAML file with any of these settings (keys as the flag names)', flagOnly: true },
  help: { kind: 'bool', help: 'print this help', short: 'h', flagOnly: true },
} as const satisfies Record<string, Setting>;

type SettingName = keyof typeof settings;

const hostPort = z.string().transform((s, ctx) => {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected HOST:PORT (e.g. 0.0.0.0:8086), got "${s}"` });
    return z.NEVER;
  }
  const host = m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port };
});

const remoteWriteUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'expected an http(s) URL such as http://127.0.0.1:8428/api/v1/write' },
);

const positive = (max: number) => z.number().int().min(1).max(max);

const sinkName = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'expected a name of lowercase letters, digits, "-" and "_", starting with a letter');
const urlList = z.union([remoteWriteUrl.transform((u) => [u]), z.array(remoteWriteUrl).min(1)]);
const sinkSpecSchema = z.discriminatedUnion('type', [
  z.object({ name: sinkName.optional(), type: z.literal('victoriametrics'), urls: urlList, replication: positive(64).default(1) }).strict(),
  z.object({ name: sinkName.optional(), type: z.literal('embedded') }).strict(),
  z.object({ name: sinkName.optional(), type: z.literal('blackhole') }).strict(),
]);
const routeSchema = z
  .object({
    sinks: z.union([sinkName.transform((n) => [n]), z.array(sinkName).min(1)]),
    signals: z.array(z.enum(SIGNALS as [Signal, ...Signal[]])).min(1).optional(),
    match: z.string().min(1).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    listen: hostPort.prefault('0.0.0.0:8086'),
    'data-dir': z.string().min(1).default('./data'),
    victoriametrics: z.array(remoteWriteUrl).default([]),
    replication: positive(64).default(1),
    embedded: z.boolean().default(false),
    sink: z.enum(['auto', 'blackhole']).default('auto'),
    sinks: z.array(sinkSpecSchema).default([]),
    routes: z.array(routeSchema).min(1, 'give at least one rule, or leave routes out (every sink then takes everything)').optional(),
    connectors: z.array(connectorSpecSchema).optional(),
    token: z.array(z.string().min(8, 'tokens must be at least 8 characters')).default([]),
    'no-auth': z.boolean().default(false),
    workers: z.number().int().min(0).max(256).default(availableParallelism()),
    'inline-max-bytes': z.number().int().min(0).default(8192),
    'inline-max-load': z.number().min(0).max(1).default(0.9),
    'coalesce-max-bytes': z.number().int().min(0).max(1 << 20).default(8192),
    'max-body-bytes': positive(2 ** 30).default(32 << 20),
    'max-decompressed-bytes': positive(4 * 2 ** 30).default(128 << 20),
    'max-frame-bytes': positive(2 ** 30).default(16 << 20),
    'max-inflight-body-bytes': positive(2 ** 40).default(256 * 2 ** 20),
    'max-compression-ratio': positive(1_000_000).default(100),
    'max-line-bytes': z.number().int().min(0).max(2 ** 30).default(256 * 1024),
    'max-tags': z.number().int().min(0).max(1_000_000).default(256),
    'max-series-per-minute': z.number().int().min(0).max(2 ** 40).default(100_000),
    'max-samples-per-second': z.number().int().min(0).max(2 ** 40).default(0),
    'max-errors': z.number().int().min(0).max(100_000).default(100),
    'ws-max-inflight': positive(65_536).default(256),
    // 64 frames of 1,000 lines of ~124 bytes (the benchmark corpus) with room to spare.
    'ws-max-inflight-bytes': positive(2 ** 40).default(16 * 2 ** 20),
    'ws-max-backpressure-bytes': positive(2 ** 31).default(16 * 2 ** 20),
    'ws-resume-window': z.number().int().min(0).max(1_000_000).default(1024),
    'ws-resume-clients': positive(10_000_000).default(1000),
    'vm-concurrency': positive(1024).default(8),
    'vm-timeout-ms': positive(600_000).default(30_000),
    'vm-max-retries': z.number().int().min(0).max(100).default(8),
    'vm-retry-base-ms': positive(60_000).default(200),
    'no-queue': z.boolean().default(false),
    'queue-max-bytes': positive(2 ** 50).default(2 ** 30),
    'queue-full': z.enum(['refuse', 'drop-oldest']).default('refuse'),
    'queue-fsync': z.enum(['batch', 'interval']).default('batch'),
    'queue-fsync-interval-ms': positive(60_000).default(100),
    'queue-segment-bytes': positive(2 ** 31).default(64 * 2 ** 20),
    'queue-memory-bytes': z.number().int().min(0).max(2 ** 40).default(64 * 2 ** 20),
    'shutdown-grace-ms': z.number().int().min(0).max(3_600_000).default(10_000),
    postgres: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(),
    redis: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
    vmselect: z.url({ protocol: /^https?$/ }).optional(),
    'admin-password': z.string().min(12, 'the admin password must be at least 12 characters').optional(),
    'access-token-ttl': positive(86_400).default(900),
    'refresh-token-ttl': positive(365 * 86_400).default(7 * 86_400),
    'token-cache-ttl-ms': positive(3_600_000).default(5_000),
    'api-rate-limit': z.number().int().min(0).max(1_000_000).default(600),
    'login-max-failures': positive(1000).default(10),
    'cors-origin': z.array(z.string().regex(/^(\*|https?:\/\/[^/]+)$/, 'expected "*" or an origin such as https://ops.example.com')).default([]),
    'tls-cert': z.string().min(1).optional(),
    'tls-key': z.string().min(1).optional(),
    'live-max-rate': z.number().gt(0).max(1000).default(10),
    'self-metrics-interval-s': z.number().int().min(0).max(3600).default(10),
    'alert-interval-s': z.number().int().min(0).max(3600).default(15),
    'anomaly-interval-s': z.number().int().min(0).max(86_400).default(10),
    'anomaly-max-series': z.number().int().min(1).max(10_000_000).default(100_000),
    'anomaly-idle-s': z.number().int().min(1).max(30 * 86_400).default(3600),
    // The names of src/anomaly/models.ts builtinModels (not imported here: config loads no native code).
    'anomaly-models': z
      .array(z.string())
      .transform((v) => [...new Set(v.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))])
      .pipe(z.array(z.enum(['statistical', 'iforest'])).min(1, 'name at least one model'))
      .default(['statistical']),
    'log-level': z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    deriveSinks(c, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    // The largest request holds its body plus its decoded size while inflating, and twice the decoded size while it is joined (src/http/body.ts).
    const largest = Math.max(c['max-body-bytes'] + c['max-decompressed-bytes'], 2 * c['max-decompressed-bytes']);
    if (c['max-inflight-body-bytes'] < largest) {
      ctx.addIssue({
        code: 'custom',
        path: ['max-inflight-body-bytes'],
        message: `${c['max-inflight-body-bytes']} cannot hold the largest request the other limits allow: ${largest} bytes (max-body-bytes plus max-decompressed-bytes, or twice max-decompressed-bytes)`,
      });
    }
    if ((c['tls-cert'] === undefined) !== (c['tls-key'] === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c['tls-cert'] === undefined ? 'tls-cert' : 'tls-key'], message: 'tls-cert and tls-key go together' });
    }
  });

type Raw = z.output<typeof configSchema>;

export type SinkSpec =
  | { name: string; type: 'victoriametrics'; urls: string[]; replication: number }
  | { name: string; type: 'embedded' }
  | { name: string; type: 'blackhole' };

/** A routing rule: series of these signals that the selector's matchers all pass go to these sinks. */
export interface RouteSpec {
  sinks: string[];
  /** undefined: every signal. */
  signals: Signal[] | undefined;
  /** All must hold; empty: every series. */
  match: LabelMatcher[];
  /** The selector as written, for messages. */
  selector: string | undefined;
}

type Issue = (path: (string | number)[], message: string) => void;

/**
 * The sinks and routes the settings describe, in one place for validation
 * and for the Config: the YAML `sinks`, then the sink `--victoriametrics`
 * makes (named victoriametrics), then the embedded store when `--embedded`
 * asks for it or nothing else stores; `--sink blackhole` stands alone.
 */
function deriveSinks(c: Pick<Raw, 'victoriametrics' | 'replication' | 'embedded' | 'sink' | 'sinks' | 'routes'>, issue: Issue): { sinks: SinkSpec[]; routes: RouteSpec[] | undefined } {
  const sinks: SinkSpec[] = [];
  const add = (spec: SinkSpec, path: (string | number)[]): void => {
    if (sinks.some((x) => x.name === spec.name)) issue(path, `two sinks are named "${spec.name}": give each its own name`);
    else sinks.push(spec);
  };
  c.sinks.forEach((spec, i) => {
    if (spec.type === 'victoriametrics' && spec.replication > spec.urls.length) {
      issue(['sinks', i, 'replication'], `replication ${spec.replication} exceeds the ${spec.urls.length} URL(s) of this sink`);
    }
    add({ ...spec, name: spec.name ?? spec.type } as SinkSpec, ['sinks', i, 'name']);
  });
  if (c.victoriametrics.length > 0) {
    if (c.replication > c.victoriametrics.length) {
      issue(['replication'], `replication ${c.replication} exceeds the ${c.victoriametrics.length} VictoriaMetrics URL(s)`);
    }
    add({ name: 'victoriametrics', type: 'victoriametrics', urls: c.victoriametrics, replication: c.replication }, ['victoriametrics']);
  } else if (c.replication > 1) {
    issue(
      ['replication'],
      `replication ${c.replication} needs at least ${c.replication} VictoriaMetrics URLs (--victoriametrics), and none is configured: the embedded store keeps one copy`,
    );
  }
  if (c.sink === 'blackhole') {
    if (sinks.length > 0 || c.embedded) issue(['sink'], `blackhole discards every batch and stands alone: remove the other sinks (${[...sinks.map((x) => x.name), ...(c.embedded ? ['--embedded'] : [])].join(', ')})`);
    sinks.splice(0, sinks.length, { name: 'blackhole', type: 'blackhole' });
  } else if ((c.embedded || sinks.length === 0) && !sinks.some((x) => x.type === 'embedded')) {
    add({ name: 'embedded', type: 'embedded' }, ['embedded']);
  }
  if (sinks.filter((x) => x.type === 'embedded').length > 1) issue(['sinks'], 'the embedded store is one: configure at most one sink of type embedded');
  const routes = c.routes?.map((r, i): RouteSpec => {
    for (const name of r.sinks) {
      if (!sinks.some((x) => x.name === name)) issue(['routes', i, 'sinks'], `no sink is named "${name}" (sinks: ${sinks.map((x) => x.name).join(', ')})`);
    }
    let match: LabelMatcher[] = [];
    if (r.match !== undefined) {
      try {
        match = parseSelector(r.match).matchers;
      } catch (err) {
        issue(['routes', i, 'match'], `${JSON.stringify(r.match)} is not a series selector: ${(err as Error).message}`);
      }
    }
    return { sinks: r.sinks, signals: r.signals, match, selector: r.match };
  });
  return { sinks, routes };
}

export interface QueueConfig {
  maxBytes: number;
  full: 'refuse' | 'drop-oldest';
  fsync: 'batch' | 'interval';
  fsyncIntervalMs: number;
  segmentBytes: number;
  memoryBytes: number;
}

/** The validated configuration, as the rest of the gateway sees it. */
export interface Config {
  listen: { host: string; port: number };
  dataDir: string;
  /** Every sink, flags and YAML merged (at least one). */
  sinks: SinkSpec[];
  /** undefined: every sink takes everything of its signals. */
  routes: RouteSpec[] | undefined;
  /**
   * The connectors the file (or SENTIO_CONNECTORS) defines, checked and with
   * their variables substituted; undefined: the setting is absent, and
   * connectors a file defined earlier are left as they are.
   */
  connectors: ConnectorSpec[] | undefined;
  tokens: string[];
  noAuth: boolean;
  workers: number;
  inlineMaxBytes: number;
  inlineMaxLoad: number;
  /** Byte batches up to this size arriving in one event-loop turn are parsed and stored together (0: off). */
  coalesceMaxBytes: number;
  maxBodyBytes: number;
  maxDecompressedBytes: number;
  maxFrameBytes: number;
  maxCompressionRatio: number;
  maxInflightBodyBytes: number;
  maxLineBytes: number;
  maxTags: number;
  maxSeriesPerMinute: number;
  maxSamplesPerSecond: number;
  maxErrors: number;
  ws: { maxInflight: number; maxInflightBytes: number; maxBackpressureBytes: number; resumeWindow: number; resumeClients: number };
  vm: { concurrency: number; timeoutMs: number; maxRetries: number; retryBaseMs: number };
  /** undefined: no durable queue (--no-queue). */
  queue: QueueConfig | undefined;
  shutdownGraceMs: number;
  /** The control plane: metadata store, cache, API, TLS, live streams. */
  control: ControlConfig;
  /** 0: off. */
  selfMetricsIntervalS: number;
  /** Alert evaluation every this many seconds; 0: off. */
  alertIntervalS: number;
  /** The anomaly engine; undefined: off (--anomaly-interval-s 0). */
  anomaly: { intervalS: number; maxSeries: number; idleS: number; models: string[] } | undefined;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
}

export interface ControlConfig {
  /** undefined: PGlite under the data directory. */
  postgres: string | undefined;
  /** undefined: the in-memory cache. */
  redis: string | undefined;
  vmselect: string | undefined;
  adminPassword: string | undefined;
  accessTokenTtlS: number;
  refreshTokenTtlS: number;
  tokenCacheTtlMs: number;
  apiRateLimit: number;
  loginMaxFailures: number;
  corsOrigins: string[];
  tls: { cert: string; key: string } | undefined;
  liveMaxRate: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function envName(name: string): string {
  return `SENTIO_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** Converts a string from the environment to the setting's kind; the schema checks the result. */
function fromEnv(kind: Kind, value: string): unknown {
  switch (kind) {
    case 'list':
      return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off|)$/i.test(value)) return false;
      return value;
    case 'int':
      return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    case 'number':
      return /^-?(\d+\.?\d*|\.\d+)$/.test(value.trim()) ? Number(value) : value;
    case 'yaml':
      try {
        return parseYaml(value) as unknown;
      } catch (err) {
        throw new ConfigError(`${value.slice(0, 60)}: not YAML: ${(err as Error).message}`);
      }
    default:
      return value;
  }
}

function fromFlag(kind: Kind, value: string | boolean | string[]): unknown {
  if ((kind === 'int' || kind === 'number') && typeof value === 'string') return fromEnv(kind, value);
  return value;
}

export interface LoadResult {
  config: Config;
  help: boolean;
  /** Where each setting that was not defaulted came from, for the start-up banner. */
  sources: Partial<Record<SettingName, 'flag' | 'env' | 'file'>>;
}

/**
 * Parses flags (`argv` without the node binary, the script and the command),
 * `env` and the YAML file they name; `env` also gives the variables that
 * `${NAME}` in connector configs refer to. Throws ConfigError naming the bad key.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): LoadResult {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, s] of Object.entries(settings) as [SettingName, Setting][]) {
    if (!isFlag(s)) continue;
    options[name] = {
      type: s.kind === 'bool' ? 'boolean' : 'string',
      ...(s.kind === 'list' ? { multiple: true } : {}),
      ...(s.short ? { short: s.short } : {}),
    };
  }
  let flags: Record<string, string | boolean | string[] | undefined>;
  try {
    flags = parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values as typeof flags;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  const merged: Record<string, unknown> = {};
  const sources: LoadResult['sources'] = {};

  const file = (flags.config as string | undefined) ?? env.SENTIO_CONFIG;
  if (file !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file}: expected a mapping of settings`);
      for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
        const s = (settings as Record<string, Setting>)[key];
        if (!s || s.flagOnly) throw new ConfigError(`config file ${file}: unknown key "${key}"`);
        merged[key] = s.kind === 'list' && !Array.isArray(value) ? [value] : value;
        sources[key as SettingName] = 'file';
      }
    }
  }
  for (const [name, s] of Object.entries(settings) as [SettingName, Setting][]) {
    if (s.flagOnly) continue;
    const value = env[envName(name)];
    if (value !== undefined) {
      try {
        merged[name] = fromEnv(s.kind, value);
      } catch (err) {
        throw new ConfigError(`${envName(name)}: ${(err as Error).message}`);
      }
      sources[name] = 'env';
    }
  }
  for (const [name, s] of Object.entries(settings) as [SettingName, Setting][]) {
    const value = flags[name];
    if (s.flagOnly || !isFlag(s) || value === undefined) continue;
    merged[name] = fromFlag(s.kind, value);
    sources[name] = 'flag';
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const s = (settings as Record<string, Setting>)[key];
      const at = issue.path.slice(1).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      let where = !s ? key || 'config' : isFlag(s) ? `${key} (--${key}, ${envName(key)})` : `${key}${at} (YAML key ${key}, ${envName(key)})`;
      if (key === 'connectors' && typeof issue.path[1] === 'number') {
        // Named as the connector checks name theirs: connectors[0] (zigbee).kind
        const i = issue.path[1];
        const entry = (merged.connectors as unknown[] | undefined)?.[i] as { name?: unknown } | undefined;
        where = `${connectorLabel(i, entry?.name)}${issue.path.slice(2).map((p) => `.${String(p)}`).join('')} (YAML key connectors, ${envName('connectors')})`;
      }
      const unknown = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message;
      return `  ${where}: ${unknown}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const problems: string[] = [];
  const connectors = parsed.data.connectors && checkConnectors(parsed.data.connectors, env, (where, message) => problems.push(`  ${where}: ${message}`));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return { config: toConfig(parsed.data, connectors), help: flags.help === true, sources };
}

function toConfig(r: Raw, connectors: ConnectorSpec[] | undefined): Config {
  return {
    listen: r.listen,
    dataDir: r['data-dir'],
    ...deriveSinks(r, (path, message) => {
      throw new ConfigError(`${path.join('.')}: ${message}`);
    }),
    connectors,
    tokens: r.token,
    noAuth: r['no-auth'],
    workers: r.workers,
    inlineMaxBytes: r['inline-max-bytes'],
    inlineMaxLoad: r['inline-max-load'],
    coalesceMaxBytes: r['coalesce-max-bytes'],
    maxBodyBytes: r['max-body-bytes'],
    maxDecompressedBytes: r['max-decompressed-bytes'],
    maxFrameBytes: r['max-frame-bytes'],
    maxCompressionRatio: r['max-compression-ratio'],
    maxInflightBodyBytes: r['max-inflight-body-bytes'],
    maxLineBytes: r['max-line-bytes'],
    maxTags: r['max-tags'],
    maxSeriesPerMinute: r['max-series-per-minute'],
    maxSamplesPerSecond: r['max-samples-per-second'],
    maxErrors: r['max-errors'],
    ws: {
      maxInflight: r['ws-max-inflight'],
      maxInflightBytes: r['ws-max-inflight-bytes'],
      maxBackpressureBytes: r['ws-max-backpressure-bytes'],
      resumeWindow: r['ws-resume-window'],
      resumeClients: r['ws-resume-clients'],
    },
    vm: {
      concurrency: r['vm-concurrency'],
      timeoutMs: r['vm-timeout-ms'],
      maxRetries: r['vm-max-retries'],
      retryBaseMs: r['vm-retry-base-ms'],
    },
    queue: r['no-queue']
      ? undefined
      : {
          maxBytes: r['queue-max-bytes'],
          full: r['queue-full'],
          fsync: r['queue-fsync'],
          fsyncIntervalMs: r['queue-fsync-interval-ms'],
          segmentBytes: r['queue-segment-bytes'],
          memoryBytes: r['queue-memory-bytes'],
        },
    shutdownGraceMs: r['shutdown-grace-ms'],
    control: {
      postgres: r.postgres,
      redis: r.redis,
      vmselect: r.vmselect,
      adminPassword: r['admin-password'],
      accessTokenTtlS: r['access-token-ttl'],
      refreshTokenTtlS: r['refresh-token-ttl'],
      tokenCacheTtlMs: r['token-cache-ttl-ms'],
      apiRateLimit: r['api-rate-limit'],
      loginMaxFailures: r['login-max-failures'],
      corsOrigins: r['cors-origin'],
      tls: r['tls-cert'] !== undefined && r['tls-key'] !== undefined ? { cert: r['tls-cert'], key: r['tls-key'] } : undefined,
      liveMaxRate: r['live-max-rate'],
    },
    selfMetricsIntervalS: r['self-metrics-interval-s'],
    alertIntervalS: r['alert-interval-s'],
    anomaly: r['anomaly-interval-s'] > 0 ? { intervalS: r['anomaly-interval-s'], maxSeries: r['anomaly-max-series'], idleS: r['anomaly-idle-s'], models: r['anomaly-models'] } : undefined,
    logLevel: r['log-level'],
  };
}

/** `sentio start --help`: every setting with its default and environment variable. */
export function startUsage(): string {
  // Defaults come from the schema itself, so the help cannot drift from them.
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const shown = (v: unknown): string | undefined => {
    if (typeof v === 'number' || typeof v === 'string') return String(v);
    if (v !== null && typeof v === 'object' && 'port' in v) return `${(v as Raw['listen']).host}:${(v as Raw['listen']).port}`;
    return undefined;
  };
  const rows = (Object.entries(settings) as [SettingName, Setting][]).map(([name, s]) => {
    const flag = !isFlag(s) ? `${name}: (YAML)` : `--${name}${s.kind === 'bool' ? '' : s.kind === 'list' ? ' VALUE...' : ' VALUE'}`;
    const env = s.flagOnly ? '' : `  [${envName(name)}]`;
    const def = s.help.includes('default') ? undefined : shown(defaults[name]);
    return `  ${flag.padEnd(34)} ${s.help}${def === undefined ? '' : ` (default ${def})`}${env}`;
  });
  return [
    'Usage: sentio start [options]   run the gateway',
    '',
    'Options (also settable by environment variable or YAML key):',
    ...rows,
  ].join('\n');
}
