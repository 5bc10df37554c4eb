//! `latent train`: RBMs (Bernoulli or Gaussian) and deep belief nets from
//! data files, with the engine's [`Trainer`] (checkpoints, `--resume`,
//! validation, per-epoch metrics).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use latent_engine::checkpoint::EpochRecord;
use latent_engine::preprocess::Standardizer;
use latent_engine::train::{Model as _, TrainConfig, Trainer};
use latent_engine::{Checkpoint, Dataset, Matrix, Momentum, OptimizerConfig, Par, Threads};
use latent_models::dbn::Dbn;
use latent_models::rbm::{Rbm, RbmConfig, Sparsity, VisibleUnits};
use serde_json::json;

use crate::cli::error::{CliError, Result};
use crate::cli::io::read_matrix;
use crate::cli::modelfile::{self, Preprocess};
use crate::cli::progress::{Display, Progress, json_f64};
use crate::cli::{Global, Report};

/// The model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Bernoulli-Bernoulli RBM (binary or [0, 1] data).
    Rbm,
    /// Gaussian-Bernoulli RBM (real-valued data, standardised).
    GaussianRbm,
    /// Deep belief net: RBMs trained greedily, layer by layer.
    Dbn,
    /// Autoencoder (not yet available in the command line).
    Ae,
    /// Variational autoencoder (not yet available in the command line).
    Vae,
    /// Stacked / deep autoencoder (not yet available in the command line).
    DeepAe,
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
    /// The model: rbm, gaussian-rbm or dbn.
    #[arg(value_enum)]
    pub model: Kind,
    /// Training data: IDX (plain or .gz), NPY or CSV, one sample a row.
    #[arg(long)]
    pub data: PathBuf,
    /// Labels (IDX, NPY or CSV), checked against the data; unsupervised
    /// models do not use them.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Hidden units (rbm, gaussian-rbm).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub hidden: Option<u32>,
    /// Layer sizes of a DBN, visible first, e.g. 784,500,250.
    #[arg(long)]
    pub layers: Option<String>,
    /// Epochs (in all, also when resuming).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Minibatch size.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Learning rate (default 0.1 for binary data, 0.001 for Gaussian visibles).
    #[arg(long, value_parser = positive_f32, allow_negative_numbers = true)]
    pub lr: Option<f32>,
    /// A constant momentum (default: 0.5 for 5 epochs, then 0.9).
    #[arg(long, value_parser = unit_open_f32, allow_negative_numbers = true)]
    pub momentum: Option<f32>,
    /// L2 weight decay on the weights.
    #[arg(long, default_value_t = 1e-4, value_parser = non_negative_f32, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Gibbs steps per gradient estimate (CD-k / PCD-k).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub cd_k: u32,
    /// Persistent contrastive divergence (chains kept across minibatches).
    #[arg(long)]
    pub persistent: bool,
    /// gaussian-rbm: learn a standard deviation per visible unit instead of
    /// fixing σ = 1 on standardised data.
    #[arg(long)]
    pub learn_sigma: bool,
    /// A target mean hidden activation (sparsity), e.g. 0.05.
    #[arg(long, value_parser = unit_open_f32)]
    pub sparsity: Option<f32>,
    /// Seed of the initial weights, shuffles and samplers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The model file to write (written only when training succeeds).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue training from a model file written by `latent train`.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Validation data: its reconstruction error is reported every epoch.
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

