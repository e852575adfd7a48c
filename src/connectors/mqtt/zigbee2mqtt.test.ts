import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DecodeError } from './codec.js';
import { bridgeDevices } from '../../../test/fixtures/zigbee2mqtt.js';
import { MAX_UNKNOWN_DEVICES, type ZigbeeDeviceEvent, Zigbee2MqttDecoder } from './zigbee2mqtt.js';

interface Got {
  name: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
  key: string | undefined;
  event?: true;
}

function harness(base = 'zigbee2mqtt') {
  const events: ZigbeeDeviceEvent[] = [];
  const bridge: boolean[] = [];
  const d = new Zigbee2MqttDecoder(base, { device: (e) => events.push(e), bridge: (_b, online) => bridge.push(online) });
  const send = (topic: string, payload: unknown, captures: Record<string, string> = {}): Got[] => {
    const out: Got[] = [];
    const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    d.decode(topic, body, captures, 1_000, (labels, ts, value, key, event) => {
      const { __name__, ...rest } = labels;
      out.push({ name: __name__!, labels: rest, ts, value, key, ...(event === true ? { event } : {}) });
    });
    return out;
  };
  return { send, events, bridge, decoder: d };
}

const byName = (got: Got[]) => Object.fromEntries(got.map((g) => [g.name, g]));

