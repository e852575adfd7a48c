import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SentioError } from '../errors.js';
import { Backoff } from './backoff.js';
import { availableKinds, keepSecrets, redactSecrets, validateConnectorConfig } from './index.js';

const mqtt = { url: 'mqtt://broker:1883', subscriptions: [{ topic: 'a/{b}/#', format: 'json' }] };

function issues(f: () => void): string[] {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof SentioError && err.code === 'SENTIO_ERR_VALIDATION', String(err));
    return (err.details!.issues as Array<{ path: string; message: string }>).map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('no validation error');
}

describe('connector configs', () => {
  test('an mqtt config is checked field by field, each error named by its path', () => {
    validateConnectorConfig('mqtt', mqtt);
    validateConnectorConfig('mqtt', { ...mqtt, url: 'mqtts://b', username: 'u', password: 'p', protocolVersion: 5, sessionExpirySeconds: 60, tls: { ca: 'PEM' }, qos: 0 });
    const got = issues(() =>
      validateConnectorConfig('mqtt', { url: 'http://x', qos: 2, subscriptions: [{ topic: 'a/#/b', format: 'xml' }, { topic: 'ok', format: 'value', fields: { a: 'b' } }], extra: 1 }, 'body.config'),
    );
    assert.ok(got.some((i) => i.startsWith('body.config.url: an mqtt:// or mqtts:// URL')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('body.config.qos: qos is 0 or 1')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('body.config.subscriptions.0.topic: # may only be the last level')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('body.config.subscriptions.0.format')), got.join('\n'));
    assert.ok(got.some((i) => i.startsWith('body.config.subscriptions.1.format: fields, tags and time apply to json and msgpack only')), got.join('\n'));
    assert.ok(got.some((i) => i.includes('extra')), got.join('\n'));
    assert.deepEqual(issues(() => validateConnectorConfig('mqtt', { ...mqtt, url: 'mqtt://u:secret@b' })), ['config.url: no credentials in the URL: use username and password (the URL is shown, the password never)']);
    assert.deepEqual(issues(() => validateConnectorConfig('mqtt', { ...mqtt, tls: { ca: 'x' } })), ['config.tls: tls settings need an mqtts:// URL']);
    assert.deepEqual(issues(() => validateConnectorConfig('mqtt', { ...mqtt, subscriptions: [] })), ['config.subscriptions: Too small: expected array to have >=1 items']);
  });

  test('every kind of the store runs here, each config checked against its own schema', () => {
    assert.deepEqual([...availableKinds].sort(), ['homeassistant', 'modbus', 'mqtt', 'opcua']);
    assert.deepEqual(issues(() => validateConnectorConfig('opcua', {})), ['config.endpoint: Invalid input: expected string, received undefined', 'config.items: Invalid input: expected array, received undefined']);
    assert.deepEqual(issues(() => validateConnectorConfig('modbus', {})), ['config.registers: registers (one device) or devices (several) are needed']);
  });

  test('secrets: removed from what is shown, listed when set; kept when a changed config leaves them out; null removes', () => {
    const stored = { ...mqtt, url: 'mqtts://b', username: 'u', password: 'p', tls: { ca: 'CA', cert: 'C', key: 'K' } };
    const shown = redactSecrets('mqtt', stored);
    assert.deepEqual(shown.secrets, ['password', 'tls.key']);
    assert.equal(JSON.stringify(shown.config).includes('"p"') || JSON.stringify(shown.config).includes('"K"'), false);
    assert.deepEqual(shown.config.tls, { ca: 'CA', cert: 'C' });
    assert.deepEqual(keepSecrets('mqtt', stored, shown.config), stored, 'sending back what was shown changes nothing');
    assert.deepEqual(keepSecrets('mqtt', stored, { ...shown.config, password: 'new' }).password, 'new');
    const cleared = keepSecrets('mqtt', stored, { ...shown.config, password: null });
    assert.equal('password' in cleared, false);
    assert.deepEqual(keepSecrets('mqtt', {}, { ...mqtt, password: null }), mqtt);
    // TLS turned off: its key removed leaves no empty tls object behind (which would still ask for mqtts://).
    assert.deepEqual(keepSecrets('mqtt', { ...mqtt, tls: { key: 'K' } }, { ...mqtt, tls: { key: null } }), mqtt);
  });
});

describe('backoff', () => {
  test('the cap doubles to its maximum, each wait jittered within [cap/10, cap]; reset starts again', () => {
    let r = 1 - 1e-12;
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => r });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000]);
    r = 0;
    assert.equal(b.next(), 100, 'never below a tenth of the cap');
    b.reset();
    assert.equal(b.next(), 10);
    assert.throws(() => new Backoff({ baseMs: 0, maxMs: 1 }), RangeError);
  });
});
