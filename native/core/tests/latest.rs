//! The live tap (`Ingestor::latest`): one entry per distinct series of the
//! last batch, its latest sample (greatest timestamp, later line on ties),
//! the same ids and label sets as the columns output, for either output.

mod common;
use sentio_core::{series_hash, Format, IngestOptions, Ingestor, LatestOutput, Output, OutputData, Sharding};

fn opts(output: Output) -> IngestOptions<'static> {
    IngestOptions { output, ..common::opts(Format::LineProtocol, Some(sentio_core::Precision::Ms), None) }
}

fn rw() -> Output {
    Output::RemoteWrite(Sharding::new(2, 1).unwrap())
}

/// (id, ts, value, labels JSON) per series.
fn rows(l: &LatestOutput) -> Vec<(i64, i64, f64, String)> {
    let n = l.len();
    assert_eq!(l.timestamps.len(), n * 8);
    assert_eq!(l.values.len(), n * 8);
    assert_eq!(l.def_offsets.len(), (n + 1) * 4);
    let u64at = |b: &[u8], i: usize| <[u8; 8]>::try_from(&b[i * 8..i * 8 + 8]).unwrap();
    let off = |i: usize| u32::from_le_bytes(l.def_offsets[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    assert_eq!(off(n), l.defs.len());
    (0..n)
        .map(|i| {
            (
                i64::from_le_bytes(u64at(&l.ids, i)),
                i64::from_le_bytes(u64at(&l.timestamps, i)),
                f64::from_le_bytes(u64at(&l.values, i)),
                String::from_utf8(l.defs[off(i)..off(i + 1)].to_vec()).unwrap(),
            )
        })
        .collect()
}

fn id(labels: &[(&str, &str)]) -> i64 {
    series_hash(labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))) as i64
}

#[test]
fn latest_sample_per_series_greatest_timestamp_later_line_on_ties() {
    let input = "cpu,host=a usage=1,temp=10 1000\n\
                 cpu,host=b usage=2 1000\n\
                 cpu,host=a usage=3 3000\n\
                 cpu,host=a usage=4 2000\n\
                 cpu,host=b usage=5 1000\n\
                 cpu,host=a temp=11 1000\n";
    let mut ing = Ingestor::new();
    let r = ing.ingest(input.as_bytes(), &opts(rw()));
    assert_eq!(r.samples, 7);
    let got = rows(&ing.latest());
    assert_eq!(
        got,
        vec![
            (id(&[("__name__", "cpu_usage"), ("host", "a")]), 3000, 3.0, r#"{"__name__":"cpu_usage","host":"a"}"#.to_string()),
            (id(&[("__name__", "cpu_temp"), ("host", "a")]), 1000, 11.0, r#"{"__name__":"cpu_temp","host":"a"}"#.to_string()),
            (id(&[("__name__", "cpu_usage"), ("host", "b")]), 1000, 5.0, r#"{"__name__":"cpu_usage","host":"b"}"#.to_string()),
        ]
    );
}

#[test]
fn same_ids_and_label_sets_as_the_columns_output() {
    let mut input = String::new();
    for i in 0..500 {
        input.push_str(&format!("m,dev=d{},q=\"x\\\"y\" v={i},w={i}i,s=\"str\" {}\n", i % 37, 1_000 + i));
    }
    let mut ing = Ingestor::new();
    let r = ing.ingest(input.as_bytes(), &opts(Output::Columns));
    let OutputData::Columns(c) = r.data else { panic!("columns") };
    let l = ing.latest();
    assert_eq!(l.len(), 74);
    assert_eq!(l.ids, c.distinct_ids);
    assert_eq!(l.defs, c.series_defs);
    assert_eq!(l.def_offsets, c.series_def_offsets);
    // Each series' latest: its last line (timestamps increase with i).
    for (_, ts, v, labels) in rows(&l) {
        assert_eq!(v, (ts - 1_000) as f64, "{labels}");
        assert!(ts >= 1_000 + 500 - 37, "{labels}: {ts}");
    }
}

#[test]
fn each_batch_stands_alone_and_output_none_maps_nothing() {
    let mut ing = Ingestor::new();
    assert!(ing.latest().is_empty(), "before any batch");
    ing.ingest(b"a v=1 1000\nb v=2 1000\n", &opts(rw()));
    assert_eq!(ing.latest().len(), 2);
    ing.ingest(b"c v=3 1000\n", &opts(rw()));
    let got = rows(&ing.latest());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].3, r#"{"__name__":"c_v"}"#);
    ing.ingest(b"d v=4 1000\n", &opts(Output::None));
    assert!(ing.latest().is_empty());
    // A batch with only rejected or string-only lines has no series.
    ing.ingest(b"bad line\ne s=\"x\" 1000\n", &opts(rw()));
    let l = ing.latest();
    assert!(l.is_empty());
    assert_eq!(l.def_offsets, 0u32.to_le_bytes().to_vec());
}

#[test]
fn msgpack_batches_too() {
    // {"points": [["t", {"k": "v"}, {"x": 1.5}, 5], ["t", {"k": "v"}, {"x": 2.5}, 4]]} (ms)
    let mut buf = Vec::new();
    rmp::encode::write_map_len(&mut buf, 1).unwrap();
    rmp::encode::write_str(&mut buf, "points").unwrap();
    rmp::encode::write_array_len(&mut buf, 2).unwrap();
    for (x, ts) in [(1.5, 5), (2.5, 4)] {
        rmp::encode::write_array_len(&mut buf, 4).unwrap();
        rmp::encode::write_str(&mut buf, "t").unwrap();
        rmp::encode::write_map_len(&mut buf, 1).unwrap();
        rmp::encode::write_str(&mut buf, "k").unwrap();
        rmp::encode::write_str(&mut buf, "v").unwrap();
        rmp::encode::write_map_len(&mut buf, 1).unwrap();
        rmp::encode::write_str(&mut buf, "x").unwrap();
        rmp::encode::write_f64(&mut buf, x).unwrap();
        rmp::encode::write_uint(&mut buf, ts).unwrap();
    }
    let mut ing = Ingestor::new();
    let o = IngestOptions { format: Format::Msgpack, precision: None, ..opts(rw()) };
    let r = ing.ingest(&buf, &o);
    assert_eq!((r.samples, r.rejected), (2, 0), "{:?}", r.errors);
    let got = rows(&ing.latest());
    assert_eq!(got, vec![(id(&[("__name__", "t_x"), ("k", "v")]), 5, 1.5, r#"{"__name__":"t_x","k":"v"}"#.to_string())]);
}
