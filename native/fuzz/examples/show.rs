//! Shows what an input does, and runs the fuzz invariants on it:
//! `cargo run --manifest-path native/fuzz/Cargo.toml --example show -- <line_protocol|msgpack> FILE...`
//! (a FILE is one options byte followed by the batch, as the fuzz targets read it).

use sentio_core::{Format, Ingestor};
use sentio_core_fuzz::{check_input, options, summary};

fn main() {
    let mut args = std::env::args().skip(1);
    let format = match args.next().as_deref() {
        Some("line_protocol") => Format::LineProtocol,
        Some("msgpack") => Format::Msgpack,
        _ => {
            eprintln!("usage: show <line_protocol|msgpack> FILE...");
            std::process::exit(2);
        }
    };
    for file in args {
        let input = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        println!("== {file} ({} bytes)", input.len());
        let Some((&sel, data)) = input.split_first() else {
            println!("empty input: nothing to run");
            continue;
        };
        let o = options(format, sel);
        println!(
            "options byte {sel:#04x}: precision {:?}, db {:?}, output {:?}, max_errors {}",
            o.precision, o.db, o.outputs, o.max_errors
        );
        println!("batch: {:?}", String::from_utf8_lossy(data));
        let r = Ingestor::new().ingest(data, &o);
        println!(
            "lines {} rejected {} samples {} skipped_strings {} seq {:?}",
            r.lines, r.rejected, r.samples, r.skipped_strings, r.seq
        );
        for e in &r.errors {
            println!("  error {e}");
        }
        for (labels, samples) in summary(&r.data[0]) {
            let samples: Vec<(i64, f64)> = samples.iter().map(|&(t, v)| (t, f64::from_bits(v))).collect();
            println!("  {labels:?} {samples:?}");
        }
        check_input(format, &input);
        println!("invariants hold");
    }
}
