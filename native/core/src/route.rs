//! Series filters for routing: which series of a batch an output (a sink)
//! takes, from label matchers as Prometheus writes them (`site="plant-7"`,
//! `room=~"k.*"`).
//!
//! * A filter is a list of alternatives; a series passes when all matchers of
//!   at least one alternative hold. No alternatives: nothing passes.
//! * A label the series lacks has the empty value, so `site!="x"` holds for a
//!   series without `site` and `site=""` selects exactly those.
//! * Regular expressions are anchored at both ends and `.` matches a newline,
//!   as Prometheus compiles them (`=~"k.*"` is `^(?s:k.*)$`), in the syntax
//!   of Rust's `regex` crate (RE2's, as Prometheus').
//! * Matching reads the canonical label bytes ([`crate::series`]): no
//!   allocation per series.

use crate::series::SEP;
use regex::bytes::Regex;

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    /// `=`, `!=`, `=~` or `!~`.
    pub fn parse(s: &str) -> Option<MatchOp> {
        match s {
            "=" => Some(MatchOp::Equal),
            "!=" => Some(MatchOp::NotEqual),
            "=~" => Some(MatchOp::Regex),
            "!~" => Some(MatchOp::NotRegex),
            _ => None,
        }
    }
}

/// One `name op "value"` matcher.
#[derive(Clone, Debug)]
pub struct LabelMatcher {
    name: Vec<u8>,
    op: MatchOp,
    value: Vec<u8>,
    re: Option<Regex>,
}

impl LabelMatcher {
    /// A matcher; an invalid regular expression is an error naming it.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<LabelMatcher, String> {
        if name.is_empty() {
            return Err("a label matcher needs a label name".into());
        }
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|e| format!("invalid regular expression {value:?} for label {name}: {e}"))?,
            ),
            _ => None,
        };
        Ok(LabelMatcher { name: name.as_bytes().to_vec(), op, value: value.as_bytes().to_vec(), re })
    }

    fn holds(&self, value: &[u8]) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => value == self.value.as_slice(),
            (MatchOp::NotEqual, _) => value != self.value.as_slice(),
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            _ => unreachable!("regex matchers are built with their regex"),
        }
    }
}

/// Alternatives of matchers (see the module comment).
#[derive(Clone, Debug, Default)]
pub struct SeriesFilter {
    any_of: Vec<Vec<LabelMatcher>>,
}

impl SeriesFilter {
    pub fn new(any_of: Vec<Vec<LabelMatcher>>) -> SeriesFilter {
        SeriesFilter { any_of }
    }

    /// Whether the series with these canonical label bytes passes.
    pub fn matches(&self, canonical: &[u8]) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|m| m.holds(label_value(canonical, &m.name))))
    }
}

/// The value of label `name` in canonical bytes (`name 0xFF value 0xFF ...`), or empty.
fn label_value<'a>(canonical: &'a [u8], name: &[u8]) -> &'a [u8] {
    let mut parts = canonical.split(|&b| b == SEP);
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        if k == name {
            return v;
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::canonical_labels;

    fn canon(pairs: &[(&str, &str)]) -> Vec<u8> {
        canonical_labels(pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
    }

    fn m(name: &str, op: &str, value: &str) -> LabelMatcher {
        LabelMatcher::new(name, MatchOp::parse(op).unwrap(), value).unwrap()
    }

    #[test]
    fn matchers_follow_prometheus() {
        let s = canon(&[("__name__", "temp_c"), ("site", "plant-7"), ("room", "kitchen")]);
        let f = |ms: Vec<LabelMatcher>| SeriesFilter::new(vec![ms]).matches(&s);
        assert!(f(vec![m("site", "=", "plant-7")]));
        assert!(!f(vec![m("site", "=", "plant-")]));
        assert!(f(vec![m("__name__", "=", "temp_c"), m("room", "=~", "kit.*")]));
        assert!(!f(vec![m("room", "=~", "kit")]), "anchored at both ends");
        assert!(f(vec![m("room", "!~", "bath.*")]));
        assert!(f(vec![m("missing", "=", "")]), "an absent label is empty");
        assert!(f(vec![m("missing", "!=", "x")]));
        assert!(!f(vec![m("site", "!=", "plant-7")]));
    }

    #[test]
    fn alternatives_and_the_empty_filter() {
        let s = canon(&[("__name__", "x"), ("site", "a")]);
        assert!(!SeriesFilter::new(vec![]).matches(&s));
        assert!(SeriesFilter::new(vec![vec![]]).matches(&s), "an alternative without matchers takes all");
        let f = SeriesFilter::new(vec![vec![m("site", "=", "b")], vec![m("site", "=", "a")]]);
        assert!(f.matches(&s));
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = LabelMatcher::new("site", MatchOp::Regex, "(").unwrap_err();
        assert!(e.contains("invalid regular expression \"(\" for label site"), "{e}");
    }
}
