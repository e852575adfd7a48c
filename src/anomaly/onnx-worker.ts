// Piscina worker of the ONNX models (./onnx.ts): onnxruntime-node runs here,
// never on the main thread, so neither its start-up (~100 ms and ~30 MB to
// load the runtime) nor an inference holds up ingest.
//
// - A model's bytes come in a SharedArrayBuffer (no copy per task); its
//   session is made on the first task that names its key, and kept (the 16
//   most recently used per worker; older ones are released).
// - `check` loads a model and proves it usable: one float32 input of rank 2
//   whose last dimension is the declared width (or symbolic), the output it
//   names (or its only output) giving one value per row of a probe batch.
//   Its errors say which of these failed.
// - `run` scores one batch: `n` rows of `width` float32 values, row-major.
//   Sessions use one thread each: the pool's size is the parallelism.

import * as ort from 'onnxruntime-node';

export interface OnnxSource {
  /** Identifies the model's bytes (their sha256): sessions are cached by it. */
  key: string;
  bytes: SharedArrayBuffer;
  /** Input features per row. */
  width: number;
  /** The output to read; default the model's only output. */
  output?: string | undefined;
}

export type OnnxTask = ({ op: 'check' } & OnnxSource) | ({ op: 'run'; input: Float32Array; n: number } & OnnxSource);

export interface OnnxCheck {
  input: string;
  output: string;
  inputShape: Array<number | string>;
  outputShape: Array<number | string>;
}

interface Loaded {
  session: ort.InferenceSession;
  input: string;
  output: string;
  check: OnnxCheck;
}

const MAX_SESSIONS = 16;
const sessions = new Map<string, Promise<Loaded>>();

function dims(shape: ReadonlyArray<number | string> | undefined): Array<number | string> {
  return shape ? [...shape] : [];
}

async function load(src: OnnxSource): Promise<Loaded> {
  let session: ort.InferenceSession;
  try {
    // onnxruntime takes an ArrayBuffer's bytes, not a SharedArrayBuffer's: copied once per session.
    session = await ort.InferenceSession.create(new Uint8Array(src.bytes).slice(), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
  } catch (err) {
    throw new Error(`not a model onnxruntime can load: ${(err as Error).message}`);
  }
  try {
    if (session.inputNames.length !== 1) throw new Error(`the model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); one [N, ${src.width}] float32 input is expected`);
    const input = session.inputNames[0]!;
    const im = session.inputMetadata[0];
    if (im && im.isTensor) {
      if (im.type !== 'float32') throw new Error(`input ${input} is ${im.type}; float32 is expected`);
      const shape = dims(im.shape);
      if (shape.length !== 2) throw new Error(`input ${input} has shape [${shape.join(', ')}]; [N, ${src.width}] is expected`);
      if (typeof shape[1] === 'number' && shape[1] !== src.width) throw new Error(`input ${input} takes ${shape[1]} features per row, but ${src.width} inputs are declared`);
      if (typeof shape[0] === 'number' && shape[0] !== -1) throw new Error(`input ${input} has a fixed batch size ${shape[0]}; a free first dimension is expected`);
    }
    let output = src.output;
    if (output === undefined) {
      if (session.outputNames.length !== 1) throw new Error(`the model has ${session.outputNames.length} outputs (${session.outputNames.join(', ')}); name the one that gives the score`);
      output = session.outputNames[0]!;
    } else if (!session.outputNames.includes(output)) throw new Error(`the model has no output ${output} (outputs: ${session.outputNames.join(', ')})`);
    const om = session.outputMetadata[session.outputNames.indexOf(output)];
    // A probe batch of 2 rows: one value per row, as numbers.
    const probe = await session.run({ [input]: new ort.Tensor('float32', new Float32Array(2 * src.width), [2, src.width]) }, [output]);
    const t = probe[output]!;
    if (t.type !== 'float32' && t.type !== 'float64') throw new Error(`output ${output} is ${t.type}; a float tensor is expected`);
    if (t.size !== 2) throw new Error(`output ${output} gives ${t.size} values for 2 rows (shape [${t.dims.join(', ')}]); one value per row is expected`);
    const check: OnnxCheck = { input, output, inputShape: dims(im?.isTensor ? im.shape : undefined), outputShape: dims(om?.isTensor ? om.shape : undefined) };
    return { session, input, output, check };
  } catch (err) {
    await session.release();
    throw err;
  }
}

function loaded(src: OnnxSource): Promise<Loaded> {
  const key = `${src.key}\0${src.width}\0${src.output ?? ''}`;
  let l = sessions.get(key);
  if (l !== undefined) {
    sessions.delete(key);
    sessions.set(key, l); // most recently used last
    return l;
  }
  l = load(src);
  sessions.set(key, l);
  l.catch(() => sessions.delete(key));
  while (sessions.size > MAX_SESSIONS) {
    const [oldest, s] = sessions.entries().next().value as [string, Promise<Loaded>];
    sessions.delete(oldest);
    void s.then((x) => x.session.release(), () => undefined);
  }
  return l;
}

export default async function onnxTask(task: OnnxTask): Promise<OnnxCheck | Float32Array> {
  const l = await loaded(task);
  if (task.op === 'check') return l.check;
  const out = await l.session.run({ [l.input]: new ort.Tensor('float32', task.input, [task.n, task.width]) }, [l.output]);
  const t = out[l.output]!;
  if (t.size !== task.n) throw new Error(`output ${l.output} gave ${t.size} values for ${task.n} rows`);
  const data = t.data as Float32Array | Float64Array;
  return data instanceof Float32Array ? data : Float32Array.from(data);
}
