// MQTT connector: subscribes to topic patterns on a broker (MQTT 3.1.1 or
// 5, mqtt:// or mqtts:// with a CA and client certificates, username and
// password) and writes what arrives: line protocol parsed by the native core,
// JSON, msgpack and plain values mapped to typed readings (./codec.ts),
// and Zigbee2MQTT bridges (./zigbee2mqtt.ts). Samples carry the label
// `connector` and the topic's captures (./topic.ts).
//
// Staleness (../staleness.ts): the series of decoded formats learn their
// intervals; a device is a Zigbee2MQTT device (by IEEE address), or for the
// other formats one value of a subscription's captures (`plant/{site}/
// {device}/#`: one device per site and device); a subscription without
// captures has series but no devices.
//
// Delivery:
// - QoS 1 messages are acknowledged (PUBACK) only once everything in them is
//   stored by the pipeline (an ack of every sink they are routed to), in the
//   order they arrived, as MQTT requires. The session is persistent
//   (`clean: false`, a fixed client id; MQTT 5: a session expiry), so a
//   message not acknowledged when the gateway stops or dies is delivered
//   again by the broker when it reconnects: at least once.
// - mqtt.js handles one incoming packet at a time and sends the PUBACK
//   right after its message handler, so holding the handler until the batch
//   is stored would store one message per batch. Instead the PUBACK that the
//   library is about to send is held here (its `_sendPacket`, the one point
//   all packets pass) and sent once the message is stored, while the next
//   messages are read. The broker's in-flight window (Mosquitto's
//   max_inflight_messages, MQTT 5's receive maximum) bounds what is held.
// - A message that cannot be decoded is counted (unparseable), its error
//   kept as the status' last error, and acknowledged: delivered again it
//   would fail again.
// - Backpressure: once the samples pending reach the batcher's bound (or
//   MAX_INFLIGHT_WRITES line-protocol messages are being written), the next
//   message is held in mqtt.js' handleMessage (its hook for this) until half
//   of the bound is stored (or a write ends); the library reads nothing
//   meanwhile, so TCP pushes back and the broker holds what comes (QoS 1:
//   within its in-flight window; QoS 0: within its own queue limits) instead
//   of Sentio dropping it. A QoS 0 message that still finds the bound
//   reached is dropped, counted.
// - Reconnects use exponential backoff with full jitter (not mqtt.js'
//   fixed period); a broker refusing the credentials puts the connector in
//   `failed` and it tries again at the longest backoff.

import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Principal } from '../../auth/index.js';
import { SentioError } from '../../errors.js';
import { Backoff } from '../backoff.js';
import { ReadingsBatcher, writeWithRetry } from '../batcher.js';
import type { Connector, ConnectorContext } from '../types.js';
import { type Decoder, DecodeError, RecordDecoder, ValueDecoder } from './codec.js';
import type { MqttConfig, Subscription } from './config.js';
import { parseTopicPattern, type TopicPattern } from './topic.js';
import { Zigbee2MqttDecoder, type ZigbeeHooks } from './zigbee2mqtt.js';

export const PROTOCOL = 'mqtt';

/** How long stop() lets pending messages be stored before it disconnects. */
const STOP_GRACE_MS = 5000;
/** MQTT 5: the most unacknowledged QoS 1 messages the broker may send us. */
const RECEIVE_MAXIMUM = 1000;
/** Line-protocol messages being written at once, beyond which the next message waits (backpressure). */
const MAX_INFLIGHT_WRITES = 10_000;
const DEFAULT_SESSION_EXPIRY_S = 86_400;

interface Route {
  sub: Subscription;
  pattern: TopicPattern;
  qos: 0 | 1;
  /** Undefined for line protocol (parsed by the core). */
  decoder: Decoder | undefined;
  /** Whether its captures name a device (a generic subscription with captures). */
  devices: boolean;
}

