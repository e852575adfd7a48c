// The one seam between the store and its drivers: both backends (postgres.ts,
// pglite.ts) expose this, and sql.ts and migrations.ts speak only to it, so
// PostgreSQL and PGlite run exactly the same SQL.
//
// Parameters are `$1`-style and only ever strings, numbers, booleans or null;
// the SQL casts each one (`$1::timestamptz`), so neither driver has to guess
// a type. JSON goes in as text, cast `$2::text::jsonb`: with a bare `::jsonb`
// the server describes the parameter as jsonb and `postgres` JSON-encodes
// the string a second time (a jsonb string scalar instead of an object).
// Results come back as the driver parses them: timestamps as Date or string
// (the store normalises them), jsonb as objects.

export type Row = Record<string, unknown>;
export type Param = string | number | boolean | null;

export interface Queryable {
  /** One statement with `$n` parameters; resolves with its rows. */
  query<T extends Row = Row>(text: string, params?: readonly Param[]): Promise<T[]>;
  /** A script of several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
}

export interface Executor extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction (BEGIN … COMMIT, ROLLBACK when it throws). Inside, use only `tx`. */
  transaction<R>(fn: (tx: Queryable) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}
