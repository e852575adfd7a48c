//! Prometheus remote-write: `WriteRequest` protobuf, snappy block compressed.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Encoding is done by hand: sizes are computed first so each message is
//! written once, straight into the output buffer.

use crate::series::iter_labels;

/// Bytes of `v` as a protobuf varint (1..=10), without branches.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    ((70 - (v | 1).leading_zeros()) / 7) as usize
}

/// Writes `v` as a varint at `buf[at..]`; returns the position after it.
#[inline]
fn write_varint(buf: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        buf[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    buf[at] = v as u8;
    at + 1
}

/// Writes a length-delimited field: key byte, length, bytes.
#[inline]
fn write_bytes(buf: &mut [u8], at: usize, key: u8, bytes: &[u8]) -> usize {
    buf[at] = key;
    let at = write_varint(buf, at + 1, bytes.len() as u64);
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    at + bytes.len()
}

#[inline]
fn label_len(name: &[u8], value: &[u8]) -> usize {
    1 + varint_len(name.len() as u64) + name.len() + 1 + varint_len(value.len() as u64) + value.len()
}

/// Size of a `Sample` message: `value` (fixed64) and `timestamp` (varint).
/// At most 20, so its own length prefix is always one byte.
#[inline]
fn sample_len(ts: i64) -> usize {
    1 + 8 + 1 + varint_len(ts as u64)
}

/// Appends one `WriteRequest.timeseries` entry (field 1) for a series given by
/// its canonical label bytes and its samples `(timestamp_ms, value)`.
pub fn encode_series<I>(out: &mut Vec<u8>, canonical: &[u8], samples: I)
where
    I: Iterator<Item = (i64, f64)> + Clone,
{
    encode_series_with(out, labels_len(canonical), |buf, at| write_labels(buf, at, canonical), samples);
}

/// The `TimeSeries.labels` fields of a series given by its canonical label
/// bytes, as [`encode_series`] writes them: for a caller that keeps them
/// and writes the series batch after batch ([`encode_series_labelled`]).
pub fn encode_labels(canonical: &[u8]) -> Vec<u8> {
    let mut out = vec![0; labels_len(canonical)];
    let end = write_labels(&mut out, 0, canonical);
    debug_assert_eq!(end, out.len());
    out
}

/// [`encode_series`] of a series whose labels are encoded already ([`encode_labels`]).
pub fn encode_series_labelled<I>(out: &mut Vec<u8>, labels: &[u8], samples: I)
where
    I: Iterator<Item = (i64, f64)> + Clone,
{
    encode_series_with(
        out,
        labels.len(),
        |buf, at| {
            buf[at..at + labels.len()].copy_from_slice(labels);
            at + labels.len()
        },
        samples,
    );
}

fn labels_len(canonical: &[u8]) -> usize {
    iter_labels(canonical)
        .map(|(k, v)| {
            let l = label_len(k, v);
            1 + varint_len(l as u64) + l
        })
        .sum()
}

fn write_labels(buf: &mut [u8], mut at: usize, canonical: &[u8]) -> usize {
    for (k, v) in iter_labels(canonical) {
        buf[at] = 0x0a;
        at = write_varint(buf, at + 1, label_len(k, v) as u64);
        at = write_bytes(buf, at, 0x0a, k);
        at = write_bytes(buf, at, 0x12, v);
    }
    at
}

/// One `timeseries` entry: `labels_len` bytes of labels (written by `labels`), then the samples.
fn encode_series_with<I>(out: &mut Vec<u8>, labels_len: usize, labels: impl FnOnce(&mut [u8], usize) -> usize, samples: I)
where
    I: Iterator<Item = (i64, f64)> + Clone,
{
    let mut len = labels_len;
    for (ts, _) in samples.clone() {
        len += 2 + sample_len(ts);
    }
    // Write into the zero-extended tail: sizes are known, so no capacity checks per byte.
    let base = out.len();
    out.resize(base + 1 + varint_len(len as u64) + len, 0);
    let buf = &mut out[base..];
    buf[0] = 0x0a;
    let mut at = write_varint(buf, 1, len as u64);
    at = labels(buf, at);
    for (ts, value) in samples {
        buf[at] = 0x12;
        buf[at + 1] = sample_len(ts) as u8;
        buf[at + 2] = 0x09;
        buf[at + 3..at + 11].copy_from_slice(&value.to_le_bytes());
        buf[at + 11] = 0x10;
        at = write_varint(buf, at + 12, ts as u64);
    }
    debug_assert_eq!(at, buf.len());
}

/// A decoded series (for tests and the binding's test helper).
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedSeries {
    pub labels: Vec<(String, String)>,
    /// `(timestamp_ms, value)`
    pub samples: Vec<(i64, f64)>,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&c) = self.b.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            v |= u64::from(c & 0x7f) << shift;
            if c < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("truncated message")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    /// Reads a key; returns (field, wire type).
    fn key(&mut self) -> Result<(u64, u8), String> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    fn len_delimited(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()? as usize;
        self.bytes(n)
    }
    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.bytes(8).map(|_| ()),
            2 => self.len_delimited().map(|_| ()),
            5 => self.bytes(4).map(|_| ()),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in label".to_string())
}

