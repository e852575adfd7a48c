// Differential check of the line-protocol core against a real VictoriaMetrics.
//
// Generates 600 near-valid lines full of separators, escapes and odd values,
// writes them straight to VictoriaMetrics A (/write?db=) and through the core's
// remote-write encoder to VictoriaMetrics B, then compares the series per line.
// Every difference must be a documented one (docs/vm-line-protocol.md): Sentio
// rejects a line where VictoriaMetrics stores a best-effort 0 or a string field.
//
//   victoria-metrics -storageDataPath /tmp/a -httpListenAddr 127.0.0.1:18428 -retentionPeriod 100y &
//   victoria-metrics -storageDataPath /tmp/b -httpListenAddr 127.0.0.1:18429 -retentionPeriod 100y &
//   npm run build:native && node native/tools/vm-differential.cjs <seed>
//
// Use a new seed per run (the seed names the db).
const n = require('../napi/index.cjs');
const SOUP = ['m', 'x', ',', '=', ' ', '"', '1', '-', '.', '5', 'e', 'i', 'u', 't', 'true', 'F', '\\', 'é', '0', 'E', '+'];
let seed = Number(process.argv[2] || 1);
const rnd = (k) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % k; };
const piece = () => { if (rnd(4)) return ['a', 'b1', 'x.y', 'h-z', 'é'][rnd(5)]; let s = ''; const k = 1 + rnd(2); for (let j = 0; j < k; j++) s += SOUP[rnd(SOUP.length)]; return s; };
const ts = BigInt(Date.now() - 30000) * 1000000n;
const run = `r${seed}`;
const lines = [];
for (let i = 0; i < 600; i++) {
  let s = `dz${run}x${i}`;
  const nt = rnd(3);
  for (let j = 0; j < nt; j++) s += `,${piece() || 'k'}=${piece()}`;
  s += ' ';
  const nf = 1 + rnd(3);
  const f = [];
  for (let j = 0; j < nf; j++) f.push(`${rnd(2) ? 'f' + j : piece()}=${rnd(2) ? String(rnd(100)) + (rnd(2) ? '.' + rnd(100) : '') : piece()}`);
  s += f.join(',') + ' ' + ts;
  lines.push(s);
}
const body = lines.join('\n') + '\n';
(async () => {
  await fetch(`http://127.0.0.1:18428/write?db=${run}`, { method: 'POST', body });
  const res = n.ingest(Buffer.from(body), { format: 'lp', db: run, nowMs: Date.now(), output: 'remote_write', shards: 1, maxErrors: 100000 });
  if (res.shards[0].length) await fetch('http://127.0.0.1:18429/api/v1/write', { method: 'POST', body: res.shards[0], headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf' } });
  await new Promise((r) => setTimeout(r, 1500));
  const exp = async (port) => {
    await fetch(`http://127.0.0.1:${port}/internal/force_flush`);
    const t = await (await fetch(`http://127.0.0.1:${port}/api/v1/export?match[]=` + encodeURIComponent(`{db="${run}"}`))).text();
    const by = new Map();
    for (const l of t.trim().split('\n').filter(Boolean)) {
      const o = JSON.parse(l.replace(/([\[,])([+-]Inf|NaN)/g, '$1"$2"'));
      const m = /^dzr\d+x(\d+)/.exec(o.metric.__name__); const i = m ? Number(m[1]) : -1;
      const k = Object.keys(o.metric).sort().map((x) => `${x}=${o.metric[x]}`).join(',') + ' ' + JSON.stringify(o.values) + ' ' + JSON.stringify(o.timestamps);
      if (!by.has(i)) by.set(i, []); by.get(i).push({ k, o });
    }
    return by;
  };
  const a = await exp(18428), b = await exp(18429);
  const rejected = new Set(res.errors.filter((e) => /invalid number field value/.test(e.reason)).map((e) => e.line));
  const stats = { same: 0, bothRejected: 0, sentioRejectedVmZeroOrString: 0, other: 0 };
  for (let i = 0; i < lines.length; i++) {
    const A = (a.get(i) || []).map((x) => x.k).sort(), B = (b.get(i) || []).map((x) => x.k).sort();
    if (JSON.stringify(A) === JSON.stringify(B)) { stats[A.length ? 'same' : 'bothRejected']++; continue; }
    const hasString = lines[i].includes('"');
    const allZero = (a.get(i) || []).every((x) => x.o.values.every((v) => v === 0));
    if (rejected.has(i + 1) || (allZero && B.length === 0 && res.errors.some((e) => e.line === i + 1))) { stats.sentioRejectedVmZeroOrString++; continue; }
    if (hasString) { stats.sentioRejectedVmZeroOrString++; continue; }
    stats.other++;
    process.exitCode = 1;
    console.log('DIFF', JSON.stringify(lines[i]), '\n  vm:', A, '\n  sentio:', B, res.errors.find((e) => e.line === i + 1));
  }
  if (a.has(-1) || b.has(-1)) console.log('unattributed', a.get(-1)?.map((x) => x.k), b.get(-1)?.map((x) => x.k));
  console.log(stats, 'sentio rejected', res.rejected);
})();
