// MQTT load: a publisher of Zigbee2MQTT-style JSON messages and a null
// subscriber, each speaking MQTT 3.1.1 over a plain socket with
// pre-encoded packets, so that neither is the limit of what it measures.
//
//   node --import tsx load-tests/mqtt.ts pub --port P [--devices 1000] [--duration 10] [--rate 0] [--base zigbee2mqtt]
//   node --import tsx load-tests/mqtt.ts sub --port P [--topic 'zigbee2mqtt/#'] [--duration 10] [--warmup 2]
//
// Each prints one JSON line: pub {sent, seconds, perSecond}; sub {received,
// seconds, perSecond} counted for `duration` from `warmup` after its first
// message. Messages are QoS 0,
// as Zigbee2MQTT publishes them; `--rate 0` is as fast as the broker takes
// them (its TCP backpressure).

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), varint(body.length), body]);
}

export function connectPacket(clientId: string): Buffer {
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str(clientId)]));
}

export function publishPacket(topic: string, payload: Buffer): Buffer {
  return packet(0x30, Buffer.concat([str(topic), payload]));
}

function subscribePacket(filter: string): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(filter), Buffer.from([0])]));
}

/** A Zigbee2MQTT temperature/humidity sensor's message (Aqara WSDCGQ11LM), values varying by device. */
export function zigbeeMessage(i: number): Buffer {
  return Buffer.from(JSON.stringify({ battery: 50 + (i % 50), humidity: 40 + (i % 200) / 10, linkquality: 100 + (i % 155), pressure: 1000 + (i % 30) / 10, temperature: 20 + (i % 100) / 10, voltage: 2900 + (i % 100) }));
}

/** Connects and waits for the CONNACK. */
function open(port: number, clientId: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(connectPacket(clientId)));
    s.setNoDelay(true);
    s.once('error', reject);
    s.once('data', (d: Buffer) => {
      if (d[0] !== 0x20 || d[3] !== 0) return reject(new Error(`CONNACK refused: ${d.toString('hex')}`));
      s.off('error', reject);
      resolve(s);
    });
  });
}

export async function publish(o: { port: number; devices: number; durationS: number; rate: number; base: string }): Promise<{ sent: number; seconds: number; perSecond: number }> {
  const s = await open(o.port, `bench-pub-${process.pid}`);
  // One chunk of one message per device, written again and again.
  const packets = Array.from({ length: o.devices }, (_, i) => publishPacket(`${o.base}/sensor_${i}`, zigbeeMessage(i)));
  const chunk = Buffer.concat(packets);
  const t0 = performance.now();
  const end = t0 + o.durationS * 1000;
  let sent = 0;
  while (performance.now() < end) {
    if (o.rate > 0) {
      const due = ((performance.now() - t0) / 1000) * o.rate;
      if (sent + o.devices > due) {
        await new Promise((r) => setTimeout(r, Math.max(1, ((sent + o.devices - due) / o.rate) * 1000)));
        continue;
      }
    }
    sent += o.devices;
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
  const seconds = (performance.now() - t0) / 1000;
  await new Promise<void>((r) => s.end(packet(0xe0, Buffer.alloc(0)), () => r()));
  return { sent, seconds, perSecond: sent / seconds };
}

/** Counts PUBLISH packets from `filter` for `durationS`, from `warmupS` after the first. */
export async function subscribe(o: { port: number; filter: string; durationS: number; warmupS: number; ready?: () => void }): Promise<{ received: number; seconds: number; perSecond: number }> {
  const s = await open(o.port, `bench-sub-${process.pid}`);
  s.write(subscribePacket(o.filter));
  let received = 0;
  let counted = 0;
  let started = 0;
  let pending: Buffer = Buffer.alloc(0);
  let subscribed = false;
  return new Promise((resolve) => {
    const finish = (): void => {
      s.destroy();
      const seconds = (performance.now() - started) / 1000;
      const n = received - counted;
      resolve({ received: n, seconds, perSecond: seconds > 0 ? n / seconds : 0 });
    };
    s.on('data', (d: Buffer) => {
      let buf = pending.length > 0 ? Buffer.concat([pending, d]) : d;
      let at = 0;
      for (;;) {
        if (buf.length - at < 2) break;
        let len = 0;
        let mul = 1;
        let i = at + 1;
        let done = false;
        for (; i < buf.length && i < at + 5; i++) {
          len += (buf[i]! & 0x7f) * mul;
          mul *= 128;
          if ((buf[i]! & 0x80) === 0) {
            done = true;
            i++;
            break;
          }
        }
        if (!done || i + len > buf.length) break;
        const type = buf[at]! >> 4;
        if (type === 3) {
          if (received === 0) {
            setTimeout(() => {
              counted = received;
              started = performance.now();
              setTimeout(finish, o.durationS * 1000);
            }, o.warmupS * 1000);
          }
          received++;
        } else if (type === 9 && !subscribed) {
          subscribed = true;
          o.ready?.();
        }
        at = i + len;
      }
      pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
      buf = pending;
    });
  });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      devices: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '10' },
      rate: { type: 'string', default: '0' },
      base: { type: 'string', default: 'zigbee2mqtt' },
      topic: { type: 'string', default: 'zigbee2mqtt/#' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error('--port is required');
  const durationS = Number(values.duration);
  let r: unknown;
  if (positionals[0] === 'pub') r = await publish({ port, devices: Number(values.devices), durationS, rate: Number(values.rate), base: values.base! });
  else if (positionals[0] === 'sub') r = await subscribe({ port, filter: values.topic!, durationS, warmupS: Number(values.warmup), ready: () => process.stdout.write('{"subscribed":true}\n') });
  else throw new Error('usage: load-tests/mqtt.ts pub|sub --port P ...');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
