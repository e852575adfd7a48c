// Connector benchmarks (bench/run.ts sections `mqtt`, `homeassistant` and `modbus`).
//
//   mqtt           Zigbee2MQTT-style JSON messages (QoS 0, 1,000 devices) through
//                  a real Mosquitto: the broker's own ceiling with a null
//                  subscriber (load-tests/mqtt.ts), then Sentio's zigbee2mqtt
//                  connector → the durable queue → VictoriaMetrics, the same
//                  publisher, in the same run; messages/s and CPU per message.
//   homeassistant  1,000 entities changing once a second, sent by a peer that
//                  speaks Home Assistant's WebSocket and REST protocols
//                  (frames as Home Assistant 2024.3 sends them); Sentio's
//                  CPU for it. A real Home Assistant cannot change 1,000
//                  states a second on this machine's 2 cores beside Sentio.
//   modbus         50 Modbus TCP devices (modbus-serial's ServerTCP in this
//                  process, one port each) × 200 registers (holding: 120
//                  uint16 and 40 float32; input: 40 uint16), every value
//                  changing, polled every second; Sentio's CPU above idle.

import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import ModbusRTU from 'modbus-serial';
import { WebSocketServer } from 'ws';
import { cpuSeconds, repoRoot, type Server, startSentio } from '../load-tests/servers.js';
import { freePort } from '../test/services/index.js';
import { startMosquitto } from '../test/services/mosquitto.js';

export interface BenchRow {
  section: string;
  case: string;
  ours?: string;
  peer?: string;
  ratio?: string;
  target?: string;
  cpu?: string;
}

export interface BenchContext {
  durationS: number;
  row: (r: BenchRow) => void;
  log: (msg: string) => void;
  /** Starts a server that is stopped when the bench is interrupted. */
  track: (p: Promise<Server>) => Promise<Server>;
  stop: (s: Server | undefined) => Promise<void>;
  vm: Server | undefined;
}

const ADMIN_PASSWORD = 'bench-admin-password';
const TOKEN = 'bench-token';

/** Runs load-tests/mqtt.ts in its own process; resolves with its JSON result. `onLine` sees each line. */
function mqttLoad(args: string[], onLine?: (line: string) => void): { done: Promise<Record<string, number>>; child: ChildProcess } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'load-tests/mqtt.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const line of d.toString().split('\n')) if (line.trim() !== '') onLine?.(line);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<Record<string, number>>((resolve, reject) => {
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`load-tests/mqtt.ts ${args[0]} exited ${code}: ${err.slice(-500)}`));
      resolve(JSON.parse(last) as Record<string, number>);
    });
  });
  return { done, child };
}

async function api(base: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return text === '' ? undefined : JSON.parse(text);
}

