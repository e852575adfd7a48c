//! Throughput of the line-protocol parser alone, of parse + sample counting,
//! and of parse + map + hash + shard + encode (remote write with 2 shards;
//! columns), on a generated realistic corpus:
//! 100 devices, 4 fields per line (~124 B/line), 1000-line batches.
//!
//! Then hostile input, one batch of a few long lines: escapes (every kind of
//! escape, long backslash runs, the quoted field path), and lines of 100k
//! fields or tags. Parsing must stay linear: these should run at MB/s of the
//! same order as the realistic corpus, not collapse as the lines grow.
//!
//! `cargo bench -p sentio-core --bench throughput` prints MB/s and lines/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sentio_core::{parse_line_protocol, Format, IngestOptions, Ingestor, Output, Precision, PreparedReadings, PreparedSeries, Readings, SeriesMapper, Sharding, Target};

const BATCHES: usize = 100;
const LINES_PER_BATCH: usize = 1000;
const REGIONS: [&str; 4] = ["eu-west", "eu-east", "us-east", "ap-south"];

fn corpus() -> Vec<Vec<u8>> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let mut ts: u64 = 1_764_200_000_000_000_000;
    (0..BATCHES)
        .map(|b| {
            let mut buf = Vec::with_capacity(LINES_PER_BATCH * 128);
            for i in 0..LINES_PER_BATCH {
                let dev = (b * LINES_PER_BATCH + i) % 100;
                ts += 10_000_000;
                let line = format!(
                    "cpu,host=dev-{dev:04},region={},rack=r{:02} usage_user={}.{},usage_system={}.{:02},temp={}.{},uptime={}i {ts}\n",
                    REGIONS[dev % 4],
                    dev % 20,
                    rnd(100),
                    rnd(10),
                    rnd(100),
                    rnd(100),
                    20 + rnd(60),
                    rnd(10),
                    100_000 + rnd(900_000),
                );
                buf.extend_from_slice(line.as_bytes());
            }
            buf
        })
        .collect()
}

fn run(name: &str, corpus: &[Vec<u8>], mut f: impl FnMut(&[u8]) -> u64) {
    // `cargo bench --bench throughput -- <filter>` runs the matching cases only.
    if let Some(filter) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        if !name.contains(&filter) {
            return;
        }
    }
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let lines: usize = corpus.iter().map(|b| memchr::memchr_iter(b'\n', b).count()).sum();
    // warm up
    for b in corpus {
        black_box(f(b));
    }
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut rounds = 0;
        while start.elapsed() < Duration::from_millis(400) {
            for b in corpus {
                black_box(f(black_box(b)));
            }
            rounds += 1;
        }
        best = best.min(start.elapsed() / rounds);
    }
    let s = best.as_secs_f64();
    println!(
        "{name:<34} {:>8.1} MB/s {:>6.2} M lines/s  ({:.1} B/line)",
        bytes as f64 / s / 1e6,
        lines as f64 / s / 1e6,
        bytes as f64 / lines as f64
    );
}

/// `prefix`, `pattern` repeated, `suffix`, `\n`: a line of about `bytes`.
fn long_line(prefix: &str, pattern: &str, suffix: &str, bytes: usize) -> String {
    let n = bytes.saturating_sub(prefix.len() + suffix.len()) / pattern.len();
    format!("{prefix}{}{suffix}\n", pattern.repeat(n))
}

/// One batch of about 1 MiB of escapes in every position the parser treats
/// differently.
fn hostile_escapes() -> Vec<Vec<u8>> {
    const Q: usize = 1 << 17; // 8 lines of 128 KiB
    let lines = [
        // escaped backslash then a separator, over and over (a rejected line)
        long_line("m,t=", "\\\\,", " v=1", Q),
        // one huge tag value of escaped separators (an accepted line)
        long_line("m,t=", "\\\\\\,\\ \\=", " v=1", Q),
        // a measurement of escaped spaces
        long_line("m", "\\ ", ",t=v v=1", Q),
        // backslash runs before each separator candidate, odd and even
        long_line("m,t=", "\\\\\\\\\\ \\\\\\\\,", " v=1", Q),
        // a quoted string field full of escaped quotes and separators
        long_line("m,t=v s=\"", "\\\",\\ =", "\",v=1", Q),
        // fields whose keys are escapes
        long_line("m,t=v ", "k\\,\\ \\==1,", "v=1", Q),
        // a backslash run as long as the line, then the space
        long_line("m,t=", "\\", " v=1", Q),
        // tag keys and values all escapes
        long_line("m", ",\\,\\==\\ \\,", " v=1", Q),
    ];
    vec![lines.concat().into_bytes()]
}

/// Lines of ~100k fields, and of ~60k tags with a few fields.
fn hostile_wide() -> Vec<Vec<u8>> {
    let fields: String = (0..100_000).map(|i| format!("f{i}=1,")).collect();
    let tags: String = (0..60_000).map(|i| format!(",t{i}=v")).collect();
    vec![format!("m,host=a {}v=1 1\nm{tags} a=1,b=2,c=3 1\n", fields).into_bytes()]
}

