//! Durable-queue record framing and segment scanning: every intact record is
//! found before and after any damage, and each damaged range is reported once.

use proptest::prelude::*;
use sentio_core::queue::{
    crc32c, record_header, scan, scan_with_work, Damage, RecordInfo, ScanResult, RECORD_HEADER_BYTES, RECORD_MAGIC,
};

const MAX: u32 = 1 << 20;

/// One record to write.
#[derive(Clone, Debug)]
struct Rec {
    payload: Vec<u8>,
    samples: u32,
    enqueued_ms: i64,
}

fn rec(payload: Vec<u8>, samples: u32, enqueued_ms: i64) -> Rec {
    Rec { payload, samples, enqueued_ms }
}

fn append(seg: &mut Vec<u8>, r: &Rec) -> RecordInfo {
    let offset = seg.len() as u64;
    seg.extend_from_slice(&record_header(&r.payload, r.samples, r.enqueued_ms));
    seg.extend_from_slice(&r.payload);
    RecordInfo { offset, payload_len: r.payload.len() as u32, samples: r.samples, enqueued_ms: r.enqueued_ms }
}

fn segment(recs: &[Rec]) -> (Vec<u8>, Vec<RecordInfo>) {
    let mut seg = Vec::new();
    let infos = recs.iter().map(|r| append(&mut seg, r)).collect();
    (seg, infos)
}

/// Deterministic bytes without the magic in them.
fn filler(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .map(|b| if b == b'S' { b'T' } else { b }) // no magic by chance
        .collect()
}

fn payload_of<'a>(seg: &'a [u8], r: &RecordInfo) -> &'a [u8] {
    &seg[r.payload_offset() as usize..r.end() as usize]
}

/// Records and damage tile the segment: contiguous from 0 to its end.
fn assert_tiles(seg: &[u8], s: &ScanResult) {
    let mut parts: Vec<(u64, u64, bool)> = s.records.iter().map(|r| (r.offset, r.end(), true)).collect();
    parts.extend(s.damage.iter().map(|d| (d.offset, d.offset + d.length, false)));
    parts.sort();
    let mut at = 0;
    for (i, &(start, end, is_record)) in parts.iter().enumerate() {
        assert_eq!(start, at, "gap or overlap at {at}: {s:?}");
        assert!(end > start || is_record, "empty damage: {s:?}");
        if !is_record {
            assert!(parts.get(i + 1).is_none_or(|p| p.2), "two damage entries in a row: {s:?}");
        }
        at = end;
    }
    assert_eq!(at, seg.len() as u64);
    assert_eq!(s.clean_end, s.records.last().map_or(0, RecordInfo::end));
}

#[test]
fn header_layout_and_crc32c() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283, "the CRC32C check value");
    let payload = b"cpu,host=a v=1 1\n";
    let h = record_header(payload, 7, -1_700_000_000_123);
    assert_eq!(RECORD_HEADER_BYTES, 24);
    assert_eq!(&h[0..4], b"SQR1");
    assert_eq!(&h[0..4], &RECORD_MAGIC);
    assert_eq!(u32::from_le_bytes(h[8..12].try_into().unwrap()), payload.len() as u32);
    assert_eq!(u32::from_le_bytes(h[12..16].try_into().unwrap()), 7);
    assert_eq!(i64::from_le_bytes(h[16..24].try_into().unwrap()), -1_700_000_000_123);
    let mut covered = h[8..24].to_vec();
    covered.extend_from_slice(payload);
    assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), crc32c(&covered));
}

#[test]
fn empty_segment_and_empty_payload() {
    assert_eq!(scan(&[], MAX), ScanResult::default());
    let (seg, infos) = segment(&[rec(vec![], 0, 0), rec(vec![], 0, 1)]);
    let s = scan(&seg, MAX);
    assert_eq!(s.records, infos);
    assert!(s.damage.is_empty());
    assert_eq!(s.clean_end, 48);
}

