//! Default labels (`IngestOptions::labels`, a device's labels and name):
//! added to every point that lacks a tag of that name, after the point's own
//! tags and `db`, in canonical label order.

mod common;

use common::{ingest_series, opts, Series};
use sentio_core::{Format, IngestOptions, Precision};

const DEVICE: &[(&str, &str)] = &[("site", "north"), ("device", "boiler-1"), ("zone", "z9")];

fn lp_with(input: &str, db: Option<&str>, labels: &[(&str, &str)]) -> Series {
    let o = IngestOptions { labels, ..opts(Format::LineProtocol, Some(Precision::Ms), db) };
    ingest_series(input.as_bytes(), &o).1
}

fn keys(s: &Series) -> Vec<String> {
    s.keys().cloned().collect()
}

#[test]
fn labels_are_added_in_canonical_order_and_the_points_own_tag_wins() {
    let s = lp_with("boiler,site=a,alpha=1 temp=71.5 1700000000000\nboiler temp=70 1700000000001", None, DEVICE);
    assert_eq!(
        keys(&s),
        vec!["boiler_temp{alpha=1,device=boiler-1,site=a,zone=z9}".to_string(), "boiler_temp{device=boiler-1,site=north,zone=z9}".to_string()]
    );
}

#[test]
fn a_point_with_default_labels_is_the_series_it_would_be_with_those_tags() {
    let tagged = lp_with("m,device=boiler-1,site=north,zone=z9 v=1 1700000000000", None, &[]);
    let defaulted = lp_with("m v=1 1700000000000", None, DEVICE);
    assert_eq!(tagged, defaulted);
    // And its hash (the shard, the embedded store's id) is that series' too.
    let series = |labels: &[(&str, &str)], line: &str| {
        let o = IngestOptions { labels, series_hashes: true, ..opts(Format::LineProtocol, Some(Precision::Ms), None) };
        ingest_series(line.as_bytes(), &o).0.series_hashes
    };
    assert_eq!(series(DEVICE, "m v=1 1700000000000"), series(&[], "m,device=boiler-1,site=north,zone=z9 v=1 1700000000000"));
}

#[test]
fn db_wins_over_a_label_named_db_and_a_db_tag_over_both() {
    let labels = [("db", "from-device"), ("site", "north")];
    assert_eq!(keys(&lp_with("m v=1 1", Some("from-request"), &labels)), vec!["m_v{db=from-request,site=north}"]);
    assert_eq!(keys(&lp_with("m v=1 1", None, &labels)), vec!["m_v{db=from-device,site=north}"]);
    assert_eq!(keys(&lp_with("m,db=own v=1 1", Some("from-request"), &labels)), vec!["m_v{db=own,site=north}"]);
}

#[test]
fn name_empty_and_repeated_labels() {
    // `__name__` never renames a series; empty names and values are left out; a name given twice: the first.
    let labels = [("__name__", "evil"), ("", "x"), ("empty", ""), ("site", "first"), ("site", "second")];
    assert_eq!(keys(&lp_with("m v=1 1", None, &labels)), vec!["m_v{site=first}"]);
}

#[test]
fn a_batch_of_repeated_lines_maps_as_its_lines_do_one_by_one() {
    let lines: Vec<String> = (0..40).map(|i| format!("cpu,host=h{} v={i},w={i} {}", i % 3, 1_700_000_000_000u64 + i)).collect();
    let batch = lines.join("\n");
    let whole = lp_with(&batch, Some("db"), DEVICE);
    let mut separate = Series::new();
    for l in &lines {
        for (k, v) in lp_with(l, Some("db"), DEVICE) {
            separate.entry(k).or_default().extend(v);
        }
    }
    assert_eq!(whole, separate);
    assert_eq!(whole.len(), 6);
    assert!(whole.keys().all(|k| k.contains("device=boiler-1") && k.contains("db=db")), "{:?}", keys(&whole));
}

#[test]
fn labels_apply_to_msgpack_batches_too() {
    // {"points": [["m", {"site": "a"}, {"v": 1.0}]]}
    let batch: &[u8] = &[0x81, 0xa6, b'p', b'o', b'i', b'n', b't', b's', 0x91, 0x93, 0xa1, b'm', 0x81, 0xa4, b's', b'i', b't', b'e', 0xa1, b'a', 0x81, 0xa1, b'v', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
    let o = IngestOptions { labels: DEVICE, ..opts(Format::Msgpack, None, None) };
    let (r, s) = ingest_series(batch, &o);
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
    assert_eq!(s.keys().map(|k| k.as_str()).collect::<Vec<_>>(), vec!["m_v{device=boiler-1,site=a,zone=z9}"]);
}
