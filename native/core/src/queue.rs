//! Durable-queue record framing and segment scanning (no file I/O here).
//!
//! A queue segment is a sequence of records, each a 24-byte header and its
//! payload:
//!
//! ```text
//! 0..4    magic b"SQR1"
//! 4..8    CRC32C (Castagnoli), u32 LE, of header bytes 8..24 then the payload
//! 8..12   payload length, u32 LE
//! 12..16  samples in the payload, u32 LE
//! 16..24  enqueue time, Unix ms, i64 LE
//! ```
//!
//! [`scan`] walks a segment from offset 0 and returns every intact record,
//! before and after any damage (torn tails, bit flips, garbage, zero fill).
//! After a record that is not intact it resynchronises on the next offset where
//! an intact record starts (magic, length within the limit and the buffer,
//! matching CRC) and reports the skipped bytes as one damage entry.
//!
//! A scan is linear in the segment length, whatever its bytes: magic
//! candidates are found with `memmem`, the search goes on after each failed
//! candidate (never restarting from the damaged offset), and from the first
//! damage on a record's CRC is not recomputed over its whole claimed length
//! (a fake header may claim up to `max_record_bytes`, many times over). It is
//! derived in constant time from CRCs of segment prefixes, kept every 128
//! bytes, by the CRC's linearity:
//! `crc(a..b) = crc(..b) ^ crc(..a) · x^(8(b-a)) mod p(x)`.

use memchr::memmem;

/// Bytes of a record header.
pub const RECORD_HEADER_BYTES: usize = 24;
/// The magic that starts every record.
pub const RECORD_MAGIC: [u8; 4] = *b"SQR1";

/// The CRC32C (Castagnoli) of `data`, hardware-accelerated where available.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// The header of a record carrying `payload`: write it, then the payload.
///
/// # Panics
/// When `payload` is longer than `u32::MAX` bytes (no record can hold it;
/// callers taking lengths from outside check first).
pub fn record_header(payload: &[u8], samples: u32, enqueued_ms: i64) -> [u8; RECORD_HEADER_BYTES] {
    let len = u32::try_from(payload.len()).expect("a queue record payload must be at most u32::MAX bytes");
    let mut h = [0u8; RECORD_HEADER_BYTES];
    h[0..4].copy_from_slice(&RECORD_MAGIC);
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&samples.to_le_bytes());
    h[16..24].copy_from_slice(&enqueued_ms.to_le_bytes());
    let crc = ::crc32c::crc32c_append(::crc32c::crc32c(&h[8..24]), payload);
    h[4..8].copy_from_slice(&crc.to_le_bytes());
    h
}

/// An intact record found by [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Offset of the record's header in the segment.
    pub offset: u64,
    pub payload_len: u32,
    pub samples: u32,
    pub enqueued_ms: i64,
}

impl RecordInfo {
    /// Offset of the payload in the segment.
    pub fn payload_offset(&self) -> u64 {
        self.offset + RECORD_HEADER_BYTES as u64
    }
    /// Offset just after the record.
    pub fn end(&self) -> u64 {
        self.payload_offset() + u64::from(self.payload_len)
    }
}

/// A damaged byte range of a segment: no intact record starts inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub length: u64,
    /// Why the record expected at `offset` is not intact: `bad magic`,
    /// `zero-filled`, `length N exceeds max record bytes M`,
    /// `torn record: N of M bytes`, `torn record: N of 24 header bytes`,
    /// `crc mismatch: ...`.
    pub reason: String,
}

/// What [`scan`] found in a segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Every intact record, in segment order.
    pub records: Vec<RecordInfo>,
    /// Every damaged range, in segment order (between, before or after records).
    pub damage: Vec<Damage>,
    /// End of the last intact record (0 when there is none). Bytes after it
    /// are a torn or corrupt tail, also reported in `damage`.
    pub clean_end: u64,
}

/// Work done by a scan (for tests that check it stays linear).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanWork {
    /// Bytes fed to the CRC, all paths together.
    pub crc_bytes: u64,
    /// Magic candidates examined while resynchronising.
    pub candidates: u64,
}

/// Scans a segment: every intact record, every damaged range, the clean end.
/// A record is intact when its magic matches, its payload length is at most
/// `max_record_bytes` and fits in `segment`, and its CRC matches. Linear time.
pub fn scan(segment: &[u8], max_record_bytes: u32) -> ScanResult {
    scan_with_work(segment, max_record_bytes).0
}

