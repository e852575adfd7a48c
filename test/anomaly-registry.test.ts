// The model registry in a running gateway: an ONNX model uploaded through
// the API is scored each round beside the configured models; a new version
// runs in shadow beside the active one (both score series written, told
// apart by model_version), and is promoted through the API: the roles swap
// and the retired version is no longer scored. Uploads are checked (features,
// input width, output), writes are for operators and audited.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type ApiClient, login, metricValue, startTestGateway } from './helpers.js';

const dir = new URL('../models/iforest/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('model.json', dir), 'utf8')) as { inputs: string[] };
const onnx = readFileSync(new URL('iforest.onnx', dir)).toString('base64');

/** Deterministic noise in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  };
}

/** Score series by model and version: how many samples each has. */
async function scoreCounts(gw: Awaited<ReturnType<typeof startTestGateway>>): Promise<Map<string, number>> {
  const series = await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' });
  const out = new Map<string, number>();
  for (const s of series) {
    const k = `${s.labels.model}@${s.labels.model_version}`;
    out.set(k, (out.get(k) ?? 0) + s.samples.length);
  }
  return out;
}

async function models(api: ApiClient): Promise<Array<{ name: string; version: string; kind: string; role: string | null; state: string; error?: string }>> {
  const r = await api.call('GET', '/api/anomaly/models');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.items;
}

test('user ONNX models: uploaded, scored in shadow beside the active version, promoted; uploads checked, writes audited', async () => {
  const gw = await startTestGateway(['--anomaly-interval-s', '3600', '--anomaly-models', 'statistical,iforest']);
  try {
    const now = Date.now();
    const start = now - 60_500;
    const r = noise(5);
    const lines: string[] = [];
    for (let k = 0; k < 60; k++) lines.push(`pump,site=a temp=${20 + r()} ${start + k * 1000}`, `pump,site=b temp=${k === 59 ? 40 : 30 + r()} ${start + k * 1000}`);
    assert.equal((await fetch(`${gw.url}/write?precision=ms`, { method: 'POST', headers: gw.auth, body: lines.join('\n') })).status, 204);

    const admin = await login(gw.url);
    assert.equal((await admin.call('POST', '/api/users', { username: 'watcher', password: 'watcher-password-1', role: 'viewer' })).status, 201);
    const viewer = await login(gw.url, 'watcher', 'watcher-password-1');

    // The builtins, both configured: scored.
    const before = await models(viewer);
    assert.deepEqual(
      before.map((m) => [m.name, m.kind, m.state]),
      [
        ['statistical', 'builtin', 'scored'],
        ['iforest', 'builtin', 'scored'],
      ],
    );
    await gw.gateway.anomaly!.roundNow(now);
    assert.deepEqual([...(await scoreCounts(gw))].sort(), [['iforest@1', 2], ['statistical@1', 2]]);

    // Checked before stored.
    const upload = (body: Record<string, unknown>, api: ApiClient = admin) => api.call('POST', '/api/anomaly/models', { name: 'fleet', version: '1', inputs: manifest.inputs, onnx, output: 'scores', ...body });
    assert.equal((await upload({}, viewer)).status, 403, 'a viewer may not upload');
    const wrongWidth = await upload({ inputs: manifest.inputs.slice(0, 3) });
    assert.equal(wrongWidth.status, 400);
    assert.equal(wrongWidth.body.code, 'SENTIO_ERR_MODEL_INVALID');
    assert.match(wrongWidth.body.message, /takes 5 features per row, but 3 inputs are declared/);
    const twoOutputs = await upload({ output: undefined });
    assert.equal(twoOutputs.body.code, 'SENTIO_ERR_MODEL_INVALID');
    assert.match(twoOutputs.body.message, /name the one that gives the score/);
    const garbage = await upload({ onnx: Buffer.from('not a model').toString('base64') });
    assert.equal(garbage.body.code, 'SENTIO_ERR_MODEL_INVALID');
    const unknownFeature = await upload({ inputs: ['robust_z', 'peak_z', 'silence_ratio', 'flat_run', 'nope'] });
    assert.equal(unknownFeature.status, 400);
    assert.equal(unknownFeature.body.code, 'SENTIO_ERR_VALIDATION');
    assert.equal((await upload({ name: 'iforest' })).body.code, 'SENTIO_ERR_CONFLICT', "a builtin's name");

    // The first version of a name is active, the next one starts in shadow.
    const v1 = await upload({});
    assert.equal(v1.status, 201, JSON.stringify(v1.body));
    assert.equal(v1.body.role, 'active');
    assert.equal(v1.body.state, 'scored');
    assert.equal((await upload({})).status, 409, 'the same version again');
    const v2 = await upload({ version: '2' });
    assert.equal(v2.status, 201, JSON.stringify(v2.body));
    assert.equal(v2.body.role, 'shadow');
    const listed = (await models(viewer)).filter((m) => m.kind === 'user');
    assert.deepEqual(listed.map((m) => [m.name, m.version, m.role, m.state]), [
      ['fleet', '1', 'active', 'scored'],
      ['fleet', '2', 'shadow', 'scored'],
    ]);

    // Both versions scored in the next round, each its own series.
    await gw.gateway.anomaly!.roundNow(now + 1000);
    const counts = await scoreCounts(gw);
    assert.equal(counts.get('fleet@1'), 2, JSON.stringify([...counts]));
    assert.equal(counts.get('fleet@2'), 2);
    assert.equal(counts.get('statistical@1'), 4);
    const fleet = (await gw.gateway.embedded!.exportSeries({ metric: 'sentio_anomaly_score' })).filter((s) => s.labels.model === 'fleet');
    for (const s of fleet) for (const x of s.samples) assert.ok(x.value >= 0 && x.value <= 1, `score ${x.value} in [0, 1]`);

    // Promotion: v2 active, v1 retired and no longer scored.
    assert.equal((await viewer.call('POST', '/api/anomaly/models/fleet/versions/2/promote')).status, 403);
    const promoted = await admin.call('POST', '/api/anomaly/models/fleet/versions/2/promote');
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(promoted.body.role, 'active');
    assert.deepEqual((await models(viewer)).filter((m) => m.kind === 'user').map((m) => [m.version, m.role, m.state]), [
      ['1', 'retired', 'not_scored'],
      ['2', 'active', 'scored'],
    ]);
    assert.equal((await admin.call('POST', '/api/anomaly/models/fleet/versions/9/promote')).status, 404);
    await gw.gateway.anomaly!.roundNow(now + 2000);
    const after = await scoreCounts(gw);
    assert.equal(after.get('fleet@2'), 4, 'the active version scored again');
    assert.equal(after.get('fleet@1'), 2, 'the retired version scored no more');

    // The active version of a name with others cannot go; the retired one can.
    const active = await admin.call('DELETE', '/api/anomaly/models/fleet/versions/2');
    assert.equal(active.status, 409);
    assert.equal(active.body.code, 'SENTIO_ERR_MODEL_ACTIVE');
    assert.equal((await admin.call('DELETE', '/api/anomaly/models/fleet/versions/1')).status, 204);
    assert.equal((await admin.call('DELETE', '/api/anomaly/models/fleet/versions/1')).status, 404);
    assert.deepEqual((await models(viewer)).filter((m) => m.kind === 'user').map((m) => m.version), ['2']);

    const audit = await admin.call('GET', '/api/audit?action=anomaly_model.');
    assert.equal(audit.status, 200);
    assert.deepEqual(
      audit.body.items.map((e: { action: string; target: string }) => [e.action, e.target]).reverse(),
      [
        ['anomaly_model.create', 'anomaly_model:fleet@1'],
        ['anomaly_model.create', 'anomaly_model:fleet@2'],
        ['anomaly_model.promote', 'anomaly_model:fleet@2'],
        ['anomaly_model.delete', 'anomaly_model:fleet@1'],
      ],
    );

    const m = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(m, 'sentio_anomaly_model_loads_total', { outcome: 'loaded' }), 2);
    assert.equal(metricValue(m, 'sentio_anomaly_user_models'), 1);
    assert.equal(metricValue(m, 'sentio_anomaly_inference_seconds_count', { model: 'fleet', model_version: '2' }), 2);
    assert.equal(metricValue(m, 'sentio_anomaly_inference_seconds_count', { model: 'iforest', model_version: '1' }), 3);
    assert.equal(metricValue(m, 'sentio_anomaly_scores_dropped_total', { model: 'iforest', model_version: '1', reason: 'model' }), 0);
  } finally {
    await gw.close();
  }
});
