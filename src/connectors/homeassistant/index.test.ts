// The connector's handling of what a peer may send, against a small fake of
// Home Assistant's WebSocket and REST APIs (the real one is in
// test/homeassistant.test.ts): bad frames and states are counted, never
// thrown; events that come before the states are read are not lost nor
// written twice; a refused token is `failed`.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import client from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { silentLogger } from '../../log/index.js';
import type { IngestResult, Readings } from '../../native/types.js';
import type { IngestPort } from '../../pipeline/port.js';
import { ConnectorMetrics, ConnectorStatus } from '../status.js';
import { HomeAssistantConnector } from './index.js';

const T1 = '2024-03-28T12:00:00.000000+00:00';
const T2 = '2024-03-28T12:00:05.000000+00:00';

interface Fake {
  url: string;
  /** What each new connection does once subscribed to state_changed (its id given). */
  onSubscribed: (ws: WebSocket, id: number) => void;
  states: unknown[];
  token: string;
  close(): Promise<void>;
}

async function fakeHa(): Promise<Fake> {
  const http: Server = createServer((req, res) => {
    if (req.url === '/api/states' && req.headers.authorization === `Bearer ${fake.token}`) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fake.states));
    } else res.writeHead(401).end('401: Unauthorized');
  });
  const wss = new WebSocketServer({ server: http, path: '/api/websocket' });
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'auth_required', ha_version: 'fake' }));
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { type: string; id: number; access_token?: string; event_type?: string };
      if (m.type === 'auth') {
        if (m.access_token === fake.token) ws.send(JSON.stringify({ type: 'auth_ok', ha_version: 'fake' }));
        else {
          ws.send(JSON.stringify({ type: 'auth_invalid', message: 'Invalid access token or password' }));
          ws.close();
        }
      } else if (m.type === 'subscribe_events') {
        ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: null }));
        if (m.event_type === 'state_changed') fake.onSubscribed(ws, m.id);
      } else if (m.type === 'config/area_registry/list') ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: [{ area_id: 'hall', name: 'Hall' }] }));
      else if (m.type === 'config/device_registry/list') ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: [] }));
      else if (m.type === 'config/entity_registry/list') ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: [{ entity_id: 'sensor.a', area_id: 'hall' }] }));
      else if (m.type === 'ping') ws.send(JSON.stringify({ id: m.id, type: 'pong' }));
      else ws.send(JSON.stringify({ id: m.id, type: 'result', success: false, error: { code: 'unknown_command', message: 'Unknown command.' } }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const fake: Fake = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    onSubscribed: () => undefined,
    states: [],
    token: 'right',
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => http.close(r));
    },
  };
  return fake;
}

function event(id: number, entityId: string, newState: unknown): string {
  return JSON.stringify({ id, type: 'event', event: { event_type: 'state_changed', data: { entity_id: entityId, old_state: null, new_state: newState }, origin: 'LOCAL' } });
}

function sensor(entityId: string, state: string, lastUpdated: string): Record<string, unknown> {
  return { entity_id: entityId, state, attributes: { unit_of_measurement: 'W' }, last_changed: lastUpdated, last_updated: lastUpdated, context: { id: 'c' } };
}

