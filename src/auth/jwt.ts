// API access tokens: short-lived JWTs signed with HS256 (jose). The signing
// key is one random 256-bit secret kept in the metadata store's settings, so
// every instance sharing the store accepts every instance's tokens.
//
// Verification is strict: the algorithm allowlist is exactly ['HS256'] (so
// `alg: none` and algorithm-confusion tokens such as RS256/ES256 or a
// different HMAC fail), `iss`, `aud` and `exp` are required and checked,
// `sub`, `role` and `sid` must be present. An expired token gets
// SENTIO_ERR_TOKEN_EXPIRED (the client should refresh), anything else
// SENTIO_ERR_UNAUTHORIZED.

import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { SentioError } from '../errors.js';
import { roles, type Role } from '../store/types.js';

export const ISSUER = 'sentio';
export const AUDIENCE = 'sentio-api';
const ALGORITHMS = ['HS256'];

export interface AccessClaims {
  /** User id. */
  sub: string;
  /** Username, for logs and the audit trail. */
  name: string;
  role: Role;
  /** Refresh-token family this access token came from: logout revokes it. */
  sid: string;
  /** Issued at, Unix seconds. */
  iat: number;
  /** Issued at, Unix ms (claim `iat_ms`): revocations "up to now" compare against it, so a token issued right after one in the same second is not caught by it. */
  iatMs: number;
  /** Expires at, Unix seconds. */
  exp: number;
}

export class AccessTokens {
  private constructor(private readonly key: Uint8Array, private readonly ttlS: number) {}

  /** The key from the shared settings, created by the first instance that starts. */
  static async open(settings: { setSettingIfAbsent(key: string, value: string): Promise<string> }, ttlS: number): Promise<AccessTokens> {
    const stored = await settings.setSettingIfAbsent('jwt_hs256_key', randomBytes(32).toString('base64url'));
    return new AccessTokens(Buffer.from(stored, 'base64url'), ttlS);
  }

  get ttlSeconds(): number {
    return this.ttlS;
  }

  async sign(claims: { sub: string; name: string; role: Role; sid: string }, nowMs = Date.now()): Promise<{ token: string; expiresAt: number }> {
    const nowS = Math.floor(nowMs / 1000);
    const exp = nowS + this.ttlS;
    const token = await new SignJWT({ name: claims.name, role: claims.role, sid: claims.sid, iat_ms: nowMs })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.key);
    return { token, expiresAt: exp };
  }

  async verify(token: string): Promise<AccessClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: ALGORITHMS,
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: 5,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new SentioError('SENTIO_ERR_TOKEN_EXPIRED');
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', `invalid access token (${err instanceof joseErrors.JOSEError ? err.code : 'malformed'})`);
    }
    const { sub, name, role, sid, iat, exp, iat_ms: iatMs } = payload;
    if (typeof sub !== 'string' || typeof name !== 'string' || typeof sid !== 'string' || !roles.includes(role as Role) || typeof iat !== 'number' || typeof exp !== 'number') {
      throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'invalid access token (claims)');
    }
    // A token without iat_ms (none we issue) counts as issued at the end of its second.
    return { sub, name, role: role as Role, sid, iat, exp, iatMs: typeof iatMs === 'number' && Math.floor(iatMs / 1000) === iat ? iatMs : iat * 1000 + 999 };
  }
}