async function adminToken(base: string): Promise<string> {
  return ((await api(base, undefined, 'POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })) as { accessToken: string }).accessToken;
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await sleep(100);
  }
}

const fmtK = (n: number): string => `${(n / 1000).toFixed(1)} k`;

export async function benchMqtt(b: BenchContext): Promise<void> {
  const broker = await startMosquitto();
  const port = broker.port;
  const d = b.durationS;
  const pubArgs = ['pub', '--port', String(port), '--devices', '1000', '--duration', String(d + 3)];
  const brokerCpu = (): number => cpuSeconds(broker.process.pid!);
  try {
    // 1. The broker's ceiling: a null subscriber, the publisher as fast as the broker takes it.
    b.log('mqtt: Mosquitto with a null subscriber');
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const sub = mqttLoad(['sub', '--port', String(port), '--topic', 'zigbee2mqtt/#', '--duration', String(d), '--warmup', '2'], (l) => l.includes('subscribed') && ready());
    await subscribed;
    const c0 = brokerCpu();
    const pub = mqttLoad([...pubArgs.slice(0, -1), String(d + 4)]);
    const [ceiling, sent] = await Promise.all([sub.done, pub.done]);
    const ceilingCpu = brokerCpu() - c0;
    b.row({
      section: 'mqtt',
      case: 'Mosquitto → null subscriber (the ceiling), Zigbee2MQTT JSON, QoS 0, 1,000 devices',
      ours: `${fmtK(ceiling.perSecond!)} msgs/s received`,
      peer: `publisher ${fmtK(sent.perSecond!)} msgs/s`,
      cpu: `mosquitto ${((ceilingCpu / (sent.sent! || 1)) * 1e6).toFixed(2)} per M msgs`,
    });

    // 2. Sentio's zigbee2mqtt connector, the same publisher; samples → the durable queue → VictoriaMetrics.
    b.log('mqtt: Sentio zigbee2mqtt connector');
    const sink = b.vm ? { victoriametrics: `${b.vm.base}/api/v1/write` } : ('blackhole' as const);
    const s = await b.track(startSentio({ token: TOKEN, sink, args: ['--admin-password', ADMIN_PASSWORD, '--self-metrics-interval-s', '0'] }));
    try {
      const token = await adminToken(s.base);
      const created = (await api(s.base, token, 'POST', '/api/connectors', {
        name: 'bench-z2m',
        kind: 'mqtt',
        config: { url: `mqtt://127.0.0.1:${port}`, qos: 0, subscriptions: [{ topic: 'zigbee2mqtt', format: 'zigbee2mqtt' }] },
      })) as { id: string };
      await waitUntil('the connector up', async () => (await api(s.base, token, 'GET', `/api/connectors/${created.id}`)).status.state === 'up');
      const status = async () => (await api(s.base, token, 'GET', `/api/connectors/${created.id}`)).status as { messagesTotal: number; readingsTotal: number; droppedTotal: number };
      const pub2 = mqttLoad(pubArgs);
      await sleep(2000); // the publisher's first 2 s are warm-up: measured from here, for d s
      const m0 = await status();
      const cpu0 = { sentio: cpuSeconds(s.pid), broker: brokerCpu(), vm: b.vm ? cpuSeconds(b.vm.pid) : 0 };
      const t0 = Date.now();
      await sleep(d * 1000);
      const m1 = await status();
      const seconds = (Date.now() - t0) / 1000;
      const cpu1 = { sentio: cpuSeconds(s.pid), broker: brokerCpu(), vm: b.vm ? cpuSeconds(b.vm.pid) : 0 };
      const sent2 = await pub2.done;
      const msgs = m1.messagesTotal - m0.messagesTotal;
      const rate = msgs / seconds;
      const perM = (sec: number): string => ((sec / (msgs || 1)) * 1e6).toFixed(2);
      b.row({
        section: 'mqtt',
        case: `Sentio zigbee2mqtt connector → queue → ${b.vm ? 'VictoriaMetrics' : 'blackhole'}, same publisher`,
        ours: `${fmtK(rate)} msgs/s, ${fmtK((m1.readingsTotal - m0.readingsTotal) / seconds)} samples/s stored, ${m1.droppedTotal - m0.droppedTotal} dropped`,
        peer: `Mosquitto ceiling ${fmtK(ceiling.perSecond!)} msgs/s; publisher ${fmtK(sent2.perSecond!)} msgs/s`,
        ratio: `${(rate / ceiling.perSecond!).toFixed(2)}× ceiling`,
        target: `≥ 200 k msgs/s: ${rate >= 200_000 ? 'met' : 'not met'}`,
        cpu: `per M msgs: sentio ${perM(cpu1.sentio - cpu0.sentio)}, mosquitto ${perM(cpu1.broker - cpu0.broker)}${b.vm ? `, victoria-metrics ${perM(cpu1.vm - cpu0.vm)}` : ''}`,
      });
    } finally {
      await b.stop(s);
    }
  } finally {
    await broker.destroy();
  }
}

/** A peer speaking Home Assistant's WebSocket and REST APIs with `entities` sensors, each changing once a second. */
async function homeAssistantPeer(entities: number): Promise<{ url: string; events: () => number; close: () => Promise<void> }> {
  const token = 'bench-ha-token';
  const now = () => new Date().toISOString().replace('Z', '+00:00');
  const state = (i: number, v: number) => ({
    entity_id: `sensor.bench_${i}`,
    state: v.toFixed(2),
    attributes: { unit_of_measurement: '°C', device_class: 'temperature', state_class: 'measurement', friendly_name: `Bench ${i}` },
    last_changed: now(),
    last_updated: now(),
    context: { id: `01HS${i}`, parent_id: null, user_id: null },
  });
  const http = createServer((req, res) => {
    if (req.url === '/api/states' && req.headers.authorization === `Bearer ${token}`) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(Array.from({ length: entities }, (_, i) => state(i, 20))));
    else res.writeHead(401).end('401: Unauthorized');
  });
  const wss = new WebSocketServer({ server: http, path: '/api/websocket' });
  let sent = 0;
  const timers = new Set<NodeJS.Timeout>();
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'auth_required', ha_version: '2024.3.3' }));
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { type: string; id: number; access_token?: string; event_type?: string };
      const result = (r: unknown) => ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: r }));
      if (m.type === 'auth') ws.send(JSON.stringify(m.access_token === token ? { type: 'auth_ok', ha_version: '2024.3.3' } : { type: 'auth_invalid', message: 'Invalid access token or password' }));
      else if (m.type === 'subscribe_events') {
        result(null);
        if (m.event_type !== 'state_changed') return;
        // Every entity once a second, spread over the second in 10 slices.
        let tick = 0;
        const t = setInterval(() => {
          const slice = tick++ % 10;
          for (let i = slice; i < entities; i += 10) {
            const v = 20 + ((tick + i) % 100) / 10;
            ws.send(JSON.stringify({ id: m.id, type: 'event', event: { event_type: 'state_changed', data: { entity_id: `sensor.bench_${i}`, old_state: state(i, v - 0.1), new_state: state(i, v) }, origin: 'LOCAL', time_fired: now(), context: { id: 'c' } } }));
            sent++;
          }
        }, 100);
        timers.add(t);
        ws.once('close', () => clearInterval(t));
      } else if (m.type === 'config/area_registry/list' || m.type === 'config/device_registry/list') result([]);
      else if (m.type === 'config/entity_registry/list') result([]);
      else if (m.type === 'ping') ws.send(JSON.stringify({ id: m.id, type: 'pong' }));
      else ws.send(JSON.stringify({ id: m.id, type: 'result', success: false, error: { code: 'unknown_command', message: 'Unknown command.' } }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    events: () => sent,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => http.close(r));
    },
  };
}

