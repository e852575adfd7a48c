// Loads the napi addon (native/napi, built by `npm run build:native`) and
// gives it the types of ./types.ts. The generated loader is build output.

import { createRequire } from 'node:module';
import type { NativeBinding } from './types.js';

export type * from './types.js';
export { PART } from './types.js';

const require = createRequire(import.meta.url);

function load(): NativeBinding {
  try {
    // Same relative path from src/native and dist/native.
    return require('../../native/napi/index.cjs') as NativeBinding;
  } catch (err) {
    throw new Error(
      `the native addon is not built or failed to load (run "npm run build:native"): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export const native: NativeBinding = load();

const encoded = new WeakMap<Readonly<Record<string, string>>, string>();

/**
 * A label set as IngestOptions.labels and Readings.seriesText want it:
 * `name NUL value NUL ...`. Cached per object, so a device's labels (one
 * object per token lookup, reused for every batch) and a connector's series
 * (one object per series, reused) are encoded once. Pairs holding a NUL or
 * a U+0001 (seriesText's separator) are left out (the API refuses control
 * characters in labels).
 */
export function encodeLabels(labels: Readonly<Record<string, string>>): string {
  let text = encoded.get(labels);
  if (text === undefined) {
    text = Object.entries(labels)
      .filter(([k, v]) => !/[\0\u0001]/.test(k) && !/[\0\u0001]/.test(v))
      .map(([k, v]) => `${k}\0${v}`)
      .join('\0');
    encoded.set(labels, text);
  }
  return text;
}
