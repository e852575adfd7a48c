// Reads an HTTP request body from uWebSockets.js with the limits enforced
// as bytes arrive (Content-Length is only a sizing hint, never trusted) and
// again after decompression. The result is a Buffer that owns its memory,
// so the pipeline can move it to a worker thread without copying.

import { gunzip, inflate } from 'node:zlib';
import { promisify } from 'node:util';
import type { HttpResponse } from 'uWebSockets.js';
import { SentioError } from '../errors.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export interface BodyLimits {
  maxBodyBytes: number;
  maxDecompressedBytes: number;
  /** Largest decompressed/compressed size ratio (decompression bombs). */
  maxCompressionRatio: number;
}

/**
 * Collects the body. Must be called synchronously from the route handler,
 * after res.onAborted was set. Rejects with SENTIO_ERR_BODY_TOO_LARGE as
 * soon as the body passes the limit (the rest is not buffered).
 */
export function readBody(res: HttpResponse, contentLength: string, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A claimed length sizes the first buffer, up to 1 MiB: a client that
    // lies cannot make us reserve more than it actually sends.
    const hinted = Number(contentLength);
    const first = Number.isSafeInteger(hinted) && hinted > 0 ? Math.min(hinted, maxBytes, 1 << 20) : 64 * 1024;
    let buf = Buffer.allocUnsafeSlow(first);
    let length = 0;
    let failed = false;
    res.onData(function onBodyChunk(chunk: ArrayBuffer, isLast: boolean) {
      if (failed) return;
      const bytes = chunk.byteLength;
      if (length + bytes > maxBytes) {
        failed = true;
        reject(new SentioError('SENTIO_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBytes} bytes`));
        return;
      }
      if (length + bytes > buf.byteLength) {
        const grown = Buffer.allocUnsafeSlow(Math.min(maxBytes, Math.max(buf.byteLength * 2, length + bytes)));
        buf.copy(grown, 0, 0, length);
        buf = grown;
      }
      buf.set(new Uint8Array(chunk), length);
      length += bytes;
      if (isLast) {
        // Keep a Buffer that owns its ArrayBuffer (transferable to a worker).
        if (length === buf.byteLength) resolve(buf);
        else {
          const exact = Buffer.allocUnsafeSlow(length);
          buf.copy(exact, 0, 0, length);
          resolve(exact);
        }
      }
    });
  });
}

/** Decodes `Content-Encoding` (gzip, deflate, identity) within the decompressed-size and ratio limits. */
export async function decodeBody(body: Buffer, contentEncoding: string, limits: Omit<BodyLimits, 'maxBodyBytes'>): Promise<Buffer> {
  // Whichever is smaller bounds the output: decompression stops there.
  const byRatio = body.byteLength * limits.maxCompressionRatio;
  const maxDecompressedBytes = Math.min(limits.maxDecompressedBytes, byRatio);
  const enc = contentEncoding.trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  const decode = enc === 'gzip' || enc === 'x-gzip' ? gunzipAsync : enc === 'deflate' ? inflateAsync : undefined;
  if (!decode) throw new SentioError('SENTIO_ERR_BAD_ENCODING', `unsupported Content-Encoding "${contentEncoding}" (gzip, deflate or identity)`);
  try {
    const out = await decode(body, { maxOutputLength: maxDecompressedBytes });
    // zlib returns a slice of a larger pool for small outputs; the pipeline wants an owner.
    if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength) return out;
    const owned = Buffer.allocUnsafeSlow(out.byteLength);
    out.copy(owned);
    return owned;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|maxOutputLength/.test(e.message)) {
      if (byRatio < limits.maxDecompressedBytes) {
        throw new SentioError('SENTIO_ERR_COMPRESSION_RATIO', `body expands beyond ${limits.maxCompressionRatio}× its ${body.byteLength} compressed bytes`);
      }
      throw new SentioError('SENTIO_ERR_DECOMPRESSED_TOO_LARGE', `decompressed body exceeds ${limits.maxDecompressedBytes} bytes`);
    }
    throw new SentioError('SENTIO_ERR_BAD_ENCODING', `corrupt ${enc} body: ${e.message}`);
  }
}