/** A port that keeps what it is given as [name, entity_id, area, timestamp, value] rows. */
function recordingPort(): IngestPort & { rows: Array<[string, string, string | undefined, number, number]> } {
  const rows: Array<[string, string, string | undefined, number, number]> = [];
  return {
    rows,
    async writeBytes(): Promise<IngestResult> {
      throw new Error('not used');
    },
    async writeReadings(_p: string, r: Readings): Promise<IngestResult> {
      // The batcher passes the series as text (encodeLabels of each, joined by U+0001).
      const series = r.seriesText === undefined ? r.series : r.seriesText.split('\u0001').map((t) => {
        const f = t.split('\0');
        return Object.fromEntries(Array.from({ length: f.length / 2 }, (_, j) => [f[2 * j]!, f[2 * j + 1]!])) as Record<string, string>;
      });
      for (let i = 0; i < r.values.length; i++) {
        const l = series[r.sampleSeries[i]!]!;
        rows.push([l.__name__!, l.entity_id!, l.area, r.timestamps[i]!, r.values[i]!]);
      }
      return { lines: r.values.length, rejected: 0, samples: r.values.length, skippedStrings: 0, errors: [], outputs: [], unroutedSamples: 0, rejectedLineBytes: 0, rejectedTags: 0 };
    },
    overloaded: () => false,
  };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Home Assistant connector against a fake peer', () => {
  const fakes: Fake[] = [];
  const connectors: HomeAssistantConnector[] = [];
  // Stopped here too, so that a failed test leaves no connector reconnecting (the runner would wait for it).
  after(async () => {
    await Promise.all(connectors.map((c) => c.stop()));
    await Promise.all(fakes.map((f) => f.close()));
  });

  function setup(fake: Fake, token = 'right') {
    const registry = new client.Registry();
    const status = new ConnectorStatus('fake', 'homeassistant', new ConnectorMetrics(registry), 'test:1');
    const port = recordingPort();
    const c = new HomeAssistantConnector({ url: fake.url, token, attributes: false }, { name: 'fake', port, status, log: silentLogger, dataDir: '/nonexistent' });
    connectors.push(c);
    return { c, status, port, registry };
  }

  test('bad frames, events and states are counted as unparseable, never thrown; an event before the states is written once, with its area', async () => {
    const fake = await fakeHa();
    fakes.push(fake);
    // Read by GET /api/states after the subscription: sensor.a as the held event left it (so not written again), sensor.b, a bad one.
    fake.states = [sensor('sensor.a', '1', T2), sensor('sensor.b', '7', T1), { entity_id: 'sensor.bad', state: 3, last_updated: T1 }, sensor('sensor.gone', 'unavailable', T1)];
    let ws: WebSocket | undefined;
    let sub = 0;
    fake.onSubscribed = (w, id) => {
      ws = w;
      sub = id;
      // Before the states are read: held, then written first.
      w.send(event(id, 'sensor.a', sensor('sensor.a', '1', T2)));
    };
    const { c, status, port, registry } = setup(fake);
    await c.start();
    await until('up', () => status.state === 'up');
    await until('the first samples', () => port.rows.length >= 2);
    ws!.send('this is not JSON');
    ws!.send(event(sub, 'sensor.a', { entity_id: 'sensor.a', state: '2' }));
    ws!.send(JSON.stringify({ type: 'surprise' }));
    ws!.send(JSON.stringify([JSON.parse(event(sub, 'sensor.a', sensor('sensor.a', '3', T2.replace(':05', ':06')))), JSON.parse(event(sub, 'sensor.b', null))]));
    ws!.send(event(sub, 'sensor.a', sensor('sensor.a', 'unknown', T2.replace(':05', ':07'))));
    await until('the coalesced event', () => port.rows.length >= 3);
    await until('all counted', () => status.view().unparseableTotal === 4 && (status.view().unavailableTotal ?? 0) === 2);
    assert.deepEqual(port.rows, [
      ['homeassistant_sensor', 'sensor.a', 'Hall', Date.parse(T2), 1],
      ['homeassistant_sensor', 'sensor.b', undefined, Date.parse(T1), 7],
      ['homeassistant_sensor', 'sensor.a', 'Hall', Date.parse(T2) + 1000, 3],
    ]);
    const v = status.view();
    assert.equal(v.unparseableTotal, 4, 'a bad state, a frame not JSON, an event without a state, a message of no known type');
    assert.equal(v.unavailableTotal, 2);
    assert.equal(v.state, 'up');
    const metrics = await registry.metrics();
    assert.match(metrics, /sentio_connector_unavailable_total\{connector="fake",kind="homeassistant"\} 2/);
    await c.stop();
    assert.equal(status.state, 'stopped');
  });

  test('a refused token is failed, with the reason; a peer that goes away is backoff', async () => {
    const fake = await fakeHa();
    fakes.push(fake);
    const refused = setup(fake, 'wrong');
    await refused.c.start();
    await until('failed', () => refused.status.state === 'failed');
    assert.match(refused.status.view().lastError!.reason, /refused the access token \(auth_invalid: Invalid access token or password\)/);
    assert.equal(refused.status.view().lastError!.reason.includes('wrong'), false, 'the token is not in the reason');
    await refused.c.stop();

    const ok = setup(fake);
    await ok.c.start();
    await until('up', () => ok.status.state === 'up');
    await fake.close();
    await until('backoff', () => ok.status.state === 'backoff');
    await ok.c.stop();
    assert.equal(ok.status.state, 'stopped');
  });
});
