//! The flags of `latent train`, which apply to which kind, and how they
//! become the library's settings and configurations.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use latent_kernels::Precision;
use latent_models::persist::{self, ModelFile};
use latent_models::rbm::{HiddenUnits, RbmConfig, Sparsity, VisibleUnits};
use latent_models::train::{Optimizer, Settings, SettingsOverrides};

use crate::cli::error::{CliError, Result};

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
    /// Deep Boltzmann machine (--layers V,H1,H2,…): trained jointly, a
    /// mean-field positive phase and persistent Gibbs chains.
    Dbm,
    /// Predictive sparse decomposition (--codes K --lambda L --alpha A):
    /// sparse codes by FISTA over a learned dictionary, and a fast encoder
    /// (--encoder tanh|shrink) trained to predict them.
    Psd,
    /// Classifier (--labels, --layers V,H1,…): hidden layers pretrained as
    /// a DBN (--pretrain rbm), a stacked autoencoder (ae) or not (none),
    /// topped by a softmax and fine-tuned with the labels.
    Classifier,
}

impl Kind {
    /// The library's kind of model file: the one place the flag maps onto
    /// it.
    pub fn file_kind(self) -> persist::Kind {
        match self {
            Kind::Rbm => persist::Kind::Rbm,
            Kind::GaussianRbm => persist::Kind::GaussianRbm,
            Kind::Dbn => persist::Kind::Dbn,
            Kind::Ae => persist::Kind::Ae,
            Kind::Vae => persist::Kind::Vae,
            Kind::DeepAe => persist::Kind::DeepAe,
            Kind::Dbm => persist::Kind::Dbm,
            Kind::Psd => persist::Kind::Psd,
            Kind::Classifier => persist::Kind::Classifier,
        }
    }

