// A realistic line-protocol corpus for benchmarks and load tests: a fleet
// of devices reporting one `cpu` point each with three float fields and one
// integer field (4 samples a line, ~124 bytes a line), 1,000 lines a body.
//
//   cpu,host=dev-0042,region=eu-west,rack=r17 usage_user=12.5,usage_system=3.25,temp=41.5,uptime=123456i 1712345678901234567
//
// Timestamps are current (nanoseconds, spread over the last minutes, no two
// alike within a series of one body) because VictoriaMetrics drops samples
// outside its retention. Several distinct bodies are made so that no layer
// can serve a repeated request from a cache.

export interface CorpusOptions {
  /** Distinct devices (host tag values). Default 100. */
  devices?: number;
  /** Lines per body. Default 1000. */
  linesPerBody?: number;
  /** Distinct bodies. Default 16. */
  bodies?: number;
  /** Timestamp of the newest point, Unix ms. Default now. */
  nowMs?: number;
  /** Seed of the value generator, for reproducible bodies. Default 42. */
  seed?: number;
}

export interface Corpus {
  /** The request bodies, each one Buffer owning its memory. */
  bodies: Buffer[];
  linesPerBody: number;
  /** Numeric fields (samples) per line: 4. */
  fieldsPerLine: number;
  /** Samples in one body: linesPerBody × fieldsPerLine. */
  samplesPerBody: number;
  /** Mean body size in bytes. */
  meanBodyBytes: number;
  /** Sum of all bodies' sizes. */
  totalBytes: number;
}

const REGIONS = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south', 'ap-northeast'];
export const FIELDS_PER_LINE = 4;

/** Small deterministic PRNG (mulberry32), so runs are comparable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rounds to the given number of decimals and prints without trailing zeros (as Telegraf does). */
function fixed(v: number, decimals: number): string {
  return String(Number(v.toFixed(decimals)));
}

export function deviceTags(device: number): string {
  const host = `dev-${String(device).padStart(4, '0')}`;
  const region = REGIONS[device % REGIONS.length]!;
  const rack = `r${(device * 7) % 40}`;
  return `cpu,host=${host},region=${region},rack=${rack}`;
}

/** One line (without the newline) of `device` at `tsNs` (a decimal string of nanoseconds). */
export function corpusLine(device: number, tsNs: string, rnd: () => number): string {
  const user = fixed(rnd() * 100, 2);
  const system = fixed(rnd() * 25, 2);
  const temp = fixed(30 + rnd() * 50, 1);
  const uptime = 100_000 + Math.floor(rnd() * 9_000_000);
  return `${deviceTags(device)} usage_user=${user},usage_system=${system},temp=${temp},uptime=${uptime}i ${tsNs}`;
}

/** Concatenated bodies until at least `lines` lines (whole bodies, then a cut at a line end). */
export function batchOfLines(corpus: Corpus, lines: number): Buffer {
  const parts: Buffer[] = [];
  let have = 0;
  for (let i = 0; have < lines; i++) {
    const body = corpus.bodies[i % corpus.bodies.length]!;
    const need = lines - have;
    if (need >= corpus.linesPerBody) {
      parts.push(body);
      have += corpus.linesPerBody;
    } else {
      let end = 0;
      for (let n = 0; n < need; n++) end = body.indexOf(0x0a, end) + 1;
      parts.push(body.subarray(0, end));
      have += need;
    }
  }
  return Buffer.concat(parts);
}

export function makeCorpus(opts: CorpusOptions = {}): Corpus {
  const devices = opts.devices ?? 100;
  const linesPerBody = opts.linesPerBody ?? 1000;
  const nBodies = opts.bodies ?? 16;
  const nowMs = opts.nowMs ?? Date.now();
  const rnd = prng(opts.seed ?? 42);
  const pointsPerDevice = Math.ceil(linesPerBody / devices);
  const bodies: Buffer[] = [];
  let totalBytes = 0;
  for (let b = 0; b < nBodies; b++) {
    const lines: string[] = [];
    for (let i = 0; i < linesPerBody; i++) {
      const device = i % devices;
      // One second apart per point of a device; bodies cover consecutive
      // windows going back in time, so every (series, timestamp) pair is
      // distinct across the corpus. Sub-millisecond jitter keeps the
      // nanosecond digits realistic.
      const step = b * pointsPerDevice + Math.floor(i / devices);
      const ms = nowMs - step * 1000 - (device % 997);
      const tsNs = `${ms}${String(Math.floor(rnd() * 1e6)).padStart(6, '0')}`;
      lines.push(corpusLine(device, tsNs, rnd));
    }
    const body = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    // Own the memory (Buffer.from may slice a shared pool for small bodies).
    const owned = Buffer.allocUnsafeSlow(body.byteLength);
    body.copy(owned);
    bodies.push(owned);
    totalBytes += owned.byteLength;
  }
  return {
    bodies,
    linesPerBody,
    fieldsPerLine: FIELDS_PER_LINE,
    samplesPerBody: linesPerBody * FIELDS_PER_LINE,
    meanBodyBytes: totalBytes / nBodies,
    totalBytes,
  };
}

/** A copy of `buf` in memory of its own (transferable to a worker, as the server's body reader makes). */
export function ownedCopy(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(out);
  return out;
}
