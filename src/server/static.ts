// Serves the dashboard (web/dist, built by `npm run build:web`) at `/`.
//
// - Files are read once at start and kept in memory (the build is a few
//   hundred kB), so a request costs a Map lookup. Their gzip and brotli
//   copies are made in the background (zlib's thread pool), not on the start
//   path; until a copy is ready that file is sent as it is. The encoding
//   follows Accept-Encoding.
// - Hashed assets (`/assets/*`) are immutable for a year; index.html is
//   revalidated (ETag) so a new build is picked up at once.
// - `/` is index.html. Client-side routes: a browser's navigation (GET, `Accept: text/html`, a
//   path without a file extension that is not an API path) gets index.html.
//   Anything else unknown (a probe such as /ready, curl, a missing file) is
//   a JSON 404 SENTIO_ERR_NOT_FOUND.
// - Headers: a Content-Security-Policy allowing only this origin (and its
//   WebSockets), nosniff, no referrer, no framing.
// - Without a build, `/` answers 404 with a message saying how to build it.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { SentioError } from '../errors.js';
import { send, sendError, watchAbort } from '../http/respond.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.svg', '.webmanifest', '.txt']);

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface Asset {
  type: string;
  etag: string;
  cache: string;
  identity: Buffer;
  gzip?: Buffer;
  br?: Buffer;
}

/** Where `npm run build:web` puts the dashboard, from src/server or dist/server alike. */
export const defaultWebRoot = fileURLToPath(new URL('../../web/dist/', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The files under `root`, or undefined without a build; `compressed` settles once every compressed copy is made. */
export function loadAssets(root: string): { assets: Map<string, Asset>; compressed: Promise<void> } | undefined {
  if (!existsSync(join(root, 'index.html'))) return undefined;
  const assets = new Map<string, Asset>();
  const pending: Array<Promise<unknown>> = [];
  for (const file of walk(root)) {
    if (!statSync(file).isFile()) continue;
    const url = `/${relative(root, file).split(sep).join('/')}`;
    const ext = extname(file);
    const identity = readFileSync(file);
    const asset: Asset = {
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`,
      cache: url.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      identity,
    };
    if (COMPRESSIBLE.has(ext) && identity.byteLength > 512) {
      // A failure only leaves the file uncompressed.
      pending.push(
        gzipAsync(identity, { level: 9 }).then((b) => (asset.gzip = b), () => {}),
        brotliAsync(identity, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: identity.byteLength } }).then((b) => (asset.br = b), () => {}),
      );
    }
    assets.set(url, asset);
  }
  return { assets, compressed: Promise.all(pending).then(() => {}) };
}

/** Paths the dashboard must never shadow with index.html. */
/** The gateway's own paths: never the dashboard (the sources' paths are added by the server). */
const GATEWAY_PATHS = /^\/(api|live|metrics|healthz|readyz)(\/|$)/;

/**
 * Whether an unknown path is a browser navigating to a client-side route
 * (GET, `Accept` naming text/html, no file extension): only that gets
 * index.html. A probe, a script or a mistyped API path gets a JSON 404.
 */
function isNavigation(url: string, accept: string): boolean {
  return extname(url) === '' && /\btext\/html\b/i.test(accept);
}

/** `fallback` answers GETs of API paths no route took (404, or 405 for a known path). */
/**
 * Serves the dashboard on GET. `reserved` paths (besides the gateway's own)
 * belong to other routes: they go to `fallback` (404 or 405), never to the
 * dashboard.
 */
export function registerDashboard(
  app: TemplatedApp,
  root = defaultWebRoot,
  fallback?: (res: HttpResponse, req: HttpRequest) => void,
  reserved: (url: string) => boolean = () => false,
): { served: boolean; compressed: Promise<void> } {
  const loaded = loadAssets(root);
  const assets = loaded?.assets;
  const notDashboard = (url: string): boolean => GATEWAY_PATHS.test(url) || reserved(url);
  app.get('/*', function dashboard(res: HttpResponse, req: HttpRequest) {
    const url = req.getUrl();
    if (notDashboard(url) && fallback) return fallback(res, req);
    const state = watchAbort(res);
    if (notDashboard(url)) return sendError(res, state, new SentioError('SENTIO_ERR_NOT_FOUND', `no route ${url}`));
    if (assets === undefined) {
      return sendError(res, state, new SentioError('SENTIO_ERR_NOT_FOUND', 'the dashboard is not built: run npm run build:web (or npm run build)'));
    }
    const asset = assets.get(url) ?? (url === '/' || isNavigation(url, req.getHeader('accept')) ? assets.get('/index.html') : undefined);
    if (asset === undefined) return sendError(res, state, new SentioError('SENTIO_ERR_NOT_FOUND', `no route or file ${url}`));
    const headers: Record<string, string> = { ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': asset.cache, etag: asset.etag, vary: 'accept-encoding' };
    if (req.getHeader('if-none-match') === asset.etag) return send(res, state, 304, undefined, headers);
    const accept = req.getHeader('accept-encoding');
    let body = asset.identity;
    if (asset.br && /\bbr\b/.test(accept)) {
      body = asset.br;
      headers['content-encoding'] = 'br';
    } else if (asset.gzip && /\bgzip\b/.test(accept)) {
      body = asset.gzip;
      headers['content-encoding'] = 'gzip';
    }
    send(res, state, 200, body, headers);
  });
  return { served: loaded !== undefined, compressed: loaded?.compressed ?? Promise.resolve() };
}
