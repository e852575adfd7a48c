import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAuthenticator, generatedToken, presentedToken } from './index.js';

test('tokens are read from every form InfluxDB clients send', () => {
  assert.equal(presentedToken('Token abc', ''), 'abc');
  assert.equal(presentedToken('Bearer abc', ''), 'abc');
  assert.equal(presentedToken(`Basic ${Buffer.from('telegraf:abc').toString('base64')}`, ''), 'abc');
  assert.equal(presentedToken('', 'db=x&u=telegraf&p=abc'), 'abc');
  assert.equal(presentedToken('', 'token=abc'), 'abc');
  assert.equal(presentedToken('', 'db=x'), undefined);
  assert.equal(presentedToken('Digest abc', ''), undefined);
});

test('only configured tokens pass; --no-auth lets everything through', () => {
  const auth = createAuthenticator(['secret-token-1'], true);
  assert.ok(auth.identify('Token secret-token-1', ''));
  assert.equal(auth.identify('Token secret-token-2', ''), undefined);
  assert.equal(auth.identify('', ''), undefined);
  assert.equal(createAuthenticator([], true).identify('Token anything', ''), undefined);
  assert.deepEqual(createAuthenticator([], false).identify('', ''), { key: 'anonymous' });
});

test('a generated token is stored with mode 0600 and reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentio-auth-'));
  try {
    const first = generatedToken(join(dir, 'data'));
    assert.equal(first.created, true);
    assert.ok(first.token.length >= 32);
    assert.equal(statSync(first.path).mode & 0o777, 0o600);
    const again = generatedToken(join(dir, 'data'));
    assert.equal(again.created, false);
    assert.equal(again.token, first.token);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
