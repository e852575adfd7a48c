// The OPC-UA connector against real servers in their own processes: node-opcua's
// OPCUAServer (test/fixtures/opcua-server.mjs) and Python's asyncua 2.1.0 (in a
// cached venv: test/services/asyncua.ts). Through the connector class, writing
// to a recording IngestPort: subscriptions deliver changes (named, labelled and
// stamped with the source timestamp), bad statuses and text values are counted
// and not written, an item the server refuses is reported while the others
// flow, a server killed and restarted with new NodeIds behind the same browse
// paths is read again without restarting the connector, SignAndEncrypt works
// once both sides trust each other's certificate (and is refused, clearly,
// when they do not), a server refusing subscriptions is polled, and browse
// lists a server's nodes. Then through a gateway's REST API: browse, and a
// server certificate listed, trusted and untrusted.

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import client from 'prom-client';
import { ConnectorMetrics, ConnectorStatus } from '../src/connectors/status.js';
import { OpcuaConnector } from '../src/connectors/opcua/index.js';
import { browse } from '../src/connectors/opcua/browse.js';
import { OpcuaConfig } from '../src/connectors/opcua/config.js';
import { ownCertificateFile, thumbprint } from '../src/connectors/opcua/pki.js';
import { listCertificates, trustCertificate } from '../src/connectors/opcua/trust.js';
import { silentLogger } from '../src/log/index.js';
import { connectorState, login, recordingPort, startTestGateway } from './helpers.js';
import { freePort, waitFor } from './services/index.js';
import { ASYNCUA_VERSION, prepareAsyncua, startAsyncuaServer } from './services/asyncua.js';
import { type OpcuaServer, startOpcuaServer } from './services/opcua.js';

const asyncua = await prepareAsyncua((line) => console.log(`asyncua: ${line}`));
const skipAsyncua = 'unavailable' in asyncua ? `asyncua ${ASYNCUA_VERSION} is not available here: ${asyncua.unavailable}` : false;
if (skipAsyncua) console.log(`SKIPPED: ${skipAsyncua}`);

const servers: Array<{ destroy(): Promise<void> }> = [];
const connectors: OpcuaConnector[] = [];
const dirs: string[] = [];

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sentio-opcua-'));
  dirs.push(d);
  return d;
}

async function server(settings: Parameters<typeof startOpcuaServer>[0] = {}): Promise<OpcuaServer> {
  const s = await startOpcuaServer(settings);
  servers.push(s);
  return s;
}

/** A connector on `config` (validated like the API does), started. */
async function connector(config: unknown, dir?: string) {
  const cfg = OpcuaConfig.parse(config);
  const registry = new client.Registry();
  const status = new ConnectorStatus('plant', 'opcua', new ConnectorMetrics(registry), 'test:1');
  const port = recordingPort();
  const c = new OpcuaConnector(cfg, { name: 'plant', port, status, log: silentLogger, dataDir: dir ?? (await dataDir()) });
  connectors.push(c);
  await c.start();
  return { c, status, port, registry };
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000, detail: () => unknown = () => ''): Promise<void> {
  await waitFor(what, async () => cond(), timeoutMs, () => JSON.stringify(detail()));
}

const PLANT = '/Objects/1:Plant';

