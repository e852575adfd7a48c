// Reads an HTTP request body from uWebSockets.js with the limits enforced
// as bytes arrive (Content-Length is only a sizing hint, never trusted) and
// again while it is decompressed (streaming: inflation stops at the limit).
// Every buffer is taken from the request's share of the memory budget
// (./budget.ts) before it is allocated. The result is a Buffer that owns its
// memory, so the pipeline can move it to a worker thread without copying.

import { createGunzip, createInflate } from 'node:zlib';
import type { HttpResponse } from 'uWebSockets.js';
import { SentioError } from '../errors.js';
import { type BudgetHold, unbounded } from './budget.js';
import type { RequestState } from './respond.js';

export interface BodyLimits {
  maxBodyBytes: number;
  maxDecompressedBytes: number;
  /** Largest decompressed/compressed size ratio (decompression bombs). */
  maxCompressionRatio: number;
}

/**
 * Collects the body. Must be called synchronously from the route handler,
 * after res.onAborted was set. Rejects with SENTIO_ERR_BODY_TOO_LARGE as
 * soon as the body passes the limit (the rest is not buffered), and with
 * SENTIO_ERR_OVERLOADED when `hold`'s budget cannot cover the next buffer.
 * The bytes of the buffer stay on `hold` until the caller releases it.
 */
export function readBody(res: HttpResponse, contentLength: string, maxBytes: number, hold: BudgetHold = unbounded.hold(), state?: RequestState): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A claimed length sizes the first buffer, up to 1 MiB: a client that
    // lies cannot make us reserve more than it actually sends.
    const hinted = Number(contentLength);
    const first = Number.isSafeInteger(hinted) && hinted > 0 ? Math.min(hinted, maxBytes, 1 << 20) : 64 * 1024;
    let buf: Buffer | undefined;
    let length = 0;
    let settled = false;
    const fail = (err: SentioError): void => {
      if (settled) return;
      settled = true;
      buf = undefined;
      reject(err);
    };
    // A client that goes away mid-body sends no more chunks: stop waiting, so what it holds is given back.
    if (state) state.onAbort = () => fail(new SentioError('SENTIO_ERR_BAD_REQUEST', 'the client closed the connection before the body was complete'));
    /** A buffer of `size` bytes taken from the budget; the one it replaces is given back by the caller. */
    const allocate = (size: number): Buffer => {
      hold.take(size);
      return Buffer.allocUnsafeSlow(size);
    };
    res.onData(function onBodyChunk(chunk: ArrayBuffer, isLast: boolean) {
      if (settled) return;
      const bytes = chunk.byteLength;
      if (length + bytes > maxBytes) return fail(new SentioError('SENTIO_ERR_BODY_TOO_LARGE', `request body exceeds ${maxBytes} bytes`));
      try {
        buf ??= allocate(first);
        if (length + bytes > buf.byteLength) {
          const grown = allocate(Math.min(maxBytes, Math.max(buf.byteLength * 2, length + bytes)));
          buf.copy(grown, 0, 0, length);
          hold.give(buf.byteLength);
          buf = grown;
        }
      } catch (err) {
        return fail(err as SentioError);
      }
      buf.set(new Uint8Array(chunk), length);
      length += bytes;
      if (isLast) {
        // Keep a Buffer that owns its ArrayBuffer (transferable to a worker), of the exact length.
        settled = true; // a late abort changes nothing
        if (length === buf.byteLength) return resolve(buf);
        const exact = Buffer.allocUnsafeSlow(length);
        buf.copy(exact, 0, 0, length);
        hold.give(buf.byteLength - length);
        resolve(exact);
      }
    });
  });
}

/** Size of the pieces zlib inflates into: each is taken from the budget before zlib fills the next. */
const INFLATE_CHUNK_BYTES = 64 * 1024;

/**
 * Decodes `Content-Encoding` (gzip, deflate, identity) within the
 * decompressed-size and ratio limits, inflating piece by piece: each piece
 * is taken from `hold`'s budget as zlib produces it, and inflation stops at
 * the first limit (size, ratio, budget) it passes. The result owns its
 * memory; what `hold` keeps for it is the decoded size (the compressed body
 * and the pieces are given back). A request holds at most its compressed
 * size plus its decoded size while inflating, and twice its decoded size
 * while the pieces are joined.
 */
export async function decodeBody(body: Buffer, contentEncoding: string, limits: Omit<BodyLimits, 'maxBodyBytes'>, hold: BudgetHold = unbounded.hold()): Promise<Buffer> {
  const enc = contentEncoding.trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  const kind = enc === 'gzip' || enc === 'x-gzip' ? 'gzip' : enc === 'deflate' ? 'deflate' : undefined;
  if (kind === undefined) throw new SentioError('SENTIO_ERR_BAD_ENCODING', `unsupported Content-Encoding "${contentEncoding}" (gzip, deflate or identity)`);
  if (body.byteLength === 0) throw new SentioError('SENTIO_ERR_BAD_ENCODING', `empty body with Content-Encoding ${enc}: not a ${kind} stream`);
  // Whichever is smaller bounds the output: inflation stops there.
  const byRatio = body.byteLength * limits.maxCompressionRatio;
  const maxOut = Math.min(limits.maxDecompressedBytes, byRatio);
  const tooLarge = (): SentioError =>
    byRatio < limits.maxDecompressedBytes
      ? new SentioError('SENTIO_ERR_COMPRESSION_RATIO', `body expands beyond ${limits.maxCompressionRatio}× its ${body.byteLength} compressed bytes`)
      : new SentioError('SENTIO_ERR_DECOMPRESSED_TOO_LARGE', `decompressed body exceeds ${limits.maxDecompressedBytes} bytes`);

  const pieces: Buffer[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    const z = kind === 'gzip' ? createGunzip({ chunkSize: INFLATE_CHUNK_BYTES }) : createInflate({ chunkSize: INFLATE_CHUNK_BYTES });
    let done = false;
    const stop = (err: SentioError | undefined): void => {
      if (done) return;
      done = true;
      if (err) {
        z.destroy();
        reject(err);
      } else resolve();
    };
    z.on('data', (piece: Buffer) => {
      if (done) return;
      total += piece.byteLength;
      if (total > maxOut) return stop(tooLarge());
      try {
        hold.take(piece.byteLength);
      } catch (err) {
        return stop(err as SentioError);
      }
      pieces.push(piece);
    });
    z.on('end', () => stop(undefined));
    z.on('error', (err: Error) => stop(new SentioError('SENTIO_ERR_BAD_ENCODING', `corrupt ${enc} body: ${err.message}`)));
    z.end(body);
  }).catch((err: unknown) => {
    hold.give(pieces.reduce((n, p) => n + p.byteLength, 0));
    pieces.length = 0;
    throw err;
  });
  // The compressed body is garbage from here. One buffer that owns its
  // memory (the pipeline may move it to a worker) is taken before the
  // pieces are given back: at most twice the decoded size is held here.
  hold.give(body.byteLength);
  try {
    hold.take(total);
  } catch (err) {
    hold.give(total);
    throw err;
  }
  const owned = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const p of pieces) {
    p.copy(owned, at);
    at += p.byteLength;
  }
  pieces.length = 0;
  hold.give(total);
  return owned;
}
