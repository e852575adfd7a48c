// The REST client and the login session.
//
// The access token (a JWT, 15 minutes by default) lives only in memory; the
// refresh token in localStorage, so a reload or a second tab stays logged in.
// Refresh tokens rotate on every use and a reused one revokes the whole
// session, so refreshes are serialised across tabs (Web Locks) and always
// read the newest stored token first.

import { createSignal } from 'solid-js';

export type Role = 'viewer' | 'operator' | 'admin';
export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}
interface TokenPair {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
  user: User;
}

const REFRESH_KEY = 'sentio.refreshToken';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

/** An error reply of the API (or `code: 'NETWORK'` when the server could not be reached). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Each problem of a refused request (400 SENTIO_ERR_VALIDATION). */
    readonly issues: ReadonlyArray<{ path: string; message: string }> = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const [user, setUser] = createSignal<User | null>(null);
const [restoring, setRestoring] = createSignal(true);
/** The logged-in user, or null. */
export { user, restoring };

let access: { token: string; expiresAtMs: number } | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
/** While set, a password change is under way: the server revokes every token issued so far and this tab logs in again; resolves to whether it did. */
let renewal: Promise<boolean> | null = null;
const tokenListeners = new Set<(token: string | null) => void>();

export function accessToken(): string | null {
  return access?.token ?? null;
}
export function accessExpiresAtMs(): number {
  return access?.expiresAtMs ?? 0;
}
/** Called with each new access token (null at logout). */
export function onAccessToken(listener: (token: string | null) => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

export function roleAtLeast(role: Role): boolean {
  const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
  const u = user();
  return u !== null && rank[u.role] >= rank[role];
}

function storedRefresh(): string | null {
  try {
    return localStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}
function storeRefresh(token: string | null): void {
  try {
    if (token === null) localStorage.removeItem(REFRESH_KEY);
    else localStorage.setItem(REFRESH_KEY, token);
  } catch {
    // storage disabled: the session lasts as long as the page
  }
}

function adopt(pair: TokenPair): void {
  access = { token: pair.accessToken, expiresAtMs: Date.now() + pair.expiresIn * 1000 };
  storeRefresh(pair.refreshToken);
  setUser(pair.user);
  scheduleRefresh(Math.max(5_000, Math.min(pair.expiresIn * 1000 - REFRESH_MARGIN_MS, pair.expiresIn * 800)));
  for (const l of tokenListeners) l(pair.accessToken);
}

function scheduleRefresh(delayMs: number): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    // Unreachable gateway: try again soon; the access token may still be valid a while.
    refresh().catch(() => scheduleRefresh(10_000));
  }, delayMs);
}

function endSession(): void {
  clearTimeout(refreshTimer);
  access = null;
  storeRefresh(null);
  setUser(null);
  for (const l of tokenListeners) l(null);
}

async function parseError(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let issues: Array<{ path: string; message: string }> = [];
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown; issues?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
    if (Array.isArray(body.issues)) {
      issues = body.issues
        .filter((i): i is { path: unknown; message: string } => typeof i === 'object' && i !== null && typeof (i as { message?: unknown }).message === 'string')
        .map((i) => ({ path: typeof i.path === 'string' ? i.path : '', message: i.message }));
    }
  } catch {
    // not JSON (a proxy's page, say)
  }
  const ra = Number(res.headers.get('retry-after'));
  return new ApiError(res.status, code, message, Number.isFinite(ra) && ra > 0 ? ra : undefined, issues);
}

