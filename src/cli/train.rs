//! `latent train`: RBMs (Bernoulli or Gaussian), deep belief nets and the
//! autoencoders ([`train_ae`](crate::cli::train_ae)) from data files, with
//! the engine's [`Trainer`].
//!
//! What every kind shares lives here: the flags, the training settings
//! (`train:` line of the model file, the defaults of `--resume`), reading
//! and preprocessing the data, and the [`Session`]: [`Session::train`]
//! builds (or restores) a model's trainer and runs [`Session::fit`], which
//! trains up to the requested epochs in pieces of `--checkpoint-every`
//! epochs and writes the model file (atomically) after each piece, so a
//! killed run loses at most that many epochs. A piece is one `Trainer::fit`; between pieces the
//! trainer is rebuilt from its own checkpoint (parameters, optimiser state,
//! random stream, history), which continues exactly as one uninterrupted
//! fit would.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use latent_engine::checkpoint::EpochRecord;
use latent_engine::preprocess::Standardizer;
use latent_engine::train::{FitSummary, Model, StopReason, TrainConfig, Trainer};
use latent_engine::{
    Checkpoint, Dataset, Matrix, Momentum, OptimizerConfig, OptimizerKind, Par, ParamSet, Threads,
};
use latent_models::rbm::{Rbm, RbmConfig, Sparsity, VisibleUnits};
use serde_json::json;

use crate::cli::error::{CliError, Result};
use crate::cli::io::read_matrix;
use crate::cli::modelfile::{self, ModelFile, Preprocess};
use crate::cli::progress::{Display, Progress, json_f64};
use crate::cli::{Global, Report, train_ae};

/// The model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Bernoulli-Bernoulli RBM (binary or [0, 1] data).
    Rbm,
    /// Gaussian-Bernoulli RBM (real-valued data, standardised).
    GaussianRbm,
    /// Deep belief net: RBMs trained greedily, layer by layer.
    Dbn,
    /// Autoencoder: plain, sparse (--sparsity), denoising (--noise) or
    /// contractive (--contractive); one or more layers (--layers).
    Ae,
    /// Variational autoencoder (--latent).
    Vae,
    /// Deep autoencoder: layers pretrained greedily (autoencoders or RBMs),
    /// unrolled, fine-tuned end to end.
    DeepAe,
}

impl Kind {
    /// The name on the command line and in model files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rbm => "rbm",
            Kind::GaussianRbm => "gaussian-rbm",
            Kind::Dbn => "dbn",
            Kind::Ae => "ae",
            Kind::Vae => "vae",
            Kind::DeepAe => "deep-ae",
        }
    }

    /// An autoencoder kind (`ae`, `vae`, `deep-ae`).
    pub fn is_autoencoder(self) -> bool {
        matches!(self, Kind::Ae | Kind::Vae | Kind::DeepAe)
    }
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Optim {
    /// SGD with momentum (Hinton's schedule 0.5 then 0.9 unless --momentum).
    Sgd,
    /// Adam (β₁ 0.9, β₂ 0.999).
    Adam,
}

impl Optim {
    fn name(self) -> &'static str {
        match self {
            Optim::Sgd => "sgd",
            Optim::Adam => "adam",
        }
    }
}

/// The reconstruction loss of an autoencoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// Squared error, linear output (a VAE: unit-variance Gaussian output).
    Mse,
    /// Cross-entropy from logits, sigmoid output, data in [0, 1] (a VAE:
    /// Bernoulli output).
    Bce,
}

/// How a deep autoencoder's layers are pretrained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PretrainArg {
    /// One-layer autoencoders (with --noise, --sparsity, --contractive, --tied).
    Ae,
    /// RBMs (with --cd-k, --persistent; sigmoid layers).
    Rbm,
}

fn positive_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err("expected a positive finite number".into()),
    }
}

fn non_negative_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a finite number >= 0".into()),
    }
}

fn unit_open_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err("expected a number in [0, 1)".into()),
    }
}

fn probability_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number in [0, 1]".into()),
    }
}

