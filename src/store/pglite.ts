// The embedded backend's executor: PGlite (PostgreSQL compiled to WASM) with
// its data under `<dataDir>/meta`. PGlite is one connection: it runs one
// query or transaction at a time, queueing the rest behind a mutex (its
// query() waits for a running transaction), so transactions are serialised
// for us. Inside a transaction only `tx` may be used: the outer executor
// would wait for the transaction that is waiting for it.
// Two processes must never open one data directory at once.

import { mkdir } from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
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

/** Opens (creating it when absent) the PGlite database in `dir`. */
export async function openPglite(dir: string): Promise<Executor> {
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  return {
    kind: 'pglite',
    ...queryable(db),
    transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
      return db.transaction((tx) => fn(queryable(tx)));
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
