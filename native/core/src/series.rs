//! Series identity: the canonical label encoding, its hash, and its JSON form.
//!
//! A series is identified by its label set, `__name__` included. The canonical
//! encoding is, for `__name__` first and then every other label in ascending
//! byte order of its name:
//!
//! ```text
//! name 0xFF value 0xFF
//! ```
//!
//! Names and values are valid UTF-8, which never contains the byte 0xFF, so the
//! encoding is unambiguous. Labels with an empty value are not part of a series
//! (as in Prometheus and VictoriaMetrics). The series hash is
//! `xxh3_64(canonical bytes)` (seed 0); as an `i64` it is the series id of the
//! embedded store.

use xxhash_rust::xxh3::xxh3_64;

/// The separator after every label name and value.
pub const SEP: u8 = 0xFF;
pub const NAME_LABEL: &[u8] = b"__name__";

/// The 64-bit hash of canonical label bytes.
#[inline]
pub fn hash_canonical(canonical: &[u8]) -> u64 {
    xxh3_64(canonical)
}

/// Appends one label to a canonical encoding.
#[inline]
pub fn push_label(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.push(SEP);
    out.extend_from_slice(value);
    out.push(SEP);
}

/// Builds the canonical encoding of an arbitrary label set (`__name__` first,
/// then by name; empty values dropped; a repeated name keeps its last value).
pub fn canonical_labels<'a, I>(labels: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut out = Vec::new();
    canonical_labels_into(&mut out, labels);
    out
}

/// Label sets up to this size are sorted on the stack (no allocation).
const STACK_LABELS: usize = 24;

/// [`canonical_labels`] into `out` (cleared first): for the hot paths that
/// reuse one buffer, as a label set of up to [`STACK_LABELS`] labels
/// allocates nothing.
pub fn canonical_labels_into<'a, I>(out: &mut Vec<u8>, labels: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    out.clear();
    let mut stack: [(&[u8], &[u8]); STACK_LABELS] = [(&[], &[]); STACK_LABELS];
    let mut heap: Vec<(&[u8], &[u8])> = Vec::new();
    let mut n = 0;
    for pair in labels.into_iter().filter(|(_, v)| !v.is_empty()) {
        if n < STACK_LABELS {
            stack[n] = pair;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(pair);
        }
        n += 1;
    }
    let v: &mut [(&[u8], &[u8])] = if n <= STACK_LABELS { &mut stack[..n] } else { &mut heap };
    // Stable, so of a repeated name the last given stays last (and is kept).
    v.sort_by(|a, b| {
        let an = a.0 == NAME_LABEL;
        let bn = b.0 == NAME_LABEL;
        bn.cmp(&an).then_with(|| a.0.cmp(b.0))
    });
    for (i, (k, val)) in v.iter().enumerate() {
        if v.get(i + 1).is_some_and(|n| n.0 == *k) {
            continue;
        }
        push_label(out, k, val);
    }
}

/// The series hash of a label set given as pairs (see [`canonical_labels`]).
pub fn series_hash<'a, I>(labels: I) -> u64
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    hash_canonical(&canonical_labels(labels))
}

/// Iterates `(name, value)` over canonical bytes.
pub fn iter_labels(canonical: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = canonical;
    std::iter::from_fn(move || {
        let n = find_sep(rest)?;
        let v = n + 1 + find_sep(&rest[n + 1..])?;
        let pair = (&rest[..n], &rest[n + 1..v]);
        rest = &rest[v + 1..];
        Some(pair)
    })
}

/// Label names and values are mostly short: a plain scan of the first bytes
/// beats memchr's dispatch there, and memchr takes the rest of a long one.
#[inline]
fn find_sep(s: &[u8]) -> Option<usize> {
    const SHORT: usize = 24;
    match s.iter().take(SHORT).position(|&b| b == SEP) {
        Some(i) => Some(i),
        None if s.len() > SHORT => memchr::memchr(SEP, &s[SHORT..]).map(|i| i + SHORT),
        None => None,
    }
}

fn json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut last = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[last..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        last = i + 1;
    }
    out.extend_from_slice(&s[last..]);
    out.push(b'"');
}

/// Appends the JSON object form of canonical bytes, keys in canonical order:
/// `{"__name__":"cpu_usage","host":"a"}`. Input is valid UTF-8, so the output is.
pub fn push_json(out: &mut Vec<u8>, canonical: &[u8]) {
    out.push(b'{');
    for (i, (k, v)) in iter_labels(canonical).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, k);
        out.push(b':');
        json_string(out, v);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_every_length_read_back_as_given() {
        // Around the short scan's end (24 bytes) and far past it.
        for len in (0..60).chain([100, 1000]) {
            let name = format!("k{}", "n".repeat(len));
            let value = "v".repeat(len + 1);
            let labels = [(NAME_LABEL, b"m".as_slice()), (name.as_bytes(), value.as_bytes()), (b"z", b"1")];
            let canon = canonical_labels(labels);
            assert_eq!(iter_labels(&canon).collect::<Vec<_>>(), labels.to_vec(), "length {len}");
        }
        assert_eq!(iter_labels(b"dangling\xffvalue").count(), 0, "a value without its separator is no label");
    }
}