export async function benchHomeAssistant(b: BenchContext): Promise<void> {
  const entities = 1000;
  const peer = await homeAssistantPeer(entities);
  const sink = b.vm ? { victoriametrics: `${b.vm.base}/api/v1/write` } : ('blackhole' as const);
  const s = await b.track(startSentio({ token: TOKEN, sink, args: ['--admin-password', ADMIN_PASSWORD, '--self-metrics-interval-s', '0'] }));
  try {
    const token = await adminToken(s.base);
    const idle0 = cpuSeconds(s.pid);
    await sleep(3000);
    const idle = (cpuSeconds(s.pid) - idle0) / 3;
    const c = (await api(s.base, token, 'POST', '/api/connectors', { name: 'bench-ha', kind: 'homeassistant', config: { url: peer.url, token: 'bench-ha-token' } })) as { id: string };
    const status = async () => (await api(s.base, token, 'GET', `/api/connectors/${c.id}`)).status as { state: string; messagesTotal: number; readingsTotal: number };
    await waitUntil('the connector up', async () => (await status()).state === 'up');
    await sleep(2000);
    const m0 = await status();
    const cpu0 = cpuSeconds(s.pid);
    const t0 = Date.now();
    await sleep(b.durationS * 1000);
    const m1 = await status();
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (cpuSeconds(s.pid) - cpu0) / seconds;
    const events = (m1.messagesTotal - m0.messagesTotal) / seconds;
    b.row({
      section: 'homeassistant',
      case: `${entities} entities changing once a second (Home Assistant's WebSocket protocol) → ${b.vm ? 'VictoriaMetrics' : 'blackhole'}`,
      ours: `${events.toFixed(0)} events/s, ${((m1.readingsTotal - m0.readingsTotal) / seconds).toFixed(0)} samples/s`,
      peer: `idle gateway ${(idle * 100).toFixed(1)} % of a core`,
      cpu: `sentio ${(cpu * 100).toFixed(1)} % of a core (${((cpu - idle) * 100).toFixed(1)} % above idle), ${(((cpu - idle) / (events || 1)) * 1e6).toFixed(1)} µs CPU per event`,
    });
  } finally {
    await b.stop(s);
    await peer.close();
  }
}

/** `devices` Modbus TCP servers on their own ports, whose registers change every second. */
async function modbusPeers(devices: number): Promise<{ ports: number[]; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const word = (addr: number) => (addr * 7 + Math.floor(Date.now() / 1000)) & 0xffff;
  const values = (addr: number, length: number) => {
    requests++;
    return Array.from({ length }, (_, i) => word(addr + i));
  };
  const servers: Array<InstanceType<typeof ModbusRTU.ServerTCP>> = [];
  const ports: number[] = [];
  for (let i = 0; i < devices; i++) {
    const port = await freePort();
    const server = new ModbusRTU.ServerTCP({ getMultipleHoldingRegisters: values, getMultipleInputRegisters: values, getHoldingRegister: word, getInputRegister: word }, { host: '127.0.0.1', port, unitID: 255 });
    server.on('socketError', () => undefined);
    await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
    servers.push(server);
    ports.push(port);
  }
  return { ports, requests: () => requests, close: () => Promise.all(servers.map((sv) => new Promise<void>((r) => sv.close(() => r())))).then(() => undefined) };
}

