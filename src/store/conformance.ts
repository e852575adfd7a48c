// The MetaStore conformance suite: every backend runs it (index.test.ts), so a
// backend is correct by passing it. `open` must resolve with a fresh, migrated,
// empty store; each test opens its own and closes it.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { type ConnectorConfig, MAX_TOKEN_LOOKUP, type MetaStore, type NewSession, StoreConflictError } from './types.js';

const isConflict = (e: unknown) => e instanceof StoreConflictError;
const isoRe = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
const HOUR = 3_600_000;

function newSession(userId: string, familyId = randomUUID(), expiresAt = inMs(HOUR)): NewSession {
  return { id: randomUUID(), userId, familyId, tokenHash: `h-${randomUUID()}`, expiresAt };
}

function nextOf() {
  return { id: randomUUID(), tokenHash: `h-${randomUUID()}`, expiresAt: inMs(2 * HOUR) };
}

export function metaStoreConformance(name: string, open: () => Promise<MetaStore>): void {
  const it = (title: string, fn: (s: MetaStore) => Promise<void>) =>
    test(title, async () => {
      const s = await open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  const user = (s: MetaStore, username = `u-${randomUUID()}`) => s.createUser({ username, role: 'operator', passwordHash: 'argon2id$x' });

  describe(`MetaStore conformance: ${name}`, () => {
    describe('lifecycle', () => {
      it('health answers; migrate() again is a no-op keeping the data', async (s) => {
        await s.health();
        const v1 = await s.migrate();
        assert.ok(v1 >= 1);
        const u = await user(s, 'keep');
        assert.equal(await s.migrate(), v1);
        assert.equal((await s.getUser(u.id))?.username, 'keep');
        assert.equal(await s.countUsers(), 1);
      });
    });

    describe('users', () => {
      it('create, get, get by username, list, count', async (s) => {
        assert.equal(await s.countUsers(), 0);
        const b = await s.createUser({ username: 'bob', role: 'viewer', passwordHash: 'hb' });
        const a = await s.createUser({ username: 'alice', role: 'admin', passwordHash: 'ha' });
        assert.match(a.id, /^[0-9a-f-]{36}$/);
        assert.notEqual(a.id, b.id);
        assert.equal(a.role, 'admin');
        assert.equal(a.disabled, false);
        assert.match(a.createdAt, isoRe);
        assert.equal(a.updatedAt, a.createdAt);
        assert.equal('passwordHash' in a, false);
        assert.deepEqual(await s.getUser(a.id), { ...a, passwordHash: 'ha' });
        assert.deepEqual(await s.getUserByUsername('bob'), { ...b, passwordHash: 'hb' });
        assert.equal(await s.getUserByUsername('carol'), undefined);
        assert.equal(await s.getUser(randomUUID()), undefined);
        assert.equal(await s.getUser('not-a-uuid'), undefined);
        const list = await s.listUsers();
        assert.deepEqual(list, [a, b]);
        assert.equal(list.some((u) => 'passwordHash' in u), false);
        assert.equal(await s.countUsers(), 2);
      });

      it('a second user of one username is a conflict', async (s) => {
        await user(s, 'admin');
        await assert.rejects(user(s, 'admin'), isConflict);
        assert.equal(await s.countUsers(), 1);
      });

      it('update patches only the given fields', async (s) => {
        const u = await s.createUser({ username: 'pat', role: 'viewer', passwordHash: 'old' });
        const r1 = await s.updateUser(u.id, { role: 'operator' });
        assert.equal(r1?.role, 'operator');
        assert.equal(r1?.disabled, false);
        assert.equal((await s.getUser(u.id))?.passwordHash, 'old');
        assert.ok(Date.parse(r1!.updatedAt) >= Date.parse(u.updatedAt));
        assert.equal(r1?.createdAt, u.createdAt);
        const r2 = await s.updateUser(u.id, { passwordHash: 'new', disabled: true });
        assert.equal(r2?.role, 'operator');
        assert.equal(r2?.disabled, true);
        assert.equal((await s.getUser(u.id))?.passwordHash, 'new');
        assert.equal((await s.updateUser(u.id, { disabled: false }))?.disabled, false);
        assert.equal(await s.updateUser(randomUUID(), { role: 'admin' }), undefined);
      });

      it('delete removes the user and its sessions', async (s) => {
        const u = await user(s);
        const sess = newSession(u.id);
        await s.createSession(sess);
        assert.equal(await s.deleteUser(u.id), true);
        assert.equal(await s.deleteUser(u.id), false);
        assert.equal(await s.getUser(u.id), undefined);
        assert.deepEqual(await s.rotateSession(sess.tokenHash, nextOf()), { status: 'invalid' });
        assert.equal(await s.revokeSession(sess.tokenHash), undefined);
      });
    });

    describe('sessions', () => {
      it('create returns the session', async (s) => {
        const u = await user(s);
        const n = newSession(u.id);
        const got = await s.createSession(n);
        assert.equal(got.id, n.id);
        assert.equal(got.userId, u.id);
        assert.equal(got.familyId, n.familyId);
        assert.equal(got.expiresAt, n.expiresAt);
        assert.match(got.createdAt, isoRe);
        assert.equal(got.revokedAt, null);
        assert.equal(got.replacedAt, null);
        assert.equal('tokenHash' in got, false);
      });

      it('a duplicate token hash or an unknown user is a conflict', async (s) => {
        const u = await user(s);
        const n = newSession(u.id);
        await s.createSession(n);
        await assert.rejects(s.createSession({ ...newSession(u.id), tokenHash: n.tokenHash }), isConflict);
        await assert.rejects(s.createSession(newSession(randomUUID())), isConflict);
      });

      it('rotation exchanges a valid token for the next in the same family, again and again', async (s) => {
        const u = await user(s);
        const first = newSession(u.id);
        await s.createSession(first);
        const now = inMs(1000);
        const n1 = nextOf();
        const r1 = await s.rotateSession(first.tokenHash, n1, now);
        assert.equal(r1.status, 'rotated');
        assert.ok(r1.status === 'rotated');
        assert.equal(r1.previous.id, first.id);
        assert.equal(r1.previous.replacedAt, now);
        assert.equal(r1.previous.revokedAt, null);
        const n2 = nextOf();
        const r2 = await s.rotateSession(n1.tokenHash, n2);
        assert.ok(r2.status === 'rotated');
        assert.equal(r2.previous.id, n1.id);
        assert.equal(r2.previous.familyId, first.familyId);
        assert.equal(r2.previous.userId, u.id);
        assert.equal(r2.previous.expiresAt, n1.expiresAt);
        assert.notEqual(r2.previous.replacedAt, null);
        // The newest token is live: revoking it reports it with its family.
        const revoked = await s.revokeSession(n2.tokenHash);
        assert.equal(revoked?.id, n2.id);
        assert.equal(revoked?.familyId, first.familyId);
      });

      it('reusing a replaced token revokes the whole family, and only it', async (s) => {
        const u = await user(s);
        const first = newSession(u.id);
        const other = newSession(u.id);
        await s.createSession(first);
        await s.createSession(other);
        const n1 = nextOf();
        assert.equal((await s.rotateSession(first.tokenHash, n1)).status, 'rotated');
        const reuse = await s.rotateSession(first.tokenHash, nextOf());
        assert.equal(reuse.status, 'reused');
        assert.ok(reuse.status === 'reused');
        assert.equal(reuse.previous.id, first.id);
        assert.notEqual(reuse.previous.revokedAt, null);
        // The legitimate successor is dead too; the same stolen token again is just invalid.
        assert.deepEqual(await s.rotateSession(n1.tokenHash, nextOf()), { status: 'invalid' });
        assert.deepEqual(await s.rotateSession(first.tokenHash, nextOf()), { status: 'invalid' });
        // Another family of the same user is untouched.
        assert.equal((await s.rotateSession(other.tokenHash, nextOf())).status, 'rotated');
      });

      it('unknown, expired and revoked tokens are invalid and change nothing', async (s) => {
        const u = await user(s);
        assert.deepEqual(await s.rotateSession('h-unknown', nextOf()), { status: 'invalid' });
        const expiring = newSession(u.id, randomUUID(), inMs(HOUR));
        await s.createSession(expiring);
        assert.deepEqual(await s.rotateSession(expiring.tokenHash, nextOf(), inMs(2 * HOUR)), { status: 'invalid' });
        const past = newSession(u.id, randomUUID(), inMs(-1000));
        await s.createSession(past);
        assert.deepEqual(await s.rotateSession(past.tokenHash, nextOf()), { status: 'invalid' });
        // Still valid before its expiry: the expired attempt did not mark it replaced.
        assert.equal((await s.rotateSession(expiring.tokenHash, nextOf(), inMs(1000))).status, 'rotated');
        const revoked = newSession(u.id);
        await s.createSession(revoked);
        assert.notEqual((await s.revokeSession(revoked.tokenHash))?.revokedAt, null);
        assert.deepEqual(await s.rotateSession(revoked.tokenHash, nextOf()), { status: 'invalid' });
      });

      it('concurrent exchanges of one token serialise: one rotates, the next is reuse, the rest find the family revoked', async (s) => {
        const u = await user(s);
        const first = newSession(u.id);
        await s.createSession(first);
        const nexts = Array.from({ length: 8 }, nextOf);
        const results = await Promise.all(nexts.map((n) => s.rotateSession(first.tokenHash, n)));
        assert.deepEqual(results.map((r) => r.status).sort(), ['rotated', 'reused', ...nexts.slice(2).map(() => 'invalid')].sort());
        // The family is revoked, including the successor that was issued.
        for (const n of nexts) assert.deepEqual(await s.rotateSession(n.tokenHash, nextOf()), { status: 'invalid' });
      });

      it('a rotation whose next token clashes is a conflict and leaves the old token valid', async (s) => {
        const u = await user(s);
        const a = newSession(u.id);
        const b = newSession(u.id);
        await s.createSession(a);
        await s.createSession(b);
        await assert.rejects(s.rotateSession(a.tokenHash, { ...nextOf(), tokenHash: b.tokenHash }), isConflict);
        assert.equal((await s.rotateSession(a.tokenHash, nextOf())).status, 'rotated');
      });

      it('revokeSession revokes the family, idempotently', async (s) => {
        const u = await user(s);
        const first = newSession(u.id);
        await s.createSession(first);
        const n1 = nextOf();
        await s.rotateSession(first.tokenHash, n1);
        const r1 = await s.revokeSession(first.tokenHash);
        assert.equal(r1?.id, first.id);
        assert.match(r1!.revokedAt!, isoRe);
        assert.deepEqual(await s.rotateSession(n1.tokenHash, nextOf()), { status: 'invalid' });
        const r2 = await s.revokeSession(first.tokenHash);
        assert.equal(r2?.revokedAt, r1?.revokedAt);
        assert.equal(await s.revokeSession('h-unknown'), undefined);
      });

      it('sessionActive: a family stays active through rotation, until it is revoked, its user disabled or deleted', async (s) => {
        const u = await user(s);
        const first = newSession(u.id);
        await s.createSession(first);
        assert.equal(await s.sessionActive(u.id, first.familyId), true);
        assert.equal(await s.sessionActive(randomUUID(), first.familyId), false, 'another user cannot claim the family');
        assert.equal(await s.sessionActive(u.id, randomUUID()), false, 'an unknown family');
        await s.rotateSession(first.tokenHash, nextOf());
        assert.equal(await s.sessionActive(u.id, first.familyId), true, 'rotation keeps the family');
        assert.equal(await s.revokeSessionFamily(first.familyId), 2);
        assert.equal(await s.sessionActive(u.id, first.familyId), false, 'logout');
        assert.equal(await s.revokeSessionFamily(first.familyId), 0, 'idempotent');

        const second = newSession(u.id);
        await s.createSession(second);
        await s.updateUser(u.id, { disabled: true });
        assert.equal(await s.sessionActive(u.id, second.familyId), false, 'disabled');
        await s.updateUser(u.id, { disabled: false });
        assert.equal(await s.sessionActive(u.id, second.familyId), true);
        await s.revokeUserSessions(u.id);
        assert.equal(await s.sessionActive(u.id, second.familyId), false, 'the user\'s sessions revoked');

        const third = newSession(u.id);
        await s.createSession(third);
        await s.deleteUser(u.id);
        assert.equal(await s.sessionActive(u.id, third.familyId), false, 'deleted');
      });

      it('revokeUserSessions revokes every session of one user and counts the live ones', async (s) => {
        const u = await user(s);
        const v = await user(s);
        const live1 = newSession(u.id);
        const live2 = newSession(u.id);
        const old = newSession(u.id, randomUUID(), inMs(-1000));
        const theirs = newSession(v.id);
        for (const n of [live1, live2, old, theirs]) await s.createSession(n);
        const n1 = nextOf();
        await s.rotateSession(live1.tokenHash, n1); // live1 replaced by n1: still one live token in that family
        assert.equal(await s.revokeUserSessions(u.id), 2);
        assert.deepEqual(await s.rotateSession(n1.tokenHash, nextOf()), { status: 'invalid' });
        assert.deepEqual(await s.rotateSession(live2.tokenHash, nextOf()), { status: 'invalid' });
        assert.equal(await s.revokeUserSessions(u.id), 0);
        assert.equal((await s.rotateSession(theirs.tokenHash, nextOf())).status, 'rotated');
        assert.equal(await s.revokeUserSessions(randomUUID()), 0);
      });
    });

    describe('devices', () => {
      it('create with defaults, get, list by name', async (s) => {
        const b = await s.createDevice({ name: 'b-sensor' });
        const a = await s.createDevice({ name: 'a-sensor', description: 'roof', labels: { site: 'x', 'k.y': 'ü' } });
        assert.equal(b.description, '');
        assert.deepEqual(b.labels, {});
        assert.equal(b.lastSeenAt, null);
        assert.equal(b.lastError, null);
        assert.equal(b.lastErrorAt, null);
        assert.match(a.createdAt, isoRe);
        assert.deepEqual(a.labels, { site: 'x', 'k.y': 'ü' });
        assert.deepEqual(await s.getDevice(a.id), a);
        assert.equal(await s.getDevice(randomUUID()), undefined);
        assert.deepEqual(await s.listDevices(), [a, b]);
      });

      it('a second device of one name is a conflict, on create and on rename', async (s) => {
        const a = await s.createDevice({ name: 'one' });
        await s.createDevice({ name: 'two' });
        await assert.rejects(s.createDevice({ name: 'one' }), isConflict);
        await assert.rejects(s.updateDevice(a.id, { name: 'two' }), isConflict);
        assert.equal((await s.getDevice(a.id))?.name, 'one');
      });

      it('update patches only the given fields; labels are replaced whole', async (s) => {
        const d = await s.createDevice({ name: 'd', description: 'desc', labels: { a: '1', b: '2' } });
        const r1 = await s.updateDevice(d.id, { labels: { c: '3' } });
        assert.deepEqual(r1?.labels, { c: '3' });
        assert.equal(r1?.description, 'desc');
        assert.equal(r1?.name, 'd');
        const r2 = await s.updateDevice(d.id, { name: 'd2', description: '' });
        assert.equal(r2?.name, 'd2');
        assert.equal(r2?.description, '');
        assert.deepEqual(r2?.labels, { c: '3' });
        assert.equal(r2?.createdAt, d.createdAt);
        assert.ok(Date.parse(r2!.updatedAt) >= Date.parse(d.updatedAt));
        assert.deepEqual((await s.updateDevice(d.id, { labels: {} }))?.labels, {});
        assert.equal(await s.updateDevice(randomUUID(), { name: 'x' }), undefined);
      });

      it('delete removes the device and its tokens', async (s) => {
        const d = await s.createDevice({ name: 'gone' });
        const keep = await s.createDevice({ name: 'kept' });
        const t = await s.createDeviceToken({ deviceId: d.id, hash: 'hash-gone', prefix: 'st_a' });
        await s.createDeviceToken({ deviceId: keep.id, hash: 'hash-kept', prefix: 'st_b' });
        assert.equal(await s.deleteDevice(d.id), true);
        assert.equal(await s.deleteDevice(d.id), false);
        assert.equal(await s.getDevice(d.id), undefined);
        assert.equal((await s.findDeviceTokens(['hash-gone'])).size, 0);
        assert.equal(await s.getDeviceToken(d.id, t.id), undefined);
        assert.deepEqual(await s.listDeviceTokens(d.id), []);
        assert.equal((await s.findDeviceTokens(['hash-kept'])).get('hash-kept')?.device.id, keep.id);
        // The hash is free again.
        await s.createDeviceToken({ deviceId: keep.id, hash: 'hash-gone', prefix: 'st_c' });
      });

      it('recordDeviceActivity applies a batch, merges per device, never moves backwards', async (s) => {
        const a = await s.createDevice({ name: 'a' });
        const b = await s.createDevice({ name: 'b' });
        const c = await s.createDevice({ name: 'c' });
        const t0 = Date.now();
        const at = (ms: number) => new Date(t0 + ms).toISOString();
        await s.recordDeviceActivity([]);
        await s.recordDeviceActivity([
          { deviceId: a.id, lastSeenAt: at(1000) },
          { deviceId: a.id, lastSeenAt: at(3000) },
          { deviceId: a.id, lastSeenAt: at(2000) },
          { deviceId: b.id, lastError: { message: 'first', at: at(1000) } },
          { deviceId: b.id, lastSeenAt: at(500), lastError: { message: 'second', at: at(2000) } },
          { deviceId: randomUUID(), lastSeenAt: at(1000) },
        ]);
        const a1 = (await s.getDevice(a.id))!;
        assert.equal(a1.lastSeenAt, at(3000));
        assert.equal(a1.lastError, null);
        assert.equal(a1.updatedAt, a.updatedAt);
        const b1 = (await s.getDevice(b.id))!;
        assert.equal(b1.lastSeenAt, at(500));
        assert.equal(b1.lastError, 'second');
        assert.equal(b1.lastErrorAt, at(2000));
        assert.deepEqual(await s.getDevice(c.id), c);
        // An older batch arriving late changes nothing; a newer one moves each field on its own.
        await s.recordDeviceActivity([
          { deviceId: a.id, lastSeenAt: at(100) },
          { deviceId: b.id, lastError: { message: 'stale', at: at(1500) } },
        ]);
        assert.equal((await s.getDevice(a.id))?.lastSeenAt, at(3000));
        assert.equal((await s.getDevice(b.id))?.lastError, 'second');
        await s.recordDeviceActivity([
          { deviceId: b.id, lastSeenAt: at(5000) },
          { deviceId: a.id, lastError: { message: 'boom', at: at(4000) } },
        ]);
        const b2 = (await s.getDevice(b.id))!;
        assert.equal(b2.lastSeenAt, at(5000));
        assert.equal(b2.lastError, 'second');
        const a2 = (await s.getDevice(a.id))!;
        assert.equal(a2.lastSeenAt, at(3000));
        assert.equal(a2.lastError, 'boom');
        assert.equal(a2.lastErrorAt, at(4000));
      });
    });

    describe('device tokens', () => {
      it('create, list, get, find by hash with its device', async (s) => {
        const d = await s.createDevice({ name: 'dev', labels: { k: 'v' } });
        const other = await s.createDevice({ name: 'other' });
        const exp = inMs(HOUR);
        const t1 = await s.createDeviceToken({ deviceId: d.id, name: 'primary', hash: 'sha-1', prefix: 'st_abc', expiresAt: exp });
        const t2 = await s.createDeviceToken({ deviceId: d.id, hash: 'sha-2', prefix: 'st_def' });
        assert.equal(t1.deviceId, d.id);
        assert.equal(t1.name, 'primary');
        assert.equal(t1.prefix, 'st_abc');
        assert.equal(t1.expiresAt, exp);
        assert.equal(t1.revokedAt, null);
        assert.equal(t1.lastUsedAt, null);
        assert.equal('hash' in t1, false);
        assert.equal(t2.name, '');
        assert.equal(t2.expiresAt, null);
        assert.deepEqual(
          (await s.listDeviceTokens(d.id)).map((t) => t.id).sort(),
          [t1.id, t2.id].sort(),
        );
        assert.deepEqual(await s.listDeviceTokens(other.id), []);
        assert.deepEqual(await s.getDeviceToken(d.id, t1.id), t1);
        assert.equal(await s.getDeviceToken(other.id, t1.id), undefined);
        // One query for many: found ones by hash, unknown ones absent, a repeated hash once.
        assert.deepEqual(await s.findDeviceTokens(['sha-1', 'sha-3', 'sha-1']), new Map([['sha-1', { token: t1, device: d }]]));
        const both = await s.findDeviceTokens(['sha-2', 'sha-1']);
        assert.deepEqual([...both.keys()].sort(), ['sha-1', 'sha-2']);
        assert.equal(both.get('sha-2')?.token.deviceId, d.id);
        assert.deepEqual(await s.findDeviceTokens([]), new Map());
        await assert.rejects(s.findDeviceTokens(Array.from({ length: MAX_TOKEN_LOOKUP + 1 }, (_, i) => `h${i}`)), RangeError);
      });

      it('a duplicate hash or an unknown device is a conflict', async (s) => {
        const d = await s.createDevice({ name: 'dev' });
        await s.createDeviceToken({ deviceId: d.id, hash: 'same', prefix: 'p' });
        await assert.rejects(s.createDeviceToken({ deviceId: d.id, hash: 'same', prefix: 'p' }), isConflict);
        await assert.rejects(s.createDeviceToken({ deviceId: randomUUID(), hash: 'other', prefix: 'p' }), isConflict);
        assert.equal((await s.listDeviceTokens(d.id)).length, 1);
      });

      it('revoke is idempotent and scoped to the device; find still returns a revoked token', async (s) => {
        const d = await s.createDevice({ name: 'dev' });
        const other = await s.createDevice({ name: 'other' });
        const t = await s.createDeviceToken({ deviceId: d.id, hash: 'h', prefix: 'p' });
        assert.equal(await s.revokeDeviceToken(other.id, t.id), undefined);
        assert.equal((await s.getDeviceToken(d.id, t.id))?.revokedAt, null);
        const r1 = await s.revokeDeviceToken(d.id, t.id);
        assert.match(r1!.revokedAt!, isoRe);
        const r2 = await s.revokeDeviceToken(d.id, t.id);
        assert.deepEqual(r2, r1);
        assert.deepEqual((await s.findDeviceTokens(['h'])).get('h')?.token, r1);
        assert.equal(await s.revokeDeviceToken(d.id, randomUUID()), undefined);
      });

      it('expire sets an expiry and only ever shortens it', async (s) => {
        const d = await s.createDevice({ name: 'dev' });
        const t = await s.createDeviceToken({ deviceId: d.id, hash: 'h', prefix: 'p' });
        const soon = inMs(60_000);
        const later = inMs(HOUR);
        const sooner = inMs(30_000);
        assert.equal((await s.expireDeviceToken(d.id, t.id, later))?.expiresAt, later);
        assert.equal((await s.expireDeviceToken(d.id, t.id, soon))?.expiresAt, soon);
        assert.equal((await s.expireDeviceToken(d.id, t.id, later))?.expiresAt, soon);
        assert.equal((await s.expireDeviceToken(d.id, t.id, sooner))?.expiresAt, sooner);
        assert.equal((await s.getDeviceToken(d.id, t.id))?.expiresAt, sooner);
        const other = await s.createDevice({ name: 'other' });
        assert.equal(await s.expireDeviceToken(other.id, t.id, inMs(1)), undefined);
        assert.equal((await s.getDeviceToken(d.id, t.id))?.expiresAt, sooner);
      });

      it('markDeviceTokensUsed records the latest use of each token given', async (s) => {
        const d = await s.createDevice({ name: 'dev' });
        const t1 = await s.createDeviceToken({ deviceId: d.id, hash: 'h1', prefix: 'p' });
        const t2 = await s.createDeviceToken({ deviceId: d.id, hash: 'h2', prefix: 'p' });
        const t3 = await s.createDeviceToken({ deviceId: d.id, hash: 'h3', prefix: 'p' });
        const at1 = inMs(0);
        const at2 = inMs(5000);
        await s.markDeviceTokensUsed([], at1);
        await s.markDeviceTokensUsed([t1.id, t2.id, t1.id, randomUUID()], at2);
        await s.markDeviceTokensUsed([t1.id], at1);
        assert.equal((await s.getDeviceToken(d.id, t1.id))?.lastUsedAt, at2);
        assert.equal((await s.getDeviceToken(d.id, t2.id))?.lastUsedAt, at2);
        assert.equal((await s.getDeviceToken(d.id, t3.id))?.lastUsedAt, null);
      });
    });

    describe('alert rules', () => {
      it('create with defaults, get, list, conflict, patch, delete', async (s) => {
        const b = await s.createAlertRule({ name: 'b-rule', expr: 'up == 0' });
        assert.equal(b.forSeconds, 0);
        assert.equal(b.severity, 'warning');
        assert.deepEqual(b.labels, {});
        assert.deepEqual(b.annotations, {});
        assert.equal(b.enabled, true);
        assert.deepEqual([b.groupBy, b.parentId, b.inhibitLabels, b.repeatSeconds, b.cooldownSeconds], [[], null, [], 4 * 3600, 0]);
        const c = await s.createAlertRule({ name: 'c-rule', expr: 'up == 0', groupBy: ['site'], parentId: b.id, inhibitLabels: ['site'], cooldownSeconds: 60 });
        assert.deepEqual([c.groupBy, c.parentId, c.inhibitLabels, c.repeatSeconds, c.cooldownSeconds], [['site'], b.id, ['site'], 4 * 3600, 60]);
        const c2 = await s.updateAlertRule(c.id, { parentId: null, repeatSeconds: 600 });
        assert.deepEqual([c2!.groupBy, c2!.parentId, c2!.repeatSeconds, c2!.cooldownSeconds], [['site'], null, 600, 60]);
        assert.equal(await s.deleteAlertRule(c.id), true);
        assert.match(b.createdAt, isoRe);
        const a = await s.createAlertRule({ name: 'a-rule', expr: 'rate(x[5m]) > 1', forSeconds: 300, severity: 'critical', labels: { team: 'ops' }, annotations: { summary: 'hot' }, enabled: false });
        assert.equal(a.forSeconds, 300);
        assert.equal(a.severity, 'critical');
        assert.equal(a.enabled, false);
        assert.deepEqual(await s.getAlertRule(a.id), a);
        assert.equal(await s.getAlertRule(randomUUID()), undefined);
        assert.deepEqual(await s.listAlertRules(), [a, b]);
        await assert.rejects(s.createAlertRule({ name: 'a-rule', expr: '1' }), isConflict);
        await assert.rejects(s.updateAlertRule(b.id, { name: 'a-rule' }), isConflict);
        const p = await s.updateAlertRule(a.id, { enabled: true, labels: { team: 'dev' } });
        assert.equal(p?.enabled, true);
        assert.deepEqual(p?.labels, { team: 'dev' });
        assert.deepEqual(p?.annotations, { summary: 'hot' });
        assert.equal(p?.expr, a.expr);
        assert.equal(p?.forSeconds, 300);
        assert.equal(p?.severity, 'critical');
        const p2 = await s.updateAlertRule(a.id, { forSeconds: 0, severity: 'info', expr: 'y', name: 'renamed', annotations: {} });
        assert.deepEqual(
          { name: p2?.name, expr: p2?.expr, forSeconds: p2?.forSeconds, severity: p2?.severity, annotations: p2?.annotations, enabled: p2?.enabled },
          { name: 'renamed', expr: 'y', forSeconds: 0, severity: 'info', annotations: {}, enabled: true },
        );
        assert.equal(await s.updateAlertRule(randomUUID(), { enabled: false }), undefined);
        assert.equal(await s.deleteAlertRule(a.id), true);
        assert.equal(await s.deleteAlertRule(a.id), false);
        assert.deepEqual((await s.listAlertRules()).map((r) => r.id), [b.id]);
      });
    });

    describe('alerts', () => {
      it('saved per rule, upserted by fingerprint, removed, and gone with their rule', async (s) => {
        const rule = await s.createAlertRule({ name: 'alerts-rule', expr: 'pump_temp > 90' });
        const other = await s.createAlertRule({ name: 'alerts-other', expr: 'up == 0' });
        const at = '2026-12-08T10:00:00.123Z';
        const a = { ruleId: rule.id, fingerprint: 'aaaa', labels: { site: 'a', alertname: 'alerts-rule' }, annotations: { summary: 'hot' }, state: 'pending' as const, value: 95.5, activeAt: at, firedAt: null, resolvedAt: null };
        const b = { ...a, fingerprint: 'bbbb', labels: { site: 'b', alertname: 'alerts-rule' }, state: 'firing' as const, firedAt: at };
        await s.saveAlerts(rule.id, [b, a], []);
        await s.saveAlerts(other.id, [{ ...a, ruleId: other.id }], []);
        assert.deepEqual(await s.listAlerts(rule.id), [a, b]);
        assert.equal((await s.listAlerts()).length, 3);
        const resolved = { ...b, state: 'resolved' as const, value: 80, resolvedAt: '2026-12-08T10:05:00.000Z' };
        await s.saveAlerts(rule.id, [resolved], ['aaaa']);
        assert.deepEqual(await s.listAlerts(rule.id), [resolved]);
        await s.saveAlerts(rule.id, [], []);
        await s.deleteAlertRule(rule.id);
        assert.deepEqual((await s.listAlerts()).map((x) => x.ruleId), [other.id]);
      });
    });

    describe('silences', () => {
      it('created, listed by end, expired once', async (s) => {
        const a = await s.createSilence({ matchers: '{site="a"}', startsAt: '2026-12-08T10:00:00.000Z', endsAt: '2026-12-08T12:00:00.000Z', createdBy: 'user:admin', comment: 'maintenance' });
        const b = await s.createSilence({ matchers: '{alertname="X"}', startsAt: '2026-12-08T09:00:00.000Z', endsAt: '2026-12-08T10:30:00.000Z', createdBy: 'user:ops' });
        assert.equal(b.comment, '');
        assert.match(a.createdAt, isoRe);
        assert.deepEqual(await s.listSilences(), [b, a]);
        assert.deepEqual(await s.listSilences('2026-12-08T11:00:00.000Z'), [a]);
        const e = await s.expireSilence(a.id, '2026-12-08T11:00:00.000Z');
        assert.equal(e?.endsAt, '2026-12-08T11:00:00.000Z');
        assert.equal((await s.expireSilence(a.id, '2026-12-08T11:30:00.000Z'))?.endsAt, '2026-12-08T11:00:00.000Z', 'an ended silence stays ended');
        assert.equal(await s.expireSilence(randomUUID(), '2026-12-08T11:00:00.000Z'), undefined);
        assert.deepEqual(await s.listSilences('2026-12-08T11:00:00.000Z'), []);
      });
    });

    describe('connectors', () => {
      it('create, get, list, conflict, patch, delete', async (s) => {
        const m = await s.createConnector({ name: 'mqtt-main', kind: 'mqtt', config: { url: 'mqtt://x', topics: ['a/#'], qos: 1, nested: { tls: false } } });
        assert.equal(m.enabled, true);
        assert.equal(m.kind, 'mqtt');
        assert.equal(m.source, 'api');
        assert.deepEqual(m.config, { url: 'mqtt://x', topics: ['a/#'], qos: 1, nested: { tls: false } });
        const h = await s.createConnector({ name: 'ha', kind: 'homeassistant', config: {}, enabled: false });
        assert.equal(h.enabled, false);
        assert.deepEqual(await s.getConnector(m.id), m);
        assert.equal(await s.getConnector(randomUUID()), undefined);
        assert.deepEqual(await s.listConnectors(), [h, m]);
        assert.deepEqual(await s.listConnectorVersions(), [h, m].map((c) => ({ id: c.id, enabled: c.enabled, updatedAt: c.updatedAt })));
        await assert.rejects(s.createConnector({ name: 'ha', kind: 'modbus', config: {} }), isConflict);
        await assert.rejects(s.updateConnector(m.id, { name: 'ha' }), isConflict);
        const p = await s.updateConnector(m.id, { enabled: false });
        assert.equal(p?.enabled, false);
        assert.deepEqual(p?.config, m.config);
        assert.equal(p?.name, 'mqtt-main');
        const p2 = await s.updateConnector(m.id, { config: { url: 'mqtt://y' }, name: 'mqtt-2' });
        assert.deepEqual(p2?.config, { url: 'mqtt://y' });
        assert.equal(p2?.name, 'mqtt-2');
        assert.equal(p2?.enabled, false);
        assert.equal(p2?.kind, 'mqtt');
        assert.equal(await s.updateConnector(randomUUID(), { enabled: true }), undefined);
        assert.equal(await s.deleteConnector(m.id), true);
        assert.equal(await s.deleteConnector(m.id), false);
        assert.deepEqual((await s.listConnectors()).map((c) => c.id), [h.id]);
      });

      const file = (name: string, config: Record<string, unknown>, o: { kind?: 'mqtt' | 'homeassistant'; enabled?: boolean } = {}) => ({ name, kind: o.kind ?? 'mqtt', config, enabled: o.enabled ?? true }) as const;

      it('applyFileConnectors: creates, updates only what differs, deletes what the file no longer lists; API connectors untouched', async (s) => {
        const api = await s.createConnector({ name: 'manual', kind: 'mqtt', config: { url: 'mqtt://m' } });
        const r1 = await s.applyFileConnectors([file('zigbee', { url: 'mqtt://z', subscriptions: [{ topic: 'zigbee2mqtt', format: 'zigbee2mqtt' }] }), file('ha', { url: 'http://ha' }, { kind: 'homeassistant', enabled: false })]);
        assert.deepEqual(r1.created.map((c) => [c.name, c.kind, c.source, c.enabled]), [['zigbee', 'mqtt', 'file', true], ['ha', 'homeassistant', 'file', false]]);
        assert.deepEqual([r1.updated, r1.deleted, r1.unchanged, r1.clashes], [[], [], 0, []]);
        const [zigbee, ha] = r1.created as [ConnectorConfig, ConnectorConfig];
        assert.deepEqual(zigbee.config, { url: 'mqtt://z', subscriptions: [{ topic: 'zigbee2mqtt', format: 'zigbee2mqtt' }] });
        const before = await s.listConnectors();
        assert.deepEqual(before.map((c) => [c.name, c.source]), [['ha', 'file'], ['manual', 'api'], ['zigbee', 'file']]);

        // The same list, keys in another order: nothing changes, not even updatedAt (the runtime would restart them).
        const r2 = await s.applyFileConnectors([file('ha', { url: 'http://ha' }, { kind: 'homeassistant', enabled: false }), file('zigbee', { subscriptions: [{ format: 'zigbee2mqtt', topic: 'zigbee2mqtt' }], url: 'mqtt://z' })]);
        assert.deepEqual([r2.created, r2.updated, r2.deleted, r2.unchanged], [[], [], [], 2]);
        assert.deepEqual(await s.listConnectors(), before);

        // A changed config and enabled, and ha no longer listed.
        const r3 = await s.applyFileConnectors([file('zigbee', { url: 'mqtt://z2', subscriptions: [{ topic: 'z2m', format: 'zigbee2mqtt' }] }, { enabled: false })]);
        assert.deepEqual(r3.updated.map((c) => [c.id, c.name, c.enabled, c.source, c.createdAt]), [[zigbee.id, 'zigbee', false, 'file', zigbee.createdAt]]);
        assert.deepEqual(r3.updated[0]!.config, { url: 'mqtt://z2', subscriptions: [{ topic: 'z2m', format: 'zigbee2mqtt' }] });
        assert.ok(r3.updated[0]!.updatedAt >= zigbee.updatedAt);
        assert.deepEqual(r3.deleted, [ha]);
        assert.equal(await s.getConnector(ha.id), undefined);
        // Its kind too.
        const r4 = await s.applyFileConnectors([file('zigbee', { url: 'http://ha' }, { kind: 'homeassistant' })]);
        assert.deepEqual(r4.updated.map((c) => [c.id, c.kind, c.enabled]), [[zigbee.id, 'homeassistant', true]]);
        assert.deepEqual(await s.getConnector(api.id), api);

        // A listed name an API connector holds refuses the whole list: nothing changes.
        const held = await s.listConnectors();
        const r5 = await s.applyFileConnectors([file('new-one', { url: 'mqtt://n' }), file('manual', { url: 'mqtt://other' })]);
        assert.deepEqual(r5.clashes, [api]);
        assert.deepEqual([r5.created, r5.updated, r5.deleted], [[], [], []]);
        assert.deepEqual(await s.listConnectors(), held);

        // An empty list removes every file connector, and only those.
        const r6 = await s.applyFileConnectors([]);
        assert.deepEqual(r6.deleted.map((c) => c.name), ['zigbee']);
        assert.deepEqual(await s.listConnectors(), [api]);
        // The file's name is free again for the API, and the reverse.
        const again = await s.createConnector({ name: 'zigbee', kind: 'mqtt', config: {} });
        assert.equal(again.source, 'api');
        await assert.rejects(s.applyFileConnectors([file('a', {}), file('a', {})]), TypeError);
      });

      it('applyFileConnectors: instances applying one list at once create each connector once', async (s) => {
        const list = [file('a', { url: 'mqtt://a' }), file('b', { url: 'mqtt://b' }), file('c', { url: 'mqtt://c' })];
        const results = await Promise.all(Array.from({ length: 4 }, () => s.applyFileConnectors(list)));
        assert.equal(results.reduce((n, r) => n + r.created.length, 0), 3);
        assert.equal(results.reduce((n, r) => n + r.unchanged, 0), 9);
        assert.ok(results.every((r) => r.updated.length === 0 && r.deleted.length === 0 && r.clashes.length === 0));
        assert.deepEqual((await s.listConnectors()).map((c) => [c.name, c.source]), [['a', 'file'], ['b', 'file'], ['c', 'file']]);
        // And one changed list applied by several at once changes it once.
        const changed = [file('a', { url: 'mqtt://a2' }), file('b', { url: 'mqtt://b' })];
        const r = await Promise.all(Array.from({ length: 3 }, () => s.applyFileConnectors(changed)));
        assert.equal(r.reduce((n, x) => n + x.updated.length, 0), 1);
        assert.equal(r.reduce((n, x) => n + x.deleted.length, 0), 1);
        assert.deepEqual((await s.listConnectors()).map((c) => [c.name, c.config.url]), [['a', 'mqtt://a2'], ['b', 'mqtt://b']]);
      });
    });

    describe('audit log', () => {
      const entry = (action: string, actor = 'user:alice', target = '') => ({ actor, action, target, ip: '192.0.2.1', details: { n: action } });

      it('append returns increasing ids; list is newest first with a default limit of 100', async (s) => {
        const first = await s.appendAudit({ actor: 'system', action: 'auth.login', target: '', ip: '::1', details: { ok: true, n: 1, list: [1, 'a'] } });
        assert.match(first.id, /^\d+$/);
        assert.match(first.at, isoRe);
        assert.deepEqual(first.details, { ok: true, n: 1, list: [1, 'a'] });
        const all = [first];
        for (let i = 0; i < 104; i++) all.push(await s.appendAudit(entry(`device.update`)));
        for (let i = 1; i < all.length; i++) assert.ok(BigInt(all[i]!.id) > BigInt(all[i - 1]!.id));
        const listed = await s.listAudit();
        assert.equal(listed.length, 100);
        assert.deepEqual(listed, all.slice(-100).reverse());
        assert.deepEqual(await s.listAudit({ limit: 3 }), all.slice(-3).reverse());
        assert.equal((await s.listAudit({ limit: 5000 })).length, all.length);
        assert.deepEqual((await s.listAudit({ limit: 5000 })).at(-1), first);
      });

      it('filters by actor, exact action, action prefix and target', async (s) => {
        const e1 = await s.appendAudit(entry('device.create', 'user:alice', 'device:1'));
        const e2 = await s.appendAudit(entry('device.delete', 'user:bob', 'device:1'));
        const e3 = await s.appendAudit(entry('devices.list', 'user:alice'));
        const e4 = await s.appendAudit(entry('token.revoke', 'system', 'device:2'));
        const e5 = await s.appendAudit(entry('device', 'user:alice'));
        const e6 = await s.appendAudit(entry('a_b.c', 'user:alice'));
        const e7 = await s.appendAudit(entry('axb.c', 'user:alice'));
        const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
        assert.deepEqual(ids(await s.listAudit({ actor: 'user:bob' })), [e2.id]);
        assert.deepEqual(ids(await s.listAudit({ action: 'device.' })), [e2.id, e1.id]);
        assert.deepEqual(ids(await s.listAudit({ action: 'device.create' })), [e1.id]);
        assert.deepEqual(ids(await s.listAudit({ action: 'device' })), [e5.id]);
        assert.deepEqual(ids(await s.listAudit({ action: 'a_b.' })), [e6.id]);
        assert.deepEqual(ids(await s.listAudit({ target: 'device:1' })), [e2.id, e1.id]);
        assert.deepEqual(ids(await s.listAudit({ target: '' })), [e7.id, e6.id, e5.id, e3.id]);
        assert.deepEqual(ids(await s.listAudit({ actor: 'user:alice', action: 'device.', target: 'device:1' })), [e1.id]);
        assert.deepEqual(ids(await s.listAudit({ actor: 'system', action: 'device.' })), []);
        assert.deepEqual(ids(await s.listAudit({ action: 'token.' })), [e4.id]);
      });

      it('pages backwards with before', async (s) => {
        const all = [];
        for (let i = 0; i < 7; i++) all.push(await s.appendAudit(entry(i % 2 ? 'device.create' : 'user.update')));
        const seen: string[] = [];
        let before: string | undefined;
        for (;;) {
          const page = await s.listAudit({ limit: 3, ...(before === undefined ? {} : { before }) });
          if (page.length === 0) break;
          assert.ok(page.length <= 3);
          seen.push(...page.map((e) => e.id));
          before = page.at(-1)!.id;
        }
        assert.deepEqual(seen, all.map((e) => e.id).reverse());
        // With a filter: only device.create below the newest one.
        const creates = all.filter((e) => e.action === 'device.create').map((e) => e.id).reverse();
        assert.deepEqual((await s.listAudit({ action: 'device.', before: creates[0]! })).map((e) => e.id), creates.slice(1));
        assert.equal((await s.listAudit({ before: '99999999999999999999999' })).length, all.length);
        assert.deepEqual(await s.listAudit({ before: all[0]!.id }), []);
        await assert.rejects(s.listAudit({ before: 'abc' }), TypeError);
      });

      it('filters by time: since inclusive, until exclusive', async (s) => {
        const all = [await s.appendAudit(entry('x.a'))];
        // Append until the clock has visibly moved on, so there are at least two distinct times.
        while (all.at(-1)!.at === all[0]!.at) all.push(await s.appendAudit(entry('x.b')));
        all.push(await s.appendAudit(entry('x.c')));
        const last = all.at(-1)!.at;
        const first = all[0]!.at;
        const expect = (pred: (at: number) => boolean) => all.filter((e) => pred(Date.parse(e.at))).map((e) => e.id).reverse();
        const ids = async (q: { since?: string; until?: string }) => (await s.listAudit({ ...q, limit: 1000 })).map((e) => e.id);
        const sinceLast = await ids({ since: last });
        assert.ok(sinceLast.length >= 1 && sinceLast.length < all.length);
        assert.deepEqual(sinceLast, expect((t) => t >= Date.parse(last)));
        const untilLast = await ids({ until: last });
        assert.ok(untilLast.length >= 1 && untilLast.length < all.length);
        assert.deepEqual(untilLast, expect((t) => t < Date.parse(last)));
        assert.deepEqual(await ids({ since: first, until: last }), expect((t) => t >= Date.parse(first) && t < Date.parse(last)));
        assert.deepEqual(await ids({ until: first }), []);
        assert.deepEqual(await ids({ since: inMs(HOUR) }), []);
      });
    });

    describe('leases', () => {
      it('one holder at a time; renewals; release; an expired lease is taken over', async (s) => {
        assert.equal(await s.acquireLease('connector:a', 'gw-1', 60_000), true);
        assert.equal(await s.acquireLease('connector:a', 'gw-2', 60_000), false);
        assert.equal(await s.acquireLease('connector:a', 'gw-1', 60_000), true, 'the holder renews');
        assert.equal(await s.acquireLease('connector:b', 'gw-2', 60_000), true, 'leases are independent');
        await s.releaseLease('connector:a', 'gw-2'); // not the holder: nothing changes
        assert.equal(await s.acquireLease('connector:a', 'gw-2', 60_000), false);
        await s.releaseLease('connector:a', 'gw-1');
        assert.equal(await s.acquireLease('connector:a', 'gw-2', 50), true, 'released: taken at once');
        // gw-2's lease runs out after 50 ms (the database's clock): then gw-1 gets it.
        const deadline = Date.now() + 5000;
        let taken = false;
        while (!taken && Date.now() < deadline) taken = await s.acquireLease('connector:a', 'gw-1', 60_000);
        assert.equal(taken, true);
        assert.equal(await s.acquireLease('connector:a', 'gw-2', 60_000), false);
        await assert.rejects(s.acquireLease('x', 'gw-1', 0), RangeError);
      });

      it('concurrent takers: exactly one wins', async (s) => {
        const got = await Promise.all(Array.from({ length: 8 }, (_, i) => s.acquireLease('race', `gw-${i}`, 60_000)));
        assert.equal(got.filter(Boolean).length, 1);
      });
    });

    describe('user anomaly models', () => {
      const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) % 256);
      const model = (name: string, version: string, onnx = bytes(1000)) => ({ name, version, inputs: ['robust_z', 'peak_z'], output: version === '1' ? 'scores' : null, onnx, sha256: `sha-${name}-${version}` });

      it('the first version of a name is active, later ones shadow; bytes kept exactly; (name, version) unique', async (s) => {
        const v0 = await s.userModelsVersion();
        const a1 = await s.createUserModel(model('fleet', '1'));
        assert.equal(a1.role, 'active');
        assert.match(a1.promotedAt!, isoRe);
        assert.deepEqual(a1.inputs, ['robust_z', 'peak_z']);
        assert.equal(a1.output, 'scores');
        assert.equal(a1.sizeBytes, 1000);
        assert.equal('onnx' in a1, false);
        const a2 = await s.createUserModel(model('fleet', '2', bytes(70_000)));
        assert.equal(a2.role, 'shadow');
        assert.equal(a2.promotedAt, null);
        assert.equal(a2.output, null);
        assert.equal((await s.createUserModel(model('other', '1'))).role, 'active');
        await assert.rejects(s.createUserModel(model('fleet', '2')), isConflict);
        assert.deepEqual((await s.listUserModels()).map((m) => [m.name, m.version, m.role]), [
          ['fleet', '1', 'active'],
          ['fleet', '2', 'shadow'],
          ['other', '1', 'active'],
        ]);
        const got = await s.getUserModel('fleet', '2');
        assert.deepEqual(got!.onnx, bytes(70_000));
        assert.equal(got!.sha256, 'sha-fleet-2');
        assert.equal(await s.getUserModel('fleet', '3'), undefined);
        assert.notEqual(await s.userModelsVersion(), v0);
      });

      it('promote: the version active, the active one retired, in one step; delete; the registry version changes each time', async (s) => {
        await s.createUserModel(model('fleet', '1'));
        await s.createUserModel(model('fleet', '2'));
        await s.createUserModel(model('fleet', '3'));
        let v = await s.userModelsVersion();
        const p = await s.promoteUserModel('fleet', '2');
        assert.equal(p!.role, 'active');
        assert.match(p!.promotedAt!, isoRe);
        assert.deepEqual((await s.listUserModels()).map((m) => m.role), ['retired', 'active', 'shadow']);
        assert.notEqual(await s.userModelsVersion(), v);
        v = await s.userModelsVersion();
        assert.equal((await s.promoteUserModel('fleet', '2'))!.role, 'active', 'already active: as it is');
        assert.equal(await s.promoteUserModel('fleet', '9'), undefined);
        assert.equal(await s.promoteUserModel('nope', '1'), undefined);
        // Rolling back: the retired version promoted again.
        await s.promoteUserModel('fleet', '1');
        assert.deepEqual((await s.listUserModels()).map((m) => m.role), ['active', 'retired', 'shadow']);
        v = await s.userModelsVersion();
        assert.equal(await s.deleteUserModel('fleet', '3'), true);
        assert.equal(await s.deleteUserModel('fleet', '3'), false);
        assert.notEqual(await s.userModelsVersion(), v);
        assert.deepEqual((await s.listUserModels()).map((m) => m.version), ['1', '2']);
      });

      it('concurrent promotions of two versions leave exactly one active', async (s) => {
        await s.createUserModel(model('race', '1'));
        await s.createUserModel(model('race', '2'));
        await s.createUserModel(model('race', '3'));
        await Promise.all([s.promoteUserModel('race', '2'), s.promoteUserModel('race', '3')]);
        const roles = (await s.listUserModels()).map((m) => m.role);
        assert.equal(roles.filter((r) => r === 'active').length, 1, roles.join(','));
        assert.equal(roles[0], 'retired');
      });
    });

    describe('settings', () => {
      it('get of a missing key is undefined; the first writer wins', async (s) => {
        assert.equal(await s.getSetting('jwt.key'), undefined);
        assert.equal(await s.setSettingIfAbsent('jwt.key', 'first'), 'first');
        assert.equal(await s.setSettingIfAbsent('jwt.key', 'second'), 'first');
        assert.equal(await s.getSetting('jwt.key'), 'first');
        assert.equal(await s.getSetting('other'), undefined);
      });

      it('concurrent writers all get the one stored value', async (s) => {
        const values = Array.from({ length: 8 }, (_, i) => `v${i}`);
        const got = await Promise.all(values.map((v) => s.setSettingIfAbsent('race', v)));
        const stored = await s.getSetting('race');
        assert.ok(stored !== undefined && values.includes(stored));
        assert.deepEqual(got, values.map(() => stored));
      });
    });
  });
}
