//! Line protocol parsing and mapping. Every expectation here was checked
//! against VictoriaMetrics 1.79.5 (see docs/vm-line-protocol.md).

mod common;
use common::{lp, value, NOW};
use sentio_core::Precision;

const TS: &str = "1795756137000000000";
const TS_MS: i64 = 1_795_756_137_000;

fn ok(line: &str) -> common::Series {
    let (r, s) = lp(&format!("{line} {TS}\n"), None, Some("mydb"));
    assert_eq!(r.rejected, 0, "{line}: {:?}", r.errors);
    s
}

fn rejected(line: &str) -> String {
    let (r, s) = lp(&format!("{line}\n"), None, Some("mydb"));
    assert_eq!((r.lines, r.rejected, r.samples), (1, 1, 0), "{line} should be rejected: {s:?}");
    assert!(s.is_empty());
    assert_eq!(r.errors[0].line, 1);
    r.errors[0].reason.clone()
}

#[test]
fn basic_mapping_and_db_label() {
    let s = ok("cpu,host=a,region=eu usage=1.5,temp=40i");
    assert_eq!(s["cpu_usage{db=mydb,host=a,region=eu}"], vec![(TS_MS, 1.5)]);
    assert_eq!(value(&s, "cpu_temp{db=mydb,host=a,region=eu}"), 40.0);
    // no db option: no db label
    let (_, s) = lp(&format!("cpu,host=a v=1 {TS}"), None, None);
    assert!(s.contains_key("cpu_v{host=a}"));
}

#[test]
fn db_tag_wins_over_option_and_empty_db_tag_is_dropped() {
    assert!(ok("m,db=orig v=1").contains_key("m_v{db=orig}"));
    assert!(ok("m,db= v=1").contains_key("m_v{db=mydb}"));
}

#[test]
fn labels_sorted_and_db_inserted_in_order() {
    let s = ok("m,zz=1,aa=2,Up=3,dc=4 v=1");
    assert!(s.contains_key("m_v{Up=3,aa=2,db=mydb,dc=4,zz=1}"), "{s:?}");
}

#[test]
fn string_fields_are_skipped_other_fields_kept() {
    let (r, s) = lp(&format!("m,host=a s=\"hello, world x=1\",v=2,q=\"a \\\" b\" {TS}\n"), None, None);
    assert_eq!((r.rejected, r.samples, r.skipped_strings), (0, 1, 2), "{:?}", r.errors);
    assert_eq!(value(&s, "m_v{host=a}"), 2.0);
    let (r, s) = lp("m s=\"only\"\n", None, None);
    assert_eq!((r.lines, r.rejected, r.samples, r.skipped_strings), (1, 0, 0, 1));
    assert!(s.is_empty());
}

#[test]
fn empty_and_duplicate_tags() {
    assert!(ok("m,host=,rack=r1 v=1").contains_key("m_v{db=mydb,rack=r1}"));
    assert!(ok("m,=x,rack=r1 v=1").contains_key("m_v{db=mydb,rack=r1}"));
    assert!(ok("m,host=a,host=b v=1").contains_key("m_v{db=mydb,host=b}"));
    assert!(ok("m,host=b,host=a v=1").contains_key("m_v{db=mydb,host=a}"));
    assert!(ok("m,host=a=b v=1").contains_key("m_v{db=mydb,host=a=b}"));
    assert!(ok("m,host=\"q\" v=1").contains_key("m_v{db=mydb,host=\"q\"}"));
    // a __name__ tag does not override the metric name
    assert!(ok("m,__name__=zzz v=1").contains_key("m_v{db=mydb}"));
}

#[test]
fn booleans() {
    let s = ok("b a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE");
    for k in ["a", "b", "c", "d", "e"] {
        assert_eq!(value(&s, &format!("b_{k}{{db=mydb}}")), 1.0);
    }
    for k in ["f", "g", "h", "i", "j"] {
        assert_eq!(value(&s, &format!("b_{k}{{db=mydb}}")), 0.0);
    }
    rejected("b a=tRUE");
    rejected("b a=yes");
}

