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
// - logout: revokes the refresh family and, through the cache, the access
//   tokens issued from it, for the rest of their lifetime.
// - authenticate: verifies an access JWT and checks two revocations in the
//   cache: its family (logout, reuse) and its user (role change, password
//   reset, disable, delete: tokens issued before that instant).

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
   * Failed-login buckets, per username and per client address: refuses with
   * SENTIO_ERR_RATE_LIMITED while either is empty; takes one from each when
   * `fail` is set. An address gets five times a username's allowance (many
   * users may share one address behind NAT).
   */
  private async loginBuckets(username: string, ip: string, fail: boolean): Promise<void> {
    const perUser = this.o.loginMaxFailures;
    const buckets = [
      { key: `login:user:${username.toLowerCase()}`, burst: perUser },
      { key: `login:ip:${ip}`, burst: perUser * 5 },
    ];
    const results = await Promise.all(buckets.map((b) => this.o.cache.take(b.key, fail ? 1 : 0, b.burst / LOGIN_WINDOW_S, b.burst).then((r) => ({ ...r, rate: b.burst / LOGIN_WINDOW_S }))));
    if (fail) return;
    const empty = results.filter((r) => r.remaining < 1);
    if (empty.length > 0) {
      const retryAfterMs = Math.max(...empty.map((r) => Math.ceil((1 / r.rate) * 1000)));
      throw new SentioError('SENTIO_ERR_RATE_LIMITED', 'too many failed logins; try again later', { details: { retryAfterMs } });
    }
  }

  async login(username: string, password: string, ip: string): Promise<TokenPair> {
    await this.loginBuckets(username, ip, false);
    const user = await this.o.store.getUserByUsername(username);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await decoyHash()));
    if (!user || !ok || user.disabled) {
      await this.loginBuckets(username, ip, true);
      throw new SentioError('SENTIO_ERR_LOGIN_FAILED');
    }
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

  private revokeFamily(familyId: string): Promise<void> {
    return this.o.cache.revoke(`sid:${familyId}`, this.o.tokens.ttlSeconds * 1000 + 10_000);
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
    await this.o.cache.set(`userrev:${userId}`, String(Date.now()), this.o.tokens.ttlSeconds * 1000 + 10_000);
  }

  async authenticate(accessToken: string): Promise<AccessClaims> {
    const claims = await this.o.tokens.verify(accessToken);
    const [revoked, userRevokedAt] = await Promise.all([this.o.cache.isRevoked(`sid:${claims.sid}`), this.o.cache.get(`userrev:${claims.sub}`)]);
    if (revoked) throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'the session was logged out or revoked');
    if (userRevokedAt !== undefined && claims.iatMs <= Number(userRevokedAt)) {
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', "the user's sessions were revoked; log in again");
    }
    return claims;
  }
}

export const roleRank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
