//! msgpack batch decoding.

mod common;
use common::{ingest_series, opts, value, NOW};
use rmp::encode as e;
use sentio_core::{Format, Precision};

/// Writes one msgpack value.
type Enc<'a> = &'a dyn Fn(&mut Vec<u8>);

fn s(b: &mut Vec<u8>, v: &str) {
    e::write_str(b, v).unwrap();
}

/// `[measurement, tags, fields, ts]` with tags/fields as (key, encoder) lists.
fn point(b: &mut Vec<u8>, meas: &str, tags: Option<&[(&str, &str)]>, fields: &[(&str, Enc<'_>)], ts: Option<Enc<'_>>) {
    e::write_array_len(b, if ts.is_some() { 4 } else { 3 }).unwrap();
    s(b, meas);
    match tags {
        None => e::write_nil(b).unwrap(),
        Some(t) => {
            e::write_map_len(b, t.len() as u32).unwrap();
            for (k, v) in t {
                s(b, k);
                s(b, v);
            }
        }
    }
    e::write_map_len(b, fields.len() as u32).unwrap();
    for (k, f) in fields {
        s(b, k);
        f(b);
    }
    if let Some(ts) = ts {
        ts(b);
    }
}

fn envelope(extra: &[(&str, Enc<'_>)], points: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    e::write_map_len(&mut b, extra.len() as u32 + 1).unwrap();
    for (k, f) in extra {
        s(&mut b, k);
        f(&mut b);
    }
    s(&mut b, "points");
    e::write_array_len(&mut b, points.len() as u32).unwrap();
    for p in points {
        b.extend_from_slice(p);
    }
    b
}

fn one(f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = Vec::new();
    f(&mut b);
    b
}

fn f64v(v: f64) -> impl Fn(&mut Vec<u8>) {
    move |b| drop(e::write_f64(b, v))
}

#[test]
fn decodes_a_batch_with_all_value_types() {
    let p1 = one(|b| {
        point(
            b,
            "cpu",
            Some(&[("host", "a"), ("empty", "")]),
            &[
                ("f", &f64v(1.5)),
                ("f32", &|b| drop(e::write_f32(b, 0.25))),
                ("i", &|b| drop(e::write_sint(b, -7))),
                ("u", &|b| drop(e::write_u64(b, u64::MAX))),
                ("t", &|b| drop(e::write_bool(b, true))),
                ("s", &|b| s(b, "text")),
            ],
            Some(&|b| drop(e::write_uint(b, 1_700_000_000))),
        )
    });
    let p2 = one(|b| point(b, "mem", None, &[("v", &f64v(2.0))], None));
    let p3 = one(|b| point(b, "mem", None, &[("w", &f64v(3.0))], Some(&|b| drop(e::write_nil(b)))));
    let p4 = one(|b| point(b, "mem", None, &[("x", &f64v(4.0))], Some(&|b| drop(e::write_f64(b, 1_700_000_001.0)))));
    let batch = envelope(
        &[("seq", &|b| drop(e::write_uint(b, 42))), ("db", &|b| s(b, "telemetry")), ("precision", &|b| s(b, "s"))],
        &[p1, p2, p3, p4],
    );
    let (r, series) = ingest_series(&batch, &opts(Format::Msgpack, None, None));
    assert_eq!((r.lines, r.rejected, r.samples, r.skipped_strings, r.seq), (4, 0, 8, 1, Some(42)), "{:?}", r.errors);
    assert_eq!(series["cpu_f{db=telemetry,host=a}"], vec![(1_700_000_000_000, 1.5)]);
    assert_eq!(value(&series, "cpu_f32{db=telemetry,host=a}"), 0.25);
    assert_eq!(value(&series, "cpu_i{db=telemetry,host=a}"), -7.0);
    assert_eq!(value(&series, "cpu_u{db=telemetry,host=a}"), u64::MAX as f64);
    assert_eq!(value(&series, "cpu_t{db=telemetry,host=a}"), 1.0);
    assert_eq!(series["mem_v{db=telemetry}"], vec![(NOW, 2.0)]);
    assert_eq!(series["mem_w{db=telemetry}"], vec![(NOW, 3.0)]);
    assert_eq!(series["mem_x{db=telemetry}"], vec![(1_700_000_001_000, 4.0)]);
}

#[test]
fn precision_defaults_to_ms_and_option_overrides_batch() {
    let p = one(|b| point(b, "m", None, &[("v", &f64v(1.0))], Some(&|b| drop(e::write_uint(b, 1_700_000_000_123)))));
    let (_, s1) = ingest_series(&envelope(&[], std::slice::from_ref(&p)), &opts(Format::Msgpack, None, None));
    assert_eq!(s1["m_v{}"], vec![(1_700_000_000_123, 1.0)]);
    let batch = envelope(&[("precision", &|b| s(b, "s"))], std::slice::from_ref(&p));
    let (_, s2) = ingest_series(&batch, &opts(Format::Msgpack, Some(Precision::Ms), None));
    assert_eq!(s2["m_v{}"], vec![(1_700_000_000_123, 1.0)]);
    let p = one(|b| point(b, "m", None, &[("v", &f64v(1.0))], Some(&|b| drop(e::write_sint(b, 1_700_000_000_123_456_789)))));
    let batch = envelope(&[("precision", &|b| s(b, "ns"))], &[p]);
    let (_, s3) = ingest_series(&batch, &opts(Format::Msgpack, None, None));
    assert_eq!(s3["m_v{}"], vec![(1_700_000_000_123, 1.0)]);
}

#[test]
fn db_tag_wins_and_option_db_wins_over_batch_db() {
    let p1 = one(|b| point(b, "m", Some(&[("db", "own")]), &[("v", &f64v(1.0))], None));
    let p2 = one(|b| point(b, "n", None, &[("v", &f64v(1.0))], None));
    let batch = envelope(&[("db", &|b| s(b, "batch"))], &[p1, p2]);
    let (_, s) = ingest_series(&batch, &opts(Format::Msgpack, None, Some("opt")));
    assert!(s.contains_key("m_v{db=own}") && s.contains_key("n_v{db=opt}"), "{s:?}");
}

#[test]
fn per_point_errors() {
    let good = one(|b| point(b, "ok", None, &[("v", &f64v(1.0))], None));
    let bad: Vec<Vec<u8>> = vec![
        one(|b| {
            e::write_array_len(b, 3).unwrap();
            e::write_uint(b, 5).unwrap();
            e::write_nil(b).unwrap();
            e::write_map_len(b, 0).unwrap();
        }),
        one(|b| point(b, "m", None, &[], None)),
        one(|b| {
            e::write_array_len(b, 2).unwrap();
            s(b, "m");
            e::write_nil(b).unwrap();
        }),
        one(|b| point(b, "m", None, &[("v", &f64v(1.0))], Some(&|b| drop(e::write_f64(b, 1.5))))),
        one(|b| point(b, "m", None, &[("v", &|b| drop(e::write_nil(b)))], None)),
        one(|b| point(b, "m", None, &[("", &f64v(1.0))], None)),
        one(|b| {
            e::write_array_len(b, 3).unwrap();
            s(b, "m");
            e::write_map_len(b, 1).unwrap();
            s(b, "host");
            e::write_uint(b, 1).unwrap();
            e::write_map_len(b, 1).unwrap();
            s(b, "v");
            e::write_f64(b, 1.0).unwrap();
        }),
        one(|b| {
            e::write_array_len(b, 3).unwrap();
            e::write_str_len(b, 2).unwrap();
            b.extend_from_slice(b"\xff\xfe");
            e::write_nil(b).unwrap();
            e::write_map_len(b, 1).unwrap();
            s(b, "v");
            e::write_f64(b, 1.0).unwrap();
        }),
        one(|b| point(b, "m", None, &[("v", &f64v(1.0))], Some(&|b| drop(e::write_u64(b, u64::MAX))))),
        one(|b| point(b, "m", None, &[("v", &|b| drop(e::write_bin(b, b"x")))], None)),
    ];
    let mut points = vec![good.clone()];
    points.extend(bad.iter().cloned());
    points.push(good);
    let (r, s) = ingest_series(&envelope(&[], &points), &opts(Format::Msgpack, None, None));
    assert_eq!((r.lines as usize, r.rejected as usize, r.samples), (bad.len() + 2, bad.len(), 2), "{:?}", r.errors);
    let lines: Vec<u32> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, (2..=bad.len() as u32 + 1).collect::<Vec<_>>());
    assert_eq!(s["ok_v{}"].len(), 2);
}

#[test]
fn malformed_envelope_is_one_error_and_nothing_accepted() {
    let good = one(|b| point(b, "ok", None, &[("v", &f64v(1.0))], None));
    let full = envelope(&[], std::slice::from_ref(&good));
    let mut trailing = full.clone();
    trailing.push(0xc0);
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        one(|b| drop(e::write_array_len(b, 0))),
        full[..full.len() - 2].to_vec(),
        trailing,
        envelope(&[("precision", &|b| s(b, "fortnights"))], std::slice::from_ref(&good)),
        one(|b| {
            e::write_map_len(b, 1).unwrap();
            s(b, "points");
            e::write_uint(b, 1).unwrap();
        }),
        one(|b| {
            e::write_map_len(b, 1).unwrap();
            s(b, "seq");
            e::write_uint(b, 1).unwrap();
        }),
        vec![0x81, 0xa6, b'p', b'o', b'i', b'n', b't', b's', 0x91, 0xc1],
    ];
    for (i, c) in cases.iter().enumerate() {
        let (r, s) = ingest_series(c, &opts(Format::Msgpack, None, None));
        assert_eq!((r.lines, r.samples, r.errors.len()), (0, 0, 1), "case {i}");
        assert_eq!(r.errors[0].line, 0, "case {i}");
        assert!(s.is_empty());
    }
}

#[test]
fn unknown_envelope_keys_are_skipped() {
    let good = one(|b| point(b, "ok", None, &[("v", &f64v(1.0))], None));
    let batch = envelope(
        &[("meta", &|b| {
            e::write_map_len(b, 1).unwrap();
            s(b, "k");
            e::write_array_len(b, 2).unwrap();
            e::write_bin(b, b"xyz").unwrap();
            e::write_ext_meta(b, 1, 5).unwrap();
            b.push(0);
        })],
        &[good],
    );
    let (r, _) = ingest_series(&batch, &opts(Format::Msgpack, None, None));
    assert_eq!((r.lines, r.rejected, r.samples), (1, 0, 1), "{:?}", r.errors);
}

#[test]
fn max_tags_rejects_points_with_more_tags() {
    let tags_of = |t: &[(&str, &str)]| one(|b| point(b, "m", Some(t), &[("v", &f64v(1.0))], None));
    let points = vec![
        tags_of(&[("a", "1"), ("b", "2")]),
        tags_of(&[("a", "1"), ("b", "2"), ("c", "3")]),
        // empty tags are dropped and do not count
        tags_of(&[("a", "1"), ("b", "2"), ("c", ""), ("", "4")]),
        // a repeated name counts each time
        tags_of(&[("a", "1"), ("a", "2"), ("a", "3")]),
        one(|b| point(b, "m", None, &[("v", &f64v(2.0))], None)),
    ];
    let batch = envelope(&[], &points);
    let mut o = opts(Format::Msgpack, None, None);
    o.max_tags = Some(2);
    let (r, s) = ingest_series(&batch, &o);
    assert_eq!((r.lines, r.rejected, r.samples), (5, 2, 3), "{:?}", r.errors);
    let errs: Vec<_> = r.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(errs, [(2, "point has more than 2 tags"), (4, "point has more than 2 tags")]);
    assert_eq!(s["m_v{a=1,b=2}"].len(), 2);
    assert_eq!(s["m_v{}"].len(), 1);
    // max_line_bytes does not apply to msgpack
    o.max_tags = Some(3);
    o.max_line_bytes = Some(1);
    let (r, _) = ingest_series(&batch, &o);
    assert_eq!((r.lines, r.rejected), (5, 0), "{:?}", r.errors);
}

#[test]
fn peek_seq_reads_the_first_top_level_seq_without_decoding() {
    use sentio_core::msgpack::peek_seq;
    // {"seq": 7, "points": []}
    assert_eq!(peek_seq(&[0x82, 0xa3, b's', b'e', b'q', 0x07, 0xa6, b'p', b'o', b'i', b'n', b't', b's', 0x90]), Some(7));
    // {"db": "x", "seq": uint64 2^40}
    let mut b = vec![0x82, 0xa2, b'd', b'b', 0xa1, b'x', 0xa3, b's', b'e', b'q', 0xcf];
    b.extend_from_slice(&(1u64 << 40).to_be_bytes());
    assert_eq!(peek_seq(&b), Some(1 << 40));
    let cases: [(&str, &[u8]); 6] = [
        ("not a map", &[0x91, 0x01]),
        ("no seq", &[0x81, 0xa2, b'd', b'b', 0xa1, b'x']),
        ("negative", &[0x81, 0xa3, b's', b'e', b'q', 0xff]),
        ("a float", &[0x81, 0xa3, b's', b'e', b'q', 0xca, 0, 0, 0, 0]),
        ("non-string key first", &[0x82, 0x01, 0x02, 0xa3, b's', b'e', b'q', 0x01]),
        ("truncated", &[0x82, 0xa2, b'd', b'b', 0xd9]),
    ];
    for (name, frame) in cases {
        assert_eq!(peek_seq(frame), None, "{name}");
    }
}

#[test]
fn a_second_seq_key_is_refused() {
    // {"seq": 1, "seq": 2, "points": []}
    let b = [0x83, 0xa3, b's', b'e', b'q', 0x01, 0xa3, b's', b'e', b'q', 0x02, 0xa6, b'p', b'o', b'i', b'n', b't', b's', 0x90];
    assert_eq!(sentio_core::msgpack::read_envelope(&b).unwrap_err(), "seq given twice");
    assert_eq!(sentio_core::msgpack::peek_seq(&b), Some(1));
}
