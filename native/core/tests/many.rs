//! Several inputs parsed as one batch (`Ingestor::ingest_many`): each input
//! counted on its own, with its own labels and format, and the outputs
//! holding exactly what ingesting each input alone would have held.

mod common;
use common::{opts, render, Series, NOW};
use rmp::encode as e;
use sentio_core::{decode_remote_write, Format, IngestOptions, Ingestor, Output, OutputData, Part, Precision, Sharding, Target};

fn decoded(data: &[OutputData]) -> Series {
    let mut out = Series::new();
    for d in data {
        if let OutputData::RemoteWrite(rw) = d {
            for shard in &rw.shards {
                for s in decode_remote_write(shard).unwrap() {
                    out.entry(render(&s.labels)).or_default().extend(s.samples);
                }
            }
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    out
}

fn lp_part<'a>(input: &'a str, labels: &'a [(&'a str, &'a str)]) -> Part<'a> {
    Part { input: input.as_bytes(), format: Format::LineProtocol, precision: Some(Precision::Ms), db: None, labels }
}

/// A msgpack batch `{seq, points: [["m", {host}, {v}, ts]]}`.
fn msgpack(seq: u64, host: &str, v: f64, ts: i64) -> Vec<u8> {
    let mut b = Vec::new();
    e::write_map_len(&mut b, 2).unwrap();
    e::write_str(&mut b, "seq").unwrap();
    e::write_uint(&mut b, seq).unwrap();
    e::write_str(&mut b, "points").unwrap();
    e::write_array_len(&mut b, 1).unwrap();
    e::write_array_len(&mut b, 4).unwrap();
    e::write_str(&mut b, "m").unwrap();
    e::write_map_len(&mut b, 1).unwrap();
    e::write_str(&mut b, "host").unwrap();
    e::write_str(&mut b, host).unwrap();
    e::write_map_len(&mut b, 1).unwrap();
    e::write_str(&mut b, "v").unwrap();
    e::write_f64(&mut b, v).unwrap();
    e::write_sint(&mut b, ts).unwrap();
    b
}

fn shared(outputs: Vec<Target>) -> IngestOptions<'static> {
    IngestOptions { outputs, ..opts(Format::LineProtocol, None, None) }
}

#[test]
fn the_same_line_from_two_devices_is_two_series() {
    // The raw-key cache must not carry one input's default labels into the next.
    let line = "m,host=a v=1 1000\nm,host=a v=2 2000\n";
    let (d1, d2) = ([("device", "d1")], [("device", "d2")]);
    let parts = [lp_part(line, &d1), lp_part(line, &d2)];
    let got = Ingestor::new().ingest_many(&parts, &shared(vec![Target::all(Output::RemoteWrite(Sharding::new(1, 1).unwrap()))]));
    let series = decoded(&got.data);
    assert_eq!(series.len(), 2, "{series:?}");
    assert_eq!(series["m_v{device=d1,host=a}"], vec![(1000, 1.0), (2000, 2.0)]);
    assert_eq!(series["m_v{device=d2,host=a}"], vec![(1000, 1.0), (2000, 2.0)]);
    assert_eq!(got.parts.iter().map(|p| (p.lines, p.samples)).collect::<Vec<_>>(), vec![(2, 2), (2, 2)]);
}

#[test]
fn outputs_hold_what_each_input_alone_would_hold() {
    let (d1, d2, d3) = ([("device", "d1")], [("device", "d2"), ("site", "north")], [("device", "d3")]);
    let mp = msgpack(7, "b", 4.5, NOW - 10);
    let inputs: Vec<Part<'_>> = vec![
        lp_part("cpu,host=a usage=1,idle=2 1000\nbad line\ncpu,host=a usage=3 2000\n", &d1),
        Part { input: &mp, format: Format::Msgpack, precision: None, db: Some("plant"), labels: &d2 },
        lp_part("mem,host=a used=5 1000\ntext,host=a s=\"x\" 1000\n", &d3),
    ];
    for shards in [1, 3] {
        let target = || vec![Target::all(Output::RemoteWrite(Sharding::new(shards, 1).unwrap()))];
        let many = Ingestor::new().ingest_many(&inputs, &shared(target()));
        let mut alone = Series::new();
        for (i, part) in inputs.iter().enumerate() {
            let o = IngestOptions { format: part.format, precision: part.precision, db: part.db, labels: part.labels, ..shared(target()) };
            let r = Ingestor::new().ingest(part.input, &o);
            let p = &many.parts[i];
            assert_eq!((p.lines, p.rejected, p.samples, p.skipped_strings, p.seq), (r.lines, r.rejected, r.samples, r.skipped_strings, r.seq), "input {i}");
            assert_eq!(p.errors, r.errors, "input {i}: errors numbered within the input");
            alone.extend(decoded(&r.data));
        }
        assert_eq!(decoded(&many.data), alone, "{shards} shards");
    }
    assert_eq!(Ingestor::new().ingest_many(&inputs, &shared(vec![])).parts[1].seq, Some(7));
}

