//! Several outputs from one pass, each for the series its filter passes:
//! the same bytes as a pass of its own over just those lines, and the
//! samples routed nowhere counted.

mod common;
use std::sync::Arc;

use sentio_core::{Format, Ingestor, LabelMatcher, MatchOp, Output, OutputData, SeriesFilter, Sharding, Target};

const BATCH: &str = "t,site=plant-7,dev=a v=1,w=2 1\nt,site=plant-8,dev=b v=3 2\nt,dev=c v=4 3\nt,site=plant-7,dev=d v=5 4\n";
const PLANT_7: &str = "t,site=plant-7,dev=a v=1,w=2 1\nt,site=plant-7,dev=d v=5 4\n";

fn filter(name: &str, op: MatchOp, value: &str) -> Option<Arc<SeriesFilter>> {
    Some(Arc::new(SeriesFilter::new(vec![vec![LabelMatcher::new(name, op, value).unwrap()]])))
}

fn run(input: &str, outputs: Vec<Target>) -> sentio_core::IngestResult {
    let o = sentio_core::IngestOptions { outputs, ..common::opts(Format::LineProtocol, Some(sentio_core::Precision::Ms), None) };
    Ingestor::new().ingest(input.as_bytes(), &o)
}

#[test]
fn one_pass_gives_each_output_what_its_own_pass_would() {
    let rw = Output::RemoteWrite(Sharding::new(3, 2).unwrap());
    let r = run(BATCH, vec![
        Target::all(rw),
        Target { output: Output::Columns, filter: filter("site", MatchOp::Equal, "plant-7") },
        Target { output: rw, filter: filter("site", MatchOp::Regex, "plant-.*") },
    ]);
    assert_eq!(r.samples, 5);
    assert_eq!(r.unrouted_samples, 0, "the first output takes all");
    let alone = |input: &str, output: Output| run(input, vec![Target::all(output)]).data[0].clone();
    assert_eq!(r.data[0], alone(BATCH, rw));
    let OutputData::Columns(c) = &r.data[1] else { panic!("columns") };
    assert_eq!(c.samples, 3);
    assert_eq!(r.data[1], alone(PLANT_7, Output::Columns));
    let OutputData::RemoteWrite(w) = &r.data[2] else { panic!("remote write") };
    assert_eq!(w.samples, 4);
    assert_eq!(w.shard_samples.iter().sum::<u64>(), 8, "replicas counted per shard");
    let plants = "t,site=plant-7,dev=a v=1,w=2 1\nt,site=plant-8,dev=b v=3 2\nt,site=plant-7,dev=d v=5 4\n";
    assert_eq!(r.data[2], alone(plants, rw));
}

#[test]
fn samples_no_filter_passes_are_counted_as_unrouted() {
    let r = run(BATCH, vec![
        Target { output: Output::Columns, filter: filter("site", MatchOp::Equal, "plant-7") },
        Target { output: Output::Columns, filter: filter("site", MatchOp::Equal, "plant-8") },
    ]);
    assert_eq!(r.unrouted_samples, 1, "dev=c has no site");
    let none = run(BATCH, vec![Target { output: Output::Columns, filter: Some(Arc::new(SeriesFilter::new(vec![]))) }]);
    let OutputData::Columns(c) = &none.data[0] else { panic!("columns") };
    assert_eq!((c.samples, c.series_ids.len(), c.distinct_ids.len(), none.unrouted_samples), (0, 0, 0, 5));
    assert_eq!(c.series_def_offsets, 0u32.to_le_bytes().to_vec());
}

#[test]
fn no_output_maps_nothing() {
    let r = run(BATCH, vec![]);
    assert_eq!((r.samples, r.data.len(), r.unrouted_samples), (5, 0, 5));
}
