// The REST API's plumbing over uWebSockets.js: each route is declared once
// (method, path, who may call it, zod schemas for path, query, body and
// response, a handler) and that declaration drives the request handling
// *and* the OpenAPI document (openapi.ts), so the two cannot drift.
//
// Per request, in order: request id (`x-request-id` taken when sane, else
// made; echoed in the reply and on every log line), CORS, body read (1 MiB
// cap, counted as it arrives), authentication (Bearer access JWT) and the
// route's minimum role, the per-user (or, before login, per-address) rate
// limit, schema validation, the handler, response validation (which also
// strips any field the schema does not name: no hash leaks by accident),
// latency histogram, one structured log line.
//
// Errors: a SentioError keeps its code (the store and the cache report
// their own unavailability as SENTIO_ERR_STORE_UNAVAILABLE, counted here);
// a unique clash in the store is SENTIO_ERR_CONFLICT; anything else is
// SENTIO_ERR_INTERNAL, logged with its stack and the request id.

import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger as PinoLogger } from 'pino';
import { z } from 'zod';
import type { Cache } from '../cache/types.js';
import type { AccessClaims } from '../auth/jwt.js';
import { roleRank, type Sessions } from '../auth/sessions.js';
import { type ErrorCode, SentioError, validationError } from '../errors.js';
import { readBody } from '../http/body.js';
import { type RequestState, send, sendJson, watchAbort } from '../http/respond.js';
import { StoreConflictError, type Role } from '../store/types.js';
import type { ApiMetrics } from './metrics.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** Who may call: anyone, or a signed-in user with at least this role. */
export type Access = 'public' | Role;

const MAX_BODY_BYTES = 1 << 20;

export interface Context<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The signed-in user (undefined only on public routes). */
  user: AccessClaims | undefined;
  ip: string;
  requestId: string;
  log: PinoLogger;
  /** Appends to the audit log as the current user (or `actor`), from the client's address. */
  audit(action: string, target: string, details?: Record<string, unknown>, actor?: string): Promise<void>;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown, R = unknown> {
  method: Method;
  /** OpenAPI form: /api/devices/{id}. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Success status (200 unless given) and body schema (none: 204). */
  status?: number;
  response?: z.ZodType<R>;
  /**
   * Checks the reply at run time instead of `response`, which still is what
   * the document shows: for large replies built by our own code (query
   * results), where checking every point would cost more than the query.
   */
  responseCheck?: z.ZodType;
  /** Codes this route answers beyond the common ones, for the document. */
  errors?: ErrorCode[];
  handler(ctx: Context<P, Q, B>): Promise<R>;
}

/** Declares a route with its types inferred from the schemas. */
export function route<P = Record<string, never>, Q = Record<string, never>, B = undefined, R = undefined>(def: RouteDef<P, Q, B, R>): RouteDef<P, Q, B, R> {
  return def;
}

export interface RouterDeps {
  sessions: Sessions;
  cache: Cache;
  audit: (entry: { actor: string; action: string; target: string; ip: string; details: Record<string, unknown> }) => Promise<unknown>;
  log: PinoLogger;
  metrics: ApiMetrics;
  /** API requests per user per minute; 0: unlimited. */
  rateLimit: number;
  corsOrigins: string[];
}

