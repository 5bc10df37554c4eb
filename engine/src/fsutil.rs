//! File helpers shared by the readers, writers and checkpoints: bounded
//! whole-file reads (regular files only) with transparent gzip, the output
//! discipline of every file latent writes, and identity checks between
//! inputs and outputs.
//!
//! Outputs ([`write_atomic`]): a regular file (or a new path) is replaced
//! atomically, keeping an existing file's permission mode; a symbolic link
//! is followed and its target replaced, the link kept; a character device
//! (`/dev/null`, a terminal) or a FIFO is written straight through, never
//! replaced; a directory, a block device or a socket is an error naming
//! the path.

use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{EngineError, Result};

/// The two magic bytes of a gzip stream.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The kind of a file that is not a regular one, for messages.
fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// The length of the open input `f` (named `path`), or an
/// [`EngineError::NotRegularFile`] when it is not a regular file.
pub fn regular_len(path: &Path, f: &File) -> Result<u64> {
    let m = f.metadata().map_err(|e| EngineError::io(path, "stat", e))?;
    if !m.is_file() {
        return Err(EngineError::NotRegularFile {
            path: path.to_path_buf(),
            kind: kind_of(&m),
        });
    }
    Ok(m.len())
}

/// Reads a whole regular file, at most as many bytes as its size when it
/// was opened (a file that grows meanwhile is cut there). A directory, a
/// device, a FIFO or a socket is refused: its length is unknown (or
/// endless, as `/dev/zero`), so reading it could exhaust memory.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let f = File::open(path).map_err(|e| EngineError::io(path, "open", e))?;
    let len = regular_len(path, &f)?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|_| EngineError::TooLarge {
            what: format!("{}: reading the file", path.display()),
            bytes: len,
            available: available_memory(),
        })?;
    f.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| EngineError::io(path, "read", e))?;
    Ok(bytes)
}

/// The memory this process may still use, in bytes: the smaller of the
/// system's `MemAvailable` and the room left under a cgroup (v2 or v1)
/// memory limit; `None` where neither can be read.
pub fn available_memory() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib.saturating_mul(1024))
    });
    let read_u64 = |p: &str| fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    let cgroup = match (
        read_u64("/sys/fs/cgroup/memory.max"),
        read_u64("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
        _ => match (
            read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
            read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
        ) {
            (Some(max), Some(cur)) => Some(max.saturating_sub(cur)),
            _ => None,
        },
    };
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Checks, before allocating, that `bytes` fit in the memory available
/// ([`available_memory`]; when that is unknown, only that the size does
/// not overflow the address space): an [`EngineError::TooLarge`] naming
/// `what` otherwise.
pub fn check_memory(what: impl FnOnce() -> String, bytes: u128) -> Result<()> {
    let available = available_memory();
    let limit = available.map_or(isize::MAX as u128, u128::from);
    if bytes > limit {
        return Err(EngineError::TooLarge {
            what: what(),
            bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
            available,
        });
    }
    Ok(())
}

/// Reads a whole file ([`read_file`]); a gzip file (detected by its magic
/// bytes, whatever its name) is decompressed. An empty file is an error
/// naming `expected`.
pub(crate) fn read_maybe_gzip(path: &Path, expected: &'static str) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    if raw.is_empty() {
        return Err(EngineError::Empty {
            path: path.to_path_buf(),
            expected,
        });
    }
    if raw.len() >= 2 && raw[..2] == GZIP_MAGIC {
        let out = gunzip(path, &raw)?;
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

/// Decompresses a gzip file: every member of a multi-member file (`cat
/// a.gz b.gz`), concatenated, as `gzip -d` does. Bytes after the last
/// member that do not start another one are an error, as is output larger
/// than the memory available (a decompression bomb).
fn gunzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    let budget = available_memory().unwrap_or(u64::MAX);
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    let mut rest = raw;
    loop {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let room = budget.saturating_sub(out.len() as u64).saturating_add(1);
        (&mut member)
            .take(room)
            .read_to_end(&mut out)
            .map_err(|source| EngineError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        if out.len() as u64 > budget {
            return Err(EngineError::TooLarge {
                what: format!("{}: decompressing", path.display()),
                bytes: out.len() as u64,
                available: Some(budget),
            });
        }
        rest = member.into_inner();
        if rest.is_empty() {
            return Ok(out);
        }
        if !rest.starts_with(&GZIP_MAGIC) {
            return Err(EngineError::TrailingData {
                path: path.to_path_buf(),
                offset: (raw.len() - rest.len()) as u64,
                extra: rest.len() as u64,
            });
        }
    }
}

/// Where the bytes of an output go.
#[derive(Debug)]
enum Target {
    /// Replace this path (a regular file, or nothing yet) atomically,
    /// giving the new file the mode of the old one when there was one.
    Replace(PathBuf, Option<Permissions>),
    /// Write into this existing character device or FIFO as it is.
    Through(PathBuf),
}

/// Follows a chain of symbolic links from `path` to the path they end at
/// (which need not exist: a dangling link names the file to create).
fn follow_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let t = fs::read_link(&p).map_err(|e| EngineError::io(&p, "read the link", e))?;
                p = match p.parent() {
                    Some(dir) if t.is_relative() => dir.join(t),
                    _ => t,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(EngineError::io(
        path,
        "follow the symbolic links of",
        std::io::Error::other("too many levels of symbolic links"),
    ))
}

/// Decides where the bytes written to the output `path` go.
fn resolve_output(path: &Path) -> Result<Target> {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {
            // Through any links (also the kernel's, as /proc/self/fd/N).
            let real = fs::canonicalize(path).map_err(|e| EngineError::io(path, "resolve", e))?;
            Ok(Target::Replace(real, Some(m.permissions())))
        }
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_fifo() => {
            Ok(Target::Through(path.to_path_buf()))
        }
        Ok(m) => Err(EngineError::BadOutput {
            path: path.to_path_buf(),
            kind: kind_of(&m),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Target::Replace(follow_links(path)?, None))
        }
        Err(e) => Err(EngineError::io(path, "stat", e)),
    }
}

/// Checks, before any work is done, that `path` can be written as an
/// output: an error when it is a directory, a block device or a socket.
pub fn check_output(path: &Path) -> Result<()> {
    resolve_output(path).map(|_| ())
}

/// The identity of an existing file (device and inode, through links), or
/// `None` when `path` does not exist or cannot be examined.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Writes `bytes` to the output `path` (the module comment says what each
/// kind of path gets). A regular file is replaced atomically: a temporary
/// file in the same directory is written, flushed to disk (`fsync`), given
/// the old file's mode and renamed over it, so a crash mid-write leaves
/// either the old file or the new one, never a mixture. The directory is
/// synced afterwards where the platform allows.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    match resolve_output(path)? {
        Target::Through(p) => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| EngineError::io(&p, "open", e))?;
            f.write_all(bytes)
                .map_err(|e| EngineError::io(&p, "write", e))
        }
        Target::Replace(p, mode) => {
            let tmp = write_temporary(&p, bytes, mode)?;
            commit_temporary(&tmp, &p)
        }
    }
}

