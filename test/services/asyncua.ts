// A Python asyncua 2.1.0 OPC-UA server for tests (test/fixtures/asyncua_server.py),
// from a cached venv (./venv.ts), on a free loopback port in its own process.
//
// `node --import tsx test/services/asyncua.ts --install` builds the venv
// (scripts/test.mjs runs it before the tests).

import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Service, spawnService } from './index.js';
import { accepts } from './opcua.js';
import { type Prepared, prepareVenv } from './venv.js';

export const ASYNCUA_VERSION = '2.1.0';
const SERVER = fileURLToPath(new URL('../fixtures/asyncua_server.py', import.meta.url));

export function prepareAsyncua(log?: (line: string) => void): Promise<Prepared> {
  return prepareVenv({ name: `asyncua-${ASYNCUA_VERSION}`, what: `asyncua ${ASYNCUA_VERSION}`, packages: [`asyncua==${ASYNCUA_VERSION}`], check: `import asyncua, importlib.metadata as m; assert m.version("asyncua") == "${ASYNCUA_VERSION}"` }, log);
}

export interface AsyncuaServer extends Service {
  endpoint: string;
}

/** Starts the server; `generation` is part of its NodeIds (ns=2;s=Temperature.g<generation>). */
export async function startAsyncuaServer(python: string, generation = 1): Promise<AsyncuaServer> {
  const svc = await spawnService('asyncua', python, (_dir, port) => [SERVER, String(port), String(generation)], async (url) => accepts(Number(new URL(url).port)));
  return { ...svc, endpoint: `opc.tcp://127.0.0.1:${svc.port}` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv.includes('--install')) {
  const r = await prepareAsyncua((line) => console.log(`asyncua: ${line}`));
  if ('unavailable' in r) console.log(`asyncua: ${r.unavailable} (its tests will skip)`);
}
