//! InfluxDB line protocol parser, matching VictoriaMetrics 1.79.5 line by line.
//!
//! Grammar (as VictoriaMetrics splits it):
//! `measurement[,tag=value...]<space>+field=value[,field=value...][<space>+timestamp]`
//!
//! * The measurement/tag section ends at the first unescaped space (quotes are
//!   not special there). The measurement ends at the first unescaped comma, each
//!   tag at the next unescaped comma, and a tag key at its first unescaped `=`.
//! * The field section ends at the first unescaped space outside double quotes;
//!   fields are split on unescaped commas outside quotes, keys at the first
//!   unescaped `=`.
//! * Unescaping (measurement, tag keys and values, field keys): `\,` `\=` `\ `
//!   `\\` lose their backslash; any other backslash is kept.
//! * Tags with an empty key or value are dropped. An empty measurement is allowed.
//! * `\r\n` endings, blank lines and lines starting with `#` are accepted.
//! * Field values: `"..."` string (skipped), `-?\d+i` int64, `\d+u` uint64,
//!   `t T true True TRUE f F false False FALSE`, else a float as VictoriaMetrics'
//!   fastfloat reads it (see [`crate::number`]).
//! * A space after the fields must be followed by an integer timestamp.
//! * Sentio's own limits ([`ParseLimits`], off by default): a line longer than
//!   `max_line_bytes` is rejected before any other work on it, and a point with
//!   more than `max_tags` tags as soon as its tags exceed it.
//!
//! The fast path allocates nothing per line: spans borrow the input, and only
//! segments containing a backslash are unescaped into a reused scratch buffer.

use memchr::memchr;

use crate::number::{parse_float, parse_i64, parse_u64};
use crate::types::{FieldValue, ParseLimits, PointRef, Span, TimeUnit};

/// Counts of one parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LpSummary {
    /// Non-blank, non-comment lines.
    pub lines: u32,
    pub rejected: u32,
}

/// A reusable line-protocol parser (keeps its buffers between calls).
#[derive(Default)]
pub struct LpParser {
    scratch: Vec<u8>,
    measurement: Span,
    tags: Vec<(Span, Span)>,
    fields: Vec<(Span, FieldValue)>,
    /// End of the line's measurement-and-tags section (its first unescaped space).
    key_end: usize,
    general_only: bool,
    limits: ParseLimits,
}

fn snippet(b: &[u8]) -> String {
    const MAX: usize = 64;
    if b.len() <= MAX {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("{}...", String::from_utf8_lossy(&b[..MAX]))
    }
}

/// The first `ch` in `buf[from..to]` not escaped by an odd run of backslashes.
///
/// Linear in `to - from` whatever the bytes: `memchr` passes over each byte
/// once, and the walk back from a candidate covers only the run of
/// backslashes right before it, which no other candidate's walk covers (a
/// candidate is not a backslash, so it ends the runs before it). Callers
/// resume after what they found, so a line costs a constant number of passes;
/// `benches/throughput.rs` has the hostile cases ("hostile: 1 MiB of escapes").
#[inline]
fn find_unescaped(buf: &[u8], from: usize, to: usize, ch: u8, esc: bool) -> Option<usize> {
    let mut at = from;
    loop {
        let n = at + memchr(ch, &buf[at..to])?;
        if !esc {
            return Some(n);
        }
        let mut k = n;
        while k > from && buf[k - 1] == b'\\' {
            k -= 1;
        }
        if (n - k).is_multiple_of(2) {
            return Some(n);
        }
        at = n + 1;
    }
}

