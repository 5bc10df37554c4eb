//! Helpers shared by the fuzz targets: the readers take paths, so each
//! input is written to a scratch file first (in `/dev/shm` where there is
//! one, so the write stays in memory), one per process and target.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// A file that holds the current input, removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A scratch file for target `name` in this process.
    pub fn new(name: &str) -> Scratch {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("latent-fuzz-{name}-{}", std::process::id()));
        Scratch { path }
    }

    /// Replaces the file's contents with `bytes` and returns its path.
    pub fn write(&self, bytes: &[u8]) -> &Path {
        std::fs::write(&self.path, bytes).expect("the scratch file can be written");
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `bytes` as one gzip member (fast compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
