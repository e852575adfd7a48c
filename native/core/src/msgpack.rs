//! The msgpack batch format (docs/protocol.md, "msgpack batch"):
//!
//! ```text
//! { "seq"?: uint, "db"?: str, "precision"?: "ns"|"us"|"ms"|"s"|"m"|"h",
//!   "points": [ [measurement: str, tags: map<str,str> | nil,
//!                fields: map<str, float|int|uint|bool|str>,
//!                timestamp?: int|uint|float(integral)|nil], ... ] }
//! ```
//!
//! The whole envelope is validated first (a malformed envelope is one error
//! with line 0 and nothing accepted); then each point is decoded zero-copy
//! (strings borrow the input) and a bad point is a per-point error.

use rmp::Marker;

use crate::types::{FieldValue, ParseLimits, PointRef, Precision, Span, TimeUnit};

/// Envelope fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Envelope<'a> {
    pub seq: Option<u64>,
    pub db: Option<&'a str>,
    pub precision: Option<Precision>,
    /// Byte offset of the first point and the number of points.
    points_at: usize,
    pub points: u32,
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, String>;

enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl<'a> Cur<'a> {
    fn byte(&mut self) -> R<u8> {
        let c = *self.b.get(self.pos).ok_or("unexpected end of data")?;
        self.pos += 1;
        Ok(c)
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("unexpected end of data")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn be(&mut self, n: usize) -> R<u64> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &c| (a << 8) | u64::from(c)))
    }
    fn marker(&mut self) -> R<Marker> {
        Ok(Marker::from_u8(self.byte()?))
    }
    fn peek_marker(&self) -> Option<Marker> {
        self.b.get(self.pos).map(|&c| Marker::from_u8(c))
    }
    /// Length of a str with the given marker, or None if not a str.
    fn str_len(&mut self, m: Marker) -> R<Option<usize>> {
        Ok(Some(match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 => self.be(1)? as usize,
            Marker::Str16 => self.be(2)? as usize,
            Marker::Str32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }
    /// Reads a str as a span of the input (UTF-8 checked).
    fn str_span(&mut self, what: &str) -> R<Span> {
        let m = self.marker()?;
        let n = self.str_len(m)?.ok_or_else(|| format!("{what} must be a string"))?;
        let start = self.pos;
        let s = self.take(n)?;
        std::str::from_utf8(s).map_err(|_| format!("{what} is not valid UTF-8"))?;
        Ok(Span::input(start, start + n))
    }
    fn map_len(&mut self, m: Marker) -> R<Option<usize>> {
        Ok(Some(match m {
            Marker::FixMap(n) => n as usize,
            Marker::Map16 => self.be(2)? as usize,
            Marker::Map32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }
    fn array_len(&mut self, m: Marker) -> R<Option<usize>> {
        Ok(Some(match m {
            Marker::FixArray(n) => n as usize,
            Marker::Array16 => self.be(2)? as usize,
            Marker::Array32 => self.be(4)? as usize,
            _ => return Ok(None),
        }))
    }
    fn num(&mut self, m: Marker) -> R<Option<Num>> {
        Ok(Some(match m {
            Marker::FixPos(n) => Num::U(u64::from(n)),
            Marker::FixNeg(n) => Num::I(i64::from(n)),
            Marker::U8 => Num::U(self.be(1)?),
            Marker::U16 => Num::U(self.be(2)?),
            Marker::U32 => Num::U(self.be(4)?),
            Marker::U64 => Num::U(self.be(8)?),
            Marker::I8 => Num::I(i64::from(self.be(1)? as u8 as i8)),
            Marker::I16 => Num::I(i64::from(self.be(2)? as u16 as i16)),
            Marker::I32 => Num::I(i64::from(self.be(4)? as u32 as i32)),
            Marker::I64 => Num::I(self.be(8)? as i64),
            Marker::F32 => Num::F(f64::from(f32::from_bits(self.be(4)? as u32))),
            Marker::F64 => Num::F(f64::from_bits(self.be(8)?)),
            _ => return Ok(None),
        }))
    }
    /// Skips one value (validating its structure), iteratively.
    fn skip(&mut self) -> R<()> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let m = self.marker()?;
            if let Some(n) = self.str_len(m)? {
                self.take(n)?;
                continue;
            }
            if let Some(n) = self.map_len(m)? {
                pending += 2 * n as u64;
                continue;
            }
            if let Some(n) = self.array_len(m)? {
                pending += n as u64;
                continue;
            }
            if self.num(m)?.is_some() {
                continue;
            }
            match m {
                Marker::Null | Marker::True | Marker::False => {}
                Marker::Bin8 | Marker::Bin16 | Marker::Bin32 | Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                    let (w, ext) = match m {
                        Marker::Bin8 => (1, 0),
                        Marker::Bin16 => (2, 0),
                        Marker::Bin32 => (4, 0),
                        Marker::Ext8 => (1, 1),
                        Marker::Ext16 => (2, 1),
                        _ => (4, 1),
                    };
                    let n = self.be(w)? as usize + ext;
                    self.take(n)?;
                }
                Marker::FixExt1 => drop(self.take(2)?),
                Marker::FixExt2 => drop(self.take(3)?),
                Marker::FixExt4 => drop(self.take(5)?),
                Marker::FixExt8 => drop(self.take(9)?),
                Marker::FixExt16 => drop(self.take(17)?),
                _ => return Err("reserved msgpack marker 0xc1".into()),
            }
        }
        Ok(())
    }
}

/// The batch's `seq`, read without decoding it: the value of the first
/// top-level `seq` key when it is an unsigned integer. `None` when there is
/// none, or the batch is not a map with string keys up to it. Keys before it
/// are skipped item by item, so this is cheap when `seq` comes first (as
/// senders write it) and never reads past the batch. For a valid batch it is
/// the seq [`read_envelope`] reads (which refuses a second `seq` key).
pub fn peek_seq(b: &[u8]) -> Option<u64> {
    let mut c = Cur { b, pos: 0 };
    let m = c.marker().ok()?;
    let n = c.map_len(m).ok()??;
    for _ in 0..n {
        let k = c.str_span("envelope key").ok()?;
        if &b[k.start..k.end] == b"seq" {
            return match c.marker().and_then(|m| c.num(m)).ok()? {
                Some(Num::U(v)) => Some(v),
                Some(Num::I(v)) if v >= 0 => Some(v as u64),
                _ => None,
            };
        }
        c.skip().ok()?;
    }
    None
}

/// Reads and validates the envelope.
pub fn read_envelope(b: &[u8]) -> R<Envelope<'_>> {
    let mut c = Cur { b, pos: 0 };
    let m = c.marker()?;
    let n = c.map_len(m)?.ok_or("batch must be a msgpack map")?;
    let mut env = Envelope::default();
    let mut have_points = false;
    for _ in 0..n {
        let k = c.str_span("envelope key")?;
        match &b[k.start..k.end] {
            // Twice would make the seq a reader peeks (the first, peek_seq) differ from the batch's.
            b"seq" if env.seq.is_some() => return Err("seq given twice".into()),
            b"seq" => match c.marker().and_then(|m| c.num(m))? {
                Some(Num::U(v)) => env.seq = Some(v),
                Some(Num::I(v)) if v >= 0 => env.seq = Some(v as u64),
                _ => return Err("seq must be an unsigned integer".into()),
            },
            b"db" => {
                let s = c.str_span("db")?;
                env.db = Some(std::str::from_utf8(&b[s.start..s.end]).expect("checked"));
            }
            b"precision" => {
                let s = c.str_span("precision")?;
                let p = std::str::from_utf8(&b[s.start..s.end]).expect("checked");
                env.precision = Some(Precision::parse(p).ok_or_else(|| format!("unknown precision {p:?}"))?);
            }
            b"points" => {
                let m = c.marker()?;
                let len = c.array_len(m)?.ok_or("points must be an array")?;
                env.points = u32::try_from(len).map_err(|_| "too many points")?;
                env.points_at = c.pos;
                for _ in 0..len {
                    c.skip()?;
                }
                have_points = true;
            }
            _ => c.skip()?,
        }
    }
    if !have_points {
        return Err("missing points".into());
    }
    if c.pos != b.len() {
        return Err(format!("{} trailing bytes after the batch", b.len() - c.pos));
    }
    Ok(env)
}