/// Flags of `latent train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The model.
    #[arg(value_enum)]
    pub model: Kind,
    /// Training data: IDX (plain or .gz), NPY or CSV, one sample a row.
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX, NPY or CSV), checked against the data; unsupervised
    /// models do not use them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Hidden units (rbm, gaussian-rbm), the code size of a one-layer ae,
    /// a vae's hidden layer.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub hidden: Option<u32>,
    /// Layer sizes, visible first, e.g. 784,500,250: a DBN's, an ae's or
    /// deep-ae's encoder (code last), a vae's hidden layers (latent apart).
    #[arg(long)]
    pub layers: Option<String>,
    /// Epochs in all, also when resuming [default: 10, or the resumed
    /// model's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: Option<u32>,
    /// Minibatch size [default: 100, or the resumed model's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: Option<u32>,
    /// The optimiser [default: sgd for rbm, gaussian-rbm, dbn; adam for the
    /// autoencoders; the resumed model's].
    #[arg(long, value_enum)]
    pub optimizer: Option<Optim>,
    /// Learning rate [default: 0.1 for rbm and dbn, 0.001 for gaussian-rbm;
    /// autoencoders 0.001 with adam, 0.01 with sgd].
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// A constant momentum for sgd (default: 0.5 for 5 epochs, then 0.9).
    #[arg(long, value_parser = unit_open_f32, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// L2 weight decay on the weights [default: 1e-4 for RBMs and DBNs, 0
    /// for autoencoders].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Gibbs steps per gradient estimate (CD-k / PCD-k) [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub cd_k: Option<u32>,
    /// Persistent contrastive divergence (chains kept across minibatches).
    #[arg(long)]
    pub persistent: bool,
    /// gaussian-rbm: learn a standard deviation per visible unit instead of
    /// fixing σ = 1 on standardised data.
    #[arg(long)]
    pub learn_sigma: bool,
    /// Sparsity. RBMs: a target mean hidden activation RHO, e.g. 0.05.
    /// Autoencoders: l1:LAMBDA (λ Σ|h| on the code) or kl:RHO:BETA
    /// (β Σ KL(ρ‖ρ̂), sigmoid code; kl:RHO means β = 1).
    #[arg(long, value_name = "SPEC")]
    pub sparsity: Option<String>,
    /// Encoder activation: one for every layer or one per layer, e.g.
    /// relu,relu,identity (identity|linear, sigmoid, relu, tanh, softplus)
    /// [default: sigmoid; relu for a vae].
    #[arg(long)]
    pub activation: Option<String>,
    /// Reconstruction loss [default: bce for data in [0, 1], else mse].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// ae: tied weights (the decoder uses the encoder's transposed);
    /// deep-ae: in the pretraining autoencoders.
    #[arg(long)]
    pub tied: bool,
    /// Denoising: the input corruption, mask:NU (each input zeroed with
    /// probability NU), gaussian:STD or salt-pepper:NU[:LO:HI].
    #[arg(long, value_name = "SPEC")]
    pub noise: Option<String>,
    /// Contractive penalty weight λ (sigmoid or relu encoder).
    #[arg(long, value_name = "LAMBDA", value_parser = non_negative_f32)]
    pub contractive: Option<f32>,
    /// vae: latent dimension [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub latent: Option<u32>,
    /// deep-ae: how each layer is pretrained [default: ae].
    #[arg(long, value_enum)]
    pub pretrain: Option<PretrainArg>,
    /// deep-ae: pretraining epochs per layer [default: --epochs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub pretrain_epochs: Option<u32>,
    /// Seed of the initial weights, shuffles, noise and samplers [default:
    /// 0, or the resumed model's].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The model file to write (when training ends, and with
    /// --checkpoint-every during training).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue training from a model file written by `latent train` (its
    /// configuration, preprocessing and settings are kept).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Write the model file (atomically) every N epochs while training, so
    /// a killed run loses at most N epochs (go on with --resume).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: Option<u32>,
    /// Validation data: its reconstruction error (a vae: negative ELBO) is
    /// reported every epoch.
    #[arg(long)]
    pub validate: Option<PathBuf>,
    /// Write one JSON line per epoch to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Threshold the (scaled) data at T into 0/1.
    #[arg(long, value_name = "T", value_parser = probability_f32, conflicts_with = "scale", allow_negative_numbers = true)]
    pub binarize: Option<f32>,
    /// Map the data's [min, max] onto [0, 1] (default: values in [0, 255]
    /// are divided by 255; values in [0, 1] are used as they are).
    #[arg(long)]
    pub scale: bool,
    /// Gaussian RBM: do not standardise the data per feature.
    #[arg(long)]
    pub no_standardize: bool,
}