#[test]
fn round_trip_of_many_records_of_varied_sizes() {
    let sizes = [0usize, 1, 2, 3, 23, 24, 25, 127, 128, 129, 1000, 4096, 65_535, 65_536, 100_000, 7, 0, 300_000];
    let recs: Vec<Rec> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| rec(filler(n, i as u64), i as u32 * 1000, 1_800_000_000_000 + i as i64))
        .collect();
    let (seg, infos) = segment(&recs);
    let s = scan(&seg, MAX);
    assert_eq!(s.records, infos);
    assert!(s.damage.is_empty(), "{:?}", s.damage);
    assert_eq!(s.clean_end, seg.len() as u64);
    for (r, want) in s.records.iter().zip(&recs) {
        assert_eq!(payload_of(&seg, r), &want.payload[..]);
    }
    // a record of exactly max_record_bytes is intact
    let s = scan(&seg, 300_000);
    assert_eq!(s.records.len(), recs.len());
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let recs: Vec<Rec> = (0..5).map(|i| rec(filler(10 + 37 * i, i as u64), i as u32, i as i64)).collect();
    let (seg, infos) = segment(&recs);
    let last = infos[4];
    for cut in last.offset as usize..seg.len() {
        let s = scan(&seg[..cut], MAX);
        assert_eq!(s.records, infos[..4], "cut at {cut}");
        assert_eq!(s.clean_end, last.offset, "cut at {cut}");
        if cut == last.offset as usize {
            assert!(s.damage.is_empty());
            continue;
        }
        let have = cut - last.offset as usize;
        let reason = if have < 24 {
            format!("torn record: {have} of 24 header bytes")
        } else {
            format!("torn record: {have} of {} bytes", last.end() - last.offset)
        };
        assert_eq!(s.damage, vec![Damage { offset: last.offset, length: have as u64, reason }], "cut at {cut}");
        assert_tiles(&seg[..cut], &s);
    }
}

#[test]
fn bit_flip_at_every_byte_of_a_three_record_segment() {
    let recs = [rec(filler(5, 1), 1, 10), rec(filler(40, 2), 2, 20), rec(filler(17, 3), 3, 30)];
    let (seg, infos) = segment(&recs);
    for pos in 0..seg.len() {
        for bit in 0..8 {
            let mut bad = seg.clone();
            bad[pos] ^= 1 << bit;
            let s = scan(&bad, 1024);
            let hit = infos.iter().position(|r| (r.offset..r.end()).contains(&(pos as u64))).unwrap();
            let others: Vec<RecordInfo> =
                infos.iter().enumerate().filter(|&(i, _)| i != hit).map(|(_, r)| *r).collect();
            assert_eq!(s.records, others, "flip {pos}.{bit}");
            assert_eq!(s.damage.len(), 1, "flip {pos}.{bit}: {:?}", s.damage);
            let d = &s.damage[0];
            assert_eq!((d.offset, d.offset + d.length), (infos[hit].offset, infos[hit].end()), "flip {pos}.{bit}");
            let field = pos - infos[hit].offset as usize;
            let ok = match field {
                0..4 => d.reason == "bad magic",
                8..12 => {
                    d.reason.starts_with("crc mismatch")
                        || d.reason.starts_with("torn record")
                        || d.reason.contains("exceeds max record bytes 1024")
                }
                _ => d.reason.starts_with("crc mismatch: stored 0x"),
            };
            assert!(ok, "flip {pos}.{bit}: {}", d.reason);
            assert_tiles(&bad, &s);
            let want_end = if hit == 2 { infos[1].end() } else { infos[2].end() };
            assert_eq!(s.clean_end, want_end);
        }
    }
}

#[test]
fn garbage_between_records_is_skipped_and_reported() {
    let mut seg = Vec::new();
    let a = append(&mut seg, &rec(filler(50, 1), 5, 1));
    let g1 = seg.len();
    seg.extend_from_slice(b"garbage that is not a record");
    let b = append(&mut seg, &rec(filler(60, 2), 6, 2));
    let g2 = seg.len();
    // partial and false magics, and a header whose CRC is wrong
    seg.extend_from_slice(b"SQRSQR1");
    seg.extend_from_slice(&[0xFF; 9]);
    let mut fake = record_header(b"abc", 1, 1);
    fake[4] ^= 1;
    seg.extend_from_slice(&fake);
    seg.extend_from_slice(b"abc");
    let c = append(&mut seg, &rec(filler(70, 3), 7, 3));
    let s = scan(&seg, MAX);
    assert_eq!(s.records, vec![a, b, c]);
    assert_eq!(s.damage.len(), 2, "{:?}", s.damage);
    assert_eq!((s.damage[0].offset, s.damage[0].length), (g1 as u64, b.offset - g1 as u64));
    assert_eq!(s.damage[0].reason, "bad magic");
    assert_eq!((s.damage[1].offset, s.damage[1].length), (g2 as u64, c.offset - g2 as u64));
    assert_eq!(s.clean_end, seg.len() as u64);
    assert_tiles(&seg, &s);
    // garbage before the first record
    let mut seg2 = b"\x00\x01junk".to_vec();
    let first = append(&mut seg2, &rec(vec![1, 2, 3], 1, 1));
    let s = scan(&seg2, MAX);
    assert_eq!(s.records, vec![first]);
    assert_eq!(s.damage, vec![Damage { offset: 0, length: 6, reason: "bad magic".into() }]);
}

