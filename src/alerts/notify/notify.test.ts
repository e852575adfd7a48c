// The notification channels against real peers: a Node HTTP server in this
// test as the webhook receiver (signature checked with the secret,
// idempotency id across retries, 503 then success, no retry on 400, a
// receiver that never answers, Retry-After), a real Mosquitto subscribed
// to the topic at QoS 1, the log channel's lines, secrets absent from every
// log line, and parseChannelConfig naming the bad field.

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { freePort } from '../../../test/services/index.js';
import { type Mosquitto, startMosquitto } from '../../../test/services/mosquitto.js';
import { SentioError } from '../../errors.js';
import { createLogger, type Logger } from '../../log/index.js';
import type { ChannelConfig, Notification } from '../types.js';
import { createChannel, notificationId, parseChannelConfig, redactChannelConfig, USER_AGENT } from './index.js';
import { BASE_BACKOFF_MS } from './webhook.js';

function notification(status: 'firing' | 'resolved' = 'firing', ruleName = 'disk-full'): Notification {
  return {
    status,
    groupKey: `g${Math.random().toString(16).slice(2, 10)}`,
    rule: { id: 'r1', name: ruleName, severity: 'critical' },
    groupLabels: { site: 'p7' },
    alerts: [
      { ruleId: 'r1', fingerprint: 'ab12', labels: { alertname: ruleName, site: 'p7', device: 'm3' }, annotations: { summary: 'disk 97% full' }, state: status, value: 0.97, activeAt: '2026-12-08T01:00:00.000Z', firedAt: '2026-12-08T01:01:00.000Z', resolvedAt: status === 'resolved' ? '2026-12-08T01:05:00.000Z' : null },
    ],
    sentAt: new Date().toISOString(),
  };
}

interface Received {
  at: number;
  headers: IncomingMessage['headers'];
  body: string;
  status: number;
}

