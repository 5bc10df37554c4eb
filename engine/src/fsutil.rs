//! File helpers shared by the readers, writers and checkpoints: whole-file
//! reads with transparent gzip, and atomic writes.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{EngineError, Result};

/// The two magic bytes of a gzip stream.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file; a gzip file (detected by its magic bytes, whatever
/// its name) is decompressed. An empty file is an error naming `expected`.
pub(crate) fn read_maybe_gzip(path: &Path, expected: &'static str) -> Result<Vec<u8>> {
    let raw = fs::read(path).map_err(|e| EngineError::io(path, "read", e))?;
    if raw.is_empty() {
        return Err(EngineError::Empty {
            path: path.to_path_buf(),
            expected,
        });
    }
    if raw.len() >= 2 && raw[..2] == GZIP_MAGIC {
        let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| EngineError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        if out.is_empty() {
            return Err(EngineError::Empty {
                path: path.to_path_buf(),
                expected,
            });
        }
        return Ok(out);
    }
    Ok(raw)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written, flushed to disk (`fsync`) and renamed over `path`,
/// so a crash mid-write leaves either the old file or the new one, never a
/// mixture. The directory is synced afterwards where the platform allows.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| EngineError::InvalidArgument {
            what: "output path",
            value: path.display().to_string(),
            expected: "a path naming a file",
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| EngineError::io(&tmp, "create", e))?;
        f.write_all(bytes)
            .map_err(|e| EngineError::io(&tmp, "write", e))?;
        f.sync_all()
            .map_err(|e| EngineError::io(&tmp, "fsync", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| EngineError::io(path, "rename a temporary file onto", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Not every platform can open a
    // directory for syncing; the data is already safe, so failures here
    // are ignored.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