/// Reusable decoder of points.
#[derive(Default)]
pub struct MsgpackDecoder {
    tags: Vec<(Span, Span)>,
    fields: Vec<(Span, FieldValue)>,
    max_tags: Option<usize>,
}

impl MsgpackDecoder {
    pub fn new() -> MsgpackDecoder {
        MsgpackDecoder::default()
    }

    /// Sets the limits of the next decodes (none by default; `max_line_bytes`
    /// does not apply to msgpack).
    pub fn set_limits(&mut self, limits: ParseLimits) {
        self.max_tags = limits.max_tags;
    }

    /// Decodes the points of a validated envelope, calling `on_point` or
    /// `on_error(1-based index, reason)` for each.
    pub fn decode<P, E>(&mut self, b: &[u8], env: &Envelope<'_>, precision: Precision, now_ms: i64, mut on_point: P, mut on_error: E)
    where
        P: FnMut(&PointRef<'_>),
        E: FnMut(u32, String),
    {
        let mut c = Cur { b, pos: env.points_at };
        for i in 0..env.points {
            let start = c.pos;
            c.skip().expect("envelope validated");
            let end = c.pos;
            let mut pc = Cur { b: &b[..end], pos: start };
            match self.point(&mut pc, precision, now_ms) {
                Ok((measurement, ts)) => on_point(&PointRef {
                    input: b,
                    scratch: &[],
                    measurement,
                    tags: &self.tags,
                    fields: &self.fields,
                    timestamp_ms: ts,
                    series_key: &[],
                }),
                Err(reason) => on_error(i + 1, reason),
            }
        }
    }

    fn point(&mut self, c: &mut Cur<'_>, precision: Precision, now_ms: i64) -> R<(Span, i64)> {
        self.tags.clear();
        self.fields.clear();
        let m = c.marker()?;
        let n = c.array_len(m)?.ok_or("point must be an array")?;
        if !(3..=4).contains(&n) {
            return Err(format!("point must have 3 or 4 elements, got {n}"));
        }
        let measurement = c.str_span("measurement")?;
        // tags
        let m = c.marker()?;
        if m != Marker::Null {
            let nt = c.map_len(m)?.ok_or("tags must be a map or nil")?;
            for _ in 0..nt {
                let k = c.str_span("tag key")?;
                let v = c.str_span("tag value")?;
                if !k.is_empty() && !v.is_empty() {
                    self.tags.push((k, v));
                    if let Some(max) = self.max_tags.filter(|&max| self.tags.len() > max) {
                        return Err(ParseLimits::tags_error(max));
                    }
                }
            }
        }
        // fields
        let m = c.marker()?;
        let nf = c.map_len(m)?.ok_or("fields must be a map")?;
        if nf == 0 {
            return Err("fields must not be empty".into());
        }
        for _ in 0..nf {
            let k = c.str_span("field key")?;
            if k.is_empty() {
                return Err("field key cannot be empty".into());
            }
            let m = c.marker()?;
            let v = if let Some(len) = c.str_len(m)? {
                c.take(len)?;
                FieldValue::Str
            } else {
                match m {
                    Marker::True => FieldValue::Num(1.0),
                    Marker::False => FieldValue::Num(0.0),
                    _ => match c.num(m)? {
                        Some(Num::I(v)) => FieldValue::Num(v as f64),
                        Some(Num::U(v)) => FieldValue::Num(v as f64),
                        Some(Num::F(v)) => FieldValue::Num(v),
                        None => {
                            let key = String::from_utf8_lossy(&c.b[k.start..k.end]).into_owned();
                            return Err(format!("field {key:?} must be a number, boolean or string"));
                        }
                    },
                }
            };
            self.fields.push((k, v));
        }
        // timestamp
        let raw = if n == 4 && c.peek_marker() != Some(Marker::Null) {
            let m = c.marker()?;
            Some(match c.num(m)? {
                Some(Num::I(v)) => v,
                Some(Num::U(v)) => i64::try_from(v).map_err(|_| "timestamp out of range")?,
                Some(Num::F(f)) => {
                    if !(f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18) {
                        return Err("timestamp must be an integral number".into());
                    }
                    f as i64
                }
                None => return Err("timestamp must be an integer or nil".into()),
            })
        } else {
            None
        };
        let ts = TimeUnit::Fixed(precision).resolve(raw, now_ms).ok_or("timestamp out of range")?;
        Ok((measurement, ts))
    }
}
