import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateConnectorConfig } from '../index.js';
import { SentioError } from '../../errors.js';
import { domainOf, EntityFilter, parseGlob } from './filter.js';

const ids = ['sensor.kitchen_temperature', 'sensor.hall_humidity', 'binary_sensor.door', 'light.kitchen_1', 'light.kitchen_12', 'switch.heater', 'zone.home', 'person.anna'];

function selected(rules: ConstructorParameters<typeof EntityFilter>[0]): string[] {
  const f = new EntityFilter(rules);
  return ids.filter((id) => f.matches(id));
}

describe('Home Assistant entity filter', () => {
  test('globs match whole entity_ids: * any characters, ? one; dots and the rest stand for themselves', () => {
    assert.equal(parseGlob('sensor.*').test('sensor.a'), true);
    assert.equal(parseGlob('sensor.*').test('binary_sensor.a'), false);
    assert.equal(parseGlob('*_temperature').test('sensor.kitchen_temperature'), true);
    assert.equal(parseGlob('*_temperature').test('sensor.kitchen_temperature_2'), false);
    assert.equal(parseGlob('light.kitchen_?').test('light.kitchen_1'), true);
    assert.equal(parseGlob('light.kitchen_?').test('light.kitchen_12'), false);
    assert.equal(parseGlob('sensor.a').test('sensorxa'), false, 'a dot is a dot');
    for (const bad of ['', 'sensor.[ab]', 'a b', 'sensor.(x)', 'x|y']) assert.throws(() => parseGlob(bad), Error, bad);
    assert.equal(domainOf('binary_sensor.door'), 'binary_sensor');
    assert.equal(domainOf('nodot'), '');
  });

  test('with no rules every entity is read; include and domains select (either), exclude and excludeDomains win', () => {
    assert.deepEqual(selected({}), ids);
    assert.deepEqual(selected({ include: [], domains: [] }), ids, 'empty lists select nothing less');
    assert.deepEqual(selected({ include: ['sensor.*'] }), ['sensor.kitchen_temperature', 'sensor.hall_humidity']);
    assert.deepEqual(selected({ domains: ['light', 'switch'] }), ['light.kitchen_1', 'light.kitchen_12', 'switch.heater']);
    assert.deepEqual(selected({ include: ['*_temperature'], domains: ['binary_sensor'] }), ['sensor.kitchen_temperature', 'binary_sensor.door']);
    assert.deepEqual(selected({ exclude: ['*kitchen*'] }), ['sensor.hall_humidity', 'binary_sensor.door', 'switch.heater', 'zone.home', 'person.anna']);
    assert.deepEqual(selected({ excludeDomains: ['zone', 'person'] }), ['sensor.kitchen_temperature', 'sensor.hall_humidity', 'binary_sensor.door', 'light.kitchen_1', 'light.kitchen_12', 'switch.heater']);
    assert.deepEqual(selected({ domains: ['sensor', 'light'], exclude: ['light.kitchen_?'], excludeDomains: ['sensor'] }), ['light.kitchen_12']);
    const f = new EntityFilter({ include: ['sensor.*'] });
    assert.equal(f.matches('sensor.x'), true);
    assert.equal(f.matches('sensor.x'), true, 'the decision is cached, and the same');
  });
});

describe('Home Assistant connector config', () => {
  const ok = { url: 'http://homeassistant.local:8123', token: 'abc' };
  function issues(config: unknown): string[] {
    try {
      validateConnectorConfig('homeassistant', config);
    } catch (err) {
      assert.ok(err instanceof SentioError && err.code === 'SENTIO_ERR_VALIDATION', String(err));
      return (err.details!.issues as Array<{ path: string; message: string }>).map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  }

  test('a config is checked field by field', () => {
    assert.deepEqual(issues(ok), []);
    assert.deepEqual(issues({ ...ok, url: 'https://ha.example:8123/', include: ['sensor.*'], exclude: ['*_raw'], domains: ['light'], excludeDomains: ['zone'], attributes: false, pingIntervalSeconds: 10, tls: { ca: 'PEM', rejectUnauthorized: true } }), []);
    const got = issues({ url: 'ws://ha:8123', include: ['sensor.[x]'], domains: ['Binary Sensor'], extra: 1 });
    assert.ok(got.some((i) => i.startsWith('config.url: an http:// or https:// URL')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('config.token')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('config.include.0: "sensor.[x]"')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('config.domains.0: a domain')), got.join('\n'));
    assert.ok(got.some((i) => i.includes('extra')), got.join('\n'));
    assert.deepEqual(issues({ ...ok, url: 'http://user:pw@ha:8123' }), ['config.url: no credentials in the URL: use token (the URL is shown, the token never)']);
    assert.deepEqual(issues({ ...ok, tls: { ca: 'x' } }), ['config.tls: tls settings need an https:// URL']);
    assert.deepEqual(issues({ ...ok, token: '' }).length, 1);
  });
});
