//! The subcommands that use a trained model: `info`, `encode`,
//! `reconstruct`, `score`, `sample`, `eval`, `filters` and `export`.
//!
//! Each loads the model file, reads the data (applying the preprocessing
//! the model was trained with), checks that the data has as many features
//! as the model has visible units, and only then computes and writes its
//! outputs (atomically: a failure leaves an existing output untouched). A
//! command that does not fit the model's kind (`sample` on an autoencoder,
//! `--ais` on a VAE) fails with one line saying so.
//!
//! Autoencoders are run over the data in blocks of [`BLOCK`] rows, so their
//! buffers stay small on large files.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use latent_engine::Matrix;
use latent_engine::Par;
use latent_engine::data::npy;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_models::ae::{Autoencoder, Loss};
use latent_models::eval::{
    AisConfig, MAX_EXACT_UNITS, RbmParams, ais_log_z, average_log_likelihood,
    base_rate_visible_bias, exact_log_z, piecewise_linear_betas, pseudo_log_likelihood,
};
use latent_models::rbm::{Rbm, VisibleUnits};
use serde_json::{Value, json};

use crate::cli::error::{CliError, Result};
use crate::cli::image::{self, Grid, Shade};
use crate::cli::io::{self, matrix_out, png_out, read_matrix, write_atomic, write_matrix};
use crate::cli::modelfile::{self, Model, ModelFile, Preprocess};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

fn say(g: &Global, s: impl AsRef<str>) {
    if !g.quiet && !g.json {
        crate::cli::print_line(s.as_ref());
    }
}

/// Reads `path`, applies the model's preprocessing and checks the columns.
fn model_data(m: &ModelFile, path: &Path) -> Result<Matrix> {
    let mut x = read_matrix(path)?;
    if x.cols() != m.model.n_visible() {
        return Err(CliError::mismatch(
            format!(
                "{}: features per sample vs the model's visible units",
                path.display()
            ),
            m.model.n_visible(),
            x.cols(),
        ));
    }
    if x.rows() == 0 {
        return Err(CliError::mismatch(
            format!("{}: samples", path.display()),
            "at least one",
            0,
        ));
    }
    m.preprocess.apply(&mut x, path)?;
    Ok(x)
}

fn rbm_params(rbm: &Rbm) -> RbmParams<'_> {
    RbmParams::bernoulli(
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    )
}

