//! [`AnyModel`]: a model of any kind, as a model file holds it, behind the
//! one [`Inference`] interface. This is the one place that dispatches on
//! the kind of model.

use latent_engine::Matrix;
use latent_engine::train::Model as _;
use latent_kernels::Par;
use latent_kernels::Precision;
use latent_kernels::gemm::{MatMut, MatRef};

use super::ae::VaeInferenceScratch;
use super::rbm::RbmInferenceScratch;
use super::{DbnScratch, Inference, SampleRequest, Score};
use crate::ae::{AeScratch, Autoencoder, Classifier, ClassifierScratch, Loss, Vae, VaeOutput};
use crate::dbm::{Dbm, DbmScratch, Layers};
use crate::dbn::Dbn;
use crate::error::{ModelError, Result};
use crate::psd::{Psd, PsdScratch};
use crate::rbm::{Rbm, VisibleUnits};

/// A model of any kind.
#[derive(Debug)]
pub enum AnyModel {
    /// A Bernoulli or Gaussian RBM.
    Rbm(Box<Rbm>),
    /// A deep belief net.
    Dbn(Dbn),
    /// A deep Boltzmann machine.
    Dbm(Box<Dbm>),
    /// An autoencoder (plain, sparse, denoising or contractive).
    Ae(Box<Autoencoder>),
    /// A variational autoencoder.
    Vae(Box<Vae>),
    /// A deep autoencoder (pretrained layer-wise; fine-tuned, or the stack
    /// so far unrolled while still in pretraining).
    DeepAe(Box<Autoencoder>),
    /// A predictive sparse decomposition (features: the fast encoder's
    /// codes `F(x)`; reconstructions `F(x)D`; scores: the energy at the
    /// exact codes).
    Psd(Box<Psd>),
    /// A classifier: hidden layers topped by a softmax (its features are
    /// the top hidden layer's activations; it neither reconstructs, scores
    /// nor samples).
    Classifier(Box<Classifier>),
}

/// The workspace of an [`AnyModel`]: the scratch of the kind in use (it is
/// replaced when the kind changes).
#[derive(Debug, Default)]
pub enum AnyScratch {
    /// Not used yet.
    #[default]
    Empty,
    /// An RBM's.
    Rbm(RbmInferenceScratch),
    /// A DBN's.
    Dbn(DbnScratch),
    /// A DBM's.
    Dbm(DbmScratch),
    /// An autoencoder's.
    Ae(AeScratch),
    /// A VAE's.
    Vae(VaeInferenceScratch),
    /// A PSD model's.
    Psd(PsdScratch),
    /// A classifier's.
    Classifier(ClassifierScratch),
}

/// `AnyScratch::$variant` of `s`, made fresh if `s` holds another kind.
macro_rules! scratch_of {
    ($s:expr, $variant:ident) => {{
        if !matches!($s, AnyScratch::$variant(_)) {
            *$s = AnyScratch::$variant(Default::default());
        }
        match $s {
            AnyScratch::$variant(inner) => inner,
            _ => unreachable!("set just above"),
        }
    }};
}

/// Runs `$body` with `$m` bound to the model (as `&dyn`-like concrete
/// type) and `$s` to its scratch.
macro_rules! dispatch {
    ($self:expr, $scratch:expr, |$m:ident, $s:ident| $body:expr) => {
        match $self {
            AnyModel::Rbm(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Rbm));
                $body
            }
            AnyModel::Dbn(model) => {
                let ($m, $s) = (model, scratch_of!($scratch, Dbn));
                $body
            }
            AnyModel::Dbm(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Dbm));
                $body
            }
            AnyModel::Ae(model) | AnyModel::DeepAe(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Ae));
                $body
            }
            AnyModel::Vae(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Vae));
                $body
            }
            AnyModel::Psd(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Psd));
                $body
            }
            AnyModel::Classifier(model) => {
                let ($m, $s) = (model.as_ref(), scratch_of!($scratch, Classifier));
                $body
            }
        }
    };
}

