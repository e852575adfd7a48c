// Alert notification channels: webhook, MQTT and the log. Each gets the
// Notification (src/alerts/types.ts) and delivers it as is, as JSON.
//
// Wire formats (docs/notifications.md):
// - webhook: `POST <url>`, body = JSON.stringify(notification), headers
//   `Content-Type: application/json`, `User-Agent: sentio/<version>`,
//   `X-Sentio-Notification-Id` (stable for the same notification across
//   retries), and with a secret `X-Sentio-Timestamp: <unix seconds>` and
//   `X-Sentio-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//   Retried on network errors, timeouts, 408, 429 (Retry-After honoured,
//   capped at 30 s) and 5xx; not on other 4xx.
// - mqtt: the same JSON published to the topic template ({rule}, {status},
//   {groupKey}; `+ # /` in values become `_`) at the channel's QoS (default 1:
//   the send resolves on the PUBACK) and retain flag.
// - log: one structured line, warn when firing, info when resolved.
//
// Edge cases: `send` never throws synchronously; it resolves once delivered
// and rejects once it gave up, within a bound: webhook (retries + 1) ×
// timeoutMs + retries × 30 s (defaults 5, 10 s: 210 s), mqtt timeoutMs
// (default 10 s), log at once. `close` (or deps.signal) aborts sends in
// flight: they reject. Each send is counted in
// sentio_alert_notifications_total (sent or failed): a dropped notification
// is a `failed` one. Secrets (webhook secret, custom headers, mqtt password)
// are never logged nor returned by redactChannelConfig.

import type { Registry } from 'prom-client';
import { SentioError } from '../../errors.js';
import type { Logger } from '../../log/index.js';
import type { ChannelConfig, ChannelKind, Notification } from '../types.js';
import { logNotification } from './log.js';
import { notifyMetrics } from './metrics.js';
import { createMqttSender } from './mqtt.js';
import { createWebhookSender } from './webhook.js';

export { notificationId, signature, webhookBoundMs, USER_AGENT } from './webhook.js';
export { renderTopic } from './mqtt.js';

export interface Channel {
  readonly kind: ChannelKind;
  send(n: Notification): Promise<void>;
  close(): Promise<void>;
}

export interface ChannelDeps {
  log: Logger;
  registry: Registry;
  now?: () => number;
  signal?: AbortSignal;
}

export function createChannel(name: string, cfg: ChannelConfig, deps: ChannelDeps): Channel {
  const metrics = notifyMetrics(deps.registry);
  const closed = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, closed.signal]) : closed.signal;
  const now = deps.now ?? Date.now;
  const kind = cfg.kind;
  const onAttempt = (outcome: 'sent' | 'retry' | 'failed') => metrics.attempts.inc({ channel: name, kind, outcome });

  let deliver: (n: Notification) => Promise<void>;
  let shut: () => Promise<void> = async () => undefined;
  switch (cfg.kind) {
    case 'webhook':
      deliver = createWebhookSender(cfg, { name, log: deps.log, now, signal, onAttempt });
      break;
    case 'mqtt': {
      const sender = createMqttSender(cfg, { name, log: deps.log, signal });
      deliver = async (n) => {
        try {
          await sender.send(n);
          onAttempt('sent');
        } catch (err) {
          onAttempt('failed');
          throw err;
        }
      };
      shut = () => sender.close();
      break;
    }
    case 'log':
      deliver = async (n) => {
        logNotification(deps.log, name, n);
        onAttempt('sent');
      };
      break;
  }

  return {
    kind,
    send(n: Notification): Promise<void> {
      const start = performance.now();
      return (async () => deliver(n))().then(
        () => {
          metrics.notifications.inc({ channel: name, kind, outcome: 'sent' });
          metrics.seconds.observe({ kind }, (performance.now() - start) / 1000);
        },
        (err: unknown) => {
          metrics.notifications.inc({ channel: name, kind, outcome: 'failed' });
          metrics.seconds.observe({ kind }, (performance.now() - start) / 1000);
          const message = err instanceof Error ? err.message : String(err);
          deps.log.pino.warn({ component: 'alerts', channel: name, kind, groupKey: n.groupKey, status: n.status, err: message }, 'alert notification not delivered');
          throw err instanceof Error ? err : new Error(message);
        },
      );
    },
    async close() {
      closed.abort();
      await shut();
    },
  };
}

