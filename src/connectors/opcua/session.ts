// Opens one OPC-UA session with a connector's settings: the client, its
// secure channel and the session, anonymous or with a user name. Used by the
// connector (a session per connection) and by browse (a short one).
//
// - node-opcua's own reconnection is off (maxRetry 0): a lost connection is
//   an event here, and the connector makes a new session with its own
//   backoff (node-opcua's reconnect and republish are known to stay silent
//   after a server restart: node-opcua#1059, telegraf#15074).
// - With Sign or SignAndEncrypt, the server's endpoints are read first (on
//   an unsecured discovery channel, as every OPC-UA client does) and its
//   certificate checked against Sentio's PKI (./pki.ts) here, so that a
//   certificate not trusted fails with its thumbprint and what to do
//   (CertificateProblem), rather than node-opcua's bare status code.
// - A server refusing Sentio's certificate fails the same way, naming
//   Sentio's certificate and where it is.

import { type ClientSession, MessageSecurityMode, OPCUAClient, type OPCUAClientOptions, SecurityPolicy, type UserIdentityInfo, UserTokenType } from 'node-opcua';
import type { OpcuaConfig, SecurityModeName, SecurityPolicyName } from './config.js';
import { APPLICATION_NAME, applicationUri, certificateManager, ownCertificateFile, pkiDir, thumbprint } from './pki.js';

const CONNECT_TIMEOUT_MS = 10_000;
const SESSION_TIMEOUT_MS = 60_000;

/** A certificate trust problem: retrying does not fix it, trusting a certificate does. */
export class CertificateProblem extends Error {
  override readonly name = 'CertificateProblem';
}

export interface Opened {
  client: OPCUAClient;
  session: ClientSession;
  /** Closes the session and the connection; never throws, bounded. */
  close(): Promise<void>;
}

const MODES: Record<SecurityModeName, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};

const POLICIES: Record<SecurityPolicyName, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
  Aes256_Sha256_RsaPss: SecurityPolicy.Aes256_Sha256_RsaPss,
};

async function clientOptions(dataDir: string, securityMode: MessageSecurityMode, securityPolicy: SecurityPolicy): Promise<OPCUAClientOptions> {
  return {
    applicationName: APPLICATION_NAME,
    applicationUri: applicationUri(),
    clientCertificateManager: await certificateManager(dataDir),
    certificateFile: ownCertificateFile(dataDir),
    privateKeyFile: `${pkiDir(dataDir)}/own/private/private_key.pem`,
    securityMode,
    securityPolicy,
    endpointMustExist: false,
    keepSessionAlive: false,
    requestedSessionTimeout: SESSION_TIMEOUT_MS,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
    transportTimeout: CONNECT_TIMEOUT_MS,
  };
}

/** Runs `p`, failing with `what` after `ms`. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The server certificate of the endpoint matching the security wanted, read on a discovery channel, and checked against the PKI. */
async function trustedServerCertificate(cfg: OpcuaConfig, dataDir: string, mode: MessageSecurityMode, policy: SecurityPolicy): Promise<Buffer> {
  const discovery = OPCUAClient.create(await clientOptions(dataDir, MessageSecurityMode.None, SecurityPolicy.None));
  let endpoints;
  try {
    await within(CONNECT_TIMEOUT_MS, `connect to ${cfg.endpoint}`, discovery.connect(cfg.endpoint));
    endpoints = await within(CONNECT_TIMEOUT_MS, 'GetEndpoints', discovery.getEndpoints());
  } finally {
    await discovery.disconnect().catch(() => undefined);
  }
  const endpoint = endpoints.find((e) => e.securityMode === mode && e.securityPolicyUri === policy);
  if (endpoint === undefined) {
    const offered = [...new Set(endpoints.map((e) => `${MessageSecurityMode[e.securityMode]}/${(e.securityPolicyUri ?? '').split('#')[1] ?? e.securityPolicyUri}`))].join(', ');
    throw new CertificateProblem(`the server offers no endpoint with securityMode ${MessageSecurityMode[mode]} and securityPolicy ${policy.split('#')[1]}; it offers ${offered || 'none'}`);
  }
  const cert = endpoint.serverCertificate;
  if (cert === null || cert.length === 0) throw new CertificateProblem('the server sent no certificate with its secure endpoint');
  const cm = await certificateManager(dataDir);
  try {
    const status = await cm.checkCertificate(cert);
    if (status.isNotGood()) {
      const tp = thumbprint(firstCertificate(cert));
      throw new CertificateProblem(
        `the server's certificate (thumbprint ${tp}) is not trusted (${status.name}): trust it (POST /api/opcua/certificates/${tp}/trust, or move its file from ${pkiDir(dataDir)}/rejected to ${pkiDir(dataDir)}/trusted/certs); the connector tries again within a minute`,
      );
    }
  } finally {
    await cm.dispose();
  }
  return cert;
}

/** The first certificate of a DER chain (a sequence: 0x30, then its length). */
export function firstCertificate(chain: Buffer): Buffer {
  if (chain.length < 4 || chain[0] !== 0x30) return chain;
  const b1 = chain[1]!;
  if (b1 < 0x80) return chain.subarray(0, 2 + b1);
  const n = b1 & 0x7f;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + chain[2 + i]!;
  return chain.subarray(0, Math.min(chain.length, 2 + n + len));
}

/** The message of a failure to open a secure channel, with what to do when the server refused Sentio's certificate. */
function connectProblem(err: Error, dataDir: string, secure: boolean): Error {
  if (secure && /BadSecurityChecksFailed|BadCertificate|certificate/i.test(err.message)) {
    return new CertificateProblem(`the server refused the secure channel (${err.message.split('\n')[0]}): it probably does not trust Sentio's certificate ${ownCertificateFile(dataDir)}: add it to the server's trusted certificates`);
  }
  return err;
}

function identity(cfg: OpcuaConfig): UserIdentityInfo {
  if (cfg.username === undefined) return { type: UserTokenType.Anonymous };
  return { type: UserTokenType.UserName, userName: cfg.username, password: cfg.password ?? '' };
}

/** A client connected to `cfg.endpoint` with its security, and a session on it. */
export async function openSession(cfg: OpcuaConfig, dataDir: string): Promise<Opened> {
  const mode = MODES[cfg.securityMode ?? 'None'];
  const policy = POLICIES[cfg.securityPolicy ?? 'None'];
  const secure = mode !== MessageSecurityMode.None;
  const serverCertificate = secure ? await trustedServerCertificate(cfg, dataDir, mode, policy) : undefined;
  const client = OPCUAClient.create({ ...(await clientOptions(dataDir, mode, policy)), ...(serverCertificate !== undefined ? { serverCertificate } : {}) });
  const close = async (): Promise<void> => {
    await within(5000, 'disconnect', client.disconnect()).catch(() => undefined);
  };
  try {
    await within(CONNECT_TIMEOUT_MS, `connect to ${cfg.endpoint}`, client.connect(cfg.endpoint)).catch((err: Error) => {
      throw connectProblem(err, dataDir, secure);
    });
    const session = await within(CONNECT_TIMEOUT_MS, 'CreateSession', client.createSession(identity(cfg)));
    return {
      client,
      session,
      async close() {
        await within(5000, 'CloseSession', session.close(true)).catch(() => undefined);
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