impl Inference for AnyModel {
    type Scratch = AnyScratch;

    fn n_visible(&self) -> usize {
        self.sizes()[0]
    }

    fn n_features(&self) -> usize {
        match self {
            AnyModel::Rbm(m) => m.n_features(),
            AnyModel::Dbn(m) => m.n_features(),
            AnyModel::Dbm(m) => m.n_features(),
            AnyModel::Ae(m) | AnyModel::DeepAe(m) => m.n_features(),
            AnyModel::Vae(m) => m.n_features(),
            AnyModel::Psd(m) => m.n_features(),
            AnyModel::Classifier(m) => m.n_features(),
        }
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut AnyScratch,
        par: Par,
    ) -> Result<()> {
        dispatch!(self, scratch, |m, s| m.encode_into(x, out, s, par))
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut AnyScratch,
        par: Par,
    ) -> Result<()> {
        dispatch!(self, scratch, |m, s| m.reconstruct_into(x, out, s, par))
    }

    fn supported_scores(&self) -> &'static [Score] {
        match self {
            AnyModel::Rbm(m) => m.supported_scores(),
            AnyModel::Dbn(m) => m.supported_scores(),
            AnyModel::Dbm(m) => m.supported_scores(),
            AnyModel::Ae(m) | AnyModel::DeepAe(m) => m.supported_scores(),
            AnyModel::Vae(m) => m.supported_scores(),
            AnyModel::Psd(m) => m.supported_scores(),
            AnyModel::Classifier(m) => m.supported_scores(),
        }
    }

    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        seed: u64,
        out: &mut [f32],
        scratch: &mut AnyScratch,
        par: Par,
    ) -> Result<()> {
        dispatch!(self, scratch, |m, s| m
            .score_into(x, score, seed, out, s, par))
    }

    fn can_sample(&self) -> bool {
        !matches!(
            self,
            AnyModel::Ae(_) | AnyModel::DeepAe(_) | AnyModel::Psd(_) | AnyModel::Classifier(_)
        )
    }

    fn sample_into(
        &self,
        request: SampleRequest,
        out: MatMut<'_>,
        scratch: &mut AnyScratch,
        par: Par,
    ) -> Result<()> {
        dispatch!(self, scratch, |m, s| m.sample_into(request, out, s, par))
    }
}

impl AnyModel {
    /// The precision of the model's matrix products.
    pub fn precision(&self) -> Precision {
        match self {
            AnyModel::Rbm(m) => m.precision(),
            AnyModel::Dbn(m) => m.precision(),
            AnyModel::Dbm(m) => m.precision(),
            AnyModel::Ae(m) | AnyModel::DeepAe(m) => m.precision(),
            AnyModel::Vae(m) => m.precision(),
            AnyModel::Psd(m) => m.precision(),
            AnyModel::Classifier(m) => m.precision(),
        }
    }

    /// Sets the precision of the model's matrix products (in every layer).
    pub fn set_precision(&mut self, precision: Precision) {
        match self {
            AnyModel::Rbm(m) => m.set_precision(precision),
            AnyModel::Dbn(m) => m.set_precision(precision),
            AnyModel::Dbm(m) => m.set_precision(precision),
            AnyModel::Ae(m) | AnyModel::DeepAe(m) => m.set_precision(precision),
            AnyModel::Vae(m) => m.set_precision(precision),
            AnyModel::Psd(m) => m.set_precision(precision),
            AnyModel::Classifier(m) => m.set_precision(precision),
        }
    }