async function send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== null) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the gateway could not be reached (${(err as Error).message})`);
  }
}

/** Exchanges the stored refresh token for a new pair; false when the session is over. Concurrent calls share one exchange. */
export function refresh(): Promise<boolean> {
  // The stored refresh token is about to be revoked and replaced by a new login.
  if (renewal !== null) return renewal.then((ok) => ok || refresh());
  refreshing ??= (async () => {
    const run = async (): Promise<boolean> => {
      const token = storedRefresh();
      if (token === null) {
        endSession();
        return false;
      }
      const res = await send('POST', '/api/auth/refresh', { refreshToken: token }, null);
      if (res.ok) {
        adopt((await res.json()) as TokenPair);
        return true;
      }
      const err = await parseError(res);
      if (res.status === 401 || res.status === 400) {
        // A newer token may have been stored by another tab meanwhile.
        if (storedRefresh() !== token) return run();
        // Refused because a password change revoked it just now: the new login decides.
        if (renewal !== null && (await renewal)) return true;
        endSession();
        return false;
      }
      throw err;
    };
    try {
      return await (navigator.locks ? navigator.locks.request('sentio.refresh', run) : run());
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** On page load: resumes the session of the stored refresh token, if any. */
export async function restore(): Promise<void> {
  try {
    if (storedRefresh() !== null) await refresh();
  } catch {
    // Gateway unreachable: the login page says so on the next try; the refresh token stays.
  } finally {
    setRestoring(false);
  }
}

export async function login(username: string, password: string): Promise<void> {
  const res = await send('POST', '/api/auth/login', { username, password }, null);
  if (!res.ok) throw await parseError(res);
  adopt((await res.json()) as TokenPair);
}

export async function logout(): Promise<void> {
  const refreshToken = storedRefresh();
  const token = accessToken();
  endSession();
  if (refreshToken !== null) {
    try {
      await send('POST', '/api/auth/logout', { refreshToken }, token);
    } catch {
      // logged out here anyway; the session expires on its own
    }
  }
}

// Another tab logged out (or in as someone else): follow it.
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key !== REFRESH_KEY) return;
    if (e.newValue === null && access !== null) endSession();
  });
}

type Query = Record<string, string | number | boolean | undefined | Array<string>>;

export function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * After a 401 for `used`: whether a newer access token is there to retry with.
 * One is when a password change here logged in again, or a refresh got one.
 * A revoked one (a password change in another tab of this browser) is also
 * worth a refresh: that tab stored the refresh token of its new login.
 */
async function renewedSince(used: string | null, err: ApiError): Promise<boolean> {
  if (renewal !== null) await renewal;
  if (access !== null && access.token !== used) return true;
  if (err.code !== 'SENTIO_ERR_TOKEN_EXPIRED' && err.code !== 'SENTIO_ERR_UNAUTHORIZED') return false;
  return refresh();
}

/** A JSON request to the API with the session's token; on a 401, retries once with a refreshed (or newer) token. */
export async function api<T>(method: string, path: string, opts: { body?: unknown; query?: Query } = {}): Promise<T> {
  const url = path + queryString(opts.query);
  if (access !== null && access.expiresAtMs - Date.now() < 5_000) await refresh();
  const used = accessToken();
  let res = await send(method, url, opts.body, used);
  if (res.status === 401) {
    const err = await parseError(res);
    if (err.code === 'SENTIO_ERR_LOGIN_FAILED') throw err;
    if (!(await renewedSince(used, err))) {
      endSession();
      throw err;
    }
    res = await send(method, url, opts.body, accessToken());
    if (res.status === 401) {
      endSession();
      throw await parseError(res);
    }
  }
  if (!res.ok) throw await parseError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Changes the user's own password (PUT /api/auth/password). The server then
 * revokes every token of the user issued so far, this tab's too, and ends the
 * other sessions; so this logs in again with the new password and checks
 * the new token. Requests refused meanwhile wait for the new login and are
 * retried with it.
 */
export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  const me = user();
  if (me === null) throw new ApiError(401, 'SENTIO_ERR_UNAUTHORIZED', 'You are logged out: log in again.');
  if (access !== null && access.expiresAtMs - Date.now() < 5_000) await refresh();
  let changed = false;
  const run = (async (): Promise<void> => {
    const res = await send('PUT', '/api/auth/password', { currentPassword, newPassword }, accessToken());
    if (!res.ok) throw await parseError(res);
    changed = true;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await sleep(500);
      try {
        await login(me.username, newPassword);
        const check = await send('GET', '/api/auth/me', undefined, accessToken());
        await check.arrayBuffer();
        if (check.ok) return;
        lastError = new ApiError(check.status, `HTTP_${check.status}`, 'the new session was refused');
      } catch (err) {
        lastError = err;
        if (err instanceof ApiError && err.code === 'SENTIO_ERR_LOGIN_FAILED') break;
      }
    }
    throw lastError;
  })();
  renewal = run.then(
    () => true,
    () => false,
  );
  try {
    await run;
  } catch (err) {
    if (!changed) throw err;
    endSession();
    throw new ApiError(0, 'RELOGIN_FAILED', `The password was changed, but logging in again failed (${describeError(err)}). Log in with the new password.`);
  } finally {
    renewal = null;
  }
}

export const get = <T>(path: string, query?: Query) => api<T>('GET', path, { query });
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, { body });
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, { body });
export const del = <T = void>(path: string) => api<T>('DELETE', path);

/** A readable sentence for any error thrown by the client. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'NETWORK') return 'The gateway is unreachable. Check that it is running and try again.';
    if (err.code === 'SENTIO_ERR_RATE_LIMITED') return `Too many requests: try again in ${err.retryAfterSeconds ?? 'a few'} s.`;
    if (err.code === 'SENTIO_ERR_FORBIDDEN') return `Not allowed: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function wsUrl(path: string): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`;
}
