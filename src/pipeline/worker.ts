// Piscina worker: runs the native parse + map + encode on a buffer moved
// (not copied) from the main thread.

import { native } from '../native/index.js';
import type { IngestOptions, IngestResult } from '../native/types.js';

export interface WorkerTask {
  input: Uint8Array;
  options: IngestOptions;
}

export default function ingestTask({ input, options }: WorkerTask): IngestResult {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return native.ingest(buf, options);
}
