// A real Home Assistant core (2024.3.3, from PyPI) for tests: a Python venv
// built once and cached, `hass` on a free loopback port with a config written
// here, onboarded through its REST API to get a token.
//
// - The venv is at ${XDG_CACHE_HOME:-~/.cache}/sentio/homeassistant-2024.3.3
//   (./venv.ts: built once, skipped without PyPI); hass runs as
//   `python -m homeassistant`.
// - Besides homeassistant itself (and josepy<2: with josepy 2 every HTTP
//   request is a 500), the venv holds the requirements of the integrations
//   HA always loads (frontend, backup, hardware, image_upload...: even without
//   `default_config`), which HA would otherwise install from PyPI at its
//   first start. hass then runs with --skip-pip: tests never reach PyPI.
// - `node --import tsx test/services/homeassistant.ts --install` builds the
//   venv (scripts/test.mjs runs it before the tests).

import { writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type Service, spawnService } from './index.js';
import { type Prepared, prepareVenv } from './venv.js';

export const HA_VERSION = '2024.3.3';

/** What the venv holds: HA, and the pinned requirements of the integrations it loads at every start (their manifests, 2024.3.3). */
const REQUIREMENTS = [
  `homeassistant==${HA_VERSION}`,
  'josepy<2',
  // frontend, image_upload (person), backup, file_upload, hardware, recorder (an after-dependency, installed though not loaded), the auth MFA modules
  'home-assistant-frontend==20240307.0',
  'Pillow==10.2.0',
  'securetar==2024.2.1',
  'janus==1.0.0',
  'psutil-home-assistant==0.0.1',
  'SQLAlchemy==2.0.27',
  'fnv-hash-fast==0.5.0',
  'pyotp==2.8.0',
  'PyQRCode==1.2.1',
];

const VENV = {
  name: `homeassistant-${HA_VERSION}`,
  what: `Home Assistant ${HA_VERSION}`,
  packages: REQUIREMENTS,
  check: `import homeassistant.const as c, hass_frontend, PIL, securetar, josepy; assert c.__version__ == "${HA_VERSION}"`,
};

/**
 * The venv's python, building the venv first when it is missing (minutes;
 * `log` hears what is done). { unavailable } when it cannot be built because
 * PyPI cannot be reached; throws when the build fails for another reason.
 */
export function prepareHomeAssistant(log: (line: string) => void = () => undefined): Promise<Prepared> {
  return prepareVenv(VENV, log);
}

export interface HomeAssistant extends Service {
  /** A long-lived access token of the owner (what users configure). */
  token: string;
  /** Writes configuration.yaml again with `entities` (read at the next start). */
  configure(entities: string): Promise<void>;
  /** A REST call with the token; resolves with the status and parsed body. */
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** One WebSocket command (a connection of its own); resolves with its result, rejects with HA's error. */
  command(type: string, fields?: Record<string, unknown>): Promise<any>;
  /** POST /api/services/<domain>/<service>. */
  callService(domain: string, service: string, data: Record<string, unknown>): Promise<void>;
  /** Every state, by entity_id. */
  states(): Promise<Map<string, { state: string; attributes: Record<string, unknown>; last_updated: string }>>;
  /** Starts hass again (after stop()) on the same port and config dir. */
  start(): Promise<HomeAssistant>;
}

function configYaml(port: number, entities: string): string {
  // Not default_config (dozens of integrations): only what the tests use. HA sets up its
  // DEFAULT_INTEGRATIONS (frontend, backup, person...) all the same.
  return `homeassistant:
  name: Sentio test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: ${port}
  ip_ban_enabled: false
api:
websocket_api:
onboarding:
config:
${entities}
`;
}