/// The default preprocessing for binary-visible models: `[0, 1]` data as
/// it is; `[0, 255]` data (IDX bytes) divided by 255; otherwise an error
/// that suggests `--scale`.
fn choose_preprocess(args: &TrainArgs, x: &Matrix, gaussian: bool) -> Result<Preprocess> {
    let (lo, hi) = x
        .as_slice()
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if gaussian {
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
    } else {
        return Err(CliError::mismatch(
            format!(
                "{}: value range for an RBM with binary visibles",
                args.data.display()
            ),
            "[0, 1] or [0, 255] (or pass --scale, or train gaussian-rbm)",
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

fn check_columns(path: &Path, x: &Matrix, visible: usize) -> Result<()> {
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

fn optimizer(args: &TrainArgs, default_lr: f32) -> OptimizerConfig {
    let mut opt = OptimizerConfig::sgd_hinton(args.lr.unwrap_or(default_lr), args.weight_decay);
    if let Some(m) = args.momentum {
        opt.kind = latent_engine::OptimizerKind::Sgd {
            momentum: Momentum::Constant(m),
        };
    }
    opt
}

fn rbm_config(args: &TrainArgs, visible: VisibleUnits, v: usize, h: usize) -> RbmConfig {
    let mut c = match visible {
        VisibleUnits::Bernoulli => RbmConfig::bernoulli(v, h),
        VisibleUnits::Gaussian => RbmConfig::gaussian(v, h),
    };
    c.cd_k = args.cd_k as usize;
    c.persistent = args.persistent;
    c.learn_sigma = args.learn_sigma && visible == VisibleUnits::Gaussian;
    c.sparsity = args.sparsity.map(|target| Sparsity {
        target,
        cost: 0.1,
        decay: 0.9,
    });
    c
}

fn train_config(args: &TrainArgs, opt: OptimizerConfig, seed: u64) -> TrainConfig {
    let mut tc = TrainConfig::new(opt);
    tc.epochs = args.epochs as usize;
    tc.batch_size = args.batch as usize;
    tc.seed = seed;
    tc.threads = Threads::CallerPool;
    tc
}

fn history_json(h: &[EpochRecord]) -> serde_json::Value {
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

/// Runs `latent train`.
pub fn run(args: &TrainArgs, g: &Global) -> Result<Report> {
    let kind = match args.model {
        Kind::Rbm => VisibleUnits::Bernoulli,
        Kind::GaussianRbm => VisibleUnits::Gaussian,
        Kind::Dbn => return train_dbn(args, g),
        other => {
            return Err(CliError::NotAvailable {
                what: format!(
                    "latent train {}",
                    other.to_possible_value().map_or("?".into(), |v| v.get_name().to_string())
                ),
                why: "the command line trains rbm, gaussian-rbm and dbn so far; the autoencoders are in the library (latent::models::ae)".into(),
            });
        }
    };
    if args.layers.is_some() {
        return Err(CliError::arg(
            "--layers",
            args.layers.as_deref().unwrap_or(""),
            "no --layers for an RBM (use --hidden N, or train dbn)",
        ));
    }
    let gaussian = kind == VisibleUnits::Gaussian;
    let resumed = match &args.resume {
        Some(p) => Some(modelfile::load(p)?),
        None => None,
    };
    // Preprocessing: the resumed model's, else chosen from the raw data.
    let raw = read_matrix(&args.data)?;
    let pre = match &resumed {
        Some(m) => m.preprocess.clone(),
        None => choose_preprocess(args, &raw, gaussian)?,
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
    let v = train.x.cols();
    let h = match (&resumed, args.hidden) {
        (Some(m), hidden) => {
            let sizes = m.model.sizes();
            let expected_kind = if gaussian { "gaussian-rbm" } else { "rbm" };
            if m.checkpoint.model_kind != expected_kind {
                return Err(CliError::mismatch(
                    format!(
                        "{}: model kind for train {expected_kind}",
                        args.resume
                            .as_ref()
                            .map_or(String::new(), |p| p.display().to_string())
                    ),
                    expected_kind,
                    &m.checkpoint.model_kind,
                ));
            }
            check_columns(&args.data, &train.x, sizes[0])?;
            if let Some(hh) = hidden
                && hh as usize != sizes[1]
            {
                return Err(CliError::mismatch(
                    "--hidden vs the resumed model's hidden units",
                    sizes[1],
                    hh,
                ));
            }
            sizes[1]
        }
        (None, Some(h)) => h as usize,
        (None, None) => {
            return Err(CliError::arg(
                "--hidden",
                "(missing)",
                "the number of hidden units, e.g. --hidden 500",
            ));
        }
    };
    let config = rbm_config(args, kind, v, h);
    let mut rbm = Rbm::new(config, args.seed)?;
    if resumed.is_none() {
        rbm.init_visible_bias_from_data(&train.x, Par::All)?;
    }
    let opt = optimizer(args, config.default_optimizer().lr.base);
    let mut trainer = Trainer::new(rbm, train_config(args, opt, args.seed))?;
    if let Some(m) = &resumed {
        trainer.restore(&modelfile::model_state_only(&m.checkpoint))?;
    }
    let done_before = trainer.epochs_done();
    let label = format!("{} {v}-{h}", trainer.model().kind());
    if !g.quiet && !g.json {
        eprintln!(
            "training {label} on {} samples ({}), epochs {}..{} of {}, batch {}, lr {}",
            train.len(),
            pre.describe(),
            done_before + 1,
            args.epochs,
            args.epochs,
            args.batch,
            opt.lr.base
        );
    }
    let mut obs = Progress::new(
        Display::detect(g.quiet || g.json),
        label.clone(),
        args.metrics.clone(),
    );
    let start = Instant::now();
    let summary = trainer.fit(&train, valid.as_ref(), &mut obs);
    obs.finish();
    if let Some(e) = obs.metrics_error.take() {
        return Err(e);
    }
    let summary = summary?;
    let seconds = start.elapsed().as_secs_f64();
    let mut ck = trainer.checkpoint();
    modelfile::attach_preprocess(&mut ck, &pre)?;
    ck.save(&args.out)?;
    let recon = trainer
        .model()
        .reconstruction_error(&train.x, args.seed, Par::All)?;
    if !g.quiet && !g.json {
        println!(
            "trained {label}: {} epoch(s) in {seconds:.1} s, reconstruction error {recon:.4}{}; wrote {}",
            summary.epochs_run,
            summary
                .best_valid
                .map(|v| format!(", best validation {v:.4}"))
                .unwrap_or_default(),
            args.out.display()
        );
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": trainer.model().kind(),
        "sizes": [v, h],
        "out": args.out.display().to_string(),
        "epochs_run": summary.epochs_run,
        "epochs_total": trainer.epochs_done(),
        "seconds": json_f64(seconds),
        "reconstruction_error": json_f64(recon),
        "best_valid": summary.best_valid.map(json_f64),
        "history": history_json(trainer.history()),
    })))
}

/// Parses `--layers 784,500,250`.
fn parse_layers(s: &str) -> Result<Vec<usize>> {
    let sizes: Option<Vec<usize>> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect();
    match sizes {
        Some(v) if v.len() >= 2 => Ok(v),
        _ => Err(CliError::arg(
            "--layers",
            s,
            "at least two positive sizes separated by commas, visible first, e.g. 784,500,250",
        )),
    }
}

/// Greedy layer-wise training of a DBN; every layer through a [`Trainer`].
fn train_dbn(args: &TrainArgs, g: &Global) -> Result<Report> {
    if args.resume.is_some() {
        return Err(CliError::NotAvailable {
            what: "latent train dbn --resume".into(),
            why: "resuming is supported for rbm and gaussian-rbm; retrain the DBN".into(),
        });
    }
    if args.hidden.is_some() {
        return Err(CliError::arg(
            "--hidden",
            args.hidden.unwrap_or(0),
            "--layers V,H1,H2,… for a dbn",
        ));
    }
    let sizes = parse_layers(args.layers.as_deref().ok_or_else(|| {
        CliError::arg(
            "--layers",
            "(missing)",
            "the layer sizes of the DBN, visible first, e.g. 784,500,250",
        )
    })?)?;
    let raw = read_matrix(&args.data)?;
    let pre = choose_preprocess(args, &raw, false)?;
    let train = load_data(&args.data, Some(raw), args.labels.as_deref(), &pre)?;
    check_columns(&args.data, &train.x, sizes[0])?;
    let mut valid = match &args.validate {
        Some(p) => {
            let v = load_data(p, None, None, &pre)?;
            check_columns(p, &v.x, sizes[0])?;
            Some(v)
        }
        None => None,
    };
    let display = Display::detect(g.quiet || g.json);
    let mut obs = Progress::new(display, "dbn", args.metrics.clone());
    let mut input = train.clone();
    let mut layers = Vec::new();
    let mut history = Vec::new();
    let mut hyper = Vec::new();
    let mut top_ck: Option<Checkpoint> = None;
    let start = Instant::now();
    for (l, pair) in sizes.windows(2).enumerate() {
        let config = rbm_config(args, VisibleUnits::Bernoulli, pair[0], pair[1]);
        let mut rbm = Rbm::new(config, args.seed.wrapping_add(l as u64))?;
        rbm.init_visible_bias_from_data(&input.x, Par::All)?;
        let opt = optimizer(args, config.default_optimizer().lr.base);
        let mut trainer = Trainer::new(rbm, train_config(args, opt, args.seed))?;
        let label = format!("dbn layer {l} ({}-{})", pair[0], pair[1]);
        if !g.quiet && !g.json {
            eprintln!("training {label} on {} samples", input.len());
        }
        obs.stage(label, l);
        let fitted = trainer.fit(&input, valid.as_ref(), &mut obs);
        obs.finish();
        if let Some(e) = obs.metrics_error.take() {
            return Err(e);
        }
        fitted.map_err(|e| CliError::mismatch(format!("training dbn layer {l}"), "success", e))?;
        for r in trainer.history() {
            let mut r = r.clone();
            r.metrics.push(("layer".into(), l as f64));
            history.push(r);
        }
        hyper.push(trainer.model().hyperparameters());
        top_ck = Some(trainer.checkpoint());
        let rbm = trainer.into_model();
        if l + 2 < sizes.len() {
            let mut next = Matrix::zeros(input.len(), pair[1])?;
            rbm.transform(input.x.view(), next.view_mut(), Par::All)?;
            input = Dataset::new(next, None)?;
            if let Some(v) = &valid {
                let mut nv = Matrix::zeros(v.len(), pair[1])?;
                rbm.transform(v.x.view(), nv.view_mut(), Par::All)?;
                valid = Some(Dataset::new(nv, None)?);
            }
        }
        layers.push(rbm);
    }
    let dbn = Dbn::from_rbms(layers)?;
    let top = top_ck.expect("a DBN has at least one layer");
    let mut ck = modelfile::dbn_checkpoint(&dbn, &hyper, history, &top)?;
    modelfile::attach_preprocess(&mut ck, &pre)?;
    ck.save(&args.out)?;
    let seconds = start.elapsed().as_secs_f64();
    let label = sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("-");
    if !g.quiet && !g.json {
        println!(
            "trained dbn {label}: {} layer(s) x {} epoch(s) in {seconds:.1} s; wrote {}",
            sizes.len() - 1,
            args.epochs,
            args.out.display()
        );
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": "dbn",
        "sizes": sizes,
        "out": args.out.display().to_string(),
        "seconds": json_f64(seconds),
        "history": history_json(&ck.history),
    })))
}
