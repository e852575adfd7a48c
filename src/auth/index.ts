// Ingest authentication: configured tokens (--token) and device tokens
// (issued through the API, see devices.ts). Accepted forms, as InfluxDB
// clients send them:
//   Authorization: Token <t>      (InfluxDB v2 clients, Telegraf influxdb_v2)
//   Authorization: Bearer <t>
//   Authorization: Basic base64(<user>:<t>)   (InfluxDB v1 clients, Telegraf influxdb)
//   ?p=<t> (v1 query parameter) or ?token=<t> (browsers' WebSocket, which cannot set headers)
// Configured tokens are kept only as SHA-256 digests. A device token is
// answered synchronously when this instance looked it up in the last
// seconds, else after an asynchronous lookup (cache, then store).

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICE_TOKEN_PREFIX, type DeviceTokens } from './devices.js';

/** Who writes: `key` scopes per-token limits; device tokens also name their device. */
export interface Principal {
  key: string;
  deviceId?: string;
  tokenId?: string;
  /** Labels every sample written with these credentials carries (a device's labels and `device`: its name), unless the point has its own. */
  labels?: Readonly<Record<string, string>>;
}

/** A principal, undefined when the credentials are not acceptable, or a promise of either (a device token not looked up recently). */
export type Identified = Principal | undefined | Promise<Principal | undefined>;

export interface Authenticator {
  /** Who presents these credentials ('anonymous' with auth disabled). Call again to re-check a long-lived connection. */
  identify(authorization: string, query: string): Identified;
  readonly enabled: boolean;
}

const digest = (t: string): string => createHash('sha256').update(t).digest('base64');

/** The token presented in an Authorization header or query string, if any. */
export function presentedToken(authorization: string, query: string): string | undefined {
  if (authorization) {
    const space = authorization.indexOf(' ');
    const scheme = space < 0 ? '' : authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'token' || scheme === 'bearer') return value;
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon < 0 ? decoded : decoded.slice(colon + 1);
    }
  }
  if (query) {
    const params = new URLSearchParams(query);
    return params.get('token') ?? params.get('p') ?? undefined;
  }
  return undefined;
}

const ANONYMOUS: Principal = { key: 'anonymous' };

export function createAuthenticator(tokens: readonly string[], enabled: boolean, devices?: DeviceTokens): Authenticator {
  const configured = new Map(tokens.map((t) => [digest(t), { key: digest(t).slice(0, 12) }] as const));
  return {
    enabled,
    identify(authorization, query) {
      if (!enabled) return ANONYMOUS;
      const token = presentedToken(authorization, query);
      if (token === undefined) return undefined;
      if (devices !== undefined && token.startsWith(DEVICE_TOKEN_PREFIX)) return devices.lookup(token);
      return configured.get(digest(token));
    },
  };
}

/**
 * The token generated on first start when neither tokens nor --no-auth are
 * configured, kept in the data directory (mode 0600) so restarts reuse it.
 */
export function generatedToken(dataDir: string): { token: string; path: string; created: boolean } {
  const path = join(dataDir, 'ingest-token');
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), path, created: false };
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { token, path, created: true };
}
