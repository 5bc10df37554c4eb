//! The typed error of the engine.
//!
//! Every failure names what it concerns (a file and a byte offset or line,
//! a tensor and an epoch/batch) and what was expected, so a user can act on
//! the message without a debugger. Library code returns these; it never
//! panics on bad input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use latent_kernels::KernelError;

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Where in a file something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A byte offset from the start of the (decompressed) file.
    Offset(u64),
    /// A 1-based line and a 1-based field (column) in a text file.
    Line {
        /// 1-based line number.
        line: usize,
        /// 1-based field number (0 when the whole line is meant).
        field: usize,
    },
    /// A 0-based element `(row, col)` of a matrix.
    Element {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Location::Offset(o) => write!(f, "byte offset {o}"),
            Location::Line { line, field: 0 } => write!(f, "line {line}"),
            Location::Line { line, field } => write!(f, "line {line}, field {field}"),
            Location::Element { row, col } => write!(f, "row {row}, column {col}"),
        }
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug)]
pub enum EngineError {
    /// An operating-system I/O error on a file.
    Io {
        /// The file (or directory).
        path: PathBuf,
        /// What was being done ("open", "read", "write", "rename", …).
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// A file (or its data part) is empty.
    Empty {
        /// The file.
        path: PathBuf,
        /// What was expected in it.
        expected: &'static str,
    },
    /// A file does not start with the magic number of its format.
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The expected magic, as text.
        expected: String,
        /// What the file has there, as text.
        found: String,
    },
    /// The file ends before the data its header declares.
    Truncated {
        /// The file.
        path: PathBuf,
        /// Offset at which the file (or stream) ended.
        offset: u64,
        /// What was still expected there.
        expected: String,
    },
    /// Bytes follow the end of the data the header declares.
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Offset where the declared data ends.
        offset: u64,
        /// How many bytes follow (at least).
        extra: u64,
    },
    /// A header field is malformed or out of range.
    BadHeader {
        /// The file.
        path: PathBuf,
        /// Offset of the header field.
        offset: u64,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// An element type the reader does not support.
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The type found, as the format spells it.
        found: String,
        /// The types supported.
        expected: &'static str,
    },
    /// A text field that does not parse as what was expected.
    Parse {
        /// The file.
        path: PathBuf,
        /// Line and field.
        location: Location,
        /// The offending text (shortened).
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A CSV row with a different number of fields than the first row.
    RaggedRow {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields in the first data row.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A NaN or infinity in data read from a file.
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Where (offset, line or element).
        location: Location,
        /// The value.
        value: f64,
    },
    /// Two sizes that must agree do not (e.g. images vs labels).
    SizeMismatch {
        /// What was compared.
        what: String,
        /// The size required.
        expected: u64,
        /// The size found.
        found: u64,
    },
    /// A gzip stream that cannot be decompressed.
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        source: io::Error,
    },
    /// A checkpoint whose checksum does not match its contents.
    Checksum {
        /// The file.
        path: PathBuf,
        /// The checksum stored in the file.
        stored: u64,
        /// The checksum of the contents.
        computed: u64,
    },
    /// A file in a format version this build cannot read.
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version supported.
        supported: u32,
    },
    /// A checkpoint that does not fit the model or trainer it is loaded into.
    Mismatch {
        /// What does not fit.
        what: String,
        /// What the receiver expects.
        expected: String,
        /// What the checkpoint holds.
        found: String,
    },
    /// An argument outside its domain (a bad hyper-parameter, a value
    /// outside a range, a zero batch size, …).
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Its value, as text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A matrix whose shape does not fit an operation.
    Shape {
        /// What was checked.
        what: &'static str,
        /// Expected shape, as text.
        expected: String,
        /// Found shape, as text.
        found: String,
    },
    /// Training produced a NaN or infinity; the run stops (the trainer
    /// keeps the last finite parameters in memory; the command line
    /// writes nothing). Shown with the epoch and batch counted from 1, as
    /// the progress lines count them.
    Diverged {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based minibatch within the epoch.
        batch: usize,
        /// What became non-finite: `"loss"`, `"gradient of W"`, `"W"`, a
        /// metric, …
        tensor: String,
        /// Flat index of the first bad element (0 for a scalar).
        index: usize,
        /// The bad value.
        value: f32,
    },
    /// A kernel refused its arguments.
    Kernel(KernelError),
    /// An input that is not a regular file (a directory, a device, a
    /// FIFO): its length is unknown or endless, so it is not read.
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead, e.g. `"a character device"`.
        kind: &'static str,
    },
    /// An output path that cannot be written: a directory, a block device
    /// or a socket.
    BadOutput {
        /// The path.
        path: PathBuf,
        /// What it is, e.g. `"a directory"`.
        kind: &'static str,
    },
    /// An output another process is writing: its advisory lock is held.
    Locked {
        /// The output.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// A header that declares no elements (a dimension of 0).
    NoElements {
        /// The file.
        path: PathBuf,
        /// What the header declares, e.g. `shape [10, 0]`.
        declared: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// A size that cannot be allocated (it overflows, exceeds the memory
    /// available, or the allocation failed).
    TooLarge {
        /// What needed the memory, naming the flag, file or shape.
        what: String,
        /// The bytes it needed (saturated at `u64::MAX`).
        bytes: u64,
        /// The memory available to the process, when known.
        available: Option<u64>,
    },
    /// A sum across the ranks of a data-parallel run that did not finish:
    /// its wait ran past the deadline, or a termination signal arrived
    /// while it waited (a rank died or hung; mpirun stops the job).
    Collective {
        /// What was being summed, and at which step.
        what: String,
        /// The rank it was waiting for.
        peer: usize,
        /// Seconds the sum had waited.
        waited: f64,
        /// Why it stopped waiting, e.g. `"no answer within the 300 s of
        /// --collective-timeout"` or `"interrupted by a termination signal"`.
        cause: String,
    },
}

impl EngineError {
    /// An [`EngineError::Io`] for `path`.
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        EngineError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// What a reader found, for a one-line message: text a reader quoted Rust
/// style (`"…"` with `\n`, `\u{8}`, `\"` escapes) is unquoted first, then
/// [`shown`]; other text (`3 dimensions [20, 3, 3]`) is kept as it is.
fn plain(found: &str) -> String {
    match found.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => shown(&unescape(quoted)),
        None => found.to_string(),
    }
}

/// Raw text found in a file, for a one-line message: in single quotes
/// (trailing white space dropped), or as hex bytes when it holds control
/// characters (binary data where text was expected).
fn shown(text: &str) -> String {
    let text = text.trim_end();
    if text.chars().any(char::is_control) {
        let hex: Vec<String> = text.bytes().map(|b| format!("{b:02x}")).collect();
        format!("the bytes {}", hex.join(" "))
    } else {
        format!("'{text}'")
    }
}

/// Undoes Rust's string escapes (`{:?}`): `\n`, `\t`, `\r`, `\0`, `\\`,
/// `\"`, `\'` and `\u{…}`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let code: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                let c = u32::from_str_radix(&code, 16).ok().and_then(char::from_u32);
                out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EngineError::*;
        match self {
            Io { path, op, source } => write!(f, "{}: cannot {op}: {source}", path.display()),
            Empty { path, expected } => {
                write!(f, "{}: empty file, expected {expected}", path.display())
            }
            BadMagic {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: not the expected format: expected magic {expected} at byte offset 0, found {}",
                path.display(),
                plain(found)
            ),
            Truncated {
                path,
                offset,
                expected,
            } => write!(
                f,
                "{}: truncated at byte offset {offset}: expected {expected}",
                path.display()
            ),
            TrailingData {
                path,
                offset,
                extra,
            } => write!(
                f,
                "{}: {extra} unexpected byte(s) after the declared end of the data at byte offset {offset}",
                path.display()
            ),
            BadHeader {
                path,
                offset,
                expected,
                found,
            } => write!(
                f,
                "{}: bad header at byte offset {offset}: expected {expected}, found {}",
                path.display(),
                plain(found)
            ),
            UnsupportedDtype {
                path,
                found,
                expected,
            } => write!(
                f,
                "{}: unsupported element type {found}, expected {expected}",
                path.display()
            ),
            Parse {
                path,
                location,
                found,
                expected,
            } => write!(
                f,
                "{}: {location}: expected {expected}, found {}",
                path.display(),
                shown(found)
            ),
            RaggedRow {
                path,
                line,
                expected,
                found,
            } => write!(
                f,
                "{}: line {line}: expected {expected} fields (as in the first row), found {found}",
                path.display()
            ),
            NonFinite {
                path,
                location,
                value,
            } => write!(
                f,
                "{}: {location}: expected a finite number, found {value}",
                path.display()
            ),
            SizeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            Gzip { path, source } => {
                write!(f, "{}: corrupt gzip stream: {source}", path.display())
            }
            Checksum {
                path,
                stored,
                computed,
            } => write!(
                f,
                "{}: checksum mismatch (stored {stored:#018x}, computed {computed:#018x}): the file is corrupted",
                path.display()
            ),
            UnsupportedVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "{}: format version {found} is not supported (this build reads versions up to {supported})",
                path.display()
            ),
            Mismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            InvalidArgument {
                what,
                value,
                expected,
            } => write!(f, "{what}: got {value}, expected {expected}"),
            Shape {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected shape {expected}, found {found}"),
            Diverged {
                epoch,
                batch,
                tensor,
                index,
                value,
            } => write!(
                f,
                "training diverged in epoch {}, batch {}: {tensor}[{index}] = {value}; training stopped (try a lower learning rate)",
                epoch + 1,
                batch + 1
            ),
            Kernel(e) => write!(f, "kernel error: {e}"),
            NotRegularFile { path, kind } => write!(
                f,
                "{}: is {kind}, not a regular file (inputs must be regular files of known size)",
                path.display()
            ),
            BadOutput { path, kind } => write!(
                f,
                "{}: is {kind}: cannot write an output there (expected a regular file, a new path, a character device or a FIFO)",
                path.display()
            ),
            NoElements {
                path,
                declared,
                expected,
            } => write!(
                f,
                "{}: no data: the header declares {declared}, expected {expected}",
                path.display()
            ),
            Locked { path, lock } => write!(
                f,
                "{}: another process is writing this file (its lock {} is held); wait for it to finish or choose another output",
                path.display(),
                lock.display()
            ),
            TooLarge {
                what,
                bytes,
                available: Some(a),
            } => write!(
                f,
                "{what}: needs {bytes} bytes of memory, more than the {a} bytes available"
            ),
            TooLarge {
                what,
                bytes,
                available: None,
            } => write!(
                f,
                "{what}: needs {bytes} bytes of memory, more than can be allocated"
            ),
            Collective {
                what,
                peer,
                waited,
                cause,
            } => write!(
                f,
                "the sum across ranks of {what} did not finish: {cause} (waited {waited:.1} s for rank {peer})"
            ),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Io { source, .. } | EngineError::Gzip { source, .. } => Some(source),
            EngineError::Kernel(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KernelError> for EngineError {
    fn from(e: KernelError) -> Self {
        EngineError::Kernel(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_text_is_shown_without_rust_escapes() {
        assert_eq!(plain(r#""\0\0\u{8}\u{3}""#), "the bytes 00 00 08 03");
        assert_eq!(plain(r#""garbage  }\n""#), "'garbage  }'");
        assert_eq!(plain(r#""a\"b\\c""#), r#"'a"b\c'"#);
        assert_eq!(plain("3 dimensions [20, 3, 3]"), "3 dimensions [20, 3, 3]");
        assert_eq!(shown("x\"y"), "'x\"y'");
        let e = EngineError::Parse {
            path: "d.csv".into(),
            location: Location::Line { line: 6, field: 2 },
            expected: "a number",
            found: "x\"y".into(),
        };
        assert_eq!(
            e.to_string(),
            "d.csv: line 6, field 2: expected a number, found 'x\"y'"
        );
    }
}
