// A real PostgreSQL server for tests (Debian's `postgresql` package, the
// highest version under /usr/lib/postgresql): `initdb` into a fresh temp dir,
// then `postgres` on a free loopback port with its socket in that dir and
// fsync off. PostgreSQL refuses to run as root, so as root the dir is given to
// the `postgres` user and every binary runs through `runuser -u postgres --`.
// Ready means a real connection answers `SELECT 1`. destroy() asks for a fast
// shutdown (SIGINT to the postmaster: clients are disconnected, no waiting for
// them), waits for the exit and removes the dir.

import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { freePort, spawnService } from './index.js';

const run = promisify(execFile);

export interface Postgres {
  /** `postgres://postgres@127.0.0.1:<port>/sentio_test`, an empty database made for the tests. */
  url: string;
  port: number;
  /** A URL of another new, empty database on the same server (one per test, when tests need a clean slate). */
  createDatabase(): Promise<string>;
  output(): string;
  destroy(): Promise<void>;
}

/** The bin directory of the highest PostgreSQL version installed. */
export async function postgresBinDir(): Promise<string> {
  const base = '/usr/lib/postgresql';
  const versions = (await readdir(base).catch(() => [] as string[]))
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL under ${base}: apt-get install -y postgresql`);
  return join(base, versions[0]!, 'bin');
}

const asRoot = process.getuid?.() === 0;

/** The command line running `bin` as a user PostgreSQL accepts. */
function command(bin: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

let databases = 0;

/** Resolves when `child` has exited, or after `timeoutMs`. */
async function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startPostgres(): Promise<Postgres> {
  const bin = await postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'sentio-postgres-'));
  if (asRoot) await run('chown', ['postgres:postgres', dir]);
  const data = join(dir, 'data');
  const [initdb, initdbArgs] = command(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  await run(initdb, initdbArgs).catch((e: { stderr?: string; message: string }) => {
    throw new Error(`initdb failed: ${e.stderr ?? e.message}`);
  });
  const port = await freePort();
  const base = `postgres://postgres@127.0.0.1:${port}`;
  const [cmd, prefix] = command(join(bin, 'postgres'), []);
  const svc = await spawnService(
    'postgres',
    cmd,
    (d, p) => [...prefix, '-D', join(d, 'data'), '-p', String(p), '-k', d, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    async () => {
      const sql = postgres(`${base}/postgres`, { max: 1, connect_timeout: 2, onnotice: () => {} });
      try {
        await sql`SELECT 1`;
        return true;
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
    { dir, port },
  );

  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  const createDatabase = async () => {
    const name = `sentio_${process.pid}_${++databases}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    return `${base}/${name}`;
  };
  let url: string;
  try {
    await admin.unsafe('CREATE DATABASE sentio_test');
    url = `${base}/sentio_test`;
  } catch (e) {
    await admin.end({ timeout: 1 });
    await svc.destroy();
    throw e;
  }

  return {
    url,
    port,
    createDatabase,
    output: svc.output,
    async destroy() {
      await admin.end({ timeout: 1 });
      // Fast shutdown: SIGTERM (what svc.stop sends) would wait for every client to disconnect.
      const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGINT');
          // Let runuser see its child exit on its own: a SIGTERM to runuser now makes it linger 2 s before exiting.
          await exited(svc.process, 10_000);
        } catch {
          // already gone
        }
      }
      await svc.destroy();
    },
  };
}
