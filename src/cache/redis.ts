// The shared cache on Redis (ioredis 6), for many gateway instances.
//
// Connections: one command connection, opened by RedisCache.open(), and one
// subscriber connection, created on the first subscribe() (a connection in
// subscriber mode serves nothing else under RESP2, and a dedicated one keeps
// slow handlers from delaying commands).
//
// Keys (`p` is the prefix, default 'sentio:'):
//   p v:<key>    get/set/del/acquire (string, PX)
//   p tb:<key>   take() bucket (hash: tokens, at), expires once full again
//   p hit:<key>  hit() window counter, expires at the window's end
//   p rv:<id>    revoke() marker
//   p ch:<name>  pub/sub channel
//
// Atomicity and clocks: take(), hit() and revoke() are Lua scripts (EVALSHA
// via defineCommand; ioredis falls back to EVAL after a restart empties the
// script cache). take() reads the server's clock (TIME), so instances with
// skewed clocks share one bucket correctly; hit() and acquire() only use
// server-side expiry (PEXPIRE, SET NX PX), which is just as clock-free.
// acquire() is one SET NX PX: already a single atomic command, no script.
//
// Failure behaviour (measured in index.test.ts):
// - Redis down (connection refused, closed): no offline queue, so commands
//   reject at once; commands in flight when the connection drops reject at
//   once too (maxRetriesPerRequest 0, nothing is resent: take() and hit()
//   are not idempotent). Errors are SentioError SENTIO_ERR_STORE_UNAVAILABLE,
//   "Redis unavailable at host:port: <why>". subscribe() waits for the
//   subscriber connection only while the command connection is up (then
//   Redis is, and the subscriber is between reconnect attempts), at most
//   connectTimeoutMs.
// - Redis hung (accepts, never answers): each command rejects after
//   commandTimeoutMs (default 2 s). Its reply, if it ever comes, is dropped.
// - Either connection reconnects by itself, retrying every 50 ms doubling up
//   to maxReconnectDelayMs (default 1 s); the subscriber connection
//   re-subscribes its channels (ioredis' autoResubscribe). Messages published
//   while a subscriber is disconnected are lost: Redis pub/sub is at most once.
// - A Redis error reply (a bug: wrong type, script error) rejects as it is.

import { Redis, type RedisOptions } from 'ioredis';
import { SentioError } from '../errors.js';
import { type Logger, silentLogger } from '../log/index.js';
import type { Cache, TakeResult, Unsubscribe } from './types.js';
import { checkBucket, checkCount, checkTtl, deliver, TOKEN_EPSILON } from './validate.js';

export interface RedisCacheOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prefix of every key and channel; default 'sentio:'. */
  prefix?: string;
  /** A command without a reply after this long rejects; default 2,000 ms. */
  commandTimeoutMs?: number;
  /** A connection attempt is abandoned after this long; open() waits this long for the first; default 2,000 ms. */
  connectTimeoutMs?: number;
  /** Reconnect delays grow from 50 ms up to this; default 1,000 ms. */
  maxReconnectDelayMs?: number;
  logger?: Logger;
}

// Token bucket: the same arithmetic as takeTokens() in memory.ts (keep the two in step).
// KEYS[1] bucket; ARGV cost (negative: a refund), ratePerSecond, burst, epsilon. Returns {ok, tokens, retryAfterMs (-1: never)}.
const TAKE = `
local cost = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local eps = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function fmt(x) return string.format('%.17g', x) end
local tokens = burst
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if state[1] then
  local elapsed = now - tonumber(state[2])
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tonumber(state[1]) + elapsed * rate / 1000)
end
if cost > burst then return {0, fmt(tokens), '-1'} end
if tokens + eps < cost then return {0, fmt(tokens), fmt(math.ceil((cost - tokens - eps) * 1000 / rate))} end
tokens = math.min(burst, math.max(0, tokens - cost))
local ttl = math.ceil((burst - tokens) * 1000 / rate)
if ttl > 0 then
  redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'at', fmt(now))
  redis.call('PEXPIRE', KEYS[1], fmt(ttl))
else
  redis.call('DEL', KEYS[1])
end
return {1, fmt(tokens), '0'}
`;

// Fixed window: the first hit starts it (and a counter without expiry, which nothing should leave, gets one).
const HIT = `
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

// A second revocation never shortens the first.
const REVOKE = `
local left = redis.call('PTTL', KEYS[1])
if left ~= -1 and left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
`;

interface Scripts {
  sentioTake(key: string, cost: string, rate: string, burst: string, eps: string): Promise<[number, string, string]>;
  sentioHit(key: string, windowMs: string, n: string): Promise<number>;
  sentioRevoke(key: string, ttlMs: string): Promise<number>;
}

type ScriptedRedis = Redis & Scripts;

interface Handler {
  readonly onMessage: (message: string) => void;
  active: boolean;
}

function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

/**
 * Resolves when `r` is ready; rejects after `timeoutMs`, when it ends, and
 * when `giveUp()` holds while it is between attempts (checked now and each
 * time an attempt fails).
 */
function whenReady(r: Redis, timeoutMs: number, giveUp: () => boolean): Promise<void> {
  if (r.status === 'ready') return Promise.resolve();
  const between = () => r.status === 'reconnecting' || r.status === 'close';
  if (r.status === 'end' || (between() && giveUp())) return Promise.reject(new Error(`connection ${r.status}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`not connected after ${timeoutMs} ms`)), timeoutMs);
    const onReady = () => finish();
    const onClose = () => {
      if (giveUp()) finish(new Error('connection closed'));
    };
    const onEnd = () => finish(new Error('connection ended'));
    function finish(err?: Error) {
      clearTimeout(timer);
      r.off('ready', onReady);
      r.off('close', onClose);
      r.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    }
    r.on('ready', onReady);
    r.on('close', onClose);
    r.on('end', onEnd);
  });
}

