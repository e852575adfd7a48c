import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import postgres from 'postgres';
import { type Postgres, startPostgres } from '../../test/services/postgres.js';
import { metaStoreConformance } from './conformance.js';
import { type MetaStore, openStore } from './index.js';
import { checkMigrations, migrate, migrations } from './migrations.js';
import { openPglite } from './pglite.js';

const latest = migrations.at(-1)!.version;

describe('PGlite', () => {
  let root: string;
  let template: string;
  let n = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sentio-store-'));
    // initdb in WASM takes seconds: migrate one data dir, then give each test a copy of it.
    template = join(root, 'template');
    const s = await openStore({ dataDir: template });
    await s.close();
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  metaStoreConformance('pglite', async () => {
    const dataDir = join(root, `t${++n}`);
    await cp(join(template, 'meta'), join(dataDir, 'meta'), { recursive: true });
    return openStore({ dataDir });
  });

  test('a fresh data dir is created and migrated to the latest version; data survives close and reopen', async () => {
    const dataDir = join(root, 'fresh', 'nested');
    const s1 = await openStore({ dataDir });
    assert.equal(s1.kind, 'pglite');
    assert.ok((await stat(join(dataDir, 'meta'))).isDirectory());
    assert.equal(await s1.migrate(), latest);
    const d = await s1.createDevice({ name: 'persisted', labels: { a: 'b' } });
    await s1.appendAudit({ actor: 'system', action: 'device.create', target: `device:${d.id}`, ip: '', details: {} });
    assert.equal(await s1.setSettingIfAbsent('k', 'v'), 'v');
    await s1.close();
    const s2 = await openStore({ dataDir });
    try {
      assert.deepEqual(await s2.getDevice(d.id), d);
      assert.equal((await s2.listAudit())[0]?.target, `device:${d.id}`);
      assert.equal(await s2.getSetting('k'), 'v');
      assert.equal(await s2.migrate(), latest);
    } finally {
      await s2.close();
    }
    // JSON is stored as jsonb objects, not as double-encoded strings.
    const raw = await openPglite(join(dataDir, 'meta'));
    try {
      assert.deepEqual(await raw.query(`SELECT jsonb_typeof(labels) AS t, labels->>'a' AS a FROM devices`), [{ t: 'object', a: 'b' }]);
    } finally {
      await raw.close();
    }
  });

  test('migrate applies each migration once', async () => {
    const db = await openPglite(join(root, 'runner'));
    try {
      // No IF NOT EXISTS: a second application would throw.
      const list = [
        { version: 1, name: 'one', sql: 'CREATE TABLE m1 (x int); INSERT INTO m1 VALUES (1);' },
        { version: 2, name: 'two', sql: 'CREATE TABLE m2 (x int);' },
      ];
      assert.equal(await migrate(db, list.slice(0, 1)), 1);
      assert.equal(await migrate(db, list), 2);
      assert.equal(await migrate(db, list), 2);
      assert.deepEqual(await db.query('SELECT x FROM m1'), [{ x: 1 }]);
      assert.deepEqual((await db.query('SELECT version, name FROM schema_migrations ORDER BY version')).map((r) => [r.version, r.name]), [[1, 'one'], [2, 'two']]);
      // A failing migration rolls back entirely.
      await assert.rejects(migrate(db, [...list, { version: 3, name: 'bad', sql: 'CREATE TABLE m3 (x int); SELECT no_such_column FROM m1;' }]));
      assert.deepEqual(await db.query(`SELECT to_regclass('m3')::text AS t`), [{ t: null }]);
      assert.equal(await migrate(db, list), 2);
    } finally {
      await db.close();
    }
  });
});

test('migration versions must increase', () => {
  checkMigrations(migrations);
  assert.throws(() => checkMigrations([{ version: 2, name: 'a', sql: '' }, { version: 2, name: 'b', sql: '' }]));
  assert.throws(() => checkMigrations([{ version: 0, name: 'a', sql: '' }]));
});