export function toSentioError(err: unknown, onUnavailable?: () => void): SentioError {
  if (err instanceof SentioError) {
    // The store and the cache classify their own failures to answer.
    if (err.code === 'SENTIO_ERR_STORE_UNAVAILABLE') onUnavailable?.();
    return err;
  }
  if (err instanceof StoreConflictError) return new SentioError('SENTIO_ERR_CONFLICT', err.message);
  return new SentioError('SENTIO_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}


const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
}

export class Router {
  readonly routes: RouteDef[] = [];

  constructor(private readonly deps: RouterDeps) {}

  add(...defs: RouteDef<any, any, any, any>[]): void {
    this.routes.push(...(defs as RouteDef[]));
  }

  private cors(origin: string): Record<string, string> {
    const allowed = this.deps.corsOrigins;
    if (origin === '' || allowed.length === 0) return {};
    if (allowed.includes('*')) return { 'access-control-allow-origin': '*' };
    return allowed.includes(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
  }

  /** Registers every route, plus 405 for other methods on its path and CORS preflight, on the app. */
  register(app: TemplatedApp): void {
    const methods = new Map<string, string[]>();
    for (const r of this.routes) {
      // OpenAPI's /devices/{id} is uWS's /devices/:id; parameters are read by position.
      const uwsPath = r.path.replace(/\{([^}]+)\}/g, ':$1');
      const names = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      app[r.method === 'delete' ? 'del' : r.method](uwsPath, (res, req) => this.handle(r, names, res, req));
      methods.set(uwsPath, [...(methods.get(uwsPath) ?? []), r.method.toUpperCase()]);
    }
    for (const [p, allowed] of methods) {
      app.any(p, (res, req) => {
        const state = watchAbort(res);
        if (req.getMethod() === 'options') return this.preflight(res, state, req.getHeader('origin'));
        const e = new SentioError('SENTIO_ERR_METHOD_NOT_ALLOWED', `${req.getMethod().toUpperCase()} is not allowed on ${req.getUrl()}; allowed: ${allowed.join(', ')}`);
        sendJson(res, state, e.status, { code: e.code, message: e.message }, { allow: allowed.join(', ') });
      });
    }
    app.options('/api/*', (res, req) => this.preflight(res, watchAbort(res), req.getHeader('origin')));
  }

  private preflight(res: HttpResponse, state: RequestState, origin: string): void {
    const headers = this.cors(origin);
    if (headers['access-control-allow-origin'] !== undefined) {
      headers['access-control-allow-methods'] = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
      headers['access-control-allow-headers'] = 'authorization, content-type, x-request-id';
      headers['access-control-max-age'] = '600';
    }
    send(res, state, 204, undefined, headers);
  }

  private handle(r: RouteDef, names: string[], res: HttpResponse, req: HttpRequest): void {
    const started = process.hrtime.bigint();
    const state = watchAbort(res);
    // Everything from `req` is read before the first await.
    const given = req.getHeader('x-request-id');
    const requestId = REQUEST_ID.test(given) ? given : randomUUID();
    const authorization = req.getHeader('authorization');
    const origin = req.getHeader('origin');
    const query = req.getQuery() ?? '';
    const encodedParams = names.map((_, i) => req.getParameter(i) ?? '');
    const ip = remoteAddress(res);
    const body = r.body ? readBody(res, req.getHeader('content-length'), MAX_BODY_BYTES) : undefined;
    const log = this.deps.log.child({ reqId: requestId });
    let user: AccessClaims | undefined;

    const finish = (status: number, payload: unknown): void => {
      // Observed before the reply leaves, so a client that reads /metrics next sees its own request.
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.deps.metrics.observe(r.method, r.path, status, seconds);
      const headers: Record<string, string> = { 'x-request-id': requestId, 'cache-control': 'no-store', ...this.cors(origin) };
      if (payload instanceof SentioError) {
        if (payload.status === 429 || payload.status === 503) {
          const ms = typeof payload.details?.retryAfterMs === 'number' ? payload.details.retryAfterMs : 1000;
          headers['retry-after'] = String(Math.max(1, Math.ceil(ms / 1000)));
        }
        if (payload.status === 401) headers['www-authenticate'] = 'Bearer realm="sentio"';
        const issues = payload.details?.issues !== undefined ? { issues: payload.details.issues } : {};
        sendJson(res, state, payload.status, { code: payload.code, message: payload.message, requestId, ...issues }, headers);
      } else if (payload === undefined) send(res, state, status, undefined, headers);
      else sendJson(res, state, status, payload, headers);
      const line = { method: r.method.toUpperCase(), route: r.path, status, ms: Math.round(seconds * 1e4) / 10, ip, user: user?.name };
      if (payload instanceof SentioError && payload.status >= 500) log.error({ ...line, code: payload.code, err: payload.cause ?? payload }, payload.message);
      else if (payload instanceof SentioError) log.info({ ...line, code: payload.code }, payload.message);
      else log.info(line, 'request');
    };
    const fail = (err: unknown): void => {
      const e = toSentioError(err, () => this.deps.metrics.controlError('api'));
      finish(e.status, e);
    };

    (async () => {
      // Malformed paths and query strings are refused before anything else (no lookup is spent on them).
      const rawParams = Object.fromEntries(names.map((n, i) => [n, decodePathParam(n, encodedParams[i]!)]));
      const queryEntries = groupQuery(query);
      if (r.access !== 'public') {
        const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
        if (bearer === undefined) throw new SentioError('SENTIO_ERR_UNAUTHORIZED', 'an access token is required: Authorization: Bearer <token> (POST /api/auth/login)');
        user = await this.deps.sessions.authenticate(bearer);
        if (roleRank[user.role] < roleRank[r.access]) throw new SentioError('SENTIO_ERR_FORBIDDEN', `${r.operationId} needs the role ${r.access} or above; you are ${user.role}`);
      }
      if (this.deps.rateLimit > 0) {
        const limit = this.deps.rateLimit;
        const t = await this.deps.cache.take(`api:${user ? `user:${user.sub}` : `ip:${ip}`}`, 1, limit / 60, limit);
        if (!t.ok) throw new SentioError('SENTIO_ERR_RATE_LIMITED', `over ${limit} API requests a minute`, { details: { retryAfterMs: t.retryAfterMs } });
      }
      const params = r.params ? r.params.safeParse(rawParams) : { success: true as const, data: {} };
      if (!params.success) throw validationError('path', params.error);
      const q = r.query ? r.query.safeParse(Object.fromEntries(queryEntries)) : { success: true as const, data: {} };
      if (!q.success) throw validationError('query', q.error);
      let parsedBody: unknown;
      if (body !== undefined && r.body !== undefined) {
        const raw = await body;
        let json: unknown;
        try {
          json = raw.byteLength === 0 ? undefined : JSON.parse(raw.toString('utf8'));
        } catch (err) {
          throw new SentioError('SENTIO_ERR_VALIDATION', `body: not JSON (${(err as Error).message})`);
        }
        const b = r.body.safeParse(json);
        if (!b.success) throw validationError('body', b.error);
        parsedBody = b.data;
      }
      const ctx: Context<unknown, unknown, unknown> = {
        params: params.data,
        query: q.data,
        body: parsedBody,
        user,
        ip,
        requestId,
        log,
        audit: async (action, target, details = {}, actor) => {
          await this.deps.audit({ actor: actor ?? (user ? `user:${user.name}` : 'anonymous'), action, target, ip, details: { ...details, requestId } });
        },
      };
      const out = await r.handler(ctx);
      if (r.response === undefined) return finish(r.status ?? 204, undefined);
      const checked = (r.responseCheck ?? r.response).safeParse(out);
      if (!checked.success) throw new SentioError('SENTIO_ERR_INTERNAL', `response of ${r.operationId} does not match its schema: ${checked.error.issues[0]?.message}`);
      finish(r.status ?? 200, checked.data);
    })().catch(fail);
    // A body that is never awaited (an early refusal) must not reject unhandled.
    body?.catch(() => {});
  }
}

/** Longest path parameter or query value accepted (ids, names and PromQL selectors are far shorter). */
const MAX_PARAM_CHARS = 16 * 1024;
/** C0 controls and DEL: no identifier or name of this API contains them (and PostgreSQL refuses NUL). */
const PATH_CONTROL = /[\u0000-\u001f\u007f]/;
/** The same, but tab and line breaks, which a pasted PromQL query may hold. */
const QUERY_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function checkText(where: string, value: string, control: RegExp): string {
  if (value.length > MAX_PARAM_CHARS) throw new SentioError('SENTIO_ERR_VALIDATION', `${where}: longer than ${MAX_PARAM_CHARS} characters`);
  if (control.test(value)) throw new SentioError('SENTIO_ERR_VALIDATION', `${where}: contains a control character`);
  return value;
}

/** A percent-encoded path segment, decoded; malformed escapes or bytes that are not UTF-8 are a validation error, not a throw out of the handler. */
function decodePathParam(name: string, encoded: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    throw new SentioError('SENTIO_ERR_VALIDATION', `path.${name}: malformed percent-encoding or not UTF-8`);
  }
  return checkText(`path.${name}`, decoded, PATH_CONTROL);
}

/** Query string to an object; repeated keys (match[]) become arrays. URLSearchParams never throws: bad escapes stay as they are, bad UTF-8 becomes U+FFFD. */
function groupQuery(query: string): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of new URLSearchParams(query)) {
    checkText(`query.${k.slice(0, 64)}`, v, QUERY_CONTROL);
    const prev = out.get(k);
    out.set(k, prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]);
  }
  return out;
}

