// Device ingest tokens: issue, look up on the hot path, revoke.
//
// A token is `sdt_` + 32 random bytes (base64url). It is shown once, when
// issued; the store keeps its SHA-256 (hex) and its first 12 characters
// (`prefix`, to tell tokens apart in lists). A token only writes: the API
// does not accept it.
//
// Lookup, fastest first:
// 1. This instance's map of recent lookups (hash → token id, device id,
//    expiry), trusted for `localTtlMs` (--token-cache-ttl-ms, default 5 s):
//    a hit costs a hash and a Map lookup, synchronously, so the ingest path
//    stays synchronous for known tokens.
// 2. The shared cache (`tok:<hash>`, Redis when configured), plus its
//    revocation mark for the token id (`dt:<id>`).
// 3. The metadata store; the answer is then written to the shared cache.
//    Lookups that reach the store while one of its queries runs are made
//    together in the next query (up to MAX_TOKEN_LOOKUP hashes): 10,000
//    devices reconnecting after a restart cost a few dozen queries, not
//    10,000 (each about 0.6 ms of PGlite on the main thread).
// Unknown tokens are remembered locally for a second, so a client retrying
// a bad token does not reach the database on every request.
//
// A principal carries its device's labels and name (label `device`), which
// the core adds to every sample the device writes. Revocation, a changed
// expiry and a change of the device's name or labels take effect everywhere
// within seconds:
// the store is updated first, then the token id is marked revoked in the
// shared cache (checked on every lookup that misses locally), its shared
// entry is dropped, and the id is broadcast on the cache's pub/sub channel
// so every instance drops its local entry at once. Should a broadcast be
// lost, the local entry expires after `localTtlMs` anyway.

import { createHash, randomBytes } from 'node:crypto';
import type { Cache, Unsubscribe } from '../cache/types.js';
import { type Device, type DeviceToken, MAX_TOKEN_LOOKUP, type MetaStore } from '../store/types.js';
import { TurnDeferral } from '../turn.js';

export const DEVICE_TOKEN_PREFIX = 'sdt_';
const CHANNEL = 'device-token-changed';
const NEGATIVE_TTL_MS = 1000;
const LOCAL_MAX = 100_000;

/** Who writes with a device token: the ingest Principal, made once per lookup and reused for every batch. */
export interface DevicePrincipal {
  /** Scopes per-token limits. */
  key: string;
  tokenId: string;
  deviceId: string;
  /** The device's labels and `device`: its name, added to every sample it writes (the point's own tags win). */
  labels: Readonly<Record<string, string>>;
}

interface Entry {
  found: DevicePrincipal | undefined;
  expiresAtMs: number | null;
  fetchedAt: number;
}

type StoreRow = { token: DeviceToken; device: Device } | undefined;

interface StoreWaiter {
  hash: string;
  resolve: (row: StoreRow) => void;
  reject: (err: unknown) => void;
}

interface SharedEntry {
  tokenId: string;
  deviceId: string;
  /** The device's name and labels when the entry was made (a change of the device drops the entries of its tokens). */
  name: string;
  labels: Record<string, string>;
  expiresAt: string | null;
  revoked: boolean;
}

/** The labels a device's samples carry: its own, and its name as `device` (which no label of its own may replace). */
export function deviceLabels(name: string, labels: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return Object.freeze({ ...labels, device: name });
}

/** How secrets (device and refresh tokens) are stored: SHA-256, hex. */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

