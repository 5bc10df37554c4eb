//! `latent train classifier`: the flags and the labels become the library's
//! [`ClassifierSpec`]; [`train_classifier`] pretrains the hidden layers (a
//! DBN's RBMs, one-layer autoencoders, or none), tops them with a softmax
//! and fine-tunes the whole stack with the labels, validating on a held-out
//! fraction or on separate labelled data.

use std::path::Path;

use latent_engine::{Dataset, Par};
use latent_kernels::activation::Activation;
use latent_models::ae::{AeConfig, Loss};
use latent_models::persist::{
    self, ClassifierPretrain, ClassifierSpec, ModelFile, Validation, classifier_state,
};
use latent_models::rbm::RbmConfig;
use latent_models::train::{
    ClassifierPlan, ClassifierResume, Settings, default_pretrain_lr, train_classifier,
};
use serde_json::json;

use super::args::{
    PretrainArg, TrainArgs, check_resumed_config, dashed, parse_layers, rbm_config, settings,
};
use super::data::{TrainData, check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::{Session, best_text, history_json};
use crate::cli::error::{CliError, Result};
use crate::cli::io::read_labels;
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// The labels of `d` (read from `path`), each below `classes` (when
/// given): the largest label + 1, naming the file, the sample and the
/// value of one out of range.
pub fn labels_fit(d: &Dataset, path: &Path, classes: Option<usize>) -> Result<usize> {
    let labels = d.labels.as_deref().unwrap_or(&[]);
    if let Some(k) = classes
        && let Some((i, &y)) = labels.iter().enumerate().find(|&(_, &y)| y as usize >= k)
    {
        return Err(CliError::mismatch(
            format!("{}: label of sample {}", path.display(), i + 1),
            format!("a class in 0..{k} (the classifier's {k} classes)"),
            y,
        ));
    }
    Ok(labels.iter().map(|&y| y as usize + 1).max().unwrap_or(0))
}

/// Attaches `--validation-labels` to the validation data (both or neither
/// must be given).
fn attach_validation_labels(args: &TrainArgs, data: &mut TrainData) -> Result<()> {
    match (data.valid.take(), &args.validation_labels) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(CliError::arg(
            "--validation-labels",
            "(missing)",
            "the labels of --validation-data (a classifier validates its error rate)",
        )),
        (None, Some(_)) => Err(CliError::arg(
            "--validation-data",
            "(missing)",
            "the data --validation-labels labels",
        )),
        (Some(v), Some(p)) => {
            let labels = read_labels(p)?;
            if labels.len() != v.len() {
                return Err(CliError::mismatch(
                    format!("{}: labels vs samples of --validation-data", p.display()),
                    v.len(),
                    labels.len(),
                ));
            }
            data.valid = Some(Dataset::new(v.x, Some(labels))?);
            Ok(())
        }
    }
}

/// How the hidden layers are pretrained: the flag, else the resumed
/// file's, else rbm (none without hidden layers).
fn pretrain(
    args: &TrainArgs,
    sizes: &[usize],
    data: &TrainData,
    base: Option<&ClassifierSpec>,
) -> Result<ClassifierPretrain> {
    let kind = match (args.pretrain, base.map(|b| &b.pretrain)) {
        (Some(k), _) => k,
        (None, Some(ClassifierPretrain::Ae(_))) => PretrainArg::Ae,
        (None, Some(ClassifierPretrain::None)) => PretrainArg::None,
        _ if sizes.len() < 2 => PretrainArg::None,
        _ => PretrainArg::Rbm,
    };
    if kind != PretrainArg::None && sizes.len() < 2 {
        return Err(CliError::arg(
            "--pretrain",
            if kind == PretrainArg::Rbm {
                "rbm"
            } else {
                "ae"
            },
            "none for a classifier without hidden layers (--layers V: softmax on the input)",
        ));
    }
    if kind != PretrainArg::Rbm
        && let Some(flag) = [
            ("--cd-k", args.cd_k.is_some()),
            ("--persistent", args.persistent),
        ]
        .iter()
        .find_map(|(f, given)| given.then_some(*f))
    {
        return Err(CliError::unsupported(
            format!("{flag} with this classifier's pretraining"),
            "it applies to --pretrain rbm",
        ));
    }
    Ok(match kind {
        PretrainArg::None => ClassifierPretrain::None,
        PretrainArg::Rbm => {
            if !data.in_unit() {
                return Err(CliError::mismatch(
                    format!(
                        "{}: value range for --pretrain rbm (Bernoulli visibles)",
                        args.data.display()
                    ),
                    "[0, 1] (pass --scale, or --pretrain ae or none)",
                    format!("[{}, {}]", data.range.0, data.range.1),
                ));
            }
            let rc = match base.map(|b| &b.pretrain) {
                Some(ClassifierPretrain::Rbm(rc)) => *rc,
                _ => RbmConfig::bernoulli(sizes[0], sizes[1]),
            };
            let mut rc = rbm_config(args, rc)?;
            (rc.n_visible, rc.n_hidden) = (sizes[0], sizes[1]);
            ClassifierPretrain::Rbm(rc)
        }
        PretrainArg::Ae => {
            let loss = if data.in_unit() {
                Loss::CrossEntropy
            } else {
                Loss::SquaredError
            };
            let t = match base.map(|b| &b.pretrain) {
                Some(ClassifierPretrain::Ae(t)) => t.clone(),
                _ => AeConfig::new(&sizes[..2], Activation::Sigmoid).with_loss(loss),
            };
            ClassifierPretrain::Ae(t)
        }
    })
}