/// Unit-variance Gaussian parameters need a `σ` slice; this holds it.
fn with_params<T>(rbm: &Rbm, f: impl FnOnce(&RbmParams<'_>) -> Result<T>) -> Result<T> {
    match rbm.config().visible {
        VisibleUnits::Bernoulli => f(&rbm_params(rbm)),
        VisibleUnits::Gaussian => {
            let sigma = vec![1.0f32; rbm.config().n_visible];
            f(&RbmParams::gaussian(
                rbm.weights().as_slice(),
                rbm.visible_bias(),
                rbm.hidden_bias(),
                &sigma,
            ))
        }
    }
}

/// Rows per block when an autoencoder runs over a data file.
pub const BLOCK: usize = 1000;

/// `out` (`x.rows() x cols`) filled block by block: `f(block of x, its
/// rows of out)`.
fn by_blocks(
    x: &Matrix,
    cols: usize,
    mut f: impl FnMut(MatRef<'_>, &mut [f32]) -> Result<()>,
) -> Result<Matrix> {
    let mut out = Matrix::zeros(x.rows(), cols)?;
    let mut start = 0;
    while start < x.rows() {
        let n = BLOCK.min(x.rows() - start);
        f(
            x.rows_view(start, n)?,
            &mut out.as_mut_slice()[start * cols..(start + n) * cols],
        )?;
        start += n;
    }
    Ok(out)
}

/// An autoencoder's reconstruction loss of each row (no noise, no
/// penalty): cross-entropy or ½ squared error, its training loss.
fn ae_losses(ae: &mut Autoencoder, x: &Matrix) -> Result<Vec<f32>> {
    let out = by_blocks(x, 1, |b, o| {
        ae.reconstruction_errors(b, o, Par::All)?;
        Ok(())
    })?;
    Ok(out.as_slice().to_vec())
}

/// Deterministic reconstructions through the whole model: mean-field for
/// an RBM (a DBN goes up to the top and back down), `g(f(x))` for an
/// autoencoder, the decoder's mean at `μ(x)` for a VAE.
fn reconstruct(model: &mut Model, x: &Matrix) -> Result<Matrix> {
    let v = x.cols();
    Ok(match model {
        Model::Rbm(r) => {
            let mut out = Matrix::zeros(x.rows(), v)?;
            r.reconstruct(x.view(), out.view_mut(), Par::All)?;
            out
        }
        Model::Dbn(d) => {
            let mut current = d.transform(x, Par::All)?;
            for rbm in d.layers().iter().rev() {
                let mut below = Matrix::zeros(x.rows(), rbm.config().n_visible)?;
                rbm.visible_means(current.view(), below.view_mut(), Par::All)?;
                current = below;
            }
            current
        }
        Model::Ae(a) | Model::DeepAe(a) => by_blocks(x, v, |b, o| {
            let rows = b.rows();
            Ok(a.reconstruct(b, MatMut::row_major(o, rows, v)?, Par::All)?)
        })?,
        Model::Vae(vae) => by_blocks(x, v, |b, o| {
            let rows = b.rows();
            Ok(vae.reconstruct(b, MatMut::row_major(o, rows, v)?, Par::All)?)
        })?,
    })
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&e| e as f64).sum::<f64>() / v.len().max(1) as f64
}

/// The squared error `Σ_k (x_k - r_k)²` of each row.
pub fn per_row_sq_err(x: &Matrix, r: &Matrix) -> Vec<f32> {
    (0..x.rows())
        .map(|i| {
            x.row(i)
                .iter()
                .zip(r.row(i))
                .map(|(a, b)| (a - b) * (a - b))
                .sum()
        })
        .collect()
}

// ---------------------------------------------------------------- info

/// Flags of `latent info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
}

