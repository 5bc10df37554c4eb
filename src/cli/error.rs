//! The command line's error type: every failure becomes one [`CliError`],
//! printed by `main` as a single line `latent: error: …` with a non-zero
//! exit status.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use latent_engine::EngineError;
use latent_models::ModelError;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Reading data, a checkpoint, or training failed in the engine.
    Engine(EngineError),
    /// A model operation failed (shapes, configuration, evaluation).
    Model(ModelError),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`"create"`, `"write"`, …).
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file is in none of the formats this command reads.
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected instead.
        expected: String,
    },
    /// A flag's value is outside its domain or conflicts with another.
    Arg {
        /// The flag, e.g. `--tile`.
        flag: &'static str,
        /// Its value, as given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// The model and the data (or two parts of a model) disagree.
    Mismatch {
        /// What was compared.
        what: String,
        /// The value required.
        expected: String,
        /// The value found.
        found: String,
    },
    /// An output is the same file as an input (or as another output).
    SameFile {
        /// The output's flag, e.g. `--out`.
        flag: &'static str,
        /// The output's path.
        path: PathBuf,
        /// The flag of the file it coincides with.
        other_flag: &'static str,
        /// That file's path.
        other: PathBuf,
        /// `"input"` or `"output"`.
        role: &'static str,
    },
    /// The operation or flag does not apply to this model (kind).
    Unsupported {
        /// The operation or flag, e.g. `latent sample`, `--tied`.
        what: String,
        /// Why not, and what does apply.
        why: String,
    },
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        CliError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// A bad flag value.
    pub fn arg(flag: &'static str, value: impl fmt::Display, expected: impl Into<String>) -> Self {
        CliError::Arg {
            flag,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// An operation or flag that does not apply here.
    pub fn unsupported(what: impl Into<String>, why: impl Into<String>) -> Self {
        CliError::Unsupported {
            what: what.into(),
            why: why.into(),
        }
    }

    /// A disagreement between model and data.
    pub fn mismatch(
        what: impl Into<String>,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Self {
        CliError::Mismatch {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            CliError::Engine(e) => e.to_string(),
            CliError::Model(e) => e.to_string(),
            CliError::Io { path, op, source } => {
                format!("{}: cannot {op}: {source}", path.display())
            }
            CliError::Format { path, expected } => {
                format!(
                    "{}: unrecognised format: expected {expected}",
                    path.display()
                )
            }
            CliError::Arg {
                flag,
                value,
                expected,
            } if value == "(missing)" => format!("missing {flag}: expected {expected}"),
            CliError::Arg {
                flag,
                value,
                expected,
            } if value.starts_with('(') => format!("{flag} {value}: expected {expected}"),
            CliError::Arg {
                flag,
                value,
                expected,
            } => format!("invalid value '{value}' for {flag}: expected {expected}"),
            CliError::Mismatch {
                what,
                expected,
                found,
            } => format!("{what}: expected {expected}, found {found}"),
            CliError::Unsupported { what, why } => format!("{what}: {why}"),
            CliError::SameFile {
                flag,
                path,
                other_flag,
                other,
                role,
            } => format!(
                "{flag} {} is the same file as the {role} {other_flag} {}: refusing to overwrite it",
                path.display(),
                other.display()
            ),
        };
        // One line, whatever the source says.
        f.write_str(&text.replace('\n', " "))
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Engine(e) => Some(e),
            CliError::Model(e) => Some(e),
            CliError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        CliError::Engine(e)
    }
}

impl From<ModelError> for CliError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Engine(e) => CliError::Engine(e),
            ModelError::Observer(e) => match e.downcast::<CliError>() {
                Ok(e) => *e,
                Err(e) => CliError::Model(ModelError::Observer(e)),
            },
            other => CliError::Model(other),
        }
    }
}

impl From<latent_kernels::KernelError> for CliError {
    fn from(e: latent_kernels::KernelError) -> Self {
        CliError::Model(ModelError::Kernel(e))
    }
}

/// Results of command-line operations.
pub type Result<T> = std::result::Result<T, CliError>;
