//! Training a classifier from Python: the caller's options become the
//! library's [`ClassifierSpec`] as `latent train classifier` builds it from
//! its flags (hidden layers pretrained as a DBN, a stacked autoencoder or
//! not at all, a softmax on top, fine-tuning with the labels, validation on
//! a held-out fraction with patience), trained by [`train_classifier`].

use latent_engine::Dataset;
use latent_kernels::activation::Activation;
use latent_models::ae::{AeConfig, Loss};
use latent_models::model::AnyModel;
use latent_models::persist::{ClassifierPretrain, ClassifierSpec, Validation};
use latent_models::rbm::{RbmConfig, Sparsity};
use latent_models::train::{
    ClassifierPlan, Run, Settings, check_labels, default_pretrain_lr, train_classifier,
};
use latent_models::{ModelError, Result};
use pyo3::prelude::*;

/// A classifier's options (`latent train classifier`'s flags beyond the
/// training settings; `None`: the command's default).
#[derive(Debug, Clone, FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct ClassifierOptions {
    /// `--classes`: the softmax's classes (every label below).
    classes: usize,
    /// `--pretrain`: `rbm`, `ae` or `none`.
    pretrain: String,
    /// `--pretrain-epochs` (`None`: the fine-tuning's epochs).
    pretrain_epochs: Option<usize>,
    /// `--pretrain-lr` (`None`: 0.1 for RBMs, 0.001 for autoencoders).
    pretrain_lr: Option<f32>,
    /// `--validation-fraction`.
    validation_fraction: Option<f32>,
    /// `--patience`.
    patience: Option<usize>,
    /// `--cd-k` of the pretraining RBMs.
    cd_k: Option<usize>,
    /// `--persistent` for the pretraining RBMs.
    persistent: bool,
    /// `--sparsity` of the pretraining RBMs.
    sparsity: Option<f32>,
}

/// The error of option `name` set to `value`, saying what it takes.
fn bad(name: &str, value: impl std::fmt::Debug, expected: &str) -> ModelError {
    ModelError::mismatch(
        format!("classifier option {name}"),
        expected,
        format!("{value:?}"),
    )
}

/// How the hidden layers of `sizes` are pretrained (as `latent train
/// classifier --pretrain` decides), for data `data`.
fn pretrain(o: &ClassifierOptions, sizes: &[usize], data: &Dataset) -> Result<ClassifierPretrain> {
    let in_unit = data.x.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v));
    if o.pretrain != "rbm" && (o.cd_k.is_some() || o.persistent || o.sparsity.is_some()) {
        return Err(bad(
            "cd_k/persistent/sparsity",
            &o.pretrain,
            "pretrain 'rbm' (they apply to the pretraining RBMs)",
        ));
    }
    if o.pretrain != "none" && sizes.len() < 2 {
        let want = "'none' for a classifier without hidden layers (softmax on the input)";
        return Err(bad("pretrain", &o.pretrain, want));
    }
    Ok(match o.pretrain.as_str() {
        "none" => ClassifierPretrain::None,
        "rbm" => {
            if !in_unit {
                return Err(ModelError::mismatch(
                    "X: value range for pretrain 'rbm' (Bernoulli visibles)",
                    "[0, 1] (scale the data, or pretrain 'ae' or 'none')",
                    "values outside [0, 1]",
                ));
            }
            let mut rc = RbmConfig::bernoulli(sizes[0], sizes[1]);
            if let Some(k) = o.cd_k {
                rc.cd_k = k;
            }
            rc.persistent |= o.persistent;
            if let Some(t) = o.sparsity {
                rc.sparsity = Some(Sparsity::with_target(t));
            }
            rc.validate()?;
            ClassifierPretrain::Rbm(rc)
        }
        "ae" => {
            let loss = if in_unit {
                Loss::CrossEntropy
            } else {
                Loss::SquaredError
            };
            let t = AeConfig::new(&sizes[..2], Activation::Sigmoid).with_loss(loss);
            ClassifierPretrain::Ae(t)
        }
        other => return Err(bad("pretrain", other, "'rbm', 'ae' or 'none'")),
    })
}

/// The classifier setup of `o` on layer sizes `sizes` (visible first), as
/// `latent train classifier` builds it with the same flags.
fn spec(
    o: &ClassifierOptions,
    sizes: &[usize],
    settings: &Settings,
    data: &Dataset,
) -> Result<ClassifierSpec> {
    if sizes.is_empty() || sizes[0] != data.features() {
        return Err(ModelError::mismatch(
            "the first (visible) layer size vs the features per sample of X",
            data.features(),
            format!("{sizes:?}"),
        ));
    }
    if o.classes < 2 {
        return Err(bad("classes", o.classes, "at least 2"));
    }
    let validation = match o.validation_fraction {
        None => Validation::None,
        Some(f) if f > 0.0 && f < 1.0 => Validation::Fraction(f),
        Some(f) => return Err(bad("validation_fraction", f, "a fraction in (0, 1)")),
    };
    let pretrain = pretrain(o, sizes, data)?;
    Ok(ClassifierSpec {
        activations: vec![Activation::Sigmoid; sizes.len() - 1],
        classes: o.classes,
        sizes: sizes.to_vec(),
        pretrain_lr: o
            .pretrain_lr
            .unwrap_or_else(|| default_pretrain_lr(&pretrain)),
        pretrain,
        pretrain_epochs: o.pretrain_epochs.unwrap_or(settings.epochs),
        validation,
        patience: o.patience,
    })
}

/// Trains the classifier of `o` on the labelled `data` in `run`.
pub(crate) fn train(
    run: &mut Run<'_>,
    o: &ClassifierOptions,
    sizes: &[usize],
    data: &Dataset,
) -> Result<AnyModel> {
    let spec = spec(o, sizes, run.settings, data)?;
    check_labels(data, spec.classes, "y")?;
    let plan = ClassifierPlan { spec, resume: None };
    let outcome = train_classifier(run, plan, (data, None))?;
    Ok(AnyModel::Classifier(Box::new(outcome.classifier)))
}
