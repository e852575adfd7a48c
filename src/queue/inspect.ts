// `sentio queue inspect|verify --data-dir DIR`: what each durable queue
// holds (batches and samples waiting, bytes on disk, age of the oldest
// batch) and any damage, read without changing anything. `verify` exits 1
// when a queue has damage. Safe to run while Sentio runs (it only reads),
// though the figures may then be a moment old.

import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type QueueFs, nodeQueueFs } from './files.js';
import { readShard } from './segments.js';

export interface ShardReport {
  sink: string;
  shard: string;
  segments: number;
  bytes: number;
  batches: number;
  samples: number;
  oldestMs: number | undefined;
  damage: Array<{ file: string; offset: number; length: number; reason: string }>;
}

/** Reads every queue under `<dataDir>/queue/<sink>/<shard>/`. */
export async function inspectQueues(dataDir: string, fs: QueueFs = nodeQueueFs): Promise<ShardReport[]> {
  const root = join(dataDir, 'queue');
  const out: ShardReport[] = [];
  for (const sink of (await fs.list(root)).sort()) {
    for (const shard of (await fs.list(join(root, sink))).filter((n) => n.startsWith('shard-')).sort()) {
      const found = await readShard(fs, join(root, sink, shard));
      const r: ShardReport = { sink, shard, segments: found.segments.length, bytes: 0, batches: 0, samples: 0, oldestMs: undefined, damage: [] };
      for (const s of found.segments) {
        r.bytes += s.size;
        for (const rec of s.records) {
          r.batches++;
          r.samples += rec.samples;
          r.oldestMs = r.oldestMs === undefined ? rec.enqueuedMs : Math.min(r.oldestMs, rec.enqueuedMs);
        }
        for (const d of s.damage) r.damage.push({ file: s.path, ...d });
      }
      out.push(r);
    }
  }
  return out;
}

function age(ms: number | undefined, now: number): string {
  if (ms === undefined) return '-';
  const s = Math.max(0, (now - ms) / 1000);
  return s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
}

export function formatReport(reports: ShardReport[], now = Date.now()): string {
  if (reports.length === 0) return 'no queues\n';
  const rows = [['sink', 'shard', 'segments', 'bytes', 'batches', 'samples', 'oldest', 'damage']];
  for (const r of reports) {
    const damaged = r.damage.reduce((n, d) => n + d.length, 0);
    rows.push([r.sink, r.shard, String(r.segments), String(r.bytes), String(r.batches), String(r.samples), age(r.oldestMs, now), damaged === 0 ? 'none' : `${damaged} bytes in ${r.damage.length} region(s)`]);
  }
  const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd());
  for (const r of reports) for (const d of r.damage) lines.push(`damage: ${d.file} offset ${d.offset}, ${d.length} bytes: ${d.reason}`);
  return `${lines.join('\n')}\n`;
}

/** `sentio queue --help`. */
export const queueUsage = [
  'Usage: sentio queue inspect [--data-dir DIR] [--json]   the durable queues on disk: segments, batches, samples, damage',
  '       sentio queue verify [--data-dir DIR] [--json]    the same; exit code 1 when damage is found',
  '',
  'Options:',
  '  --data-dir DIR   the gateway\'s data directory (default ./data) [SENTIO_DATA_DIR]',
  '  --json           the report as JSON',
  '  -h, --help       print this help',
].join('\n');

/** The `sentio queue` command; returns the exit code. */
export async function queueCommand(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [action, ...rest] = argv;
  if (action === '--help' || action === '-h' || rest.includes('--help') || rest.includes('-h')) {
    out(`${queueUsage}\n`);
    return 0;
  }
  if (action !== 'inspect' && action !== 'verify') {
    err(`sentio queue: ${action === undefined ? 'an action is required' : `unknown action "${action}"`}\n\n${queueUsage}\n`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { 'data-dir': { type: 'string', default: env.SENTIO_DATA_DIR ?? './data' }, json: { type: 'boolean', default: false } } }));
  } catch (e) {
    err(`sentio queue: ${(e as Error).message}\n\n${queueUsage}\n`);
    return 2;
  }
  const reports = await inspectQueues(resolve(values['data-dir']));
  out(values.json ? `${JSON.stringify(reports, null, 2)}\n` : formatReport(reports));
  const damaged = reports.some((r) => r.damage.length > 0);
  if (action === 'verify') {
    (damaged ? err : out)(damaged ? 'verify: damage found (it is skipped and counted when Sentio starts)\n' : 'verify: no damage\n');
    return damaged ? 1 : 0;
  }
  return 0;
}
