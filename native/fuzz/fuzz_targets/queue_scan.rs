//! Arbitrary bytes as a durable-queue segment, and well-formed segments with
//! one damaged byte. The first byte picks the mode; see the invariants below.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentio_core::queue::{record_header, scan, scan_with_work};

const MAX: u32 = 1 << 16;

/// Invariants of any scan: records and damage tile the segment in order,
/// every record is intact (its header re-encodes to the bytes on disk), the
/// clean end is the end of the last record, and the work is linear.
fn check_scan(seg: &[u8]) {
    let (r, work) = scan_with_work(seg, MAX);
    let mut pieces: Vec<(u64, u64, bool)> = r.records.iter().map(|x| (x.offset, x.end(), true)).collect();
    pieces.extend(r.damage.iter().map(|d| (d.offset, d.offset + d.length, false)));
    pieces.sort_unstable();
    let mut at = 0u64;
    for &(start, end, _) in &pieces {
        assert_eq!(start, at, "pieces tile the segment: gap or overlap at {at}");
        assert!(end > start, "empty piece at {start}");
        at = end;
    }
    assert_eq!(at, seg.len() as u64, "pieces cover the whole segment");
    for x in &r.records {
        assert!(x.payload_len <= MAX);
        let (o, p, e) = (x.offset as usize, x.payload_offset() as usize, x.end() as usize);
        assert_eq!(record_header(&seg[p..e], x.samples, x.enqueued_ms)[..], seg[o..p], "record at {o} is intact");
    }
    assert_eq!(r.clean_end, r.records.last().map_or(0, |x| x.end()));
    let n = seg.len() as u64;
    // Linear: each byte is fed to the CRC a bounded number of times, plus at
    // most one 128-byte prefix block per candidate and record examined.
    assert!(work.crc_bytes <= 3 * n + 256 * (work.candidates + r.records.len() as u64), "crc work {} for {n} bytes", work.crc_bytes);
    assert!(work.candidates <= n, "{} candidates for {n} bytes", work.candidates);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        check_scan(rest);
        return;
    }
    // Well-formed records (payload sizes from the input), then one byte changed:
    // every record not touching the changed byte must be found unchanged.
    if rest.len() < 4 {
        return;
    }
    let (ctl, body) = rest.split_at(4);
    let flip_at = u16::from_le_bytes([ctl[0], ctl[1]]) as usize;
    let flip = ctl[2] | 1;
    let mut seg = Vec::new();
    let mut spans = Vec::new();
    for (i, chunk) in body.chunks(1 + (ctl[3] as usize % 97)).enumerate() {
        let start = seg.len();
        seg.extend_from_slice(&record_header(chunk, i as u32, i as i64 * 1000));
        seg.extend_from_slice(chunk);
        spans.push((start, seg.len(), i as u32));
    }
    let clean = scan(&seg, MAX);
    assert_eq!(clean.records.len(), spans.len(), "every record of an undamaged segment");
    assert!(clean.damage.is_empty());
    if seg.is_empty() {
        return;
    }
    let at = flip_at % seg.len();
    seg[at] ^= flip;
    check_scan(&seg);
    let found = scan(&seg, MAX);
    for &(start, end, samples) in &spans {
        if (start..end).contains(&at) {
            continue;
        }
        assert!(
            found.records.iter().any(|x| x.offset == start as u64 && x.end() == end as u64 && x.samples == samples),
            "record {samples} at {start}..{end} survives a change at {at}"
        );
    }
});
