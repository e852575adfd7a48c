import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { substituteEnv } from './connectors.js';
import { ConfigError, loadConfig } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'sentio-config-connectors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** loadConfig of a YAML file holding `yaml`. */
function load(yaml: string, env: Record<string, string> = {}, argv: string[] = []) {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(['--config', file, ...argv], env);
}

/** The ConfigError message of loading `yaml` (fails when it loads). */
function refusal(yaml: string, env: Record<string, string> = {}): string {
  try {
    load(yaml, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted:\n${yaml}`);
}

const zigbee = `connectors:
  - name: zigbee
    kind: mqtt
    config:
      url: mqtt://broker:1883
      subscriptions: [{ topic: zigbee2mqtt, format: zigbee2mqtt }]
`;

test('connectors: the YAML list as the API takes it; enabled defaults to true; absent is undefined, [] is none', () => {
  const { config, sources } = load(`${zigbee}  - name: house\n    kind: homeassistant\n    enabled: false\n    config: { url: 'http://ha:8123', token: secret-token }\n`);
  assert.deepEqual(config.connectors, [
    { name: 'zigbee', kind: 'mqtt', config: { url: 'mqtt://broker:1883', subscriptions: [{ topic: 'zigbee2mqtt', format: 'zigbee2mqtt' }] }, enabled: true },
    { name: 'house', kind: 'homeassistant', config: { url: 'http://ha:8123', token: 'secret-token' }, enabled: false },
  ]);
  assert.equal(sources.connectors, 'file');
  // Absent: connectors a file defined earlier are left alone (src/connectors/file.ts); [] removes them.
  assert.equal(loadConfig([], {}).config.connectors, undefined);
  assert.equal(load('listen: 127.0.0.1:1\n').config.connectors, undefined);
  assert.deepEqual(load('connectors: []\n').config.connectors, []);
  // The environment takes the list as YAML text, like sinks and routes.
  const env = loadConfig([], { SENTIO_CONNECTORS: '[{name: z, kind: mqtt, config: {url: "mqtt://b", subscriptions: [{topic: t, format: value}]}}]' }).config;
  assert.deepEqual(env.connectors?.map((c) => [c.name, c.config.url]), [['z', 'mqtt://b']]);
});

test('connectors: ${NAME} in config strings comes from the environment given to loadConfig, at any depth; $${NAME} is literal', () => {
  const yaml = `connectors:
  - name: plant
    kind: mqtt
    config:
      url: mqtts://\${BROKER_HOST}:8883
      username: sentio
      password: \${MQTT_PASSWORD}
      tls: { ca: "\${CA_PEM}" }
      subscriptions:
        - { topic: 'plant/{site}/\${PLANT_2}/#', format: json, measurement: 'cost_$\${EUR}' }
`;
  const { config } = load(yaml, { BROKER_HOST: 'broker.example', MQTT_PASSWORD: 'p@ss ${NOT_AGAIN}', CA_PEM: '-----BEGIN CERTIFICATE-----\nx\n', PLANT_2: 'p2' });
  assert.deepEqual(config.connectors?.[0]?.config, {
    url: 'mqtts://broker.example:8883',
    username: 'sentio',
    // Substituted once: a value's own ${...} is not expanded again.
    password: 'p@ss ${NOT_AGAIN}',
    tls: { ca: '-----BEGIN CERTIFICATE-----\nx\n' },
    subscriptions: [{ topic: 'plant/{site}/p2/#', format: 'json', measurement: 'cost_${EUR}' }],
  });
  // Only the connectors' configs: other settings are not substituted.
  assert.equal(load('data-dir: /x/${HOME_DIR}\n', { HOME_DIR: 'h' }).config.dataDir, '/x/${HOME_DIR}');
});

test('connectors: an unset or malformed variable is a config error naming it and where it is', () => {
  const message = refusal(zigbee.replace('mqtt://broker:1883', '${BROKER_URL}').replace('subscriptions', 'password: "${MQTT_PASSWORD}"\n      subscriptions'), {
    BROKER_URL: 'mqtt://b:1883',
  });
  assert.match(message, /^invalid configuration:\n {2}connectors\[0\] \(zigbee\)\.config\.password: \$\{MQTT_PASSWORD\}: the environment variable MQTT_PASSWORD is not set$/);
  const both = refusal(zigbee.replace('mqtt://broker:1883', 'mqtt://${broker}:${PORT}'));
  assert.match(both, /connectors\[0\] \(zigbee\)\.config\.url: \$\{broker\}: only \$\{NAME\} with A-Z, 0-9 and _ is replaced from the environment \(write \$\$\{broker\} for the text itself\)/);
  assert.match(both, /connectors\[0\] \(zigbee\)\.config\.url: \$\{PORT\}: the environment variable PORT is not set/);
  // The other problems of the same config are reported with it, not the missing value's as a bad value too.
  const more = refusal(zigbee.replace('mqtt://broker:1883', '${BROKER_URL}').replace('format: zigbee2mqtt', 'format: xml'));
  assert.match(more, /connectors\[0\] \(zigbee\)\.config\.url: \$\{BROKER_URL\}: the environment variable BROKER_URL is not set\n {2}connectors\[0\] \(zigbee\)\.config\.subscriptions\.0\.format: /);
  assert.equal(more.split('\n').length, 3, more);
  // In a list: the index is in the path.
  assert.match(refusal(zigbee.replace('topic: zigbee2mqtt', 'topic: "${Z2M_BASE}"')), /connectors\[0\] \(zigbee\)\.config\.subscriptions\.0\.topic: \$\{Z2M_BASE\}: the environment variable Z2M_BASE is not set/);
});

test('connectors: each config is checked against its kind at start, every problem named connectors[i] (name).<path>', () => {
  const message = refusal(zigbee.replace('mqtt://broker:1883', 'http://broker').replace('format: zigbee2mqtt', 'format: xml'));
  assert.match(message, /connectors\[0\] \(zigbee\)\.config\.url: /);
  assert.match(message, /connectors\[0\] \(zigbee\)\.config\.subscriptions\.0\.format: /);
  // A substituted value is checked as substituted.
  assert.match(refusal(zigbee.replace('mqtt://broker:1883', '${BROKER_URL}'), { BROKER_URL: 'ftp://b' }), /connectors\[0\] \(zigbee\)\.config\.url: /);
  // Each kind's config by its own schema, named the same way.
  assert.match(refusal('connectors: [{name: plc, kind: modbus, config: {}}]\n'), /connectors\[0\] \(plc\)\.config\.registers: registers \(one device\) or devices \(several\) are needed/);
  // Unknown kinds, missing and unknown keys: the schema's messages, named the same way.
  assert.match(refusal('connectors: [{name: x, kind: zwave, config: {}}]\n'), /connectors\[0\] \(x\)\.kind \(YAML key connectors, SENTIO_CONNECTORS\): /);
  assert.match(refusal('connectors: [{kind: mqtt, config: {}}]\n'), /connectors\[0\]\.name \(YAML key connectors, SENTIO_CONNECTORS\): /);
  assert.match(refusal('connectors: [{name: x, kind: mqtt, config: {}, enable: false}]\n'), /connectors\[0\] \(x\) \(YAML key connectors, SENTIO_CONNECTORS\): unknown key\(s\) enable/);
  assert.match(refusal('connectors: {name: x}\n'), /connectors \(YAML key connectors, SENTIO_CONNECTORS\): /);
  // Two of one name.
  assert.match(refusal(`${zigbee}${zigbee.replace('connectors:\n', '')}`), /connectors\[1\] \(zigbee\)\.name: two connectors are named "zigbee"/);
});

test('substituteEnv leaves numbers, booleans, null and keys alone', () => {
  const issues: string[] = [];
  const out = substituteEnv({ '${K}': 1, b: true, n: null, list: ['${A}', 2] }, { A: 'a', K: 'k' }, 'config', (w, m) => issues.push(`${w}: ${m}`));
  assert.deepEqual(out, { '${K}': 1, b: true, n: null, list: ['a', 2] });
  assert.deepEqual(issues, []);
});