/** Quits politely when the server answers, otherwise drops the connection. */
async function quit(r: Redis): Promise<void> {
  if (r.status === 'end') return;
  if (r.status !== 'ready') return r.disconnect();
  try {
    await r.quit();
  } catch {
    r.disconnect();
  }
}

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  readonly prefix: string;
  private readonly client: ScriptedRedis;
  private readonly where: string;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;
  /** The last connection error of either connection, cleared when it is ready again: the "why" of unavailable. */
  private lastError: Error | undefined;
  private subscriber: Redis | undefined;
  /** Full channel name → its local handlers. */
  private readonly handlers = new Map<string, Set<Handler>>();
  /** Channels whose UNSUBSCRIBE failed (Redis was down): dropped again once the subscriber is back. */
  private readonly stale = new Set<string>();
  /** SUBSCRIBE/UNSUBSCRIBE run one at a time, so a channel's state follows the order of calls. */
  private subscriptionQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** Connects and checks that Redis answers; rejects (and closes) when it does not within connectTimeoutMs. */
  static async open(opts: RedisCacheOptions): Promise<RedisCache> {
    const cache = new RedisCache(opts);
    try {
      await cache.client.connect().catch(() => {}); // failures surface through whenReady, which keeps waiting while ioredis retries
      await whenReady(cache.client, cache.connectTimeoutMs, () => false).catch((err: unknown) => {
        throw cache.unavailable(err);
      });
      await cache.health();
      return cache;
    } catch (err) {
      await cache.close();
      throw err;
    }
  }

  private constructor(opts: RedisCacheOptions) {
    this.prefix = opts.prefix ?? 'sentio:';
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 2000;
    this.logger = opts.logger ?? silentLogger;
    const maxDelay = opts.maxReconnectDelayMs ?? 1000;
    const url = new URL(opts.url);
    this.where = url.host;
    const options: RedisOptions = {
      lazyConnect: true,
      // Fail fast rather than queue: a command never waits for a reconnect, never runs late.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: this.connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
      autoResubscribe: true,
      disableClientInfo: true,
      connectionName: 'sentio',
    };
    const client = new Redis(opts.url, options) as ScriptedRedis;
    client.defineCommand('sentioTake', { lua: TAKE, numberOfKeys: 1 });
    client.defineCommand('sentioHit', { lua: HIT, numberOfKeys: 1 });
    client.defineCommand('sentioRevoke', { lua: REVOKE, numberOfKeys: 1 });
    this.watch(client, 'commands');
    this.client = client;
  }

  private watch(r: Redis, name: string): void {
    let down = false;
    r.on('error', (err: Error) => {
      this.lastError = err;
      if (!down) this.logger.warn(`cache: Redis ${name} connection to ${this.where}: ${err.message}`);
      down = true;
    });
    r.on('ready', () => {
      this.lastError = undefined;
      if (down) this.logger.info(`cache: Redis ${name} connection to ${this.where} is back`);
      down = false;
    });
  }

  private key(kind: string, key: string): string {
    return `${this.prefix}${kind}:${key}`;
  }

  /** A failure to reach Redis as SENTIO_ERR_STORE_UNAVAILABLE; Redis' own error replies pass unchanged. */
  private unavailable(err: unknown): Error {
    if (isReplyError(err) || err instanceof SentioError) return err as Error;
    let msg = err instanceof Error ? err.message : String(err);
    // ioredis' wording, told in terms of what happened.
    if (err instanceof Error && err.name === 'MaxRetriesPerRequestError') msg = 'the connection was lost before the reply';
    else if (msg.startsWith("Stream isn't writeable")) msg = 'not connected';
    else if (msg === 'Command timed out') msg = `no reply within ${this.commandTimeoutMs} ms (Command timed out)`;
    const why = this.lastError && this.lastError.message !== msg ? `${msg} (${this.lastError.message})` : msg;
    return new SentioError('SENTIO_ERR_STORE_UNAVAILABLE', `Redis unavailable at ${this.where}: ${why}`, { cause: err });
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('cache: closed');
    try {
      return await command();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.run(() => this.client.get(this.key('v', key)));
    return v ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    const ttl = checkTtl(ttlMs);
    await this.run(() => this.client.set(this.key('v', key), value, 'PX', ttl));
  }

  async del(key: string): Promise<void> {
    await this.run(() => this.client.del(this.key('v', key)));
  }

  async take(key: string, cost: number, ratePerSecond: number, burst: number): Promise<TakeResult> {
    checkBucket(cost, ratePerSecond, burst);
    const [ok, tokens, retry] = await this.run(() => this.client.sentioTake(this.key('tb', key), String(cost), String(ratePerSecond), String(burst), String(TOKEN_EPSILON)));
    const retryAfterMs = Number(retry);
    return { ok: ok === 1, remaining: Math.floor(Number(tokens) + TOKEN_EPSILON), retryAfterMs: retryAfterMs < 0 ? Infinity : retryAfterMs };
  }

  async refund(key: string, n: number, ratePerSecond: number, burst: number): Promise<void> {
    checkBucket(n, ratePerSecond, burst);
    await this.run(() => this.client.sentioTake(this.key('tb', key), String(-n), String(ratePerSecond), String(burst), String(TOKEN_EPSILON)));
  }

  async hit(key: string, windowMs: number, n = 1): Promise<number> {
    const ttl = checkTtl(windowMs, 'windowMs');
    checkCount(n);
    return this.run(() => this.client.sentioHit(this.key('hit', key), String(ttl), String(n)));
  }

  async revoke(id: string, ttlMs: number): Promise<void> {
    const ttl = checkTtl(ttlMs);
    await this.run(() => this.client.sentioRevoke(this.key('rv', id), String(ttl)));
  }

  async isRevoked(id: string): Promise<boolean> {
    return (await this.run(() => this.client.exists(this.key('rv', id)))) === 1;
  }

  async acquire(key: string, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs);
    return (await this.run(() => this.client.set(this.key('v', key), '1', 'PX', ttl, 'NX'))) === 'OK';
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run(() => this.client.publish(this.key('ch', channel), message));
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<Unsubscribe> {
    if (this.closed) throw new Error('cache: closed');
    const full = this.key('ch', channel);
    const handler: Handler = { onMessage, active: true };
    let set = this.handlers.get(full);
    if (set === undefined) this.handlers.set(full, (set = new Set()));
    set.add(handler);
    const remove = () => {
      handler.active = false;
      const s = this.handlers.get(full);
      if (s?.delete(handler) && s.size === 0) this.handlers.delete(full);
    };
    try {
      // Always sent, even when already subscribed: it resolves once Redis confirms, i.e. once messages will arrive.
      await this.serially(async () => {
        const sub = await this.subscriberReady();
        await this.run(() => sub.subscribe(full));
      });
    } catch (err) {
      remove();
      this.dropIfUnused(full);
      throw err;
    }
    const self = this;
    return async function unsubscribe() {
      if (!handler.active) return;
      remove(); // no delivery from here on, whatever Redis does
      self.dropIfUnused(full);
    };
  }

  /** UNSUBSCRIBE when no local handler is left; failures are retried when the subscriber is back. */
  private dropIfUnused(full: string): void {
    void this.serially(async () => {
      if (this.handlers.has(full)) this.stale.delete(full); // wanted again
      if (this.handlers.has(full) || this.subscriber === undefined || this.closed) return;
      try {
        await this.run(() => this.subscriber!.unsubscribe(full));
        this.stale.delete(full);
      } catch {
        this.stale.add(full);
      }
    });
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const next = this.subscriptionQueue.then(task);
    this.subscriptionQueue = next.catch(() => {});
    return next;
  }

  /** The subscriber connection, created on first use; rejects at once while Redis is unreachable. */
  private async subscriberReady(): Promise<Redis> {
    if (this.subscriber === undefined) {
      const sub = this.client.duplicate({ connectionName: 'sentio-subscriber' });
      this.watch(sub, 'subscriber');
      sub.on('message', (channel: string, message: string) => this.dispatch(channel, message));
      sub.on('ready', () => {
        for (const full of this.stale) this.dropIfUnused(full);
      });
      this.subscriber = sub;
      sub.connect().catch(() => {}); // whenReady reports the failure; ioredis keeps retrying
    }
    const sub = this.subscriber;
    // While the command connection is up, Redis is: give the subscriber the time to (re)connect.
    // Otherwise fail as soon as its attempt fails rather than wait out reconnects that are likely to fail.
    await whenReady(sub, this.connectTimeoutMs, () => this.client.status !== 'ready').catch((err: unknown) => {
      throw this.unavailable(err);
    });
    return sub;
  }

  private dispatch(channel: string, message: string): void {
    const set = this.handlers.get(channel);
    if (set === undefined) return;
    for (const h of [...set]) {
      if (h.active) deliver(h.onMessage, message, (err) => this.logger.error(`cache: a subscriber of ${channel} threw: ${String(err)}`));
    }
  }

  async health(): Promise<void> {
    const pong = await this.run(() => this.client.ping());
    if (pong !== 'PONG') throw new SentioError('SENTIO_ERR_STORE_UNAVAILABLE', `Redis at ${this.where} answered PING with ${String(pong)}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const set of this.handlers.values()) for (const h of set) h.active = false;
    this.handlers.clear();
    await Promise.all([quit(this.client), this.subscriber && quit(this.subscriber)]);
  }
}