/** A receiver answering each request with the next status of `script` (the last one repeats); `null` never answers. */
async function receiver(script: Array<number | null | { status: number; headers: Record<string, string> }>): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const step = script[Math.min(got.length, script.length - 1)]!;
      const status = step === null ? 0 : typeof step === 'number' ? step : step.status;
      got.push({ at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      if (step === null) {
        hanging.push(res);
        return;
      }
      res.writeHead(status, typeof step === 'number' ? {} : step.headers).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook?token=abc`,
    got,
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', (l) => lines.push(l)), lines };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function verify(secret: string, headers: IncomingMessage['headers'], body: string): boolean {
  const ts = headers['x-sentio-timestamp'];
  const sig = headers['x-sentio-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
  const given = Buffer.from(sig);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

describe('webhook channel (real HTTP receiver)', () => {
  test('one signed POST: the body is the notification, the headers are documented, the signature verifies with the secret', async () => {
    const rx = await receiver([200]);
    const registry = new Registry();
    const ch = createChannel('ops', { kind: 'webhook', url: rx.url, secret: 's3cr3t-key', headers: { 'X-Team': 'ops' } }, { log: createLogger('error', () => undefined), registry });
    const n = notification();
    await ch.send(n);
    await rx.close();
    assert.equal(rx.got.length, 1);
    const r = rx.got[0]!;
    assert.deepEqual(JSON.parse(r.body), n);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['user-agent'], USER_AGENT);
    assert.match(USER_AGENT, /^sentio\/\d+\.\d+\.\d+/);
    assert.equal(r.headers['x-team'], 'ops');
    assert.equal(r.headers['x-sentio-notification-id'], notificationId(n));
    assert.ok(Math.abs(Number(r.headers['x-sentio-timestamp']) - Date.now() / 1000) < 5);
    assert.ok(verify('s3cr3t-key', r.headers, r.body), 'signature verifies with the secret');
    assert.ok(!verify('other-key', r.headers, r.body), 'and not with another key');
    assert.ok(!verify('s3cr3t-key', r.headers, r.body.replace('p7', 'p8')), 'nor over a changed body');
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { channel: 'ops', kind: 'webhook', outcome: 'sent' }), 1);
    assert.equal(await metric(registry, 'sentio_alert_notification_attempts_total', { channel: 'ops', kind: 'webhook', outcome: 'sent' }), 1);
    await ch.close();
  });

  test('503 twice then 200: retried, one body delivered, the same notification id on every attempt', async () => {
    const rx = await receiver([503, 503, 200]);
    const registry = new Registry();
    const ch = createChannel('ops', { kind: 'webhook', url: rx.url, secret: 'k', retries: 3 }, { log: createLogger('error', () => undefined), registry });
    const n = notification();
    await ch.send(n);
    await rx.close();
    assert.deepEqual(rx.got.map((g) => g.status), [503, 503, 200]);
    assert.equal(rx.got.filter((g) => g.status === 200).length, 1, 'exactly one delivered');
    assert.equal(new Set(rx.got.map((g) => g.headers['x-sentio-notification-id'])).size, 1);
    for (const g of rx.got) assert.ok(verify('k', g.headers, g.body), 'every attempt signed');
    assert.equal(await metric(registry, 'sentio_alert_notification_attempts_total', { outcome: 'retry' }), 2);
    assert.equal(await metric(registry, 'sentio_alert_notification_attempts_total', { outcome: 'sent' }), 1);
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { outcome: 'sent' }), 1);
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { outcome: 'failed' }), 0);
  });

  test('400: not retried; the send rejects and is counted failed', async () => {
    const rx = await receiver([400, 200]);
    const registry = new Registry();
    const ch = createChannel('ops', { kind: 'webhook', url: rx.url, retries: 3 }, { log: createLogger('error', () => undefined), registry });
    await assert.rejects(ch.send(notification()), /HTTP 400 \(not retried\)/);
    await rx.close();
    assert.equal(rx.got.length, 1);
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { outcome: 'failed' }), 1);
  });

  test('a receiver that never answers: each attempt times out and the send rejects within its bound', async () => {
    const rx = await receiver([null]);
    const registry = new Registry();
    const timeoutMs = 300;
    const ch = createChannel('slow', { kind: 'webhook', url: rx.url, timeoutMs, retries: 1 }, { log: createLogger('error', () => undefined), registry });
    const t0 = Date.now();
    await assert.rejects(ch.send(notification()), /no answer within 300 ms \(after 2 attempts\)/);
    const took = Date.now() - t0;
    await rx.close();
    assert.equal(rx.got.length, 2);
    assert.ok(took >= 2 * timeoutMs - 20, `took ${took} ms`);
    // Two timeouts and one backoff (at most BASE_BACKOFF_MS before the first retry), plus slack for a loaded machine.
    assert.ok(took < 2 * timeoutMs + BASE_BACKOFF_MS + 1000, `took ${took} ms`);
  });

  test('429 with Retry-After: 1 waits about a second before the retry', async () => {
    const rx = await receiver([{ status: 429, headers: { 'retry-after': '1' } }, 200]);
    const ch = createChannel('ops', { kind: 'webhook', url: rx.url }, { log: createLogger('error', () => undefined), registry: new Registry() });
    await ch.send(notification());
    await rx.close();
    assert.equal(rx.got.length, 2);
    const gap = rx.got[1]!.at - rx.got[0]!.at;
    assert.ok(gap >= 950, `retried after ${gap} ms`);
    assert.ok(gap < 3000, `retried after ${gap} ms`);
  });

  test('connection refused is retried, then rejects; close() aborts a send waiting to retry', async () => {
    const port = await freePort();
    const ch = createChannel('gone', { kind: 'webhook', url: `http://127.0.0.1:${port}/`, retries: 1 }, { log: createLogger('error', () => undefined), registry: new Registry() });
    await assert.rejects(ch.send(notification()), /ECONNREFUSED.*after 2 attempts/);
    const ch2 = createChannel('gone2', { kind: 'webhook', url: `http://127.0.0.1:${port}/`, retries: 10 }, { log: createLogger('error', () => undefined), registry: new Registry() });
    const pending = ch2.send(notification());
    await ch2.close();
    await assert.rejects(pending, /channel closed/);
  });
});