#[inline]
fn find_unquoted(buf: &[u8], from: usize, to: usize, ch: u8, esc: bool, quotes: bool) -> Option<usize> {
    if !quotes {
        return find_unescaped(buf, from, to, ch, esc);
    }
    let mut in_quote = false;
    let mut i = from;
    while i < to {
        let c = buf[i];
        if esc && c == b'\\' {
            i += 2;
            continue;
        }
        if c == b'"' {
            in_quote = !in_quote;
        } else if c == ch && !in_quote {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[inline]
fn skip_spaces(buf: &[u8], mut i: usize, to: usize) -> usize {
    while i < to && buf[i] == b' ' {
        i += 1;
    }
    i
}

/// Unescapes `buf[start..end]`, returning a span of the input when there is
/// nothing to unescape.
#[inline]
fn unescape(buf: &[u8], start: usize, end: usize, esc: bool, scratch: &mut Vec<u8>) -> Span {
    if !esc {
        return Span::input(start, end);
    }
    let seg = &buf[start..end];
    let Some(first) = memchr(b'\\', seg) else {
        return Span::input(start, end);
    };
    let s0 = scratch.len();
    scratch.extend_from_slice(&seg[..first]);
    let mut i = first;
    while i < seg.len() {
        let c = seg[i];
        if c != b'\\' {
            scratch.push(c);
            i += 1;
            continue;
        }
        match seg.get(i + 1) {
            None => {
                scratch.push(b'\\');
                i += 1;
            }
            Some(&n) => {
                if !matches!(n, b' ' | b',' | b'=' | b'\\') {
                    scratch.push(b'\\');
                }
                scratch.push(n);
                i += 2;
            }
        }
    }
    Span { start: s0, end: scratch.len(), scratch: true }
}

fn parse_value(v: &[u8]) -> Result<FieldValue, &'static str> {
    let Some(&last) = v.last() else {
        return Err("field value cannot be empty");
    };
    if v[0] == b'"' {
        if v.len() < 2 || last != b'"' {
            return Err("missing closing quote in string field value");
        }
        return Ok(FieldValue::Str);
    }
    let n = v.len();
    match last {
        b'i' => return parse_i64(&v[..n - 1]).map(|x| FieldValue::Num(x as f64)).ok_or("invalid integer field value"),
        b'u' => {
            return parse_u64(&v[..n - 1]).map(|x| FieldValue::Num(x as f64)).ok_or("invalid unsigned field value")
        }
        _ => {}
    }
    match v {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Ok(FieldValue::Num(1.0)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Ok(FieldValue::Num(0.0)),
        _ => {}
    }
    parse_float(v).map(FieldValue::Num).ok_or("invalid number field value")
}

impl LpParser {
    pub fn new() -> LpParser {
        LpParser::default()
    }

    /// Disables the fast path (tests check that both paths agree).
    #[doc(hidden)]
    pub fn set_general_only(&mut self, on: bool) {
        self.general_only = on;
    }

    /// Sets the limits of the next parses (none by default).
    pub fn set_limits(&mut self, limits: ParseLimits) {
        self.limits = limits;
    }

    /// Parses `input`, calling `on_point` for each good line and `on_error`
    /// (1-based line number, reason) for each bad one.
    pub fn parse<P, E>(&mut self, input: &[u8], unit: TimeUnit, now_ms: i64, mut on_point: P, mut on_error: E) -> LpSummary
    where
        P: FnMut(&PointRef<'_>),
        E: FnMut(u32, String),
    {
        let mut sum = LpSummary::default();
        let any_esc = memchr(b'\\', input).is_some();
        let all_utf8 = std::str::from_utf8(input).is_ok();
        let mut pos = 0usize;
        let mut line_no: u32 = 0;
        while pos < input.len() {
            let nl = memchr(b'\n', &input[pos..]).map_or(input.len(), |n| pos + n);
            let start = pos;
            pos = nl + 1;
            line_no += 1;
            let mut end = nl;
            if end > start && input[end - 1] == b'\r' {
                end -= 1;
            }
            if end == start || input[start] == b'#' {
                continue;
            }
            sum.lines += 1;
            if let Some(max) = self.limits.max_line_bytes {
                if end - start > max {
                    sum.rejected += 1;
                    on_error(line_no, ParseLimits::line_error(max));
                    continue;
                }
            }
            if !all_utf8 && std::str::from_utf8(&input[start..end]).is_err() {
                sum.rejected += 1;
                on_error(line_no, "invalid UTF-8".to_string());
                continue;
            }
            let esc = any_esc && memchr(b'\\', &input[start..end]).is_some();
            self.scratch.clear();
            self.tags.clear();
            self.fields.clear();
            let fast = if esc || self.general_only { None } else { self.parse_line_fast(input, start, end) };
            let parsed = match fast {
                Some(raw) => Ok(raw),
                None => {
                    self.scratch.clear();
                    self.tags.clear();
                    self.fields.clear();
                    self.parse_line(input, start, end, esc)
                }
            };
            let res = parsed.and_then(|raw| {
                unit.resolve(raw, now_ms).ok_or_else(|| "timestamp out of range".to_string())
            });
            match res {
                Ok(ts) => {
                    on_point(&PointRef {
                        input,
                        scratch: &self.scratch,
                        measurement: self.measurement,
                        tags: &self.tags,
                        fields: &self.fields,
                        timestamp_ms: ts,
                        series_key: &input[start..self.key_end],
                    });
                }
                Err(reason) => {
                    sum.rejected += 1;
                    on_error(line_no, reason);
                }
            }
        }
        sum
    }

    /// Fast path for a line without backslashes: one forward scan. Returns
    /// `None` on anything unusual (quotes in the field section, any error), and
    /// the caller then runs the exact general path.
    #[inline]
    fn parse_line_fast(&mut self, b: &[u8], ls: usize, le: usize) -> Option<Option<i64>> {
        let mut i = ls;
        // measurement
        while i < le && b[i] != b',' && b[i] != b' ' {
            i += 1;
        }
        if i >= le {
            return None;
        }
        self.measurement = Span::input(ls, i);
        // tags
        while b[i] == b',' {
            let ks = i + 1;
            i = ks;
            while i < le && !matches!(b[i], b'=' | b',' | b' ') {
                i += 1;
            }
            if i >= le || b[i] != b'=' {
                return None;
            }
            let ke = i;
            i += 1;
            let vs = i;
            while i < le && b[i] != b',' && b[i] != b' ' {
                i += 1;
            }
            if i >= le {
                return None;
            }
            if ke > ks && i > vs {
                self.tags.push((Span::input(ks, ke), Span::input(vs, i)));
                if self.limits.max_tags.is_some_and(|max| self.tags.len() > max) {
                    return None; // the general path reports it
                }
            }
        }
        // b[i] == b' '
        self.key_end = i;
        while i < le && b[i] == b' ' {
            i += 1;
        }
        // fields
        loop {
            let ks = i;
            while i < le && !matches!(b[i], b'=' | b',' | b' ' | b'"') {
                i += 1;
            }
            if i >= le || b[i] != b'=' || i == ks {
                return None;
            }
            let ke = i;
            i += 1;
            let vs = i;
            while i < le && !matches!(b[i], b',' | b' ' | b'"') {
                i += 1;
            }
            if i < le && b[i] == b'"' {
                return None;
            }
            let v = parse_value(&b[vs..i]).ok()?;
            self.fields.push((Span::input(ks, ke), v));
            if i >= le {
                return Some(None);
            }
            if b[i] == b' ' {
                break;
            }
            i += 1;
        }
        while i < le && b[i] == b' ' {
            i += 1;
        }
        if memchr(b'"', &b[i..le]).is_some() {
            return None;
        }
        parse_i64(&b[i..le]).map(Some)
    }

    /// Parses one line into the parser's buffers; returns the raw timestamp.
    fn parse_line(&mut self, b: &[u8], ls: usize, le: usize, esc: bool) -> Result<Option<i64>, String> {
        let Some(sp) = find_unescaped(b, ls, le, b' ', esc) else {
            return Err(format!("missing fields (no space after measurement) in {:?}", snippet(&b[ls..le])));
        };
        self.key_end = sp;
        let rest = skip_spaces(b, sp + 1, le);
        // measurement and tags
        let meas_end = match find_unescaped(b, ls, sp, b',', esc) {
            Some(c) => {
                self.parse_tags(b, c + 1, sp, esc)?;
                c
            }
            None => sp,
        };
        self.measurement = unescape(b, ls, meas_end, esc, &mut self.scratch);
        // fields
        let quotes = find_unescaped(b, rest, le, b'"', esc).is_some();
        let fsp = find_unquoted(b, rest, le, b' ', esc, quotes);
        self.parse_fields(b, rest, fsp.unwrap_or(le), esc, quotes)?;
        let Some(fsp) = fsp else {
            return Ok(None);
        };
        let ts = skip_spaces(b, fsp + 1, le);
        match parse_i64(&b[ts..le]) {
            Some(v) => Ok(Some(v)),
            None => Err(format!("invalid timestamp {:?}", snippet(&b[ts..le]))),
        }
    }

    fn parse_tags(&mut self, b: &[u8], mut s: usize, e: usize, esc: bool) -> Result<(), String> {
        loop {
            let n = find_unescaped(b, s, e, b',', esc);
            let pe = n.unwrap_or(e);
            let Some(eq) = find_unescaped(b, s, pe, b'=', esc) else {
                return Err(format!("missing tag value for {:?}", snippet(&b[s..pe])));
            };
            let k = unescape(b, s, eq, esc, &mut self.scratch);
            let v = unescape(b, eq + 1, pe, esc, &mut self.scratch);
            if !k.is_empty() && !v.is_empty() {
                self.tags.push((k, v));
                if let Some(max) = self.limits.max_tags.filter(|&max| self.tags.len() > max) {
                    return Err(ParseLimits::tags_error(max));
                }
            }
            match n {
                Some(n) => s = n + 1,
                None => return Ok(()),
            }
        }
    }

    fn parse_fields(&mut self, b: &[u8], mut s: usize, e: usize, esc: bool, quotes: bool) -> Result<(), String> {
        loop {
            let n = find_unquoted(b, s, e, b',', esc, quotes);
            let pe = n.unwrap_or(e);
            let Some(eq) = find_unescaped(b, s, pe, b'=', esc) else {
                return Err(format!("missing field value for {:?}", snippet(&b[s..pe])));
            };
            let k = unescape(b, s, eq, esc, &mut self.scratch);
            if k.is_empty() {
                return Err("field key cannot be empty".to_string());
            }
            let v = parse_value(&b[eq + 1..pe]).map_err(|r| {
                let key = k.get(b, &self.scratch);
                format!("{r} for field {:?}: {:?}", snippet(key), snippet(&b[eq + 1..pe]))
            })?;
            self.fields.push((k, v));
            match n {
                Some(n) => s = n + 1,
                None => return Ok(()),
            }
        }
    }
}
