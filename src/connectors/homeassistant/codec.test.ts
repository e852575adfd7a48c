import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { asState, DecodeError, type HaState, sanitize, StateMapper, stateTime, stateValue } from './codec.js';
import { areaIndex } from './registry.js';

interface Sample {
  key: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
}

function run(mapper: StateMapper, raw: unknown): { outcome: string; samples: Sample[] } {
  const samples: Sample[] = [];
  const state = asState(raw);
  const outcome = mapper.map(state, stateTime(state), (key, labels, ts, value) => samples.push({ key, labels: { ...labels }, ts, value }));
  return { outcome, samples };
}

const T = '2024-03-28T12:34:56.789012+00:00';
const TMS = Date.UTC(2024, 2, 28, 12, 34, 56, 789);

function state(entity_id: string, s: string, attributes: Record<string, unknown> = {}): HaState {
  return { entity_id, state: s, attributes, last_updated: T };
}

describe('Home Assistant states as samples', () => {
  test('state values: numbers, on/off and true/false as 1/0; unavailable and unknown apart; other text is no value', () => {
    assert.equal(stateValue('21.5'), 21.5);
    assert.equal(stateValue('-3'), -3);
    assert.equal(stateValue('1e3'), 1000);
    assert.equal(stateValue('.5'), 0.5);
    assert.equal(stateValue('on'), 1);
    assert.equal(stateValue('off'), 0);
    assert.equal(stateValue('true'), 1);
    assert.equal(stateValue('False'), 0);
    assert.equal(stateValue('unavailable'), 'unavailable');
    assert.equal(stateValue('unknown'), 'unavailable');
    for (const text of ['heat', 'home', '', ' ', '0x1F', 'NaN', 'Infinity', '12 kWh', '1,5', '2024-03-28T12:00:00+00:00']) assert.equal(stateValue(text), undefined, text);
  });

  test('a numeric state: homeassistant_<domain> with its labels, stamped last_updated (ms); the unit is a label, not in the name', () => {
    const m = new StateMapper({ area: (id) => (id === 'sensor.kitchen_temperature' ? 'Kitchen' : undefined) });
    const { outcome, samples } = run(m, {
      entity_id: 'sensor.kitchen_temperature',
      state: '21.5',
      attributes: { unit_of_measurement: '°C', device_class: 'temperature', friendly_name: 'Kitchen temperature', state_class: 'measurement' },
      last_changed: T,
      last_updated: T,
      context: { id: 'x' },
    });
    assert.equal(outcome, 'written');
    assert.deepEqual(
      samples.map((s) => [s.labels, s.ts, s.value]),
      [[{ __name__: 'homeassistant_sensor', entity_id: 'sensor.kitchen_temperature', domain: 'sensor', friendly_name: 'Kitchen temperature', unit_of_measurement: '°C', device_class: 'temperature', area: 'Kitchen' }, TMS, 21.5]],
    );
  });

  test('labels without a value are left out', () => {
    const { samples } = run(new StateMapper({ area: () => undefined }), state('sensor.bare', '3', { friendly_name: '', unit_of_measurement: null }));
    assert.deepEqual(samples[0]!.labels, { __name__: 'homeassistant_sensor', entity_id: 'sensor.bare', domain: 'sensor' });
  });

  test('on/off states of binary_sensor, switch, light are 1/0; numeric attributes become homeassistant_<domain>_<attribute>', () => {
    const m = new StateMapper({ area: () => undefined });
    assert.deepEqual(
      run(m, state('binary_sensor.door', 'off', { device_class: 'door', friendly_name: 'Door' })).samples.map((s) => [s.labels.__name__, s.value]),
      [['homeassistant_binary_sensor', 0]],
    );
    const light = run(m, state('light.desk', 'on', { brightness: 180, 'color temp': 370, rgb_color: [255, 200, 100], effect: 'none', supported_features: 44, friendly_name: 'Desk', is_hue_group: true }));
    assert.deepEqual(
      light.samples.map((s) => [s.labels.__name__, s.value]),
      [
        ['homeassistant_light', 1],
        ['homeassistant_light_brightness', 180],
        ['homeassistant_light_color_temp', 370],
      ],
      'numbers only: no booleans, lists, text, nor the supported_features bit mask; names sanitised',
    );
    assert.equal(light.samples[1]!.labels.friendly_name, 'Desk', 'attributes carry the same labels');
  });

  test('a text state is no sample, but its numeric attributes are; without attributes it is ignored', () => {
    const m = new StateMapper({ area: () => undefined });
    const climate = run(m, state('climate.hall', 'heat', { current_temperature: 20.5, temperature: 21, hvac_modes: ['off', 'heat'] }));
    assert.equal(climate.outcome, 'written');
    assert.deepEqual(climate.samples.map((s) => [s.labels.__name__, s.value]), [['homeassistant_climate_current_temperature', 20.5], ['homeassistant_climate_temperature', 21]]);
    assert.deepEqual(run(m, state('select.mode', 'eco', { options: ['eco', 'comfort'] })), { outcome: 'ignored', samples: [] });
    const noAttributes = new StateMapper({ attributes: false, area: () => undefined });
    assert.deepEqual(run(noAttributes, state('climate.hall', 'heat', { current_temperature: 20.5 })), { outcome: 'ignored', samples: [] });
    assert.deepEqual(run(noAttributes, state('sensor.x', '1', { battery: 80 })).samples.map((s) => s.labels.__name__), ['homeassistant_sensor']);
  });

  test('unavailable and unknown are counted, never written, not even their attributes', () => {
    const m = new StateMapper({ area: () => undefined });
    assert.deepEqual(run(m, state('sensor.gone', 'unavailable', { friendly_name: 'Gone', battery: 3 })), { outcome: 'unavailable', samples: [] });
    assert.deepEqual(run(m, state('sensor.new', 'unknown')), { outcome: 'unavailable', samples: [] });
  });

  test('label sets are reused per entity while they stay the same; a change of unit, name or area gives a new series key', () => {
    let area: string | undefined;
    const m = new StateMapper({ area: () => area });
    const a = run(m, state('sensor.p', '1', { unit_of_measurement: 'W' })).samples[0]!;
    const b = run(m, state('sensor.p', '2', { unit_of_measurement: 'W' })).samples[0]!;
    assert.equal(a.key, b.key);
    const c = run(m, state('sensor.p', '3', { unit_of_measurement: 'kW' })).samples[0]!;
    assert.notEqual(c.key, a.key);
    assert.equal(c.labels.unit_of_measurement, 'kW');
    area = 'Garage';
    const d = run(m, state('sensor.p', '3', { unit_of_measurement: 'kW' })).samples[0]!;
    assert.notEqual(d.key, c.key);
    assert.equal(d.labels.area, 'Garage');
    const other = run(m, state('sensor.q', '1', { unit_of_measurement: 'kW' })).samples[0]!;
    assert.notEqual(other.key, d.key);
  });

  test('objects that are no state are DecodeErrors', () => {
    for (const bad of [null, [], 'x', { state: '1', last_updated: T }, { entity_id: 'nodot', state: '1', last_updated: T }, { entity_id: 'sensor.a', state: 1, last_updated: T }, { entity_id: 'sensor.a', state: '1' }]) {
      assert.throws(() => asState(bad), DecodeError, JSON.stringify(bad));
    }
    assert.equal(stateTime(state('sensor.a', '1')), TMS);
    assert.throws(() => stateTime({ ...state('sensor.a', '1'), last_updated: 'yesterday' }), DecodeError);
    assert.deepEqual(asState({ entity_id: 'sensor.a', state: '1', last_updated: T, attributes: 'oops' }).attributes, {}, 'attributes of a wrong shape are none');
  });

  test('sanitize keeps [A-Za-z0-9_]', () => {
    assert.equal(sanitize('color temp (K)'), 'color_temp__K_');
    assert.equal(sanitize('PM2.5'), 'PM2_5');
  });
});

describe('Home Assistant areas', () => {
  test("an entity's area is its own, else its device's; the label is the area's name; bad entries are skipped", () => {
    const areas = areaIndex(
      [
        { entity_id: 'sensor.own', area_id: 'kitchen', device_id: 'd1' },
        { entity_id: 'sensor.by_device', area_id: null, device_id: 'd1' },
        { entity_id: 'sensor.none', area_id: null, device_id: null },
        { entity_id: 'sensor.unknown_area', area_id: 'attic' },
        null,
        { area_id: 'kitchen' },
      ],
      [{ id: 'd1', area_id: 'garage' }, { id: 'd2' }, 7],
      [
        { area_id: 'kitchen', name: 'Kitchen' },
        { area_id: 'garage', name: 'Garage' },
      ],
    );
    assert.deepEqual([...areas], [
      ['sensor.own', 'Kitchen'],
      ['sensor.by_device', 'Garage'],
    ]);
    assert.equal(areaIndex(undefined, 'x', {}).size, 0);
  });
});
