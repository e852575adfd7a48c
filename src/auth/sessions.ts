// Logins and API sessions.
//
// - login: username + password (scrypt, see passwords.ts) → a short-lived
//   access JWT (jwt.ts) and a refresh token. An unknown username costs the
//   same as a wrong password (a decoy hash is verified), and the answer does
//   not say which was wrong. Failed logins are limited per username and per
//   client address through the shared cache (a bucket of
//   `loginMaxFailures` refilled over 15 minutes): brute force across
//   instances is limited too.
// - refresh: a refresh token is `srt_` + 32 random bytes, stored only as its
//   SHA-256; each use rotates it (the old one stops working). Presenting an
//   already-rotated token means it was copied: the whole family (every
//   token descended from that login) is revoked, and its access tokens too.
// - logout: revokes the refresh family in the store, and with it the access
//   tokens issued from it.
// - authenticate: verifies an access JWT, then asks the store whether its
//   family is still active (not logged out, not reused, the user's sessions
//   not revoked by a role change, password reset, disable or delete) and its
//   user exists and is enabled. Revocations live only in the store, so they
//   hold across instances and restarts, whichever cache is configured.

import { randomBytes, randomUUID } from 'node:crypto';
import type { Cache } from '../cache/types.js';
import { SentioError } from '../errors.js';
import type { MetaStore, Role, User } from '../store/types.js';
import { tokenHash as sha256 } from './devices.js';
import { type AccessClaims, AccessTokens } from './jwt.js';
import { decoyHash, verifyPassword } from './passwords.js';

const LOGIN_WINDOW_S = 15 * 60;

export interface TokenPair {
  accessToken: string;
  tokenType: 'Bearer';
  /** Seconds. */
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
  user: User;
}

export interface SessionOptions {
  store: MetaStore;
  cache: Cache;
  tokens: AccessTokens;
  refreshTtlS: number;
  loginMaxFailures: number;
}

const newRefreshToken = (): string => `srt_${randomBytes(32).toString('base64url')}`;

function publicUser(u: User): User {
  return { id: u.id, username: u.username, role: u.role, disabled: u.disabled, createdAt: u.createdAt, updatedAt: u.updatedAt };
}

export class Sessions {
  constructor(private readonly o: SessionOptions) {}

  get accessTtlS(): number {
    return this.o.tokens.ttlSeconds;
  }

  /**
   * Failed-login buckets, per username and per client address (an address
   * gets five times a username's allowance: many users may share one behind
   * NAT). An attempt is reserved in both before its password is verified,
   * atomically in the cache, so concurrent attempts cannot all pass a check
   * made before any of them is charged: at most the allowance is ever
   * verified. A successful login gives its reservation back.
   */
  private loginBuckets(username: string, ip: string): Array<{ key: string; burst: number; rate: number }> {
    const perUser = this.o.loginMaxFailures;
    return [
      { key: `login:user:${username.toLowerCase()}`, burst: perUser, rate: perUser / LOGIN_WINDOW_S },
      { key: `login:ip:${ip}`, burst: perUser * 5, rate: (perUser * 5) / LOGIN_WINDOW_S },
    ];
  }

