//! A model file of any kind, in memory ([`NativeModel`], `latent._native.Model`):
//! what `latent train` writes and `latent encode/score/sample/info` read,
//! with the library's [`Inference`] on it. Data goes through the file's
//! preprocessing first (as `latent encode` does); data of a model without
//! preprocessing is read in place and used as it is.

use std::path::{Path, PathBuf};

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_models::dbm::{DbmScratch, Layers};
use latent_models::model::{Inference, SampleRequest, Score};
use latent_models::persist::{self, ModelFile, Preprocess};
use latent_models::{ModelError, Result};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::{compute, rows_of, value_error};

/// A model file of any kind (`latent._native.Model`).
#[pyclass(module = "latent._native", name = "Model")]
pub struct NativeModel {
    pub(crate) file: ModelFile,
}

/// A new `rows x cols` float32 array filled by `fill` (without the GIL).
fn filled<'py>(
    py: Python<'py>,
    (rows, cols): (usize, usize),
    threads: Option<usize>,
    fill: impl FnOnce(&mut [f32], Par) -> Result<()> + Send,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let out = PyArray2::<f32>::zeros(py, [rows, cols], false);
    {
        let mut rw = out.readwrite();
        let slice = rw.as_slice_mut().map_err(value_error)?;
        compute(py, threads, |par| fill(slice, par))?;
    }
    Ok(out)
}

impl NativeModel {
    /// Runs `f` on the rows of `x` as the model takes them: in place when
    /// the file has no preprocessing, else a copy preprocessed as `latent
    /// encode` does (checked against the range the file's preprocessing
    /// maps).
    fn with_input<R>(
        &self,
        (data, n, v): (&[f32], usize, usize),
        par: Par,
        f: impl FnOnce(MatRef<'_>, Par) -> Result<R>,
    ) -> Result<R> {
        if self.file.preprocess == Preprocess::None {
            self.check_visible(v)?;
            return f(MatRef::row_major(data, n, v)?, par);
        }
        f(self.input_matrix((data, n, v))?.view(), par)
    }

    /// An error unless the data has the model's `v` visible units.
    fn check_visible(&self, v: usize) -> Result<()> {
        let expected = self.file.model.n_visible();
        if v != expected {
            return Err(ModelError::mismatch(
                "X: features per sample (columns) vs the model's visible units",
                expected,
                v,
            ));
        }
        Ok(())
    }

    /// A copy of the rows of `x`, preprocessed as `latent encode` does.
    fn input_matrix(&self, (data, n, v): (&[f32], usize, usize)) -> Result<Matrix> {
        self.check_visible(v)?;
        let mut x = Matrix::from_slice(n, v, data)?;
        if self.file.preprocess != Preprocess::None {
            self.file.prepare(&mut x, Path::new("X"))?;
        }
        Ok(x)
    }

    /// The score named `name` (`None`: the model's default, its first).
    fn score_named(&self, name: Option<&str>) -> PyResult<Score> {
        let supported = self.file.model.supported_scores();
        let Some(name) = name else {
            return Ok(supported[0]);
        };
        supported
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = supported.iter().map(|s| s.name()).collect();
                value_error(format!(
                    "metric {name:?}: a {} model scores {}",
                    self.file.kind.name(),
                    names.join(", ")
                ))
            })
    }

    /// A DBM's mean-field posteriors of every hidden layer for the rows
    /// of `input`; other kinds are an error.
    fn encode_all_layers<'py>(
        &self,
        py: Python<'py>,
        input: (&[f32], usize, usize),
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let dbm = self.file.model.as_dbm().ok_or_else(|| {
            value_error(format!(
                "all_layers: a {} model has one layer of features (only a DBM infers every hidden layer at once)",
                self.file.kind.name()
            ))
        })?;
        let width = dbm.encode_width(Layers::All);
        filled(py, (input.1, width), threads, |out, par| {
            self.with_input(input, par, |x, par| {
                let out = MatMut::row_major(out, x.rows(), width)?;
                let scratch = &mut DbmScratch::new();
                dbm.encode_layers_into(x, Layers::All, out, scratch, par)
            })
        })
    }
}

