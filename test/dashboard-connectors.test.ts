// The dashboard's Connectors page end to end: headless Chromium (Debian's,
// driven by playwright-core) against a real gateway serving the built
// web/dist, with MQTT connectors on a real Mosquitto that wants a password
// (Debian's package) and on a closed port, Modbus TCP connectors on
// modbus-serial's ServerTCP and OPC-UA connectors on node-opcua's server
// (each in its own process). Screenshots go to
// $SENTIO_SHOTS (default .tmp/screenshots). Needs `npm run build:web`.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { bridgeDevices } from './fixtures/zigbee2mqtt.js';
import { thumbprint } from '../src/connectors/opcua/pki.js';
import { ADMIN_PASSWORD, type ApiClient, connectorState, login, startTestGateway, type TestGateway } from './helpers.js';
import { freePort, type Service } from './services/index.js';
import { startModbusPeer } from './services/modbus.js';
import { type Mosquitto, startMosquitto } from './services/mosquitto.js';
import { startOpcuaServer } from './services/opcua.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const shots = process.env.SENTIO_SHOTS ?? join(root, '.tmp', 'screenshots');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** The broker's one user; the password is what must never reach the page. */
const BROKER_USER = 'sensor';
const BROKER_PASSWORD = 'broker-secret-Zq81x';

let gw: TestGateway;
let broker: Mosquitto;
let browser: Browser;
let admin: ApiClient;
/** A loopback port nothing listens on. */
let closedPort: number;
/** Peers a test started, stopped at the end. */
const peers: Service[] = [];

before(async () => {
  await mkdir(shots, { recursive: true });
  [gw, broker] = await Promise.all([startTestGateway(['--self-metrics-interval-s', '0']), startMosquitto({ users: { [BROKER_USER]: BROKER_PASSWORD } })]);
  admin = await login(gw.url);
  closedPort = await freePort();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await gw?.close();
  await broker?.destroy();
  await Promise.all(peers.map((p) => p.destroy()));
});

