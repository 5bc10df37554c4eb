//! A Bernoulli RBM's parameters and inference ([`NativeRbm`]) and
//! scikit-learn's training of it ([`NativePcd`]). Parameters cross in
//! scikit-learn's layout (`components_` is `H x V`); latent keeps `W` as
//! `V x H`.

use latent_engine::Matrix;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::random::Streams;
use latent_models::ModelError;
use latent_models::rbm::{FitPlan, HiddenPcd, HiddenPcdConfig, Rbm, RbmConfig};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::{compute, rows_of, value_error, vector_of};

/// `m` (`rows x cols`, row-major) transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for (i, row) in m.chunks_exact(cols.max(1)).enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate() {
            t[j * rows + i] = v;
        }
    }
    t
}

/// A new `rows x cols` float32 array filled by `fill` (without the GIL).
fn new_array<'py>(
    py: Python<'py>,
    (rows, cols): (usize, usize),
    threads: Option<usize>,
    fill: impl FnOnce(&mut [f32], latent_kernels::Par) -> Result<(), ModelError> + Send,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let out = PyArray2::<f32>::zeros(py, [rows, cols], false);
    {
        let mut rw = out.readwrite();
        let slice = rw.as_slice_mut().map_err(value_error)?;
        compute(py, threads, |par| fill(slice, par))?;
    }
    Ok(out)
}

/// A Bernoulli-Bernoulli RBM (`latent._native.Rbm`).
#[pyclass(module = "latent._native", name = "Rbm")]
pub struct NativeRbm {
    pub(crate) rbm: Rbm,
}

#[pymethods]
impl NativeRbm {
    /// The RBM with scikit-learn's parameters: `components` (`H x V`),
    /// `intercept_visible` (V), `intercept_hidden` (H), products in
    /// `precision` (`"f32"` or `"bf16"`).
    #[new]
    #[pyo3(signature = (components, intercept_visible, intercept_hidden, precision = "f32"))]
    fn new(
        components: PyReadonlyArray2<'_, f32>,
        intercept_visible: PyReadonlyArray1<'_, f32>,
        intercept_hidden: PyReadonlyArray1<'_, f32>,
        precision: &str,
    ) -> PyResult<Self> {
        let (comp, h, v) = rows_of(&components, "components_")?;
        let b = vector_of(&intercept_visible, "intercept_visible_")?;
        let c = vector_of(&intercept_hidden, "intercept_hidden_")?;
        let w = transpose(comp, h, v);
        let mut rbm =
            Rbm::from_params(RbmConfig::bernoulli(v, h), &w, b, c).map_err(value_error)?;
        rbm.set_precision(precision.parse().map_err(value_error)?);
        Ok(NativeRbm { rbm })
    }

    /// `components_`: the weights as `H x V`.
    fn components<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (v, h) = (self.rbm.config().n_visible, self.rbm.config().n_hidden);
        let t = transpose(self.rbm.weights().as_slice(), v, h);
        PyArray1::from_vec(py, t).reshape([h, v])
    }

    /// `intercept_visible_`.
    fn intercept_visible<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, self.rbm.visible_bias())
    }

    /// `intercept_hidden_`.
    fn intercept_hidden<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, self.rbm.hidden_bias())
    }

    /// The precision of the products (`"f32"` or `"bf16"`).
    #[getter]
    fn precision(&self) -> &'static str {
        self.rbm.precision().name()
    }

    /// Hidden probabilities `σ(xW + c)` of the rows of `x` (`n x H`).
    #[pyo3(signature = (x, threads = None))]
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (data, n, v) = rows_of(&x, "X")?;
        let h = self.rbm.config().n_hidden;
        let rbm = &self.rbm;
        new_array(py, (n, h), threads, |out, par| {
            let x = MatRef::row_major(data, n, v)?;
            rbm.transform(x, MatMut::row_major(out, n, h)?, par)
        })
    }

    /// One Gibbs step `v → h → v` from the rows of `x`, both sampled,
    /// drawing from the streams of `seed`.
    #[pyo3(signature = (x, seed, threads = None))]
    fn gibbs<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        seed: u64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (data, n, v) = rows_of(&x, "X")?;
        let rbm = &self.rbm;
        new_array(py, (n, v), threads, |out, par| {
            let mut m = Matrix::from_slice(n, v, data)?;
            rbm.gibbs(&mut m, 1, Streams::new(seed), par)?;
            out.copy_from_slice(m.as_slice());
            Ok(())
        })
    }

    /// scikit-learn's pseudo-likelihood of the rows of `x`, with visible
    /// `flips[i]` of row `i` flipped: `V · ln σ(F(x̃) − F(x))` per row.
    #[pyo3(signature = (x, flips, threads = None))]
    fn pseudo_likelihood<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        flips: PyReadonlyArray1<'_, i64>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (data, n, v) = rows_of(&x, "X")?;
        let n_visible = self.rbm.config().n_visible;
        if v != n_visible {
            return Err(value_error(format!(
                "X has {v} features, but the model has {n_visible} visible units"
            )));
        }
        let flips: Vec<usize> = flips
            .as_slice()
            .map_err(value_error)?
            .iter()
            .map(|&i| usize::try_from(i).map_err(value_error))
            .collect::<PyResult<_>>()?;
        let rbm = &self.rbm;
        let out = new_array(py, (1, n), threads, |out, par| {
            rbm.with_eval_params(|p| {
                latent_models::eval::pseudo_log_likelihood_with_flips(p, data, &flips, out, par)
            })
        })?;
        out.reshape([n])
    }

    /// Writes the RBM as a `latent` model file of kind `rbm` at `path`;
    /// `settings = (n_iter, learning_rate, batch_size, cd_k, momentum,
    /// seed)` make its training line.
    fn save(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        settings: (usize, f32, usize, usize, f32, u64),
    ) -> PyResult<()> {
        let rbm = &self.rbm;
        compute(py, Some(1), |_| {
            crate::files::save_rbm(rbm, &path, settings)
        })
    }
}