after(async () => {
  await Promise.all(connectors.map((c) => c.stop()));
  await Promise.all(servers.map((s) => s.destroy()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('OPC-UA connector against node-opcua OPCUAServer', () => {
  test('subscriptions deliver changes: names, node_id, source timestamps; bad statuses and text counted, not written; a refused item reported, the others read', async () => {
    const s = await server();
    const { c, status, port, registry } = await connector({
      endpoint: s.endpoint,
      publishingIntervalMs: 100,
      items: [
        { name: 'temperature', browsePath: `${PLANT}/1:Temperature`, samplingIntervalMs: 50 },
        { name: 'running', nodeId: 'ns=1;s=Running.g1' },
        { name: 'faulty', nodeId: 'ns=1;s=Faulty.g1' },
        { name: 'level', browsePath: `${PLANT}/1:Level`, deadband: { type: 'percent', value: 5 }, queueSize: 10 },
        { name: 'counter', browsePath: `${PLANT}/1:Counter`, deadband: { type: 'percent', value: 5 } },
      ],
    });
    await until('temperature, running and level changes', () => ['opcua_temperature', 'opcua_running', 'opcua_level'].every((n) => port.samples.filter((r) => r.labels.__name__ === n).length >= 5), 15_000, () => status.view());
    const temps = port.samples.filter((r) => r.labels.__name__ === 'opcua_temperature');
    assert.equal(temps[0]!.labels.node_id, 'ns=1;s=Temperature.g1');
    assert.ok(temps.every((r, i) => i === 0 || r.value > temps[i - 1]!.value), 'increasing values');
    assert.ok(temps.every((r) => Math.abs(r.ts - Date.now()) < 30_000 && r.ts % 1 === 0), 'source timestamps, in ms');
    assert.deepEqual(new Set(port.samples.filter((r) => r.labels.__name__ === 'opcua_running').map((r) => r.value)), new Set([0, 1]));
    assert.equal(port.samples.some((r) => r.labels.__name__ === 'opcua_faulty' || r.labels.__name__ === 'opcua_counter'), false);
    const v = status.view();
    assert.equal(v.state, 'up');
    assert.ok((v.badStatus?.BadSensorFailure ?? 0) >= 1, JSON.stringify(v));
    assert.match(v.lastError?.reason ?? '', /item counter \(ns=1;s=Counter\.g1\): the server refused to monitor it \(Bad/);
    assert.match(await registry.metrics(), /sentio_connector_bad_status_total\{connector="plant",kind="opcua",status="BadSensorFailure"\} [1-9]/);
    await c.stop();
    assert.equal(status.state, 'stopped');
  });

  test('a server SIGKILLed and restarted with new NodeIds behind the same browse paths is read again, without restarting the connector', async () => {
    const s = await server({ generation: 1 });
    const { status, port } = await connector({ endpoint: s.endpoint, publishingIntervalMs: 100, items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }, { name: 'label', browsePath: `${PLANT}/1:Label` }] });
    await until('data from generation 1', () => port.samples.some((r) => r.labels.node_id === 'ns=1;s=Temperature.g1'), 15_000, () => status.view());
    await s.kill();
    await until('the loss seen', () => status.state !== 'up', 15_000, () => status.view());
    const restarted = await s.restart({ generation: 2 });
    servers.push(restarted);
    const t0 = Date.now();
    await until('data from generation 2', () => port.samples.some((r) => r.labels.node_id === 'ns=1;s=Temperature.g2'), 30_000, () => status.view());
    console.log(`opcua: data resumed ${Date.now() - t0} ms after the server was back`);
    assert.equal(status.state, 'up');
    assert.equal(port.samples.some((r) => r.labels.__name__ === 'opcua_label'), false);
    assert.ok(status.view().unparseableTotal >= 1);
    assert.match(status.view().lastError?.reason ?? '', /item label \(ns=1;s=Label\.g2\): a value of type String is not a number/);
  });

  test('a server that hangs (SIGSTOP: the socket stays open, nothing comes) is found dead by the watchdog, and read again once it answers', async () => {
    const s = await server();
    const { status, port } = await connector({ endpoint: s.endpoint, publishingIntervalMs: 100, items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }] });
    await until('data', () => port.samples.length > 0, 15_000, () => status.view());
    s.process.kill('SIGSTOP');
    try {
      // 3 × 100 ms × 10 keep-alive periods.
      await until('the watchdog firing', () => status.state !== 'up', 10_000, () => status.view());
      assert.match(status.view().lastError?.reason ?? '', /nothing from the server for \d+ ms, not even a keep-alive/);
    } finally {
      s.process.kill('SIGCONT');
    }
    const before = port.samples.length;
    await until('data again', () => port.samples.length > before && status.state === 'up', 30_000, () => status.view());
  });

  test('a server refusing subscriptions (BadTooManySubscriptions) is polled, and the status says so', async () => {
    const s = await server({ noSubscriptions: true });
    const { status, port } = await connector({ endpoint: s.endpoint, pollIntervalMs: 200, items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }, { name: 'faulty', nodeId: 'ns=1;s=Faulty.g1' }] });
    await until('polled values', () => port.samples.filter((r) => r.labels.__name__ === 'opcua_temperature').length >= 3, 15_000, () => status.view());
    const v = status.view();
    assert.match(v.lastError?.reason ?? '', /refused to create a subscription \(BadTooManySubscriptions\): polling every 200 ms instead/);
    assert.ok((v.badStatus?.BadSensorFailure ?? 0) >= 3, 'a bad status is counted at every poll');
  });

  test('SignAndEncrypt: an untrusted server certificate is refused naming its thumbprint; trusted both ways, data flows; a server not trusting Sentio is refused clearly', async () => {
    const s = await server({ secure: true });
    const dir = await dataDir();
    const secure = { endpoint: s.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', publishingIntervalMs: 100, items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }] };
    const tp = thumbprint(await s.certificate());
    const first = await connector(secure, dir);
    await until('failed', () => first.status.state === 'failed', 15_000, () => first.status.view());
    assert.match(first.status.view().lastError!.reason, new RegExp(`the server's certificate \\(thumbprint ${tp}\\) is not trusted \\(BadCertificateUntrusted\\): trust it`));
    assert.deepEqual((await listCertificates(dir)).map((c) => [c.thumbprint, c.state]), [[tp, 'rejected']]);
    await first.c.stop();

    // Sentio trusts the server; the server does not know Sentio's certificate yet.
    await trustCertificate(dir, tp);
    const refused = await connector(secure, dir);
    await until('failed', () => refused.status.state === 'failed', 15_000, () => refused.status.view());
    assert.match(refused.status.view().lastError!.reason, /the server refused the secure channel .*Sentio's certificate .*client_certificate\.pem: add it to the server's trusted certificates/);
    await refused.c.stop();

    // The server trusts Sentio's certificate, as its operator would: moved from its rejected certificates to its trusted ones (read at its start).
    await rm(join(s.dir, 'pki', 'rejected'), { recursive: true, force: true });
    await mkdir(s.trustedDir, { recursive: true });
    await copyFile(ownCertificateFile(dir), join(s.trustedDir, 'sentio.pem'));
    await s.stop();
    servers.push(await s.restart({ secure: true }));
    for (const policy of ['Basic256Sha256', 'Aes256_Sha256_RsaPss']) {
      const ok = await connector({ ...secure, securityPolicy: policy }, dir);
      await until(`data over SignAndEncrypt/${policy}`, () => ok.port.samples.length >= 3, 20_000, () => ok.status.view());
      assert.equal(ok.status.state, 'up');
      await ok.c.stop();
    }
  });
});