async function signIn(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${gw.url}/login`);
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('logout').waitFor();
  return page;
}

async function createConnector(name: string, config: Record<string, unknown>, kind = 'mqtt', enabled = true): Promise<string> {
  const res = await admin.call('POST', '/api/connectors', { name, kind, config, enabled });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

const row = (page: Page, name: string): Locator => page.locator(`[data-testid="connector-row"][data-name="${name}"]`);
/** The box of the input editing a config path, holding its label, input and error. */
const field = (page: Page | Locator, path: string): Locator => page.locator(`[data-field="${path}"]`);

/** Nothing the page holds, in its markup or (unless `typed`: the input it was just typed into keeps it) its inputs' values, carries the secret. */
async function assertSecretAbsent(page: Page, secret: string, typed = false): Promise<void> {
  assert.ok(!(await page.content()).includes(secret), 'the secret is in the markup');
  if (typed) return;
  const values = await page.locator('input, textarea').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
  assert.ok(!values.some((v) => v.includes(secret)), 'the secret is in an input');
}

/** The inputs of the page without a label (their markup). */
function unlabelled(page: Page): Promise<string[]> {
  return page.locator('input, select, textarea').evaluateAll((els) =>
    els
      .map((e) => e as unknown as { type?: string; labels: { length: number } | null; getAttribute(n: string): string | null; outerHTML: string })
      .filter((f) => f.type !== 'hidden' && (f.labels?.length ?? 0) === 0 && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby'))
      .map((f) => f.outerHTML.slice(0, 120)),
  );
}

/** The stored connector of that name, through the API. */
async function storedByName(name: string): Promise<any> {
  return (await admin.call('GET', '/api/connectors')).body.items.find((c: { name: string }) => c.name === name);
}

/** A full-page screenshot taken scrolled down draws the sticky header in the middle. */
async function scrollToTop(page: Page): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
}

describe('dashboard: connectors', () => {
  test('the list shows live health: up on a real broker with readings/s, backoff or connecting with its last error on a closed port; the page lists the errors', async () => {
    const good = { url: broker.mqttUrl, username: BROKER_USER, password: BROKER_PASSWORD, subscriptions: [{ topic: 'e2e/{room}/{quantity}', format: 'value' }] };
    await createConnector('list-up', good);
    const downId = await createConnector('list-down', { url: `mqtt://127.0.0.1:${closedPort}`, subscriptions: [{ topic: 'x/#', format: 'influx' }] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const pub = await mqtt.connectAsync(broker.mqttUrl, { username: BROKER_USER, password: BROKER_PASSWORD, clientId: 'e2e-pub' });
    try {
      const page = await signIn(context);
      await page.getByTestId('nav-connectors').click();
      await row(page, 'list-up').and(page.locator('[data-state="up"]')).waitFor();
      assert.equal(await row(page, 'list-up').getByTestId('connector-state').textContent(), 'up');

      // Readings arrive while something publishes; the list shows their rate without a reload.
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          await pub.publishAsync('e2e/kitchen/temperature', String(20 + Math.random()), { qos: 1 });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        await row(page, 'list-up').locator('[data-testid="connector-rate"]:not([data-value="0"])').waitFor();
      } finally {
        publishing = false;
        await publisher;
      }
      assert.match((await row(page, 'list-up').locator('td[data-label="Last success"]').textContent()) ?? '', /ago$/);

      // The closed port: the connector keeps retrying with backoff, and says why.
      const down = row(page, 'list-down');
      await down.getByTestId('connector-last-error').waitFor();
      assert.ok(['backoff', 'connecting'].includes((await down.getAttribute('data-state')) ?? ''), `state ${await down.getAttribute('data-state')}`);
      assert.match((await down.getByTestId('connector-last-error').textContent()) ?? '', /ECONNREFUSED.*\(\d+ s ago\)/);
      await page.screenshot({ path: join(shots, 'connectors-list.png') });

      // Its page: the health, and the errors seen (the gateway keeps only the last; this page lists those it saw).
      await down.getByRole('link', { name: 'list-down' }).click();
      await page.getByRole('heading', { level: 1, name: 'list-down' }).waitFor();
      assert.ok(new URL(page.url()).pathname.endsWith(downId));
      await page.getByTestId('connector-errors').locator('li:nth-child(2)').waitFor({ timeout: 30_000 });
      assert.match((await page.getByTestId('connector-errors').locator('li').first().textContent()) ?? '', /ECONNREFUSED/);
      await page.screenshot({ path: join(shots, 'connector-page.png') });
    } finally {
      await pub.endAsync();
      await context.close();
    }
  });

  test('create an mqtt connector in the form: problems are shown at the fields they name; fixed, it is created and connects; its password shows as set and never reaches the page', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
    try {
      const page = await signIn(context);
      await page.getByTestId('nav-connectors').click();
      await page.getByTestId('connector-new').click();
      const form = page.getByTestId('connector-form');
      // The inputs are labelled: reach them by their labels.
      await form.getByLabel('Name', { exact: true }).fill('plant-7');
      await form.getByLabel('Broker URL').fill(broker.mqttUrl);
      await form.getByLabel('Username (optional)').fill(BROKER_USER);
      await form.getByLabel('Password').fill(BROKER_PASSWORD);
      await form.getByLabel('Keepalive (s)').fill('2');
      const sub = form.getByTestId('mqtt-subscription').first();
      await sub.getByLabel('Topic').fill('plant/#/{machine}/telemetry');
      await sub.getByLabel('Format').selectOption('json');
      await sub.getByLabel('Measurement (optional)').fill('machine');
      await sub.getByRole('button', { name: 'Add field' }).click();
      await sub.getByLabel('Fields, row 1: Field').fill('rpm');
      await sub.getByLabel('Fields, row 1: Path').fill('spindle.rpm');
      await sub.getByLabel('Time path (optional)').fill('ts');
      await page.getByTestId('connector-save').click();

      // Two problems, each beside its own input (a top-level setting and one of the first subscription), and the input marked.
      await page.getByTestId('connector-form-error').waitFor();
      const topic = field(page, 'config.subscriptions.0.topic');
      assert.match((await topic.getByTestId('field-error').textContent()) ?? '', /#/);
      assert.equal(await topic.locator('input').getAttribute('aria-invalid'), 'true');
      const keepalive = field(page, 'config.keepaliveSeconds');
      assert.match((await keepalive.getByTestId('field-error').textContent()) ?? '', /5/);
      // The error is the input's description, and the focus went to the first bad input.
      const describedBy = (await keepalive.locator('input').getAttribute('aria-describedby')) ?? '';
      assert.ok(describedBy.split(' ').includes((await keepalive.getByTestId('field-error').getAttribute('id')) ?? '-'), describedBy);
      assert.ok(await keepalive.locator('input').evaluate((el) => el === el.ownerDocument.activeElement), 'focus on the first bad input');
      assert.equal(await page.getByTestId('field-error').count(), 2, 'no other field is blamed');
      assert.equal(await page.getByTestId('connector-form-general').count(), 0, 'every problem is at a field');
      assert.equal((await admin.call('GET', '/api/connectors')).body.items.filter((c: { name: string }) => c.name === 'plant-7').length, 0, 'nothing was created');
      // Refused, the form keeps what was typed (the password too, in its input only) for the next try.
      assert.equal(await field(page, 'config.password').locator('input').inputValue(), BROKER_PASSWORD);
      await assertSecretAbsent(page, BROKER_PASSWORD, true);
      await scrollToTop(page);
      await page.screenshot({ path: join(shots, 'connector-form.png'), fullPage: true });

      // Fixed: created, and it connects with the password it was given.
      await topic.locator('input').fill('plant/{site}/{machine}/telemetry');
      await keepalive.locator('input').fill('30');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-message').filter({ hasText: 'plant-7' }).waitFor();
      assert.equal(await page.getByTestId('connector-form').count(), 0, 'the form closes');
      await row(page, 'plant-7').and(page.locator('[data-state="up"]')).waitFor();
      const stored = (await admin.call('GET', '/api/connectors')).body.items.find((c: { name: string }) => c.name === 'plant-7');
      assert.deepEqual(stored.secrets, ['password']);
      assert.deepEqual(stored.config, {
        url: broker.mqttUrl,
        username: BROKER_USER,
        keepaliveSeconds: 30,
        subscriptions: [{ topic: 'plant/{site}/{machine}/telemetry', format: 'json', measurement: 'machine', fields: { rpm: 'spindle.rpm' }, time: { path: 'ts', unit: 'ms' } }],
      });
      await assertSecretAbsent(page, BROKER_PASSWORD);

      // Its page: the password is "set", never shown, not prefilled; a change that leaves it alone keeps it.
      await row(page, 'plant-7').getByRole('link', { name: 'plant-7' }).click();
      await page.getByTestId('connector-secrets').filter({ hasText: 'password: set' }).waitFor();
      await page.getByTestId('connector-edit').click();
      const password = field(page, 'config.password');
      assert.equal(await password.getByTestId('secret-state').getAttribute('data-set'), 'true');
      assert.match((await password.getByTestId('secret-state').textContent()) ?? '', /^set/);
      assert.equal(await password.locator('input').inputValue(), '');
      await assertSecretAbsent(page, BROKER_PASSWORD);
      await field(page, 'config.qos').getByLabel('QoS').selectOption('0');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-saved').waitFor();
      const changed = (await admin.call('GET', `/api/connectors/${stored.id}`)).body;
      assert.equal(changed.config.qos, 0);
      assert.deepEqual(changed.secrets, ['password'], 'the password was kept');
      await page.locator('.page-head [data-testid="connector-state"][data-state="up"]').waitFor();

      // Removed: the broker then refuses the connector, and the page says so.
      await page.getByTestId('connector-edit').click();
      await field(page, 'config.password').getByTestId('secret-clear').click();
      assert.equal(await field(page, 'config.password').getByTestId('secret-state').getAttribute('data-mode'), 'clear');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-secrets').filter({ hasText: 'none set' }).waitFor();
      assert.deepEqual((await admin.call('GET', `/api/connectors/${stored.id}`)).body.secrets, []);
      await page.locator('.page-head [data-testid="connector-state"][data-state="failed"]').waitFor();
      assert.match((await page.getByTestId('connector-last-error').first().textContent()) ?? '', /refused/);
    } finally {
      await context.close();
    }
  });

  test('stop and start change the state shown; delete asks first, Cancel keeps it, Delete removes it', async () => {
    const id = await createConnector('toggle-me', { url: broker.mqttUrl, username: BROKER_USER, password: BROKER_PASSWORD, subscriptions: [{ topic: 't/#', format: 'influx' }] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors`);
      const r = row(page, 'toggle-me');
      await r.and(page.locator('[data-state="up"]')).waitFor();

      await r.getByTestId('connector-stop').click();
      await r.and(page.locator('[data-state="stopped"]')).waitFor();
      assert.equal(await r.getByTestId('connector-state').textContent(), 'stopped');
      assert.equal((await admin.call('GET', `/api/connectors/${id}`)).body.enabled, false);
      await r.getByTestId('connector-start').click();
      await r.and(page.locator('[data-state="up"]')).waitFor();
      assert.equal((await admin.call('GET', `/api/connectors/${id}`)).body.enabled, true);

      // Delete asks; the focus goes to Cancel, and Escape (or Cancel) keeps the connector.
      await r.getByTestId('connector-delete').click();
      const cancel = r.getByRole('button', { name: 'Cancel' });
      assert.ok(await cancel.evaluate((el) => el === el.ownerDocument.activeElement), 'focus on Cancel');
      await page.keyboard.press('Escape');
      await r.getByTestId('connector-delete').waitFor();
      assert.equal((await admin.call('GET', `/api/connectors/${id}`)).status, 200);
      await r.getByTestId('connector-delete').click();
      await r.getByTestId('connector-delete-confirm').click();
      await page.getByTestId('connector-message').filter({ hasText: 'toggle-me' }).waitFor();
      await r.waitFor({ state: 'detached' });
      assert.equal((await admin.call('GET', `/api/connectors/${id}`)).status, 404);
    } finally {
      await context.close();
    }
  });

  test('stale marks: a Zigbee2MQTT device that misses its own intervals is marked stale on the list and its page, an offline one offline; its series too', async () => {
    await createConnector('z2m-e2e', { url: broker.mqttUrl, username: BROKER_USER, password: BROKER_PASSWORD, subscriptions: [{ topic: 'e2e-z2m', format: 'zigbee2mqtt' }] });
    const pub = await mqtt.connectAsync(broker.mqttUrl, { username: BROKER_USER, password: BROKER_PASSWORD });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      await pub.publishAsync('e2e-z2m/bridge/devices', JSON.stringify(bridgeDevices), { qos: 1, retain: true });
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors`);
      const r = row(page, 'z2m-e2e');
      await r.and(page.locator('[data-state="up"]')).waitFor();
      // Reports 1 s apart by their last_seen: a 1 s rhythm, stale after the 2 s floor of silence.
      const t0 = Date.now() - 5000;
      for (let i = 0; i < 5; i++) await pub.publishAsync('e2e-z2m/kitchen/climate', JSON.stringify({ temperature: 21 + i / 10, last_seen: new Date(t0 + i * 1000).toISOString() }), { qos: 1 });
      await pub.publishAsync('e2e-z2m/front_door/availability', JSON.stringify({ state: 'offline' }), { qos: 1 });
      await r.getByTestId('connector-stale-summary').filter({ hasText: '1 stale' }).waitFor();
      assert.match((await r.getByTestId('connector-stale-summary').textContent()) ?? '', /1 stale\s*1 offline\s*of 2 devices/);

      await r.getByRole('link', { name: 'z2m-e2e' }).click();
      const devices = page.getByTestId('connector-devices');
      await devices.locator('tr[data-state="stale"]').filter({ hasText: 'kitchen/climate' }).waitFor();
      await devices.locator('tr[data-state="offline"]').filter({ hasText: 'front_door' }).waitFor();
      assert.match((await devices.locator('tr[data-state="stale"]').textContent()) ?? '', /0x00158d00045e2b17.*stale.*every 1 s/);
      await page.getByTestId('connector-series').locator('tr[data-state="stale"]').filter({ hasText: 'zigbee_temperature' }).first().waitFor();
      await scrollToTop(page);
      await page.screenshot({ path: join(shots, 'connector-stale.png'), fullPage: true });
      // It reports again: fresh.
      await pub.publishAsync('e2e-z2m/kitchen/climate', JSON.stringify({ temperature: 22, last_seen: new Date().toISOString() }), { qos: 1 });
      await devices.locator('tr[data-state="fresh"]').filter({ hasText: 'kitchen/climate' }).waitFor();
    } finally {
      await pub.publishAsync('e2e-z2m/bridge/devices', '', { qos: 1, retain: true });
      await pub.endAsync();
      await context.close();
    }
  });

  test('keyboard and themes: the form opens and is filled from the keyboard, every field is labelled, and both themes render it', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors`);
      await page.getByTestId('connector-new').focus();
      await page.keyboard.press('Enter');
      await page.getByTestId('connector-form').waitFor();
      await page.getByTestId('connector-name').focus();
      await page.keyboard.type('kbd');
      await page.keyboard.press('Tab');
      assert.equal(await page.getByTestId('connector-kind').evaluate((el) => el === el.ownerDocument.activeElement), true, 'Tab goes from the name to the kind');
      for (const kind of ['mqtt', 'homeassistant']) {
        await page.getByTestId('connector-kind').selectOption(kind);
        await page.getByRole('checkbox', { name: /TLS settings/ }).check();
        assert.deepEqual(await unlabelled(page), [], `unlabelled fields of the ${kind} form`);
      }
      // Home Assistant's form: url, token (a secret, not set), entity globs.
      const form = page.getByTestId('connector-form');
      await form.getByLabel('Home Assistant URL').waitFor();
      assert.equal(await field(page, 'config.token').getByTestId('secret-state').getAttribute('data-set'), 'false');
      await form.getByLabel('Include (entity_id globs)').fill('sensor.kitchen_*\nsensor.hall_*');
      await form.getByLabel('Exclude (entity_id globs)').waitFor();
      await page.getByTestId('theme-toggle').click();
      assert.equal(await page.locator('html').getAttribute('data-theme'), 'light');
      await scrollToTop(page);
      await page.screenshot({ path: join(shots, 'connector-form-homeassistant-light.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test('create a modbus connector in the form: fields show where they apply; problems are shown at the register fields they name; fixed, it is created and polls a real ServerTCP; re-saved unchanged, nothing is sent', async () => {
    // Unit 1: a float32 in CDAB order (123.456) and a string "SN-0042"; unit 2, behind the same server: a coil.
    const peer = await startModbusPeer('node', { units: { '1': { holding: { 0: 0xe979, 1: 0x42f6, 10: 0x534e, 11: 0x2d30, 12: 0x3034, 13: 0x3200 } }, '2': { coil: { 0: 1 } } } });
    peers.push(peer);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
    try {
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors`);
      await page.getByTestId('connector-new').click();
      await page.getByTestId('connector-kind').selectOption('modbus');
      const form = page.getByTestId('connector-form');
      await form.getByLabel('Name', { exact: true }).first().fill('meter-e2e');
      await field(page, 'config.host').getByLabel('Host').fill('127.0.0.1');
      await field(page, 'config.port').getByLabel('Port').fill(String(peer.port));
      await field(page, 'config.intervalMs').getByLabel('Poll every (ms)').fill('1000');

      // Register 1: a float32, little word order, with a unit; its address is out of range.
      const r0 = field(page, 'config.registers.0');
      await r0.getByLabel('Name', { exact: true }).fill('voltage');
      assert.equal(await r0.getByLabel('Word order').count(), 0, 'no word order for a 16-bit type');
      await r0.getByLabel('Type').selectOption('float32');
      await r0.getByLabel('Word order').selectOption('little');
      await r0.getByLabel('Address').fill('70000');
      await r0.getByLabel('Unit', { exact: true }).fill('V');
      // Register 2: a string, without its length.
      await field(page, 'config.registers').getByTestId('modbus-register-add').click();
      const r1 = field(page, 'config.registers.1');
      await r1.getByLabel('Name', { exact: true }).fill('serial');
      await r1.getByLabel('Address').fill('10');
      await r1.getByLabel('Type').selectOption('string');
      await r1.getByLabel('Length', { exact: true }).waitFor();
      assert.equal(await r1.getByLabel('Scale').count(), 0, 'no scale for a string');
      assert.equal(await r1.getByLabel('Word order').count(), 0, 'no word order for a string');
      // A second device behind the same server: a coil is a bool, without byte order.
      await page.getByTestId('modbus-device-add').click();
      const dev = field(page, 'config.devices.0');
      await dev.getByLabel('Name', { exact: true }).first().fill('hvac');
      await dev.getByLabel('Unit id').fill('2');
      const coil = field(page, 'config.devices.0.registers.0');
      await coil.getByLabel('Name', { exact: true }).fill('fan_running');
      await coil.getByLabel('Address').fill('0');
      await coil.getByLabel('Table').selectOption('coil');
      assert.equal(await coil.getByLabel('Type').inputValue(), 'bool');
      assert.deepEqual(await coil.getByLabel('Type').locator('option').allTextContents(), ['bool']);
      assert.equal(await coil.getByLabel('Byte order').count(), 0, 'no byte order on a coil');
      assert.equal(await coil.getByLabel('Bit (optional)').count(), 0, 'no bit on a coil');
      assert.deepEqual(await unlabelled(page), [], 'unlabelled fields of the modbus form');
      await page.getByTestId('connector-save').click();

      // Each problem beside its own input; nothing created.
      await page.getByTestId('connector-form-error').waitFor();
      const address = field(page, 'config.registers.0.address');
      assert.match((await address.getByTestId('field-error').textContent()) ?? '', /65535/);
      assert.equal(await address.locator('input').getAttribute('aria-invalid'), 'true');
      const length = field(page, 'config.registers.1.length');
      assert.match((await length.getByTestId('field-error').textContent()) ?? '', /length/);
      assert.equal(await page.getByTestId('field-error').count(), 2, 'no other field is blamed');
      assert.equal(await page.getByTestId('connector-form-general').count(), 0, 'every problem is at a field');
      assert.equal(await storedByName('meter-e2e'), undefined, 'nothing was created');
      await scrollToTop(page);
      await page.screenshot({ path: join(shots, 'connector-form-modbus.png'), fullPage: true });

      // Fixed: created as typed (only the settings that apply), and it polls the server.
      await address.locator('input').fill('0');
      await length.locator('input').fill('4');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-message').filter({ hasText: 'meter-e2e' }).waitFor();
      const stored = await storedByName('meter-e2e');
      assert.deepEqual(stored.config, {
        host: '127.0.0.1',
        port: peer.port,
        intervalMs: 1000,
        registers: [
          { name: 'voltage', table: 'holding', address: 0, type: 'float32', wordOrder: 'little', unit: 'V' },
          { name: 'serial', table: 'holding', address: 10, type: 'string', length: 4 },
        ],
        devices: [{ name: 'hvac', unitId: 2, registers: [{ name: 'fan_running', table: 'coil', address: 0, type: 'bool' }] }],
      });
      const up = await connectorState(admin, stored.id, 'up');
      assert.equal(up.status.lastError, null, JSON.stringify(up.status.lastError));

      // Its edit form holds what is stored; saved untouched, nothing is sent (the connector is not changed or restarted).
      await row(page, 'meter-e2e').getByRole('link', { name: 'meter-e2e' }).click();
      await page.getByTestId('connector-edit').click();
      assert.equal(await field(page, 'config.registers.0.wordOrder').locator('select').inputValue(), 'little');
      assert.equal(await field(page, 'config.registers.1.length').locator('input').inputValue(), '4');
      assert.equal(await field(page, 'config.devices.0.registers.0.table').locator('select').inputValue(), 'coil');
      assert.equal(await page.getByTestId('connector-other').inputValue(), '', 'every key is in the form');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-saved').waitFor();
      assert.equal((await admin.call('GET', `/api/connectors/${stored.id}`)).body.updatedAt, stored.updatedAt, 'not changed');
    } finally {
      await context.close();
    }
  });

  test('an opcua connector: created in the form (browsing waits for the save), then its server browsed in the edit form: Plant expanded from the keyboard, Temperature added by NodeId and Level by browse path, saved; a server that cannot be reached is said so', async () => {
    const server = await startOpcuaServer();
    peers.push(server);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
    try {
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors`);
      await page.getByTestId('connector-new').click();
      await page.getByTestId('connector-kind').selectOption('opcua');
      const form = page.getByTestId('connector-form');
      await form.getByLabel('Name', { exact: true }).first().fill('plant-ua');
      await form.getByLabel('Endpoint URL').fill(server.endpoint);
      await form.getByTestId('browse-unsaved').waitFor();
      assert.equal(await form.getByTestId('browse-start').count(), 0, 'a new connector cannot be browsed');
      const item = field(page, 'config.items.0');
      await item.getByLabel('Name', { exact: true }).fill('running');
      await item.getByLabel('NodeId').fill('ns=1;s=Running.g1');
      assert.deepEqual(await unlabelled(page), [], 'unlabelled fields of the opcua form');
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-message').filter({ hasText: 'plant-ua' }).waitFor();
      const stored = await storedByName('plant-ua');
      assert.deepEqual(stored.config, { endpoint: server.endpoint, items: [{ name: 'running', nodeId: 'ns=1;s=Running.g1' }] });
      await connectorState(admin, stored.id, 'up');

      await row(page, 'plant-ua').getByRole('link', { name: 'plant-ua' }).click();
      await page.getByTestId('connector-edit').click();
      await page.getByTestId('browse-start').click();
      const expand = page.getByRole('button', { name: 'Expand Plant' });
      await expand.focus();
      await page.keyboard.press('Enter');
      assert.equal(await page.getByRole('button', { name: 'Collapse Plant' }).getAttribute('aria-expanded'), 'true');
      await page.getByRole('button', { name: 'Add Temperature as an item' }).click();
      assert.equal(await field(page, 'config.items.1.name').locator('input').inputValue(), 'temperature');
      assert.equal(await field(page, 'config.items.1.nodeId').locator('input').inputValue(), 'ns=1;s=Temperature.g1');
      assert.ok(await page.getByRole('button', { name: 'Temperature is an item' }).isDisabled(), 'added once');
      await page.getByTestId('browse-by').selectOption('browsePath');
      await page.getByRole('button', { name: 'Add Level as an item' }).click();
      assert.equal(await field(page, 'config.items.2.browsePath').locator('input').inputValue(), '/Objects/1:Plant/1:Level');
      await scrollToTop(page);
      await page.screenshot({ path: join(shots, 'connector-form-opcua-browse.png'), fullPage: true });
      await page.getByTestId('connector-save').click();
      await page.getByTestId('connector-saved').waitFor();
      const changed = (await admin.call('GET', `/api/connectors/${stored.id}`)).body;
      assert.deepEqual(changed.config.items, [
        { name: 'running', nodeId: 'ns=1;s=Running.g1' },
        { name: 'temperature', nodeId: 'ns=1;s=Temperature.g1' },
        { name: 'level', browsePath: '/Objects/1:Plant/1:Level' },
      ]);
      await connectorState(admin, stored.id, 'up');

      // A stored connector whose server is not there: browsing says why.
      const nowhere = await createConnector('ua-nowhere', { endpoint: `opc.tcp://127.0.0.1:${closedPort}`, items: [{ name: 'x', nodeId: 'i=2258' }] }, 'opcua', false);
      await page.goto(`${gw.url}/connectors/${nowhere}`);
      await page.getByTestId('connector-edit').click();
      await page.getByTestId('browse-start').click();
      await page.getByTestId('browse-error').waitFor();
      assert.match((await page.getByTestId('browse-error').textContent()) ?? '', /browsing its server failed/);
    } finally {
      await context.close();
    }
  });

  test("an opcua connector with SignAndEncrypt: its server's rejected certificate is listed in the form, trusted and untrusted from there", async () => {
    const server = await startOpcuaServer({ secure: true });
    peers.push(server);
    const tp = thumbprint(await server.certificate());
    const id = await createConnector('ua-secure', { endpoint: server.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', items: [{ name: 'temperature', browsePath: '/Objects/1:Plant/1:Temperature' }] }, 'opcua');
    await connectorState(admin, id, 'failed');
    const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
    try {
      const page = await signIn(context);
      await page.goto(`${gw.url}/connectors/${id}`);
      await page.getByTestId('connector-edit').click();
      assert.equal(await field(page, 'config.securityPolicy').locator('select').inputValue(), 'Basic256Sha256');
      const cert = page.locator(`[data-testid="opcua-certificate"][data-thumbprint="${tp}"]`);
      await cert.and(page.locator('[data-state="rejected"]')).waitFor();
      await cert.getByTestId('opcua-certificate-trust').click();
      await cert.and(page.locator('[data-state="trusted"]')).waitFor();
      const state = async () => (await admin.call('GET', '/api/opcua/certificates')).body.items.find((c: { thumbprint: string }) => c.thumbprint === tp)?.state;
      assert.equal(await state(), 'trusted');
      await page.getByTestId('opcua-certificates').screenshot({ path: join(shots, 'connector-opcua-certificates.png') });
      await cert.getByRole('button', { name: /^Untrust the certificate of / }).click();
      await cert.and(page.locator('[data-state="rejected"]')).waitFor();
      assert.equal(await state(), 'rejected');
    } finally {
      await context.close();
    }
  });
});
