// The embedded backend's executor: PGlite (PostgreSQL compiled to WASM) with
// its data under `<dataDir>/meta`. PGlite is one connection: it runs one
// query or transaction at a time, queueing the rest behind a mutex (its
// query() waits for a running transaction), so transactions are serialised
// for us. Inside a transaction only `tx` may be used: the outer executor
// would wait for the transaction that is waiting for it.
// Two processes must never open one data directory at once: a lock file
// (`<dir>.lock`, holding the owner's pid) refuses the second, and a lock
// left by a process that no longer runs is taken over.

import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
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

/**
 * PostgreSQL settings for an embedded metadata store of users, devices,
 * tokens, rules and the audit log: megabytes, not PostgreSQL's server
 * defaults (shared_buffers alone is 128 MB there). Measured in
 * bench/RESULTS.md (idle footprint).
 */
export const PGLITE_CONF = ['shared_buffers = 16MB', 'temp_buffers = 2MB', 'work_mem = 2MB', 'maintenance_work_mem = 16MB', 'wal_buffers = 512kB'];

/**
 * PGlite is PostgreSQL compiled to WebAssembly (9 MB). V8 compiles it twice
 * by default: a quick baseline (Liftoff), then optimised code (TurboFan) for
 * hot functions, kept beside the first. The optimised copies cost ~40 MB of
 * resident memory for a metadata store whose queries take a millisecond
 * either way (measured in bench/RESULTS.md: an indexed lookup 0.6 ms both
 * ways, a catalog join 1.9 → 2.6 ms). Only PGlite runs WebAssembly in the
 * gateway (the native core and DuckDB are native code), so the flag changes
 * nothing else. Set before PGlite compiles its module: V8 reads it then.
 */
function baselineWasmOnly(): void {
  setFlagsFromString('--liftoff-only');
}

/**
 * The worker that creates a new data directory: initdb runs in WebAssembly
 * instances of its own that hold ~400 MB while they work; in a worker that
 * memory goes when the worker ends, instead of lingering in the gateway's
 * heap until a full GC (first starts idled at ~430 MB RSS, not ~200 MB).
 * Plain JavaScript, importing PGlite by the URL this module resolved, so it
 * runs the same from dist/ and under a TypeScript loader.
 */
const INIT_WORKER = `
const { workerData } = require('node:worker_threads');
import(workerData.pglite)
  .then(async ({ PGlite }) => (await PGlite.create(workerData.dir, { postgresqlconf: workerData.postgresqlconf })).close())
  .catch((err) => { console.error(err); process.exit(1); });
`;

/** Creates a new data directory in a worker thread, so initdb's memory leaves with the worker. */
function initInWorker(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(INIT_WORKER, { eval: true, workerData: { dir, postgresqlconf: PGLITE_CONF, pglite: import.meta.resolve('@electric-sql/pglite') } });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`creating the embedded metadata store in ${dir} failed (worker exit code ${code})`))));
  });
}

/** Opens (creating it when absent) the PGlite database in `dir`. */
export async function openPglite(dir: string): Promise<Executor> {
  await mkdir(dir, { recursive: true });
  const release = await lock(`${dir}.lock`);
  let db: PGlite;
  try {
    baselineWasmOnly();
    if (!existsSync(join(dir, 'PG_VERSION'))) await initInWorker(dir);
    db = await PGlite.create(dir, { postgresqlconf: PGLITE_CONF });
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
