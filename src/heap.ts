// The V8 heap flag Sentio's entry points start node with (`npm start`, the
// `sentio` bin's shebang, the Docker image, the benchmarks' gateways).
//
// Why: at full ingest rate every request allocates about 450 kB of
// ArrayBuffers (the body chunks, the worker messages, the encoded batches),
// which V8 counts as external memory, while the live JS heap stays at
// 20-30 MB. With node's default sizing the old generation's first limits are
// a few tens of MB, so V8 ran 7-9 full mark-compacts a second and spent 12%
// (VictoriaMetrics alone) to 22% (with the embedded store) of the gateway's
// CPU in GC. A 128 MB initial old space lets the heap grow before marking
// starts: 58 full GCs in 8 s became 16, CPU per sample fell 15-35%
// (bench/RESULTS.md). It is a starting size, not a cap: idle memory does not
// grow, and the heap's maximum is node's default.
//
// V8 reads heap flags when the isolate is created; `v8.setFlagsFromString`
// later has no effect on the sizing, so the flag has to be on node's command
// line (or in NODE_OPTIONS).

export const NODE_HEAP_FLAG = '--initial-old-space-size=128';

const FLAG_NAME = NODE_HEAP_FLAG.slice(0, NODE_HEAP_FLAG.indexOf('='));

/** The initial old-space flag node was started with, on its command line or in NODE_OPTIONS (V8 takes `_` for `-`), if any. */
export function givenHeapFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].find((a) => a.replace(/_/g, '-').split('=')[0] === FLAG_NAME);
}

/** The banner's line about the heap. */
export function heapNote(execArgv: readonly string[], nodeOptions: string | undefined): string {
  const given = givenHeapFlag(execArgv, nodeOptions);
  return given !== undefined
    ? `node heap: ${given}`
    : `node heap: node's default sizing (start node with ${NODE_HEAP_FLAG}, as npm start does, for less CPU in GC at high rates)`;
}
