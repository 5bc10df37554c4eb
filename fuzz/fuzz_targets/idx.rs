//! The IDX reader on arbitrary bytes: as they are (a file starting with the
//! gzip magic goes through the gzip path), then gzip-compressed, so the
//! IDX parser is also reached through decompression. Errors are fine; a
//! panic, an abort, a hang or an unbounded allocation is a finding.
#![no_main]

use std::sync::LazyLock;

use latent_engine::data::idx;
use latent_fuzz::{Scratch, gzip};
use libfuzzer_sys::fuzz_target;

static FILE: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("idx"));

fn read_all(bytes: &[u8]) {
    let path = FILE.write(bytes);
    let _ = idx::read_matrix(path);
    let _ = idx::read_labels(path);
    let _ = idx::read_dataset(path, Some(path));
}

fuzz_target!(|data: &[u8]| {
    read_all(data);
    read_all(&gzip(data));
});
