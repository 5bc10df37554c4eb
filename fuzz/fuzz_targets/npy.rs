//! The NPY reader on arbitrary bytes (a gzip file is refused by it, so it
//! is not compressed here): matrix, streamed value range, labels and a
//! dataset. Errors are fine; a panic, an abort, a hang or an unbounded
//! allocation is a finding.
#![no_main]

use std::sync::LazyLock;

use latent_engine::data::npy;
use latent_fuzz::Scratch;
use libfuzzer_sys::fuzz_target;

static FILE: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("npy"));

fuzz_target!(|data: &[u8]| {
    let path = FILE.write(data);
    let _ = npy::read_matrix(path);
    let _ = npy::value_range(path);
    let _ = npy::read_labels(path);
    let _ = npy::read_dataset(path, Some(path));
});
