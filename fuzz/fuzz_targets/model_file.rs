//! The model-file loader (`latent_models::persist::load`, behind it the
//! checkpoint parser) on arbitrary bytes, twice: as they are (almost
//! always stopped by the header, length or checksum checks), then with the
//! header, payload length and FNV-1a checksum rewritten to be valid over
//! the fuzzed body, so the payload parser and the model construction
//! behind the checksum are reached. Errors are fine; a panic, an abort, a
//! hang or an unbounded allocation is a finding.
#![no_main]

use std::sync::LazyLock;

use latent_engine::checkpoint::{self, Checkpoint};
use latent_fuzz::Scratch;
use latent_models::persist;
use libfuzzer_sys::fuzz_target;

static FILE: LazyLock<Scratch> = LazyLock::new(|| Scratch::new("model_file"));

/// `data` with a valid 24-byte header (magic, version, payload length)
/// and checksum: the bytes between them are the fuzzed payload.
fn with_valid_checksum(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 {
        return None;
    }
    let mut b = data.to_vec();
    let payload = (b.len() - 32) as u64;
    b[..8].copy_from_slice(checkpoint::MAGIC);
    b[8..12].copy_from_slice(&checkpoint::VERSION.to_le_bytes());
    b[12..16].fill(0);
    b[16..24].copy_from_slice(&payload.to_le_bytes());
    let body = b.len() - 8;
    let sum = checkpoint::fnv1a64(&b[..body]);
    b[body..].copy_from_slice(&sum.to_le_bytes());
    Some(b)
}

fn load(bytes: &[u8]) {
    let path = FILE.write(bytes);
    let _ = Checkpoint::from_bytes(path, bytes);
    let _ = persist::load(path);
}

fuzz_target!(|data: &[u8]| {
    load(data);
    if let Some(fixed) = with_valid_checksum(data)
        && fixed != data
    {
        load(&fixed);
    }
});