export function newDeviceToken(): { token: string; hash: string; prefix: string } {
  const token = `${DEVICE_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: tokenHash(token), prefix: token.slice(0, 12) };
}

export interface DeviceTokenOptions {
  store: MetaStore;
  cache: Cache;
  localTtlMs: number;
  /** Lifetime of entries in the shared cache. */
  sharedTtlMs?: number;
  /** Counts store/cache failures (they fail the lookup: the write is refused, not let through). */
  onError?: (where: 'store' | 'cache', err: unknown) => void;
}

export class DeviceTokens {
  private readonly local = new Map<string, Entry>();
  private readonly hashByTokenId = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<DevicePrincipal | undefined>>();
  /** Store lookups waiting for the next query, and whether one runs. */
  private storeWaiters: StoreWaiter[] = [];
  private storeQuerying = false;
  /** Lookups of this turn of the event loop go in one query (src/turn.ts). */
  private readonly turnEnd = new TurnDeferral(() => this.queryStore());
  private readonly sharedTtlMs: number;
  private unsubscribe: Unsubscribe | undefined;

  private constructor(private readonly o: DeviceTokenOptions) {
    // A revocation marks the token in the cache, drops its shared entry and is
    // broadcast, so the shared entry need not expire soon; 60 s bounds how
    // long one survives a failed cache write. (In memory, expiring it with the
    // local entry made a fleet of 10,000 devices ask the store 2,000 times a
    // second.)
    this.sharedTtlMs = o.sharedTtlMs ?? 60_000;
  }

  static async open(o: DeviceTokenOptions): Promise<DeviceTokens> {
    const t = new DeviceTokens(o);
    t.unsubscribe = await o.cache.subscribe(CHANNEL, (tokenId) => t.forget(tokenId));
    return t;
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
  }

  private forget(tokenId: string): void {
    const hash = this.hashByTokenId.get(tokenId);
    if (hash === undefined) return;
    this.hashByTokenId.delete(tokenId);
    this.local.delete(hash);
  }

  /** Issues a token for a device; the secret is in the result only. */
  async issue(deviceId: string, opts: { name?: string; expiresAt?: string | null } = {}): Promise<{ token: string; record: DeviceToken }> {
    const t = newDeviceToken();
    const record = await this.o.store.createDeviceToken({ deviceId, hash: t.hash, prefix: t.prefix, name: opts.name ?? '', expiresAt: opts.expiresAt ?? null });
    return { token: t.token, record };
  }

  /** Revokes one token now, on every instance. */
  async revoke(deviceId: string, tokenId: string): Promise<DeviceToken | undefined> {
    const record = await this.o.store.revokeDeviceToken(deviceId, tokenId);
    if (record) await this.changed(tokenId, true);
    return record;
  }

  /** Shortens a token's life (rotation overlap); the new expiry applies on every instance within seconds. */
  async expire(deviceId: string, tokenId: string, expiresAt: string): Promise<DeviceToken | undefined> {
    const record = await this.o.store.expireDeviceToken(deviceId, tokenId, expiresAt);
    if (record) await this.changed(tokenId, false);
    return record;
  }

  /**
   * After a device's name or labels changed: every instance drops what it
   * cached of the device's tokens, so the next write carries the new labels.
   */
  async deviceChanged(deviceId: string): Promise<void> {
    for (const t of await this.o.store.listDeviceTokens(deviceId)) await this.changed(t.id, false);
  }

  /** After the store changed a token: drop every cached copy. */
  async changed(tokenId: string, revoked: boolean): Promise<void> {
    this.forget(tokenId);
    const cache = this.o.cache;
    if (revoked) await cache.revoke(`dt:${tokenId}`, this.sharedTtlMs + 60_000);
    const hash = await cache.get(`tokh:${tokenId}`);
    if (hash !== undefined) await cache.del(`tok:${hash}`);
    await cache.publish(CHANNEL, tokenId);
  }

  /**
   * The device behind a presented token: synchronously when this instance
   * looked it up recently, else a promise. undefined: unknown, revoked or
   * expired. Rejects when the store and cache cannot answer.
   */
  lookup(token: string, now = Date.now()): DevicePrincipal | undefined | Promise<DevicePrincipal | undefined> {
    const hash = this.hashOf(token);
    const e = this.local.get(hash);
    if (e !== undefined && now - e.fetchedAt < (e.found ? this.o.localTtlMs : NEGATIVE_TTL_MS)) {
      if (e.expiresAtMs !== null && now >= e.expiresAtMs) return undefined;
      return e.found;
    }
    let p = this.inflight.get(hash);
    if (p === undefined) {
      p = this.fetch(hash).finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, p);
    }
    return p;
  }

  /** Hashes of tokens presented lately: a device sends its token with every batch (a WebSocket frame), hashing it each time cost 5 % of a fleet's CPU. */
  private readonly hashes = new Map<string, string>();

  private hashOf(token: string): string {
    let hash = this.hashes.get(token);
    if (hash === undefined) {
      hash = tokenHash(token);
      // Bounded like the lookups: a flood of made-up tokens only ever costs a hash each.
      if (this.hashes.size >= LOCAL_MAX) this.hashes.clear();
      this.hashes.set(token, hash);
    }
    return hash;
  }

  private remember(hash: string, found: DevicePrincipal | undefined, expiresAt: string | null): DevicePrincipal | undefined {
    if (this.local.size >= LOCAL_MAX) {
      // Drop the oldest tenth (Map iterates in insertion order).
      let n = LOCAL_MAX / 10;
      for (const k of this.local.keys()) {
        this.local.delete(k);
        if (--n === 0) break;
      }
    }
    const expiresAtMs = expiresAt === null ? null : Date.parse(expiresAt);
    this.local.delete(hash);
    this.local.set(hash, { found, expiresAtMs, fetchedAt: Date.now() });
    if (found) this.hashByTokenId.set(found.tokenId, hash);
    return expiresAtMs !== null && Date.now() >= expiresAtMs ? undefined : found;
  }

  private async fetch(hash: string): Promise<DevicePrincipal | undefined> {
    const cache = this.o.cache;
    let shared: SharedEntry | undefined;
    try {
      const text = await cache.get(`tok:${hash}`);
      if (text !== undefined) shared = JSON.parse(text) as SharedEntry;
      if (shared && !shared.revoked && (await cache.isRevoked(`dt:${shared.tokenId}`))) shared.revoked = true;
    } catch (err) {
      this.o.onError?.('cache', err);
      shared = undefined;
    }
    if (shared === undefined) {
      // The write is refused, never let through unchecked, when the store fails (SENTIO_ERR_STORE_UNAVAILABLE).
      const row = await this.findInStore(hash);
      if (row === undefined) return this.remember(hash, undefined, null);
      shared = { tokenId: row.token.id, deviceId: row.device.id, name: row.device.name, labels: row.device.labels, expiresAt: row.token.expiresAt, revoked: row.token.revokedAt !== null };
      try {
        await cache.set(`tok:${hash}`, JSON.stringify(shared), this.sharedTtlMs);
        await cache.set(`tokh:${shared.tokenId}`, hash, this.sharedTtlMs);
      } catch (err) {
        this.o.onError?.('cache', err);
      }
    }
    if (shared.revoked) return this.remember(hash, undefined, null);
    const labels = deviceLabels(shared.name, shared.labels);
    return this.remember(hash, { key: `device-token:${shared.tokenId}`, tokenId: shared.tokenId, deviceId: shared.deviceId, labels }, shared.expiresAt);
  }

  /** The store's row for one hash, looked up together with the others waiting (see the header). */
  private findInStore(hash: string): Promise<StoreRow> {
    return new Promise((resolve, reject) => {
      this.storeWaiters.push({ hash, resolve, reject });
      if (!this.storeQuerying) this.turnEnd.added();
    });
  }

  /** Queries for the waiting hashes, then for those that came meanwhile, until none waits. */
  private queryStore(): void {
    this.storeQuerying = true;
    const batch = this.storeWaiters.splice(0, MAX_TOKEN_LOOKUP);
    this.o.store
      .findDeviceTokens(batch.map((w) => w.hash)) // one waiter per hash: `inflight` shares a lookup
      .then(
        (rows) => {
          for (const w of batch) w.resolve(rows.get(w.hash));
        },
        (err: unknown) => {
          this.o.onError?.('store', err);
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        if (this.storeWaiters.length > 0) this.queryStore();
        else this.storeQuerying = false;
      });
  }
}
