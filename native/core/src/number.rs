//! Number parsing that reproduces VictoriaMetrics 1.79.5 bit for bit.
//!
//! VictoriaMetrics parses line-protocol numbers with `valyala/fastjson/fastfloat`
//! (the version vendored by 1.79.5), not with Go's `strconv.ParseFloat`. Its float
//! path is *not* exactly rounded for fractional/exponent forms: it accumulates the
//! decimal mantissa in a `u64`, divides once by an exact power of ten and then
//! multiplies by Go's `math.Pow10(exp)`. We replicate that algorithm (including
//! Go's `Pow10` tables), and fall back to an exactly rounded parser (fast-float2,
//! which agrees with `strconv.ParseFloat`) exactly where fastfloat falls back to
//! `strconv.ParseFloat`.
//!
//! Where fastfloat's `ParseBestEffort` silently returns 0 for text it cannot parse
//! (`abc`, `.5`, `1.`, `+1`, `0x10`, ...), we return `None`: Sentio rejects the
//! line instead of storing a made-up zero (documented in docs/vm-line-protocol.md).

const POW10_MANTISSA: [f64; 17] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
];

const GO_POW10_TAB: [f64; 32] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
];
const GO_POW10_POS32: [f64; 10] = [
    1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288,
];
const GO_POW10_NEG32: [f64; 11] = [
    1e-0, 1e-32, 1e-64, 1e-96, 1e-128, 1e-160, 1e-192, 1e-224, 1e-256, 1e-288, 1e-320,
];

/// Go's `math.Pow10`.
fn go_pow10(n: i32) -> f64 {
    if (0..=308).contains(&n) {
        let n = n as usize;
        return GO_POW10_POS32[n / 32] * GO_POW10_TAB[n % 32];
    }
    if (-323..=0).contains(&n) {
        let n = (-n) as usize;
        return GO_POW10_NEG32[n / 32] / GO_POW10_TAB[n % 32];
    }
    if n > 0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// `strconv.ParseFloat(s, 64)` as fastfloat uses it on its slow path: an error
/// gives `None` unless the value overflowed to an infinity.
fn go_parse_float(s: &[u8]) -> Option<f64> {
    fast_float2::parse::<f64, _>(s).ok()
}

fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// fastfloat `ParseBestEffort`, with `None` where it would return 0 for
/// unparseable input.
pub fn parse_float(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let len = s.len();
    let mut i = 0usize;
    let minus = s[0] == b'-';
    if minus {
        i += 1;
        if i >= len {
            return None;
        }
    }
    let mut d: u64 = 0;
    let j = i;
    while i < len {
        let c = s[i];
        if c.is_ascii_digit() {
            d = d * 10 + u64::from(c - b'0');
            i += 1;
            if i > 18 {
                return go_parse_float(s);
            }
            continue;
        }
        break;
    }
    if i <= j {
        let mut t = &s[i..];
        if t.first() == Some(&b'+') {
            t = &t[1..];
        }
        if eq_ignore_case(t, b"inf") || eq_ignore_case(t, b"infinity") {
            return Some(if minus { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        if eq_ignore_case(t, b"nan") {
            return Some(f64::NAN);
        }
        return None;
    }
    let sign = |f: f64| if minus { -f } else { f };
    let mut f = d as f64;
    if i >= len {
        return Some(sign(f));
    }
    if s[i] == b'.' {
        i += 1;
        if i >= len {
            return None;
        }
        let k = i;
        while i < len {
            let c = s[i];
            if c.is_ascii_digit() {
                d = d * 10 + u64::from(c - b'0');
                i += 1;
                if i - j >= POW10_MANTISSA.len() {
                    return go_parse_float(s);
                }
                continue;
            }
            break;
        }
        f = d as f64 / POW10_MANTISSA[i - k];
        if i >= len {
            return Some(sign(f));
        }
    }
    if s[i] == b'e' || s[i] == b'E' {
        i += 1;
        if i >= len {
            return None;
        }
        let mut exp_minus = false;
        if s[i] == b'+' || s[i] == b'-' {
            exp_minus = s[i] == b'-';
            i += 1;
            if i >= len {
                return None;
            }
        }
        let mut exp: i32 = 0;
        let j2 = i;
        while i < len {
            let c = s[i];
            if c.is_ascii_digit() {
                exp = exp * 10 + i32::from(c - b'0');
                i += 1;
                if exp > 300 {
                    return go_parse_float(s);
                }
                continue;
            }
            break;
        }
        if i <= j2 {
            return None;
        }
        if exp_minus {
            exp = -exp;
        }
        f *= go_pow10(exp);
        if i >= len {
            return Some(sign(f));
        }
    }
    None
}

/// `[0-9]+` as u64, range-checked: fastfloat's strict integer parsing, which
/// accumulates 18 digits and leaves longer inputs to `strconv.ParseUint`/`ParseInt`.
#[inline]
fn digits_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    for (i, &c) in s.iter().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let x = u64::from(c - b'0');
        d = if i < 18 { d * 10 + x } else { d.checked_mul(10)?.checked_add(x)? };
    }
    Some(d)
}

/// fastfloat `ParseInt64` (strict): `-?[0-9]+`, range-checked.
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.split_first() {
        Some((b'-', digits)) => {
            let d = digits_u64(digits)?;
            (d <= 1u64 << 63).then(|| (d as i64).wrapping_neg())
        }
        _ => i64::try_from(digits_u64(s)?).ok(),
    }
}

/// fastfloat `ParseUint64` (strict): `[0-9]+`, range-checked.
#[inline]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    digits_u64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_quirks() {
        assert_eq!(parse_float(b".5"), None);
        assert_eq!(parse_float(b"1."), None);
        assert_eq!(parse_float(b"1.e5"), Some(1e5));
        assert_eq!(parse_float(b"+1"), None);
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_float(b"NaN").unwrap().is_nan());
        assert_eq!(parse_float(b"1.5e-7"), Some(15.0 / 10.0 * go_pow10(-7)));
        assert_eq!(parse_i64(b"+5"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b"0000000000000000000000001"), Some(1));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
    }
}
