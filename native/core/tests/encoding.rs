//! Remote-write and columns output: round trips through an independent
//! (prost) decoder, grouping, sharding, replication, JSON series definitions.

mod common;
use prost::Message;
use sentio_core::{series_hash, Format, IngestOptions, Ingestor, Output, Target, OutputData, Precision, Sharding};

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}
#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}
#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}
#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

fn decode(payload: &[u8]) -> WriteRequest {
    let raw = snap::raw::Decoder::new().decompress_vec(payload).unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}

fn corpus(devices: usize, lines: usize) -> String {
    let mut s = String::new();
    for i in 0..lines {
        let d = i % devices;
        s.push_str(&format!(
            "cpu,host=dev-{d:04},region=eu usage_user={}.5,temp={}i,ok=t,s=\"x\" {}\n",
            i % 100,
            20 + i % 40,
            1_764_200_000_000_000_000u64 + i as u64 * 1_000_000_000
        ));
    }
    s
}

fn opts(output: Output) -> IngestOptions<'static> {
    IngestOptions {
        format: Format::LineProtocol,
        precision: Some(Precision::Ns),
        db: Some("db1"),
        labels: &[],
        now_ms: common::NOW,
        outputs: vec![Target::all(output)],
        max_errors: 100,
        max_line_bytes: None,
        max_tags: None,
        series_hashes: false,
    }
}

#[test]
fn remote_write_round_trip_grouping_and_sharding() {
    let input = corpus(10, 100);
    let sh = Sharding::new(3, 1).unwrap();
    let r = Ingestor::new().ingest(input.as_bytes(), &opts(Output::RemoteWrite(sh)));
    assert_eq!((r.lines, r.rejected, r.samples, r.skipped_strings), (100, 0, 300, 100));
    let OutputData::RemoteWrite(rw) = r.data[0].clone() else { panic!() };
    assert_eq!(rw.shards.len(), 3);
    let mut total_series = 0;
    let mut total_samples = 0;
    for (i, payload) in rw.shards.iter().enumerate() {
        let wr = if payload.is_empty() { WriteRequest::default() } else { decode(payload) };
        // same as the core's own decoder
        let mine = sentio_core::decode_remote_write(payload).unwrap();
        assert_eq!(mine.len(), wr.timeseries.len());
        assert_eq!(wr.timeseries.len() as u64, rw.shard_series[i]);
        let samples: usize = wr.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(samples as u64, rw.shard_samples[i]);
        for ts in &wr.timeseries {
            // __name__ first, then sorted by name
            assert_eq!(ts.labels[0].name, "__name__");
            let names: Vec<&str> = ts.labels[1..].iter().map(|l| l.name.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
            // one TimeSeries per series: 10 samples (100 lines / 10 devices)
            assert_eq!(ts.samples.len(), 10);
            assert!(ts.samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
            let hash = series_hash(ts.labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes())));
            assert_eq!(sh.shards_for(hash).next().unwrap() as usize, i);
        }
        total_series += wr.timeseries.len();
        total_samples += samples;
    }
    assert_eq!((total_series, total_samples), (30, 300));
}

#[test]
fn replication_puts_each_series_on_r_shards() {
    let input = corpus(20, 40);
    let r = Ingestor::new().ingest(input.as_bytes(), &opts(Output::RemoteWrite(Sharding::new(4, 2).unwrap())));
    let OutputData::RemoteWrite(rw) = r.data[0].clone() else { panic!() };
    assert_eq!(rw.shard_samples.iter().sum::<u64>(), 2 * r.samples);
    assert_eq!(rw.shard_series.iter().sum::<u64>(), 2 * 60);
}

#[test]
fn empty_shards_are_empty_buffers() {
    let r = Ingestor::new().ingest(b"bad line\n", &opts(Output::RemoteWrite(Sharding::new(2, 1).unwrap())));
    let OutputData::RemoteWrite(rw) = r.data[0].clone() else { panic!() };
    assert!(rw.shards.iter().all(Vec::is_empty));
    assert_eq!(rw.shard_samples, vec![0, 0]);
}

