//! The live tap (`Ingestor::latest`): one entry per distinct series of the
//! last batch, its latest sample (greatest timestamp, later line on ties),
//! the same ids and label sets as the columns output, for either output;
//! packed in one buffer; with `latest_known`, label sets already returned
//! under the consumer's epoch left out.

mod common;
use sentio_core::{series_hash, Format, IngestOptions, Ingestor, KnownSeries, LatestOutput, Output, OutputData, Sharding, Target};

fn opts(output: Output) -> IngestOptions<'static> {
    IngestOptions { outputs: vec![Target::all(output)], ..common::opts(Format::LineProtocol, Some(sentio_core::Precision::Ms), None) }
}

fn rw() -> Output {
    Output::RemoteWrite(Sharding::new(2, 1).unwrap())
}

/// The packed buffer read by hand, as a JS consumer does (the documented
/// layout), checked against the accessors: (id, ts, value, labels JSON or
/// "" when left out) per series.
fn rows(l: &LatestOutput) -> Vec<(i64, i64, f64, String)> {
    let b = l.as_bytes();
    let u32at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let u64at = |at: usize| <[u8; 8]>::try_from(&b[at..at + 8]).unwrap();
    let n = u32at(0);
    assert_eq!(n, l.len());
    assert_eq!(u32at(4) as u32, l.epoch());
    let (ids, tss, vals, offs) = (8, 8 + n * 8, 8 + n * 16, 8 + n * 24);
    let defs = offs + (n + 1) * 4;
    assert_eq!(u32at(offs), 0);
    assert_eq!(defs + u32at(offs + n * 4), b.len(), "the last offset ends the buffer");
    (0..n)
        .map(|i| {
            let def = &b[defs + u32at(offs + i * 4)..defs + u32at(offs + i * 4 + 4)];
            let row = (
                i64::from_le_bytes(u64at(ids + i * 8)),
                i64::from_le_bytes(u64at(tss + i * 8)),
                f64::from_le_bytes(u64at(vals + i * 8)),
                String::from_utf8(def.to_vec()).unwrap(),
            );
            assert_eq!((row.0, row.1, row.2.to_bits()), (l.id(i), l.timestamp(i), l.value(i).to_bits()));
            assert_eq!(l.labels(i), (!def.is_empty()).then_some(def));
            row
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
    let OutputData::Columns(c) = r.data[0].clone() else { panic!("columns") };
    let l = ing.latest();
    assert_eq!(l.len(), 74);
    assert_eq!(l.epoch(), 0);
    assert_eq!((0..l.len()).flat_map(|i| l.id(i).to_le_bytes()).collect::<Vec<u8>>(), c.distinct_ids);
    assert_eq!(l.defs(), c.series_defs);
    let n = l.len();
    assert_eq!(&l.as_bytes()[8 + n * 24..8 + n * 28 + 4], c.series_def_offsets, "the same offsets");
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
    assert_eq!(l.as_bytes(), [0u8; 12], "header and the one end offset");
    assert_eq!(LatestOutput::default(), l);
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

fn labels_of(l: &LatestOutput) -> Vec<String> {
    rows(l).into_iter().map(|r| r.3).collect()
}

#[test]
fn known_series_leave_out_label_sets_already_returned_under_the_epoch() {
    let mut ing = Ingestor::new();
    let mut known = KnownSeries::new();
    ing.ingest(b"a v=1 1000\nb v=2 1000\n", &opts(rw()));
    let l = ing.latest_known(&mut known, 7);
    assert_eq!(l.epoch(), 7);
    assert_eq!(labels_of(&l), [r#"{"__name__":"a_v"}"#, r#"{"__name__":"b_v"}"#]);
    assert_eq!(known.len(), 2);

    // b known: its labels left out, its sample still there; c is new.
    ing.ingest(b"b v=3 2000\nc v=4 2000\n", &opts(rw()));
    let got = rows(&ing.latest_known(&mut known, 7));
    assert_eq!(
        got,
        vec![
            (id(&[("__name__", "b_v")]), 2000, 3.0, String::new()),
            (id(&[("__name__", "c_v")]), 2000, 4.0, r#"{"__name__":"c_v"}"#.to_string()),
        ]
    );
    assert_eq!(ing.latest_known(&mut known, 7).labels(1), None, "asked again: c is known now");

    // Unfiltered calls neither read nor change what is known.
    let l = ing.latest();
    assert_eq!((l.epoch(), labels_of(&l).len()), (0, 2));
    assert!(labels_of(&l).iter().all(|d| !d.is_empty()));
    assert_eq!(labels_of(&ing.latest_known(&mut known, 0)), labels_of(&l));
    assert_eq!(known.len(), 3);

    // A new epoch: the consumer may have lost label sets, all are sent again.
    let l = ing.latest_known(&mut known, 8);
    assert_eq!((l.epoch(), labels_of(&l)), (8, vec![r#"{"__name__":"b_v"}"#.to_string(), r#"{"__name__":"c_v"}"#.to_string()]));
    assert_eq!(known.len(), 2);
}

#[test]
fn known_series_are_bounded() {
    let mut ing = Ingestor::new();
    let mut known = KnownSeries::new();
    let mut input = String::new();
    for i in 0..KnownSeries::MAX {
        input.push_str(&format!("m,i={i} v=1 1000\n"));
    }
    ing.ingest(input.as_bytes(), &opts(rw()));
    let l = ing.latest_known(&mut known, 1);
    assert_eq!((l.len(), known.len()), (KnownSeries::MAX, KnownSeries::MAX));
    assert!((0..l.len()).all(|i| l.labels(i).is_some()));
    // Full: it starts over rather than grow, so every label set comes again.
    ing.ingest(b"m,i=0 v=2 2000\n", &opts(rw()));
    let l = ing.latest_known(&mut known, 1);
    assert_eq!(labels_of(&l), [r#"{"__name__":"m_v","i":"0"}"#]);
    assert_eq!(known.len(), 1);
}