/// [`scan`], also returning the work it did.
#[doc(hidden)]
pub fn scan_with_work(segment: &[u8], max_record_bytes: u32) -> (ScanResult, ScanWork) {
    let mut s = Scanner { buf: segment, max: max_record_bytes, work: ScanWork::default(), prefix: None };
    let mut out = ScanResult::default();
    let n = segment.len();
    let mut pos = 0usize;
    while pos < n {
        let computed = match s.header(pos) {
            Some(h) => {
                let crc = s.record_crc(pos, h.len);
                if crc == h.crc {
                    out.records.push(h.info(pos));
                    pos += RECORD_HEADER_BYTES + h.len as usize;
                    out.clean_end = pos as u64;
                    continue;
                }
                Some((h.crc, crc))
            }
            None => None,
        };
        let reason = s.diagnose(pos, computed);
        match s.resync(pos + 1) {
            Some((next, h)) => {
                out.damage.push(damage(segment, pos, next, reason));
                // `resync` checked the CRC already.
                out.records.push(h.info(next));
                pos = next + RECORD_HEADER_BYTES + h.len as usize;
                out.clean_end = pos as u64;
            }
            None => {
                out.damage.push(damage(segment, pos, n, reason));
                pos = n;
            }
        }
    }
    (out, s.work)
}

fn damage(buf: &[u8], start: usize, end: usize, reason: String) -> Damage {
    let reason = if reason == BAD_MAGIC && buf[start..end].iter().all(|&b| b == 0) {
        "zero-filled".to_string()
    } else {
        reason
    };
    Damage { offset: start as u64, length: (end - start) as u64, reason }
}

const BAD_MAGIC: &str = "bad magic";

/// A header whose magic and length are plausible (not yet CRC-checked).
#[derive(Clone, Copy)]
struct Header {
    crc: u32,
    len: u32,
    samples: u32,
    enqueued_ms: i64,
}

impl Header {
    fn info(&self, offset: usize) -> RecordInfo {
        RecordInfo { offset: offset as u64, payload_len: self.len, samples: self.samples, enqueued_ms: self.enqueued_ms }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Spacing of the prefix-CRC checkpoints used while resynchronising.
const CHECKPOINT: usize = 128;

/// CRCs of `buf[base..base + i * CHECKPOINT]`, extended on demand.
struct Prefixes {
    base: usize,
    crcs: Vec<u32>,
}

struct Scanner<'a> {
    buf: &'a [u8],
    max: u32,
    work: ScanWork,
    prefix: Option<Prefixes>,
}

impl Scanner<'_> {
    /// The header at `pos` when its magic matches and its payload length is
    /// within the limit and the buffer.
    #[inline]
    fn header(&self, pos: usize) -> Option<Header> {
        let b = self.buf;
        let h = b.get(pos..pos.checked_add(RECORD_HEADER_BYTES)?)?;
        if h[0..4] != RECORD_MAGIC {
            return None;
        }
        let len = u32_at(h, 8);
        if len > self.max || b.len() - pos - RECORD_HEADER_BYTES < len as usize {
            return None;
        }
        Some(Header {
            crc: u32_at(h, 4),
            len,
            samples: u32_at(h, 12),
            enqueued_ms: i64::from_le_bytes(h[16..24].try_into().expect("8 bytes")),
        })
    }

    /// CRC of the record at `pos` (header bytes 8.. and payload). Until the
    /// first damage, computed over its bytes (each byte of the segment once);
    /// after it, from prefix CRCs, so that a header whose CRC fails does not
    /// cost a pass over its claimed length each time.
    fn record_crc(&mut self, pos: usize, len: u32) -> u32 {
        let (a, e) = (pos + 8, pos + RECORD_HEADER_BYTES + len as usize);
        if self.prefix.is_some() {
            return self.range_crc(a, e);
        }
        self.work.crc_bytes += (e - a) as u64;
        crc32c(&self.buf[a..e])
    }

    /// Why the record expected at `pos` is not intact; `crcs` (stored,
    /// computed) when its magic and length were fine.
    fn diagnose(&self, pos: usize, crcs: Option<(u32, u32)>) -> String {
        if let Some((stored, computed)) = crcs {
            return format!("crc mismatch: stored {stored:#010x}, computed {computed:#010x}");
        }
        let b = &self.buf[pos..];
        if b.len() < RECORD_HEADER_BYTES {
            let m = b.len().min(4);
            return if b[..m] == RECORD_MAGIC[..m] {
                format!("torn record: {} of {RECORD_HEADER_BYTES} header bytes", b.len())
            } else {
                BAD_MAGIC.to_string()
            };
        }
        if b[0..4] != RECORD_MAGIC {
            return BAD_MAGIC.to_string();
        }
        let len = u32_at(b, 8);
        if len > self.max {
            return format!("length {len} exceeds max record bytes {}", self.max);
        }
        let total = RECORD_HEADER_BYTES as u64 + u64::from(len);
        format!("torn record: {} of {total} bytes", b.len())
    }

