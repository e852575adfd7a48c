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
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON (a proxy's page, say)
  }
  const ra = Number(res.headers.get('retry-after'));
  return new ApiError(res.status, code, message, Number.isFinite(ra) && ra > 0 ? ra : undefined);
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

/** A JSON request to the API with the session's token; refreshes once on an expired token. */
export async function api<T>(method: string, path: string, opts: { body?: unknown; query?: Query } = {}): Promise<T> {
  const url = path + queryString(opts.query);
  if (access !== null && access.expiresAtMs - Date.now() < 5_000) await refresh();
  let res = await send(method, url, opts.body, accessToken());
  if (res.status === 401) {
    const err = await parseError(res);
    if (err.code !== 'SENTIO_ERR_TOKEN_EXPIRED' || !(await refresh())) {
      if (err.code !== 'SENTIO_ERR_LOGIN_FAILED') endSession();
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
