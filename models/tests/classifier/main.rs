//! The classifier trained as `latent train classifier` trains it
//! ([`train_classifier`]): a resumed run continues exactly (from pretraining
//! and from fine-tuning), one and two threads give the same bits, early
//! stopping keeps the best epoch's parameters (`training`); on the MNIST
//! images a DBN-pretrained classifier beats softmax on the pixels (`mnist`).
//! One test binary.

mod mnist;
mod training;

use latent_engine::Dataset;
use latent_engine::checkpoint::Checkpoint;
use latent_kernels::Activation;
use latent_models::persist::{ClassifierPretrain, ClassifierSpec, Kind, Preprocess, Validation};
use latent_models::rbm::RbmConfig;
use latent_models::train::{
    ClassifierOutcome, ClassifierPlan, Run, RunObserver, Settings, SettingsOverrides, Silent,
    train_classifier,
};

/// A classifier of `sizes` over `classes` classes pretrained with RBMs
/// (none without hidden layers) for `pretrain_epochs` epochs.
fn spec(sizes: &[usize], classes: usize, pretrain_epochs: usize) -> ClassifierSpec {
    let pretrain = if sizes.len() > 1 {
        ClassifierPretrain::Rbm(RbmConfig::bernoulli(sizes[0], sizes[1]))
    } else {
        ClassifierPretrain::None
    };
    ClassifierSpec {
        sizes: sizes.to_vec(),
        activations: vec![Activation::Sigmoid; sizes.len() - 1],
        classes,
        pretrain,
        pretrain_epochs,
        pretrain_lr: 0.1,
        validation: Validation::None,
        patience: None,
    }
}

/// The classifier's settings: `epochs` of fine-tuning with the defaults
/// (Adam 0.001), batches of `batch`.
fn settings(epochs: usize, batch: usize, lr: Option<f32>) -> Settings {
    let flags = SettingsOverrides {
        epochs: Some(epochs),
        batch: Some(batch),
        lr,
        ..Default::default()
    };
    Settings::resolve(Kind::Classifier, &flags, None).unwrap()
}

/// Trains `plan` in memory (nothing written) with `observer`.
fn train_with(
    plan: ClassifierPlan,
    s: &Settings,
    data: (&Dataset, Option<&Dataset>),
    observer: &mut dyn RunObserver,
) -> ClassifierOutcome {
    let none = Preprocess::None;
    let mut run = Run::in_memory(s, &none, observer);
    train_classifier(&mut run, plan, data).unwrap()
}

/// Trains a new classifier of `spec` in memory.
fn train(
    spec: ClassifierSpec,
    s: &Settings,
    data: (&Dataset, Option<&Dataset>),
) -> ClassifierOutcome {
    let plan = ClassifierPlan { spec, resume: None };
    train_with(plan, s, data, &mut Silent)
}

/// Every parameter and persistent tensor of a file, by bits, with its name.
fn tensor_bits(ck: &Checkpoint) -> Vec<(String, Vec<u32>)> {
    let all = ck.params.tensors().iter().chain(&ck.persistent);
    all.map(|t| {
        let bits = t.value.as_slice().iter().map(|v| v.to_bits()).collect();
        (t.name.clone(), bits)
    })
    .collect()
}
