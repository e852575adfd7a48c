// Piscina worker: runs the native parse + map + encode on a buffer moved
// (not copied) from the main thread, and moves the result back: the core's
// buffers are external memory, which postMessage would clone (a copy, and a
// deserialisation, on the main thread), so they are packed here into one
// ArrayBuffer per sink's output (and one for the rest), which are transferred. The main thread gets
// views into it (./index.ts, revive).

import { move, transferableSymbol, valueSymbol } from 'piscina';
import { native } from '../native/index.js';
import type { IngestOptions, IngestResult } from '../native/types.js';

export interface WorkerTask {
  input: Uint8Array;
  options: IngestOptions;
}

type Slot = { get: () => Uint8Array | undefined; set: (u: Uint8Array) => void };

/**
 * The result's buffers in groups, each packed into an arena of its own: one
 * per output (a queue may keep a sink's payloads long after the other sinks
 * are done with theirs, and a view keeps its whole arena alive), one for the
 * rest.
 */
function groupsOf(r: IngestResult): Slot[][] {
  const groups = r.outputs.map((o) => {
    const slots: Slot[] = [];
    o.shards?.forEach((_, i) => slots.push({ get: () => o.shards![i], set: (u) => (o.shards![i] = u as Buffer) }));
    for (const k of ['seriesIds', 'timestamps', 'values', 'distinctIds', 'seriesDefs', 'seriesDefOffsets'] as const) {
      if (o[k] !== undefined) slots.push({ get: () => o[k], set: (u) => (o[k] = u as Buffer) });
    }
    return slots;
  });
  const rest: Slot[] = [];
  if (r.seriesHashes !== undefined) rest.push({ get: () => r.seriesHashes, set: (u) => (r.seriesHashes = u as Buffer) });
  if (r.latest !== undefined) rest.push({ get: () => r.latest, set: (u) => (r.latest = u) });
  return [...groups, rest];
}

/** Copies the result's buffers into transferable ArrayBuffers and points the result at views of them. */
export function pack(r: IngestResult): { result: IngestResult; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  for (const slots of groupsOf(r)) {
    let total = 0;
    for (const s of slots) total += s.get()!.byteLength;
    if (total === 0) continue;
    const arena = new ArrayBuffer(total);
    let at = 0;
    for (const s of slots) {
      const b = s.get()!;
      const view = new Uint8Array(arena, at, b.byteLength);
      view.set(b);
      s.set(view);
      at += b.byteLength;
    }
    transfer.push(arena);
  }
  return { result: r, transfer };
}

export default function ingestTask({ input, options }: WorkerTask): unknown {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const { result, transfer } = pack(native.ingest(buf, options));
  if (transfer.length === 0) return result;
  return move({
    get [transferableSymbol]() {
      return transfer;
    },
    get [valueSymbol]() {
      return result;
    },
  });
}
