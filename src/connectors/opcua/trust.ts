// The server certificates Sentio's OPC-UA PKI (./pki.ts) knows, and their
// trust: what the API shows and changes (list, trust, untrust), by
// thumbprint. A certificate a server presented and Sentio did not trust is
// in rejected/ (node-opcua puts it there); trusting it moves its file to
// trusted/certs, untrusting moves it back. Connections read the folders
// again each time (./session.ts), so a change applies at the next one.
//
// The PKI is the gateway's, shared by its OPC-UA connectors: trusting a
// server's certificate trusts it for every connector that talks to it.

import { X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SentioError } from '../../errors.js';
import { ownCertificateFile, pkiDir, thumbprint } from './pki.js';

export type TrustState = 'trusted' | 'rejected';

export interface CertificateView {
  /** SHA-1 of the DER, lower-case hex: how OPC-UA tools and the error messages name it. */
  thumbprint: string;
  subject: string;
  /** The application URI it was issued to, when it names one. */
  applicationUri: string | undefined;
  notBefore: string;
  notAfter: string;
  state: TrustState;
}

function folder(dataDir: string, state: TrustState): string {
  return state === 'trusted' ? join(pkiDir(dataDir), 'trusted', 'certs') : join(pkiDir(dataDir), 'rejected');
}

const THUMBPRINT = /^[0-9a-f]{40}$/;

async function parse(file: string): Promise<X509Certificate | undefined> {
  try {
    return new X509Certificate(await readFile(file));
  } catch {
    // Not a certificate (a lock file, a CRL): not listed.
    return undefined;
  }
}

function view(cert: X509Certificate, state: TrustState): CertificateView {
  const uri = /URI:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  return {
    thumbprint: thumbprint(cert.raw),
    subject: cert.subject.replace(/\n/g, ', '),
    applicationUri: uri,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    state,
  };
}

async function entries(dataDir: string, state: TrustState): Promise<Array<{ file: string; cert: X509Certificate }>> {
  const dir = folder(dataDir, state);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: Array<{ file: string; cert: X509Certificate }> = [];
  for (const name of names.sort()) {
    const cert = await parse(join(dir, name));
    if (cert !== undefined) out.push({ file: join(dir, name), cert });
  }
  return out;
}

/** Every server certificate seen: trusted, and rejected (presented by a server, not trusted). */
export async function listCertificates(dataDir: string): Promise<CertificateView[]> {
  const [trusted, rejected] = await Promise.all([entries(dataDir, 'trusted'), entries(dataDir, 'rejected')]);
  return [...trusted.map((e) => view(e.cert, 'trusted')), ...rejected.map((e) => view(e.cert, 'rejected'))];
}

/** Moves the certificate of `thumbprint` to `to`; throws SENTIO_ERR_NOT_FOUND when no certificate of the other state has it. */
async function move(dataDir: string, thumbprintHex: string, to: TrustState): Promise<CertificateView> {
  const tp = thumbprintHex.toLowerCase().replace(/:/g, '');
  if (!THUMBPRINT.test(tp)) throw new SentioError('SENTIO_ERR_VALIDATION', `${JSON.stringify(thumbprintHex)} is not a certificate thumbprint: 40 hex digits (the SHA-1 of the certificate, as GET /api/opcua/certificates lists them)`);
  const from: TrustState = to === 'trusted' ? 'rejected' : 'trusted';
  const already = (await entries(dataDir, to)).find((e) => thumbprint(e.cert.raw) === tp);
  const found = (await entries(dataDir, from)).find((e) => thumbprint(e.cert.raw) === tp);
  if (found === undefined) {
    if (already !== undefined) return view(already.cert, to);
    throw new SentioError('SENTIO_ERR_NOT_FOUND', `no ${from} certificate with thumbprint ${tp}: a server's certificate is listed once a connector has connected to it`);
  }
  await mkdir(folder(dataDir, to), { recursive: true });
  await rename(found.file, join(folder(dataDir, to), `${tp}.pem`));
  return view(found.cert, to);
}

/** Trusts the server certificate of `thumbprint` (seen and rejected): connections to its server succeed from the next attempt. */
export function trustCertificate(dataDir: string, thumbprintHex: string): Promise<CertificateView> {
  return move(dataDir, thumbprintHex, 'trusted');
}

/** Takes the trust of a server certificate back: connections to its server are refused from the next one. */
export function untrustCertificate(dataDir: string, thumbprintHex: string): Promise<CertificateView> {
  return move(dataDir, thumbprintHex, 'rejected');
}

/** Sentio's own certificate (PEM), to be trusted by the servers; undefined until the first OPC-UA connection made it. */
export async function ownCertificate(dataDir: string): Promise<{ thumbprint: string; pem: string } | undefined> {
  const cert = await parse(ownCertificateFile(dataDir));
  return cert === undefined ? undefined : { thumbprint: thumbprint(cert.raw), pem: cert.toString() };
}