#[test]
fn zero_filled_tail() {
    let recs: Vec<Rec> = (0..3).map(|i| rec(filler(100, i), 1, 1)).collect();
    let (mut seg, infos) = segment(&recs);
    let end = seg.len() as u64;
    seg.resize(seg.len() + 64 * 1024, 0);
    let s = scan(&seg, MAX);
    assert_eq!(s.records, infos);
    assert_eq!(s.clean_end, end);
    assert_eq!(s.damage, vec![Damage { offset: end, length: 64 * 1024, reason: "zero-filled".into() }]);
    // a few zero bytes only (shorter than a header)
    let short = &seg[..end as usize + 5];
    assert_eq!(scan(short, MAX).damage[0].reason, "zero-filled");
    // a record torn inside preallocated zeros: a CRC mismatch up to the end
    let mut torn = seg[..end as usize].to_vec();
    let r = rec(filler(200, 9), 1, 1);
    append(&mut torn, &r);
    let cut = torn.len() - 150;
    torn.truncate(cut);
    torn.resize(cut + 4096, 0);
    let s = scan(&torn, MAX);
    assert_eq!(s.records, infos);
    assert_eq!(s.damage.len(), 1);
    assert!(s.damage[0].reason.starts_with("crc mismatch"), "{}", s.damage[0].reason);
}

#[test]
fn length_beyond_max_record_bytes() {
    let recs = [rec(filler(100, 1), 1, 1), rec(filler(2000, 2), 2, 2), rec(filler(1000, 3), 3, 3)];
    let (seg, infos) = segment(&recs);
    let s = scan(&seg, 1000);
    assert_eq!(s.records, vec![infos[0], infos[2]], "a payload of exactly max_record_bytes is intact");
    assert_eq!(
        s.damage,
        vec![Damage {
            offset: infos[1].offset,
            length: infos[1].end() - infos[1].offset,
            reason: "length 2000 exceeds max record bytes 1000".into()
        }]
    );
    // a length claiming far more than the segment holds
    let mut bad = seg.clone();
    let at = infos[1].offset as usize + 8;
    bad[at..at + 4].copy_from_slice(&123_456_789u32.to_le_bytes());
    let s = scan(&bad, 1 << 30);
    assert_eq!(s.records, vec![infos[0], infos[2]]);
    let want = format!("torn record: {} of {} bytes", bad.len() - infos[1].offset as usize, 123_456_789 + 24);
    assert_eq!(s.damage[0].reason, want);
    let s = scan(&bad, 1000);
    assert_eq!(s.damage[0].reason, "length 123456789 exceeds max record bytes 1000");
}

#[test]
fn a_record_inside_a_damaged_payload_is_found() {
    // A payload that itself holds a whole record (e.g. a queue segment enqueued
    // as data): once its outer record is damaged, the inner one is intact.
    let mut inner_seg = Vec::new();
    append(&mut inner_seg, &rec(b"inner".to_vec(), 9, 9));
    let mut seg = Vec::new();
    let outer = append(&mut seg, &rec([b"xx".as_slice(), &inner_seg, b"yy"].concat(), 1, 1));
    let after = append(&mut seg, &rec(b"after".to_vec(), 2, 2));
    assert_eq!(scan(&seg, MAX).records, vec![outer, after]);
    seg[0] = b'X';
    let s = scan(&seg, MAX);
    let inner = RecordInfo { offset: outer.payload_offset() + 2, payload_len: 5, samples: 9, enqueued_ms: 9 };
    assert_eq!(s.records, vec![inner, after]);
    assert_eq!(s.damage.len(), 2);
    assert_tiles(&seg, &s);
}

