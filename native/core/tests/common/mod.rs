//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use sentio_core::{
    decode_remote_write, Format, IngestOptions, IngestResult, Ingestor, Output, OutputData, Precision, Sharding, Target,
};

pub const NOW: i64 = 1_800_000_000_000;

/// Series rendered as `name{k=v,...}` (labels in canonical order) → samples `(ts, value)`.
pub type Series = BTreeMap<String, Vec<(i64, f64)>>;

pub fn render(labels: &[(String, String)]) -> String {
    let name = labels.iter().find(|(k, _)| k == "__name__").map(|(_, v)| v.clone()).unwrap_or_default();
    let rest: Vec<String> = labels.iter().filter(|(k, _)| k != "__name__").map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name}{{{}}}", rest.join(","))
}

pub fn opts(format: Format, precision: Option<Precision>, db: Option<&str>) -> IngestOptions<'_> {
    IngestOptions {
        format,
        precision,
        db,
        labels: &[],
        now_ms: NOW,
        outputs: vec![Target::all(Output::RemoteWrite(Sharding::new(1, 1).unwrap()))],
        max_errors: 1000,
        max_line_bytes: None,
        max_tags: None,
        series_hashes: false,
    }
}

/// Ingests through remote write (1 shard) and decodes the payload back.
pub fn ingest_series(input: &[u8], o: &IngestOptions<'_>) -> (IngestResult, Series) {
    let r = Ingestor::new().ingest(input, o);
    let mut out = Series::new();
    if let Some(OutputData::RemoteWrite(rw)) = r.data.first() {
        for shard in &rw.shards {
            for s in decode_remote_write(shard).unwrap() {
                out.entry(render(&s.labels)).or_default().extend(s.samples);
            }
        }
    }
    (r, out)
}

pub fn lp(input: &str, precision: Option<Precision>, db: Option<&str>) -> (IngestResult, Series) {
    ingest_series(input.as_bytes(), &opts(Format::LineProtocol, precision, db))
}

/// The single value of a single-sample series.
pub fn value(s: &Series, key: &str) -> f64 {
    let v = s.get(key).unwrap_or_else(|| panic!("no series {key} in {s:?}"));
    assert_eq!(v.len(), 1, "{key}: {v:?}");
    v[0].1
}