/// The layer sizes: `--layers`, else the resumed file's; as wide as the
/// data.
fn sizes(args: &TrainArgs, data: &TrainData, base: Option<&ClassifierSpec>) -> Result<Vec<usize>> {
    let sizes = match (&args.layers, base) {
        (Some(s), _) => parse_layers(s, 1)?,
        (None, Some(b)) => b.sizes.clone(),
        (None, None) => {
            return Err(CliError::arg(
                "--layers",
                "(missing)",
                "the layer sizes, visible first, e.g. --layers 784,500,500 (--layers 784: softmax on the input)",
            ));
        }
    };
    let v = data.train.x.cols();
    if sizes[0] != v {
        return Err(CliError::mismatch(
            format!(
                "--layers: the first (visible) size vs the features per sample of {}",
                args.data.display()
            ),
            v,
            sizes[0],
        ));
    }
    Ok(sizes)
}

/// The classes: `--classes`, else the resumed file's, else the largest
/// label + 1 (at least 2); every label, training and validation, below.
fn classes(args: &TrainArgs, data: &TrainData, base: Option<&ClassifierSpec>) -> Result<usize> {
    let valid_path = args.validation_labels.as_deref().unwrap_or(Path::new(""));
    let inferred = labels_fit(&data.train, labels_path(args), None)?.max(match &data.valid {
        Some(d) => labels_fit(d, valid_path, None)?,
        None => 0,
    });
    let classes = match (args.classes, base) {
        (Some(k), _) => k as usize,
        (None, Some(b)) => b.classes,
        (None, None) => inferred.max(2),
    };
    labels_fit(&data.train, labels_path(args), Some(classes))?;
    if let Some(d) = &data.valid {
        labels_fit(d, valid_path, Some(classes))?;
    }
    Ok(classes)
}

/// Fine-tuning's validation: `--validation-fraction`, or
/// `--validation-data`, else the resumed file's (whose validation data
/// must be given again), else none.
fn validation(
    args: &TrainArgs,
    data: &TrainData,
    base: Option<&ClassifierSpec>,
) -> Result<Validation> {
    Ok(match (args.validation_fraction, &data.valid, base) {
        (Some(f), _, _) => Validation::Fraction(f),
        (None, Some(_), _) => Validation::Data,
        (None, None, Some(b)) if b.validation != Validation::Data => b.validation,
        (None, None, Some(_)) => {
            return Err(CliError::arg(
                "--validation-data",
                "(missing)",
                "the validation data the resumed classifier was validated on (with --validation-labels)",
            ));
        }
        (None, None, None) => Validation::None,
    })
}

/// The classifier setup the flags describe, on top of `base` when resuming.
fn spec(
    args: &TrainArgs,
    data: &TrainData,
    settings: &Settings,
    base: Option<&ClassifierSpec>,
) -> Result<ClassifierSpec> {
    let sizes = sizes(args, data, base)?;
    let pretrain = pretrain(args, &sizes, data, base)?;
    let pretrain_lr = args
        .pretrain_lr
        .or(base.map(|b| b.pretrain_lr))
        .unwrap_or_else(|| default_pretrain_lr(&pretrain));
    Ok(ClassifierSpec {
        activations: vec![Activation::Sigmoid; sizes.len() - 1],
        classes: classes(args, data, base)?,
        sizes,
        pretrain,
        pretrain_epochs: (args.pretrain_epochs.map(|e| e as usize))
            .or(base.map(|b| b.pretrain_epochs))
            .unwrap_or(settings.epochs),
        pretrain_lr,
        validation: validation(args, data, base)?,
        patience: (args.patience.map(|p| p as usize)).or(base.and_then(|b| b.patience)),
    })
}

