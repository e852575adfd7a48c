//! Consistent sharding of series over N targets.

/// Jump consistent hash (Lamping & Veach, 2014): a bucket in `0..buckets` for
/// `key`; growing `buckets` from n to n+1 moves about 1/(n+1) of the keys.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets.max(1));
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = (((b + 1) as f64) * ((1u64 << 31) as f64 / (((key >> 33) + 1) as f64))) as i64;
    }
    b as u32
}

/// Validated sharding parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharding {
    shards: u32,
    replication: u32,
}

impl Sharding {
    /// `shards >= 1`, `1 <= replication <= shards`.
    pub fn new(shards: u32, replication: u32) -> Result<Sharding, String> {
        if shards < 1 {
            return Err(format!("shards must be >= 1, got {shards}"));
        }
        if replication < 1 || replication > shards {
            return Err(format!("replication must be between 1 and shards ({shards}), got {replication}"));
        }
        Ok(Sharding { shards, replication })
    }
    pub fn shards(&self) -> u32 {
        self.shards
    }
    pub fn replication(&self) -> u32 {
        self.replication
    }
    /// The shards of a series: primary (jump hash) first, then the next
    /// `replication - 1` shards modulo `shards`.
    pub fn shards_for(&self, hash: u64) -> impl Iterator<Item = u32> {
        let n = self.shards;
        let p = jump_hash(hash, n);
        (0..self.replication).map(move |i| (p + i) % n)
    }
}
