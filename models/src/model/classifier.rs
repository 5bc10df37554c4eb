//! [`Inference`] for a classifier: its features are the top hidden layer's
//! activations (the input itself without hidden layers); it has no decoder
//! to reconstruct with, no score and no prior to sample from, and says so
//! naming its kind. Its class probabilities and predicted classes are
//! [`AnyModel::class_probabilities`] and [`AnyModel::predict_classes`].

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};

use super::{AnyModel, Inference, SampleRequest, Score, by_blocks};
use crate::ae::{Classifier, ClassifierScratch};
use crate::error::{ModelError, Result};

/// The error of an operation a classifier does not have.
fn not_for_classifier(what: &'static str) -> ModelError {
    ModelError::Unsupported {
        what,
        why: "a classifier model (kind classifier) maps data to classes: it has no decoder, \
              score or prior (use latent predict, or latent eval --labels)"
            .into(),
    }
}

impl Inference for Classifier {
    type Scratch = ClassifierScratch;

    fn n_visible(&self) -> usize {
        self.sizes()[0]
    }

    fn n_features(&self) -> usize {
        *self.sizes().last().unwrap_or(&0)
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| self.features_with(x, out, scratch, par))
    }

    fn reconstruct_into(
        &self,
        _x: MatRef<'_>,
        _out: MatMut<'_>,
        _scratch: &mut Self::Scratch,
        _par: Par,
    ) -> Result<()> {
        Err(not_for_classifier("reconstruction"))
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::Reconstruction]
    }

    fn score_into(
        &self,
        _x: MatRef<'_>,
        _score: Score,
        _seed: u64,
        _out: &mut [f32],
        _scratch: &mut Self::Scratch,
        _par: Par,
    ) -> Result<()> {
        Err(not_for_classifier("scoring"))
    }

    fn sample_into(
        &self,
        _request: SampleRequest,
        _out: MatMut<'_>,
        _scratch: &mut Self::Scratch,
        _par: Par,
    ) -> Result<()> {
        Err(not_for_classifier("sampling"))
    }
}

impl AnyModel {
    /// The classifier, or an error naming `what` asked of another kind.
    fn classifier_for(&self, what: &'static str) -> Result<&Classifier> {
        self.as_classifier().ok_or_else(|| ModelError::Unsupported {
            what,
            why: "only a classifier model (kind classifier) has classes".into(),
        })
    }

    /// A classifier's class probabilities `p(y|x)` of the rows of `x`
    /// (`rows x classes`), in blocks of [`BLOCK`](super::BLOCK) rows.
    pub fn class_probabilities(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        let clf = self.classifier_for("class probabilities")?;
        let mut out = Matrix::zeros(x.rows(), clf.classes())?;
        let mut scratch = ClassifierScratch::default();
        by_blocks(x.view(), out.view_mut(), |x, out| {
            clf.probabilities_with(x, out, &mut scratch, par)
        })?;
        Ok(out)
    }

    /// A classifier's predicted class (the most probable, the first of
    /// equals) of each row of `x`, with the probabilities.
    pub fn predict_classes(&self, x: &Matrix, par: Par) -> Result<(Vec<u32>, Matrix)> {
        let p = self.class_probabilities(x, par)?;
        let k = p.cols().max(1);
        let classes = p
            .as_slice()
            .chunks_exact(k)
            .map(|row| crate::ae::argmax(row) as u32)
            .collect();
        Ok((classes, p))
    }
}
