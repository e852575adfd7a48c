// Loads the napi addon (native/napi, built by `npm run build:native`) and
// gives it the types of ./types.ts. The generated loader is build output.

import { createRequire } from 'node:module';
import type { NativeBinding } from './types.js';

export type * from './types.js';

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