#[test]
fn integers_and_unsigned() {
    let s = ok("n i=123i,n=-5i,u=123u,big=9223372036854775807i,ubig=18446744073709551615u,z=-0i,lz=007i");
    assert_eq!(value(&s, "n_i{db=mydb}"), 123.0);
    assert_eq!(value(&s, "n_n{db=mydb}"), -5.0);
    assert_eq!(value(&s, "n_u{db=mydb}"), 123.0);
    assert_eq!(value(&s, "n_big{db=mydb}"), 9223372036854775807i64 as f64);
    assert_eq!(value(&s, "n_ubig{db=mydb}"), u64::MAX as f64);
    assert_eq!(value(&s, "n_lz{db=mydb}"), 7.0);
    for bad in ["n v=12.5i", "n v=-1u", "n v=9223372036854775808i", "n v=+5i", "n v=i", "n v=infi", "n v=1e3i"] {
        assert!(rejected(bad).contains("field"), "{bad}");
    }
}

#[test]
fn floats_as_victoriametrics_reads_them() {
    let s = ok("f a=1e3,b=-1.5E-7,c=0.1,d=1E+3,e=1.e5,f=-0.5,g=007,h=1e308,i=12345.678e-3,j=-1e3");
    let v = |k: &str| value(&s, &format!("f_{k}{{db=mydb}}"));
    assert_eq!(v("a"), 1000.0);
    assert_eq!(v("b"), -1.5e-7);
    assert_eq!(v("c"), 0.1);
    assert_eq!(v("d"), 1000.0);
    assert_eq!(v("e"), 1e5);
    assert_eq!(v("f"), -0.5);
    assert_eq!(v("g"), 7.0);
    assert_eq!(v("h"), 1e308);
    assert_eq!(v("i"), 12.345678);
    assert_eq!(v("j"), -1000.0);
    let s = ok("f a=inf,b=-Inf,c=+inf,d=infinity,e=NaN,f=nan");
    assert_eq!(value(&s, "f_a{db=mydb}"), f64::INFINITY);
    assert_eq!(value(&s, "f_b{db=mydb}"), f64::NEG_INFINITY);
    assert_eq!(value(&s, "f_c{db=mydb}"), f64::INFINITY);
    assert_eq!(value(&s, "f_d{db=mydb}"), f64::INFINITY);
    assert!(value(&s, "f_e{db=mydb}").is_nan());
    // VictoriaMetrics stores 0 for these; Sentio rejects the line instead.
    for bad in [".5", "1.", "+1", "abc", "0x10", "1_000", "1e", "e5", "-.5", "-", "1e+", "1.5.5"] {
        assert!(rejected(&format!("f v={bad} {TS}")).contains("invalid number"), "{bad}");
    }
}

#[test]
fn long_mantissas_use_exact_parsing() {
    let s = ok("f a=0.30000000000000004441,b=123456789012345678901234,c=12345678901234567890");
    assert_eq!(value(&s, "f_a{db=mydb}"), "0.30000000000000004441".parse::<f64>().unwrap());
    assert_eq!(value(&s, "f_b{db=mydb}"), 123456789012345678901234.0);
    assert_eq!(value(&s, "f_c{db=mydb}"), 12345678901234567890.0);
}

#[test]
fn names_with_dots_dashes_spaces_unicode() {
    let s = ok("t11.dot-dash,host=a fi.eld-x=1,f\\ sp=2,ünï=3");
    assert!(s.contains_key("t11.dot-dash_fi.eld-x{db=mydb,host=a}"));
    assert!(s.contains_key("t11.dot-dash_f sp{db=mydb,host=a}"));
    assert!(s.contains_key("t11.dot-dash_ünï{db=mydb,host=a}"));
}

#[test]
fn escapes() {
    let s = ok(r"t12\ sp\,c,ta\,g\=k\ x=va\,l\=v\ x fk\,\=\ x=1");
    assert!(s.contains_key("t12 sp,c_fk,= x{db=mydb,ta,g=k x=va,l=v x}"), "{s:?}");
    assert!(ok(r"m,host=a\\b v=1").contains_key(r"m_v{db=mydb,host=a\b}"));
    assert!(ok(r"m,host=a\xb v=1").contains_key(r"m_v{db=mydb,host=a\xb}"));
    assert!(ok(r"m\=x v=1").contains_key(r"m=x_v{db=mydb}"));
    // an escaped space does not end the tag section
    rejected(&format!(r"m,host=a\ v=5 {TS}"));
}

#[test]
fn empty_measurement_uses_field_key() {
    assert!(ok(",host=a t37=1").contains_key("t37{db=mydb,host=a}"));
}

