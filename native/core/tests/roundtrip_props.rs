//! Property: parse(serialize(points)) == points, over names and values full
//! of characters that need escaping.

use proptest::prelude::*;
use sentio_core::lp::LpParser;
use sentio_core::types::{FieldValue, TimeUnit};
use sentio_core::Precision;

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Int(i64),
    UInt(u64),
    Bool(bool),
    /// mantissa, decimal places
    Float(i64, u32),
    Str(String),
}

impl Val {
    fn expected(&self) -> Option<f64> {
        match self {
            Val::Int(v) => Some(*v as f64),
            Val::UInt(v) => Some(*v as f64),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Val::Float(m, k) => Some(*m as f64 / 10f64.powi(*k as i32)),
            Val::Str(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Point {
    measurement: String,
    tags: Vec<(String, String)>,
    fields: Vec<(String, Val)>,
    ts: Option<i64>,
}

const CHARS: &[char] = &['a', 'Z', '0', ',', '=', ' ', '\\', '"', 'é', '世', '_', '.', '-', '#', '\''];

fn text(min: usize, no_quote: bool) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(CHARS), min..8)
        .prop_map(move |v| v.into_iter().filter(|&c| !(no_quote && c == '"')).collect::<String>())
        .prop_filter("non-empty", move |s| s.len() >= min)
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<i64>().prop_map(Val::Int),
        any::<u64>().prop_map(Val::UInt),
        any::<bool>().prop_map(Val::Bool),
        ((-(1i64 << 50))..(1i64 << 50), 0u32..7).prop_map(|(m, k)| Val::Float(m, k)),
        text(0, false).prop_map(Val::Str),
    ]
}

fn point() -> impl Strategy<Value = Point> {
    (
        text(0, false).prop_filter("not a comment", |m| !m.starts_with('#')),
        prop::collection::vec((text(1, false), text(1, false)), 0..4),
        prop::collection::vec((text(1, true), val()), 1..5),
        prop::option::of(1i64..i64::MAX),
    )
        .prop_map(|(measurement, tags, fields, ts)| Point { measurement, tags, fields, ts })
}

fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn serialize(p: &Point) -> String {
    let mut s = String::new();
    esc(&p.measurement, &mut s);
    for (k, v) in &p.tags {
        s.push(',');
        esc(k, &mut s);
        s.push('=');
        esc(v, &mut s);
    }
    s.push(' ');
    for (i, (k, v)) in p.fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        esc(k, &mut s);
        s.push('=');
        match v {
            Val::Int(x) => s.push_str(&format!("{x}i")),
            Val::UInt(x) => s.push_str(&format!("{x}u")),
            Val::Bool(b) => s.push_str(if *b { "true" } else { "F" }),
            Val::Float(..) => s.push_str(&format!("{}", v.expected().unwrap())),
            Val::Str(t) => {
                s.push('"');
                for c in t.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
            }
        }
    }
    if let Some(ts) = p.ts {
        s.push_str(&format!(" {ts}"));
    }
    s
}

const NOW: i64 = -42;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn parse_serialize_round_trip(points in prop::collection::vec(point(), 1..6), crlf in any::<bool>()) {
        let text: String = points.iter().map(|p| serialize(p) + if crlf { "\r\n" } else { "\n" }).collect();
        let mut parser = LpParser::new();
        let mut got = Vec::new();
        let mut errors = Vec::new();
        parser.parse(text.as_bytes(), TimeUnit::Fixed(Precision::Ms), NOW, |p| {
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            got.push((
                s(p.measurement()),
                (0..p.tags.len()).map(|i| { let (k, v) = p.tag(i); (s(k), s(v)) }).collect::<Vec<_>>(),
                p.fields.iter().enumerate().map(|(i, (_, v))| (s(p.field_key(i)), *v)).collect::<Vec<_>>(),
                p.timestamp_ms,
            ));
        }, |l, r| errors.push((l, r)));
        prop_assert!(errors.is_empty(), "{:?}\n{}", errors, text);
        prop_assert_eq!(got.len(), points.len());
        for (p, g) in points.iter().zip(&got) {
            prop_assert_eq!(&p.measurement, &g.0, "{}", text);
            prop_assert_eq!(&p.tags, &g.1, "{}", text);
            prop_assert_eq!(p.fields.len(), g.2.len());
            for ((k, v), (gk, gv)) in p.fields.iter().zip(&g.2) {
                prop_assert_eq!(k, gk, "{}", text);
                match (v.expected(), gv) {
                    (None, FieldValue::Str) => {}
                    (Some(x), FieldValue::Num(y)) => prop_assert_eq!(x.to_bits(), y.to_bits(), "{} {}", k, text),
                    (e, g) => prop_assert!(false, "{:?} parsed as {:?}: {}", e, g, text),
                }
            }
            prop_assert_eq!(p.ts.unwrap_or(NOW), g.3);
        }
    }
}

/// One parse, rendered: accepted points and rejected line numbers.
fn parse_all(input: &[u8], general_only: bool) -> (Vec<String>, Vec<u32>) {
    let mut parser = LpParser::new();
    parser.set_general_only(general_only);
    let mut points = Vec::new();
    let mut errors = Vec::new();
    parser.parse(input, TimeUnit::Auto, NOW, |p| {
        let tags: Vec<_> = (0..p.tags.len()).map(|i| p.tag(i)).collect();
        let fields: Vec<_> = p.fields.iter().enumerate().map(|(i, (_, v))| (p.field_key(i), *v)).collect();
        points.push(format!("{:?} {:?} {:?} {}", p.measurement(), tags, fields, p.timestamp_ms));
    }, |l, _| errors.push(l));
    (points, errors)
}

const SOUP: &[&str] = &["m", "x", ",", "=", " ", "  ", "\"", "1", "-", ".", "5", "e", "i", "u", "t", "true", "F", "#", "\\", "é", "1700000000000000000"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]
    /// The fast path agrees with the general path (which mirrors VictoriaMetrics' parser) on arbitrary lines.
    #[test]
    fn fast_path_agrees_with_general_path(lines in prop::collection::vec(prop::collection::vec(prop::sample::select(SOUP), 0..24), 1..8)) {
        let text: String = lines.iter().map(|l| l.concat() + "\n").collect();
        prop_assert_eq!(parse_all(text.as_bytes(), false), parse_all(text.as_bytes(), true), "{:?}", text);
    }
}

fn piece() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SOUP), 0..3).prop_map(|v| v.concat())
}

fn near_valid_line() -> impl Strategy<Value = String> {
    (
        piece(),
        prop::collection::vec((piece(), piece()), 0..3),
        prop::collection::vec((piece(), piece()), 1..4),
        prop::option::of(piece()),
    )
        .prop_map(|(m, tags, fields, ts)| {
            let mut s = m;
            for (k, v) in tags {
                s += &format!(",{k}={v}");
            }
            s.push(' ');
            let f: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &f.join(",");
            if let Some(ts) = ts {
                s += &format!(" {ts}");
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]
    #[test]
    fn fast_path_agrees_on_near_valid_lines(lines in prop::collection::vec(near_valid_line(), 1..8)) {
        let text: String = lines.iter().map(|l| l.clone() + "\n").collect();
        let general = parse_all(text.as_bytes(), true);
        prop_assert_eq!(parse_all(text.as_bytes(), false), general, "{:?}", text);
    }
}
