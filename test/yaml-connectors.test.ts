// Connectors defined in the YAML config file (the `connectors` setting)
// against a real Mosquitto: applied to the metadata store at start with
// source file, run, read-only through the API; a changed file changes them
// on restart, an absent setting keeps them, `connectors: []` deletes them,
// API connectors are never touched and a file naming one is refused. Then
// `sentio start` as a process: a bad connector config exits 2, two
// instances starting at once with one file against one PostgreSQL create
// the connector once and run it on one of them, and a file naming an API
// connector exits 1.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { loadConfig } from '../src/config/index.js';
import { StartupError } from '../src/errors.js';
import { type Gateway, startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log/index.js';
import { ADMIN_PASSWORD, type ApiClient, login, sentioCli, startSentioProcess, TOKEN } from './helpers.js';
import { type Mosquitto, startMosquitto } from './services/mosquitto.js';
import { type Postgres, startPostgres } from './services/postgres.js';
import { type Service, waitFor } from './services/index.js';

/** The file's `connectors:` block: one MQTT connector named zigbee reading `topic`. */
function zigbee(url: string, topic: string, extra = ''): string {
  return ['connectors:', '  - name: zigbee', '    kind: mqtt', '    config:', `      url: ${url}`, `      subscriptions: [{ topic: '${topic}', format: value }]`, extra, ''].join('\n');
}

async function connectorNamed(api: ApiClient, name: string): Promise<any> {
  const res = await api.call('GET', '/api/connectors');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body.items as any[]).find((c) => c.name === name);
}

