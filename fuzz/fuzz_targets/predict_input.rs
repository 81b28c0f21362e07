//! Fuzzes the readers of `icebreak predict`'s input (the CLI's `input` module, built from its
//! source): whatever the bytes, reading them as lines and CSV fields ends without a panic,
//! every line handed out is within the record limit and holds no line break, the fields of
//! a line are at most one per byte plus one, and every cell parses or is refused.

#![no_main]

#[path = "../../crates/cli/src/input.rs"]
#[allow(dead_code)]
mod input;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    input::strip_bom(&mut r).expect("a slice never fails to read");
    let mut lines = input::Lines::new(r);
    let mut csv = input::CsvLine::new();
    loop {
        let line = match lines.next() {
            Ok(Some(line)) => line.to_vec(),
            Ok(None) | Err(_) => break,
        };
        assert!(!line.contains(&b'\n'));
        assert!(line.len() <= icebreak_format::limits::MAX_LINE_BYTES);
        if csv.split(&line).is_ok() {
            assert!(csv.n_fields <= line.len() + 1);
            for cell in csv.fields() {
                std::hint::black_box(input::parse_cell(cell));
            }
        }
    }
});
