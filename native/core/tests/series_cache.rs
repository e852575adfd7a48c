//! Property: mapping a batch whose lines repeat measurement-and-tags sections
//! (served from the per-batch series-key cache) gives exactly the series and
//! samples of mapping every line on its own (no cache hits across lines).

mod common;

use common::{ingest_series, opts, Series};
use proptest::prelude::*;
use sentio_core::{Format, IngestOptions, Precision};

/// Raw measurement-and-tags sections, chosen to collide in interesting ways:
/// escapes, `__name__` and `db` tags, repeated and empty tag values, tag order,
/// and different bytes for the same labels.
const KEYS: &[&str] = &[
    "cpu,host=a,region=eu",
    "cpu,region=eu,host=a",
    "cpu,host=a,host=b",
    "cpu,host=a,db=own",
    "cpu,__name__=x,host=a",
    "cpu,host=,region=eu",
    "c\\ pu,ho\\,st=a\\=b",
    "c\\,pu,host=a",
    "",
    "mem",
];

/// Default labels (a device's): none, some the keys also have as tags, `db`, `__name__`.
const LABELS: &[&[(&str, &str)]] = &[&[], &[("host", "dev"), ("site", "n")], &[("db", "dev-db"), ("zone", "z")], &[("__name__", "x"), ("a", "1")]];

const FIELDS: &[&str] = &["v=1", "v=2i", "w=3.5", "s=\"str\"", "b=true", "v=4u", "x\\ y=5", "w=-6e2"];

fn line() -> impl Strategy<Value = String> {
    (prop::sample::select(KEYS), prop::collection::vec(prop::sample::select(FIELDS), 1..5), 1u64..1000).prop_map(|(key, fields, ts)| {
        format!("{key} {} {}", fields.join(","), 1_700_000_000_000u64 + ts)
    })
}

fn merge(into: &mut Series, from: Series) {
    for (k, v) in from {
        into.entry(k).or_default().extend(v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn cached_batch_equals_line_by_line(lines in prop::collection::vec(line(), 1..24), db in prop::option::of(prop::sample::select(&["telemetry", "zz"][..])), labels in prop::sample::select(LABELS)) {
        let o = IngestOptions { labels, ..opts(Format::LineProtocol, Some(Precision::Ms), db) };
        let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let (whole_result, whole) = ingest_series(batch.as_bytes(), &o);
        let mut separate = Series::new();
        let (mut samples, mut strings, mut rejected) = (0, 0, 0);
        for l in &lines {
            let (r, s) = ingest_series(l.as_bytes(), &o);
            samples += r.samples;
            strings += r.skipped_strings;
            rejected += r.rejected;
            merge(&mut separate, s);
        }
        prop_assert_eq!(&whole, &separate, "{}", batch);
        prop_assert_eq!(whole_result.samples, samples);
        prop_assert_eq!(whole_result.skipped_strings, strings);
        prop_assert_eq!(whole_result.rejected, rejected);
    }
}

#[test]
fn lines_with_more_fields_than_the_cache_holds_map_as_line_by_line() {
    // The cache keeps a bounded number of fields per raw key; fields past it
    // are mapped uncached. Repeated wide lines, fields in changing order.
    let fields: Vec<String> = (0..150).map(|i| format!("f{i}={i}")).collect();
    let mut lines = Vec::new();
    for round in 0..4u64 {
        let mut f = fields.clone();
        f.rotate_left((round * 37) as usize);
        lines.push(format!("cpu,host=a {} {}", f.join(","), 1_700_000_000_000u64 + round));
        lines.push(format!("cpu,host=b f0=1,f149=2 {}", 1_700_000_000_000u64 + round));
    }
    let o = opts(Format::LineProtocol, Some(Precision::Ms), Some("db"));
    let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (r, whole) = ingest_series(batch.as_bytes(), &o);
    let mut separate = Series::new();
    for l in &lines {
        merge(&mut separate, ingest_series(l.as_bytes(), &o).1);
    }
    assert_eq!(whole, separate);
    assert_eq!(whole.len(), 152);
    assert!(whole.values().all(|v| v.len() == 4));
    assert_eq!(r.samples, 4 * 152);
}