#[test]
fn a_malformed_msgpack_input_fails_alone() {
    let d = [("device", "d1")];
    let parts = [
        Part { input: b"\xc1not msgpack", format: Format::Msgpack, precision: None, db: None, labels: &d },
        lp_part("m,host=a v=1 1000\n", &d),
    ];
    let got = Ingestor::new().ingest_many(&parts, &shared(vec![Target::all(Output::Columns)]));
    assert_eq!(got.parts[0].errors.len(), 1);
    assert_eq!(got.parts[0].errors[0].line, 0, "line 0: the envelope");
    assert_eq!((got.parts[0].samples, got.parts[1].samples), (0, 1));
    match &got.data[0] {
        OutputData::Columns(c) => assert_eq!(c.samples, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn filters_and_unrouted_counts_cover_all_inputs() {
    use sentio_core::{LabelMatcher, MatchOp, SeriesFilter};
    use std::sync::Arc;
    let only_d1 = Arc::new(SeriesFilter::new(vec![vec![LabelMatcher::new("device", MatchOp::Equal, "d1").unwrap()]]));
    let (d1, d2) = ([("device", "d1")], [("device", "d2")]);
    let parts = [lp_part("m v=1 1000\nm v=2 2000\n", &d1), lp_part("m v=3 1000\n", &d2)];
    let target = Target { output: Output::Columns, filter: Some(only_d1) };
    let got = Ingestor::new().ingest_many(&parts, &shared(vec![target]));
    assert_eq!(got.unrouted_samples, 1);
    match &got.data[0] {
        OutputData::Columns(c) => assert_eq!(c.samples, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_input_gets_its_own_distinct_series() {
    let d = [("device", "d1")];
    let other = [("device", "d2")];
    let inputs = [
        lp_part("m,host=a v=1,w=2 1000\nm,host=a v=3 2000\n", &d),
        lp_part("m,host=b v=1 1000\nm,host=a v=5 1000\n", &d),
        lp_part("m,host=a v=1 1000\n", &other),
    ];
    let o = IngestOptions { series_hashes: true, ..shared(vec![Target::all(Output::Columns)]) };
    let many = Ingestor::new().ingest_many(&inputs, &o);
    let all = many.series_hashes.clone().expect("asked for");
    let mut at = 0;
    for (i, part) in inputs.iter().enumerate() {
        let alone = Ingestor::new().ingest(part.input, &IngestOptions { labels: part.labels, ..o.clone() });
        let n = many.parts[i].series as usize;
        assert_eq!(&all[at..at + n], &alone.series_hashes.unwrap()[..], "input {i}: the series it would have alone, in its order");
        at += n;
    }
    assert_eq!(at, all.len());
    assert_eq!(many.parts.iter().map(|p| p.series).collect::<Vec<_>>(), vec![2, 2, 1], "m_v{{host=a}} of device d1 is in inputs 0 and 1");
    assert!(Ingestor::new().ingest_many(&inputs, &shared(vec![Target::all(Output::Columns)])).series_hashes.is_none());
}