/** A QoS 1 message waiting for its PUBACK: sent once `stored` and the library has asked to send it. */
interface Held {
  messageId: number;
  stored: boolean;
  failed: boolean;
  puback?: unknown;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

function decoderFor(sub: Subscription, zigbee: ZigbeeHooks): Decoder | undefined {
  switch (sub.format) {
    case 'influx':
      return undefined;
    case 'json':
    case 'msgpack':
      return new RecordDecoder(sub, sub.format);
    case 'value':
      return new ValueDecoder(sub.measurement);
    case 'zigbee2mqtt':
      return new Zigbee2MqttDecoder(sub.topic, zigbee);
  }
}

/** CONNACK codes (3.1.1) and reason codes (5) that mean the broker refuses these credentials. */
const AUTH_REFUSED = new Set([4, 5, 0x86, 0x87, 0x8c]);

export class MqttConnector implements Connector {
  private client: MqttClient | undefined;
  private readonly routes: Route[];
  private readonly batcher: ReadingsBatcher;
  private readonly backoff = new Backoff({ baseMs: 500, maxMs: 60_000 });
  private readonly writeBackoff = new Backoff({ baseMs: 100, maxMs: 10_000 });
  private readonly stopping = new AbortController();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** QoS 1 messages of this connection, in arrival order, until acknowledged. */
  private held: Held[] = [];
  private heldById = new Map<number, Held>();
  private sendPacket: SendPacket | undefined;
  private writes = new Set<Promise<unknown>>();
  private readonly principal: Principal;