fn options(output: Output) -> IngestOptions<'static> {
    IngestOptions {
        format: Format::LineProtocol,
        precision: Some(Precision::Ns),
        db: Some("telemetry"),
        labels: &[],
        now_ms: 1_764_200_000_000,
        outputs: vec![Target::all(output)],
        max_errors: 100,
        max_line_bytes: None,
        max_tags: None,
        series_hashes: false,
    }
}

/// A connector's batch: `series` registers (200 a device), one sample each,
/// mapped with the connector's default label and encoded for remote write;
/// mapped in the batch (`ingest_readings`), or before (`ingest_prepared`:
/// registered series).
fn readings(ing: &mut Ingestor, series: usize) {
    let names: Vec<String> = (0..series).map(|i| format!("modbus_r{}", i % 200)).collect();
    let devices: Vec<String> = (0..series).map(|i| format!("meter{}", i / 200)).collect();
    let labels: Vec<[(&str, &str); 4]> = names.iter().zip(&devices).map(|(n, d)| [("__name__", n.as_str()), ("device", d.as_str()), ("unit_id", "1"), ("unit", "V")]).collect();
    let slices: Vec<&[(&str, &str)]> = labels.iter().map(|l| &l[..]).collect();
    let sample_series: Vec<u32> = (0..series as u32).collect();
    let timestamps = vec![1_764_200_000_000i64; series];
    let values: Vec<f64> = (0..series).map(|i| i as f64 * 1.5).collect();
    let defaults = [("connector", "bench-modbus")];
    let o = IngestOptions { labels: &defaults, series_hashes: true, ..options(Output::RemoteWrite(Sharding::new(1, 1).unwrap())) };
    let r = Readings { series: &slices, sample_series: &sample_series, timestamps: &timestamps, values: &values };
    calls(&format!("readings: {series} series x 1 sample, remote_write"), series, || ing.ingest_readings(black_box(&r), &o).samples);
    let mapper = SeriesMapper::new(&o);
    let mapped: Vec<_> = slices.iter().map(|l| mapper.prepare(l).unwrap()).collect();
    let prepared: Vec<Result<PreparedSeries<'_>, &str>> = mapped.iter().map(|m| Ok(m.prepared())).collect();
    let p = PreparedReadings { series: &prepared, sample_series: &sample_series, timestamps: &timestamps, values: &values };
    calls(&format!("readings: {series} series prepared"), series, || ing.ingest_prepared(black_box(&p), &o).samples);
}

/// Times `f` (one batch of `samples`) per call, best of 5 rounds.
fn calls(name: &str, samples: usize, mut f: impl FnMut() -> u64) {
    if std::env::args().skip(1).find(|a| !a.starts_with('-')).is_some_and(|filter| !name.contains(&filter)) {
        return;
    }
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_millis(300) {
            black_box(f());
            n += 1;
        }
        best = best.min(start.elapsed() / n);
    }
    println!("{name:<44} {:>8.1} µs/call {:>6.3} µs/sample", best.as_secs_f64() * 1e6, best.as_secs_f64() * 1e6 / samples as f64);
}

/// The anomaly engine's feature update: batches of 5,000 samples over 10,000 series, and the read of every series' features.
fn features() {
    use sentio_core::features::{FeatureParams, FeatureStore};
    let series = 10_000u64;
    let mut store = FeatureStore::new(FeatureParams::default(), 100_000);
    let mut t = 1_764_200_000_000i64;
    let batch = 5000usize;
    let ids: Vec<u64> = (0..batch as u64).map(|i| (i % series).wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    let values: Vec<f64> = (0..batch).map(|i| (i % 97) as f64 * 0.5).collect();
    let mut next = 0u64;
    calls("features: update, 10,000 series", batch, || {
        t += 500;
        let ts = vec![t; batch];
        let ids: Vec<u64> = ids.iter().map(|id| id.wrapping_add(next % 2)).collect();
        next += 1;
        store.update(&ids, &ts, &values).updated
    });
    calls("features: read, 10,000 series", store.len(), || store.iter().filter_map(|(_, s)| s.features(t, 0)).map(|f| f.count as u64).sum());
}

fn main() {
    features();
    let mut ing = Ingestor::new();
    readings(&mut ing, 200);
    readings(&mut ing, 5000);
    let corpus = corpus();
    run("parse only", &corpus, |b| parse_line_protocol(b, Some(Precision::Ns)).fields);
    for (name, output) in [
        ("parse + count samples (no mapping)", Output::None),
        ("parse+encode remote_write 2 shards", Output::RemoteWrite(Sharding::new(2, 1).unwrap())),
        ("parse+encode columns", Output::Columns),
    ] {
        run(name, &corpus, |b| ing.ingest(b, &options(output)).samples);
    }
    let escapes = hostile_escapes();
    run("hostile: 1 MiB of escapes", &escapes, |b| parse_line_protocol(b, Some(Precision::Ns)).lines.into());
    let wide = hostile_wide();
    let rw = Output::RemoteWrite(Sharding::new(2, 1).unwrap());
    run("hostile: 100k fields or tags a line", &wide, |b| ing.ingest(b, &options(rw)).samples);
}
