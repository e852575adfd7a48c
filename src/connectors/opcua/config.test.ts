import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpcuaConfig } from './config.js';

const base = { endpoint: 'opc.tcp://plc.local:4840', items: [{ name: 'temperature', nodeId: 'ns=2;s=Temperature' }] };

function problems(config: unknown): string[] {
  const r = OpcuaConfig.safeParse(config);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('a minimal config, and one with every setting, are valid', () => {
  assert.deepEqual(problems(base), []);
  assert.deepEqual(
    problems({
      endpoint: 'opc.tcp://10.0.0.5:4840/UA/Server',
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Aes256_Sha256_RsaPss',
      username: 'sentio',
      password: 'secret',
      publishingIntervalMs: 500,
      items: [
        { name: 'a', browsePath: '/Objects/2:Plant/2:Temperature', samplingIntervalMs: 100, queueSize: 10, deadband: { type: 'percent', value: 2 } },
        { name: 'b', nodeId: 'i=2258', deadband: { type: 'absolute', value: 0.5 } },
      ],
    }),
    [],
  );
});

test('each bad setting is named, with what to write instead', () => {
  assert.deepEqual(problems({ ...base, endpoint: 'http://plc:4840' }), ['endpoint: an opc.tcp:// endpoint URL such as opc.tcp://plc.local:4840 (optionally with a path)']);
  assert.match(problems({ ...base, endpoint: 'opc.tcp://user:pw@plc:4840' }).join(), /no credentials in the URL/);
  assert.match(problems({ ...base, securityMode: 'Sign' }).join(), /securityPolicy: securityMode Sign needs a securityPolicy/);
  assert.match(problems({ ...base, securityPolicy: 'Basic256Sha256' }).join(), /securityMode: securityPolicy Basic256Sha256 needs securityMode Sign or SignAndEncrypt/);
  assert.match(problems({ ...base, securityMode: 'Sign', securityPolicy: 'Basic256' }).join(), /securityPolicy/);
  assert.match(problems({ ...base, password: 'x' }).join(), /password: a password needs a username/);
  assert.match(problems({ ...base, items: [{ name: 'a' }] }).join(), /items\.0\.nodeId: exactly one of nodeId and browsePath/);
  assert.match(problems({ ...base, items: [{ name: 'a', nodeId: 'i=1', browsePath: '/Objects' }] }).join(), /exactly one of nodeId and browsePath/);
  assert.match(problems({ ...base, items: [{ name: 'a', nodeId: 'Temperature' }] }).join(), /items\.0\.nodeId: "Temperature" is not a NodeId: write it as ns=<namespace index>/);
  assert.match(problems({ ...base, items: [{ name: 'a', browsePath: 'Objects/2:Plant' }] }).join(), /items\.0\.browsePath: "Objects\/2:Plant": the browse path must start with \//);
  assert.match(problems({ ...base, items: [{ name: 'a', browsePath: '/Objects/2:Pl<ant' }] }).join(), /items\.0\.browsePath: .*Malformed relative path/);
  assert.match(problems({ ...base, items: [{ name: 'a', nodeId: 'i=1', deadband: { type: 'percent', value: 150 } }] }).join(), /a percent deadband is 0\.\.100/);
  assert.match(problems({ ...base, items: [{ name: '1a', nodeId: 'i=1' }] }).join(), /metric-safe name/);
  assert.match(problems({ ...base, items: [base.items[0], base.items[0]] }).join(), /items\.1\.name: temperature: a second item of that name/);
  assert.match(problems({ ...base, mode: 'poll', items: [{ name: 'a', nodeId: 'i=1', queueSize: 5 }] }).join(), /items\.0: samplingIntervalMs, queueSize and deadband apply to mode subscribe/);
  assert.match(problems({ ...base, tls: {} }).join(), /Unrecognized key/);
});
