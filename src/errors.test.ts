import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCodes, SentioError, asSentioError } from './errors.js';

test('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(ErrorCodes)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `${code} is not documented in docs/errors.md`);
    assert.match(row, new RegExp(`\\| ${status} \\|`), `${code}: documented status differs from ${status}`);
  }
});

test('SentioError carries code, status and a JSON form', () => {
  const e = new SentioError('SENTIO_ERR_BODY_TOO_LARGE', 'too big');
  assert.equal(e.status, 413);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'SENTIO_ERR_BODY_TOO_LARGE', message: 'too big' });
  const internal = asSentioError(new TypeError('boom'));
  assert.equal(internal.code, 'SENTIO_ERR_INTERNAL');
  assert.equal(internal.message, 'boom');
  assert.equal(asSentioError(e), e);
});

test('refusals for load (429, 503) carry no stack trace; faults do; the limit is left as it was', () => {
  const limit = Error.stackTraceLimit;
  const frames = (e: Error): number => (e.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).length;
  assert.equal(frames(new SentioError('SENTIO_ERR_NOT_READY')), 0);
  assert.equal(frames(new SentioError('SENTIO_ERR_RATE_LIMITED')), 0);
  assert.ok(frames(new SentioError('SENTIO_ERR_BAD_REQUEST')) > 0);
  assert.ok(frames(new SentioError('SENTIO_ERR_INTERNAL')) > 0);
  assert.equal(Error.stackTraceLimit, limit);
});
