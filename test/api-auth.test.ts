// The API's authentication and authorisation against a real gateway:
// login, refresh rotation and reuse detection, logout, expired, tampered,
// `alg: none` and algorithm-confusion tokens, the role of every route, the
// brute-force limit on login, the per-user API limit, audit entries.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { type ApiClient, ADMIN_PASSWORD, apiClient, login, startTestGateway, type TestGateway } from './helpers.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

describe('API authentication', () => {
  let gw: TestGateway;
  let admin: ApiClient;
  let key: Uint8Array;

  before(async () => {
    gw = await startTestGateway(['--login-max-failures', '3', '--access-token-ttl', '60']);
    admin = await login(gw.url);
    key = Buffer.from((await gw.gateway.control.store.getSetting('jwt_hs256_key'))!, 'base64url');
  });
  after(() => gw.close());

  /** The admin's own session (a token must belong to an active session), re-signed as the test says. */
  const session = () => JSON.parse(Buffer.from(admin.accessToken.split('.')[1]!, 'base64url').toString()) as { sub: string; sid: string };
  const sign = (alg: string, k: Uint8Array | import('node:crypto').KeyObject, mutate?: (j: SignJWT) => SignJWT) => {
    let j = new SignJWT({ name: 'admin', role: 'admin', sid: session().sid }).setProtectedHeader({ alg }).setSubject(session().sub).setIssuer('sentio').setAudience('sentio-api').setIssuedAt().setExpirationTime('5m');
    if (mutate) j = mutate(j);
    return j.sign(k);
  };

  test('login returns an access token that works and a refresh token; wrong or unknown credentials get one code', async () => {
    const me = await admin.call('GET', '/api/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'admin');
    assert.equal(me.body.role, 'admin');
    assert.match(admin.refreshToken, /^srt_/);
    const wrong = await post(gw.url, '/api/auth/login', { username: 'admin', password: 'not-the-password' });
    const unknown = await post(gw.url, '/api/auth/login', { username: 'nobody', password: 'not-the-password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'SENTIO_ERR_LOGIN_FAILED');
    assert.equal(unknown.body.code, 'SENTIO_ERR_LOGIN_FAILED');
    assert.equal(wrong.body.message, unknown.body.message);
  });

  test('a refresh token rotates; reusing the old one revokes the whole session', async () => {
    const c = await login(gw.url);
    const r1 = await post(gw.url, '/api/auth/refresh', { refreshToken: c.refreshToken });
    assert.equal(r1.status, 200);
    assert.notEqual(r1.body.refreshToken, c.refreshToken);
    const fresh = apiClient(gw.url, r1.body.accessToken);
    assert.equal((await fresh.call('GET', '/api/auth/me')).status, 200);
    // The old token again: refused, and everything from that login is revoked.
    const reuse = await post(gw.url, '/api/auth/refresh', { refreshToken: c.refreshToken });
    assert.equal(reuse.status, 401);
    assert.match(reuse.body.message, /already used/);
    assert.equal((await post(gw.url, '/api/auth/refresh', { refreshToken: r1.body.refreshToken })).status, 401);
    assert.equal((await fresh.call('GET', '/api/auth/me')).status, 401);
    // Other sessions of the same user are not affected.
    assert.equal((await admin.call('GET', '/api/auth/me')).status, 200);
  });

  test('logout ends the access token and the refresh token', async () => {
    const c = await login(gw.url);
    assert.equal((await c.call('POST', '/api/auth/logout', { refreshToken: c.refreshToken })).status, 204);
    const after = await c.call('GET', '/api/auth/me');
    assert.equal(after.status, 401);
    assert.equal(after.body.code, 'SENTIO_ERR_UNAUTHORIZED');
    assert.equal((await post(gw.url, '/api/auth/refresh', { refreshToken: c.refreshToken })).status, 401);
  });

  test('expired, tampered, alg none and algorithm-confusion tokens are refused', async () => {
    const call = (token: string) => apiClient(gw.url, token).call('GET', '/api/auth/me');
    // Control: a token signed like the gateway's works (so the refusals below are for the stated reason).
    const good = await sign('HS256', key);
    assert.equal((await call(good)).status, 200);
    // The right key, but no session behind it: refused too (a token is only as good as its session in the store).
    const orphan = await sign('HS256', key, (j) => j.setSubject('00000000-0000-4000-8000-000000000001'));
    assert.equal((await call(orphan)).status, 401);

    const expired = await sign('HS256', key, (j) => j.setIssuedAt(Math.floor(Date.now() / 1000) - 600).setExpirationTime(Math.floor(Date.now() / 1000) - 300));
    const e = await call(expired);
    assert.equal(e.status, 401);
    assert.equal(e.body.code, 'SENTIO_ERR_TOKEN_EXPIRED');

    const [h, p, sig] = admin.accessToken.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const tampered = `${h}.${b64({ ...payload, role: 'admin', name: 'mallory' })}.${sig}`;
    assert.equal((await call(tampered)).status, 401);

    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...payload })}.`;
    assert.equal((await call(none)).status, 401);

    // The right secret with another HMAC: not on the allowlist.
    assert.equal((await call(await sign('HS512', key))).status, 401);
    // An RSA-signed token (a forger's own key pair): algorithm confusion.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.equal((await call(await sign('RS256', privateKey))).status, 401);
    // Wrong issuer or audience.
    assert.equal((await call(await sign('HS256', key, (j) => j.setIssuer('someone-else')))).status, 401);
    assert.equal((await call(await sign('HS256', key, (j) => j.setAudience('other-api')))).status, 401);
    // Garbage.
    assert.equal((await call('not.a.jwt')).status, 401);
  });

  test("a role change ends the user's tokens at once, and a login right after it works", async () => {
    const created = await admin.call('POST', '/api/users', { username: 'mover', password: 'mover-password-1', role: 'viewer' });
    const before = await login(gw.url, 'mover', 'mover-password-1');
    assert.equal((await admin.call('PATCH', `/api/users/${created.body.id}`, { role: 'operator' })).status, 200);
    assert.equal((await before.call('GET', '/api/auth/me')).status, 401);
    // Within the same second as the revocation: the new token must not be caught by it.
    const after = await login(gw.url, 'mover', 'mover-password-1');
    const me = await after.call('GET', '/api/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.role, 'operator');
  });

  test('failed logins are limited per username: then even the right password is refused for a while', async () => {
    await admin.call('POST', '/api/users', { username: 'victim', password: 'victim-password-1', role: 'viewer' });
    for (let i = 0; i < 3; i++) assert.equal((await post(gw.url, '/api/auth/login', { username: 'victim', password: `guess-${i}` })).status, 401);
    const limited = await post(gw.url, '/api/auth/login', { username: 'victim', password: 'victim-password-1' });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'SENTIO_ERR_RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
  });

  test('logins and mutations are in the audit log with who, what and from where', async () => {
    const created = await admin.call('POST', '/api/alert-rules', { name: 'hot', expr: 'temp > 80' });
    assert.equal(created.status, 201);
    const log = await admin.call('GET', '/api/audit?action=alert_rule.');
    assert.equal(log.status, 200);
    const entry = log.body.items.find((e: { target: string }) => e.target === `alert_rule:${created.body.id}`);
    assert.ok(entry, 'alert_rule.create is audited');
    assert.equal(entry.actor, 'user:admin');
    assert.equal(entry.action, 'alert_rule.create');
    assert.equal(entry.ip, '127.0.0.1');
    const logins = await admin.call('GET', '/api/audit?action=auth.login');
    assert.ok(logins.body.items.length >= 1);
  });
});

describe('API authorisation: every route checks the role', () => {
  let gw: TestGateway;
  const clients: Record<string, ApiClient> = {};

  before(async () => {
    gw = await startTestGateway();
    clients.admin = await login(gw.url);
    for (const role of ['operator', 'viewer']) {
      const r = await clients.admin.call('POST', '/api/users', { username: `a-${role}`, password: `${role}-password-123`, role });
      assert.equal(r.status, 201);
      clients[role] = await login(gw.url, `a-${role}`, `${role}-password-123`);
    }
  });
  after(() => gw.close());

  test('a viewer cannot create a device; an operator can; a viewer cannot list users', async () => {
    const v = await clients.viewer!.call('POST', '/api/devices', { name: 'x' });
    assert.equal(v.status, 403);
    assert.equal(v.body.code, 'SENTIO_ERR_FORBIDDEN');
    assert.equal((await clients.operator!.call('POST', '/api/devices', { name: 'x' })).status, 201);
    assert.equal((await clients.viewer!.call('GET', '/api/users')).status, 403);
    assert.equal((await clients.operator!.call('GET', '/api/users')).status, 403);
    assert.equal((await clients.viewer!.call('GET', '/api/devices')).status, 200);
  });

  test('for every documented route: below its role 403, at or above it not 403, without a token 401', async () => {
    const doc = (await (await fetch(`${gw.url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-sentio-min-role': string }>> };
    const rank: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };
    const id = '00000000-0000-4000-8000-00000000abcd';
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const concrete = path.replace(/\{[^}]+\}/g, (m) => (m === '{name}' ? 'job' : id));
      for (const [method, op] of Object.entries(ops)) {
        const min = op['x-sentio-min-role'];
        if (min === 'public') continue;
        const anon = await fetch(`${gw.url}${concrete}`, { method: method.toUpperCase() });
        await anon.arrayBuffer();
        assert.equal(anon.status, 401, `${method} ${path} without a token`);
        for (const role of ['viewer', 'operator', 'admin']) {
          // Never log ourselves out or delete ourselves while probing.
          if (path === '/api/auth/logout' || path === '/api/auth/password') continue;
          const r = await clients[role]!.call(method.toUpperCase(), concrete, method === 'get' || method === 'delete' ? undefined : {});
          if (rank[role]! < rank[min]!) assert.equal(r.status, 403, `${role} on ${method} ${path} (needs ${min})`);
          else assert.notEqual(r.status, 403, `${role} on ${method} ${path} (needs ${min}): ${JSON.stringify(r.body)}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 60, `checked ${checked} route/role pairs`);
  });
});

describe('API limits and plumbing', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(['--api-rate-limit', '20', '--cors-origin', 'https://ops.example.com']);
  });
  after(() => gw.close());

  test('per-user API rate limit with Retry-After', async () => {
    // A user of its own: the bucket is per user, and the other tests here use admin.
    const admin = await login(gw.url);
    assert.equal((await admin.call('POST', '/api/users', { username: 'busy', password: 'busy-password-123', role: 'viewer' })).status, 201);
    const c = await login(gw.url, 'busy', 'busy-password-123');
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await c.call('GET', '/api/auth/me')).status);
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(',')}`);
    const limited = await c.call('GET', '/api/auth/me');
    assert.equal(limited.body.code, 'SENTIO_ERR_RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(statuses.filter((s) => s === 200).length >= 18);
  });

  test('request ids are echoed; CORS only for configured origins; bodies are validated with a stable code', async () => {
    const res = await fetch(`${gw.url}/api/openapi.json`, { headers: { 'x-request-id': 'req-42', origin: 'https://ops.example.com' } });
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-request-id'), 'req-42');
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://ops.example.com');
    const other = await fetch(`${gw.url}/api/openapi.json`, { headers: { origin: 'https://evil.example.com' } });
    await other.arrayBuffer();
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(`${gw.url}/api/devices`, { method: 'OPTIONS', headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);

    const bad = await post(gw.url, '/api/auth/login', { username: 'admin' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'SENTIO_ERR_VALIDATION');
    assert.equal(bad.body.issues[0].path, 'body.password');
    const notJson = await fetch(`${gw.url}/api/auth/login`, { method: 'POST', body: '{nope' });
    assert.equal(((await notJson.json()) as { code: string }).code, 'SENTIO_ERR_VALIDATION');
    const wrongMethod = await fetch(`${gw.url}/api/devices`, { method: 'PUT' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, POST');
    await wrongMethod.arrayBuffer();
  });

  test('GET /api/status answers the documented GatewayStatus', async () => {
    const c = await login(gw.url);
    const r = await c.call('GET', '/api/status');
    assert.equal(r.status, 200);
    assert.equal(r.body.sink.name, 'embedded');
    assert.equal(typeof r.body.ingest.samplesPerSecond, 'number');
    const doc = (await (await fetch(`${gw.url}/api/openapi.json`)).json()) as { components: { schemas: Record<string, { required?: string[] }> } };
    assert.deepEqual(Object.keys(r.body).sort(), [...(doc.components.schemas.GatewayStatus?.required ?? [])].sort());
  });

  test('API latency is a histogram at /metrics, by route template', async () => {
    const c = await login(gw.url, 'admin', ADMIN_PASSWORD);
    await c.call('GET', '/api/devices');
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /sentio_api_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/devices",status="200"\} [0-9]/);
    assert.match(text, /sentio_api_request_duration_seconds_count\{method="POST",route="\/api\/auth\/login",status="200"\} [1-9]/);
  });
});
