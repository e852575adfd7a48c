// The WebSocket ingest protocol's framing (docs/protocol.md): a frame's
// sequence number, the client id of `?client=`, and the JSON replies.
// Text frames carry line protocol whose first line may be `# seq=<n>`;
// binary frames carry one msgpack batch whose `seq` key is its sequence,
// peeked by the native core without decoding the batch.

import { native } from '../../native/index.js';
import type { LineError } from '../../native/types.js';

export interface AckReply {
  type: 'ack';
  seq: number;
  lines: number;
  accepted: number;
  rejected: number;
  skipped: number;
  errors: LineError[];
}

export interface ErrorReply {
  type: 'error';
  seq: number;
  code: string;
  message: string;
  retryAfterMs?: number;
}

export type Reply = AckReply | ErrorReply;

/** uWS's own frame limit: twice --max-frame-bytes (frames between are refused with a reply), capped at 2 GiB. */
export function frameHardCap(maxFrameBytes: number): number {
  return Math.min(2 * maxFrameBytes, 2 ** 31 - 1);
}

const SEQ_LINE = /^#\s*seq=(\d{1,15})\s*$/;
/** `?client=`: 1 to 128 of A-Z a-z 0-9 . _ : - */
export const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The `# seq=<n>` first line of a text frame, if it has one. */
export function textFrameSeq(frame: Buffer): number | undefined {
  if (frame[0] !== 0x23 /* # */) return undefined;
  let end = frame.indexOf(0x0a);
  if (end < 0) end = frame.byteLength;
  const m = SEQ_LINE.exec(frame.toString('latin1', 0, Math.min(end, 64)).replace(/\r$/, ''));
  return m ? Number(m[1]) : undefined;
}

/**
 * The `seq` of a msgpack batch, read without decoding the batch (the core's
 * msgpack::peek_seq): the first top-level `seq` key's value when it is an
 * integer in 0..2^53-1; undefined when there is none, or the frame is not a
 * map with string keys up to it. Cheap when `seq` comes first; it never reads
 * past the frame. A batch with a second `seq` key is refused when parsed, so
 * for every batch that is stored this is its seq.
 */
export function msgpackFrameSeq(frame: Buffer): number | undefined {
  return native.msgpackSeq(frame) ?? undefined;
}
