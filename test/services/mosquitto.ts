// A real Mosquitto broker (Debian's package) for tests: a temp dir, a free
// loopback port, a config written here (anonymous or a password file, TLS
// with a test CA made by openssl), persistence on so that a restart keeps
// sessions and queued messages. Ready once it answers an MQTT CONNECT with
// a CONNACK, spoken here on a plain socket so the probe does not depend on
// the client under test.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, type Service, spawnService } from './index.js';

export interface MosquittoOptions {
  /** Users and passwords (anonymous access is then refused). */
  users?: Record<string, string>;
  /** A TLS listener (mqtts) on `tlsPort` with a fresh test CA; clients need `tls.ca` (and, with `requireCertificate`, a client certificate). */
  tls?: { requireCertificate?: boolean };
}

export interface TestCa {
  /** PEM of the CA certificate. */
  ca: string;
  /** A client certificate and key signed by the CA (PEM). */
  clientCert: string;
  clientKey: string;
}

export interface Mosquitto extends Service {
  /** mqtt://127.0.0.1:<port> */
  mqttUrl: string;
  /** mqtts://localhost:<tlsPort>, with tls. */
  mqttsUrl?: string;
  ca?: TestCa;
  /** Stops the broker and starts it again on the same ports, config and data (sessions and queued messages survive). */
  restart(): Promise<Mosquitto>;
}

/** Sends an MQTT 3.1.1 CONNECT and resolves true on a CONNACK (any return code: it answers). */
export function probeMqtt(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    // CONNECT: protocol "MQTT" level 4, clean session, keepalive 10, client id "probe".
    const id = Buffer.from('probe');
    const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a, 0x00, id.length]);
    const body = Buffer.concat([variable, id]);
    socket.once('connect', () => socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
    socket.once('data', (d: Buffer) => done(d[0] === 0x20));
  });
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, in `dir`. */
function makeCa(dir: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=sentio test CA', '-keyout', 'ca.key', '-out', 'ca.crt']);
  for (const [name, cn, ext] of [
    ['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    ['client', 'sentio-client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  }
}

export async function startMosquitto(o: MosquittoOptions = {}, existing?: { dir: string; port: number; tlsPort?: number }): Promise<Mosquitto> {
  const tlsPort = o.tls ? existing?.tlsPort ?? (await freePort()) : undefined;
  const svc = await spawnService(
    'mosquitto',
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto',
    (dir, port) => {
      const conf = join(dir, 'mosquitto.conf');
      if (existing === undefined) {
        const lines = [
          'per_listener_settings false',
          // Run as root (a CI machine), it would change to the user mosquitto, who cannot read this temp dir.
          ...(process.getuid?.() === 0 ? ['user root'] : []),
          `persistence true`,
          `persistence_location ${dir}/`,
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          // QoS 1 messages are acknowledged once stored: let many be in flight, and queue without a cap while the gateway is away.
          'max_inflight_messages 1000',
          'max_queued_messages 0',
          `listener ${port} 127.0.0.1`,
        ];
        if (o.users) {
          const pw = join(dir, 'passwords');
          writeFileSync(pw, '');
          for (const [u, p] of Object.entries(o.users)) execFileSync('mosquitto_passwd', ['-b', pw, u, p], { stdio: 'pipe' });
          lines.push('allow_anonymous false', `password_file ${pw}`);
        } else lines.push('allow_anonymous true');
        if (tlsPort !== undefined) {
          makeCa(dir);
          lines.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${dir}/ca.crt`, `certfile ${dir}/server.crt`, `keyfile ${dir}/server.key`);
          if (o.tls?.requireCertificate) lines.push('require_certificate true');
        }
        writeFileSync(conf, `${lines.join('\n')}\n`);
      }
      return ['-c', conf];
    },
    async (url) => probeMqtt(Number(new URL(url).port)),
    existing,
  );
  const ca = tlsPort !== undefined ? { ca: readFileSync(join(svc.dir, 'ca.crt'), 'utf8'), clientCert: readFileSync(join(svc.dir, 'client.crt'), 'utf8'), clientKey: readFileSync(join(svc.dir, 'client.key'), 'utf8') } : undefined;
  return {
    ...svc,
    mqttUrl: `mqtt://127.0.0.1:${svc.port}`,
    ...(tlsPort !== undefined ? { mqttsUrl: `mqtts://localhost:${tlsPort}`, ca } : {}),
    async restart() {
      await svc.stop();
      return startMosquitto(o, { dir: svc.dir, port: svc.port, ...(tlsPort !== undefined ? { tlsPort } : {}) });
    },
  };
}