    /// The first offset at or after `from` where an intact record starts.
    fn resync(&mut self, from: usize) -> Option<(usize, Header)> {
        let buf = self.buf;
        if from >= buf.len() {
            return None;
        }
        for rel in memmem::find_iter(&buf[from..], &RECORD_MAGIC) {
            let c = from + rel;
            self.work.candidates += 1;
            let Some(h) = self.header(c) else {
                continue;
            };
            if self.range_crc(c + 8, c + RECORD_HEADER_BYTES + h.len as usize) == h.crc {
                return Some((c, h));
            }
        }
        None
    }

    /// CRC of `buf[a..e]` from prefix CRCs: constant work for any length.
    fn range_crc(&mut self, a: usize, e: usize) -> u32 {
        let pa = self.prefix_crc(a);
        let pe = self.prefix_crc(e);
        pe ^ shift(pa, (e - a) as u64)
    }

    /// CRC of `buf[base..p]`, the base being the first offset asked for.
    fn prefix_crc(&mut self, p: usize) -> u32 {
        let buf = self.buf;
        let pre = self.prefix.get_or_insert_with(|| Prefixes { base: p, crcs: vec![0] });
        // Offsets asked for only grow past the first damage, where the base is.
        debug_assert!(p >= pre.base);
        let i = (p - pre.base) / CHECKPOINT;
        while pre.crcs.len() <= i {
            let j = pre.crcs.len();
            let chunk = &buf[pre.base + (j - 1) * CHECKPOINT..pre.base + j * CHECKPOINT];
            self.work.crc_bytes += CHECKPOINT as u64;
            pre.crcs.push(::crc32c::crc32c_append(pre.crcs[j - 1], chunk));
        }
        let rest = &buf[pre.base + i * CHECKPOINT..p];
        self.work.crc_bytes += rest.len() as u64;
        ::crc32c::crc32c_append(pre.crcs[i], rest)
    }
}

// ---- GF(2) arithmetic modulo the CRC32C polynomial (reflected, as zlib's crc32_combine) ----

/// The CRC32C polynomial, reflected.
const POLY: u32 = 0x82F6_3B78;

/// `a(x) · b(x) mod p(x)`, reflected (bit 31 is the coefficient of x^0).
const fn multmodp(a: u32, mut b: u32) -> u32 {
    let mut p = 0u32;
    let mut i = 0;
    while i < 32 {
        if a & (1 << (31 - i)) != 0 {
            p ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        i += 1;
    }
    p
}

/// `X8N[i][j]` = x^(8 · j · 256^i) mod p(x): shifts by any byte count below 2^40
/// in at most five multiplications.
static X8N: [[u32; 256]; 5] = x8n_tables();

const fn x8n_tables() -> [[u32; 256]; 5] {
    let mut t = [[0u32; 256]; 5];
    let mut i = 0;
    while i < 5 {
        t[i][0] = 1 << 31; // x^0
        t[i][1] = if i == 0 {
            1 << 23 // x^8
        } else {
            multmodp(t[i - 1][255], t[i - 1][1]) // x^(8·256^(i-1)·256)
        };
        let mut j = 2;
        while j < 256 {
            t[i][j] = multmodp(t[i][j - 1], t[i][1]);
            j += 1;
        }
        i += 1;
    }
    t
}

/// `crc · x^(8 · bytes) mod p(x)`: what `crc` contributes to the CRC of a
/// stream after `bytes` more bytes (zlib's `crc32_combine(crc, 0, bytes)`).
fn shift(crc: u32, bytes: u64) -> u32 {
    debug_assert!(bytes < 1 << 40);
    let mut p = crc;
    let mut n = bytes;
    let mut i = 0;
    while n != 0 {
        let byte = (n & 0xFF) as usize;
        if byte != 0 {
            p = multmodp(X8N[i][byte], p);
        }
        n >>= 8;
        i += 1;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_matches_the_crate_combine() {
        for (crc, len) in [(0u32, 1usize), (0xDEAD_BEEF, 1), (1, 255), (0x1234_5678, 256), (7, 65_537), (u32::MAX, 1 << 33)] {
            assert_eq!(shift(crc, len as u64), ::crc32c::crc32c_combine(crc, 0, len), "{crc:#x} {len}");
        }
    }

    #[test]
    fn range_crc_from_prefixes_equals_the_direct_crc() {
        let buf: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut s = Scanner { buf: &buf, max: u32::MAX, work: ScanWork::default(), prefix: None };
        for (a, e) in [(3, 3), (3, 4), (10, 138), (131, 900), (200, 4999), (4000, 5000)] {
            assert_eq!(s.range_crc(a, e), crc32c(&buf[a..e]), "{a}..{e}");
        }
    }
}
