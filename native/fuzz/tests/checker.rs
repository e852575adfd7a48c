//! The invariant checker itself: a broken result must fail it (so a quiet
//! fuzzing run means something).

use std::panic::{catch_unwind, AssertUnwindSafe};

use sentio_core::{Format, IngestOptions, Ingestor, LineError, OutputData};
use sentio_core_fuzz::{check_result, options};

const LP: &[u8] = b"cpu,host=a usage=1,idle=2 1700000000000\nbad\nmem,host=b used=3i 1700000000000\n";

fn fails(o: &IngestOptions<'_>, data: &[u8], tamper: impl FnOnce(&mut sentio_core::IngestResult)) -> bool {
    let mut r = Ingestor::new().ingest(data, o);
    check_result(o, data, &r);
    tamper(&mut r);
    catch_unwind(AssertUnwindSafe(|| check_result(o, data, &r))).is_err()
}

#[test]
fn broken_results_fail_the_checks() {
    let rw = options(Format::LineProtocol, 0x00); // remote write 2x1, max_errors 1000
    let cols = options(Format::LineProtocol, 0x10); // columns
    assert!(fails(&rw, LP, |r| r.rejected = r.lines + 1));
    assert!(fails(&rw, LP, |r| r.samples += 1));
    assert!(fails(&rw, LP, |r| r.errors.push(LineError {
        line: 9,
        reason: "x".into()
    })));
    assert!(fails(&rw, LP, |r| r.errors.clear()));
    assert!(fails(&rw, LP, |r| r.series_hashes = None));
    assert!(fails(&rw, LP, |r| r.rejected_tags = 1));
    assert!(fails(&rw, LP, |r| {
        let OutputData::RemoteWrite(w) = &mut r.data[0] else {
            unreachable!()
        };
        w.shards.swap(0, 1);
        w.shard_samples.swap(0, 1);
        w.shard_series.swap(0, 1);
    }));
    assert!(fails(&rw, LP, |r| {
        let OutputData::RemoteWrite(w) = &mut r.data[0] else {
            unreachable!()
        };
        let s = w.shards.iter_mut().find(|s| !s.is_empty()).unwrap();
        s.truncate(s.len() - 1);
    }));
    assert!(fails(&cols, LP, |r| {
        let OutputData::Columns(c) = &mut r.data[0] else {
            unreachable!()
        };
        c.distinct_ids[0] ^= 1;
    }));
    assert!(fails(&cols, LP, |r| {
        let OutputData::Columns(c) = &mut r.data[0] else {
            unreachable!()
        };
        c.series_defs[1] = b'[';
    }));
    assert!(fails(&cols, LP, |r| r.data[0] = OutputData::None));
    // max_errors 0: line errors must not be listed ...
    let zero = options(Format::LineProtocol, 0x40);
    assert!(fails(&zero, LP, |r| r.errors.push(LineError {
        line: 2,
        reason: "x".into()
    })));
    // ... but a malformed msgpack envelope is always one error with line 0.
    let mp = options(Format::Msgpack, 0x40);
    assert!(!fails(&mp, b"\x90", |_| {}));
    assert!(fails(&mp, b"\x90", |r| r.errors[0].line = 1));
}
