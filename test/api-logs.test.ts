// Structured logs: every API request leaves one JSON line carrying its
// request id (the client's x-request-id, or one made and returned), route
// template, status and duration; levels are names.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log/index.js';
import { ADMIN_PASSWORD } from './helpers.js';

test('API log lines are JSON with reqId, route, status and ms', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-logs-'));
  const lines: string[] = [];
  const { config } = loadConfig(['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--admin-password', ADMIN_PASSWORD, '--workers', '1'], {});
  const gw = await startGateway(config, createLogger('info', (l) => lines.push(l)));
  try {
    const url = `http://127.0.0.1:${gw.port}`;
    const ok = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'x-request-id': 'login-1' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    const denied = await fetch(`${url}/api/devices/00000000-0000-4000-8000-000000000001`);
    const made = denied.headers.get('x-request-id');
    await denied.arrayBuffer();
    assert.match(made ?? '', /^[0-9a-f-]{36}$/);

    const parsed = lines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);
    const login = parsed.find((l) => l.reqId === 'login-1');
    assert.ok(login, 'the login request is logged with the client-given id');
    assert.equal(login.level, 'info');
    assert.equal(login.route, '/api/auth/login');
    assert.equal(login.status, 200);
    assert.equal(login.component, 'api');
    assert.equal(typeof login.ms, 'number');
    assert.ok(!JSON.stringify(login).includes(ADMIN_PASSWORD), 'no password in logs');
    const refused = parsed.find((l) => l.reqId === made);
    assert.ok(refused);
    assert.equal(refused.status, 401);
    assert.equal(refused.code, 'SENTIO_ERR_UNAUTHORIZED');
    assert.equal(refused.route, '/api/devices/{id}');
  } finally {
    await gw.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