/** 200 registers: holding 0..119 uint16, 120..199 float32 (40), input 0..39 uint16. */
function modbusRegisters(): unknown[] {
  const out: unknown[] = [];
  for (let a = 0; a < 120; a++) out.push({ name: `h${a}`, table: 'holding', address: a, type: 'uint16', unit: 'V' });
  for (let a = 120; a < 200; a += 2) out.push({ name: `f${a}`, table: 'holding', address: a, type: 'float32', wordOrder: 'little' });
  for (let a = 0; a < 40; a++) out.push({ name: `i${a}`, table: 'input', address: a, type: 'uint16', scale: 0.1 });
  return out;
}

/** Seconds the Modbus bench lets the gateway, then the connector, settle before measuring; and measures the idle gateway. */
const MODBUS_SETTLE_S = 15;
const MODBUS_IDLE_S = 5;

export async function benchModbus(b: BenchContext): Promise<void> {
  const devices = 50;
  const peers = await modbusPeers(devices);
  const sink = b.vm ? { victoriametrics: `${b.vm.base}/api/v1/write` } : ('blackhole' as const);
  const s = await b.track(startSentio({ token: TOKEN, sink, args: ['--admin-password', ADMIN_PASSWORD, '--self-metrics-interval-s', '0'] }));
  try {
    const token = await adminToken(s.base);
    // Steady state: the idle gateway once its start-up work (compiling, the first reconciles) is done...
    await sleep(MODBUS_SETTLE_S * 1000);
    const idle0 = cpuSeconds(s.pid);
    await sleep(MODBUS_IDLE_S * 1000);
    const idle = (cpuSeconds(s.pid) - idle0) / MODBUS_IDLE_S;
    const registers = modbusRegisters();
    const config = { intervalMs: 1000, devices: peers.ports.map((port, i) => ({ name: `meter${i}`, host: '127.0.0.1', port, unitId: 1, registers })) };
    const c = (await api(s.base, token, 'POST', '/api/connectors', { name: 'bench-modbus', kind: 'modbus', config })) as { id: string };
    const status = async () => (await api(s.base, token, 'GET', `/api/connectors/${c.id}`)).status as { state: string; messagesTotal: number; readingsTotal: number; latePollsTotal?: number; lastError: unknown };
    await waitUntil('the connector up', async () => (await status()).state === 'up');
    // ...and the connector once the code of its poll path is compiled (V8 compiles on other threads, counted too).
    await sleep(MODBUS_SETTLE_S * 1000);
    const m0 = await status();
    const r0 = peers.requests();
    const cpu0 = cpuSeconds(s.pid);
    const t0 = Date.now();
    await sleep(b.durationS * 1000);
    const m1 = await status();
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (cpuSeconds(s.pid) - cpu0) / seconds;
    const polls = (m1.messagesTotal - m0.messagesTotal) / seconds;
    const above = cpu - idle;
    b.row({
      section: 'modbus',
      case: `${devices} devices × ${registers.length} registers polled every second (Modbus TCP, one connection each) → ${b.vm ? 'VictoriaMetrics' : 'blackhole'}`,
      ours: `${polls.toFixed(1)} polls/s, ${((m1.readingsTotal - m0.readingsTotal) / seconds).toFixed(0)} samples/s, ${((peers.requests() - r0) / seconds).toFixed(0)} requests/s, ${(m1.latePollsTotal ?? 0) - (m0.latePollsTotal ?? 0)} late polls`,
      peer: `idle gateway ${(idle * 100).toFixed(1)} % of a core`,
      cpu: `sentio ${(cpu * 100).toFixed(1)} % of a core (${(above * 100).toFixed(1)} % above idle), ${((above / (polls || 1)) * 1e6).toFixed(0)} µs CPU per poll`,
      target: `< 5 % of one core, the whole gateway: ${cpu < 0.05 ? 'met' : 'NOT met'}`,
    });
  } finally {
    await b.stop(s);
    await peers.close();
  }
}