describe('MQTT channel (real Mosquitto)', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto({ users: { alerts: 'mq-pass-w0rd', watcher: 'watch' } });
  });
  after(async () => {
    await broker?.destroy();
  });

  test('publishes the JSON to the rendered topic at QoS 1 (resolved on PUBACK); substituted values cannot add levels or wildcards', async () => {
    const sub = await mqtt.connectAsync(broker.mqttUrl, { username: 'watcher', password: 'watch', clientId: 'watcher-1' });
    const got: Array<{ topic: string; payload: string; qos: number; retain: boolean }> = [];
    sub.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain }));
    await sub.subscribeAsync('alerts/#', { qos: 1 });
    const registry = new Registry();
    const ch = createChannel('plant', { kind: 'mqtt', url: broker.mqttUrl, topic: 'alerts/{rule}/{status}/{groupKey}', qos: 1, username: 'alerts', password: 'mq-pass-w0rd' }, { log: createLogger('error', () => undefined), registry });
    const n = notification('firing', 'disk/full+#');
    await ch.send(n);
    const r = notification('resolved', 'disk/full+#');
    await ch.send(r);
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((res) => sub.once('message', res));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.topic, `alerts/disk_full__/firing/${n.groupKey}`);
    assert.deepEqual(JSON.parse(got[0]!.payload), n);
    assert.equal(got[0]!.qos, 1);
    assert.equal(got[1]!.topic, `alerts/disk_full__/resolved/${r.groupKey}`);
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { channel: 'plant', kind: 'mqtt', outcome: 'sent' }), 2);
    await ch.close();
    await sub.endAsync();
  });

  test('retain: a subscriber arriving later gets the last notification', async () => {
    const ch = createChannel('retained', { kind: 'mqtt', url: broker.mqttUrl, topic: 'state/{rule}', qos: 1, retain: true, username: 'alerts', password: 'mq-pass-w0rd' }, { log: createLogger('error', () => undefined), registry: new Registry() });
    const n = notification('firing', 'retained-rule');
    await ch.send(n);
    const sub = await mqtt.connectAsync(broker.mqttUrl, { username: 'watcher', password: 'watch', clientId: 'watcher-2' });
    const msg = new Promise<{ payload: string; retain: boolean }>((res) => sub.once('message', (_t, p, packet) => res({ payload: p.toString('utf8'), retain: packet.retain })));
    await sub.subscribeAsync('state/retained-rule', { qos: 1 });
    const m = await msg;
    assert.equal(m.retain, true);
    assert.deepEqual(JSON.parse(m.payload), n);
    await ch.close();
    await sub.endAsync();
  });

  test('no broker: the send rejects within timeoutMs and is counted failed', async () => {
    const port = await freePort();
    const registry = new Registry();
    const ch = createChannel('nobroker', { kind: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topic: 'a/{status}', qos: 1, timeoutMs: 500 }, { log: createLogger('error', () => undefined), registry });
    const t0 = Date.now();
    await assert.rejects(ch.send(notification()), /not published within 500 ms/);
    const took = Date.now() - t0;
    assert.ok(took >= 480 && took < 2000, `took ${took} ms`);
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { outcome: 'failed' }), 1);
    await ch.close();
  });

  test('close() rejects a publish waiting for an unreachable broker at once', async () => {
    const port = await freePort();
    const ch = createChannel('closing', { kind: 'mqtt', url: `mqtt://127.0.0.1:${port}`, topic: 'a', timeoutMs: 60_000 }, { log: createLogger('error', () => undefined), registry: new Registry() });
    const t0 = Date.now();
    const pending = ch.send(notification());
    await ch.close();
    await assert.rejects(pending, /channel closed/);
    assert.ok(Date.now() - t0 < 5000);
  });

  test('secrets never reach the log: a failing signed webhook and a refused MQTT password', async () => {
    const { log, lines } = captureLogger();
    const rx = await receiver([500]);
    const hook = createChannel('hook', { kind: 'webhook', url: rx.url, secret: 'WEBHOOK-SECRET-123', retries: 1, headers: { Authorization: 'Bearer HEADER-TOKEN-456' } }, { log, registry: new Registry() });
    await assert.rejects(hook.send(notification()));
    await rx.close();
    const mq = createChannel('mq', { kind: 'mqtt', url: broker.mqttUrl, topic: 'x/{status}', username: 'alerts', password: 'WRONG-MQTT-PASS-789', timeoutMs: 800 }, { log, registry: new Registry() });
    await assert.rejects(mq.send(notification()), /not published within 800 ms/);
    await mq.close();
    const all = lines.join('\n');
    assert.match(all, /alert notification not delivered/);
    assert.match(all, /Not authorized|not authorized|Bad user name or password/i);
    for (const secret of ['WEBHOOK-SECRET-123', 'HEADER-TOKEN-456', 'WRONG-MQTT-PASS-789', 'token=abc']) assert.ok(!all.includes(secret), `${secret} in the log`);
  });
});