/** Starts hass with `entities` (YAML of integrations such as input_number, template), onboarded, with a long-lived token. */
export async function startHomeAssistant(python: string, entities: string): Promise<HomeAssistant> {
  const svc = await spawnHass(python, entities);
  try {
    const url = svc.url;
    const client_id = `${url}/`;
    const user = await fetch(`${url}/api/onboarding/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id, name: 'Owner', username: 'owner', password: 'owner-password-for-tests', language: 'en' }),
    });
    if (user.status !== 200) throw new Error(`onboarding: HTTP ${user.status}: ${await user.text()}`);
    const { auth_code } = (await user.json()) as { auth_code: string };
    const tokens = await fetch(`${url}/auth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code: auth_code, client_id }) });
    if (tokens.status !== 200) throw new Error(`auth/token: HTTP ${tokens.status}: ${await tokens.text()}`);
    const { access_token } = (await tokens.json()) as { access_token: string };
    // What users configure: a long-lived token (the one above lasts 30 minutes).
    const token = (await wsCommand(url, access_token, 'auth/long_lived_access_token', { client_name: 'sentio-tests', lifespan: 30 })) as string;
    return withToken(python, svc, token, entities);
  } catch (err) {
    await svc.destroy();
    throw err;
  }
}

/** hass in `existing`'s config dir and port, or a new one; ready once its HTTP server answers. */
function spawnHass(python: string, entities: string, existing?: { dir: string; port: number }): Promise<Service> {
  return spawnService(
    'homeassistant',
    python,
    (dir, port) => {
      writeFileSync(join(dir, 'configuration.yaml'), configYaml(port, entities));
      return ['-m', 'homeassistant', '-c', dir, '--skip-pip', '--log-no-color'];
    },
    async (u) => (await fetch(`${u}/api/onboarding`)).status === 200,
    existing,
  );
}

function withToken(python: string, svc: Service, token: string, entities: string): HomeAssistant {
  let current = entities;
  const ha: HomeAssistant = {
    ...svc,
    token,
    async configure(e) {
      current = e;
      await writeFile(join(svc.dir, 'configuration.yaml'), configYaml(svc.port, e));
    },
    async rest(method, path, body) {
      const res = await fetch(`${svc.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the text
      }
      return { status: res.status, body: parsed };
    },
    command: (type, fields = {}) => wsCommand(svc.url, token, type, fields),
    async callService(domain, service, data) {
      const r = await ha.rest('POST', `/api/services/${domain}/${service}`, data);
      if (r.status !== 200) throw new Error(`${domain}.${service}: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    },
    async states() {
      const r = await ha.rest('GET', '/api/states');
      if (r.status !== 200) throw new Error(`GET /api/states: HTTP ${r.status}`);
      return new Map((r.body as Array<{ entity_id: string; state: string; attributes: Record<string, unknown>; last_updated: string }>).map((s) => [s.entity_id, s]));
    },
    async start() {
      const next = await spawnHass(python, current, { dir: svc.dir, port: svc.port });
      return withToken(python, next, token, current);
    },
  };
  return ha;
}

/** Opens a connection, authenticates, sends one command and closes; resolves with its result. */
export function wsCommand(url: string, token: string, type: string, fields: Record<string, unknown> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/websocket`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${type}: no answer within 10 s`));
    }, 10_000);
    const done = (err: Error | undefined, v?: unknown) => {
      clearTimeout(timer);
      ws.close();
      if (err) reject(err);
      else resolve(v);
    };
    ws.on('error', (e) => done(e));
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { type: string; id?: number; success?: boolean; result?: unknown; error?: { code: string; message: string }; message?: string };
      if (m.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: token }));
      else if (m.type === 'auth_invalid') done(new Error(`auth_invalid: ${m.message}`));
      else if (m.type === 'auth_ok') ws.send(JSON.stringify({ ...fields, id: 1, type }));
      else if (m.type === 'result' && m.id === 1) done(m.success ? undefined : new Error(`${type}: ${m.error?.code}: ${m.error?.message}`), m.result);
    });
  });
}

// `--install`: build the venv (scripts/test.mjs). Prints why the tests will skip when it cannot.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--install')) {
  const r = await prepareHomeAssistant((line) => console.log(`test: ${line}`));
  if ('unavailable' in r) console.log(`test: the Home Assistant tests will be SKIPPED: ${r.unavailable}`);
  else console.log(`test: Home Assistant ${HA_VERSION} ready (${r.python})`);
}
