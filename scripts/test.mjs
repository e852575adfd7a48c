#!/usr/bin/env node
// The whole test suite: `npm test`.
// 1. Makes sure the Debian packages whose servers the tests start are
//    installed: installs them when running as root, otherwise prints the
//    exact command and stops.
// 2. Builds the Python venv with Home Assistant core that the Home Assistant
//    connector's tests start, if it is missing (cached between runs).
// 3. Builds the native addon and the dashboard if they are missing.
// 4. Runs the Rust core's tests (cargo test), then every TypeScript test
//    (*.test.ts under src/, test/ and bench/) with Node's built-in test runner.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Debian package → a shell test that succeeds when it is installed. */
const packages = {
  'victoria-metrics': 'command -v victoria-metrics',
  // PostgreSQL's server binaries are not on PATH: test/services/postgres.ts finds them under /usr/lib/postgresql.
  postgresql: 'ls /usr/lib/postgresql/*/bin/initdb',
  'redis-server': 'command -v redis-server',
  // The MQTT connector's tests run against a real broker.
  mosquitto: 'command -v mosquitto || test -x /usr/sbin/mosquitto',
  // The dashboard's end-to-end tests drive Debian's Chromium with playwright-core.
  chromium: 'command -v chromium',
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function installed(test) {
  return spawnSync('sh', ['-c', test], { stdio: 'ignore' }).status === 0;
}

const missing = Object.entries(packages).filter(([, test]) => !installed(test)).map(([pkg]) => pkg);
if (missing.length > 0) {
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() === 0) {
    console.log(`test: installing Debian packages the tests need: ${missing.join(' ')}`);
    if (run('sh', ['-c', cmd], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }) !== 0) {
      console.error(`test: "${cmd}" failed`);
      process.exit(1);
    }
  } else {
    console.error(`test: the tests start real servers from Debian packages that are not installed: ${missing.join(', ')}.\nInstall them with:\n\n  sudo sh -c '${cmd}'\n`);
    process.exit(1);
  }
}

// The Home Assistant connector's tests run against a real Home Assistant core from PyPI, in a venv
// cached under ${XDG_CACHE_HOME:-~/.cache}/sentio: built here when missing (a few minutes, once). When
// PyPI cannot be reached this says so, and those tests skip saying so.
console.log('test: Home Assistant venv for the connector tests (node --import tsx test/services/homeassistant.ts --install)');
if (run(process.execPath, ['--import', 'tsx', 'test/services/homeassistant.ts', '--install']) !== 0) {
  console.error('test: building the Home Assistant venv failed');
  process.exit(1);
}

// The Modbus connector's tests also run against pymodbus from PyPI, in a venv cached the same way.
console.log('test: pymodbus venv for the Modbus connector tests (node --import tsx test/services/modbus.ts --install)');
if (run(process.execPath, ['--import', 'tsx', 'test/services/modbus.ts', '--install']) !== 0) {
  console.error('test: building the pymodbus venv failed');
  process.exit(1);
}

// The OPC-UA connector's tests also run against Python's asyncua from PyPI, in a venv cached the same way.
console.log('test: asyncua venv for the OPC-UA connector tests (node --import tsx test/services/asyncua.ts --install)');
if (run(process.execPath, ['--import', 'tsx', 'test/services/asyncua.ts', '--install']) !== 0) {
  console.error('test: building the asyncua venv failed');
  process.exit(1);
}

if (!existsSync(join(root, 'native/napi/index.cjs'))) {
  console.log('test: building the native addon');
  if (run('npm', ['run', 'build:native']) !== 0) process.exit(1);
}

if (!existsSync(join(root, 'web/dist/index.html'))) {
  console.log('test: building the dashboard');
  if (run('npm', ['run', 'build:web']) !== 0) process.exit(1);
}

if (run('cargo', ['test', '--manifest-path', 'native/Cargo.toml', '--workspace', '--release']) !== 0) process.exit(1);

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : findTests(p);
    return e.name.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}
const files = [...findTests(join(root, 'src')), ...findTests(join(root, 'test')), ...findTests(join(root, 'bench'))].sort();
process.exit(run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files]));
