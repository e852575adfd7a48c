import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pack } from 'msgpackr';
import { DecodeError, type Emit, RecordDecoder, type RecordMapping, ValueDecoder } from './codec.js';
import { parseTopicPattern } from './topic.js';

const json = (m: RecordMapping) => new RecordDecoder(m, 'json');
const msgpack = (m: RecordMapping) => new RecordDecoder(m, 'msgpack');

type Got = Array<[Record<string, string>, number, number]>;
function collect(): { emit: Emit; got: Got } {
  const got: Got = [];
  return { got, emit: (l, t, v) => got.push([l, t, v]) };
}

describe('MQTT topic patterns', () => {
  test('captures become labels; the filter has + in their place', () => {
    const p = parseTopicPattern('plant/{site}/{device}/#');
    assert.equal(p.filter, 'plant/+/+/#');
    assert.deepEqual(p.match('plant/p7/m3/temp/x'), { site: 'p7', device: 'm3' });
    assert.deepEqual(p.match('plant/p7/m3'), { site: 'p7', device: 'm3' }, '# also matches the parent level');
    assert.equal(p.match('plant/p7'), undefined);
    assert.equal(p.match('other/p7/m3/t'), undefined);
  });

  test('+ and exact levels; $ topics are not matched by leading wildcards', () => {
    const p = parseTopicPattern('+/{room}/temperature');
    assert.deepEqual(p.match('home/kitchen/temperature'), { room: 'kitchen' });
    assert.equal(p.match('home/kitchen/humidity'), undefined);
    assert.equal(p.match('home/kitchen/temperature/x'), undefined);
    assert.equal(p.match('$SYS/kitchen/temperature'), undefined);
    assert.equal(parseTopicPattern('#').match('$SYS/broker/uptime'), undefined);
    assert.deepEqual(parseTopicPattern('#').match('a/b'), {});
  });

  test('invalid patterns are refused with the reason', () => {
    assert.throws(() => parseTopicPattern('a/#/b'), /# may only be the last level/);
    assert.throws(() => parseTopicPattern('a/b+/c'), /stand alone/);
    assert.throws(() => parseTopicPattern('a/{x}/{x}'), /appears twice/);
    assert.throws(() => parseTopicPattern('a/{x-y}'), /capture is a whole level/);
    assert.throws(() => parseTopicPattern('a/pre{x}'), /capture is a whole level/);
    assert.throws(() => parseTopicPattern(''), /empty/);
  });
});

describe('MQTT payload decoders', () => {
  const caps = { site: 'p7' };

  test('json without fields: every number and boolean, nested paths joined by _', () => {
    const { emit, got } = collect();
    json({}).decode('t', Buffer.from('{"temp": 21.5, "on": true, "name": "x", "nested": {"a": 1, "list": [2, 3]}}'), caps, 1000, emit);
    assert.deepEqual(got, [
      [{ __name__: 'mqtt_temp', site: 'p7' }, 1000, 21.5],
      [{ __name__: 'mqtt_on', site: 'p7' }, 1000, 1],
      [{ __name__: 'mqtt_nested_a', site: 'p7' }, 1000, 1],
      [{ __name__: 'mqtt_nested_list_0', site: 'p7' }, 1000, 2],
      [{ __name__: 'mqtt_nested_list_1', site: 'p7' }, 1000, 3],
    ]);
  });

  test('json with fields, tags, a time in seconds and a measurement holding a capture; arrays are records', () => {
    const { emit, got } = collect();
    const d = json({ measurement: 'meter_{site}', fields: { power: 'data.p', energy: 'data.e' }, tags: { phase: 'meta.phase', id: 'id' }, time: { path: 'ts', unit: 's' } });
    d.decode('t', Buffer.from('[{"ts": 1700000000.5, "id": 7, "meta": {"phase": "L1"}, "data": {"p": 230, "e": 5, "x": 9}}, {"ts": 1700000001, "id": 7, "data": {"p": 231}}]'), caps, 1, emit);
    assert.deepEqual(got, [
      [{ __name__: 'meter_p7_power', site: 'p7', phase: 'L1', id: '7' }, 1_700_000_000_500, 230],
      [{ __name__: 'meter_p7_energy', site: 'p7', phase: 'L1', id: '7' }, 1_700_000_000_500, 5],
      [{ __name__: 'meter_p7_power', site: 'p7', id: '7' }, 1_700_000_001_000, 231],
    ]);
  });

  test('time units and RFC 3339; a missing or bad time is a decode error', () => {
    for (const [unit, v, ms] of [['ms', 1700000000123, 1700000000123], ['us', 1700000000123456, 1700000000123], ['ns', 1700000000123456789, 1700000000123], ['iso', '2023-11-14T22:13:20.123Z', 1700000000123]] as const) {
      const { emit, got } = collect();
      json({ fields: { v: 'v' }, time: { path: 't', unit } }).decode('t', Buffer.from(JSON.stringify({ t: v, v: 1 })), {}, 0, emit);
      assert.equal(got[0]![1], ms, unit);
    }
    const d = json({ time: { path: 't', unit: 'ms' } });
    assert.throws(() => d.decode('t', Buffer.from('{"v": 1}'), {}, 0, () => {}), (e: unknown) => e instanceof DecodeError && /time t: not a number/.test(e.message));
    assert.throws(() => json({ time: { path: 't', unit: 'iso' } }).decode('t', Buffer.from('{"t": "yesterday"}'), {}, 0, () => {}), /not an RFC 3339 time/);
  });

  test('not JSON, or not objects: decode errors with the reason', () => {
    const d = json({});
    assert.throws(() => d.decode('t', Buffer.from('{"a":'), {}, 0, () => {}), (e: unknown) => e instanceof DecodeError && /^not JSON/.test(e.message));
    assert.throws(() => d.decode('t', Buffer.from('42'), {}, 0, () => {}), /expected an object or an array of objects, got number/);
    assert.throws(() => d.decode('t', Buffer.from('[1]'), {}, 0, () => {}), /got number/);
  });

  test('msgpack maps like json', () => {
    const { emit, got } = collect();
    msgpack({ tags: { unit: 'u' } }).decode('t', pack({ t: 20.25, u: 'C', n: { x: false } }), {}, 5, emit);
    assert.deepEqual(got, [
      [{ __name__: 'mqtt_t', unit: 'C' }, 5, 20.25],
      [{ __name__: 'mqtt_n_x', unit: 'C' }, 5, 0],
    ]);
    assert.throws(() => msgpack({}).decode('t', Buffer.from([0x81]), {}, 0, () => {}), (e: unknown) => e instanceof DecodeError && /^not msgpack/.test(e.message));
  });

  test('value: numbers, booleans and on/off; names sanitised; anything else is an error', () => {
    const { emit, got } = collect();
    const d = new ValueDecoder('{quantity}');
    for (const p of [' 21.5\n', 'ON', 'false', '-1e3']) d.decode('t', Buffer.from(p), { quantity: 'temp.c' }, 9, emit);
    assert.deepEqual(got.map((g) => g[2]), [21.5, 1, 0, -1000]);
    assert.equal(got[0]![0].__name__, 'temp_c');
    for (const bad of ['', 'abc', 'NaN', '1,5']) assert.throws(() => d.decode('t', Buffer.from(bad), {}, 0, () => {}), DecodeError, bad);
  });
});