describe('PostgreSQL', () => {
  let pg: Postgres;
  const dataDir = tmpdir(); // unused with a postgres URL
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.destroy();
  });

  metaStoreConformance('postgres', async () => openStore({ postgres: await pg.createDatabase(), dataDir }));

  test('several instances migrating one database at once all succeed, each migration applied once', async () => {
    const url = await pg.createDatabase();
    const stores: MetaStore[] = await Promise.all(Array.from({ length: 4 }, () => openStore({ postgres: url, dataDir })));
    try {
      for (const s of stores) assert.equal(s.kind, 'postgres');
      assert.deepEqual(await Promise.all(stores.map((s) => s.migrate())), stores.map(() => latest));
      const u = await stores[0]!.createUser({ username: 'shared', role: 'admin', passwordHash: 'h' });
      assert.equal((await stores[3]!.getUserByUsername('shared'))?.id, u.id);
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql`SELECT version FROM schema_migrations ORDER BY version`;
        assert.deepEqual(rows.map((r) => r.version), migrations.map((m) => m.version));
      } finally {
        await sql.end();
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('JSON is stored as jsonb objects, not as double-encoded strings', async () => {
    const url = await pg.createDatabase();
    const s = await openStore({ postgres: url, dataDir });
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await s.createDevice({ name: 'd', labels: { a: 'b' } });
      await s.appendAudit({ actor: 'system', action: 'x.y', target: '', ip: '', details: { n: 1 } });
      await s.createConnector({ name: 'c', kind: 'mqtt', config: { url: 'mqtt://x' } });
      assert.deepEqual([...(await sql`SELECT jsonb_typeof(labels) AS t, labels->>'a' AS a FROM devices`)], [{ t: 'object', a: 'b' }]);
      assert.deepEqual([...(await sql`SELECT details->>'n' AS n FROM audit_log`)], [{ n: '1' }]);
      assert.deepEqual([...(await sql`SELECT config->>'url' AS u FROM connectors`)], [{ u: 'mqtt://x' }]);
    } finally {
      await sql.end();
      await s.close();
    }
  });

  test('migration 3: connectors stored before it are of source api', async () => {
    const url = await pg.createDatabase();
    const { openPostgres } = await import('./postgres.js');
    const db = openPostgres(url, { max: 1 });
    try {
      assert.equal(await migrate(db, migrations.filter((m) => m.version <= 2)), 2);
      await db.query(`INSERT INTO connectors (id, name, kind, config) VALUES ('c1', 'old', 'mqtt', '{}')`);
    } finally {
      await db.close();
    }
    const s = await openStore({ postgres: url, dataDir });
    try {
      assert.deepEqual((await s.listConnectors()).map((c) => [c.name, c.source]), [['old', 'api']]);
    } finally {
      await s.close();
    }
  });

  test('an unreachable server fails openStore with SENTIO_ERR_STORE_UNAVAILABLE', async () => {
    await assert.rejects(openStore({ postgres: `postgres://postgres@127.0.0.1:1/none`, dataDir }), (err: unknown) => (err as { code?: string }).code === 'SENTIO_ERR_STORE_UNAVAILABLE');
  });
});

test('PGlite: a second open of the same data directory is refused while the first is open, and allowed after close', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-store-lock-'));
  try {
    const first = await openStore({ dataDir });
    await assert.rejects(openStore({ dataDir }), /is in use by process \d+/);
    await first.close();
    const again = await openStore({ dataDir });
    await again.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a closed PGlite store reports SENTIO_ERR_STORE_UNAVAILABLE', async () => {
  const { SentioError } = await import('../errors.js');
  const unavailable = (err: unknown) => err instanceof SentioError && err.code === 'SENTIO_ERR_STORE_UNAVAILABLE';
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-store-down-'));
  try {
    const s = await openStore({ dataDir });
    await s.close();
    await assert.rejects(s.health(), unavailable);
    await assert.rejects(s.listUsers(), unavailable);
    await assert.rejects(s.rotateSession('x', { id: 'y', tokenHash: 'z', expiresAt: new Date().toISOString() }), unavailable);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
