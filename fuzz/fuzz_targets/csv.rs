//! The CSV reader on arbitrary bytes. The first byte picks the options
//! (bits 0-1 the header: auto, present, absent, auto; bits 2-3 the
//! delimiter: `,` `;` tab space; bits 4-6 the label column: none or
//! 0..=6), the rest is the file, so a byte 0 then a CSV file reads it
//! with the defaults. Errors are fine; a panic, an abort, a hang or an
//! unbounded allocation is a finding.
#![no_main]

use std::sync::LazyLock;

use latent_engine::data::csv::{self, CsvOptions, Header};
use latent_fuzz::Scratch;
use libfuzzer_sys::fuzz_target;

static FILE: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("csv"));

fn options(b: u8) -> CsvOptions {
    let header = match b & 3 {
        1 => Header::Present,
        2 => Header::Absent,
        _ => Header::Auto,
    };
    let delimiter = [b',', b';', b'\t', b' '][usize::from((b >> 2) & 3)];
    let label_column = match (b >> 4) & 7 {
        0 => None,
        k => Some(usize::from(k) - 1),
    };
    CsvOptions {
        delimiter,
        header,
        label_column,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, body)) = data.split_first() else {
        return;
    };
    let path = FILE.write(body);
    let _ = csv::read(path, &options(opts));
});