    /// Layer sizes: `[V, H]`, `[V, H1, H2, …]`, or for a VAE `[V, H1, …,
    /// Z]` (the latent last).
    pub fn sizes(&self) -> Vec<usize> {
        match self {
            AnyModel::Rbm(r) => vec![r.config().n_visible, r.config().n_hidden],
            AnyModel::Dbn(d) => d.sizes(),
            AnyModel::Dbm(d) => d.sizes().to_vec(),
            AnyModel::Ae(a) | AnyModel::DeepAe(a) => a.config().sizes.clone(),
            AnyModel::Vae(v) => {
                let mut s = v.config().sizes.clone();
                s.push(v.latent());
                s
            }
            AnyModel::Psd(p) => vec![p.config().n_visible, p.config().codes],
            AnyModel::Classifier(c) => c.sizes().to_vec(),
        }
    }

    /// The weights of the first layer (`V x H`): the RBM's, the DBN's
    /// bottom RBM's, the first encoder layer's (a VAE without hidden
    /// layers: its mean head's), a PSD model's encoder `W` (its dictionary
    /// atoms are [`Psd::dictionary`]'s rows).
    pub fn first_weights(&self) -> &Matrix {
        match self {
            AnyModel::Rbm(r) => r.weights(),
            AnyModel::Dbn(d) => d.layers()[0].weights(),
            AnyModel::Dbm(d) => d.weight(1),
            AnyModel::Ae(a) | AnyModel::DeepAe(a) => a.params().value(0),
            AnyModel::Vae(v) => v.params().value(0),
            AnyModel::Psd(p) => p.params().value(crate::psd::W),
            AnyModel::Classifier(c) => c.params().value(0),
        }
    }

    /// Whether the model's inputs and outputs are in `[0, 1]` (binary
    /// visibles, a cross-entropy loss, a Bernoulli decoder).
    pub fn unit_outputs(&self) -> bool {
        match self {
            AnyModel::Rbm(r) => r.config().visible == VisibleUnits::Bernoulli,
            AnyModel::Dbn(d) => d.layers()[0].config().visible == VisibleUnits::Bernoulli,
            AnyModel::Dbm(d) => d.config().visible == VisibleUnits::Bernoulli,
            AnyModel::Ae(a) | AnyModel::DeepAe(a) => a.config().loss == Loss::CrossEntropy,
            AnyModel::Vae(v) => v.config().output == VaeOutput::Bernoulli,
            AnyModel::Psd(_) => false,
            AnyModel::Classifier(_) => false,
        }
    }

    /// The variant of an autoencoder (`denoising-ae`, `sparse-ae`, …), as
    /// its training names it; `None` for the other kinds.
    pub fn variant(&self) -> Option<String> {
        match self {
            AnyModel::Ae(a) => Some(a.kind().to_string()),
            _ => None,
        }
    }

    /// The hidden layer [`encode_layer`](Self::encode_layer) writes for the
    /// requested `layer` (1 = the first hidden layer; `None`: the top), or
    /// what may be asked of this model when `layer` is not allowed (an RBM
    /// has one layer; an autoencoder writes its code layer only).
    pub fn encode_level(&self, layer: Option<usize>) -> std::result::Result<usize, String> {
        let top = self.sizes().len() - 1;
        let level = layer.unwrap_or(top);
        match self {
            AnyModel::Rbm(_) if level != 1 => Err("1 for an RBM".into()),
            AnyModel::Dbn(_) if level == 0 || level > top => {
                Err(format!("a hidden layer 1..={top} of this DBN"))
            }
            AnyModel::Dbm(_) if level == 0 || level > top => {
                Err(format!("a hidden layer 1..={top} of this DBM"))
            }
            AnyModel::Vae(_) if level != top => Err(format!(
                "{top}, the latent layer (the posterior mean): an autoencoder's encode writes that layer only"
            )),
            AnyModel::Ae(_) | AnyModel::DeepAe(_) if level != top => Err(format!(
                "{top}, the code layer: an autoencoder's encode writes that layer only"
            )),
            AnyModel::Psd(_) if level != top => {
                Err(format!("{top}, the codes: a psd model has one code layer"))
            }
            AnyModel::Classifier(_) if level != top => Err(format!(
                "{top}, the top hidden layer: a classifier's encode writes that layer only"
            )),
            _ => Ok(level),
        }
    }