describe('OPC-UA browse', () => {
  test("lists a server's nodes below the Objects folder and below a folder; a bad or unknown NodeId is a validation error", async () => {
    const s = await server();
    const cfg = OpcuaConfig.parse({ endpoint: s.endpoint, items: [{ name: 'x', nodeId: 'i=2258' }] });
    const ctx = { dataDir: await dataDir(), log: silentLogger };
    const top = await browse(cfg, undefined, ctx);
    assert.equal(top.node, 'ns=0;i=85');
    const plant = top.references.find((r) => r.browseName === '1:Plant');
    assert.deepEqual(plant, { nodeId: 'ns=1;s=Plant.g1', browseName: '1:Plant', displayName: 'Plant', nodeClass: 'Object', hasChildren: true });
    assert.ok(top.references.some((r) => r.browseName === '0:Server'));
    const inside = await browse(cfg, plant!.nodeId, ctx);
    const temperature = inside.references.find((r) => r.browseName === '1:Temperature');
    assert.deepEqual(temperature, { nodeId: 'ns=1;s=Temperature.g1', browseName: '1:Temperature', displayName: 'Temperature', nodeClass: 'Variable', dataType: 'Double', hasChildren: false });
    assert.equal(inside.truncated, false);
    await assert.rejects(browse(cfg, 'not a node', ctx), { code: 'SENTIO_ERR_VALIDATION', message: /not a NodeId/ });
    await assert.rejects(browse(cfg, 'ns=1;s=Nothing', ctx), { code: 'SENTIO_ERR_VALIDATION', message: /\(BadNodeIdUnknown\): no such node on this server/ });
  });
});

