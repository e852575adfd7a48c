//! Core types shared by the parsers, the mapping and the encoders.

use std::fmt;

/// Timestamp precision of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Ns,
    Us,
    Ms,
    S,
    M,
    H,
}

impl Precision {
    /// Parses `ns|us|ms|s|m|h` (also the InfluxDB v1 spellings `n` and `u`).
    pub fn parse(s: &str) -> Option<Precision> {
        Some(match s {
            "ns" | "n" => Precision::Ns,
            "us" | "u" => Precision::Us,
            "ms" => Precision::Ms,
            "s" => Precision::S,
            "m" => Precision::M,
            "h" => Precision::H,
            _ => return None,
        })
    }

    /// Converts a raw timestamp to Unix milliseconds: division truncates toward
    /// zero (as Go's `/` in VictoriaMetrics), multiplication is overflow-checked.
    pub fn to_ms(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Ns => Some(ts / 1_000_000),
            Precision::Us => Some(ts / 1_000),
            Precision::Ms => Some(ts),
            Precision::S => ts.checked_mul(1_000),
            Precision::M => ts.checked_mul(60_000),
            Precision::H => ts.checked_mul(3_600_000),
        }
    }
}

/// How raw line-protocol timestamps are converted to milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// An explicit precision.
    Fixed(Precision),
    /// No precision given: VictoriaMetrics guesses from the magnitude
    /// (`>= 1e17` ns, `>= 1e14` us, `>= 1e11` ms, else s).
    Auto,
}

impl TimeUnit {
    /// Raw timestamp to ms. `None` or `0` mean "now" (as in VictoriaMetrics).
    pub fn resolve(self, raw: Option<i64>, now_ms: i64) -> Option<i64> {
        let ts = match raw {
            None | Some(0) => return Some(now_ms),
            Some(ts) => ts,
        };
        match self {
            TimeUnit::Fixed(p) => p.to_ms(ts),
            TimeUnit::Auto => Some(if ts >= 100_000_000_000_000_000 {
                ts / 1_000_000
            } else if ts >= 100_000_000_000_000 {
                ts / 1_000
            } else if ts >= 100_000_000_000 {
                ts
            } else {
                ts.checked_mul(1_000)?
            }),
        }
    }
}

/// Limits a parser enforces per point, against hostile or runaway input.
/// `None`: unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseLimits {
    /// Line protocol only: a line longer than this many bytes (without its
    /// line ending) is rejected before any other work on it, with reason
    /// `line exceeds N bytes`. Blank and comment lines are skipped unchecked.
    pub max_line_bytes: Option<usize>,
    /// A point with more tags than this is rejected, with reason
    /// `point has more than N tags`. Tags with an empty key or value are
    /// dropped and do not count; a repeated tag name counts each time.
    pub max_tags: Option<usize>,
}

/// The limit a rejected point ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    LineBytes,
    Tags,
}

const LINE_ERROR_PREFIX: &str = "line exceeds ";
const TAGS_ERROR_PREFIX: &str = "point has more than ";

impl ParseLimits {
    pub(crate) fn line_error(max: usize) -> String {
        format!("{LINE_ERROR_PREFIX}{max} bytes")
    }
    pub(crate) fn tags_error(max: usize) -> String {
        format!("{TAGS_ERROR_PREFIX}{max} tags")
    }
    /// The limit a rejection reason made by [`ParseLimits`] names; `None` for any other reason.
    pub fn kind_of(reason: &str) -> Option<LimitKind> {
        if reason.starts_with(LINE_ERROR_PREFIX) {
            Some(LimitKind::LineBytes)
        } else if reason.starts_with(TAGS_ERROR_PREFIX) {
            Some(LimitKind::Tags)
        } else {
            None
        }
    }
}

/// A per-point error, returned as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number (line protocol) or point index (msgpack); 0 for a
    /// malformed msgpack envelope.
    pub line: u32,
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A byte range in either the input or a parser's scratch buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub scratch: bool,
}

impl Span {
    pub fn input(start: usize, end: usize) -> Span {
        Span { start, end, scratch: false }
    }
    #[inline]
    pub fn get<'a>(&self, input: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        if self.scratch {
            &scratch[self.start..self.end]
        } else {
            &input[self.start..self.end]
        }
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A field value after parsing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue {
    /// Float, integer, unsigned or boolean, as the f64 sample value.
    Num(f64),
    /// A string field: not a sample (counted as skipped).
    Str,
}

/// One parsed point, borrowing from the input and the parser's scratch buffer.
/// Valid only during the visitor call.
pub struct PointRef<'a> {
    pub input: &'a [u8],
    pub scratch: &'a [u8],
    pub measurement: Span,
    /// Tags in input order; empty keys/values already dropped.
    pub tags: &'a [(Span, Span)],
    pub fields: &'a [(Span, FieldValue)],
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    /// The raw measurement-and-tags bytes of a line-protocol line, as sent:
    /// equal bytes mean equal measurement and tags, so the mapping may cache
    /// on them. Empty when the format has no such section (msgpack).
    pub series_key: &'a [u8],
}

impl PointRef<'_> {
    #[inline]
    pub fn measurement(&self) -> &[u8] {
        self.measurement.get(self.input, self.scratch)
    }
    #[inline]
    pub fn tag(&self, i: usize) -> (&[u8], &[u8]) {
        let (k, v) = &self.tags[i];
        (k.get(self.input, self.scratch), v.get(self.input, self.scratch))
    }
    #[inline]
    pub fn field_key(&self, i: usize) -> &[u8] {
        self.fields[i].0.get(self.input, self.scratch)
    }
}