#[test]
fn timestamps_missing_or_zero_mean_now() {
    let (_, s) = lp("m v=1\nm w=1 0\n", None, None);
    assert_eq!(s["m_v{}"], vec![(NOW, 1.0)]);
    assert_eq!(s["m_w{}"], vec![(NOW, 1.0)]);
    let (_, s) = lp("m v=1 0\n", Some(Precision::S), None);
    assert_eq!(s["m_v{}"], vec![(NOW, 1.0)]);
}

#[test]
fn timestamp_precisions() {
    let cases: &[(Option<Precision>, &str, i64)] = &[
        (Some(Precision::Ns), "1795756201123456789", 1_795_756_201_123),
        (Some(Precision::Ns), "1795756201", 1_795),
        (Some(Precision::Ns), "-1500000", -1),
        (Some(Precision::Us), "1795756201123456", 1_795_756_201_123),
        (Some(Precision::Us), "-1500", -1),
        (Some(Precision::Ms), "1795756201123", 1_795_756_201_123),
        (Some(Precision::Ms), "-5", -5),
        (Some(Precision::S), "1795756201", 1_795_756_201_000),
        (Some(Precision::M), "29929270", 1_795_756_200_000),
        (Some(Precision::H), "498821", 1_795_755_600_000),
        // no precision: VictoriaMetrics guesses the unit from the magnitude
        (None, "1795756201123456789", 1_795_756_201_123),
        (None, "99999999999999999", 99_999_999_999_999),
        (None, "100000000000000000", 100_000_000_000),
        (None, "100000000000000", 100_000_000_000),
        (None, "99999999999999", 99_999_999_999_999),
        (None, "100000000000", 100_000_000_000),
        (None, "99999999999", 99_999_999_999_000),
        (None, "999999", 999_999_000),
        (None, "-1500000", -1_500_000_000),
    ];
    for &(p, ts, want) in cases {
        let (r, s) = lp(&format!("m v=1 {ts}\n"), p, None);
        assert_eq!(r.rejected, 0, "{ts}");
        assert_eq!(s["m_v{}"], vec![(want, 1.0)], "{p:?} {ts}");
    }
    let (r, _) = lp("m v=1 9223372036854775807\n", Some(Precision::S), None);
    assert_eq!(r.errors[0].reason, "timestamp out of range");
}

#[test]
fn spacing_crlf_comments_blank_lines() {
    let input = format!("# comment\n\nm,h=a  v=1  {TS}\r\nm,h=a w=2 {TS}\r\n\r\n#x v=1\nm x=3");
    let (r, s) = lp(&input, None, None);
    assert_eq!((r.lines, r.rejected, r.samples), (3, 0, 3), "{:?}", r.errors);
    assert_eq!(value(&s, "m_v{h=a}"), 1.0);
    assert_eq!(s["m_x{}"], vec![(NOW, 3.0)]);
}

#[test]
fn samples_of_one_series_are_grouped() {
    let (r, s) = lp("m,h=a v=1 1000000000000000000\nm,h=a v=2 1000000001000000000\nm v=1,v=2 1000000000000000000\n", None, None);
    assert_eq!(r.samples, 4);
    assert_eq!(s["m_v{h=a}"], vec![(1_000_000_000_000, 1.0), (1_000_000_001_000, 2.0)]);
    assert_eq!(s["m_v{}"], vec![(1_000_000_000_000, 1.0), (1_000_000_000_000, 2.0)]);
}

#[test]
fn malformed_lines() {
    let cases = [
        "t16_nofield,host=a 1795756137000000000",
        "t17 v=",
        "t18 v=1 1795756137000000000 xyz",
        "t19 v=1 12ab",
        "t20 v=1 1.7e18",
        "t21 v=1 +1795756137000000000",
        "t24 =1",
        "t26 s=\"abc 1795756137000000000",
        "t26b s=\"abc",
        "t26c s=\"",
        "t27,host v=1",
        "t38_meas_only",
        " t40 v=1",
        "t42 v=1,",
        "t43,host=a, v=1",
        "t44 v=1 ",
        "t45\tv=1 1795756137000000000",
        "t46 v=1\t1795756137000000000",
        "t47 v=1=2",
        "t48 ,v=1",
        "t49 v=\"a\"b",
        "t50 v=1 1795756137000000000 1",
    ];
    for c in cases {
        rejected(c);
    }
}