    /// The features of the rows of `x` at hidden layer `level` (see
    /// [`encode_level`](Self::encode_level)): for a DBN the up-pass to that
    /// layer, for the others their [`Inference::features`].
    pub fn encode_layer(&self, x: &Matrix, level: usize, par: Par) -> Result<Matrix> {
        match self {
            AnyModel::Dbn(d) => d.transform_to(x, level, par),
            AnyModel::Dbm(d) => dbm_features(d, x, Layers::One(level), par),
            _ if Some(level) == self.sizes().len().checked_sub(1) => self.features(x, par),
            _ => Err(ModelError::InvalidConfig {
                what: "encode level",
                value: level.to_string(),
                expected: "the top layer (a DBN: any hidden layer)",
            }),
        }
    }

    /// A DBM's mean-field posteriors of every hidden layer, side by side
    /// (`n1 + … + nL` columns); other kinds have no such features.
    pub fn encode_all_layers(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        match self {
            AnyModel::Dbm(d) => dbm_features(d, x, Layers::All, par),
            _ => Err(ModelError::Unsupported {
                what: "encoding all layers",
                why: "only a DBM infers every hidden layer at once (a DBN: --layer L)".into(),
            }),
        }
    }

    /// Samples from a DBM's persistent chains (the visible means of their
    /// first hidden layer): at most as many as the file holds, `n` asked.
    pub fn chain_samples(&self, n: usize, par: Par) -> Result<Matrix> {
        let AnyModel::Dbm(d) = self else {
            return Err(ModelError::Unsupported {
                what: "samples from the persistent chains",
                why: "only a DBM's model file keeps its chains for sampling".into(),
            });
        };
        let mut out = Matrix::zeros(n, d.sizes()[0])?;
        d.chain_samples_with(out.view_mut(), &mut DbmScratch::new(), par)?;
        Ok(out)
    }

    /// The DBM, when the model is one.
    pub fn as_dbm(&self) -> Option<&Dbm> {
        match self {
            AnyModel::Dbm(d) => Some(d),
            _ => None,
        }
    }

    /// The RBM, when the model is one.
    pub fn as_rbm(&self) -> Option<&Rbm> {
        match self {
            AnyModel::Rbm(r) => Some(r),
            _ => None,
        }
    }

    /// The autoencoder (a deep one too), when the model is one.
    pub fn as_autoencoder(&self) -> Option<&Autoencoder> {
        match self {
            AnyModel::Ae(a) | AnyModel::DeepAe(a) => Some(a),
            _ => None,
        }
    }

    /// The VAE, when the model is one.
    pub fn as_vae(&self) -> Option<&Vae> {
        match self {
            AnyModel::Vae(v) => Some(v),
            _ => None,
        }
    }

    /// The PSD model, when the model is one.
    pub fn as_psd(&self) -> Option<&Psd> {
        match self {
            AnyModel::Psd(p) => Some(p),
            _ => None,
        }
    }

    /// The classifier, when the model is one.
    pub fn as_classifier(&self) -> Option<&Classifier> {
        match self {
            AnyModel::Classifier(c) => Some(c),
            _ => None,
        }
    }
}

/// A DBM's mean-field features of `layers` for the rows of `x`, in blocks
/// of [`BLOCK`](super::BLOCK) rows.
fn dbm_features(d: &Dbm, x: &Matrix, layers: Layers, par: Par) -> Result<Matrix> {
    let mut out = Matrix::zeros(x.rows(), d.encode_width(layers))?;
    d.encode_layers_into(
        x.view(),
        layers,
        out.view_mut(),
        &mut DbmScratch::new(),
        par,
    )?;
    Ok(out)
}
