// The MQTT connector against a real Mosquitto (Debian's package), writing
// through the gateway into a real VictoriaMetrics: topic captures and each
// decoder, validation and write-only secrets in the API, credentials, TLS
// with a test CA and MQTT 5, Zigbee2MQTT payloads from its documentation
// with learned staleness, a broker restart, QoS 1 with the gateway
// SIGKILLed mid-stream, and the lease that runs a connector on one of two
// gateways sharing PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pack } from 'msgpackr';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { bridgeDevices } from './fixtures/zigbee2mqtt.js';
import { type ApiClient, connectorState, exported, login, startSentioProcess, startTestGateway, type TestGateway } from './helpers.js';
import { type Mosquitto, startMosquitto } from './services/mosquitto.js';
import { type Postgres, startPostgres } from './services/postgres.js';
import { type ExportedSeries, type Service, startVictoriaMetrics, type VictoriaMetrics, waitFor } from './services/index.js';

async function publisher(url: string, o: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 200, ...o });
}

describe('MQTT connector (real Mosquitto, real VictoriaMetrics)', () => {
  let broker: Mosquitto;
  let vm: VictoriaMetrics;
  let gw: TestGateway;
  let api: ApiClient;

  before(async () => {
    [broker, vm] = await Promise.all([startMosquitto(), startVictoriaMetrics()]);
    gw = await startTestGateway(['--victoriametrics', vm.writeUrl, '--self-metrics-interval-s', '0']);
    api = await login(gw.url);
  });
  after(async () => {
    await gw?.close();
    await Promise.all([broker?.destroy(), vm?.destroy()]);
  });

  test('topic captures and each decoder (influx, json, msgpack, value) reach the sink with the connector label; bad payloads are counted, not stored', async () => {
    const created = await api.call('POST', '/api/connectors', {
      name: 'plant',
      kind: 'mqtt',
      config: {
        url: broker.mqttUrl,
        subscriptions: [
          { topic: 'plant/{site}/{device}/lp', format: 'influx' },
          { topic: 'plant/{site}/{device}/json', format: 'json', measurement: 'env', fields: { temperature: 'm.t', humidity: 'm.h' }, tags: { unit: 'u' }, time: { path: 'ts', unit: 'ms' } },
          { topic: 'plant/{site}/{device}/mp', format: 'msgpack' },
          { topic: 'home/{room}/{quantity}', format: 'value', measurement: 'home_{quantity}' },
        ],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const up = await connectorState(api, id, 'up');
    assert.equal(up.status.instance, gw.gateway.status.status.instance);

    const pub = await publisher(broker.mqttUrl);
    const now = Date.now();
    await pub.publishAsync('plant/p7/m3/lp', `spindle,axis=x rpm=1200i,load=0.5 ${now}000000`, { qos: 1 });
    await pub.publishAsync('plant/p7/m3/json', JSON.stringify({ ts: now - 1000, u: 'C', m: { t: 21.5, h: 40 } }), { qos: 1 });
    await pub.publishAsync('plant/p8/m9/mp', pack({ pressure: 1.25, nested: { valve: true } }), { qos: 1 });
    await pub.publishAsync('home/kitchen/temperature', '19.75', { qos: 0 });
    await pub.publishAsync('plant/p7/m3/json', '{"ts": oops', { qos: 1 });
    await pub.publishAsync('home/kitchen/temperature', 'warm', { qos: 1 });

    const series = await exported(vm, '{connector="plant"}', (s) => s.length >= 7);
    const byName = new Map(series.map((s) => [s.metric.__name__, s]));
    assert.deepEqual(byName.get('spindle_rpm')?.metric, { __name__: 'spindle_rpm', axis: 'x', site: 'p7', device: 'm3', connector: 'plant' });
    assert.deepEqual(byName.get('spindle_rpm')?.values, [1200]);
    assert.deepEqual(byName.get('spindle_rpm')?.timestamps, [now]);
    assert.deepEqual(byName.get('env_temperature')?.metric, { __name__: 'env_temperature', site: 'p7', device: 'm3', unit: 'C', connector: 'plant' });
    assert.deepEqual(byName.get('env_temperature')?.timestamps, [now - 1000]);
    assert.deepEqual(byName.get('env_humidity')?.values, [40]);
    assert.deepEqual(byName.get('mqtt_pressure')?.metric, { __name__: 'mqtt_pressure', site: 'p8', device: 'm9', connector: 'plant' });
    assert.deepEqual(byName.get('mqtt_nested_valve')?.values, [1]);
    assert.deepEqual(byName.get('home_temperature')?.metric, { __name__: 'home_temperature', room: 'kitchen', quantity: 'temperature', connector: 'plant' });
    assert.deepEqual(byName.get('home_temperature')?.values, [19.75]);
    assert.equal(series.length, 7, series.map((s) => s.metric.__name__).join(', '));

    // The two bad messages came last: once all six are read, the status has them.
    let st: any;
    await waitFor('six messages read', async () => (st = (await api.call('GET', `/api/connectors/${id}`)).body.status).messagesTotal === 6);
    assert.equal(st.unparseableTotal, 2);
    assert.equal(st.messagesTotal, 6);
    assert.equal(st.readingsTotal, 7);
    assert.match(st.lastError.reason, /home\/kitchen\/temperature: not a number: "warm"/);
    assert.ok(st.readingsPerSecond > 0);
    assert.notEqual(st.lastSuccessAt, null);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /sentio_connector_unparseable_total\{connector="plant",kind="mqtt"\} 2/);
    assert.match(metrics, /sentio_connector_readings_total\{connector="plant",kind="mqtt"\} 7/);
    assert.match(metrics, /sentio_connector_state\{connector="plant",kind="mqtt",state="up"\} 1/);

    // The broker restarts: the connector reconnects (backoff) and what is published afterwards arrives.
    broker = await broker.restart();
    await connectorState(api, id, 'up');
    await pub.publishAsync('home/hall/humidity', '55', { qos: 1 });
    await exported(vm, 'home_humidity{connector="plant"}', (s) => s.length === 1 && s[0]!.values[0] === 55);

    // Disabled: stopped, and nothing more is read.
    const off = await api.call('PATCH', `/api/connectors/${id}`, { enabled: false });
    assert.equal(off.status, 200);
    assert.equal(off.body.status.state, 'stopped');
    await pub.endAsync();
    assert.equal((await api.call('DELETE', `/api/connectors/${id}`)).status, 204);
  });

  test('configs are checked by field; secrets are write-only; refused credentials mean failed until fixed', async () => {
    const bad = await api.call('POST', '/api/connectors', { name: 'bad', kind: 'mqtt', config: { url: 'tcp://x', subscriptions: [{ topic: 'a/#/b', format: 'json' }] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'SENTIO_ERR_VALIDATION');
    assert.deepEqual(bad.body.issues.map((i: { path: string }) => i.path).sort(), ['body.config.subscriptions.0.topic', 'body.config.url']);
    const opcua = await api.call('POST', '/api/connectors', { name: 'plc', kind: 'opcua', config: {} });
    assert.equal(opcua.status, 400);
    assert.deepEqual(opcua.body.issues.map((i: { path: string }) => i.path).sort(), ['body.config.endpoint', 'body.config.items'], "another kind's config is checked by its own schema");

    const secured = await startMosquitto({ users: { sensor: 'right-password' } });
    try {
      const c = await api.call('POST', '/api/connectors', {
        name: 'secured',
        kind: 'mqtt',
        config: { url: secured.mqttUrl, username: 'sensor', password: 'wrong-password', subscriptions: [{ topic: 'secure/{device}', format: 'value' }] },
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.deepEqual(c.body.secrets, ['password']);
      assert.equal(JSON.stringify(c.body).includes('wrong-password'), false);
      const failed = await connectorState(api, c.body.id, 'failed');
      assert.match(failed.status.lastError.reason, /refused the connection/);
      assert.equal(JSON.stringify((await api.call('GET', '/api/connectors')).body).includes('wrong-password'), false, 'no password in the list');

      // The config sent back as shown (no password) keeps the stored one; a new password fixes it.
      const same = await api.call('PATCH', `/api/connectors/${c.body.id}`, { config: c.body.config });
      assert.deepEqual(same.body.secrets, ['password']);
      const fixed = await api.call('PATCH', `/api/connectors/${c.body.id}`, { config: { ...c.body.config, password: 'right-password' } });
      assert.equal(fixed.status, 200);
      await connectorState(api, c.body.id, 'up');
      const pub = await publisher(secured.mqttUrl, { username: 'sensor', password: 'right-password' });
      await pub.publishAsync('secure/d1', '7', { qos: 1 });
      await pub.endAsync();
      await exported(vm, 'mqtt{connector="secured"}', (s) => s.length === 1 && s[0]!.metric.device === 'd1');
      const audit = JSON.stringify((await api.call('GET', '/api/audit?action=connector.')).body);
      assert.equal(audit.includes('right-password') || audit.includes('wrong-password'), false, 'no secret in the audit log');
      await api.call('DELETE', `/api/connectors/${c.body.id}`);
    } finally {
      await secured.destroy();
    }
  });

  test('TLS with a test CA and a client certificate, over MQTT 5', async () => {
    const tls = await startMosquitto({ tls: { requireCertificate: true } });
    try {
      const ca = tls.ca!;
      const c = await api.call('POST', '/api/connectors', {
        name: 'tls5',
        kind: 'mqtt',
        config: { url: tls.mqttsUrl, protocolVersion: 5, sessionExpirySeconds: 600, tls: { ca: ca.ca, cert: ca.clientCert, key: ca.clientKey }, subscriptions: [{ topic: 'tls/{device}', format: 'json' }] },
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      assert.deepEqual(c.body.secrets, ['tls.key']);
      assert.equal(c.body.config.tls.key, undefined);
      await connectorState(api, c.body.id, 'up');
      const pub = await publisher(tls.mqttsUrl!, { protocolVersion: 5, ca: ca.ca, cert: ca.clientCert, key: ca.clientKey });
      await pub.publishAsync('tls/d2', JSON.stringify({ v: 3 }), { qos: 1 });
      await pub.endAsync();
      await exported(vm, 'mqtt_v{connector="tls5"}', (s) => s.length === 1 && s[0]!.metric.device === 'd2');

      // Without the CA the broker's certificate is not trusted: the connector says so.
      const untrusted = await api.call('POST', '/api/connectors', { name: 'tls-no-ca', kind: 'mqtt', config: { url: tls.mqttsUrl, subscriptions: [{ topic: 'x', format: 'value' }] } });
      const st = await waitFor('an error for the untrusted certificate', async () => (await api.call('GET', `/api/connectors/${untrusted.body.id}`)).body.status.lastError !== null).then(
        async () => (await api.call('GET', `/api/connectors/${untrusted.body.id}`)).body.status,
      );
      assert.match(st.lastError.reason, /certificate/i);
      assert.notEqual(st.state, 'up');
      for (const x of [c.body.id, untrusted.body.id]) await api.call('DELETE', `/api/connectors/${x}`);
    } finally {
      await tls.destroy();
    }
  });

  test('Zigbee2MQTT: device, availability and bridge payloads from its documentation; renames; learned staleness in the API and /metrics', async () => {
    const c = await api.call('POST', '/api/connectors', { name: 'z2m', kind: 'mqtt', config: { url: broker.mqttUrl, subscriptions: [{ topic: 'zigbee2mqtt', format: 'zigbee2mqtt' }] } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const id = c.body.id as string;
    const pub = await publisher(broker.mqttUrl);
    // The bridge publishes its devices retained: the connector has them whenever it connects.
    await pub.publishAsync('zigbee2mqtt/bridge/devices', JSON.stringify(bridgeDevices), { qos: 1, retain: true });
    await connectorState(api, id, 'up');
    const t0 = Date.now() - 10_000;
    // The climate sensor reports with last_seen (Zigbee2MQTT's advanced.last_seen: ISO_8601), 2 s apart.
    for (let i = 0; i < 5; i++) {
      await pub.publishAsync('zigbee2mqtt/kitchen/climate', JSON.stringify({ battery: 91, humidity: 44.72, linkquality: 120, pressure: 1001.3, temperature: 27 + i, voltage: 2995, last_seen: new Date(t0 + i * 2000).toISOString() }), { qos: 1 });
    }
    await pub.publishAsync('zigbee2mqtt/living_room_bulb', JSON.stringify({ state: 'ON', brightness: 215, color_temp: 325, color: { x: 0.4599, y: 0.4106 }, power_on_behavior: 'previous' }), { qos: 1 });
    await pub.publishAsync('zigbee2mqtt/living_room_bulb/availability', JSON.stringify({ state: 'online' }), { qos: 1 });
    await pub.publishAsync('zigbee2mqtt/front_door/availability', 'offline', { qos: 1 }); // the legacy text form
    await pub.publishAsync('zigbee2mqtt/living_room_bulb/set', JSON.stringify({ state: 'OFF' }), { qos: 1 }); // a command: not a sample
    await pub.publishAsync('zigbee2mqtt/bridge/response/device/rename', JSON.stringify({ data: { from: 'living_room_bulb', to: 'lounge/bulb', homeassistant_rename: false }, status: 'ok' }), { qos: 1 });
    await pub.publishAsync('zigbee2mqtt/lounge/bulb', JSON.stringify({ state: 'OFF', brightness: 0 }), { qos: 1 });

    const temps = await exported(vm, 'zigbee_temperature{connector="z2m"}', (s) => s.length === 1 && s[0]!.values.length === 5);
    assert.deepEqual(temps[0]!.metric, { __name__: 'zigbee_temperature', device: 'kitchen/climate', ieee_address: '0x00158d00045e2b17', model: 'WSDCGQ11LM', vendor: 'Aqara', unit: '°C', connector: 'z2m' });
    assert.deepEqual(temps[0]!.timestamps, [0, 1, 2, 3, 4].map((i) => t0 + i * 2000));
    const state = await exported(vm, 'zigbee_state{connector="z2m"}', (s) => s.length === 2);
    const byDevice = Object.fromEntries(state.map((s) => [s.metric.device, s]));
    assert.deepEqual(byDevice['living_room_bulb']!.values, [1]);
    // Renamed: the same IEEE address, model and vendor under the new name.
    assert.deepEqual(byDevice['lounge/bulb']!.metric, { __name__: 'zigbee_state', device: 'lounge/bulb', ieee_address: '0x000b57fffec6a5b2', model: 'LED1545G12', vendor: 'IKEA', connector: 'z2m' });
    assert.deepEqual(byDevice['lounge/bulb']!.values, [0]);
    const up = await exported(vm, 'up{connector="z2m"}', (s) => s.length === 2);
    assert.deepEqual(Object.fromEntries(up.map((s) => [s.metric.device, s.values])), { living_room_bulb: [1], front_door: [0] });
    assert.equal((await vm.export('zigbee_color_x{connector="z2m"}'))[0]?.values[0], 0.4599);
    assert.deepEqual(await vm.export('zigbee_power_on_behavior{connector="z2m"}'), []);

    // The devices: by IEEE address across the rename, the offline one first.
    const devices = (await api.call('GET', `/api/connectors/${id}/devices`)).body.items as Array<{ key: string; labels: Record<string, string>; availability: string | null; freshness: string; intervalMs: number | null }>;
    assert.deepEqual(
      devices.map((d) => [d.labels.device, d.availability]),
      [
        ['front_door', 'offline'],
        ['kitchen/climate', null],
        ['lounge/bulb', 'online'],
      ],
    );
    assert.equal(devices.find((d) => d.labels.device === 'kitchen/climate')!.intervalMs, 2000);
    // The status' counts are at most a second old.
    let st: any;
    await waitFor('one device offline in the status', async () => (st = (await api.call('GET', `/api/connectors/${id}`)).body.status).staleness.devices.offline === 1);

    // The climate sensor learned a 2 s rhythm: silent for more than 3 of its intervals, it is stale (the bulb, still learning, is not).
    await waitFor('the climate sensor stale', async () => (st = (await api.call('GET', `/api/connectors/${id}`)).body.status).staleness.devices.stale === 1, 15_000);
    assert.deepEqual(st.staleness.staleDeviceNames, ['kitchen/climate']);
    const staleSeries = (await api.call('GET', `/api/connectors/${id}/series?stale=true`)).body.items as Array<{ labels: Record<string, string> }>;
    assert.ok(staleSeries.some((s) => s.labels.__name__ === 'zigbee_temperature' && s.labels.device === 'kitchen/climate'), JSON.stringify(staleSeries));
    assert.ok(staleSeries.every((s) => s.labels.device === 'kitchen/climate'), JSON.stringify(staleSeries));
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /sentio_connector_device_stale\{connector="z2m",kind="mqtt",device="kitchen\/climate"\} 1/);
    assert.match(metrics, /sentio_connector_devices\{connector="z2m",kind="mqtt",state="offline"\} 1/);
    // It reports again: fresh, and its stale mark in /metrics is gone.
    await pub.publishAsync('zigbee2mqtt/kitchen/climate', JSON.stringify({ temperature: 26.5, last_seen: new Date(t0 + 10_000).toISOString() }), { qos: 1 });
    await waitFor('the climate sensor fresh again', async () => (await api.call('GET', `/api/connectors/${id}`)).body.status.staleness.devices.stale === 0);
    await waitFor('its stale mark gone from /metrics', async () => !(await (await fetch(`${gw.url}/metrics`)).text()).includes('sentio_connector_device_stale{connector="z2m"'));

    const bad = await api.call('POST', '/api/connectors', { name: 'z2m-bad', kind: 'mqtt', config: { url: broker.mqttUrl, subscriptions: [{ topic: 'zigbee2mqtt/#', format: 'zigbee2mqtt', measurement: 'x' }] } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.issues.map((i: { path: string }) => i.path).sort(), ['body.config.subscriptions.0.measurement', 'body.config.subscriptions.0.topic']);
    await pub.publishAsync('zigbee2mqtt/bridge/devices', '', { qos: 1, retain: true }); // clears the retained message
    await pub.endAsync();
    assert.equal((await api.call('DELETE', `/api/connectors/${id}`)).status, 204);
  });
});

describe('MQTT QoS 1 with the gateway SIGKILLed mid-stream (real Mosquitto, real VictoriaMetrics with dedup)', () => {
  test('every message published with QoS 1 is stored; acknowledged only once stored, redelivered after the restart', async () => {
    const [broker, vm] = await Promise.all([startMosquitto(), startVictoriaMetrics(undefined, ['-dedup.minScrapeInterval=1ms'])]);
    let gw: Service | undefined;
    try {
      // A rate limit below the publishing rate keeps a backlog of messages received but not yet
      // stored (retried by the connector): the kill finds hundreds of them, which only the
      // broker's redelivery (no PUBACK yet) brings back.
      const args = ['--victoriametrics', vm.writeUrl, '--self-metrics-interval-s', '0', '--max-samples-per-second', '250'];
      gw = await startSentioProcess(args);
      let api = await login(gw.url);
      const c = await api.call('POST', '/api/connectors', {
        name: 'meters',
        kind: 'mqtt',
        config: { url: broker.mqttUrl, qos: 1, subscriptions: [{ topic: 'meters/{meter}', format: 'json', fields: { energy: 'e' }, time: { path: 't', unit: 'ms' } }] },
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      await connectorState(api, c.body.id, 'up');

      const total = 3000;
      const t0 = Date.now() - 3_600_000;
      const pub = await publisher(broker.mqttUrl);
      let sent = 0;
      const publishing = (async () => {
        // In groups of 25 every 25 ms (up to 1,000 a second, four times the rate limit): the kill
        // comes while most are still to be sent.
        while (sent < total) {
          const group = Array.from({ length: Math.min(25, total - sent) }, (_, i) => sent + i);
          await Promise.all(group.map((i) => pub.publishAsync(`meters/m${i % 10}`, JSON.stringify({ t: t0 + i, e: i }), { qos: 1 })));
          sent += group.length;
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      // Kill once some messages are stored, more are received but not yet stored, and more are on their way.
      await exported(vm, 'mqtt_energy', (s) => s.reduce((n, x) => n + x.values.length, 0) > 300, 30_000);
      // A condition, not a moment: how far storage trails depends on this machine's speed.
      await waitFor('1,200 messages published and more than 100 of them not yet stored', async () => {
        const stored = (await vm.export('mqtt_energy')).reduce((n, x) => n + x.values.length, 0);
        return sent >= 1200 && sent - stored > 100;
      }, 30_000);
      gw.process.kill('SIGKILL');
      await new Promise<void>((r) => gw!.process.once('exit', () => r()));
      const killedAt = sent;
      gw = await startSentioProcess(args, { dir: gw.dir, port: gw.port });
      await publishing;
      await pub.endAsync();
      assert.ok(killedAt < total, `killed at ${killedAt} of ${total}: mid-stream`);
      // The dead instance's lease runs out (10 s), the restarted one takes the connector and the broker redelivers.
      api = await login(gw.url);
      const series = await exported(vm, 'mqtt_energy', (s) => s.reduce((n, x) => n + x.values.length, 0) >= total, 90_000);
      const seen = new Set<number>();
      for (const s of series) for (const v of s.values) seen.add(v);
      const missing = Array.from({ length: total }, (_, i) => i).filter((i) => !seen.has(i));
      assert.deepEqual(missing, [], `${missing.length} of ${total} missing`);
      assert.equal(series.reduce((n, x) => n + x.values.length, 0), total, 'stored exactly once after deduplication');
      await api.call('DELETE', `/api/connectors/${c.body.id}`);
    } finally {
      await gw?.destroy();
      await Promise.all([broker.destroy(), vm.destroy()]);
    }
  });
});

describe('connector leases: two gateways sharing PostgreSQL (real PostgreSQL, real Mosquitto)', () => {
  let pg: Postgres;
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.destroy();
  });

  test('a connector runs on one instance; when that instance is killed, the other takes it over within 15 s', async () => {
    const broker = await startMosquitto();
    const db = await pg.createDatabase();
    const gws: Service[] = [];
    try {
      for (let i = 0; i < 2; i++) gws.push(await startSentioProcess(['--postgres', db, '--sink', 'blackhole', '--self-metrics-interval-s', '0']));
      const apis = await Promise.all(gws.map((g) => login(g.url)));
      const c = await apis[0]!.call('POST', '/api/connectors', { name: 'shared', kind: 'mqtt', config: { url: broker.mqttUrl, subscriptions: [{ topic: 's/{d}', format: 'value' }] } });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      // Each instance's API knows the connectors it runs (without a shared cache, only those).
      const runsIt = async (i: number): Promise<boolean> => {
        const st = (await apis[i]!.call('GET', `/api/connectors/${c.body.id}`)).body.status;
        return st.state === 'up' && st.instance.endsWith(`:${gws[i]!.process.pid}`);
      };
      let holder = -1;
      await waitFor('one instance running the connector', async () => {
        const r = await Promise.all([runsIt(0), runsIt(1)]);
        assert.ok(!(r[0] && r[1]), 'both instances run it');
        holder = r.indexOf(true);
        return holder >= 0;
      });
      const other = 1 - holder;

      // Published messages are read once: by the holder only.
      const pub = await publisher(broker.mqttUrl);
      for (let i = 0; i < 20; i++) await pub.publishAsync(`s/d${i}`, String(i), { qos: 1 });
      const readings = async (g: Service) => {
        const m = /sentio_connector_readings_total\{connector="shared",kind="mqtt"\} (\d+)/.exec(await (await fetch(`${g.url}/metrics`)).text());
        return Number(m?.[1] ?? 0);
      };
      await waitFor('20 readings on the holder', async () => (await readings(gws[holder]!)) === 20);
      assert.equal(await readings(gws[other]!), 0);

      const killed = Date.now();
      gws[holder]!.process.kill('SIGKILL');
      await waitFor('the other instance taking the connector over', () => runsIt(other), 20_000);
      const tookMs = Date.now() - killed;
      assert.ok(tookMs < 15_000, `taken over after ${tookMs} ms`);
      await pub.publishAsync('s/after', '1', { qos: 1 });
      await waitFor('the reading after the takeover', async () => (await readings(gws[other]!)) >= 1);
      await pub.endAsync();
    } finally {
      await Promise.all(gws.map((g) => g.destroy()));
      await broker.destroy();
    }
  });
});