#[test]
fn errors_carry_line_numbers_and_good_lines_are_kept() {
    let input = "# c\nm v=1\nbad\n\nm w=x\nm z=2\n";
    let (r, s) = lp(input, None, None);
    assert_eq!((r.lines, r.rejected, r.samples), (4, 2, 2));
    let lines: Vec<u32> = r.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 5]);
    assert_eq!(s.len(), 2);
}

#[test]
fn max_errors_caps_the_list_not_the_count() {
    let input = "bad\n".repeat(50);
    let mut o = common::opts(sentio_core::Format::LineProtocol, None, None);
    o.max_errors = 10;
    let r = sentio_core::Ingestor::new().ingest(input.as_bytes(), &o);
    assert_eq!((r.rejected, r.errors.len()), (50, 10));
}

#[test]
fn invalid_utf8_is_rejected_nul_is_kept() {
    let mut input = b"m,host=a\xff\xfeb v=1\nm,host=ok v=2\n".to_vec();
    input.extend_from_slice(b"m,host=a\x00b v=3\n");
    let (r, s) = common::ingest_series(&input, &common::opts(sentio_core::Format::LineProtocol, None, None));
    assert_eq!((r.lines, r.rejected), (3, 1));
    assert_eq!(r.errors[0].reason, "invalid UTF-8");
    assert_eq!(value(&s, "m_v{host=ok}"), 2.0);
    assert_eq!(value(&s, "m_v{host=a\0b}"), 3.0);
}

#[test]
fn quoted_values_with_separators_inside() {
    let s = ok(r#"q,host=a s="a, b=c d",v=3,t="x\" y,z",w=4"#);
    assert_eq!(value(&s, "q_v{db=mydb,host=a}"), 3.0);
    assert_eq!(value(&s, "q_w{db=mydb,host=a}"), 4.0);
    assert_eq!(s.len(), 2);
}

#[test]
fn parse_only_stats() {
    let st = sentio_core::parse_line_protocol(b"m v=1,w=2\nbad\n# c\n", Some(Precision::Ns));
    assert_eq!((st.lines, st.rejected, st.fields, st.bytes), (2, 1, 2, 18));
}

// Sentio's own limits (VictoriaMetrics has no per-line equivalent of these
// options): the tests below are not checked against VictoriaMetrics.

fn limited(max_line_bytes: Option<usize>, max_tags: Option<usize>) -> sentio_core::IngestOptions<'static> {
    let mut o = common::opts(sentio_core::Format::LineProtocol, None, None);
    o.max_line_bytes = max_line_bytes;
    o.max_tags = max_tags;
    o
}

#[test]
fn max_line_bytes_rejects_longer_lines_and_keeps_their_neighbours() {
    let exact = format!("m,host=a v=1 {TS}"); // the limit is this line's length
    let n = exact.len();
    let longer = format!("m,host=ab v=1 {TS}"); // n + 1
    let input = format!("{exact}\n{longer}\r\n{exact}\r\n\n# a comment longer than the limit, skipped as ever: {longer}\n{longer}");
    let (r, s) = common::ingest_series(input.as_bytes(), &limited(Some(n), None));
    assert_eq!((r.lines, r.rejected, r.samples), (4, 2, 2), "{:?}", r.errors);
    let want = format!("line exceeds {n} bytes");
    assert_eq!(r.errors.iter().map(|e| (e.line, e.reason.as_str())).collect::<Vec<_>>(), [(2, &*want), (6, &*want)]);
    assert_eq!(s["m_v{host=a}"], vec![(TS_MS, 1.0), (TS_MS, 1.0)]);
    assert_eq!((r.rejected_line_bytes, r.rejected_tags), (2, 0), "counted per limit");
    // the line ending is not part of the length; no limit: all accepted
    let (r, _) = common::ingest_series(input.as_bytes(), &limited(None, None));
    assert_eq!((r.lines, r.rejected), (4, 0));
}

#[test]
fn max_line_bytes_is_checked_before_anything_else_on_the_line() {
    // an over-long line that is also invalid UTF-8 and malformed: the length wins
    let mut input = b"m v=1\n".to_vec();
    input.extend_from_slice(b"\xff\xfe garbage without fields\n");
    input.extend_from_slice(b"m v=2\n");
    let (r, s) = common::ingest_series(&input, &limited(Some(10), None));
    assert_eq!((r.lines, r.rejected, r.samples), (3, 1, 2));
    assert_eq!(r.errors[0].reason, "line exceeds 10 bytes");
    assert_eq!(s["m_v{}"].len(), 2);
}