  /** Reserves one attempt in every bucket, or refuses with SENTIO_ERR_RATE_LIMITED (giving back what it took). */
  private async reserveAttempt(buckets: ReturnType<Sessions['loginBuckets']>): Promise<void> {
    const results = await Promise.allSettled(buckets.map((b) => this.o.cache.take(b.key, 1, b.rate, b.burst)));
    const taken = buckets.filter((_, i) => results[i]!.status === 'fulfilled' && (results[i] as PromiseFulfilledResult<{ ok: boolean }>).value.ok);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined && taken.length === buckets.length) return;
    await this.refundAttempt(taken);
    if (failed !== undefined) throw failed.reason;
    const waits = results.map((r) => (r.status === 'fulfilled' && !r.value.ok ? r.value.retryAfterMs : 0));
    throw new SentioError('SENTIO_ERR_RATE_LIMITED', 'too many failed logins; try again later', { details: { retryAfterMs: Math.max(...waits) } });
  }

  private async refundAttempt(buckets: ReturnType<Sessions['loginBuckets']>): Promise<void> {
    await Promise.all(buckets.map((b) => this.o.cache.refund(b.key, 1, b.rate, b.burst)));
  }

  async login(username: string, password: string, ip: string): Promise<TokenPair> {
    const buckets = this.loginBuckets(username, ip);
    await this.reserveAttempt(buckets);
    const user = await this.o.store.getUserByUsername(username);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await decoyHash()));
    // A failure keeps its reservation: that is the charge.
    if (!user || !ok || user.disabled) throw new SentioError('SENTIO_ERR_LOGIN_FAILED');
    await this.refundAttempt(buckets);
    return this.issue(user, randomUUID());
  }

  private async issue(user: User, familyId: string): Promise<TokenPair> {
    const refreshToken = newRefreshToken();
    await this.o.store.createSession({
      id: randomUUID(),
      userId: user.id,
      familyId,
      tokenHash: sha256(refreshToken),
      expiresAt: new Date(Date.now() + this.o.refreshTtlS * 1000).toISOString(),
    });
    return this.pair(user, familyId, refreshToken);
  }

  private async pair(user: User, familyId: string, refreshToken: string): Promise<TokenPair> {
    const access = await this.o.tokens.sign({ sub: user.id, name: user.username, role: user.role, sid: familyId });
    return {
      accessToken: access.token,
      tokenType: 'Bearer',
      expiresIn: this.o.tokens.ttlSeconds,
      refreshToken,
      refreshExpiresIn: this.o.refreshTtlS,
      user: publicUser(user),
    };
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    const next = newRefreshToken();
    const r = await this.o.store.rotateSession(sha256(refreshToken), {
      id: randomUUID(),
      tokenHash: sha256(next),
      expiresAt: new Date(Date.now() + this.o.refreshTtlS * 1000).toISOString(),
    });
    if (r.status === 'invalid') throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'refresh token unknown, expired or revoked');
    if (r.status === 'reused') {
      await this.revokeFamily(r.previous.familyId);
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'refresh token was already used: the session is revoked, log in again');
    }
    const user = await this.o.store.getUser(r.previous.userId);
    if (!user || user.disabled) {
      await this.o.store.revokeSession(sha256(next));
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'the user no longer exists or is disabled');
    }
    return this.pair(user, r.previous.familyId, next);
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.o.store.revokeSessionFamily(familyId);
  }

  /** Ends the session of `claims`; `refreshToken`, when given, must belong to it. */
  async logout(claims: AccessClaims, refreshToken: string | undefined): Promise<void> {
    if (refreshToken !== undefined) {
      const s = await this.o.store.revokeSession(sha256(refreshToken));
      if (s && s.familyId !== claims.sid) await this.revokeFamily(s.familyId);
    }
    await this.revokeFamily(claims.sid);
  }

  /** Tokens of this user issued up to now stop working (role change, password reset, disable, delete). */
  async revokeUser(userId: string): Promise<void> {
    await this.o.store.revokeUserSessions(userId);
  }

  /**
   * A valid access token of a session that is still active: its family not
   * revoked, its user present and enabled, as the metadata store says. The
   * store is the one place every revocation is written, so a revocation
   * holds on every instance at once and survives restarts of the gateway
   * and of the cache alike. One indexed lookup per call.
   */
  async authenticate(accessToken: string): Promise<AccessClaims> {
    const claims = await this.o.tokens.verify(accessToken);
    if (!(await this.o.store.sessionActive(claims.sub, claims.sid))) {
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'the session was logged out or revoked, or the user was disabled, changed or deleted; log in again');
    }
    return claims;
  }
}

export const roleRank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
