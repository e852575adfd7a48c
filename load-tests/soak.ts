// Soak: Sentio → VictoriaMetrics at a steady rate for minutes while
// VictoriaMetrics is stopped half the time, watching Sentio's memory and
// queue. One command:
//
//   npm run build && node --import tsx load-tests/soak.ts [--minutes 10]
//       [--rate 1000000] [--period 60] [--connections 16] [--sentio-args "--workers 0"]
//
// Every `period` seconds VictoriaMetrics goes down for `period / 2` and
// comes back. Every 5 s the script prints Sentio's resident memory, its
// queue (batches, bytes on disk) and the samples acknowledged so far; at the
// end it waits for the queue to drain and checks, from Sentio's counters,
// that every acknowledged sample was delivered (VictoriaMetrics answered
// 2xx) and none dropped. Exit code 1 when samples are missing or memory grew
// past the bound (--max-rss-growth-mib, default 256).

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { makeCorpus } from './corpus.js';
import { runHttpLoad } from './http.js';
import { type VictoriaMetrics, startVictoriaMetrics } from '../test/services/index.js';
import { scrapeCounter, sentioBuilt, startSentio } from './servers.js';
import { isMain } from './util.js';

const TOKEN = 'soak-token-0123456789';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

export async function soak(o: { minutes: number; rate: number; period: number; connections: number; maxRssGrowthMiB: number; sentioArgs: string[] }): Promise<number> {
  if (!sentioBuilt()) throw new Error('run npm run build first (dist/cli.js and the native addon)');
  const corpus = makeCorpus();
  const requestsPerSec = o.rate / corpus.samplesPerBody;
  let vm: VictoriaMetrics = await startVictoriaMetrics();
  const sentio = await startSentio({ token: TOKEN, sink: { victoriametrics: vm.writeUrl }, args: o.sentioArgs });
  const started = Date.now();
  const endAt = started + o.minutes * 60_000;
  let vmUp = true;
  let toggling = false;
  const samples: number[] = [];
  try {
    const load = runHttpLoad({
      url: `${sentio.base}/write?db=soak`,
      token: TOKEN,
      connections: o.connections,
      duration: o.minutes * 60,
      corpus,
      rate: requestsPerSec,
      timeout: 60,
    });
    process.stdout.write(`soak: ${o.minutes} min at ${(o.rate / 1e6).toFixed(2)} M samples/s (${requestsPerSec.toFixed(0)} req/s × ${corpus.samplesPerBody}), VictoriaMetrics down ${o.period / 2} s of every ${o.period} s\n`);
    process.stdout.write('   t  vm    rss MiB  heap MiB  external MiB  queued batches  queue MiB  acked M\n');
    let baseline = Number.NaN;
    let done = false;
    void load.finally(() => (done = true));
    while (!done && Date.now() < endAt + 5000) {
      await sleep(5000);
      const t = (Date.now() - started) / 1000;
      const phase = t % o.period;
      const wantUp = phase < o.period / 2;
      if (wantUp !== vmUp && !toggling && Date.now() < endAt) {
        toggling = true;
        if (wantUp) vm = await vm.restart();
        else await vm.stop();
        vmUp = wantUp;
        toggling = false;
      }
      const rss = rssMiB(sentio.pid);
      if (t >= 30 && Number.isNaN(baseline)) baseline = rss; // after warm-up and the first outage has begun
      samples.push(rss);
      const queued = await scrapeCounter(sentio.base, 'sentio_queue_batches');
      const qBytes = await scrapeCounter(sentio.base, 'sentio_queue_bytes');
      const acked = await scrapeCounter(sentio.base, 'sentio_accepted_samples_total');
      const heap = (await scrapeCounter(sentio.base, 'nodejs_heap_size_used_bytes')) / 2 ** 20;
      const external = (await scrapeCounter(sentio.base, 'nodejs_external_memory_bytes')) / 2 ** 20;
      process.stdout.write(
        `${t.toFixed(0).padStart(4)}  ${vmUp ? 'up  ' : 'down'}  ${rss.toFixed(0).padStart(7)}  ${heap.toFixed(0).padStart(8)}  ${external.toFixed(0).padStart(12)}  ${String(queued).padStart(14)}  ${(qBytes / 2 ** 20).toFixed(0).padStart(9)}  ${(acked / 1e6).toFixed(1).padStart(7)}\n`,
      );
    }
    const r = await load;
    if (!vmUp) vm = await vm.restart();
    // Drain: the queue empties once VictoriaMetrics is back.
    const acked = await scrapeCounter(sentio.base, 'sentio_accepted_samples_total');
    const deadline = Date.now() + 10 * 60_000;
    while ((await scrapeCounter(sentio.base, 'sentio_queue_batches')) > 0 && Date.now() < deadline) await sleep(1000);
    await sleep(2000);
    const delivered = await scrapeCounter(sentio.base, 'sentio_queue_delivered_samples_total');
    const dropped = await scrapeCounter(sentio.base, 'sentio_queue_dropped_samples_total');
    const peak = Math.max(...samples);
    const growth = peak - baseline;
    const codes = Object.entries(r.statusCodes).map(([c, n]) => `${c}×${n}`).join(' ');
    process.stdout.write(
      [
        '',
        `answers:   ${codes} (errors ${r.errors}, timeouts ${r.timeouts})`,
        `samples:   acknowledged ${(acked / 1e6).toFixed(2)} M, delivered (VictoriaMetrics answered 2xx) ${(delivered / 1e6).toFixed(2)} M, dropped ${dropped}`,
        `memory:    rss at 30 s ${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, growth ${growth.toFixed(0)} MiB (bound ${o.maxRssGrowthMiB} MiB)`,
        '',
      ].join('\n'),
    );
    const ok = delivered >= acked && dropped === 0 && growth <= o.maxRssGrowthMiB;
    process.stdout.write(ok ? 'soak: OK\n' : 'soak: FAILED\n');
    return ok ? 0 : 1;
  } finally {
    await sentio.stop();
    await vm.destroy();
  }
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1000000' },
      period: { type: 'string', default: '60' },
      connections: { type: 'string', default: '16' },
      'max-rss-growth-mib': { type: 'string', default: '256' },
      'sentio-args': { type: 'string', default: '' },
    },
  });
  soak({
    minutes: Number(values.minutes),
    rate: Number(values.rate),
    period: Number(values.period),
    connections: Number(values.connections),
    maxRssGrowthMiB: Number(values['max-rss-growth-mib']),
    sentioArgs: values['sentio-args'].split(' ').filter((a) => a.length > 0),
  }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