describe('Zigbee2MQTT decoder', () => {
  it('labels device messages from bridge/devices: friendly name, IEEE address, model, vendor, units', () => {
    const h = harness();
    assert.deepEqual(h.send('zigbee2mqtt/bridge/devices', bridgeDevices), []);
    const got = byName(h.send('zigbee2mqtt/kitchen/climate', { battery: 91, humidity: 44.72, linkquality: 120, pressure: 1001.3, temperature: 27.34, voltage: 2995 }));
    assert.deepEqual(Object.keys(got).sort(), ['zigbee_battery', 'zigbee_humidity', 'zigbee_linkquality', 'zigbee_pressure', 'zigbee_temperature', 'zigbee_voltage']);
    assert.deepEqual(got.zigbee_temperature, {
      name: 'zigbee_temperature',
      labels: { device: 'kitchen/climate', ieee_address: '0x00158d00045e2b17', model: 'WSDCGQ11LM', vendor: 'Aqara', unit: '°C' },
      ts: 1_000,
      value: 27.34,
      key: 'zigbee2mqtt/0x00158d00045e2b17\u0000kitchen/climate\u0000temperature\u0000°C',
    });
    assert.equal(got.zigbee_pressure!.labels.unit, 'hPa');
    assert.deepEqual(h.events.at(-1), { key: 'zigbee2mqtt/0x00158d00045e2b17', labels: { device: 'kitchen/climate', ieee_address: '0x00158d00045e2b17', model: 'WSDCGQ11LM', vendor: 'Aqara' }, ts: 1_000 });
  });

  it('turns binary words into 1/0 by the exposes, flattens nested objects, skips enums and text', () => {
    const h = harness();
    h.send('zigbee2mqtt/bridge/devices', bridgeDevices);
    const bulb = byName(h.send('zigbee2mqtt/living_room_bulb', { state: 'ON', brightness: 215, color_temp: 325, color: { x: 0.4599, y: 0.4106 }, color_mode: 'color_temp', power_on_behavior: 'previous', update: { state: 'idle', installed_version: 587765297 }, update_available: false }));
    assert.equal(bulb.zigbee_state!.value, 1);
    assert.equal(bulb.zigbee_color_x!.value, 0.4599);
    assert.equal(bulb.zigbee_color_y!.value, 0.4106);
    assert.equal(bulb.zigbee_color_temp!.labels.unit, 'mired');
    assert.equal(bulb.zigbee_update_available!.value, 0);
    assert.equal(bulb.zigbee_update_installed_version!.value, 587765297);
    assert.equal(bulb.zigbee_color_mode, undefined);
    assert.equal(bulb.zigbee_power_on_behavior, undefined);
    assert.equal(bulb.zigbee_update_state, undefined);
    assert.equal(byName(h.send('zigbee2mqtt/living_room_bulb', { state: 'OFF' })).zigbee_state!.value, 0);
    // A lock's words are LOCK/UNLOCK; a contact sensor's boolean is the payload's (true: closed).
    assert.equal(byName(h.send('zigbee2mqtt/back_door_lock', { state: 'LOCK' })).zigbee_state!.value, 1);
    assert.equal(byName(h.send('zigbee2mqtt/back_door_lock', { state: 'UNLOCK' })).zigbee_state!.value, 0);
    assert.equal(byName(h.send('zigbee2mqtt/front_door', { contact: true, battery: 100 })).zigbee_contact!.value, 1);
    assert.deepEqual(h.send('zigbee2mqtt/some_button', { action: 'single' }), []);
  });

  it('stamps samples with last_seen when Zigbee2MQTT adds it, in either format', () => {
    const h = harness();
    assert.equal(h.send('zigbee2mqtt/front_door', { contact: false, last_seen: '2026-12-06T10:00:00.250Z' })[0]!.ts, Date.parse('2026-12-06T10:00:00.250Z'));
    assert.deepEqual(
      h.send('zigbee2mqtt/front_door', { contact: false, last_seen: 1765015200250 }).map((g) => [g.name, g.ts]),
      [['zigbee_contact', 1765015200250]],
    );
  });

  it('availability, JSON and legacy text, is an up series and the device event says so', () => {
    const h = harness();
    h.send('zigbee2mqtt/bridge/devices', bridgeDevices);
    const on = h.send('zigbee2mqtt/living_room_bulb/availability', { state: 'online' });
    assert.deepEqual(on, [{ name: 'up', labels: { device: 'living_room_bulb', ieee_address: '0x000b57fffec6a5b2', model: 'LED1545G12', vendor: 'IKEA' }, ts: 1000, value: 1, key: 'zigbee2mqtt/0x000b57fffec6a5b2\u0000living_room_bulb\u0000up', event: true }]);
    assert.equal(h.events.at(-1)!.online, true);
    assert.equal(h.send('zigbee2mqtt/kitchen/climate/availability', 'offline')[0]!.value, 0);
    assert.equal(h.events.at(-1)!.online, false);
    assert.equal(h.events.at(-1)!.key, 'zigbee2mqtt/0x00158d00045e2b17');
    assert.throws(() => h.send('zigbee2mqtt/kitchen/climate/availability', 'maybe'), (e: unknown) => e instanceof DecodeError && /availability of kitchen\/climate/.test(e.message));
  });

  it('a rename keeps the device: the new name at once, the same IEEE address, model and key', () => {
    const h = harness();
    h.send('zigbee2mqtt/bridge/devices', bridgeDevices);
    const before = h.send('zigbee2mqtt/front_door', { contact: true })[0]!;
    h.send('zigbee2mqtt/bridge/response/device/rename', { data: { from: 'front_door', to: 'hall/front_door', homeassistant_rename: false }, status: 'ok', transaction: 'a1' });
    const after = h.send('zigbee2mqtt/hall/front_door', { contact: false })[0]!;
    assert.equal(after.labels.device, 'hall/front_door');
    assert.equal(after.labels.ieee_address, before.labels.ieee_address);
    assert.equal(after.labels.model, 'MCCGQ11LM');
    assert.notEqual(after.key, before.key, 'another label set, another series key');
    assert.equal(h.events.at(-1)!.key, 'zigbee2mqtt/0x0017880104e45517');
    // The old name is no device any more: a message there is an unknown device's.
    assert.equal(h.send('zigbee2mqtt/front_door', { contact: true })[0]!.labels.ieee_address, undefined);
    // A failed rename changes nothing.
    h.send('zigbee2mqtt/bridge/response/device/rename', { data: { from: 'hall/front_door', to: 'x' }, status: 'error', error: 'friendly_name already in use' });
    assert.equal(h.send('zigbee2mqtt/hall/front_door', { contact: false })[0]!.labels.model, 'MCCGQ11LM');
  });

  it('ignores commands, per-attribute topics and the bridge logs; unknown devices keep their full name', () => {
    const h = harness();
    h.send('zigbee2mqtt/bridge/devices', bridgeDevices);
    assert.deepEqual(h.send('zigbee2mqtt/living_room_bulb/set', { state: 'ON' }), []);
    assert.deepEqual(h.send('zigbee2mqtt/living_room_bulb/set/brightness', '100'), []);
    assert.deepEqual(h.send('zigbee2mqtt/kitchen/climate/temperature', '27.3'), []);
    assert.deepEqual(h.send('zigbee2mqtt/bridge/logging', { level: 'info', message: 'MQTT publish' }), []);
    assert.deepEqual(h.send('zigbee2mqtt/bridge/info', { version: '1.35.3', commit: 'abc', coordinator: {} }), []);
    assert.deepEqual(h.send('zigbee2mqtt/new/sensor', { temperature: 20 })[0]!.labels, { device: 'new/sensor' });
    assert.deepEqual(h.send('zigbee2mqtt/new/sensor/availability', 'online')[0]!.labels, { device: 'new/sensor' });
  });

  it('remembers at most MAX_UNKNOWN_DEVICES devices outside the bridge list; beyond, their samples are still labelled', () => {
    const h = harness();
    for (let i = 0; i < MAX_UNKNOWN_DEVICES + 5; i++) h.send(`zigbee2mqtt/junk_${i}`, { v: 1 });
    assert.equal(h.decoder.devices, MAX_UNKNOWN_DEVICES);
    const beyond = h.send('zigbee2mqtt/junk_last', { v: 2 })[0]!;
    assert.deepEqual(beyond.labels, { device: 'junk_last' });
    assert.equal(h.decoder.devices, MAX_UNKNOWN_DEVICES);
    // The bridge's list replaces what was remembered: known devices are labelled in full again.
    h.send('zigbee2mqtt/bridge/devices', bridgeDevices);
    assert.equal(h.send('zigbee2mqtt/front_door', { contact: true })[0]!.labels.model, 'MCCGQ11LM');
    assert.equal(h.decoder.devices, 4);
  });

  it('reports the bridge going offline, and bad payloads as DecodeErrors', () => {
    const h = harness();
    h.send('zigbee2mqtt/bridge/state', { state: 'offline' });
    h.send('zigbee2mqtt/bridge/state', 'online');
    assert.deepEqual(h.bridge, [false, true]);
    assert.throws(() => h.send('zigbee2mqtt/bridge/devices', { not: 'a list' }), /expected a JSON array of devices/);
    assert.throws(() => h.send('zigbee2mqtt/lamp', '{"state":'), (e: unknown) => e instanceof DecodeError && /^not JSON/.test(e.message));
    assert.throws(() => h.send('zigbee2mqtt/lamp', [1, 2]), /expected a JSON object, got an array/);
  });

  it('keeps bridges under a base topic with captures apart, each with its own devices', () => {
    const h = harness('site/{site}/z2m');
    h.send('site/a/z2m/bridge/devices', bridgeDevices, { site: 'a' });
    const a = h.send('site/a/z2m/front_door', { contact: true }, { site: 'a' })[0]!;
    const b = h.send('site/b/z2m/front_door', { contact: true }, { site: 'b' })[0]!;
    assert.deepEqual(a.labels, { site: 'a', device: 'front_door', ieee_address: '0x0017880104e45517', model: 'MCCGQ11LM', vendor: 'Aqara' });
    assert.deepEqual(b.labels, { site: 'b', device: 'front_door' });
    assert.notEqual(a.key, b.key);
  });
});