    /// The name on the command line and in model files.
    pub fn name(self) -> &'static str {
        self.file_kind().name()
    }

    /// An autoencoder kind (`ae`, `vae`, `deep-ae`).
    pub fn is_autoencoder(self) -> bool {
        self.file_kind().is_autoencoder()
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
    /// The library's optimiser.
    pub fn optimizer(self) -> Optimizer {
        match self {
            Optim::Sgd => Optimizer::Sgd,
            Optim::Adam => Optimizer::Adam,
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
    /// No pretraining (classifier only).
    None,
}

/// The hidden units of an RBM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HiddenArg {
    /// Binary (sigmoid) hidden units.
    Bernoulli,
    /// Linear, unit-variance Gaussian hidden units (Bernoulli visibles).
    Linear,
}

impl HiddenArg {
    /// The library's kind of hidden units.
    pub fn units(self) -> HiddenUnits {
        match self {
            HiddenArg::Bernoulli => HiddenUnits::Bernoulli,
            HiddenArg::Linear => HiddenUnits::Linear,
        }
    }
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

pub(super) fn unit_open_f32(s: &str) -> std::result::Result<f32, String> {
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
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The model.
    #[arg(value_enum)]
    pub model: Kind,
    /// Training data: IDX (plain or .gz), NPY or CSV, one sample a row.
    #[arg(long)]
    pub data: PathBuf,
    /// With --distributed: read the whole training file into memory on
    /// every rank, instead of each rank reading only the rows of its share
    /// of each minibatch from the file when it needs them (the default for
    /// rbm, gaussian-rbm, ae and vae; the same model either way; the other
    /// kinds always read the whole file).
    #[arg(long)]
    pub load_data: bool,
    /// Labels (IDX, NPY integers or a CSV column), checked against the
    /// data: a classifier learns them; unsupervised models do not use them.
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
    /// autoencoders and a classifier's fine-tuning; the resumed model's].
    #[arg(long, value_enum)]
    pub optimizer: Option<Optim>,
    /// Learning rate [default: 0.1 for rbm and dbn, 0.01 for dbm (0.001
    /// after --pretrain-epochs), 0.001 for gaussian-rbm; autoencoders 0.001
    /// with adam, 0.01 with sgd; classifier fine-tuning 0.001 with adam].
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// A constant momentum for sgd (default: 0.5 for 5 epochs, then 0.9).
    #[arg(long, value_parser = unit_open_f32, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// L2 weight decay on the weights [default: 1e-4 for RBMs and DBNs, 0
    /// for autoencoders and classifiers].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Gibbs steps per gradient estimate (CD-k / PCD-k), 1 to 1000
    /// [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=latent_models::persist::text::MAX_CD_K as i64))]
    pub cd_k: Option<u32>,
    /// Persistent contrastive divergence (chains kept across minibatches).
    #[arg(long)]
    pub persistent: bool,
    /// dbm: persistent chains of the negative phase [default: one per
    /// minibatch row].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub chains: Option<u32>,
    /// dbm: the most mean-field updates per positive phase, 1 to 10000
    /// [default: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=latent_models::dbm::MAX_MF_ITERS as i64))]
    pub mf_iters: Option<u32>,
    /// dbm: mean-field stops once no posterior changes by more than this
    /// (0: always --mf-iters updates) [default: 0.0001].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub mf_tol: Option<f32>,
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
    /// deep-ae: how each layer is pretrained [default: ae]. classifier:
    /// rbm (a DBN), ae (a stacked autoencoder) or none [default: rbm].
    #[arg(long, value_enum)]
    pub pretrain: Option<PretrainArg>,
    /// deep-ae, classifier: pretraining epochs per layer [default:
    /// --epochs]. dbm: pretrain the stack greedily for this many epochs per
    /// RBM first [default: no pretraining].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub pretrain_epochs: Option<u32>,
    /// dbm: the pretraining RBMs' learning rate [default: 0.05].
    /// classifier: the pretraining's [default: 0.1 for rbm (sgd), 0.001 for
    /// ae (adam)]. deep-ae: the pretraining layers' learning rate (with its
    /// own optimiser, see --pretrain-optimizer) [default: --lr, or 0.1 with
    /// sgd and 0.001 with adam when the optimisers differ].
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub pretrain_lr: Option<f32>,
    /// Seed of the initial weights, shuffles, noise and samplers [default:
    /// 0, or the resumed model's].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Precision of the matrix products: f32, or bf16 (bf16 operands, f32
    /// accumulation; parameters, optimiser state and losses stay f32),
    /// stored in the model file [default: f32, or the resumed model's].
    #[arg(long, value_parser = crate::cli::commands::parse_precision)]
    pub precision: Option<Precision>,
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
    /// Train as one rank of a synchronous data-parallel run under mpirun
    /// (`mpirun -np N latent train <kind> ... --distributed`;
    /// a latent built with `--features mpi`): each rank computes the
    /// gradient of its share of every minibatch, the gradients are summed,
    /// and rank 0 prints progress and writes the files.
    #[arg(long)]
    pub distributed: bool,
    /// Validation data: its reconstruction error (a vae: negative ELBO; a
    /// classifier: error rate, with --validation-labels) is reported every
    /// epoch.
    #[arg(long, visible_alias = "validation-data")]
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
    /// psd: code units (dictionary atoms).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub codes: Option<u32>,
    /// psd: the L1 weight λ of the sparse codes [default: 0.5].
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub lambda: Option<f32>,
    /// psd: the weight α of the prediction term α‖z − F(x)‖² (0: plain
    /// sparse coding) [default: 1].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub alpha: Option<f32>,
    /// psd: the fast encoder, tanh (g ⊙ tanh(xW + b)) or shrink (learned
    /// shrinkage) [default: tanh].
    #[arg(long, value_enum)]
    pub encoder: Option<EncoderArg>,
    /// psd: FISTA iterations at most per minibatch [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub fista_iters: Option<u32>,
    /// psd: FISTA stops once the codes change by at most this, relative
    /// (0: always --fista-iters) [default: 0.0001].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub fista_tol: Option<f32>,
    /// classifier: classes of the softmax [default: the largest label + 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub classes: Option<u32>,
    /// classifier: hold this fraction of the training rows out (chosen by
    /// the seed) to validate fine-tuning on; the best epoch is kept.
    #[arg(long, value_name = "F", value_parser = open_unit_f32, allow_negative_numbers = true, conflicts_with = "validate")]
    pub validation_fraction: Option<f32>,
    /// classifier: the labels of --validation-data.
    #[arg(long)]
    pub validation_labels: Option<PathBuf>,
    /// classifier: stop fine-tuning after P epochs without a lower
    /// validation error [default: train every epoch].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    pub patience: Option<u32>,
    /// ae, deep-ae (its fine-tuning): Gaussian noise of standard deviation
    /// STD added to the code layer's input in training, fixed per training
    /// sample (drawn from --seed and the sample's row), so that a sigmoid
    /// code saturates into a binary one (semantic hashing; Salakhutdinov &
    /// Hinton used 4).
    #[arg(long, value_name = "STD", value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub code_noise: Option<f32>,
    /// rbm: the hidden units, bernoulli or linear (unit-variance Gaussian,
    /// as the code layer of Hinton & Salakhutdinov 2006) [default:
    /// bernoulli, or the resumed model's].
    #[arg(long, value_enum)]
    pub hidden_units: Option<HiddenArg>,
    /// deep-ae: the pretraining's own optimiser (the run's then only
    /// fine-tunes) [default: the run's --optimizer, or the resumed model's].
    #[arg(long, value_enum)]
    pub pretrain_optimizer: Option<Optim>,
    /// deep-ae: a constant momentum of sgd pretraining [default: 0.5 for 5
    /// epochs, then 0.9].
    #[arg(long, value_parser = unit_open_f32, allow_negative_numbers = true)]
    pub pretrain_momentum: Option<f32>,
    /// deep-ae: the pretraining's L2 weight decay [default: --weight-decay].
    #[arg(long, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub pretrain_weight_decay: Option<f32>,
    /// deep-ae: the learning rate of the layer with a linear (identity)
    /// activation, a linear code layer's RBM [default: --pretrain-lr].
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub pretrain_linear_lr: Option<f32>,
    /// deep-ae: a published recipe's settings for the flags not given.
    /// hinton2006 (Hinton & Salakhutdinov 2006): sigmoid layers and a linear
    /// code layer, RBM pretraining (CD-1, initial weights N(0, 0.1²)) with
    /// sgd at 0.1 (the code layer 0.001), momentum 0.5 then 0.9, weight
    /// decay 0.0002, 50 epochs per layer, then 200 epochs of fine-tuning on
    /// cross-entropy (with --optimizer; the paper used conjugate gradients).
    #[arg(long, value_enum)]
    pub recipe: Option<Recipe>,
    /// With --distributed: how long a sum across ranks waits for the other
    /// ranks before every rank stops with an error naming the sum and the
    /// rank waited for (a rank that died or hangs) [default: 300].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    pub collective_timeout: Option<u32>,
    /// With --distributed: instead of summing gradients every step, each
    /// rank takes plain local steps on its share of each minibatch and the
    /// ranks average their parameters and optimiser state every K steps
    /// and at each epoch's end (for slow networks; K=1 with sgd is the
    /// gradient sums' run up to float rounding, with more to send).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub average_every: Option<u32>,
}

/// The fast encoder of a PSD model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncoderArg {
    /// `g ⊙ tanh(xW + b)`, a learned gain per code unit.
    Tanh,
    /// `sign(a)·max(|a| − θ, 0)`, `a = xW + b`, a learned threshold per
    /// code unit.
    Shrink,
}

fn open_unit_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err("expected a number in (0, 1)".into()),
    }
}

