// The Home Assistant connector against a real Home Assistant core (2024.3.3
// from PyPI, in a cached venv: test/services/homeassistant.ts), writing
// through the gateway into a real VictoriaMetrics: names, labels, areas and
// timestamps of the initial states, a service call's change, include /
// exclude / domains, unavailable states counted, a refused token (failed,
// and fixed by a new one), the token never shown, a dead connection found by
// its pings, and a Home Assistant restart with a change made while the
// connector was away.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ApiClient, connectorState, exported, login, metricValue, startTestGateway, type TestGateway } from './helpers.js';
import { type HomeAssistant, HA_VERSION, prepareHomeAssistant, startHomeAssistant } from './services/homeassistant.js';
import { type ExportedSeries, startVictoriaMetrics, type VictoriaMetrics, waitFor } from './services/index.js';

const prepared = await prepareHomeAssistant((line) => console.log(`homeassistant: ${line}`));
const skip = 'unavailable' in prepared ? `Home Assistant ${HA_VERSION} is not available here: ${prepared.unavailable}` : false;
if (skip) console.log(`SKIPPED: ${skip}`);

/** The entities of the test instance; `setpoint` is the input_number's initial value (changed while the connector is away). */
function entities(setpoint: number): string {
  return `input_number:
  setpoint:
    name: Setpoint
    min: 0
    max: 100
    step: 0.5
    initial: ${setpoint}
    unit_of_measurement: "°C"
input_boolean:
  heater:
    name: Heater
    initial: true
template:
  - sensor:
      - name: Lab temperature
        unique_id: lab_temperature
        unit_of_measurement: "°C"
        device_class: temperature
        state: "{{ states('input_number.setpoint') | float(0) + 1 }}"
      - name: Broken
        unique_id: broken
        state: "{{ 1 }}"
        availability: "{{ false }}"
      - name: Raw counter
        unique_id: raw_counter
        state: "{{ 7 }}"
      - name: Mode
        unique_id: mode
        state: "eco"
`;
}

async function connector(api: ApiClient, id: string): Promise<any> {
  return (await api.call('GET', `/api/connectors/${id}`)).body;
}

function byEntity(series: ExportedSeries[]): Map<string, ExportedSeries> {
  return new Map(series.map((s) => [`${s.metric.__name__} ${s.metric.entity_id}${s.metric.area !== undefined ? ` @${s.metric.area}` : ''}`, s]));
}