describe('OPC-UA through the REST API', () => {
  test('a connector created by POST is up; browse answers its server (a bad node 400, an unreachable server 502); a rejected server certificate is listed, trusted and untrusted (audited)', async () => {
    const gw = await startTestGateway();
    servers.push({ destroy: () => gw.close() });
    const api = await login(gw.url);
    const s = await server();
    const created = await api.call('POST', '/api/connectors', { name: 'line1', kind: 'opcua', config: { endpoint: s.endpoint, publishingIntervalMs: 100, items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    await connectorState(api, id, 'up');

    const top = await api.call('GET', `/api/connectors/${id}/browse`);
    assert.equal(top.status, 200, JSON.stringify(top.body));
    const plant = top.body.references.find((r: { browseName: string }) => r.browseName === '1:Plant');
    assert.equal(plant?.hasChildren, true);
    const inside = await api.call('GET', `/api/connectors/${id}/browse?node=${encodeURIComponent(plant.nodeId)}`);
    assert.deepEqual(inside.body.references.find((r: { browseName: string }) => r.browseName === '1:Temperature'), { nodeId: 'ns=1;s=Temperature.g1', browseName: '1:Temperature', displayName: 'Temperature', nodeClass: 'Variable', dataType: 'Double', hasChildren: false });
    const bad = await api.call('GET', `/api/connectors/${id}/browse?node=nonsense`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'SENTIO_ERR_VALIDATION');

    const gone = await api.call('POST', '/api/connectors', { name: 'nowhere', kind: 'opcua', enabled: false, config: { endpoint: `opc.tcp://127.0.0.1:${await freePort()}`, items: [{ name: 'x', nodeId: 'i=2258' }] } });
    const unreachable = await api.call('GET', `/api/connectors/${gone.body.id}/browse`);
    assert.equal(unreachable.status, 502, JSON.stringify(unreachable.body));
    assert.equal(unreachable.body.code, 'SENTIO_ERR_PEER_UNAVAILABLE');
    assert.match(unreachable.body.message, /connector nowhere: browsing its server failed: /);

    // A secure server: its certificate is refused on first sight and listed; trusted and untrusted through the API.
    const sec = await server({ secure: true });
    const tp = thumbprint(await sec.certificate());
    const secure = await api.call('POST', '/api/connectors', { name: 'line2', kind: 'opcua', config: { endpoint: sec.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', items: [{ name: 'temperature', browsePath: `${PLANT}/1:Temperature` }] } });
    const failed = await connectorState(api, secure.body.id, 'failed');
    assert.match(failed.status.lastError.reason, new RegExp(`thumbprint ${tp}`));
    const listed = await api.call('GET', '/api/opcua/certificates');
    assert.deepEqual(listed.body.items.map((c: { thumbprint: string; state: string }) => [c.thumbprint, c.state]), [[tp, 'rejected']]);
    const trusted = await api.call('POST', `/api/opcua/certificates/${tp}/trust`);
    assert.equal(trusted.status, 200, JSON.stringify(trusted.body));
    assert.equal(trusted.body.state, 'trusted');
    assert.equal((await api.call('POST', `/api/opcua/certificates/${tp}/trust`)).body.state, 'trusted', 'trusting again changes nothing');
    assert.equal((await api.call('POST', `/api/opcua/certificates/${'0'.repeat(40)}/trust`)).status, 404, 'a certificate never seen');
    assert.equal((await api.call('POST', '/api/opcua/certificates/xyz/trust')).body.code, 'SENTIO_ERR_VALIDATION');
    const untrusted = await api.call('POST', `/api/opcua/certificates/${tp}/untrust`);
    assert.equal(untrusted.body.state, 'rejected');
    const audit = JSON.stringify((await api.call('GET', '/api/audit?action=opcua.certificate.')).body);
    assert.match(audit, /opcua\.certificate\.trust/);
    assert.match(audit, /opcua\.certificate\.untrust/);
  });
});

describe(`OPC-UA connector against Python asyncua ${ASYNCUA_VERSION}`, { skip: skipAsyncua }, () => {
  test('subscriptions deliver changes; a bad status is counted, not written', async () => {
    const s = await startAsyncuaServer((asyncua as { python: string }).python);
    servers.push(s);
    const { status, port } = await connector({
      endpoint: s.endpoint,
      publishingIntervalMs: 100,
      items: [
        { name: 'temperature', browsePath: '/Objects/2:Plant/2:Temperature' },
        { name: 'faulty', nodeId: 'ns=2;s=Faulty.g1' },
      ],
    });
    await until('temperature changes', () => port.samples.filter((r) => r.labels.__name__ === 'opcua_temperature').length >= 5, 15_000, () => status.view());
    const temps = port.samples.filter((r) => r.labels.__name__ === 'opcua_temperature');
    assert.equal(temps[0]!.labels.node_id, 'ns=2;s=Temperature.g1');
    assert.ok(temps.every((r, i) => i === 0 || (r.value > temps[i - 1]!.value && r.ts >= temps[i - 1]!.ts)), 'increasing values and source timestamps');
    assert.equal(port.samples.some((r) => r.labels.__name__ === 'opcua_faulty'), false);
    assert.ok((status.view().badStatus?.BadSensorFailure ?? 0) >= 1, JSON.stringify(status.view()));
  });
});
