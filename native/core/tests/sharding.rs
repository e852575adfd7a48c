//! Series hashing and jump-hash sharding.

use sentio_core::series::{canonical_labels, hash_canonical};
use sentio_core::{jump_hash, series_hash, Sharding};
use xxhash_rust::xxh3::xxh3_64;

fn h(labels: &[(&str, &str)]) -> u64 {
    series_hash(labels.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
}

#[test]
fn canonical_encoding_is_documented_form() {
    let c = canonical_labels([(&b"zone"[..], &b"z"[..]), (b"Host", b"a"), (b"__name__", b"cpu")]);
    assert_eq!(c, b"__name__\xffcpu\xffHost\xffa\xffzone\xffz\xff");
    assert_eq!(hash_canonical(&c), xxh3_64(&c));
}

#[test]
fn hash_is_order_independent_and_ignores_empty_values() {
    let a = h(&[("__name__", "cpu"), ("host", "a"), ("dc", "x")]);
    assert_eq!(a, h(&[("dc", "x"), ("host", "a"), ("__name__", "cpu")]));
    assert_eq!(a, h(&[("dc", "x"), ("host", "a"), ("__name__", "cpu"), ("empty", "")]));
    assert_ne!(a, h(&[("__name__", "cpu"), ("host", "a"), ("dc", "y")]));
    // no ambiguity between name/value boundaries
    assert_ne!(h(&[("ab", "c")]), h(&[("a", "bc")]));
}

#[test]
fn jump_hash_is_deterministic_and_in_range() {
    for k in 0..1000u64 {
        let key = xxh3_64(&k.to_le_bytes());
        let b = jump_hash(key, 7);
        assert!(b < 7);
        assert_eq!(b, jump_hash(key, 7));
        assert_eq!(jump_hash(key, 1), 0);
    }
}

#[test]
fn distribution_is_roughly_even() {
    let n = 100_000u64;
    let mut counts = [0u32; 4];
    for k in 0..n {
        counts[jump_hash(xxh3_64(&k.to_le_bytes()), 4) as usize] += 1;
    }
    for c in counts {
        let share = f64::from(c) / n as f64;
        assert!((0.24..0.26).contains(&share), "{counts:?}");
    }
}

#[test]
fn growing_from_3_to_4_moves_about_a_quarter_only_to_the_new_shard() {
    let n = 100_000u64;
    let mut moved = 0;
    for k in 0..n {
        let key = xxh3_64(&k.to_le_bytes());
        let (a, b) = (jump_hash(key, 3), jump_hash(key, 4));
        if a != b {
            moved += 1;
            assert_eq!(b, 3, "keys only move to the new shard");
        }
    }
    let share = f64::from(moved) / n as f64;
    assert!((0.23..0.27).contains(&share), "{share}");
}

#[test]
fn replication_gives_distinct_consecutive_shards() {
    let sh = Sharding::new(5, 3).unwrap();
    for k in 0..1000u64 {
        let key = xxh3_64(&k.to_le_bytes());
        let v: Vec<u32> = sh.shards_for(key).collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], jump_hash(key, 5));
        assert_eq!(v[1], (v[0] + 1) % 5);
        assert_eq!(v[2], (v[0] + 2) % 5);
    }
    let all: Vec<u32> = Sharding::new(3, 3).unwrap().shards_for(42).collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1, 2]);
}

#[test]
fn invalid_sharding_is_an_error() {
    assert!(Sharding::new(0, 1).is_err());
    assert!(Sharding::new(2, 0).is_err());
    assert!(Sharding::new(2, 3).is_err());
    assert!(Sharding::new(2, 2).is_ok());
}