fn labels_path(args: &TrainArgs) -> &Path {
    args.labels.as_deref().unwrap_or(Path::new(""))
}

/// The plan of the run: the flags' setup, on top of the resumed file's.
fn plan(
    args: &TrainArgs,
    data: &TrainData,
    settings: &Settings,
    resumed: Option<&ModelFile>,
) -> Result<ClassifierPlan> {
    let Some(m) = resumed else {
        return Ok(ClassifierPlan {
            spec: spec(args, data, settings, None)?,
            resume: None,
        });
    };
    let path = args.resume.as_deref().unwrap_or(Path::new(""));
    let (file, state, _) = classifier_state(&m.checkpoint, path)?;
    check_columns(&args.data, &data.train.x, file.sizes[0])?;
    let flags = spec(args, data, settings, Some(&file))?;
    // Like --epochs, --pretrain-epochs and --patience may change on a resume.
    let same_length = ClassifierSpec {
        pretrain_epochs: file.pretrain_epochs,
        patience: file.patience,
        ..flags.clone()
    };
    check_resumed_config(
        args,
        &file.lines(false, None),
        &same_length.lines(false, None),
    )?;
    Ok(ClassifierPlan {
        spec: flags,
        resume: Some(ClassifierResume::new(&m.checkpoint, state)?),
    })
}

/// `latent train classifier`.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    if args.labels.is_none() {
        return Err(CliError::arg(
            "--labels",
            "(missing)",
            "the class of every sample of --data (IDX, NPY integers or a CSV column)",
        ));
    }
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let mut data = read_data(args, resumed.as_ref())?;
    attach_validation_labels(args, &mut data)?;
    let plan = plan(args, &data, &settings, resumed.as_ref())?;
    check_run(args, &settings, &data, Net::DeepAe(&plan.spec.sizes))?;
    let spec = plan.spec.clone();
    let mut session = Session::new(args, g, "classifier").with_ranks(ranks);
    let mut run = session.run(&settings, &data.pre);
    let mut outcome = train_classifier(&mut run, plan, (&data.train, data.valid.as_ref()))?;
    let seconds = session.seconds();
    let labels = data.train.labels.as_deref().unwrap_or(&[]);
    let accuracy = outcome
        .classifier
        .accuracy(&data.train.x, labels, 500, Par::All)?;
    let best = outcome.best_epoch.map(|e| {
        let stopped = matches!(
            outcome.summary.stop,
            latent_engine::train::StopReason::EarlyStopped { .. }
        );
        let how = if stopped { ", stopped early" } else { "" };
        format!(" (best epoch {}{how}, kept)", e + 1)
    });
    if session.verbose() {
        crate::cli::print_line(format!(
            "trained classifier {} + softmax({}): {} hidden layer(s) pretrained ({}), {} epoch(s) in {seconds:.1} s, accuracy on --data {accuracy:.4}{}{}; wrote {}",
            dashed(&spec.sizes),
            spec.classes,
            spec.depth(),
            spec.pretrain.name(),
            outcome.epochs_run,
            best_text(&outcome.summary).replace("best validation", "best validation error"),
            best.clone().unwrap_or_default(),
            args.out.display()
        ));
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": persist::Kind::Classifier.name(),
        "sizes": spec.sizes,
        "classes": spec.classes,
        "pretrain": spec.pretrain.name(),
        "out": args.out.display().to_string(),
        "epochs_run": outcome.epochs_run,
        "finetune_epochs_total": outcome.finetune_epochs,
        "seconds": json_f64(seconds),
        "training_accuracy": json_f64(accuracy),
        "validation_samples": outcome.validation_rows,
        "best_valid": outcome.summary.best_valid.map(json_f64),
        "best_epoch": outcome.best_epoch,
        "stopped_early": matches!(outcome.summary.stop, latent_engine::train::StopReason::EarlyStopped { .. }),
        "history": history_json(&outcome.history),
    })))
}