#[test]
fn max_tags_rejects_points_with_more_tags() {
    let two = format!("m,a=1,b=2 v=1 {TS}");
    let three = format!("m,a=1,b=2,c=3 v=1 {TS}");
    // empty tags are dropped and do not count; repeated names count each time
    let dropped = format!("m,a=1,b=2,c=,=4 v=1 {TS}");
    let repeated = format!("m,a=1,a=2,a=3 v=1 {TS}");
    let escaped = format!("m,a\\,x=1,b=2\\ y,c=3 v=1 {TS}"); // general path
    let input = [&two, &three, &dropped, &repeated, &escaped, &two].map(|l| format!("{l}\n")).concat();
    let (r, s) = common::ingest_series(input.as_bytes(), &limited(None, Some(2)));
    assert_eq!((r.lines, r.rejected, r.samples), (6, 3, 3), "{:?}", r.errors);
    let errs: Vec<_> = r.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    let want = "point has more than 2 tags";
    assert_eq!(errs, [(2, want), (4, want), (5, want)]);
    assert_eq!(s["m_v{a=1,b=2}"].len(), 3);
    assert_eq!((r.rejected_line_bytes, r.rejected_tags), (0, 3), "counted per limit");
    // other rejections are not counted as limits
    let (r, _) = common::ingest_series(b"m,a=1 v=oops
", &limited(Some(100), Some(2)));
    assert_eq!((r.rejected, r.rejected_line_bytes, r.rejected_tags), (1, 0, 0));
    // both parser paths agree, and a bad line with too many tags reports the tags
    let (r, _) = common::ingest_series(b"m,a=1,b=2,c=3 v=oops\n", &limited(None, Some(2)));
    assert_eq!(r.errors[0].reason, want);
    let (r, _) = common::ingest_series(input.as_bytes(), &limited(None, Some(3)));
    assert_eq!(r.rejected, 0);
    // the fast path (lines without backslashes) agrees with the general one
    let parse = |general_only: bool| {
        let mut p = sentio_core::lp::LpParser::new();
        p.set_general_only(general_only);
        p.set_limits(sentio_core::ParseLimits { max_line_bytes: Some(40), max_tags: Some(2) });
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        p.parse(input.as_bytes(), sentio_core::TimeUnit::Auto, NOW, |pt| ok.push(pt.tags.len()), |l, r| bad.push((l, r)));
        (ok, bad)
    };
    assert_eq!(parse(false), parse(true));
}

#[test]
fn long_runs_of_escapes_follow_the_escaping_rules() {
    // Long runs of escapes in every section, unescaped by the rules of lp.rs
    // (the parser stays linear on them: see the "hostile" cases of
    // benches/throughput.rs).
    let n = 20_000;
    let tag = "\\,\\ \\=\\\\".repeat(n); // escaped comma, space, equals, backslash
    let line = format!("m\\ x,t={tag} v=1 {TS}\n");
    let (r, s) = common::ingest_series(line.as_bytes(), &limited(None, None));
    assert_eq!((r.lines, r.rejected), (1, 0), "{:?}", r.errors);
    let want_tag = ", =\\".repeat(n);
    assert_eq!(s.keys().next().unwrap(), &format!("m x_v{{t={want_tag}}}"));
    // a run of backslashes: even before the space, it ends the key section
    let line = format!("m,t=a{} v=1 {TS}\n", "\\\\".repeat(n));
    let (r, s) = common::ingest_series(line.as_bytes(), &limited(None, None));
    assert_eq!(r.rejected, 0, "{:?}", r.errors);
    assert_eq!(s.keys().next().unwrap(), &format!("m_v{{t=a{}}}", "\\".repeat(n)));
    // odd: the space is escaped, so there are no fields
    let line = format!("m,t=a{}\\ v=1\n", "\\\\".repeat(n));
    let (r, _) = common::ingest_series(line.as_bytes(), &limited(None, None));
    assert_eq!(r.rejected, 1);
    assert!(r.errors[0].reason.starts_with("missing fields"), "{}", r.errors[0].reason);
}