  constructor(
    private readonly cfg: MqttConfig,
    private readonly ctx: ConnectorContext,
  ) {
    const { watch } = ctx.status;
    const zigbee: ZigbeeHooks = {
      device: (e) => watch.device(e.key, e.labels, e.ts, e.online),
      bridge: (base, online) => {
        if (!online) this.failed(`the Zigbee2MQTT bridge at ${base} is offline`);
      },
    };
    this.routes = cfg.subscriptions.map((sub) => {
      const z = sub.format === 'zigbee2mqtt';
      const pattern = parseTopicPattern(z ? `${sub.topic}/#` : sub.topic);
      return { sub, pattern, qos: sub.qos ?? cfg.qos ?? 1, decoder: decoderFor(sub, zigbee), devices: !z && /\{[A-Za-z_]/.test(sub.topic) };
    });
    this.principal = { key: `connector:${ctx.name}`, labels: { connector: ctx.name } };
    this.batcher = new ReadingsBatcher({ port: ctx.port, protocol: PROTOCOL, principal: this.principal, status: ctx.status, watch });
  }

  private options(): IClientOptions {
    const c = this.cfg;
    const v5 = c.protocolVersion === 5;
    return {
      protocolVersion: c.protocolVersion ?? 4,
      clientId: c.clientId ?? `sentio-${this.ctx.name}`,
      clean: false,
      ...(v5 ? { properties: { sessionExpiryInterval: c.sessionExpirySeconds ?? DEFAULT_SESSION_EXPIRY_S, receiveMaximum: RECEIVE_MAXIMUM } } : {}),
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      keepalive: c.keepaliveSeconds ?? 30,
      connectTimeout: 10_000,
      // Reconnects are ours (backoff with jitter), not the library's fixed period.
      reconnectPeriod: 0,
      resubscribe: false,
      ...(c.tls?.ca !== undefined ? { ca: c.tls.ca } : {}),
      ...(c.tls?.cert !== undefined ? { cert: c.tls.cert } : {}),
      ...(c.tls?.key !== undefined ? { key: c.tls.key } : {}),
      ...(c.tls?.servername !== undefined ? { servername: c.tls.servername } : {}),
      rejectUnauthorized: c.tls?.rejectUnauthorized ?? true,
    };
  }

  async start(): Promise<void> {
    const { status } = this.ctx;
    status.set('connecting');
    const client = mqtt.connect(this.cfg.url, this.options());
    this.client = client;
    this.holdPubacks(client);
    // One message at a time passes here before the library handles it: held while too much is pending (the file's comment).
    client.handleMessage = (_packet, callback) => {
      if (this.batcher.full) return void this.batcher.drained().then(() => callback());
      if (this.writes.size >= MAX_INFLIGHT_WRITES) return void Promise.race(this.writes).then(() => callback(), () => callback());
      callback();
    };
    client.on('connect', (connack) => {
      status.set('up');
      status.success();
      this.backoff.reset();
      this.ctx.log.info(`connector ${this.ctx.name}: connected to ${redactUrl(this.cfg.url)}${connack.sessionPresent ? ' (session resumed)' : ''}`);
      // Subscribing again on a resumed session is harmless, and picks up filters the session lacks.
      const filters: Record<string, { qos: 0 | 1 }> = {};
      for (const r of this.routes) filters[r.pattern.filter] = { qos: Math.max(filters[r.pattern.filter]?.qos ?? 0, r.qos) as 0 | 1 };
      client.subscribe(filters, (err, granted) => {
        if (err) return this.failed(`subscribe: ${err.message}`);
        const refused = (granted ?? []).filter((g) => g.qos === 128);
        if (refused.length > 0) this.failed(`the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}`);
      });
    });
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('error', (err) => {
      const code = (err as { code?: number }).code;
      if (typeof code === 'number' && AUTH_REFUSED.has(code)) {
        status.set('failed');
        status.failure(`the broker refused the connection: ${err.message} (code ${code}); check username, password and ACLs`);
        this.backoff.next(); // the next wait is longer
      } else status.failure(err.message);
    });
    client.on('close', () => this.onClose());
  }

  private failed(reason: string): void {
    this.ctx.status.failure(reason);
    this.ctx.log.warn(`connector ${this.ctx.name}: ${reason}`);
  }

  /** The connection ended: PUBACKs held for it are void (the broker delivers those messages again); reconnect after a backoff. */
  private onClose(): void {
    this.held = [];
    this.heldById.clear();
    if (this.stopped) return;
    const { status } = this.ctx;
    const wait = this.backoff.next();
    if (status.state !== 'failed') status.set('backoff');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.stopped || this.client === undefined) return;
      if (status.state !== 'failed') status.set('connecting');
      this.client.reconnect();
    }, wait);
  }

  /**
   * Holds the library's PUBACKs until their message is stored (see the
   * file's comment). Every other packet goes as the library sends it.
   */
  private holdPubacks(client: MqttClient): void {
    const lib = client as unknown as { _sendPacket: SendPacket };
    const send = lib._sendPacket.bind(client);
    if (typeof send !== 'function') throw new Error('mqtt: this version of the library has no _sendPacket to hold acknowledgements at');
    this.sendPacket = send;
    lib._sendPacket = (packet, cb, ...rest) => {
      const held = packet.cmd === 'puback' && packet.messageId !== undefined ? this.heldById.get(packet.messageId) : undefined;
      if (held === undefined) return send(packet, cb, ...rest);
      held.puback = packet;
      // The library reads the next packet once this one is "sent".
      cb?.();
      this.drain();
    };
  }

  /** Sends the PUBACKs at the head of the line whose messages are stored, in arrival order. */
  private drain(): void {
    while (this.held.length > 0) {
      const h = this.held[0]!;
      if (h.failed || !h.stored || h.puback === undefined) return;
      this.held.shift();
      this.heldById.delete(h.messageId);
      this.sendPacket!(h.puback as { cmd: string });
    }
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const { status } = this.ctx;
    status.messages(1);
    const qos1 = packet.qos > 0 && packet.messageId !== undefined;
    let held: Held | undefined;
    if (qos1) {
      held = { messageId: packet.messageId!, stored: false, failed: false };
      this.held.push(held);
      this.heldById.set(held.messageId, held);
    }
    const stored = this.store(topic, payload, qos1);
    if (held === undefined) {
      // QoS 0: nothing to acknowledge; one not stored before a stop is counted by the batcher.
      stored.catch(() => undefined);
      return;
    }
    const h = held;
    stored.then(
      () => {
        h.stored = true;
        this.drain();
      },
      () => {
        // Stopping before it was stored: never acknowledged, the broker sends it again.
        h.failed = true;
      },
    );
  }

  /** Stores one message; resolves once stored (or dropped, counted), rejects when stopping first. */
  private store(topic: string, payload: Buffer, qos1: boolean): Promise<void> {
    const { status } = this.ctx;
    let route: Route | undefined;
    let captures: Record<string, string> | undefined;
    for (const r of this.routes) {
      captures = r.pattern.match(topic);
      if (captures !== undefined) {
        route = r;
        break;
      }
    }
    if (route === undefined || captures === undefined) {
      status.unparseable(1, `no subscription matches topic ${topic}`);
      return Promise.resolve();
    }
    const now = Date.now();
    if (route.devices) status.watch.device(`${route.sub.topic}\u0000${JSON.stringify(captures)}`, captures, now);
    if (route.decoder === undefined) return this.writeLineProtocol(topic, payload, captures, qos1);
    if (!qos1 && this.batcher.full) {
      status.dropped(1, 'overflow');
      return Promise.resolve();
    }
    const before = this.batcher.pendingSamples;
    try {
      route.decoder.decode(topic, payload, captures, now, (labels, ts, value, key, event) => this.batcher.sample(key ?? JSON.stringify(labels), labels, ts, value, event !== true));
    } catch (err) {
      // A decoder bug must not end the process (it runs inside the client's packet handler): counted like bad data, and logged.
      if (!(err instanceof DecodeError)) this.ctx.log.error(`connector ${this.ctx.name}: decoding ${topic} failed: ${(err as Error).stack ?? String(err)}`);
      status.unparseable(1, `${topic}: ${(err as Error).message}`);
      // Samples of its records before the bad one stay: the message is acknowledged either way.
    }
    if (this.batcher.pendingSamples > before) status.success();
    return this.batcher.end();
  }

  private writeLineProtocol(topic: string, payload: Buffer, captures: Record<string, string>, qos1: boolean): Promise<void> {
    const { status, port } = this.ctx;
    if (!qos1 && this.writes.size >= MAX_INFLIGHT_WRITES) {
      status.dropped(1, 'overflow');
      return Promise.resolve();
    }
    const principal: Principal = { key: this.principal.key, labels: { ...captures, connector: this.ctx.name } };
    // The body must own its memory (the pipeline may move it to a worker).
    const body = Buffer.from(payload);
    const w = writeWithRetry(() => port.writeBytes(PROTOCOL, 'lp', body, { principal }), {
      running: () => !this.stopped,
      status,
      backoff: this.writeBackoff,
      wake: this.stopping.signal,
    }).then((r) => {
      if (r instanceof SentioError) {
        if (r.code === 'SENTIO_ERR_BAD_BATCH' || r.code === 'SENTIO_ERR_BAD_REQUEST') status.unparseable(1, `${topic}: ${r.message}`);
        else {
          status.failure(`${topic}: ${r.code}: ${r.message}`);
          status.dropped(1, r.code === 'SENTIO_ERR_CARDINALITY_LIMIT' ? 'limit' : 'rejected');
        }
        return;
      }
      status.success();
      status.readings(r.samples);
      if (r.rejected > 0) status.unparseable(r.rejected, `${topic}: ${r.rejected} of ${r.lines} lines rejected: ${r.errors[0]?.reason ?? ''}`);
    });
    this.writes.add(w);
    void w.then(
      () => this.writes.delete(w),
      () => this.writes.delete(w),
    );
    return w;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    // What is pending gets a few seconds to be stored and acknowledged; then the connection ends.
    const timer = setTimeout(() => this.stopping.abort(), STOP_GRACE_MS);
    await Promise.allSettled([this.batcher.close(STOP_GRACE_MS), ...this.writes]);
    clearTimeout(timer);
    this.stopping.abort();
    this.drain();
    await new Promise<void>((resolve) => {
      if (client === undefined) return resolve();
      client.end(false, {}, () => resolve());
    });
    this.ctx.status.set('stopped');
  }
}

/** The URL without its credentials, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
