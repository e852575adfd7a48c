// The webhook channel: POSTs the Notification as JSON (as is), signed with
// HMAC-SHA256 when a secret is set; retried with exponential backoff and
// full jitter on network errors, timeouts, 408, 429 and 5xx; never on the
// other 4xx (the receiver refuses it: retrying would not change that).
//
// Edge cases: the idempotency id is derived from the notification (group,
// status, sentAt), so it is the same on every retry and if the same
// notification is sent again; the timestamp and signature are made afresh
// per attempt (a receiver may refuse old timestamps). Retry-After (seconds
// or an HTTP date) replaces the backoff, capped at MAX_BACKOFF_MS. The
// response body is discarded. Log lines name the URL's origin only (a path
// or query may hold a token); the secret and the custom headers are never
// logged.

import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../log/index.js';
import type { ChannelConfig, Notification } from '../types.js';

export type WebhookConfig = Extract<ChannelConfig, { kind: 'webhook' }>;

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 5;
/** Backoff before retry n (0-based): a random delay in [0, min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2^n)]. */
export const BASE_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export const USER_AGENT = `sentio/${VERSION}`;

/** The longest a send can take: every attempt timing out and every wait at its cap. */
export function webhookBoundMs(cfg: WebhookConfig): number {
  const retries = cfg.retries ?? DEFAULT_RETRIES;
  return (retries + 1) * (cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS) + retries * MAX_BACKOFF_MS;
}

/** Stable for the same notification: the same across retries. */
export function notificationId(n: Notification): string {
  return createHash('sha256').update(`${n.groupKey}\n${n.status}\n${n.sentAt}`).digest('hex').slice(0, 32);
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Retry-After in ms (delta seconds or an HTTP date), or undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

type Attempt = { ok: true } | { ok: false; retry: boolean; reason: string; waitMs?: number };

export interface WebhookDeps {
  name: string;
  log: Logger;
  now: () => number;
  /** Aborts the waits and the attempt in flight (the channel's close, the gateway's shutdown). */
  signal: AbortSignal;
  onAttempt: (outcome: 'sent' | 'retry' | 'failed') => void;
}

export function createWebhookSender(cfg: WebhookConfig, deps: WebhookDeps): (n: Notification) => Promise<void> {
  const timeoutMs = cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retries = cfg.retries ?? DEFAULT_RETRIES;
  const origin = new URL(cfg.url).origin;

  async function attempt(body: string, id: string): Promise<Attempt> {
    const timestamp = Math.floor(deps.now() / 1000);
    const headers: Record<string, string> = {
      ...cfg.headers,
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'x-sentio-notification-id': id,
    };
    if (cfg.secret !== undefined) {
      headers['x-sentio-timestamp'] = String(timestamp);
      headers['x-sentio-signature'] = signature(cfg.secret, timestamp, body);
    }
    let res: Response;
    try {
      res = await fetch(cfg.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([deps.signal, AbortSignal.timeout(timeoutMs)]) });
    } catch (err) {
      if (deps.signal.aborted) return { ok: false, retry: false, reason: 'channel closed' };
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { ok: false, retry: true, reason };
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { ok: true };
    const retry = res.status === 408 || res.status === 429 || res.status >= 500;
    const waitMs = retry ? retryAfterMs(res.headers.get('retry-after'), deps.now()) : undefined;
    return { ok: false, retry, reason: `HTTP ${res.status}`, ...(waitMs !== undefined ? { waitMs } : {}) };
  }

  return async function sendWebhook(n: Notification): Promise<void> {
    const body = JSON.stringify(n);
    const id = notificationId(n);
    for (let i = 0; ; i++) {
      if (deps.signal.aborted) throw new Error(`webhook ${deps.name}: channel closed`);
      const r = await attempt(body, id);
      if (r.ok) {
        deps.onAttempt('sent');
        return;
      }
      const last = !r.retry || i >= retries;
      deps.onAttempt(last ? 'failed' : 'retry');
      if (last) {
        const why = r.retry ? `after ${i + 1} attempts` : 'not retried';
        throw new Error(`webhook ${deps.name} (${origin}): ${r.reason} (${why})`);
      }
      const backoff = Math.random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** i);
      const wait = Math.min(MAX_BACKOFF_MS, r.waitMs ?? backoff);
      deps.log.pino.debug({ component: 'alerts', channel: deps.name, origin, attempt: i + 1, reason: r.reason, waitMs: Math.round(wait) }, 'webhook attempt failed; retrying');
      try {
        await sleep(wait, undefined, { signal: deps.signal });
      } catch {
        throw new Error(`webhook ${deps.name}: channel closed`);
      }
    }
  };
}
