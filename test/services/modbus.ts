// Modbus TCP servers for tests, each in its own process on a free loopback
// port, serving the registers of a spec (test/fixtures/modbus-server.mjs
// says its shape): modbus-serial's ServerTCP (`node`), and pymodbus 3.16.1
// from PyPI (`pymodbus`, in a cached venv: ./venv.ts).
//
// `node --import tsx test/services/modbus.ts --install` builds the pymodbus
// venv (scripts/test.mjs runs it before the tests).

import { mkdtemp, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Service, spawnService } from './index.js';
import { type Prepared, prepareVenv } from './venv.js';

export const PYMODBUS_VERSION = '3.16.1';

export type ModbusPeerKind = 'node' | 'pymodbus';

export interface ModbusSpec {
  delayMs?: number;
  units: Record<string, Partial<Record<'holding' | 'input' | 'coil' | 'discrete', Record<string, number>>>>;
}

export function preparePymodbus(log: (line: string) => void = () => undefined): Promise<Prepared> {
  return prepareVenv({ name: `pymodbus-${PYMODBUS_VERSION}`, what: `pymodbus ${PYMODBUS_VERSION}`, packages: [`pymodbus==${PYMODBUS_VERSION}`], check: `import pymodbus; assert pymodbus.__version__ == "${PYMODBUS_VERSION}"` }, log);
}

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * A peer serving `spec`; `python` is the pymodbus venv's (for `pymodbus`).
 * `existing`: its port and dir again (a restart; the spec there is kept).
 */
export async function startModbusPeer(kind: ModbusPeerKind, spec: ModbusSpec | undefined, o: { python?: string; existing?: { dir: string; port: number } } = {}): Promise<Service> {
  const [command, script] = kind === 'node' ? [process.execPath, fixture('modbus-server.mjs')] : [o.python ?? 'python3', fixture('modbus_server.py')];
  const at = o.existing ?? { dir: await mkdtemp(join(tmpdir(), `sentio-modbus-${kind}-`)), port: await freePort() };
  if (spec !== undefined) await writeFile(join(at.dir, 'spec.json'), JSON.stringify(spec));
  return spawnService(`modbus-${kind}`, command, (dir, port) => [script, join(dir, 'spec.json'), String(port)], (url) => accepts(Number(new URL(url).port)), at);
}

// `--install`: build the venv (scripts/test.mjs). Prints why the tests will skip when it cannot.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--install')) {
  const r = await preparePymodbus((line) => console.log(`test: ${line}`));
  if ('unavailable' in r) console.log(`test: the pymodbus tests will be SKIPPED: ${r.unavailable}`);
  else console.log(`test: pymodbus ${PYMODBUS_VERSION} ready (${r.python})`);
}