describe('log channel', () => {
  test('one structured line per notification: warn when firing, info when resolved', async () => {
    const { log, lines } = captureLogger();
    const registry = new Registry();
    const ch = createChannel('audit', { kind: 'log' }, { log, registry });
    const f = notification('firing');
    const r = notification('resolved');
    await ch.send(f);
    await ch.send(r);
    assert.equal(lines.length, 2);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(a!.level, 'warn');
    assert.equal(a!.groupKey, f.groupKey);
    assert.equal(a!.status, 'firing');
    assert.equal(a!.channel, 'audit');
    assert.deepEqual(a!.groupLabels, { site: 'p7' });
    assert.equal((a!.alerts as unknown[]).length, 1);
    assert.equal(b!.level, 'info');
    assert.equal(b!.status, 'resolved');
    assert.equal(await metric(registry, 'sentio_alert_notifications_total', { channel: 'audit', kind: 'log', outcome: 'sent' }), 2);
  });
});

describe('parseChannelConfig and redactChannelConfig', () => {
  function field(input: unknown): string {
    try {
      parseChannelConfig(input);
    } catch (err) {
      assert.ok(err instanceof SentioError);
      assert.equal(err.code, 'SENTIO_ERR_BAD_CHANNEL');
      assert.equal(err.status, 400);
      const f = err.details?.field as string;
      assert.ok(err.message.startsWith(`${f}: `), err.message);
      return f;
    }
    assert.fail('accepted');
  }

  test('bad input names the field', () => {
    assert.equal(field(null), 'config');
    assert.equal(field({ kind: 'email' }), 'kind');
    assert.equal(field({ kind: 'webhook' }), 'url');
    assert.equal(field({ kind: 'webhook', url: 'ftp://x/' }), 'url');
    assert.equal(field({ kind: 'webhook', url: 'not a url' }), 'url');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', retries: -1 }), 'retries');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', timeoutMs: 1.5 }), 'timeoutMs');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', secret: '' }), 'secret');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', headers: { 'X-Sentio-Signature': 'x' } }), 'headers.X-Sentio-Signature');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', headers: { 'X-A': 'a\r\nb' } }), 'headers.X-A');
    assert.equal(field({ kind: 'webhook', url: 'https://x/', sekret: 'x' }), 'sekret');
    assert.equal(field({ kind: 'mqtt', url: 'mqtt://b' }), 'topic');
    assert.equal(field({ kind: 'mqtt', url: 'mqtt://b', topic: 'a/#' }), 'topic');
    assert.equal(field({ kind: 'mqtt', url: 'mqtt://b', topic: 'a/+/b' }), 'topic');
    assert.equal(field({ kind: 'mqtt', url: 'http://b', topic: 'a' }), 'url');
    assert.equal(field({ kind: 'mqtt', url: 'mqtt://b', topic: 'a', qos: 3 }), 'qos');
    assert.equal(field({ kind: 'mqtt', url: 'mqtt://b', topic: 'a', retain: 'yes' }), 'retain');
    assert.equal(field({ kind: 'log', url: 'x' }), 'url');
  });

  test('good input comes back normalised; redaction drops the secrets and says whether they are set', () => {
    const hook: ChannelConfig = { kind: 'webhook', url: 'https://h.example/x', secret: 's', timeoutMs: 5000, retries: 2, headers: { 'X-A': 'b' } };
    assert.deepEqual(parseChannelConfig(hook), hook);
    const mq: ChannelConfig = { kind: 'mqtt', url: 'mqtts://b:8883', topic: 'alerts/{rule}/{status}', qos: 2, retain: true, username: 'u', password: 'p', timeoutMs: 3000 };
    assert.deepEqual(parseChannelConfig(mq), mq);
    assert.deepEqual(parseChannelConfig({ kind: 'log' }), { kind: 'log' });
    assert.deepEqual(redactChannelConfig(hook), { kind: 'webhook', url: 'https://h.example/x', timeoutMs: 5000, retries: 2, headers: { 'X-A': 'b' }, hasSecret: true });
    assert.deepEqual(redactChannelConfig({ kind: 'webhook', url: 'https://h/' }), { kind: 'webhook', url: 'https://h/', hasSecret: false });
    const r = redactChannelConfig(mq);
    assert.equal(r.password, undefined);
    assert.equal(r.hasPassword, true);
    assert.equal(r.username, 'u');
  });
});
