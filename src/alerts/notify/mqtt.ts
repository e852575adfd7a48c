// The MQTT channel: publishes the Notification's JSON (the webhook's body)
// to a topic made from a template, with the channel's QoS and retain flag.
// One client per channel, connected on the first send and kept; it
// reconnects on its own with a backoff doubling from 1 s to 30 s (reset on
// a successful connection).
//
// Edge cases: {rule} (the rule's name), {status} and {groupKey} are
// substituted with `+`, `#`, `/` and NUL replaced by `_`, so a value can
// neither add topic levels nor become a wildcard. A send is bounded by
// `timeoutMs` (default 10 s): connecting (while the broker is down the
// publish waits in the client's queue) and, at QoS >= 1, the broker's
// PUBACK/PUBCOMP; past it the send rejects, though a publish still
// queued in the client may go out once it connects (at-least-once: the
// payload's groupKey and sentAt let a consumer drop duplicates). The password is never logged.

import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../log/index.js';
import type { ChannelConfig, Notification } from '../types.js';

export type MqttConfig = Extract<ChannelConfig, { kind: 'mqtt' }>;

export const DEFAULT_MQTT_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

export function sanitiseTopicValue(v: string): string {
  return v.replace(/[+#/\u0000]/g, '_');
}

export function renderTopic(template: string, n: Notification): string {
  const values: Record<string, string> = { rule: n.rule.name, status: n.status, groupKey: n.groupKey };
  return template.replace(/\{(rule|status|groupKey)\}/g, (_, k: string) => sanitiseTopicValue(values[k]!));
}

export interface MqttDeps {
  name: string;
  log: Logger;
  signal: AbortSignal;
}

export interface MqttSender {
  send(n: Notification): Promise<void>;
  close(): Promise<void>;
}

export function createMqttSender(cfg: MqttConfig, deps: MqttDeps): MqttSender {
  const timeoutMs = cfg.timeoutMs ?? DEFAULT_MQTT_TIMEOUT_MS;
  const qos = cfg.qos ?? 1;
  let client: MqttClient | undefined;
  let lastError = '';

  function connect(): MqttClient {
    if (client) return client;
    const c = mqtt.connect(cfg.url, {
      clientId: `sentio-alerts-${Math.random().toString(36).slice(2, 10)}`,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: timeoutMs,
      ...(cfg.username !== undefined ? { username: cfg.username } : {}),
      ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    });
    c.on('connect', () => {
      c.options.reconnectPeriod = RECONNECT_MIN_MS;
      lastError = '';
    });
    c.on('close', () => {
      c.options.reconnectPeriod = Math.min(RECONNECT_MAX_MS, (c.options.reconnectPeriod ?? RECONNECT_MIN_MS) * 2);
    });
    c.on('error', (err) => {
      // The message names the failure (ECONNREFUSED, "Not authorized"), never the password.
      if (err.message !== lastError) deps.log.pino.warn({ component: 'alerts', channel: deps.name, err: err.message }, 'MQTT notification channel: broker error');
      lastError = err.message;
    });
    client = c;
    return c;
  }

  return {
    async send(n) {
      if (deps.signal.aborted) throw new Error(`mqtt ${deps.name}: channel closed`);
      const c = connect();
      const topic = renderTopic(cfg.topic, n);
      const payload = JSON.stringify(n);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`mqtt ${deps.name}: not published within ${timeoutMs} ms${lastError ? ` (${lastError})` : ''}`)), timeoutMs);
      });
      const publish = new Promise<void>((resolve, reject) => {
        c.publish(topic, payload, { qos, retain: cfg.retain ?? false }, (err) => (err ? reject(err) : resolve()));
      });
      // Lost races must not become unhandled rejections (a publish failing after its timeout).
      publish.catch(() => undefined);
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new Error(`mqtt ${deps.name}: channel closed`));
        deps.signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        await Promise.race([publish, timeout, aborted]);
      } finally {
        clearTimeout(timer);
        deps.signal.removeEventListener('abort', onAbort!);
      }
    },
    async close() {
      const c = client;
      client = undefined;
      if (c) await c.endAsync(true).catch(() => undefined);
    },
  };
}
