// Python peers for tests (Home Assistant, pymodbus, asyncua): each a venv
// with pinned packages from PyPI, built once and cached at
// ${XDG_CACHE_HOME:-~/.cache}/sentio/<name>.
//
// - Built in a temp dir beside it and renamed when complete, so a killed
//   build leaves no half venv; a venv that no longer imports what it must
//   (`check`) is built again.
// - A venv is not relocatable (its scripts name their interpreter by path):
//   peers run as `<venv>/bin/python -m ...` or `python script.py`.
// - When PyPI cannot be reached and there is no venv, prepareVenv() says
//   why ({ unavailable }), and the tests that need it skip saying so; when
//   PyPI answers and the build fails, that is a failure (thrown).
// - SENTIO_TEST_PYTHON names the Python (>= 3.11) to build with; default python3.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface VenvSpec {
  /** The cache directory's name, such as `pymodbus-3.16.1`. */
  name: string;
  /** What the tests need it for (in messages), such as `pymodbus 3.16.1`. */
  what: string;
  /** pip requirements, pinned. */
  packages: readonly string[];
  /** Python code that exits 0 when the venv holds what it must (imports, versions). */
  check: string;
}

export type Prepared = { python: string } | { unavailable: string };

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cache, 'sentio');
}

export function exec(cmd: string, args: string[], opts: { timeoutMs?: number; echo?: boolean } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    const take = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      if (opts.echo) process.stderr.write(d);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out: `${out}${e.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

async function works(dir: string, check: string): Promise<boolean> {
  if (!existsSync(join(dir, 'bin', 'python'))) return false;
  return (await exec(join(dir, 'bin', 'python'), ['-c', check], { timeoutMs: 60_000 })).code === 0;
}

/** The venv's python, building the venv first when it is missing (`log` hears what is done). */
export async function prepareVenv(spec: VenvSpec, log: (line: string) => void = () => undefined): Promise<Prepared> {
  const dir = join(cacheDir(), spec.name);
  const python = join(dir, 'bin', 'python');
  if (await works(dir, spec.check)) return { python };
  const base = process.env.SENTIO_TEST_PYTHON ?? 'python3';
  const version = await exec(base, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2]); assert sys.version_info >= (3, 11)']);
  // Not a reason to skip: a machine of this project has it (ENVIRONMENT.md); SENTIO_TEST_PYTHON names another one.
  if (version.code !== 0) throw new Error(`${spec.what} needs Python >= 3.11 with venv; ${base} is ${version.out.trim() || 'missing'}`);
  await mkdir(cacheDir(), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  const started = Date.now();
  log(`building a Python ${version.out.trim()} venv with ${spec.what} at ${dir} (pip install ${spec.packages.join(' ')}; once)`);
  try {
    const venv = await exec(base, ['-m', 'venv', tmp]);
    if (venv.code !== 0) throw new Error(`${base} -m venv failed:\n${venv.out}`);
    const pip = await exec(join(tmp, 'bin', 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '-q', ...spec.packages], { timeoutMs: 30 * 60_000 });
    if (pip.code !== 0) {
      // PyPI unreachable: the tests skip (saying so); reachable: the build is broken, and that is a failure.
      const probe = await exec(join(tmp, 'bin', 'python'), ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '-d', join(tmp, 'probe'), 'pyqrcode==1.2.1'], { timeoutMs: 120_000 });
      if (probe.code !== 0) return { unavailable: `PyPI cannot be reached, so ${spec.what} cannot be installed: ${pipReason(probe.out)}` };
      throw new Error(`pip install of ${spec.what} failed:\n${pip.out}`);
    }
    if (!(await works(tmp, spec.check))) throw new Error(`the venv built at ${tmp} does not hold ${spec.what} (${spec.check})`);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another process finished its build first: use that one.
      if (!(await works(dir, spec.check))) throw err;
    }
    log(`${spec.what} venv built in ${Math.round((Date.now() - started) / 1000)} s`);
    return { python };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The line of pip's output that says why: a connection error if there is one, else its first error, else its last line. */
function pipReason(s: string): string {
  const lines = s
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const why = lines.find((l) => /connect|resolve|unreachable|timed out|network|proxy|ssl/i.test(l)) ?? lines.find((l) => l.startsWith('ERROR')) ?? lines.pop() ?? 'no output';
  return why.slice(0, 300);
}
