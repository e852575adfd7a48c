// Ingest authentication: tokens from configuration (device-token management
// comes with the control plane). Accepted forms, as InfluxDB clients send them:
//   Authorization: Token <t>      (InfluxDB v2 clients, Telegraf influxdb_v2)
//   Authorization: Bearer <t>
//   Authorization: Basic base64(<user>:<t>)   (InfluxDB v1 clients, Telegraf influxdb)
//   ?p=<t> (v1 query parameter) or ?token=<t> (browsers' WebSocket, which cannot set headers)
// Tokens are kept only as SHA-256 digests; lookup is by digest.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Authenticator {
  /** True when the credentials are acceptable (always, with auth disabled). */
  check(authorization: string, query: string): boolean;
  /**
   * Who is writing, for per-token limits: a short digest of the token, or
   * 'anonymous' with auth disabled; undefined when the credentials are not acceptable.
   */
  identify(authorization: string, query: string): string | undefined;
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

export function createAuthenticator(tokens: readonly string[], enabled: boolean): Authenticator {
  const digests = new Set(tokens.map(digest));
  const identify = (authorization: string, query: string): string | undefined => {
    if (!enabled) return 'anonymous';
    const token = presentedToken(authorization, query);
    if (token === undefined) return undefined;
    const d = digest(token);
    return digests.has(d) ? d.slice(0, 12) : undefined;
  };
  return {
    enabled,
    identify,
    check: (authorization, query) => identify(authorization, query) !== undefined,
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
