//! Runs every seed input (native/fuzz/seeds/<target>/) through the fuzz
//! invariants under all 256 option bytes, on stable Rust:
//! `cargo test --manifest-path native/fuzz/Cargo.toml`.

use std::path::Path;

use sentio_core::Format;
use sentio_core_fuzz::check_input;

fn run_dir(target: &str, format: Format) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let Some((_, body)) = data.split_first() else { continue };
        for sel in 0..=255u8 {
            let mut input = vec![sel];
            input.extend_from_slice(body);
            let r = std::panic::catch_unwind(|| check_input(format, &input));
            assert!(r.is_ok(), "{} with options byte {sel:#04x} fails", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn line_protocol_seeds_hold_the_invariants() {
    run_dir("line_protocol", Format::LineProtocol);
}

#[test]
fn msgpack_seeds_hold_the_invariants() {
    run_dir("msgpack", Format::Msgpack);
}