/// `latent info`: kind, shapes, hyper-parameters, training history.
pub fn info(args: &InfoArgs, g: &Global) -> Result<Report> {
    let m = modelfile::load(&args.model)?;
    let ck = &m.checkpoint;
    let sizes = m.model.sizes();
    let variant = match &m.model {
        Model::Ae(a) => Some(latent_engine::train::Model::kind(a.as_ref()).to_string()),
        _ => None,
    };
    let tensors: Vec<Value> = ck
        .params
        .tensors()
        .iter()
        .map(|t| json!({"name": t.name, "shape": [t.value.rows(), t.value.cols()]}))
        .collect();
    say(g, format!("model:      {}", args.model.display()));
    say(
        g,
        format!(
            "kind:       {}{}",
            ck.model_kind,
            variant
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        ),
    );
    if let Some(s) = &m.status {
        say(g, format!("status:     {s}"));
    }
    say(
        g,
        format!(
            "layers:     {}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ),
    );
    say(g, format!("parameters: {}", ck.params.num_elements()));
    for t in ck.params.tensors() {
        say(
            g,
            format!("  {:<10} {} x {}", t.name, t.value.rows(), t.value.cols()),
        );
    }
    say(g, "hyper-parameters:");
    for line in ck.hyperparameters.lines() {
        say(g, format!("  {line}"));
    }
    say(g, format!("trainer:    {}", ck.trainer));
    say(
        g,
        format!(
            "trained:    {} epoch(s), {} optimiser step(s)",
            ck.history.len(),
            ck.step
        ),
    );
    if !ck.history.is_empty() {
        say(g, "history:");
        for h in &ck.history {
            let layer = h
                .metrics
                .iter()
                .find(|(k, _)| k == "layer")
                .map(|(_, l)| format!("layer {l} "))
                .unwrap_or_default();
            say(
                g,
                format!(
                    "  {layer}epoch {:>3}  loss {:.5}{}  {:.2} s",
                    h.epoch + 1,
                    h.train_loss,
                    h.valid_metric
                        .map(|v| format!("  valid {v:.5}"))
                        .unwrap_or_default(),
                    h.seconds
                ),
            );
        }
    }
    Ok(Report::json(json!({
        "command": "info",
        "model": args.model.display().to_string(),
        "kind": ck.model_kind,
        "variant": variant,
        "status": m.status,
        "sizes": sizes,
        "parameters": ck.params.num_elements(),
        "tensors": tensors,
        "hyperparameters": ck.hyperparameters,
        "preprocess": m.preprocess.describe(),
        "trainer": ck.trainer,
        "epochs": ck.history.len(),
        "steps": ck.step,
        "history": ck.history.iter().map(|h| json!({
            "epoch": h.epoch,
            "train_loss": json_f64(h.train_loss),
            "valid_metric": h.valid_metric.map(json_f64),
            "seconds": json_f64(h.seconds),
            "metrics": h.metrics.iter().map(|(k, v)| (k.clone(), json_f64(*v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------- encode

/// Flags of `latent encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The data to encode (IDX, NPY or CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Output: features, one row per sample (.npy or .csv).
    #[arg(long)]
    pub out: PathBuf,
    /// DBN: the layer whose features to write (1 = first hidden; default
    /// top); autoencoders give their code layer only.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub layer: Option<u32>,
}

/// `latent encode`: hidden probabilities `p(h|v)` (a DBN: the up-pass), an
/// autoencoder's code `h_L`, a VAE's posterior mean `μ(x)`.
pub fn encode(args: &EncodeArgs, g: &Global) -> Result<Report> {
    matrix_out("--out", &args.out)?;
    let mut m = modelfile::load(&args.model)?;
    let x = model_data(&m, &args.data)?;
    let codes = match &m.model {
        Model::Rbm(r) => {
            if let Some(l) = args.layer
                && l != 1
            {
                return Err(CliError::arg("--layer", l, "1 for an RBM"));
            }
            let mut out = Matrix::zeros(x.rows(), r.config().n_hidden)?;
            r.transform(x.view(), out.view_mut(), Par::All)?;
            out
        }
        Model::Dbn(d) => {
            let n = d.layers().len();
            let level = args.layer.map_or(n, |l| l as usize);
            if level > n {
                return Err(CliError::arg(
                    "--layer",
                    level,
                    format!("a hidden layer 1..={n} of this DBN"),
                ));
            }
            d.transform_to(&x, level, Par::All)?
        }
        Model::Ae(_) | Model::DeepAe(_) | Model::Vae(_) => {
            let depth = m.model.sizes().len() - 1;
            let top = if matches!(m.model, Model::Vae(_)) {
                "the latent layer (the posterior mean)"
            } else {
                "the code layer"
            };
            if let Some(l) = args.layer
                && l as usize != depth
            {
                return Err(CliError::arg(
                    "--layer",
                    l,
                    format!("{depth}, {top}: an autoencoder's encode writes that layer only"),
                ));
            }
            match &mut m.model {
                Model::Vae(vae) => {
                    let z = vae.latent();
                    by_blocks(&x, z, |b, o| {
                        let rows = b.rows();
                        Ok(vae.encode(b, MatMut::row_major(o, rows, z)?, Par::All)?)
                    })?
                }
                Model::Ae(a) | Model::DeepAe(a) => {
                    let h = a.code_size();
                    by_blocks(&x, h, |b, o| {
                        let rows = b.rows();
                        Ok(a.encode(b, MatMut::row_major(o, rows, h)?, Par::All)?)
                    })?
                }
                _ => unreachable!("matched above"),
            }
        }
    };
    write_matrix("--out", &args.out, &codes)?;
    say(
        g,
        format!(
            "encoded {} samples into {} features: {}",
            codes.rows(),
            codes.cols(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "encode",
        "out": args.out.display().to_string(),
        "shape": [codes.rows(), codes.cols()],
    })))
}

// ---------------------------------------------------------------- reconstruct

/// Flags of `latent reconstruct`.
#[derive(Debug, Args)]
pub struct ReconstructArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The data to reconstruct.
    #[arg(long)]
    pub data: PathBuf,
    /// Output: reconstructions (.npy or .csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A picture of samples beside their reconstructions (.png).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Samples in the picture.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Tile shape of the picture, HxW (default: square).
    #[arg(long)]
    pub tile: Option<String>,
}

/// Checks the `--out` (matrix) and `--png` (picture) paths of a command that
/// needs at least one of them, before any work is done.
fn check_outputs(out: Option<&Path>, png: Option<&Path>) -> Result<()> {
    if out.is_none() && png.is_none() {
        return Err(CliError::arg(
            "--out/--png",
            "(neither given)",
            "an output file (.npy/.csv) and/or a picture (.png)",
        ));
    }
    if let Some(o) = out {
        matrix_out("--out", o)?;
    }
    if let Some(p) = png {
        png_out("--png", p)?;
    }
    Ok(())
}

/// `latent reconstruct`: deterministic reconstructions (mean-field for
/// RBMs, `g(f(x))` for autoencoders, the decoder mean at `μ(x)` for a VAE),
/// and a picture.
pub fn reconstruct_cmd(args: &ReconstructArgs, g: &Global) -> Result<Report> {
    check_outputs(args.out.as_deref(), args.png.as_deref())?;
    let mut m = modelfile::load(&args.model)?;
    let tile = if args.png.is_some() {
        Some(image::tile_shape(
            m.model.n_visible(),
            args.tile.as_deref(),
        )?)
    } else {
        None
    };
    let x = model_data(&m, &args.data)?;
    let mut r = reconstruct(&mut m.model, &x)?;
    let mean = mean(&per_row_sq_err(&x, &r));
    if let (Some(p), Some((th, tw))) = (&args.png, tile) {
        let n = (args.count as usize).min(x.rows());
        let shade = shade_for(&m);
        image::save(
            p,
            &image::interleave(&x, &r, n)?,
            Grid {
                cols: 2 * ((n as f64).sqrt().ceil() as usize).max(1),
                ..Grid::auto(2 * n, th, tw, shade)
            },
        )?;
    }
    if let Some(o) = &args.out {
        m.preprocess.invert(&mut r)?;
        write_matrix("--out", o, &r)?;
    }
    say(
        g,
        format!(
            "reconstructed {} samples, mean squared error per sample {mean:.4}",
            x.rows()
        ),
    );
    Ok(Report::json(json!({
        "command": "reconstruct",
        "samples": x.rows(),
        "reconstruction_error": json_f64(mean),
        "out": args.out.as_ref().map(|p| p.display().to_string()),
        "png": args.png.as_ref().map(|p| p.display().to_string()),
    })))
}

/// Grey levels for the model's data: `[0, 1]` as black..white for binary
/// or scaled data, per-tile stretching for real-valued (standardised) data.
fn shade_for(m: &ModelFile) -> Shade {
    match (&m.preprocess, m.model.unit_outputs()) {
        (Preprocess::Standardize(_), _) => Shade::PerTile,
        (pre, unit) if unit || pre.maps_to_unit() => Shade::Unit,
        _ => Shade::PerTile,
    }
}

// ---------------------------------------------------------------- score

/// What `latent score` computes per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreKind {
    /// Free energy `F(v)` (RBM only): higher means less likely.
    FreeEnergy,
    /// Reconstruction error: squared error for RBMs, DBNs and VAEs (of the
    /// mean reconstruction); an autoencoder's own loss (cross-entropy or
    /// ½ squared error).
    Recon,
    /// Negative ELBO (VAE only), one latent sample per row.
    NegElbo,
}

/// Flags of `latent score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The data to score.
    #[arg(long)]
    pub data: PathBuf,
    /// Output: one score per sample (.npy or .csv).
    #[arg(long)]
    pub out: PathBuf,
    /// The score (default: free energy for an RBM, negative ELBO for a VAE,
    /// reconstruction error otherwise).
    #[arg(long, value_enum)]
    pub metric: Option<ScoreKind>,
    /// Seed of the VAE's latent samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `latent score`: a per-sample anomaly score.
pub fn score(args: &ScoreArgs, g: &Global) -> Result<Report> {
    matrix_out("--out", &args.out)?;
    let mut m = modelfile::load(&args.model)?;
    let x = model_data(&m, &args.data)?;
    let metric = args.metric.unwrap_or(match m.model {
        Model::Rbm(_) => ScoreKind::FreeEnergy,
        Model::Vae(_) => ScoreKind::NegElbo,
        _ => ScoreKind::Recon,
    });
    let kind = m.checkpoint.model_kind.clone();
    let scores = match (metric, &mut m.model) {
        (ScoreKind::FreeEnergy, Model::Rbm(r)) => {
            let mut f = vec![0.0f32; x.rows()];
            r.free_energy(x.view(), &mut f, Par::All)?;
            f
        }
        (ScoreKind::FreeEnergy, _) => {
            return Err(CliError::arg(
                "--metric",
                "free-energy",
                format!("recon for this {kind} model (free energy is defined for an RBM)"),
            ));
        }
        (ScoreKind::NegElbo, Model::Vae(vae)) => {
            let mut e = vec![0.0f32; x.rows()];
            vae.elbo_rows(&x, BLOCK, args.seed, &mut e, Par::All)?;
            e.iter_mut().for_each(|v| *v = -*v);
            e
        }
        (ScoreKind::NegElbo, _) => {
            return Err(CliError::arg(
                "--metric",
                "neg-elbo",
                format!("recon for this {kind} model (the ELBO is a VAE's)"),
            ));
        }
        (ScoreKind::Recon, Model::Ae(a) | Model::DeepAe(a)) => ae_losses(a, &x)?,
        (ScoreKind::Recon, model) => per_row_sq_err(&x, &reconstruct(model, &x)?),
    };
    let out = Matrix::from_slice(scores.len(), 1, &scores)?;
    write_matrix("--out", &args.out, &out)?;
    let mean = mean(&scores);
    let name = match metric {
        ScoreKind::FreeEnergy => "free-energy",
        ScoreKind::Recon => "recon",
        ScoreKind::NegElbo => "neg-elbo",
    };
    say(
        g,
        format!(
            "scored {} samples ({name}, mean {mean:.4}): {}",
            scores.len(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "score",
        "metric": name,
        "samples": scores.len(),
        "mean": json_f64(mean),
        "out": args.out.display().to_string(),
    })))
}

// ---------------------------------------------------------------- sample

/// Flags of `latent sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// Number of samples (independent chains).
    #[arg(long, short, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub n: u32,
    /// Gibbs steps per chain (in the top RBM for a DBN; a VAE decodes
    /// z ~ N(0, I) directly).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Seed of the chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output: the samples' visible means (.npy or .csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A picture of the samples (.png).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Tile shape of the picture, HxW (default: square).
    #[arg(long)]
    pub tile: Option<String>,
}

/// `latent sample`: Gibbs samples from an RBM or DBN, or a VAE's decoder
/// means at `z ~ N(0, I)`; an autoencoder has no prior to sample from.
pub fn sample(args: &SampleArgs, g: &Global) -> Result<Report> {
    check_outputs(args.out.as_deref(), args.png.as_deref())?;
    let mut m = modelfile::load(&args.model)?;
    if let Model::Ae(_) | Model::DeepAe(_) = m.model {
        return Err(CliError::unsupported(
            format!("latent sample {}", args.model.display()),
            format!(
                "{} models (autoencoders) have no prior over their codes to sample from; sample works with rbm, gaussian-rbm, dbn and vae models",
                m.checkpoint.model_kind
            ),
        ));
    }
    let tile = match &args.png {
        Some(_) => Some(image::tile_shape(
            m.model.n_visible(),
            args.tile.as_deref(),
        )?),
        None => None,
    };
    let (n, steps) = (args.n as usize, args.steps as usize);
    let mut s = match &mut m.model {
        Model::Rbm(r) => r.sample(n, steps, args.seed, Par::All)?,
        Model::Dbn(d) => d.generate(n, steps, args.seed, Par::All)?,
        Model::Vae(v) => v.sample(n, args.seed, Par::All)?,
        Model::Ae(_) | Model::DeepAe(_) => unreachable!("refused above"),
    };
    if let (Some(p), Some((th, tw))) = (&args.png, tile) {
        let shade = shade_for(&m);
        image::save(p, &s, Grid::auto(n, th, tw, shade))?;
    }
    if let Some(o) = &args.out {
        m.preprocess.invert(&mut s)?;
        write_matrix("--out", o, &s)?;
    }
    if let Model::Vae(_) = m.model {
        say(
            g,
            format!("drew {n} samples from the decoder at z ~ N(0, I)"),
        );
    } else {
        say(g, format!("drew {n} samples with {steps} Gibbs steps each"));
    }
    Ok(Report::json(json!({
        "command": "sample",
        "shape": [s.rows(), s.cols()],
        "out": args.out.as_ref().map(|p| p.display().to_string()),
        "png": args.png.as_ref().map(|p| p.display().to_string()),
    })))
}

// ---------------------------------------------------------------- eval

/// Flags of `latent eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The data to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    /// Estimate the log-likelihood by annealed importance sampling (RBM).
    #[arg(long)]
    pub ais: bool,
    /// AIS: independent runs.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..))]
    pub ais_runs: u32,
    /// AIS: intermediate temperatures (split 500:4000:10000 over [0,.5], [.5,.9], [.9,1]).
    #[arg(long, default_value_t = 14500, value_parser = clap::value_parser!(u32).range(3..))]
    pub ais_steps: u32,
    /// VAE: importance samples per image for the log-likelihood estimate.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub iw_samples: u32,
    /// Seed of the stochastic estimates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `latent eval`: reconstruction error; for an RBM the
/// pseudo-log-likelihood and the exact (small models) or AIS
/// log-likelihood; for a VAE the ELBO and the importance-weighted
/// log-likelihood bound.
pub fn eval(args: &EvalArgs, g: &Global) -> Result<Report> {
    let mut m = modelfile::load(&args.model)?;
    if args.ais && !matches!(m.model, Model::Rbm(_)) {
        return Err(CliError::unsupported(
            format!("--ais with a {} model", m.checkpoint.model_kind),
            format!(
                "AIS estimates an RBM's partition function{}",
                if matches!(m.model, Model::Vae(_)) {
                    "; a VAE's log-likelihood is estimated by importance sampling (--iw-samples)"
                } else {
                    ""
                }
            ),
        ));
    }
    let x = model_data(&m, &args.data)?;
    let r = reconstruct(&mut m.model, &x)?;
    let sq = mean(&per_row_sq_err(&x, &r));
    say(g, format!("samples:                  {}", x.rows()));
    let rbm = match &mut m.model {
        Model::Rbm(r) => r,
        Model::Dbn(_) => {
            say(
                g,
                format!("reconstruction error:     {sq:.5} (mean-field, per sample)"),
            );
            return Ok(Report::json(json!({
                "command": "eval",
                "samples": x.rows(),
                "reconstruction_error": json_f64(sq),
            })));
        }
        Model::Ae(a) | Model::DeepAe(a) => {
            let loss = a.config().loss;
            let recon = mean(&ae_losses(a, &x)?);
            say(
                g,
                format!(
                    "reconstruction error:     {recon:.5} ({} per sample)",
                    loss.name()
                ),
            );
            if loss != Loss::SquaredError {
                say(g, format!("squared error:            {sq:.5} (per sample)"));
            }
            return Ok(Report::json(json!({
                "command": "eval",
                "samples": x.rows(),
                "loss": loss.name(),
                "reconstruction_error": json_f64(recon),
                "squared_error": json_f64(sq),
            })));
        }
        Model::Vae(vae) => {
            let elbo = vae.elbo(&x, BLOCK, args.seed, Par::All)?;
            let k = args.iw_samples as usize;
            let ll = vae.log_likelihood_iw(&x, k, BLOCK.min(200), args.seed, Par::All)?;
            say(
                g,
                format!(
                    "reconstruction error:     {sq:.5} (squared, of the mean reconstruction, per sample)"
                ),
            );
            say(
                g,
                format!("ELBO:                     {elbo:.5} per sample (one z sample each)"),
            );
            say(
                g,
                format!(
                    "log-likelihood (IW):      {ll:.5} per sample (importance-weighted bound, {k} samples each)"
                ),
            );
            return Ok(Report::json(json!({
                "command": "eval",
                "samples": x.rows(),
                "reconstruction_error": json_f64(sq),
                "elbo": json_f64(elbo),
                "log_likelihood_iw": json_f64(ll),
                "iw_samples": k,
            })));
        }
    };
    let rbm: &Rbm = rbm;
    say(
        g,
        format!("reconstruction error:     {sq:.5} (mean-field, per sample)"),
    );
    let mut out = json!({
        "command": "eval",
        "samples": x.rows(),
        "reconstruction_error": json_f64(sq),
    });
    let bernoulli = rbm.config().visible == VisibleUnits::Bernoulli;
    if bernoulli {
        let mut pll = vec![0.0f32; x.rows()];
        pseudo_log_likelihood(
            &rbm_params(rbm),
            x.as_slice(),
            args.seed,
            &mut pll,
            Par::All,
        )?;
        let pll = pll.iter().map(|&v| v as f64).sum::<f64>() / x.rows() as f64;
        say(g, format!("pseudo-log-likelihood:    {pll:.5}"));
        out["pseudo_log_likelihood"] = json_f64(pll);
    }
    let (v, h) = (rbm.config().n_visible, rbm.config().n_hidden);
    let small = if bernoulli { v.min(h) } else { h };
    if small <= MAX_EXACT_UNITS {
        let (log_z, ll) = with_params(rbm, |p| {
            let z = exact_log_z(p, Par::All)?;
            Ok((z, average_log_likelihood(p, x.as_slice(), z, Par::All)?))
        })?;
        say(g, format!("log Z (exact):            {log_z:.5}"));
        say(g, format!("log-likelihood (exact):   {ll:.5} per sample"));
        out["log_z_exact"] = json_f64(log_z);
        out["log_likelihood_exact"] = json_f64(ll);
    } else if !args.ais {
        say(
            g,
            format!(
                "log-likelihood:           not computed ({small} units on the smaller side > {MAX_EXACT_UNITS}; pass --ais)"
            ),
        );
    }
    if args.ais {
        let k = args.ais_steps as usize;
        let (a, b) = ((k * 500 / 14500).max(1), (k * 4000 / 14500).max(1));
        let c = k.saturating_sub(a + b).max(1);
        let cfg = AisConfig {
            betas: piecewise_linear_betas(&[(0.5, a), (0.9, b), (1.0, c)]),
            n_runs: args.ais_runs as usize,
            seed: args.seed,
            ..AisConfig::default()
        };
        let (est, ll, lo, hi) = with_params(rbm, |p| {
            let base = match rbm.config().visible {
                VisibleUnits::Bernoulli => base_rate_visible_bias(p, x.as_slice())?,
                VisibleUnits::Gaussian => rbm.visible_bias().to_vec(),
            };
            let est = ais_log_z(p, &base, &cfg, Par::All)?;
            let ll = average_log_likelihood(p, x.as_slice(), est.log_z, Par::All)?;
            let lo = average_log_likelihood(p, x.as_slice(), est.log_z_plus_3sd, Par::All)?;
            let hi = average_log_likelihood(p, x.as_slice(), est.log_z_minus_3sd, Par::All)?;
            Ok((est, ll, lo, hi))
        })?;
        say(
            g,
            format!(
                "log Z (AIS):              {:.5} (±3σ [{:.5}, {:.5}], {} runs x {} temperatures)",
                est.log_z,
                est.log_z_minus_3sd,
                est.log_z_plus_3sd,
                cfg.n_runs,
                cfg.betas.len()
            ),
        );
        say(
            g,
            format!("log-likelihood (AIS):     {ll:.5} per sample (±3σ [{lo:.5}, {hi:.5}])"),
        );
        out["log_z_ais"] = json_f64(est.log_z);
        out["log_z_ais_minus_3sd"] = json_f64(est.log_z_minus_3sd);
        out["log_z_ais_plus_3sd"] = json_f64(est.log_z_plus_3sd);
        out["log_likelihood_ais"] = json_f64(ll);
    }
    Ok(Report::json(out))
}

// ---------------------------------------------------------------- filters

/// Flags of `latent filters`.
#[derive(Debug, Args)]
pub struct FiltersArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Tile shape, HxW (default: square, e.g. 28x28 for 784 visibles).
    #[arg(long)]
    pub tile: Option<String>,
    /// At most this many filters.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub max: u32,
    /// Tiles per row (default: about square).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub cols: Option<u32>,
}

/// `latent filters`: the first layer's weight vectors (an RBM's, or an
/// autoencoder's first encoder layer) as a grid of tiles.
pub fn filters(args: &FiltersArgs, g: &Global) -> Result<Report> {
    png_out("--out", &args.out)?;
    let m = modelfile::load(&args.model)?;
    let w = m.model.first_weights();
    let (th, tw) = image::tile_shape(w.rows(), args.tile.as_deref())?;
    let tiles = image::filters_as_rows(w, args.max as usize)?;
    let mut grid = Grid::auto(tiles.rows(), th, tw, Shade::PerTile);
    if let Some(c) = args.cols {
        grid.cols = c as usize;
    }
    image::save(&args.out, &tiles, grid)?;
    say(
        g,
        format!(
            "drew {} filters of {th}x{tw}: {}",
            tiles.rows(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "filters",
        "filters": tiles.rows(),
        "tile": [th, tw],
        "out": args.out.display().to_string(),
    })))
}

// ---------------------------------------------------------------- export

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One `.npy` file per tensor.
    Npy,
    /// One `model.safetensors` file with every tensor.
    Safetensors,
}

/// Flags of `latent export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Npy)]
    pub format: ExportFormat,
}

/// `latent export`: the parameters (and standardisation statistics) as NPY
/// files or one safetensors file, for numpy and PyTorch.
pub fn export(args: &ExportArgs, g: &Global) -> Result<Report> {
    let m = modelfile::load(&args.model)?;
    io::create_dir(&args.out)?;
    let ck = &m.checkpoint;
    let tensors: Vec<(&str, &Matrix)> = ck
        .params
        .tensors()
        .iter()
        .chain(
            ck.persistent
                .iter()
                .filter(|t| t.name.starts_with("preprocess.")),
        )
        .map(|t| (t.name.as_str(), &t.value))
        .collect();
    let mut files = Vec::new();
    match args.format {
        ExportFormat::Npy => {
            for (name, value) in &tensors {
                let p = args.out.join(format!("{name}.npy"));
                npy::write_matrix(&p, value)?;
                files.push(p.display().to_string());
            }
        }
        ExportFormat::Safetensors => {
            let p = args.out.join("model.safetensors");
            write_atomic(&p, &safetensors(&tensors, ck)?)?;
            files.push(p.display().to_string());
        }
    }
    say(
        g,
        format!(
            "exported {} tensor(s) to {}",
            tensors.len(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "export",
        "files": files,
    })))
}

/// The safetensors format: a little-endian `u64` header length, a JSON
/// header (`dtype`, `shape`, `data_offsets` per tensor, and string
/// metadata), then the raw little-endian `f32` data.
fn safetensors(tensors: &[(&str, &Matrix)], ck: &latent_engine::Checkpoint) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"kind": ck.model_kind, "hyperparameters": ck.hyperparameters}),
    );
    let mut data = Vec::new();
    for (name, value) in tensors {
        let start = data.len();
        for v in value.as_slice() {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            (*name).to_string(),
            json!({"dtype": "F32", "shape": [value.rows(), value.cols()], "data_offsets": [start, data.len()]}),
        );
    }
    let mut text = Value::Object(header).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + data.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&data);
    Ok(out)
}
