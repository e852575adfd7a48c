// A real redis-server (Debian's package) for tests: a temp dir, a free
// loopback port, no persistence (--save "" --appendonly no). Ready once it
// answers a real PING over RESP, spoken here on a plain socket so the probe
// does not depend on the client under test.

import { connect } from 'node:net';
import { type Service, spawnService } from './index.js';

export interface RedisService extends Service {
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Stops the server and starts it again on the same port and directory (empty: nothing is persisted). */
  restart(): Promise<RedisService>;
}

/** Sends PING and resolves true on +PONG; false on any other answer, error or after `timeoutMs`. */
export function pingRedis(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export async function startRedis(existing?: { dir: string; port: number }): Promise<RedisService> {
  const svc = await spawnService(
    'redis',
    'redis-server',
    (dir, port) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    async (url) => pingRedis(Number(new URL(url).port)),
    existing,
  );
  return {
    ...svc,
    url: `redis://127.0.0.1:${svc.port}`,
    async restart() {
      await svc.stop();
      return startRedis({ dir: svc.dir, port: svc.port });
    },
  };
}