/** Polls until connector `name` is in `state`; fails with its last view. */
async function inState(api: ApiClient, name: string, state: string, pred: (c: any) => boolean = () => true): Promise<any> {
  let last: any;
  await waitFor(`connector ${name} ${state}`, async () => {
    last = await connectorNamed(api, name);
    return last?.status.state === state && pred(last);
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${JSON.stringify(last)}`);
  });
  return last;
}

/** Without its live status (which moves on its own). */
const stored = ({ status: _status, ...c }: any) => c;

describe('connectors defined in the config file (in-process gateway, PGlite, real Mosquitto)', () => {
  let broker: Mosquitto;
  let dataDir: string;
  let gw: Gateway | undefined;
  let logs: string[] = [];

  before(async () => {
    broker = await startMosquitto();
    dataDir = await mkdtemp(join(tmpdir(), 'sentio-yaml-connectors-'));
  });
  after(async () => {
    await gw?.close();
    await broker?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Starts a gateway on `dataDir` with `yaml` as its config file and `env` as its environment; logs (warn and up) go to `logs`. */
  async function start(yaml: string, env: Record<string, string> = {}): Promise<{ gateway: Gateway; api: ApiClient }> {
    const file = join(dataDir, 'sentio.yaml');
    await writeFile(file, yaml);
    const { config } = loadConfig(
      ['--config', file, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--token', TOKEN, '--workers', '1', '--admin-password', ADMIN_PASSWORD, '--self-metrics-interval-s', '0'],
      env,
    );
    logs = [];
    const gateway = await startGateway(config, createLogger('warn', (line) => logs.push(line)));
    gw = gateway;
    return { gateway, api: await login(`http://127.0.0.1:${gateway.port}`) };
  }

  async function stop(): Promise<void> {
    await gw?.close();
    gw = undefined;
  }

  test('applied at start with source file and run; read-only through the API; changed, kept, refused and removed across restarts', async () => {
    // 1. Defined in the file, its broker URL from the environment: created, source file, running.
    let { api } = await start(zigbee('${BROKER_URL}', 'home/{room}/{quantity}'), { BROKER_URL: broker.mqttUrl });
    const first = await inState(api, 'zigbee', 'up');
    assert.equal(first.source, 'file');
    assert.equal(first.kind, 'mqtt');
    assert.equal(first.enabled, true);
    assert.deepEqual(first.config, { url: broker.mqttUrl, subscriptions: [{ topic: 'home/{room}/{quantity}', format: 'value' }] });
    // It reads: a retained message reaches it whenever it subscribed.
    const pub = await mqtt.connectAsync(broker.mqttUrl, { clientId: `pub-${process.pid}` });
    try {
      await pub.publishAsync('home/kitchen/temperature', '21.5', { qos: 1, retain: true });
    } finally {
      await pub.endAsync();
    }
    await inState(api, 'zigbee', 'up', (c) => c.status.readingsTotal >= 1);

    // 2. The API refuses to change or delete it, enabled included, with a stable code; it keeps running.
    for (const [method, body] of [
      ['PATCH', { enabled: false }],
      ['PATCH', { config: { url: broker.mqttUrl, subscriptions: [{ topic: 'x', format: 'value' }] } }],
      ['PATCH', { name: 'renamed' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await api.call(method, `/api/connectors/${first.id}`, body);
      assert.equal(res.status, 409, `${method} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'SENTIO_ERR_READ_ONLY');
      assert.match(res.body.message, /connector zigbee is defined in the config file \(connectors\): it cannot be (changed|deleted) through the API; change the file/);
    }
    const taken = await api.call('POST', '/api/connectors', { name: 'zigbee', kind: 'mqtt', config: { url: broker.mqttUrl, subscriptions: [{ topic: 'y', format: 'value' }] } });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.code, 'SENTIO_ERR_CONFLICT');
    assert.deepEqual(stored(await connectorNamed(api, 'zigbee')), stored(first));
    // An API connector beside it, which no file change may touch.
    const manualRes = await api.call('POST', '/api/connectors', { name: 'manual', kind: 'mqtt', enabled: false, config: { url: broker.mqttUrl, subscriptions: [{ topic: 'm/{d}', format: 'value' }] } });
    assert.equal(manualRes.status, 201, JSON.stringify(manualRes.body));
    assert.equal(manualRes.body.source, 'api');
    const manual = stored(manualRes.body);
    await stop();

    // 3. Restarted with a changed file: the same connector, changed, running the new config.
    ({ api } = await start(zigbee(broker.mqttUrl, 'house/{room}/{quantity}')));
    const changed = await inState(api, 'zigbee', 'up');
    assert.equal(changed.id, first.id);
    assert.equal(changed.source, 'file');
    assert.deepEqual(changed.config.subscriptions, [{ topic: 'house/{room}/{quantity}', format: 'value' }]);
    assert.ok(changed.updatedAt > first.updatedAt, `${changed.updatedAt} > ${first.updatedAt}`);
    assert.deepEqual(stored(await connectorNamed(api, 'manual')), manual);
    const audit = await api.call('GET', '/api/audit?action=connector.&actor=system');
    assert.deepEqual(
      (audit.body.items as any[]).map((e) => [e.action, e.target, e.details.name, e.details.source]),
      [['connector.update', `connector:${first.id}`, 'zigbee', 'file'], ['connector.create', `connector:${first.id}`, 'zigbee', 'file']],
    );
    await stop();

    // 4. A file without the setting keeps what a file defined, and says so.
    ({ api } = await start('log-level: warn\n'));
    assert.equal((await connectorNamed(api, 'zigbee'))?.source, 'file');
    assert.ok(
      logs.some((l) => l.includes('1 connector(s) defined by a config file (zigbee) are kept as they are: this configuration has no connectors setting (set connectors: [] to remove them)')),
      logs.join('\n'),
    );
    await stop();

    // 5. A file naming the API connector is refused whole: the gateway does not start, and nothing changes.
    await assert.rejects(
      start(`${zigbee(broker.mqttUrl, 'other/{x}')}  - name: manual\n    kind: mqtt\n    config: { url: '${broker.mqttUrl}', subscriptions: [{ topic: 'z', format: value }] }\n`),
      (err: unknown) => err instanceof StartupError && /connectors: the config file defines "manual" \(id [0-9a-f-]+\), created through the API; the file does not take over API connectors/.test(err.message),
    );

    // 6. connectors: [] removes the file's connector (the refused start left it as it was), never the API's.
    ({ api } = await start('connectors: []\n'));
    const list = (await api.call('GET', '/api/connectors')).body.items as any[];
    assert.deepEqual(list.map(stored), [manual]);
    const deleted = await api.call('GET', '/api/audit?action=connector.delete&actor=system');
    assert.deepEqual((deleted.body.items as any[]).map((e) => e.target), [`connector:${first.id}`]);
    assert.ok(!gw!.connectors.runningIds.includes(first.id));
    await stop();
  });
});

/** `sentio start ARGS` as a process that is expected to exit. */
function run(args: string[]): { exit: Promise<number | null>; err: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', sentioCli, 'start', ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))), err: () => stderr };
}

describe('sentio start with connectors in its config file (processes, real PostgreSQL, real Mosquitto)', () => {
  let pg: Postgres;
  let broker: Mosquitto;
  let dir: string;
  before(async () => {
    [pg, broker] = await Promise.all([startPostgres(), startMosquitto()]);
    dir = await mkdtemp(join(tmpdir(), 'sentio-yaml-connectors-cli-'));
  });
  after(async () => {
    await Promise.all([pg?.destroy(), broker?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  });

  test('a bad connector config stops the start with exit code 2, naming the connector and the field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, zigbee('http://broker:1883', 'a/#/b'));
    const p = run(['--config', file, '--data-dir', join(dir, 'bad-data'), '--listen', '127.0.0.1:0']);
    assert.equal(await p.exit, 2, p.err());
    assert.match(p.err(), /^sentio: invalid configuration:\n {2}connectors\[0\] \(zigbee\)\.config\.url: .*\n {2}connectors\[0\] \(zigbee\)\.config\.subscriptions\.0\.topic: /);
  });

  test('two instances starting at once with one file create the connector once and run it on one of them; a file naming an API connector exits 1', async () => {
    const db = await pg.createDatabase();
    const file = join(dir, 'shared.yaml');
    await writeFile(file, zigbee(broker.mqttUrl, 's/{d}'));
    const args = ['--postgres', db, '--config', file, '--sink', 'blackhole', '--self-metrics-interval-s', '0'];
    const gws: Service[] = [];
    try {
      gws.push(...(await Promise.all([startSentioProcess(args), startSentioProcess(args)])));
      const apis = await Promise.all(gws.map((g) => login(g.url)));
      const items = (await apis[0]!.call('GET', '/api/connectors')).body.items as any[];
      assert.deepEqual(items.map((c) => [c.name, c.source]), [['zigbee', 'file']]);
      // Each instance's API knows the connectors it runs (without a shared cache, only those).
      const runsIt = async (i: number) => {
        const c = await connectorNamed(apis[i]!, 'zigbee');
        return c.status.state === 'up' && String(c.status.instance).endsWith(`:${gws[i]!.process.pid}`);
      };
      await waitFor('one instance running zigbee', async () => {
        const r = await Promise.all([runsIt(0), runsIt(1)]);
        assert.ok(!(r[0] && r[1]), 'both instances run it');
        return r[0] || r[1];
      });
      const created = await apis[1]!.call('GET', '/api/audit?action=connector.create');
      assert.deepEqual((created.body.items as any[]).map((e) => [e.actor, e.details.name]), [['system', 'zigbee']], 'created once, by one of the two');

      const manual = await apis[0]!.call('POST', '/api/connectors', { name: 'manual', kind: 'mqtt', enabled: false, config: { url: broker.mqttUrl, subscriptions: [{ topic: 'm', format: 'value' }] } });
      assert.equal(manual.status, 201, JSON.stringify(manual.body));
      const clash = join(dir, 'clash.yaml');
      await writeFile(clash, zigbee(broker.mqttUrl, 's/{d}').replace('name: zigbee', 'name: manual'));
      const p = run(['--postgres', db, '--config', clash, '--sink', 'blackhole', '--data-dir', join(dir, 'clash-data'), '--listen', '127.0.0.1:0']);
      assert.equal(await p.exit, 1, p.err());
      assert.match(p.err(), /(^|\n)sentio: connectors: the config file defines "manual" \(id [0-9a-f-]+\), created through the API/);
      const after = (await apis[0]!.call('GET', '/api/connectors')).body.items as any[];
      assert.deepEqual(after.map((c) => [c.name, c.source]), [['manual', 'api'], ['zigbee', 'file']]);
    } finally {
      await Promise.all(gws.map((g) => g.destroy()));
    }
  });
});
