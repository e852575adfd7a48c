// The embedded backend's executor: PGlite (PostgreSQL compiled to WASM) with
// its data under `<dataDir>/meta`. PGlite is one connection: it runs one
// query or transaction at a time, queueing the rest behind a mutex (its
// query() waits for a running transaction), so transactions are serialised
// for us. Inside a transaction only `tx` may be used: the outer executor
// would wait for the transaction that is waiting for it.
// Two processes must never open one data directory at once: a lock file
// (`<dir>.lock`, holding the owner's pid) refuses the second, and a lock
// left by a process that no longer runs is taken over.

import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { StartupError } from '../errors.js';
import type { Executor, Param, Queryable, Row } from './executor.js';

function queryable(db: PGlite | Transaction): Queryable {
  return {
    async query<T extends Row = Row>(text: string, params: readonly Param[] = []): Promise<T[]> {
      return (await db.query<T>(text, params as Param[])).rows;
    },
    async exec(text: string): Promise<void> {
      await db.exec(text);
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `path` for this process; resolves with its release. */
async function lock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const f = await open(path, 'wx', 0o600);
      await f.writeFile(String(process.pid));
      await f.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw new StartupError(`the embedded metadata store ${path.replace(/\.lock$/, '')} is in use by process ${owner} (another sentio with the same --data-dir?)`);
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`cannot lock ${path}`);
}

/** Opens (creating it when absent) the PGlite database in `dir`. */
export async function openPglite(dir: string): Promise<Executor> {
  await mkdir(dir, { recursive: true });
  const release = await lock(`${dir}.lock`);
  let db: PGlite;
  try {
    db = await PGlite.create(dir);
  } catch (err) {
    await release();
    throw err;
  }
  return {
    kind: 'pglite',
    ...queryable(db),
    transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
      return db.transaction((tx) => fn(queryable(tx)));
    },
    async close() {
      if (!db.closed) await db.close();
      await release();
    },
  };
}