/// Writes several outputs all together or not at all (each by the rules of
/// [`write_atomic`]): every path is checked and every regular file written
/// to a temporary beside it first; only then are the temporaries renamed
/// into place. On any failure the temporaries are removed and files
/// already renamed are put back as they were (an existing file from a
/// hard-linked backup taken first, a new one removed). Devices and FIFOs
/// among the outputs are written last, when everything else is in place.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    let targets = files
        .iter()
        .map(|(p, _)| resolve_output(p))
        .collect::<Result<Vec<_>>>()?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let remove_all = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = fs::remove_file(tmp);
        }
    };
    for (t, (_, bytes)) in targets.iter().zip(files) {
        if let Target::Replace(p, mode) = t {
            match write_temporary(p, bytes, mode.clone()) {
                Ok(tmp) => staged.push((tmp, p.clone())),
                Err(e) => {
                    remove_all(&staged);
                    return Err(e);
                }
            }
        }
    }
    if let Err(e) = rename_all(&staged) {
        remove_all(&staged);
        return Err(e);
    }
    for (t, (_, bytes)) in targets.iter().zip(files) {
        if let Target::Through(p) = t {
            write_atomic(p, bytes)?;
        }
    }
    Ok(())
}

/// Renames each staged `(temporary, path)`; when one fails, the paths
/// renamed before it get their old contents back (or are removed when
/// they were new) and the error is returned.
fn rename_all(staged: &[(PathBuf, PathBuf)]) -> Result<()> {
    let mut backups: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    let mut failure = None;
    for (tmp, path) in staged {
        let backup = tmp.with_extension("bak");
        let kept = fs::hard_link(path, &backup).is_ok().then_some(backup);
        if let Err(e) = fs::rename(tmp, path) {
            if let Some(b) = kept {
                let _ = fs::remove_file(b);
            }
            failure = Some(EngineError::io(path, "rename a temporary file onto", e));
            break;
        }
        backups.push((path.clone(), kept));
    }
    let restore = failure.is_some();
    for (path, backup) in &backups {
        match (restore, backup) {
            (true, Some(b)) => {
                let _ = fs::rename(b, path);
            }
            (true, None) => {
                let _ = fs::remove_file(path);
            }
            (false, Some(b)) => {
                let _ = fs::remove_file(b);
            }
            (false, None) => {}
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some((_, p)) = staged.first()
        && let Ok(d) = File::open(parent_dir(p))
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An advisory lock on an output being written over a long time (a model
/// file during training), so a second writer fails at once instead of
/// silently overwriting the first one's file. It is an exclusive `flock`
/// on `.<name>.lock` beside the output's target, removed when the lock is
/// dropped; a lock file left by a killed process holds no lock.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock of the output `path`, or fails with
    /// [`EngineError::Locked`] when another process holds it. Outputs that
    /// are written straight through (a device, a FIFO) are not locked:
    /// `None`.
    pub fn acquire(path: &Path) -> Result<Option<OutputLock>> {
        let Target::Replace(target, _) = resolve_output(path)? else {
            return Ok(None);
        };
        let name = target
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let lock = parent_dir(&target).join(format!(".{name}.lock"));
        // A holder that finishes removes the file; whoever locked that
        // removed file meanwhile must try again on the new one.
        for _ in 0..100 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .map_err(|e| EngineError::io(&lock, "create the lock file", e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(EngineError::Locked {
                        path: path.to_path_buf(),
                        lock,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(EngineError::io(&lock, "lock", e));
                }
            }
            let held = file.metadata().ok().map(|m| (m.dev(), m.ino()));
            if held.is_some() && held == file_id(&lock) {
                return Ok(Some(OutputLock { file, path: lock }));
            }
        }
        Err(EngineError::Locked {
            path: path.to_path_buf(),
            lock,
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Remove while still holding the lock, then release it.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// The directory holding `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to a new temporary file beside `path` (never following
/// a link planted at its name), synced to disk and given `mode` when set;
/// returns its path. On failure nothing is left behind.
fn write_temporary(path: &Path, bytes: &[u8], mode: Option<Permissions>) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| EngineError::InvalidArgument {
            what: "output path",
            value: path.display().to_string(),
            expected: "a path naming a file",
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = parent_dir(path).join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| EngineError::io(&tmp, "create", e))?;
        f.write_all(bytes)
            .map_err(|e| EngineError::io(&tmp, "write", e))?;
        if let Some(mode) = mode {
            f.set_permissions(mode)
                .map_err(|e| EngineError::io(&tmp, "set the mode of", e))?;
        }
        f.sync_all().map_err(|e| EngineError::io(&tmp, "fsync", e))
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames the temporary file `tmp` over `path` (removing it when that
/// fails) and makes the rename durable where the platform allows.
fn commit_temporary(tmp: &Path, path: &Path) -> Result<()> {
    if let Err(e) = fs::rename(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(EngineError::io(path, "rename a temporary file onto", e));
    }
    // Not every platform can open a directory for syncing; the data is
    // already safe, so failures here are ignored.
    if let Ok(d) = File::open(parent_dir(path)) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("latent-fsutil-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_replaced_keeping_its_mode() {
        let d = scratch("mode");
        let p = d.join("out.bin");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
    }

    #[test]
    fn a_link_is_followed_and_its_target_replaced() {
        let d = scratch("link");
        fs::write(d.join("target.bin"), b"old").unwrap();
        std::os::unix::fs::symlink("target.bin", d.join("link.bin")).unwrap();
        write_atomic(&d.join("link.bin"), b"new").unwrap();
        let link = fs::symlink_metadata(d.join("link.bin")).unwrap();
        assert!(link.file_type().is_symlink());
        assert_eq!(fs::read(d.join("target.bin")).unwrap(), b"new");
        // A dangling link names the file to create.
        std::os::unix::fs::symlink("new.bin", d.join("dangling.bin")).unwrap();
        write_atomic(&d.join("dangling.bin"), b"made").unwrap();
        assert!(
            fs::symlink_metadata(d.join("dangling.bin"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(d.join("new.bin")).unwrap(), b"made");
    }

    #[test]
    fn devices_are_written_through_and_directories_refused() {
        let d = scratch("dev");
        // Through a link, so that a faulty build replaces the link, not
        // the machine's /dev/null.
        std::os::unix::fs::symlink("/dev/null", d.join("null.bin")).unwrap();
        write_atomic(&d.join("null.bin"), b"gone").unwrap();
        assert!(
            fs::symlink_metadata(d.join("null.bin"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        let e = write_atomic(&d, b"x").unwrap_err().to_string();
        assert!(
            e.contains("is a directory") && e.contains(&*d.to_string_lossy()),
            "{e}"
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
    }

    #[test]
    fn sizes_beyond_memory_are_refused_naming_what() {
        let e = check_memory(|| "--thing 7".into(), u128::MAX)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--thing 7: needs 18446744073709551615 bytes"),
            "{e}"
        );
        check_memory(|| unreachable!(), 1024).unwrap();
    }

    #[test]
    fn several_outputs_are_written_all_together_or_not_at_all() {
        let d = scratch("all");
        fs::write(d.join("a.bin"), b"old a").unwrap();
        // The second output's folder is missing: its temporary cannot be
        // created, so the first, already staged, must not land either.
        let files = vec![
            (d.join("a.bin"), b"new a".to_vec()),
            (d.join("missing").join("b.bin"), b"new b".to_vec()),
        ];
        assert!(write_all_atomic(&files).is_err());
        assert_eq!(fs::read(d.join("a.bin")).unwrap(), b"old a");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no temporary left");
        let files = vec![
            (d.join("a.bin"), b"new a".to_vec()),
            (d.join("b.bin"), b"new b".to_vec()),
        ];
        write_all_atomic(&files).unwrap();
        assert_eq!(fs::read(d.join("a.bin")).unwrap(), b"new a");
        assert_eq!(fs::read(d.join("b.bin")).unwrap(), b"new b");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 2, "no backup left");
    }

    #[test]
    fn endless_or_unsized_inputs_are_refused() {
        let e = read_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("a character device"),
            "{e}"
        );
        let d = scratch("dir");
        let e = read_file(&d).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
    }
}
