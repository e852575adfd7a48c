// The PostgreSQL backend's executor, over the `postgres` package: a small
// pool (10 connections by default), `$n` parameters through sql.unsafe (the
// text is always ours, the values always parameters), scripts through the
// simple protocol. Notices (CREATE … IF NOT EXISTS) are dropped.

import postgres from 'postgres';
import type { Executor, Param, Queryable, Row } from './executor.js';

export interface PostgresOptions {
  /** Pool size; default 10. */
  max?: number;
}

function queryable(sql: postgres.Sql | postgres.TransactionSql): Queryable {
  return {
    async query<T extends Row = Row>(text: string, params: readonly Param[] = []): Promise<T[]> {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return [...rows] as unknown as T[];
    },
    async exec(text: string): Promise<void> {
      await sql.unsafe(text).simple();
    },
  };
}

export function openPostgres(url: string, opts: PostgresOptions = {}): Executor {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
  });
  return {
    kind: 'postgres',
    ...queryable(sql),
    async transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R> {
      return (await sql.begin((tx) => fn(queryable(tx)))) as R;
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