#[pymethods]
impl NativeModel {
    /// Reads the model file at `path` (any kind).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let file = py.detach(|| persist::load(&path)).map_err(value_error)?;
        Ok(NativeModel { file })
    }

    /// A model from the bytes of a model file (what `to_bytes` gives), read
    /// in memory (errors name "the model's bytes").
    #[staticmethod]
    fn from_bytes(py: Python<'_>, bytes: &[u8]) -> PyResult<Self> {
        let source = Path::new("the model's bytes");
        let file = py
            .detach(|| persist::from_bytes(bytes, source))
            .map_err(value_error)?;
        Ok(NativeModel { file })
    }

    /// The model file's bytes (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.file.checkpoint.to_bytes())
    }

    /// Pickling: the model file's bytes.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let cls = py.get_type::<NativeModel>();
        Ok((cls.getattr("from_bytes")?, (self.to_bytes(py),)))
    }

    /// Writes the model file at `path` (atomically), as `latent train`
    /// writes it.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.file.save(&path)).map_err(value_error)
    }

    /// The kind (`rbm`, `gaussian-rbm`, `dbn`, `ae`, `vae`, `deep-ae`,
    /// `dbm`).
    #[getter]
    fn kind(&self) -> &'static str {
        self.file.kind.name()
    }

    /// Visible units: the columns the data must have.
    #[getter]
    fn n_visible(&self) -> usize {
        self.file.model.n_visible()
    }

    /// Columns of `encode`'s output.
    #[getter]
    fn n_features(&self) -> usize {
        self.file.model.n_features()
    }

    /// Layer sizes, visible first (a VAE: the latent last).
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.file.model.sizes()
    }

    /// The precision of the matrix products (`"f32"` or `"bf16"`).
    #[getter]
    fn precision(&self) -> &'static str {
        self.file.model.precision().name()
    }

    /// The file's hyper-parameter text: the model's own lines, `train:`
    /// and `preprocess:`.
    #[getter]
    fn config(&self) -> &str {
        &self.file.checkpoint.hyperparameters
    }

    /// The scores the model computes (`latent score --metric` names); the
    /// first is its default.
    #[getter]
    fn scores(&self) -> Vec<&'static str> {
        let s = self.file.model.supported_scores();
        s.iter().map(|s| s.name()).collect()
    }

    /// Whether `sample` draws from a prior (not an autoencoder).
    #[getter]
    fn can_sample(&self) -> bool {
        self.file.model.can_sample()
    }

    /// What `latent info` says of the file: kind, sizes, the train line,
    /// the configuration text, the preprocessing, epochs in the history,
    /// precision, the autoencoder variant, whether training finished, and
    /// a DBM's persistent chains (`None` for the other kinds).
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = &self.file;
        let d = PyDict::new(py);
        let text = &f.checkpoint.hyperparameters;
        d.set_item("kind", f.kind.name())?;
        d.set_item("sizes", f.model.sizes())?;
        d.set_item("n_visible", f.model.n_visible())?;
        d.set_item("n_features", f.model.n_features())?;
        d.set_item("train", persist::hyper_line(text, "train").unwrap_or(""))?;
        d.set_item("config", text)?;
        d.set_item("preprocess", f.preprocess.describe())?;
        d.set_item("epochs", f.checkpoint.history.len())?;
        d.set_item("precision", f.model.precision().name())?;
        d.set_item("variant", f.model.variant())?;
        d.set_item("status", f.status.clone())?;
        d.set_item("chains", f.model.as_dbm().map(|d| d.chain_count()))?;
        Ok(d)
    }

    /// The parameter tensors as stored, `(name, array)` in the file's
    /// order (2-D float32 copies).
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyArray2<f32>>)>> {
        let tensors = self.file.checkpoint.params.tensors();
        tensors
            .iter()
            .map(|t| {
                let (r, c) = t.value.shape();
                let a = PyArray1::from_slice(py, t.value.as_slice()).reshape([r, c])?;
                Ok((t.name.clone(), a))
            })
            .collect()
    }

    /// The history: `(epoch, training loss, seconds)` per epoch trained.
    fn history(&self) -> Vec<(u64, f64, f64)> {
        let h = &self.file.checkpoint.history;
        h.iter()
            .map(|r| (r.epoch, r.train_loss, r.seconds))
            .collect()
    }

    /// The features of the rows of `x` (`n x n_features`); with
    /// `all_layers`, a DBM's mean-field posteriors of every hidden layer
    /// side by side (`n x (n1 + … + nL)`, the top layer last; `latent
    /// encode --all-layers`).
    #[pyo3(signature = (x, threads = None, all_layers = false))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        threads: Option<usize>,
        all_layers: bool,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = rows_of(&x, "X")?;
        if all_layers {
            return self.encode_all_layers(py, input, threads);
        }
        let h = self.file.model.n_features();
        filled(py, (input.1, h), threads, |out, par| {
            self.with_input(input, par, |x, par| {
                let out = MatMut::row_major(out, x.rows(), h)?;
                self.file
                    .model
                    .encode_into(x, out, &mut Default::default(), par)
            })
        })
    }

    /// A classifier's class probabilities `p(y|x)` of the rows of `x`
    /// (`n x classes`, what `latent predict --proba` writes);
    /// other kinds are an error.
    #[pyo3(signature = (x, threads = None))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let Some(clf) = self.file.model.as_classifier() else {
            return Err(value_error(format!(
                "predict_proba: a {} model has no classes (only a classifier model)",
                self.file.kind.name()
            )));
        };
        let input = rows_of(&x, "X")?;
        let p = compute(py, threads, |par| {
            let x = self.input_matrix(input)?;
            self.file.model.class_probabilities(&x, par)
        })?;
        PyArray1::from_slice(py, p.as_slice()).reshape([input.1, clf.classes()])
    }

    /// Deterministic reconstructions of the rows of `x` (`n x V`), on the
    /// model's scale (after the file's preprocessing).
    #[pyo3(signature = (x, threads = None))]
    fn reconstruct<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = rows_of(&x, "X")?;
        filled(py, (input.1, input.2), threads, |out, par| {
            self.with_input(input, par, |x, par| {
                let out = MatMut::row_major(out, x.rows(), x.cols())?;
                let model = &self.file.model;
                model.reconstruct_into(x, out, &mut Default::default(), par)
            })
        })
    }

    /// The anomaly score `metric` of each row of `x` (`latent score`:
    /// higher is less like the training data; `None`: the model's
    /// default); `seed` drives the VAE's latent samples.
    #[pyo3(signature = (x, metric = None, seed = 0, threads = None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f32>,
        metric: Option<&str>,
        seed: u64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let score = self.score_named(metric)?;
        let input = rows_of(&x, "X")?;
        let out = filled(py, (1, input.1), threads, |out, par| {
            self.with_input(input, par, |x, par| {
                let model = &self.file.model;
                model.score_into(x, score, seed, out, &mut Default::default(), par)
            })
        })?;
        out.reshape([input.1])
    }

    /// The visible means `E[v | h¹]` of the first `n` persistent chains of
    /// a DBM, as its file holds them (`latent sample --from-chains`): at
    /// most `info()["chains"]`; other kinds are an error.
    #[pyo3(signature = (n, threads = None))]
    fn chain_samples<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let v = self.file.model.n_visible();
        let m = compute(py, threads, |par| self.file.model.chain_samples(n, par))?;
        PyArray1::from_slice(py, m.as_slice()).reshape([n, v])
    }

    /// `n` samples (`n x V`, visible means) after `steps` Gibbs steps (RBMs
    /// and DBNs; a VAE decodes `z ~ N(0, I)`), drawn from `seed`.
    #[pyo3(signature = (n, steps = 1000, seed = 0, threads = None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        steps: usize,
        seed: u64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let v = self.file.model.n_visible();
        let request = SampleRequest { steps, seed };
        filled(py, (n, v), threads, |out, par| {
            let out = MatMut::row_major(out, n, v)?;
            let model = &self.file.model;
            model.sample_into(request, out, &mut Default::default(), par)
        })
    }
}