/// A 24-byte fake header claiming `len`, with a wrong CRC.
fn fake_header(len: u32, salt: u32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&RECORD_MAGIC);
    h[4..8].copy_from_slice(&salt.wrapping_mul(0x9E37_79B9).to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h
}

#[test]
fn fake_headers_claiming_huge_lengths_cost_linear_work() {
    // A damaged record whose 1 MiB payload is made only of fake headers, each
    // claiming a 1 MiB payload that fits in the segment: checking each one's
    // CRC over its claimed length would be ~44k × 1 MiB of work.
    let mut seg = Vec::new();
    let first = append(&mut seg, &rec(b"first".to_vec(), 1, 1));
    let damaged_at = seg.len();
    let fakes: Vec<u8> = (0..(1 << 20) / 24).flat_map(|i| fake_header(MAX, i)).collect();
    let damaged = append(&mut seg, &rec(fakes, 1, 1));
    seg[damaged_at + 4] ^= 0xFF; // its CRC
    let rest: Vec<RecordInfo> = (0..16).map(|i| append(&mut seg, &rec(filler(100_000, i), 1, 1))).collect();
    let (s, work) = scan_with_work(&seg, MAX);
    let mut want = vec![first];
    want.extend(&rest);
    assert_eq!(s.records, want);
    assert_eq!(s.damage.len(), 1);
    assert_eq!((s.damage[0].offset, s.damage[0].length), (damaged.offset, damaged.end() - damaged.offset));
    let n = seg.len() as u64;
    assert!(work.candidates > 40_000, "{work:?}");
    // direct CRCs before the damage, one failed direct CRC, prefix checkpoints:
    // each at most n; then at most two checkpoint remainders per check.
    assert!(work.crc_bytes <= 3 * n + 256 * (work.candidates + s.records.len() as u64), "{work:?}, n {n}");
    assert!(work.crc_bytes < 10 * n, "{work:?}, n {n}");
}

#[test]
fn alternating_damage_and_tiny_records_cost_linear_work() {
    // Many damaged headers, each claiming max_record_bytes with a wrong CRC,
    // each followed by a tiny intact record; the segment ends with enough
    // bytes for every claimed length to fit.
    let mut seg = Vec::new();
    let mut want = Vec::new();
    for i in 0..20_000 {
        seg.extend_from_slice(&fake_header(MAX, i));
        want.push(append(&mut seg, &rec(vec![], i, 0)));
    }
    seg.extend(filler(MAX as usize + 64, 5));
    let (s, work) = scan_with_work(&seg, MAX);
    assert_eq!(s.records, want);
    assert_eq!(s.damage.len(), 20_001);
    let n = seg.len() as u64;
    assert!(work.crc_bytes <= 3 * n + 256 * (work.candidates + s.records.len() as u64), "{work:?}, n {n}");
}

/// The obvious quadratic scanner, as the reference: direct CRCs, and a
/// byte-by-byte search from the damaged offset + 1.
fn reference_scan(seg: &[u8], max: u32) -> ScanResult {
    let intact = |p: usize| -> Option<RecordInfo> {
        let h = seg.get(p..p + 24)?;
        let len = u32::from_le_bytes(h[8..12].try_into().unwrap());
        let end = p + 24 + len as usize;
        if h[0..4] != RECORD_MAGIC || len > max || end > seg.len() {
            return None;
        }
        (u32::from_le_bytes(h[4..8].try_into().unwrap()) == crc32c(&seg[p + 8..end])).then(|| RecordInfo {
            offset: p as u64,
            payload_len: len,
            samples: u32::from_le_bytes(h[12..16].try_into().unwrap()),
            enqueued_ms: i64::from_le_bytes(h[16..24].try_into().unwrap()),
        })
    };
    let mut out = ScanResult::default();
    let mut pos = 0;
    while pos < seg.len() {
        if let Some(r) = intact(pos) {
            out.records.push(r);
            pos = r.end() as usize;
            out.clean_end = r.end();
            continue;
        }
        let next = (pos + 1..seg.len()).find(|&p| intact(p).is_some()).unwrap_or(seg.len());
        out.damage.push(Damage { offset: pos as u64, length: (next - pos) as u64, reason: String::new() });
        pos = next;
    }
    out
}

