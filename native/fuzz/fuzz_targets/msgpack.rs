//! Arbitrary bytes as a msgpack batch. The first byte picks the options
//! (precision, db, output, max_errors; see `sentio_core_fuzz::options`), the
//! rest is the batch. Invariants: `sentio_core_fuzz::check_input`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sentio_core::Format;

fuzz_target!(|data: &[u8]| {
    sentio_core_fuzz::check_input(Format::Msgpack, data);
});
