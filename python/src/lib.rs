//! `latent._native`: the extension module under the `latent` Python package.
//! Thin wrappers over `latent-models`: an RBM's parameters and inference
//! ([`rbm::NativeRbm`]), scikit-learn's training ([`rbm::NativePcd`], on
//! [`latent_models::rbm::HiddenPcd`]), `rbm` model files ([`files`]), a
//! model file of any kind with its inference ([`model::NativeModel`]) and
//! the training of any kind ([`train`]). Every
//! call that computes releases the GIL; arrays come in as C-contiguous
//! float32 (the Python layer converts anything else once) and are read in
//! place.

use std::fmt::Display;
use std::sync::{Arc, Mutex};

use latent_kernels::Par;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

mod classifier;
mod files;
mod model;
mod rbm;
mod train;

/// latent's error as a Python `ValueError` carrying its message.
pub(crate) fn value_error(e: impl Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A 2-D float32 array's data, rows and columns; a `TypeError` naming
/// `what` unless it is C-contiguous.
pub(crate) fn rows_of<'a>(
    x: &'a PyReadonlyArray2<'_, f32>,
    what: &str,
) -> PyResult<(&'a [f32], usize, usize)> {
    if !x.is_c_contiguous() {
        return Err(PyTypeError::new_err(format!(
            "{what}: expected a C-contiguous float32 array"
        )));
    }
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    Ok((x.as_slice().map_err(value_error)?, rows, cols))
}

/// A 1-D float32 array's data; a `TypeError` naming `what` unless it is
/// contiguous.
pub(crate) fn vector_of<'a>(x: &'a PyReadonlyArray1<'_, f32>, what: &str) -> PyResult<&'a [f32]> {
    x.as_slice()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected a contiguous float32 array")))
}

/// The rayon pools of explicit thread counts, built once each.
static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());

fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    let mut pools = POOLS.lock().map_err(value_error)?;
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(value_error)?;
    let p = Arc::new(p);
    pools.push((threads, p.clone()));
    Ok(p)
}

/// Runs `f` without the GIL on `threads` threads (`None` or 0: rayon's
/// global pool, one thread per core), and maps its error to `ValueError`.
pub(crate) fn compute<R, E, F>(py: Python<'_>, threads: Option<usize>, f: F) -> PyResult<R>
where
    R: Send,
    E: Display + Send,
    F: FnOnce(Par) -> Result<R, E> + Send,
{
    let result = match threads {
        None | Some(0) => py.detach(|| f(Par::All)),
        Some(n) => {
            let pool = pool(n)?;
            py.detach(|| pool.install(|| f(Par::All)))
        }
    };
    result.map_err(value_error)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<rbm::NativeRbm>()?;
    m.add_class::<rbm::NativePcd>()?;
    m.add_class::<model::NativeModel>()?;
    m.add_function(wrap_pyfunction!(files::load_rbm, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(train::defaults, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