fn le_i64(b: &[u8]) -> Vec<i64> {
    b.chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn columns_output() {
    let input = "m,host=a v=1,w=2 1000000000000000000\nm,host=a v=3 1000000001000000000\nm,q=\"x\\\\\\\"\u{1}é\" v=4\n";
    let r = Ingestor::new().ingest(input.as_bytes(), &opts(Output::Columns));
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
    let OutputData::Columns(c) = r.data[0].clone() else { panic!() };
    let ids = le_i64(&c.series_ids);
    let ts = le_i64(&c.timestamps);
    let vals: Vec<f64> = c.values.chunks(8).map(|x| f64::from_le_bytes(x.try_into().unwrap())).collect();
    assert_eq!(ts, vec![1_000_000_000_000, 1_000_000_000_000, 1_000_000_001_000, common::NOW]);
    assert_eq!(vals, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(ids[0], ids[2]);
    let distinct = le_i64(&c.distinct_ids);
    assert_eq!(distinct, vec![ids[0], ids[1], ids[3]]);
    let offs: Vec<usize> = c.series_def_offsets.chunks(4).map(|x| u32::from_le_bytes(x.try_into().unwrap()) as usize).collect();
    assert_eq!(offs.len(), 4);
    let defs: Vec<&str> = offs.windows(2).map(|w| std::str::from_utf8(&c.series_defs[w[0]..w[1]]).unwrap()).collect();
    assert_eq!(defs[0], r#"{"__name__":"m_v","db":"db1","host":"a"}"#);
    assert_eq!(defs[1], r#"{"__name__":"m_w","db":"db1","host":"a"}"#);
    // tag value `"x\\\"<U+1>é"` unescapes to `"x\\"<U+1>é"` (`\"` is not an escape there)
    assert_eq!(defs[2], r#"{"__name__":"m_v","db":"db1","q":"\"x\\\\\"\u0001é\""}"#);
    // the id is the series hash of the label set
    let h = series_hash([(&b"__name__"[..], &b"m_v"[..]), (b"db", b"db1"), (b"host", b"a")]);
    assert_eq!(ids[0], h as i64);
}

#[test]
fn counts_only_output() {
    let r = Ingestor::new().ingest(corpus(5, 10).as_bytes(), &opts(Output::None));
    assert_eq!((r.samples, r.data[0].clone()), (30, OutputData::None));
}

#[test]
fn series_hashes_are_the_distinct_series_in_first_seen_order() {
    // 7 devices × 3 numeric fields (and a string field, skipped) = 21 series
    // over 50 lines that repeat them.
    let input = corpus(7, 50);
    let with = |output: Output| IngestOptions { series_hashes: true, ..opts(output) };
    let sh = Sharding::new(3, 2).unwrap();
    let rw = Ingestor::new().ingest(input.as_bytes(), &with(Output::RemoteWrite(sh)));
    let hashes = rw.series_hashes.clone().expect("series hashes");
    assert_eq!(hashes.len(), 21);
    let mut distinct = hashes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 21);
    // each is series_hash of a series' labels, in the order its first line
    // and field appear: dev-0000 usage_user, temp, ok; dev-0001 ...
    let expected: Vec<u64> = (0..7)
        .flat_map(|d| {
            ["cpu_usage_user", "cpu_temp", "cpu_ok"].map(|name| {
                let host = format!("dev-{d:04}");
                series_hash([
                    (&b"__name__"[..], name.as_bytes()),
                    (b"db", b"db1"),
                    (b"host", host.as_bytes()),
                    (b"region", b"eu"),
                ])
            })
        })
        .collect();
    assert_eq!(hashes, expected);
    // the remote-write payloads carry exactly these series
    let OutputData::RemoteWrite(out) = rw.data[0].clone() else { panic!() };
    let mut sent: Vec<u64> = out
        .shards
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| decode(p).timeseries)
        .map(|ts| series_hash(ts.labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))))
        .collect();
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent, distinct);
    // columns: the same hashes, and the same bits as the distinct series ids
    let cols = Ingestor::new().ingest(input.as_bytes(), &with(Output::Columns));
    assert_eq!(cols.series_hashes.as_deref(), Some(&hashes[..]));
    let OutputData::Columns(c) = cols.data[0].clone() else { panic!() };
    assert_eq!(le_i64(&c.distinct_ids), hashes.iter().map(|&h| h as i64).collect::<Vec<_>>());
    // not asked for, or no series table (counts only): none
    assert_eq!(Ingestor::new().ingest(input.as_bytes(), &opts(Output::Columns)).series_hashes, None);
    assert_eq!(Ingestor::new().ingest(input.as_bytes(), &with(Output::None)).series_hashes, None);
    // a batch without samples: an empty list
    assert_eq!(Ingestor::new().ingest(b"bad\n", &with(Output::Columns)).series_hashes, Some(vec![]));
}

#[test]
fn series_hashes_of_a_reused_ingestor_are_per_batch() {
    let o = IngestOptions { series_hashes: true, ..opts(Output::Columns) };
    let mut ing = Ingestor::new();
    let first = ing.ingest(b"m,host=a v=1\nm,host=b v=1\n", &o).series_hashes.unwrap();
    let second = ing.ingest(b"m,host=b v=2\n", &o).series_hashes.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(second, vec![first[1]]);
}

#[test]
fn merged_payloads_hold_every_series_of_each_in_order() {
    let o = |lp: &str| {
        let r = Ingestor::new().ingest(lp.as_bytes(), &opts(Output::RemoteWrite(Sharding::new(1, 1).unwrap())));
        let OutputData::RemoteWrite(rw) = r.data[0].clone() else { panic!() };
        rw.shards[0].clone()
    };
    let a = o("m,host=a v=1 1000000000000000000\n");
    let b = o("m,host=b v=2 1000000000000000000\nm,host=a v=3 1000000001000000000\n");
    let merged = sentio_core::merge_remote_write(&[&a, &[], &b]).unwrap();
    let got: Vec<(String, f64)> = decode(&merged)
        .timeseries
        .iter()
        .map(|t| (t.labels.iter().find(|l| l.name == "host").unwrap().value.clone(), t.samples[0].value))
        .collect();
    assert_eq!(got, vec![("a".into(), 1.0), ("b".into(), 2.0), ("a".into(), 3.0)]);
    assert_eq!(sentio_core::merge_remote_write(&[&[], &[]]).unwrap(), Vec::<u8>::new());
    let e = sentio_core::merge_remote_write(&[&a, b"not snappy at all"]).unwrap_err();
    assert!(e.starts_with("payload 1: invalid snappy payload"), "{e}");
}
