// `sentio start` as an operator runs it: banner, refusal of bad settings,
// generated token, clean stop on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

test('a bad setting stops start-up with exit code 2 and names the key', async () => {
  const p = run(['start', '--listen', 'localhost'], { SENTIO_REPLICATION: 'zero' });
  assert.equal(await p.exit, 2);
  assert.match(p.err(), /listen \(--listen, SENTIO_LISTEN\): expected HOST:PORT/);
  assert.match(p.err(), /replication \(--replication, SENTIO_REPLICATION\)/);
});

test('start prints where it listens, the sinks and the data directory; generates a token; stops on SIGTERM', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sentio-cli-'));
  try {
    const p = run(['start', '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
    const banner = await new Promise<string>((resolve, reject) => {
      p.child.stdout.on('data', () => {
        if (p.out().includes('parser workers')) resolve(p.out());
      });
      p.exit.then((code) => reject(new Error(`exited ${code}: ${p.err()}`)));
    });
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(banner)?.[1]);
    assert.ok(port > 0, banner);
    assert.match(banner, /sinks:\n  embedded: embedded \(DuckDB \/.*sentio\.duckdb\)\n/);
    assert.ok(banner.includes(`data directory: ${dataDir}`));
    // Started here without the heap flag (as `node src/cli.ts start`): the banner says so and names it.
    assert.match(banner, /\nnode heap: node's default sizing \(start node with --initial-old-space-size=128, as npm start does/);
    const token = (await readFile(join(dataDir, 'ingest-token'), 'utf8')).trim();
    assert.ok(banner.includes(token), 'the generated token is printed');

    const denied = await fetch(`http://127.0.0.1:${port}/write`, { method: 'POST', body: 'x v=1' });
    assert.equal(denied.status, 401);
    const ok = await fetch(`http://127.0.0.1:${port}/write`, { method: 'POST', body: 'x v=1', headers: { authorization: `Token ${token}` } });
    assert.equal(ok.status, 204);

    p.child.kill('SIGTERM');
    assert.equal(await p.exit, 0);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('--version prints the package version; each command has its own --help, exit code 0', async () => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-v'], ['version']]) {
    const p = run(args);
    assert.equal(await p.exit, 0, args.join(' '));
    assert.equal(p.out(), `sentio ${pkg.version}\n`);
  }
  const cases: Array<[string[], RegExp]> = [
    [['--help'], /^Usage: sentio <command>[\s\S]*start[\s\S]*queue inspect/],
    [['help'], /^Usage: sentio <command>/],
    [['start', '--help'], /^Usage: sentio start \[options\][\s\S]*--listen VALUE[\s\S]*--max-inflight-body-bytes/],
    [['start', '--listen', '127.0.0.1:1', '-h'], /^Usage: sentio start/],
    [['queue', '--help'], /^Usage: sentio queue inspect[\s\S]*--data-dir DIR/],
    [['queue', 'inspect', '--help'], /^Usage: sentio queue inspect/],
    [['queue', 'verify', '-h'], /^Usage: sentio queue inspect/],
  ];
  for (const [args, usage] of cases) {
    const p = run(args);
    assert.equal(await p.exit, 0, `${args.join(' ')}: ${p.err()}`);
    assert.match(p.out(), usage, args.join(' '));
    assert.equal(p.err(), '');
  }
  const none = run([]);
  assert.equal(await none.exit, 2, 'no command is a usage error');
  assert.match(none.err(), /^Usage: sentio <command>/);
  const unknown = run(['stop']);
  assert.equal(await unknown.exit, 2);
  assert.match(unknown.err(), /unknown command "stop"/);
});

test('--replication above 1 without VictoriaMetrics URLs is refused with a clear message', async () => {
  const p = run(['start', '--listen', '127.0.0.1:0', '--replication', '3']);
  assert.equal(await p.exit, 2);
  assert.match(p.err(), /replication \(--replication, SENTIO_REPLICATION\): replication 3 needs at least 3 VictoriaMetrics URLs \(--victoriametrics\), and none is configured/);
});
