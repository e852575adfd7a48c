// The control plane's services, opened once at start: the metadata store
// (PostgreSQL or PGlite), the cache (Redis or memory), access tokens,
// sessions, device tokens and device status. On first start (no users yet)
// it creates the user `admin` with --admin-password / SENTIO_ADMIN_PASSWORD
// or a generated password, which is reported once through `announce`.

import type { Cache } from '../cache/types.js';
import { openCache } from '../cache/index.js';
import type { ControlConfig } from '../config/index.js';
import { DeviceTokens } from '../auth/devices.js';
import { AccessTokens } from '../auth/jwt.js';
import { generatePassword, hashPassword } from '../auth/passwords.js';
import { Sessions } from '../auth/sessions.js';
import type { Logger } from '../log/index.js';
import { openStore } from '../store/index.js';
import { StoreConflictError, type MetaStore } from '../store/types.js';
import { DeviceActivityTracker } from './device-activity.js';
import type { ApiMetrics } from './metrics.js';

export interface ControlPlane {
  store: MetaStore;
  cache: Cache;
  tokens: AccessTokens;
  sessions: Sessions;
  deviceTokens: DeviceTokens;
  activity: DeviceActivityTracker;
  /** How the first admin was set up on this start, if it was. */
  admin: { created: boolean; generatedPassword?: string };
  close(): Promise<void>;
}

export async function ensureAdmin(store: MetaStore, password: string | undefined): Promise<ControlPlane['admin']> {
  if ((await store.countUsers()) > 0) return { created: false };
  const chosen = password ?? generatePassword();
  try {
    await store.createUser({ username: 'admin', role: 'admin', passwordHash: await hashPassword(chosen) });
  } catch (err) {
    // Another instance starting at the same moment created it first.
    if (err instanceof StoreConflictError) return { created: false };
    throw err;
  }
  await store.appendAudit({ actor: 'system', action: 'user.create', target: 'user:admin', ip: '', details: { reason: 'first start', password: password === undefined ? 'generated' : 'configured' } });
  return { created: true, ...(password === undefined ? { generatedPassword: chosen } : {}) };
}

export async function openControlPlane(c: ControlConfig, dataDir: string, log: Logger, metrics: ApiMetrics): Promise<ControlPlane> {
  const store = await openStore({ dataDir, ...(c.postgres !== undefined ? { postgres: c.postgres } : {}) });
  let cache: Cache | undefined;
  let deviceTokens: DeviceTokens | undefined;
  try {
    cache = await openCache({ ...(c.redis !== undefined ? { redis: c.redis } : {}), logger: log });
    const admin = await ensureAdmin(store, c.adminPassword);
    const tokens = await AccessTokens.open(store, c.accessTokenTtlS);
    const sessions = new Sessions({ store, cache, tokens, refreshTtlS: c.refreshTokenTtlS, loginMaxFailures: c.loginMaxFailures });
    deviceTokens = await DeviceTokens.open({
      store,
      cache,
      localTtlMs: c.tokenCacheTtlMs,
      onError: (where, err) => {
        metrics.controlError(where === 'store' ? 'ingest_auth_store' : 'ingest_auth_cache');
        log.warn(`device-token lookup: ${where}: ${(err as Error).message}`);
      },
    });
    const activity = new DeviceActivityTracker({
      store,
      cache,
      onError: (err) => {
        metrics.controlError('device_status');
        log.warn(`device status: ${(err as Error).message}`);
      },
    });
    const dt = deviceTokens;
    const ca = cache;
    return {
      store, cache, tokens, sessions, deviceTokens: dt, activity, admin,
      async close() {
        await activity.close();
        await dt.close();
        await ca.close();
        await store.close();
      },
    };
  } catch (err) {
    await deviceTokens?.close().catch(() => {});
    await cache?.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}
