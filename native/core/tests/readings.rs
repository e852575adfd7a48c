//! Typed readings (a connector's series and samples, no text): mapped
//! exactly as the same points in line protocol, with the batch's default
//! labels and limits, and errors naming the sample.

mod common;
use sentio_core::{Format, Ingestor, Output, OutputData, Readings, Sharding, Target};

fn opts<'a>(labels: &'a [(&'a str, &'a str)], outputs: Vec<Target>) -> sentio_core::IngestOptions<'a> {
    sentio_core::IngestOptions { labels, outputs, ..common::opts(Format::LineProtocol, Some(sentio_core::Precision::Ms), Some("plant")) }
}

#[test]
fn readings_get_the_batch_default_labels_where_they_lack_them() {
    let series = [
        vec![("__name__", "temp_c"), ("room", "kitchen")],
        vec![("__name__", "humidity"), ("room", "kitchen"), ("site", "own"), ("empty", "")],
    ];
    let series: Vec<&[(&str, &str)]> = series.iter().map(Vec::as_slice).collect();
    let r = Readings { series: &series, sample_series: &[0, 1, 0], timestamps: &[1000, 1000, 2000], values: &[21.5, 40.0, f64::NAN] };
    let labels = [("site", "north"), ("device", "boiler-1")];
    for output in [Output::Columns, Output::RemoteWrite(Sharding::new(2, 1).unwrap())] {
        let got = Ingestor::new().ingest_readings(&r, &opts(&labels, vec![Target::all(output)]));
        assert_eq!((got.lines, got.rejected, got.samples), (3, 0, 3), "{:?}", got.errors);
        if let OutputData::Columns(c) = &got.data[0] {
            let defs = String::from_utf8(c.series_defs.clone()).unwrap();
            assert_eq!(
                defs,
                r#"{"__name__":"temp_c","db":"plant","device":"boiler-1","room":"kitchen","site":"north"}{"__name__":"humidity","db":"plant","device":"boiler-1","room":"kitchen","site":"own"}"#,
                "defaults added where missing, the series' own label wins, empty values dropped"
            );
            assert_eq!(c.samples, 3);
        }
    }
}

#[test]
fn readings_and_line_protocol_give_the_same_bytes() {
    // Series named as line protocol would name them (`m_v`), so the outputs must be byte-identical.
    let series = [vec![("__name__", "m_v"), ("host", "a")], vec![("__name__", "m_w"), ("host", "a")], vec![("__name__", "m_v"), ("host", "b")]];
    let series: Vec<&[(&str, &str)]> = series.iter().map(Vec::as_slice).collect();
    let r = Readings { series: &series, sample_series: &[0, 1, 2, 0], timestamps: &[1, 1, 1, 2], values: &[1.0, 2.0, 3.0, 4.0] };
    let lp = "m,host=a v=1,w=2 1\nm,host=b v=3 1\nm,host=a v=4 2\n";
    for output in [Output::Columns, Output::RemoteWrite(Sharding::new(3, 2).unwrap())] {
        let o = opts(&[], vec![Target::all(output)]);
        let a = Ingestor::new().ingest_readings(&r, &o);
        let b = Ingestor::new().ingest(lp.as_bytes(), &o);
        assert_eq!(a.data, b.data, "{output:?}");
        assert_eq!(a.samples, b.samples);
    }
}

#[test]
fn bad_readings_are_rejected_by_sample_and_the_rest_kept() {
    let series = [vec![("room", "x")], vec![("__name__", "ok"), ("a", "1"), ("b", "2"), ("c", "3")], vec![("__name__", "fine")]];
    let series: Vec<&[(&str, &str)]> = series.iter().map(Vec::as_slice).collect();
    let r = Readings { series: &series, sample_series: &[0, 1, 2, 7, 2], timestamps: &[1, 2, 3, 4, 5, 6], values: &[1.0, 2.0, 3.0, 4.0, 5.0] };
    let o = sentio_core::IngestOptions { max_tags: Some(2), ..opts(&[], vec![Target::all(Output::Columns)]) };
    let got = Ingestor::new().ingest_readings(&r, &o);
    assert_eq!((got.lines, got.rejected, got.samples, got.rejected_tags), (6, 4, 2, 1));
    let errors: Vec<(u32, &str)> = got.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(
        errors,
        vec![
            (1, "series has no __name__"),
            (2, "point has more than 2 tags"),
            (4, "no series 7 (the readings have 3)"),
            (6, "sample lacks its series, timestamp or value (columns of unequal length)"),
        ]
    );
}

#[test]
fn series_mapped_before_give_the_same_batch_as_readings_mapped_in_it() {
    // Labels longer than the short scan of a label's end (24 bytes), and around it.
    let long = "v".repeat(300);
    let series = [
        vec![("__name__", "modbus_a"), ("unit", "V"), ("serial", long.as_str())],
        vec![("__name__", "modbus_b_with_a_name_of_exactly_32b"), ("x", "123456789012345678901234")],
        vec![("__name__", "modbus_c"), ("site", "own"), ("a", "b"), ("c", "d")],
        vec![("unit", "no name")],
    ];
    let series: Vec<&[(&str, &str)]> = series.iter().map(Vec::as_slice).collect();
    let r = Readings { series: &series, sample_series: &[0, 1, 2, 3, 0, 2], timestamps: &[1, 1, 1, 1, 2, 2], values: &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
    let labels = [("site", "north"), ("connector", "plant")];
    for output in [Output::Columns, Output::RemoteWrite(Sharding::new(3, 1).unwrap())] {
        let o = sentio_core::IngestOptions { max_tags: Some(2), series_hashes: true, ..opts(&labels, vec![Target::all(output)]) };
        let mapper = sentio_core::SeriesMapper::new(&o);
        let mapped: Vec<Result<sentio_core::MappedSeries, String>> = series.iter().map(|l| mapper.prepare(l)).collect();
        let prepared: Vec<Result<sentio_core::PreparedSeries<'_>, &str>> = mapped.iter().map(|m| m.as_ref().map(|m| m.prepared()).map_err(String::as_str)).collect();
        let p = sentio_core::PreparedReadings { series: &prepared, sample_series: r.sample_series, timestamps: r.timestamps, values: r.values };
        let a = Ingestor::new().ingest_readings(&r, &o);
        let b = Ingestor::new().ingest_prepared(&p, &o);
        assert_eq!(a, b, "{output:?}");
        assert_eq!((a.samples, a.rejected, a.rejected_tags), (3, 3, 2), "{:?}", a.errors);
        assert_eq!(a.errors.iter().map(|e| (e.line, e.reason.as_str())).collect::<Vec<_>>(), vec![(3, "point has more than 2 tags"), (4, "series has no __name__"), (6, "point has more than 2 tags")]);
    }
}
