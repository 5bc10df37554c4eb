//! Helpers shared by the fuzz targets: the readers take paths, so each
//! input is written to a scratch file first (in `/dev/shm` where there is
//! one, so the write stays in memory), one per process and target. The
//! file is unlinked as soon as it is created and read through
//! `/proc/self/fd/N`, so nothing is left behind however the process ends
//! (libFuzzer exits without running destructors).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// An unlinked file that holds the current input, and a path that opens it.
pub struct Scratch {
    file: File,
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
        let named = dir.join(format!("latent-fuzz-{name}-{}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&named)
            .expect("the scratch file can be created");
        std::fs::remove_file(&named).expect("the scratch file can be unlinked");
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Scratch { file, path }
    }

    /// Replaces the file's contents with `bytes` and returns a path to it.
    pub fn write(&self, bytes: &[u8]) -> &Path {
        self.file
            .set_len(0)
            .expect("the scratch file can be truncated");
        self.file
            .write_all_at(bytes, 0)
            .expect("the scratch file can be written");
        &self.path
    }
}

/// `bytes` as one gzip member (fast compression).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