/// Refuses flags that do not apply to the kind being trained.
fn check_flags(args: &TrainArgs) -> Result<()> {
    use Kind::*;
    const RBMS: &[Kind] = &[Rbm, GaussianRbm, Dbn, DeepAe];
    const AES: &[Kind] = &[Ae, Vae, DeepAe];
    let rules: [(&str, bool, &[Kind]); 15] = [
        (
            "--hidden",
            args.hidden.is_some(),
            &[Rbm, GaussianRbm, Ae, Vae],
        ),
        ("--layers", args.layers.is_some(), &[Dbn, Ae, Vae, DeepAe]),
        ("--cd-k", args.cd_k.is_some(), RBMS),
        ("--persistent", args.persistent, RBMS),
        ("--learn-sigma", args.learn_sigma, &[GaussianRbm]),
        ("--no-standardize", args.no_standardize, &[GaussianRbm]),
        (
            "--sparsity",
            args.sparsity.is_some(),
            &[Rbm, GaussianRbm, Dbn, Ae, DeepAe],
        ),
        ("--activation", args.activation.is_some(), AES),
        ("--loss", args.loss.is_some(), AES),
        ("--tied", args.tied, &[Ae, DeepAe]),
        ("--noise", args.noise.is_some(), &[Ae, DeepAe]),
        ("--contractive", args.contractive.is_some(), &[Ae, DeepAe]),
        ("--latent", args.latent.is_some(), &[Vae]),
        ("--pretrain", args.pretrain.is_some(), &[DeepAe]),
        (
            "--pretrain-epochs",
            args.pretrain_epochs.is_some(),
            &[DeepAe],
        ),
    ];
    for (flag, given, kinds) in rules {
        if given && !kinds.contains(&args.model) {
            return Err(CliError::unsupported(
                format!("{flag} with train {}", args.model.name()),
                format!(
                    "it applies to {}",
                    kinds
                        .iter()
                        .map(|k| k.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if args.momentum.is_some() && args.optimizer == Some(Optim::Adam) {
        return Err(CliError::unsupported(
            "--momentum with --optimizer adam",
            "momentum is an sgd setting",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- settings

/// The optimiser and trainer settings of a run: from the flags, else (on
/// `--resume`) the model file's `train:` line, else the kind's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Epochs in all.
    pub epochs: usize,
    /// SGD or Adam.
    pub optimizer: Optim,
    /// The learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// A constant SGD momentum (`None`: Hinton's schedule).
    pub momentum: Option<f32>,
    /// Minibatch size.
    pub batch: usize,
    /// The seed of everything random.
    pub seed: u64,
}

impl Settings {
    /// Resolves the settings for the kind of `args`, with `resumed` the
    /// resumed model file (its `train:` line).
    pub fn resolve(args: &TrainArgs, resumed: Option<&ModelFile>) -> Result<Settings> {
        let stored =
            resumed.and_then(|m| modelfile::hyper_line(&m.checkpoint.hyperparameters, "train"));
        let get = |key: &str| stored.and_then(|l| modelfile::hyper_value(l, key));
        let stored_opt = match get("optimizer") {
            Some("adam") => Some(Optim::Adam),
            Some("sgd") => Some(Optim::Sgd),
            _ => None,
        };
        if let (Some(flag), Some(file)) = (args.optimizer, stored_opt)
            && flag != file
        {
            return Err(CliError::mismatch(
                "--optimizer vs the resumed model's optimiser (its state is kept)",
                file.name(),
                flag.name(),
            ));
        }
        let ae = args.model.is_autoencoder();
        let optimizer =
            args.optimizer
                .or(stored_opt)
                .unwrap_or(if ae { Optim::Adam } else { Optim::Sgd });
        let default_lr = match (args.model, optimizer) {
            (Kind::GaussianRbm, _) => 0.001,
            (k, Optim::Adam) if k.is_autoencoder() => 0.001,
            (k, Optim::Sgd) if k.is_autoencoder() => 0.01,
            (_, Optim::Adam) => 0.001,
            (_, Optim::Sgd) => 0.1,
        };
        let num = |key: &str| get(key).and_then(|v| v.parse::<f64>().ok());
        let momentum = match (args.momentum, get("momentum")) {
            (Some(m), _) => Some(m),
            (None, Some(m)) if m != "hinton" => m.parse().ok(),
            _ => None,
        };
        if momentum.is_some() && optimizer == Optim::Adam {
            return Err(CliError::unsupported(
                "--momentum with the adam optimiser",
                "momentum is an sgd setting",
            ));
        }
        Ok(Settings {
            epochs: args
                .epochs
                .map(|e| e as usize)
                .or(num("epochs").map(|e| e as usize))
                .unwrap_or(10),
            optimizer,
            lr: args
                .lr
                .or(num("lr").map(|v| v as f32))
                .unwrap_or(default_lr),
            weight_decay: args
                .weight_decay
                .or(num("weight_decay").map(|v| v as f32))
                .unwrap_or(if ae { 0.0 } else { 1e-4 }),
            momentum,
            batch: args
                .batch
                .map(|b| b as usize)
                .or(num("batch").map(|b| b as usize))
                .filter(|&b| b > 0)
                .unwrap_or(100),
            seed: args
                .seed
                .or(get("seed").and_then(|s| s.parse().ok()))
                .unwrap_or(0),
        })
    }

    /// The `train:` line of the model file.
    pub fn line(&self) -> String {
        let momentum = match (self.optimizer, self.momentum) {
            (Optim::Adam, _) => String::new(),
            (Optim::Sgd, None) => " momentum=hinton".into(),
            (Optim::Sgd, Some(m)) => format!(" momentum={m}"),
        };
        format!(
            "epochs={} optimizer={} lr={} weight_decay={}{momentum} batch={} seed={}",
            self.epochs,
            self.optimizer.name(),
            self.lr,
            self.weight_decay,
            self.batch,
            self.seed
        )
    }

    /// The optimiser's configuration.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let mut opt = match self.optimizer {
            Optim::Sgd => OptimizerConfig::sgd_hinton(self.lr, self.weight_decay),
            Optim::Adam => OptimizerConfig::adam(self.lr),
        };
        opt.weight_decay = self.weight_decay;
        if let (Some(m), OptimizerKind::Sgd { .. }) = (self.momentum, opt.kind) {
            opt.kind = OptimizerKind::Sgd {
                momentum: Momentum::Constant(m),
            };
        }
        opt
    }

    /// The trainer's configuration (all epochs, the caller's thread pool).
    pub fn train_config(&self) -> TrainConfig {
        let mut tc = TrainConfig::new(self.optimizer_config());
        tc.epochs = self.epochs;
        tc.batch_size = self.batch;
        tc.seed = self.seed;
        tc.threads = Threads::CallerPool;
        tc
    }

    /// `adam lr 0.001` or `lr 0.1` (SGD, as the RBM lines have always said).
    fn describe(&self) -> String {
        match self.optimizer {
            Optim::Sgd => format!("lr {}", self.lr),
            Optim::Adam => format!("adam lr {}", self.lr),
        }
    }
}

// ---------------------------------------------------------------- data

/// The training data of a run, preprocessed.
#[derive(Debug)]
pub struct TrainData {
    /// Training samples (and labels when given).
    pub train: Dataset,
    /// Validation samples.
    pub valid: Option<Dataset>,
    /// What was done to the data (stored in the model file).
    pub pre: Preprocess,
    /// The smallest and largest preprocessed training value.
    pub range: (f32, f32),
}

impl TrainData {
    /// Whether the training data lies in `[0, 1]`.
    pub fn in_unit(&self) -> bool {
        self.range.0 >= 0.0 && self.range.1 <= 1.0
    }
}

fn value_range(x: &Matrix) -> (f32, f32) {
    x.as_slice()
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

/// The default preprocessing: Gaussian RBMs standardise; otherwise `[0, 1]`
/// data is used as it is and `[0, 255]` data (IDX bytes) divided by 255;
/// other data is an error that suggests `--scale` for binary-visible models
/// and used as it is by autoencoders (unless `--loss bce`).
fn choose_preprocess(args: &TrainArgs, x: &Matrix) -> Result<Preprocess> {
    let (lo, hi) = value_range(x);
    if args.model == Kind::GaussianRbm {
        if args.no_standardize {
            return Ok(Preprocess::None);
        }
        return Ok(Preprocess::Standardize(Standardizer::fit(x)?));
    }
    let range = if args.scale {
        if hi <= lo {
            return Err(CliError::arg(
                "--scale",
                format!("data range [{lo}, {hi}]"),
                "data with at least two distinct values",
            ));
        }
        Some((lo, hi))
    } else if lo >= 0.0 && hi <= 1.0 {
        None
    } else if lo >= 0.0 && hi <= 255.0 {
        Some((0.0, 255.0))
    } else if args.model.is_autoencoder()
        && args.loss != Some(LossArg::Bce)
        && args.binarize.is_none()
    {
        return Ok(Preprocess::None);
    } else {
        let what = if args.model.is_autoencoder() {
            "an autoencoder with --loss bce (targets in [0, 1])"
        } else {
            "an RBM with binary visibles"
        };
        return Err(CliError::mismatch(
            format!("{}: value range for {what}", args.data.display()),
            "[0, 1] or [0, 255] (or pass --scale, or train gaussian-rbm, or --loss mse)",
            format!("[{lo}, {hi}]"),
        ));
    };
    Ok(match (range, args.binarize) {
        (Some((lo, hi)), None) => Preprocess::Scale { lo, hi },
        (Some((lo, hi)), Some(t)) => Preprocess::Binarize {
            lo,
            hi,
            threshold: t,
        },
        (None, Some(t)) => Preprocess::Binarize {
            lo: 0.0,
            hi: 1.0,
            threshold: t,
        },
        (None, None) => Preprocess::None,
    })
}

fn load_data(
    path: &Path,
    raw: Option<Matrix>,
    labels: Option<&Path>,
    pre: &Preprocess,
) -> Result<Dataset> {
    let mut x = match raw {
        Some(x) => x,
        None => read_matrix(path)?,
    };
    if x.rows() == 0 {
        return Err(CliError::mismatch(
            format!("{}: samples", path.display()),
            "at least one",
            0,
        ));
    }
    pre.apply(&mut x, path)?;
    let labels = match labels {
        Some(p) => {
            let l = crate::cli::io::read_labels(p)?;
            if l.len() != x.rows() {
                return Err(CliError::mismatch(
                    format!("{}: labels vs samples in {}", p.display(), path.display()),
                    x.rows(),
                    l.len(),
                ));
            }
            Some(l)
        }
        None => None,
    };
    Ok(Dataset::new(x, labels)?)
}

/// Reads and preprocesses the training (and validation) data: with the
/// resumed model's preprocessing when there is one, else the default for
/// the kind.
pub fn read_data(args: &TrainArgs, resumed: Option<&ModelFile>) -> Result<TrainData> {
    let raw = read_matrix(&args.data)?;
    let pre = match resumed {
        Some(m) => m.preprocess.clone(),
        None => choose_preprocess(args, &raw)?,
    };
    let train = load_data(&args.data, Some(raw), args.labels.as_deref(), &pre)?;
    let valid = match &args.validate {
        Some(p) => {
            let v = load_data(p, None, None, &pre)?;
            check_columns(p, &v.x, train.x.cols())?;
            Some(v)
        }
        None => None,
    };
    let range = value_range(&train.x);
    Ok(TrainData {
        train,
        valid,
        pre,
        range,
    })
}

/// Checks that the data at `path` has `visible` features per sample.
pub fn check_columns(path: &Path, x: &Matrix, visible: usize) -> Result<()> {
    if x.cols() != visible {
        return Err(CliError::mismatch(
            format!(
                "{}: features per sample vs the model's visible units",
                path.display()
            ),
            visible,
            x.cols(),
        ));
    }
    Ok(())
}

/// Loads the `--resume` model file, which must be of `kind`.
pub fn load_resumed(args: &TrainArgs) -> Result<Option<ModelFile>> {
    let Some(path) = &args.resume else {
        return Ok(None);
    };
    let m = modelfile::load(path)?;
    let kind = args.model.name();
    if m.checkpoint.model_kind != kind {
        return Err(CliError::mismatch(
            format!("{}: model kind for train {kind}", path.display()),
            kind,
            &m.checkpoint.model_kind,
        ));
    }
    Ok(Some(m))
}

/// With `--resume`, the configuration the flags describe (absent flags
/// taking the file's values) must be the file's.
pub fn check_resumed_config(args: &TrainArgs, file: &str, flags: &str) -> Result<()> {
    if file == flags {
        return Ok(());
    }
    Err(CliError::mismatch(
        format!(
            "{}: the resumed model's configuration vs the flags given",
            args.resume
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        ),
        file,
        flags,
    ))
}

/// Parses `--layers 784,500,250` (at least `min` sizes).
pub fn parse_layers(s: &str, min: usize) -> Result<Vec<usize>> {
    match latent_models::ae::parse_sizes(s) {
        Ok(v) if v.len() >= min => Ok(v),
        _ => Err(CliError::arg(
            "--layers",
            s,
            if min >= 2 {
                "at least two positive sizes separated by commas, visible first, e.g. 784,500,250"
            } else {
                "positive sizes separated by commas, visible first, e.g. 784,256"
            },
        )),
    }
}

/// `784-500-250`.
pub fn dashed(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

// ---------------------------------------------------------------- session

/// What every training run shares: the flags, the observer (progress,
/// metrics file) and the checkpoint cadence.
pub struct Session<'a> {
    /// The flags.
    pub args: &'a TrainArgs,
    /// The global flags.
    pub g: &'a Global,
    /// The observer of every fit of the run.
    pub obs: Progress,
    /// When the run started.
    pub started: Instant,
}

/// Saves the model file from a trainer's state.
pub type Save<'s, M> = dyn FnMut(&Trainer<M>) -> Result<()> + 's;

impl<'a> Session<'a> {
    /// A session whose progress lines are labelled `label`.
    pub fn new(args: &'a TrainArgs, g: &'a Global, label: impl Into<String>) -> Self {
        Session {
            args,
            g,
            obs: Progress::new(
                Display::detect(g.quiet || g.json),
                label,
                args.metrics.clone(),
            ),
            started: Instant::now(),
        }
    }

    /// Whether to print progress and summaries.
    pub fn verbose(&self) -> bool {
        !self.g.quiet && !self.g.json
    }

    /// A line on standard error (not with --quiet or --json).
    pub fn note(&self, text: impl AsRef<str>) {
        if self.verbose() {
            eprintln!("{}", text.as_ref());
        }
    }

    /// `training <label> on <n> samples (<pre>), epochs a..b of b, batch B, lr L`.
    pub fn intro(&self, label: &str, data: &Dataset, pre: &Preprocess, done: usize, s: &Settings) {
        if done >= s.epochs {
            self.note(format!(
                "{label}: {done} of {} epochs done already (a larger --epochs continues it)",
                s.epochs
            ));
            return;
        }
        self.note(format!(
            "training {label} on {} samples ({}), epochs {}..{} of {}, batch {}, {}",
            data.len(),
            pre.describe(),
            done + 1,
            s.epochs,
            s.epochs,
            s.batch,
            s.describe()
        ));
    }

    /// The checkpoint cadence, in epochs.
    pub fn every(&self) -> Option<usize> {
        self.args.checkpoint_every.map(|n| n as usize)
    }

    /// Trains `model` (restored from `state` when resuming) up to
    /// `s.epochs` epochs with the trainer configuration of `s`: the intro
    /// line (`label`, the training data, `pre`), then [`Session::fit`] on
    /// `data` (training, validation) with `save` after every piece but the
    /// last (the caller saves the end).
    pub fn train<M: Model + Send>(
        &mut self,
        (model, state): (M, Option<Checkpoint>),
        label: &str,
        data: (&Dataset, Option<&Dataset>),
        pre: &Preprocess,
        s: &Settings,
        save: &mut Save<'_, M>,
    ) -> Result<(Trainer<M>, FitSummary)> {
        let mut trainer = Trainer::new(model, s.train_config())?;
        if let Some(state) = &state {
            trainer.restore(state)?;
        }
        self.intro(label, data.0, pre, trainer.epochs_done(), s);
        self.fit(trainer, s.epochs, data, save)
    }

    /// A run of one model (rbm, gaussian-rbm, ae, vae): [`Session::train`]
    /// on `data`, writing the model file (kind `kind`, the hyper-parameter
    /// lines `lines` of the model, the settings and preprocessing) to
    /// `--out` after every piece and at the end.
    pub fn train_model<M: Model + Send>(
        &mut self,
        start: (M, Option<Checkpoint>),
        label: &str,
        kind: &str,
        lines: impl Fn(&M) -> String,
        data: &TrainData,
        s: &Settings,
    ) -> Result<(Trainer<M>, FitSummary)> {
        let args = self.args;
        let line = s.line();
        let mut save = |t: &Trainer<M>| -> Result<()> {
            let mut ck = t.checkpoint();
            modelfile::finish(&mut ck, kind, &lines(t.model()), &line, &data.pre)?;
            Ok(ck.save(&args.out)?)
        };
        let io = (&data.train, data.valid.as_ref());
        let (trainer, summary) = self.train(start, label, io, &data.pre, s, &mut save)?;
        save(&trainer)?;
        Ok((trainer, summary))
    }

    /// The end of a one-model run ([`Session::train_model`]) that took
    /// `seconds`: the line `trained <what>: <n> epoch(s) in <s> s,
    /// <result>[, best validation <v>]; wrote <out>` (not with --quiet or
    /// --json), and the JSON report: the fields of the object `fields`
    /// (kind, sizes, the result…) with the command, the output file, the
    /// epochs run and in all, the seconds, the best validation metric and
    /// the history.
    pub fn model_report<M: Model>(
        &self,
        what: &str,
        result: &str,
        seconds: f64,
        trainer: &Trainer<M>,
        summary: &FitSummary,
        mut fields: serde_json::Value,
    ) -> Report {
        let out = &self.args.out;
        if self.verbose() {
            crate::cli::print_line(format!(
                "trained {what}: {} epoch(s) in {seconds:.1} s, {result}{}; wrote {}",
                summary.epochs_run,
                best_text(summary),
                out.display()
            ));
        }
        let common = json!({
            "command": "train",
            "out": out.display().to_string(),
            "epochs_run": summary.epochs_run,
            "epochs_total": trainer.epochs_done(),
            "seconds": json_f64(seconds),
            "best_valid": summary.best_valid.map(json_f64),
            "history": history_json(trainer.history()),
        });
        if let (Some(f), serde_json::Value::Object(c)) = (fields.as_object_mut(), common) {
            f.extend(c);
        }
        Report::json(fields)
    }

    /// Trains until `epochs` epochs are done, in pieces of
    /// `--checkpoint-every` epochs with `save` after every piece but the
    /// last (the caller saves the end). Returns the trainer and what the
    /// whole call did.
    pub fn fit<M: Model + Send>(
        &mut self,
        mut trainer: Trainer<M>,
        epochs: usize,
        data: (&Dataset, Option<&Dataset>),
        save: &mut Save<'_, M>,
    ) -> Result<(Trainer<M>, FitSummary)> {
        self.obs.set_total(epochs);
        let every = self.every();
        let mut run = 0;
        loop {
            let done = trainer.epochs_done();
            let target = every.map_or(epochs, |n| (done + n).min(epochs)).max(done);
            if trainer.config().epochs != target {
                trainer = with_epochs(trainer, target)?;
            }
            let fitted = trainer.fit(data.0, data.1, &mut self.obs);
            if let Some(e) = self.obs.metrics_error.take() {
                self.obs.finish();
                return Err(e);
            }
            let summary = match fitted {
                Ok(s) => s,
                Err(e) => {
                    self.obs.finish();
                    return Err(e.into());
                }
            };
            run += summary.epochs_run;
            if trainer.epochs_done() >= epochs
                || summary.epochs_run == 0
                || summary.stop != StopReason::Completed
            {
                self.obs.finish();
                return Ok((
                    trainer,
                    FitSummary {
                        epochs_run: run,
                        ..summary
                    },
                ));
            }
            save(&trainer)?;
        }
    }
}

/// The same trainer with its epoch target set to `epochs`: rebuilt around
/// its model and restored from its own checkpoint (parameters, optimiser
/// state, random stream, persistent state, history), so training goes on
/// exactly as it would have.
fn with_epochs<M: Model>(trainer: Trainer<M>, epochs: usize) -> Result<Trainer<M>> {
    let ck = trainer.checkpoint();
    let mut cfg = *trainer.config();
    cfg.epochs = epochs;
    let mut t = Trainer::new(trainer.into_model(), cfg)?;
    t.restore(&ck)?;
    Ok(t)
}

/// The history records as JSON.
pub fn history_json(h: &[EpochRecord]) -> serde_json::Value {
    h.iter()
        .map(|r| {
            let mut o = json!({
                "epoch": r.epoch,
                "train_loss": json_f64(r.train_loss),
                "valid_metric": r.valid_metric.map(json_f64),
                "samples": r.samples,
                "seconds": json_f64(r.seconds),
            });
            for (k, v) in &r.metrics {
                o[k] = json_f64(*v);
            }
            o
        })
        .collect()
}

/// `, best validation 1.2345` when there was validation.
pub fn best_text(summary: &FitSummary) -> String {
    summary
        .best_valid
        .map(|v| format!(", best validation {v:.4}"))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- run

/// Runs `latent train`.
pub fn run(args: &TrainArgs, g: &Global) -> Result<Report> {
    check_flags(args)?;
    match args.model {
        Kind::Rbm | Kind::GaussianRbm => train_rbm(args, g),
        Kind::Dbn => train_dbn(args, g),
        Kind::Ae => train_ae::train_ae(args, g),
        Kind::Vae => train_ae::train_vae(args, g),
        Kind::DeepAe => train_ae::train_deep_ae(args, g),
    }
}

/// The RBM configuration the flags describe, from `base` (the defaults, or
/// the resumed model's configuration).
pub fn rbm_config(args: &TrainArgs, base: RbmConfig) -> Result<RbmConfig> {
    let mut c = base;
    if let Some(k) = args.cd_k {
        c.cd_k = k as usize;
    }
    c.persistent |= args.persistent;
    c.learn_sigma |= args.learn_sigma && c.visible == VisibleUnits::Gaussian;
    if let Some(s) = &args.sparsity {
        let target = unit_open_f32(s).map_err(|e| CliError::arg("--sparsity", s, e))?;
        c.sparsity = Some(Sparsity {
            target,
            cost: 0.1,
            decay: 0.9,
        });
    }
    Ok(c)
}

/// [`check_resumed_config`] for a resumed RBM (or a DBN's top layer) of
/// configuration `file`.
fn check_resumed_rbm(args: &TrainArgs, file: RbmConfig) -> Result<()> {
    check_resumed_config(
        args,
        &modelfile::rbm_text(&file),
        &modelfile::rbm_text(&rbm_config(args, file)?),
    )
}

fn train_rbm(args: &TrainArgs, g: &Global) -> Result<Report> {
    let kind = args.model.name();
    if args.layers.is_some() {
        return Err(CliError::arg(
            "--layers",
            args.layers.as_deref().unwrap_or(""),
            "no --layers for an RBM (use --hidden N, or train dbn)",
        ));
    }
    let resumed = load_resumed(args)?;
    let settings = Settings::resolve(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let v = data.train.x.cols();
    let visible = if args.model == Kind::GaussianRbm {
        VisibleUnits::Gaussian
    } else {
        VisibleUnits::Bernoulli
    };
    let (rbm, state) = match resumed {
        Some(m) => {
            let modelfile::Model::Rbm(rbm) = m.model else {
                return Err(CliError::mismatch("resumed model", kind, "another kind"));
            };
            check_columns(&args.data, &data.train.x, rbm.config().n_visible)?;
            let h = rbm.config().n_hidden;
            if let Some(hh) = args.hidden
                && hh as usize != h
            {
                return Err(CliError::mismatch(
                    "--hidden vs the resumed model's hidden units",
                    h,
                    hh,
                ));
            }
            check_resumed_rbm(args, *rbm.config())?;
            let state = modelfile::resume_state(&m.checkpoint, kind);
            (*rbm, Some(state))
        }
        None => {
            let h = args.hidden.ok_or_else(|| {
                CliError::arg(
                    "--hidden",
                    "(missing)",
                    "the number of hidden units, e.g. --hidden 500",
                )
            })? as usize;
            let base = match visible {
                VisibleUnits::Bernoulli => RbmConfig::bernoulli(v, h),
                VisibleUnits::Gaussian => RbmConfig::gaussian(v, h),
            };
            let mut rbm = Rbm::new(rbm_config(args, base)?, settings.seed)?;
            rbm.init_visible_bias_from_data(&data.train.x, Par::All)?;
            (rbm, None)
        }
    };
    let h = rbm.config().n_hidden;
    let label = format!("{kind} {v}-{h}");
    let mut session = Session::new(args, g, label.clone());
    let (trainer, summary) = session.train_model(
        (rbm, state),
        &label,
        kind,
        |m: &Rbm| m.hyperparameters(),
        &data,
        &settings,
    )?;
    let seconds = session.started.elapsed().as_secs_f64();
    let recon = trainer
        .model()
        .reconstruction_error(&data.train.x, settings.seed, Par::All)?;
    Ok(session.model_report(
        &label,
        &format!("reconstruction error {recon:.4}"),
        seconds,
        &trainer,
        &summary,
        json!({
            "kind": kind,
            "sizes": [v, h],
            "reconstruction_error": json_f64(recon),
        }),
    ))
}

/// The hyper-parameter lines of a DBN file.
fn dbn_lines(sizes: &[usize], layer_hyper: &[String]) -> String {
    let mut text = format!("layers={} bottom=bernoulli", sizes_csv(sizes));
    for (l, h) in layer_hyper.iter().enumerate() {
        text.push_str(&format!("\nlayer{l}: {h}"));
    }
    text
}

fn sizes_csv(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Greedy layer-wise training of a DBN, every layer through a [`Trainer`];
/// `--resume` continues the top layer in the file up to `--epochs` and
/// trains the layers still missing (the layers below stay as they are).
fn train_dbn(args: &TrainArgs, g: &Global) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = Settings::resolve(args, resumed.as_ref())?;
    let flag_sizes = match &args.layers {
        Some(s) => Some(parse_layers(s, 2)?),
        None => None,
    };
    let data = read_data(args, resumed.as_ref())?;
    // Finished layers, the layer to continue (with its trainer state), and
    // the finished layers' history.
    let mut done: Vec<Rbm> = Vec::new();
    let mut cont: Option<(Rbm, Checkpoint)> = None;
    let mut history: Vec<EpochRecord> = Vec::new();
    let sizes = match &resumed {
        Some(m) => {
            let ck = &m.checkpoint;
            let path = args.resume.as_deref().unwrap_or(Path::new(""));
            let mut layers = modelfile::dbn_layers(ck, path)?;
            let sizes = modelfile::dbn_target(ck).unwrap_or_else(|| {
                let mut s = vec![layers[0].config().n_visible];
                s.extend(layers.iter().map(|r| r.config().n_hidden));
                s
            });
            if let Some(f) = &flag_sizes
                && *f != sizes
            {
                return Err(CliError::mismatch(
                    "--layers vs the resumed DBN's layers",
                    sizes_csv(&sizes),
                    sizes_csv(f),
                ));
            }
            let top = layers.len() - 1;
            let top_rbm = layers.pop().expect("a DBN file has a layer");
            check_resumed_rbm(args, *top_rbm.config())?;
            let state = modelfile::stage_state(ck, top, top_rbm.kind())?;
            history = ck
                .history
                .iter()
                .filter(|r| modelfile::record_layer(r) != Some(top))
                .cloned()
                .collect();
            done = layers;
            cont = Some((top_rbm, state));
            sizes
        }
        None => {
            if args.hidden.is_some() {
                return Err(CliError::arg(
                    "--hidden",
                    args.hidden.unwrap_or(0),
                    "--layers V,H1,H2,… for a dbn",
                ));
            }
            flag_sizes.ok_or_else(|| {
                CliError::arg(
                    "--layers",
                    "(missing)",
                    "the layer sizes of the DBN, visible first, e.g. 784,500,250",
                )
            })?
        }
    };
    check_columns(&args.data, &data.train.x, sizes[0])?;
    // New layers: the flags' configuration, from the continued layer's
    // when resuming.
    let template = cont
        .as_ref()
        .map_or(RbmConfig::bernoulli(1, 1), |(r, _)| *r.config());
    let mut session = Session::new(args, g, "dbn");
    let mut input = data.train.clone();
    let mut valid = data.valid.clone();
    let mut hyper: Vec<String> = done.iter().map(|r| r.hyperparameters()).collect();
    let mut last: Option<Checkpoint> = None;
    let mut epochs_run = 0;
    let line = settings.line();
    let lines_sizes = sizes.clone();
    let propagate = |rbm: &Rbm, d: &Dataset| -> Result<Dataset> {
        let mut next = Matrix::zeros(d.len(), rbm.config().n_hidden)?;
        rbm.transform(d.x.view(), next.view_mut(), Par::All)?;
        Ok(Dataset::new(next, None)?)
    };
    for l in 0..sizes.len() - 1 {
        if l < done.len() {
            input = propagate(&done[l], &input)?;
            if let Some(v) = &valid {
                valid = Some(propagate(&done[l], v)?);
            }
            continue;
        }
        let (rbm, state) = match cont.take() {
            Some((rbm, state)) => (rbm, Some(state)),
            None => {
                let base = RbmConfig {
                    n_visible: sizes[l],
                    n_hidden: sizes[l + 1],
                    ..template
                };
                let mut rbm = Rbm::new(
                    rbm_config(args, base)?,
                    settings.seed.wrapping_add(l as u64),
                )?;
                rbm.init_visible_bias_from_data(&input.x, Par::All)?;
                (rbm, None)
            }
        };
        let label = format!("dbn layer {l} ({}-{})", sizes[l], sizes[l + 1]);
        session.obs.stage(label.clone(), Some(l));
        let layer_hyper = rbm.hyperparameters();
        let mut save = |t: &Trainer<Rbm>| -> Result<()> {
            let params: Vec<&ParamSet> = done.iter().map(|r| r.params()).collect();
            let mut h = history.clone();
            h.extend(modelfile::tag_layer(t.history(), l));
            let mut ck = modelfile::staged_checkpoint(&params, &t.checkpoint(), h)?;
            let mut lines = hyper.clone();
            lines.push(layer_hyper.clone());
            modelfile::finish(
                &mut ck,
                "dbn",
                &dbn_lines(&lines_sizes, &lines),
                &line,
                &data.pre,
            )?;
            Ok(ck.save(&args.out)?)
        };
        let (trainer, summary) = session.train(
            (rbm, state),
            &label,
            (&input, valid.as_ref()),
            &data.pre,
            &settings,
            &mut save,
        )?;
        epochs_run += summary.epochs_run;
        if session.every().is_some() && l + 2 < sizes.len() {
            save(&trainer)?;
        }
        history.extend(modelfile::tag_layer(trainer.history(), l));
        hyper.push(layer_hyper);
        last = Some(trainer.checkpoint());
        let rbm = trainer.into_model();
        if l + 2 < sizes.len() {
            input = propagate(&rbm, &input)?;
            if let Some(v) = &valid {
                valid = Some(propagate(&rbm, v)?);
            }
        }
        done.push(rbm);
    }
    let top = last.ok_or_else(|| CliError::mismatch("dbn layers trained", "at least one", 0))?;
    done.pop();
    let params: Vec<&ParamSet> = done.iter().map(|r| r.params()).collect();
    let mut ck = modelfile::staged_checkpoint(&params, &top, history)?;
    modelfile::finish(&mut ck, "dbn", &dbn_lines(&sizes, &hyper), &line, &data.pre)?;
    ck.save(&args.out)?;
    let seconds = session.started.elapsed().as_secs_f64();
    if session.verbose() {
        crate::cli::print_line(format!(
            "trained dbn {}: {} layer(s), {epochs_run} epoch(s) in {seconds:.1} s; wrote {}",
            dashed(&sizes),
            sizes.len() - 1,
            args.out.display()
        ));
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": "dbn",
        "sizes": sizes,
        "out": args.out.display().to_string(),
        "epochs_run": epochs_run,
        "seconds": json_f64(seconds),
        "history": history_json(&ck.history),
    })))
}