/// scikit-learn's training of a [`NativeRbm`] (`latent._native.HiddenPcd`).
#[pyclass(module = "latent._native", name = "HiddenPcd")]
pub struct NativePcd {
    pcd: HiddenPcd,
}

#[pymethods]
impl NativePcd {
    /// A trainer continuing the hidden chains `h_samples` (`C x H`).
    #[new]
    #[pyo3(signature = (h_samples, learning_rate = 0.1, cd_k = 1, momentum = 0.0))]
    fn new(
        h_samples: PyReadonlyArray2<'_, f32>,
        learning_rate: f32,
        cd_k: usize,
        momentum: f32,
    ) -> PyResult<Self> {
        let (data, c, h) = rows_of(&h_samples, "h_samples_")?;
        let chains = Matrix::from_slice(c, h, data).map_err(value_error)?;
        let config = HiddenPcdConfig {
            learning_rate,
            cd_k,
            momentum,
        };
        let pcd = HiddenPcd::new(config, chains).map_err(value_error)?;
        Ok(NativePcd { pcd })
    }

    /// `h_samples_`: the hidden chains (`C x H`).
    fn h_samples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let m = self.pcd.chains();
        PyArray1::from_slice(py, m.as_slice()).reshape([m.rows(), m.cols()])
    }

    /// The velocities of `W` (`V x H`, flat), `b` and `c`; empty arrays
    /// before a step with momentum.
    #[allow(clippy::type_complexity)]
    fn velocity<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Bound<'py, PyArray1<f32>>,
        Bound<'py, PyArray1<f32>>,
        Bound<'py, PyArray1<f32>>,
    ) {
        let [w, b, c] = self.pcd.velocity();
        let a = |v: &[f32]| PyArray1::from_slice(py, v);
        (a(w), a(b), a(c))
    }

    /// Sets the velocities (from [`velocity`](Self::velocity)) for `rbm`.
    fn set_velocity(
        &mut self,
        rbm: PyRef<'_, NativeRbm>,
        velocity: [PyReadonlyArray1<'_, f32>; 3],
    ) -> PyResult<()> {
        let [w, b, c] = velocity
            .each_ref()
            .map(|a| a.as_slice().map(<[f32]>::to_vec));
        let v = [
            w.map_err(value_error)?,
            b.map_err(value_error)?,
            c.map_err(value_error)?,
        ];
        self.pcd.set_velocity(&rbm.rbm, v).map_err(value_error)
    }

    /// Epochs `first_epoch .. first_epoch + epochs` over `x` in minibatches
    /// of `batch_size` rows (`plan = (batch_size, first_epoch, epochs,
    /// seed)`), without the GIL.
    #[pyo3(signature = (rbm, x, plan, threads = None))]
    fn fit(
        &mut self,
        py: Python<'_>,
        mut rbm: PyRefMut<'_, NativeRbm>,
        x: PyReadonlyArray2<'_, f32>,
        plan: (usize, usize, usize, u64),
        threads: Option<usize>,
    ) -> PyResult<()> {
        let (data, n, v) = rows_of(&x, "X")?;
        let (batch_size, first_epoch, epochs, seed) = plan;
        let plan = FitPlan {
            batch_size,
            first_epoch,
            epochs,
            seed,
        };
        let (pcd, rbm) = (&mut self.pcd, &mut rbm.rbm);
        compute(py, threads, |par| {
            pcd.fit(rbm, MatRef::row_major(data, n, v)?, plan, par)
        })
    }

    /// One update on all of `x` (scikit-learn's `partial_fit`), drawing
    /// from the streams of `seed`, without the GIL.
    #[pyo3(signature = (rbm, x, seed, threads = None))]
    fn step(
        &mut self,
        py: Python<'_>,
        mut rbm: PyRefMut<'_, NativeRbm>,
        x: PyReadonlyArray2<'_, f32>,
        seed: u64,
        threads: Option<usize>,
    ) -> PyResult<()> {
        let (data, n, v) = rows_of(&x, "X")?;
        let (pcd, rbm) = (&mut self.pcd, &mut rbm.rbm);
        compute(py, threads, |par| {
            pcd.step(rbm, MatRef::row_major(data, n, v)?, Streams::new(seed), par)
        })
    }
}