#[derive(Clone, Debug)]
enum Corruption {
    Flip { at: usize, bit: u8 },
    Overwrite { at: usize, bytes: Vec<u8> },
    Zero { at: usize, len: usize },
    /// A fake header (wrong CRC) claiming some length.
    Fake { at: usize, len: u32 },
    Truncate { at: usize },
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Corruption::Flip { at, bit }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(at, bytes)| Corruption::Overwrite { at, bytes }),
        (any::<usize>(), 1usize..100).prop_map(|(at, len)| Corruption::Zero { at, len }),
        (any::<usize>(), 0u32..600).prop_map(|(at, len)| Corruption::Fake { at, len }),
        any::<usize>().prop_map(|at| Corruption::Truncate { at }),
    ]
}

fn records() -> impl Strategy<Value = Vec<Rec>> {
    prop::collection::vec(
        (prop::collection::vec(any::<u8>(), 0..300), any::<u32>(), any::<i64>()).prop_map(|(p, s, t)| rec(p, s, t)),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_record_clear_of_corruption_is_returned_unchanged(
        recs in records(),
        corruptions in prop::collection::vec(corruption(), 0..5),
    ) {
        let (mut seg, infos) = segment(&recs);
        // byte ranges touched by corruption; a truncation touches its offset onwards
        let mut touched: Vec<(usize, usize)> = Vec::new();
        for c in &corruptions {
            if seg.is_empty() {
                break;
            }
            let n = seg.len();
            match c {
                Corruption::Flip { at, bit } => {
                    seg[at % n] ^= 1 << bit;
                    touched.push((at % n, at % n + 1));
                }
                Corruption::Overwrite { at, bytes } => {
                    let at = at % n;
                    let end = (at + bytes.len()).min(n);
                    seg[at..end].copy_from_slice(&bytes[..end - at]);
                    touched.push((at, end));
                }
                Corruption::Zero { at, len } => {
                    let at = at % n;
                    let end = (at + len).min(n);
                    seg[at..end].fill(0);
                    touched.push((at, end));
                }
                Corruption::Fake { at, len } => {
                    let at = at % n;
                    let end = (at + 24).min(n);
                    seg[at..end].copy_from_slice(&fake_header(*len, *len)[..end - at]);
                    touched.push((at, end));
                }
                Corruption::Truncate { at } => {
                    let at = at % n;
                    seg.truncate(at);
                    touched.push((at, usize::MAX));
                }
            }
        }
        let s = scan(&seg, 400);
        for r in &infos {
            let (start, end) = (r.offset as usize, r.end() as usize);
            if r.payload_len > 400 || touched.iter().any(|&(a, b)| a < end && start < b) {
                continue;
            }
            prop_assert!(s.records.contains(r), "{r:?} missing from {s:?}");
            let i = recs.iter().zip(&infos).position(|(_, x)| x == r).unwrap();
            prop_assert_eq!(payload_of(&seg, r), &recs[i].payload[..]);
        }
        assert_tiles(&seg, &s);
        // same records and damaged ranges as the obvious quadratic scanner
        let want = reference_scan(&seg, 400);
        prop_assert_eq!(&s.records, &want.records);
        let ranges = |d: &[Damage]| d.iter().map(|d| (d.offset, d.length)).collect::<Vec<_>>();
        prop_assert_eq!(ranges(&s.damage), ranges(&want.damage));
        prop_assert_eq!(s.clean_end, want.clean_end);
    }

    #[test]
    fn records_nested_in_payloads_match_the_reference(
        recs in records(),
        nest in prop::collection::vec((any::<usize>(), any::<usize>()), 0..4),
        flips in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        // payloads that contain whole records, then random damage: resync must
        // find exactly the first intact record the reference finds.
        let mut recs = recs;
        for &(outer, inner) in &nest {
            if recs.len() < 2 {
                break;
            }
            let (o, i) = (outer % recs.len(), inner % recs.len());
            let mut inner_bytes = Vec::new();
            append(&mut inner_bytes, &recs[i].clone());
            let at = recs[o].payload.len() / 2;
            recs[o].payload.splice(at..at, inner_bytes);
        }
        let (mut seg, _) = segment(&recs);
        for f in &flips {
            if !seg.is_empty() {
                let n = seg.len();
                seg[f % n] ^= 0x10;
            }
        }
        let s = scan(&seg, 4096);
        assert_tiles(&seg, &s);
        let want = reference_scan(&seg, 4096);
        prop_assert_eq!(&s.records, &want.records);
        prop_assert_eq!(s.clean_end, want.clean_end);
    }
}