/// A published recipe (`--recipe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// Hinton & Salakhutdinov (2006), "Reducing the dimensionality of data
    /// with neural networks": the deep autoencoder's pretraining.
    Hinton2006,
}

/// Refuses flags that do not apply to the kind being trained.
pub fn check_flags(args: &TrainArgs) -> Result<()> {
    use Kind::*;
    const RBMS: &[Kind] = &[Rbm, GaussianRbm, Dbn, DeepAe, Dbm, Classifier];
    const AES: &[Kind] = &[Ae, Vae, DeepAe];
    let rules: [(&str, bool, &[Kind]); 36] = [
        (
            "--hidden",
            args.hidden.is_some(),
            &[Rbm, GaussianRbm, Ae, Vae],
        ),
        (
            "--layers",
            args.layers.is_some(),
            &[Dbn, Ae, Vae, DeepAe, Dbm, Classifier],
        ),
        ("--cd-k", args.cd_k.is_some(), RBMS),
        (
            "--persistent",
            args.persistent,
            &[Rbm, GaussianRbm, Dbn, DeepAe, Classifier],
        ),
        ("--chains", args.chains.is_some(), &[Dbm]),
        ("--mf-iters", args.mf_iters.is_some(), &[Dbm]),
        ("--mf-tol", args.mf_tol.is_some(), &[Dbm]),
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
        ("--pretrain", args.pretrain.is_some(), &[DeepAe, Classifier]),
        (
            "--pretrain-epochs",
            args.pretrain_epochs.is_some(),
            &[DeepAe, Dbm, Classifier],
        ),
        ("--codes", args.codes.is_some(), &[Psd]),
        ("--lambda", args.lambda.is_some(), &[Psd]),
        ("--alpha", args.alpha.is_some(), &[Psd]),
        ("--encoder", args.encoder.is_some(), &[Psd]),
        ("--fista-iters", args.fista_iters.is_some(), &[Psd]),
        ("--fista-tol", args.fista_tol.is_some(), &[Psd]),
        (
            "--pretrain-lr",
            args.pretrain_lr.is_some(),
            &[Dbm, DeepAe, Classifier],
        ),
        ("--classes", args.classes.is_some(), &[Classifier]),
        (
            "--validation-fraction",
            args.validation_fraction.is_some(),
            &[Classifier],
        ),
        (
            "--validation-labels",
            args.validation_labels.is_some(),
            &[Classifier],
        ),
        ("--patience", args.patience.is_some(), &[Classifier]),
        ("--code-noise", args.code_noise.is_some(), &[Ae, DeepAe]),
        ("--hidden-units", args.hidden_units.is_some(), &[Rbm]),
        (
            "--pretrain-optimizer",
            args.pretrain_optimizer.is_some(),
            &[DeepAe],
        ),
        (
            "--pretrain-momentum",
            args.pretrain_momentum.is_some(),
            &[DeepAe],
        ),
        (
            "--pretrain-weight-decay",
            args.pretrain_weight_decay.is_some(),
            &[DeepAe],
        ),
        (
            "--pretrain-linear-lr",
            args.pretrain_linear_lr.is_some(),
            &[DeepAe],
        ),
        ("--recipe", args.recipe.is_some(), &[DeepAe]),
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

/// The settings of the run: the flags, else (on `--resume`) the model
/// file's `train:` line, else the kind's defaults (the library's).
pub fn settings(args: &TrainArgs, resumed: Option<&ModelFile>) -> Result<Settings> {
    let stored = resumed.and_then(|m| persist::hyper_line(&m.checkpoint.hyperparameters, "train"));
    let flags = SettingsOverrides {
        epochs: args.epochs.map(|e| e as usize),
        optimizer: args.optimizer.map(Optim::optimizer),
        lr: args.lr,
        weight_decay: args.weight_decay,
        momentum: args.momentum,
        batch: args.batch.map(|b| b as usize),
        seed: args.seed,
        precision: args.precision,
    };
    Ok(Settings::resolve(args.model.file_kind(), &flags, stored)?)
}

/// The RBM configuration the flags describe, from `base` (the defaults, or
/// the resumed model's configuration).
pub fn rbm_config(args: &TrainArgs, base: RbmConfig) -> Result<RbmConfig> {
    let mut c = base;
    if let Some(k) = args.cd_k {
        c.cd_k = k as usize;
    }
    c.persistent |= args.persistent;
    if let Some(h) = args.hidden_units {
        c.hidden = h.units();
    }
    c.learn_sigma |= args.learn_sigma && c.visible == VisibleUnits::Gaussian;
    if let Some(s) = &args.sparsity {
        let target = unit_open_f32(s)
            .map_err(|e| CliError::arg("--sparsity", s, e.trim_start_matches("expected ")))?;
        c.sparsity = Some(Sparsity::with_target(target));
    }
    Ok(c)
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

/// [`check_resumed_config`] for a resumed RBM (or a DBN's top layer) of
/// configuration `file`.
pub fn check_resumed_rbm(args: &TrainArgs, file: RbmConfig) -> Result<()> {
    check_resumed_config(args, &file.to_text(), &rbm_config(args, file)?.to_text())
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