describe(`Home Assistant connector (real Home Assistant ${HA_VERSION}, real VictoriaMetrics)`, { skip }, () => {
  let ha: HomeAssistant;
  let vm: VictoriaMetrics;
  let gw: TestGateway;
  let api: ApiClient;
  let labArea: string;

  before(async () => {
    if ('unavailable' in prepared) return;
    [ha, vm] = await Promise.all([startHomeAssistant(prepared.python, entities(10)), startVictoriaMetrics()]);
    gw = await startTestGateway(['--victoriametrics', vm.writeUrl, '--self-metrics-interval-s', '0']);
    api = await login(gw.url);
    // An area for the template sensor (it has a unique_id, so it is in the entity registry).
    labArea = (await ha.command('config/area_registry/create', { name: 'Sentio Lab' })).area_id as string;
    await ha.command('config/entity_registry/update', { entity_id: 'sensor.lab_temperature', area_id: labArea });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([ha?.destroy(), vm?.destroy()]);
  });

  test('initial states, a service call, include/exclude/domains, areas, unavailable counted; then a restart of Home Assistant with a change made meanwhile', async () => {
    const created = await api.call('POST', '/api/connectors', {
      name: 'home',
      kind: 'homeassistant',
      config: { url: ha.url, token: ha.token, include: ['sensor.*'], exclude: ['sensor.raw_*'], domains: ['input_number', 'input_boolean'] },
      enabled: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.secrets, ['token']);
    assert.equal(JSON.stringify(created.body).includes(ha.token), false, 'no token in the answer');
    const id = created.body.id as string;
    await connectorState(api, id, (s) => s === 'up', 20_000, 'up');

    // The initial states: names, labels (the unit a label), area, each stamped with its last_updated.
    const initial = await ha.states();
    const series = await exported(vm, '{connector="home"}', (s) => s.length >= 7);
    const got = byEntity(series);
    const lab = got.get('homeassistant_sensor sensor.lab_temperature @Sentio Lab');
    assert.deepEqual(lab?.metric, {
      __name__: 'homeassistant_sensor',
      entity_id: 'sensor.lab_temperature',
      domain: 'sensor',
      friendly_name: 'Lab temperature',
      unit_of_measurement: '°C',
      device_class: 'temperature',
      area: 'Sentio Lab',
      connector: 'home',
    });
    assert.deepEqual(lab?.values, [11]);
    assert.deepEqual(lab?.timestamps, [Date.parse(initial.get('sensor.lab_temperature')!.last_updated)]);
    const setpoint = got.get('homeassistant_input_number input_number.setpoint');
    assert.deepEqual(setpoint?.metric, { __name__: 'homeassistant_input_number', entity_id: 'input_number.setpoint', domain: 'input_number', friendly_name: 'Setpoint', unit_of_measurement: '°C', connector: 'home' });
    assert.deepEqual(setpoint?.values, [10]);
    // Numeric attributes: homeassistant_<domain>_<attribute>, same labels.
    assert.deepEqual(got.get('homeassistant_input_number_max input_number.setpoint')?.values, [100]);
    assert.deepEqual(got.get('homeassistant_input_number_step input_number.setpoint')?.values, [0.5]);
    assert.deepEqual(got.get('homeassistant_input_number_max input_number.setpoint')?.metric.unit_of_measurement, '°C');
    // on → 1.
    assert.deepEqual(got.get('homeassistant_input_boolean input_boolean.heater')?.values, [1]);
    assert.deepEqual(
      [...got.keys()].sort(),
      [
        'homeassistant_input_boolean input_boolean.heater',
        'homeassistant_input_number input_number.setpoint',
        'homeassistant_input_number_initial input_number.setpoint',
        'homeassistant_input_number_max input_number.setpoint',
        'homeassistant_input_number_min input_number.setpoint',
        'homeassistant_input_number_step input_number.setpoint',
        'homeassistant_sensor sensor.lab_temperature @Sentio Lab',
      ],
      'excluded: sensor.raw_counter (exclude), zone/person (not selected); sensor.mode (text) and sensor.broken (unavailable) are not values',
    );

    // Unavailable: counted, not written; the text state not counted as an error.
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(metricValue(metrics, 'sentio_connector_unavailable_total', { connector: 'home', kind: 'homeassistant' }), 1, metrics.split('\n').filter((l) => l.includes('connector="home"')).join('\n'));
    assert.equal(metricValue(metrics, 'sentio_connector_unparseable_total', { connector: 'home' }), 0);
    assert.match(metrics, /sentio_connector_state\{connector="home",kind="homeassistant",state="up"\} 1/);
    const st = (await connector(api, id)).status;
    assert.equal(st.unparseableTotal, 0);
    assert.equal(st.readingsTotal, 7);
    assert.notEqual(st.lastSuccessAt, null);

    // A service call's change arrives (and the template sensor that follows it).
    await ha.callService('input_number', 'set_value', { entity_id: 'input_number.setpoint', value: 33 });
    await exported(vm, 'homeassistant_input_number{entity_id="input_number.setpoint"}', (s) => s.length === 1 && s[0]!.values.join() === '10,33');
    await exported(vm, 'homeassistant_sensor{entity_id="sensor.lab_temperature"}', (s) => s.length === 1 && s[0]!.values.join() === '11,34');
    await ha.callService('input_boolean', 'turn_off', { entity_id: 'input_boolean.heater' });
    await exported(vm, 'homeassistant_input_boolean', (s) => s.length === 1 && s[0]!.values.join() === '1,0');

    // An area given while the connector runs labels what comes next (the registries are read again on their updated events).
    await ha.command('config/entity_registry/update', { entity_id: 'input_boolean.heater', area_id: labArea });
    await waitFor('a heater sample with its new area', async () => {
      await ha.callService('input_boolean', 'toggle', { entity_id: 'input_boolean.heater' });
      return (await vm.export('homeassistant_input_boolean{area="Sentio Lab"}')).length === 1;
    });

    // Home Assistant restarts. While it is down the connector backs off; the setpoint's initial value changes meanwhile.
    const upSince = (await connector(api, id)).status.since as string;
    await ha.stop();
    const away = await connectorState(api, id, (s) => s === 'backoff', 20_000, 'backing off while Home Assistant is down');
    assert.ok(away.status.lastError !== null, JSON.stringify(away.status));
    await ha.configure(entities(42));
    ha = await ha.start();
    const back = await connectorState(api, id, (s) => s === 'up', 30_000, 'up again after the restart');
    assert.ok(Date.parse(back.status.since) > Date.parse(upSince), 'a new up');
    // The change made while it was away arrives once it has re-subscribed and read the states again.
    await exported(vm, 'homeassistant_input_number{entity_id="input_number.setpoint"}', (s) => s.length === 1 && s[0]!.values.includes(42));
    await exported(vm, 'homeassistant_sensor{entity_id="sensor.lab_temperature"}', (s) => s.length === 1 && s[0]!.values.includes(43));
    // And events flow on the new subscription.
    await ha.callService('input_number', 'set_value', { entity_id: 'input_number.setpoint', value: 50 });
    const after = await exported(vm, 'homeassistant_input_number{entity_id="input_number.setpoint"}', (s) => s.length === 1 && s[0]!.values.includes(50));
    assert.deepEqual(after[0]!.values, [10, 33, 42, 50]);
    const m2 = await (await fetch(`${gw.url}/metrics`)).text();
    assert.ok(metricValue(m2, 'sentio_connector_errors_total', { connector: 'home' }) >= 1, 'the lost connection is counted');

    assert.equal((await api.call('DELETE', `/api/connectors/${id}`)).status, 204);
  });

  test('a refused token: failed with a clear reason, the token never shown; a new token fixes it', async () => {
    const wrong = 'wrong-token-0123456789abcdef';
    const c = await api.call('POST', '/api/connectors', { name: 'refused', kind: 'homeassistant', config: { url: ha.url, token: wrong, include: ['input_boolean.*'] } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const failed = await connectorState(api, c.body.id, (s) => s === 'failed', 20_000, 'failed');
    assert.match(failed.status.lastError.reason, /refused the access token/);
    for (const body of [failed, (await api.call('GET', '/api/connectors')).body, (await api.call('GET', '/api/audit?action=connector.')).body]) {
      const text = JSON.stringify(body);
      assert.equal(text.includes(wrong) || text.includes(ha.token), false, 'no token in the API or the audit log');
    }
    // The config sent back as shown keeps the (wrong) token; a new token fixes it.
    const same = await api.call('PATCH', `/api/connectors/${c.body.id}`, { config: failed.config });
    assert.deepEqual(same.body.secrets, ['token']);
    const fixed = await api.call('PATCH', `/api/connectors/${c.body.id}`, { config: { ...failed.config, token: ha.token } });
    assert.equal(fixed.status, 200);
    assert.equal(JSON.stringify(fixed.body).includes(ha.token), false);
    await connectorState(api, c.body.id, (s) => s === 'up', 20_000, 'up with the right token');
    await exported(vm, 'homeassistant_input_boolean{connector="refused"}', (s) => s.length >= 1);
    assert.equal((await api.call('DELETE', `/api/connectors/${c.body.id}`)).status, 204);
  });

  test('a connection that stops answering is found by its pings and made again', async () => {
    const c = await api.call('POST', '/api/connectors', { name: 'pings', kind: 'homeassistant', config: { url: ha.url, token: ha.token, include: ['input_number.setpoint'], attributes: false, pingIntervalSeconds: 1 } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    await connectorState(api, c.body.id, (s) => s === 'up', 20_000, 'up');
    // Frozen, Home Assistant keeps the TCP connection open but answers nothing.
    ha.process.kill('SIGSTOP');
    let lost: any;
    try {
      lost = await connectorState(api, c.body.id, (s) => s !== 'up', 10_000, 'no longer up once its pings go unanswered');
    } finally {
      ha.process.kill('SIGCONT');
    }
    assert.match(lost.status.lastError?.reason ?? '', /no pong within 1000 ms: the connection is dead/);
    await connectorState(api, c.body.id, (s) => s === 'up', 30_000, 'up again');
    await ha.callService('input_number', 'set_value', { entity_id: 'input_number.setpoint', value: 61 });
    await exported(vm, 'homeassistant_input_number{connector="pings"}', (s) => s.length === 1 && s[0]!.values.includes(61));
    // The state read again after the reconnect had not changed: not written twice (VictoriaMetrics would hide a duplicate; the count does not).
    assert.equal((await connector(api, c.body.id)).status.readingsTotal, 2, 'the setpoint as it was, then 61');
    assert.equal((await api.call('DELETE', `/api/connectors/${c.body.id}`)).status, 204);
  });
});