function bad(field: string, problem: string): SentioError {
  return new SentioError('SENTIO_ERR_BAD_CHANNEL', `${field}: ${problem}`, { details: { field } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = o[field];
  if (v === undefined) {
    if (required) throw bad(field, 'required');
    return undefined;
  }
  if (typeof v !== 'string' || v === '') throw bad(field, 'must be a non-empty string');
  return v;
}

function int(o: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(field, `must be an integer from ${min} to ${max}`);
  return v;
}

function url(o: Record<string, unknown>, protocols: string[]): string {
  const raw = str(o, 'url', true)!;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad('url', 'not a valid URL');
  }
  if (!protocols.includes(u.protocol)) throw bad('url', `must use ${protocols.map((p) => p.slice(0, -1)).join(', ')}`);
  return raw;
}

function onlyKnown(o: Record<string, unknown>, known: string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) throw bad(k, 'unknown field');
}

// Headers the channel sets itself: a custom one must not replace them.
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'user-agent', 'host', 'x-sentio-notification-id', 'x-sentio-timestamp', 'x-sentio-signature']);

/** Validates a channel config from the API: returns it normalised, or throws SentioError with a stable code naming the bad field. */
export function parseChannelConfig(input: unknown): ChannelConfig {
  if (!isObject(input)) throw bad('config', 'must be an object');
  const kind = input.kind;
  if (kind === 'log') {
    onlyKnown(input, ['kind']);
    return { kind: 'log' };
  }
  if (kind === 'webhook') {
    onlyKnown(input, ['kind', 'url', 'secret', 'timeoutMs', 'retries', 'headers']);
    const cfg: ChannelConfig = { kind, url: url(input, ['http:', 'https:']) };
    const secret = str(input, 'secret', false);
    if (secret !== undefined) cfg.secret = secret;
    const timeoutMs = int(input, 'timeoutMs', 100, 120_000);
    if (timeoutMs !== undefined) cfg.timeoutMs = timeoutMs;
    const retries = int(input, 'retries', 0, 10);
    if (retries !== undefined) cfg.retries = retries;
    if (input.headers !== undefined) {
      if (!isObject(input.headers)) throw bad('headers', 'must be an object of strings');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(input.headers)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) throw bad(`headers.${k}`, 'not a valid header name');
        if (RESERVED_HEADERS.has(k.toLowerCase())) throw bad(`headers.${k}`, 'set by Sentio itself');
        if (typeof v !== 'string' || /[\r\n\0]/.test(v)) throw bad(`headers.${k}`, 'must be a string without line breaks');
        headers[k] = v;
      }
      cfg.headers = headers;
    }
    return cfg;
  }
  if (kind === 'mqtt') {
    onlyKnown(input, ['kind', 'url', 'topic', 'qos', 'retain', 'username', 'password', 'timeoutMs']);
    const topic = str(input, 'topic', true)!;
    if (/[+#]/.test(topic.replace(/\{(rule|status|groupKey)\}/g, ''))) throw bad('topic', 'must not contain the wildcards + or #');
    if (topic.includes('\u0000')) throw bad('topic', 'must not contain NUL');
    const cfg: ChannelConfig = { kind, url: url(input, ['mqtt:', 'mqtts:', 'ws:', 'wss:']), topic };
    if (input.qos !== undefined) {
      if (input.qos !== 0 && input.qos !== 1 && input.qos !== 2) throw bad('qos', 'must be 0, 1 or 2');
      cfg.qos = input.qos;
    }
    if (input.retain !== undefined) {
      if (typeof input.retain !== 'boolean') throw bad('retain', 'must be a boolean');
      cfg.retain = input.retain;
    }
    const username = str(input, 'username', false);
    if (username !== undefined) cfg.username = username;
    const password = str(input, 'password', false);
    if (password !== undefined) cfg.password = password;
    const timeoutMs = int(input, 'timeoutMs', 100, 120_000);
    if (timeoutMs !== undefined) cfg.timeoutMs = timeoutMs;
    return cfg;
  }
  throw bad('kind', 'must be webhook, mqtt or log');
}

/** The config with secrets (webhook secret, mqtt password) removed, plus `hasSecret`/`hasPassword` booleans, for API answers. */
export function redactChannelConfig(cfg: ChannelConfig): Record<string, unknown> {
  if (cfg.kind === 'webhook') {
    const { secret, ...rest } = cfg;
    return { ...rest, hasSecret: secret !== undefined };
  }
  if (cfg.kind === 'mqtt') {
    const { password, ...rest } = cfg;
    return { ...rest, hasPassword: password !== undefined };
  }
  return { ...cfg };
}
