//! The typed error of the models crate.

use latent_engine::EngineError;
use latent_kernels::KernelError;
use std::fmt;

/// Why a model operation failed.
#[derive(Debug)]
pub enum ModelError {
    /// A kernel refused its arguments (shapes, values).
    Kernel(KernelError),
    /// The engine failed (data, checkpoints, training loop).
    Engine(EngineError),
    /// An argument had the wrong size.
    Shape {
        /// What was being checked.
        what: String,
        /// The size required.
        expected: usize,
        /// The size given.
        found: usize,
    },
    /// A configuration or argument value outside its domain.
    InvalidConfig {
        /// Which setting.
        what: &'static str,
        /// Its value, as text.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A layer of a stacked model failed (greedy pretraining, …).
    Layer {
        /// 0-based layer index, bottom first.
        layer: usize,
        /// What went wrong there.
        source: Box<ModelError>,
    },
    /// Two things that must agree do not: a model file and its own text, a
    /// model and the data given to it.
    Mismatch {
        /// What was compared (a model file's errors start with its path).
        what: String,
        /// The value required.
        expected: String,
        /// The value found.
        found: String,
    },
    /// What watched a training run failed (e.g. writing a metrics file).
    Observer(Box<dyn std::error::Error + Send + Sync>),
    /// An operation that does not apply to this model (e.g. pseudo-likelihood
    /// of a Gaussian RBM, exact `log Z` with too many units).
    Unsupported {
        /// The operation.
        what: &'static str,
        /// Why not.
        why: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Kernel(e) => write!(f, "{e}"),
            ModelError::Engine(e) => write!(f, "{e}"),
            ModelError::Shape {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            ModelError::InvalidConfig {
                what,
                value,
                expected,
            } => write!(f, "{what} = {value}: expected {expected}"),
            ModelError::Mismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            ModelError::Observer(e) => write!(f, "{e}"),
            ModelError::Unsupported { what, why } => write!(f, "{what}: {why}"),
            ModelError::Layer { layer, source } => write!(f, "layer {layer}: {source}"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Kernel(e) => Some(e),
            ModelError::Engine(e) => Some(e),
            ModelError::Layer { source, .. } => Some(source.as_ref()),
            ModelError::Observer(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl ModelError {
    /// A [`ModelError::Mismatch`].
    pub fn mismatch(
        what: impl Into<String>,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Self {
        ModelError::Mismatch {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

impl From<KernelError> for ModelError {
    fn from(e: KernelError) -> Self {
        ModelError::Kernel(e)
    }
}

impl From<EngineError> for ModelError {
    fn from(e: EngineError) -> Self {
        ModelError::Engine(e)
    }
}

/// Results of model operations.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Model errors cross the engine's `Model` boundary (a model's `gradient`)
/// as engine errors: engine and kernel errors unwrapped, the rest as an
/// invalid argument that keeps the message.
impl From<ModelError> for EngineError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Engine(e) => e,
            ModelError::Kernel(e) => EngineError::from(e),
            other => EngineError::InvalidArgument {
                what: "model",
                value: other.to_string(),
                expected: "valid model input",
            },
        }
    }
}

/// [`EngineError::from`] as a function, for `map_err`.
pub(crate) fn into_engine(e: ModelError) -> EngineError {
    EngineError::from(e)
}
