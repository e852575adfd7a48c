// A node-opcua OPCUAServer for tests and benches (test/fixtures/opcua-server.mjs),
// in its own process on a free loopback port, with its PKI in its temp dir:
// kill() is a crash (SIGKILL), restart() brings it back on the same port and
// PKI, with new settings (another generation: new NodeIds behind the same
// browse paths).

import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Service, spawnService } from './index.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/opcua-server.mjs', import.meta.url));

export interface OpcuaServerSettings {
  generation?: number;
  secure?: boolean;
  tickMs?: number;
  bulk?: number;
  noSubscriptions?: boolean;
}

export interface OpcuaServer extends Service {
  endpoint: string;
  /** Its PKI: certificates copied into trustedDir are trusted. */
  trustedDir: string;
  /** Its own certificate (DER). */
  certificate(): Promise<Buffer>;
  /** SIGKILL, and waits for the process to end. */
  kill(): Promise<void>;
  /** Starts it again on the same port and PKI (after kill or stop). */
  restart(settings: OpcuaServerSettings): Promise<OpcuaServer>;
}

/** Resolves true when something accepts TCP connections on the port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startOpcuaServer(settings: OpcuaServerSettings = {}, existing?: { dir: string; port: number }): Promise<OpcuaServer> {
  const svc = await spawnService('opcua-server', process.execPath, (dir, port) => [FIXTURE, JSON.stringify({ port, pki: join(dir, 'pki'), ...settings })], async (url) => accepts(Number(new URL(url).port)), existing);
  return {
    ...svc,
    endpoint: `opc.tcp://127.0.0.1:${svc.port}`,
    trustedDir: join(svc.dir, 'pki', 'trusted', 'certs'),
    async certificate() {
      const pem = await readFile(join(svc.dir, 'pki', 'own', 'certs', 'certificate.pem'), 'utf8');
      return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    },
    async kill() {
      const exited = new Promise((resolve) => svc.process.once('exit', resolve));
      if (svc.process.exitCode === null && svc.process.signalCode === null) {
        svc.process.kill('SIGKILL');
        await exited;
      }
    },
    restart: (next) => startOpcuaServer(next, { dir: svc.dir, port: svc.port }),
  };
}