/// Decodes an uncompressed `WriteRequest`.
pub fn decode_write_request(raw: &[u8]) -> Result<Vec<DecodedSeries>, String> {
    let mut out = Vec::new();
    let mut r = Reader { b: raw, pos: 0 };
    while !r.done() {
        let (field, wire) = r.key()?;
        if field != 1 || wire != 2 {
            r.skip(wire)?;
            continue;
        }
        let mut ts = Reader { b: r.len_delimited()?, pos: 0 };
        let mut series = DecodedSeries { labels: Vec::new(), samples: Vec::new() };
        while !ts.done() {
            let (field, wire) = ts.key()?;
            match (field, wire) {
                (1, 2) => {
                    let mut l = Reader { b: ts.len_delimited()?, pos: 0 };
                    let (mut name, mut value) = (String::new(), String::new());
                    while !l.done() {
                        match l.key()? {
                            (1, 2) => name = utf8(l.len_delimited()?)?,
                            (2, 2) => value = utf8(l.len_delimited()?)?,
                            (_, w) => l.skip(w)?,
                        }
                    }
                    series.labels.push((name, value));
                }
                (2, 2) => {
                    let mut s = Reader { b: ts.len_delimited()?, pos: 0 };
                    let (mut value, mut t) = (0.0f64, 0i64);
                    while !s.done() {
                        match s.key()? {
                            (1, 1) => value = f64::from_le_bytes(s.bytes(8)?.try_into().expect("8 bytes")),
                            (2, 0) => t = s.varint()? as i64,
                            (_, w) => s.skip(w)?,
                        }
                    }
                    series.samples.push((t, value));
                }
                (_, w) => ts.skip(w)?,
            }
        }
        out.push(series);
    }
    Ok(out)
}

/// Decodes a snappy (block format) compressed `WriteRequest`.
/// One snappy-compressed `WriteRequest` holding the series of all `payloads`
/// (each a snappy-compressed `WriteRequest`), in their order: a
/// `WriteRequest` is one repeated field, so the uncompressed messages
/// concatenate. Empty payloads are skipped. For a durable queue that sends
/// many small batches as one request. An invalid snappy payload is an error
/// naming its index.
pub fn merge_remote_write(payloads: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    let mut decoder = snap::raw::Decoder::new();
    for (i, p) in payloads.iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        let len = snap::raw::decompress_len(p).map_err(|e| format!("payload {i}: invalid snappy payload: {e}"))?;
        let at = raw.len();
        raw.resize(at + len, 0);
        decoder.decompress(p, &mut raw[at..]).map_err(|e| format!("payload {i}: invalid snappy payload: {e}"))?;
    }
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    snap::raw::Encoder::new().compress_vec(&raw).map_err(|e| format!("cannot compress the merged payload: {e}"))
}

pub fn decode_remote_write(payload: &[u8]) -> Result<Vec<DecodedSeries>, String> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(payload)
        .map_err(|e| format!("invalid snappy payload: {e}"))?;
    decode_write_request(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_the_encoding_at_every_boundary() {
        let mut cases = vec![0u64, 1, u64::MAX, i64::MIN as u64, (-1i64) as u64];
        for bits in 1..64 {
            let edge = 1u64 << bits;
            cases.extend([edge - 1, edge, edge + 1]);
        }
        for v in cases {
            let mut buf = [0u8; 10];
            assert_eq!(varint_len(v), write_varint(&mut buf, 0, v), "{v}");
        }
    }
}
