//! The autoencoders' flags: sizes, loss, activations and regularisers, and
//! the configurations they describe.

use std::path::Path;

use latent_kernels::activation::Activation;
use latent_models::ModelError;
use latent_models::ae::{AeConfig, CodeNoise, Loss, parse_activations};

use super::args::{Kind, LossArg, TrainArgs, parse_layers};
use super::data::TrainData;
use crate::cli::error::{CliError, Result};

/// A library configuration error as an error of the flag that set it.
pub fn flag_err(flag: &'static str) -> impl Fn(ModelError) -> CliError {
    move |e| match e {
        ModelError::InvalidConfig {
            value, expected, ..
        } => CliError::arg(flag, value, expected),
        other => CliError::from(other),
    }
}

/// The encoder sizes from `--layers` (visible first, as wide as the data)
/// or `--hidden` (`[V, H]`); `None` when neither is given.
pub fn flag_sizes(args: &TrainArgs, data: &TrainData, min: usize) -> Result<Option<Vec<usize>>> {
    let v = data.train.x.cols();
    match (&args.layers, args.hidden) {
        (Some(_), Some(_)) => Err(CliError::unsupported(
            "--hidden with --layers",
            "give the sizes once: --layers V,H1,… (or --hidden H for one layer)",
        )),
        (Some(s), None) => {
            let sizes = parse_layers(s, min)?;
            if sizes[0] != v {
                return Err(CliError::mismatch(
                    format!(
                        "--layers {s}: the first (visible) size vs the features per sample of {}",
                        args.data.display()
                    ),
                    v,
                    sizes[0],
                ));
            }
            Ok(Some(sizes))
        }
        (None, Some(h)) => Ok(Some(vec![v, h as usize])),
        (None, None) => Ok(None),
    }
}

pub fn missing_sizes(kind: Kind) -> CliError {
    CliError::arg(
        "--layers",
        "(missing)",
        match kind {
            Kind::Vae => {
                "the input and hidden layer sizes, e.g. --layers 784,256 (or --hidden 256)"
            }
            Kind::DeepAe => "the layer sizes, visible first, e.g. --layers 784,256,64,16",
            _ => "the layer sizes, visible first, e.g. --layers 784,256,64 (or --hidden 64)",
        },
    )
}

/// The loss: `--loss`, else the resumed model's, else cross-entropy for
/// data in `[0, 1]` and squared error otherwise; cross-entropy needs
/// targets in `[0, 1]`.
pub fn choose_loss(args: &TrainArgs, data: &TrainData, stored: Option<Loss>) -> Result<Loss> {
    let loss = match (args.loss, stored) {
        (Some(LossArg::Bce), _) => Loss::CrossEntropy,
        (Some(LossArg::Mse), _) => Loss::SquaredError,
        (None, Some(l)) => l,
        (None, None) if data.in_unit() => Loss::CrossEntropy,
        (None, None) => Loss::SquaredError,
    };
    if loss == Loss::CrossEntropy && !data.in_unit() {
        return Err(CliError::mismatch(
            format!(
                "{}: value range for a cross-entropy loss (targets in [0, 1])",
                args.data.display()
            ),
            "[0, 1] (pass --scale, or --loss mse)",
            format!("[{}, {}]", data.range.0, data.range.1),
        ));
    }
    Ok(loss)
}

/// `--activation`: one name for every layer, or one per layer.
pub fn activations(
    args: &TrainArgs,
    depth: usize,
    stored: Option<&[Activation]>,
    default: Activation,
) -> Result<Vec<Activation>> {
    let Some(text) = &args.activation else {
        return Ok(match stored {
            Some(a) if a.len() == depth => a.to_vec(),
            _ => vec![default; depth],
        });
    };
    let acts = parse_activations(text).map_err(flag_err("--activation"))?;
    match acts.len() {
        1 => Ok(vec![acts[0]; depth]),
        n if n == depth => Ok(acts),
        _ => Err(CliError::arg(
            "--activation",
            text,
            format!("one activation, or one per encoder layer ({depth})"),
        )),
    }
}

/// The regularisers of the flags on top of `c` (sparsity, noise,
/// contractive, tying).
pub fn regularise(args: &TrainArgs, mut c: AeConfig) -> Result<AeConfig> {
    c.tied |= args.tied;
    if let Some(s) = &args.sparsity {
        c.sparsity = s.parse().map_err(flag_err("--sparsity"))?;
    }
    if let Some(s) = &args.noise {
        c.noise = s.parse().map_err(flag_err("--noise"))?;
    }
    if let Some(l) = args.contractive {
        c.contractive = Some(l);
    }
    Ok(c)
}

/// The autoencoder the flags describe, on top of `base` (the resumed
/// model's configuration) when given.
pub fn ae_config(
    args: &TrainArgs,
    sizes: Vec<usize>,
    loss: Loss,
    base: Option<&AeConfig>,
) -> Result<AeConfig> {
    let depth = sizes.len() - 1;
    let acts = activations(
        args,
        depth,
        base.map(|b| b.activations.as_slice()),
        Activation::Sigmoid,
    )?;
    let mut c = base
        .cloned()
        .unwrap_or_else(|| AeConfig::new(&sizes, Activation::Sigmoid));
    c.sizes = sizes;
    c.activations = acts;
    c.loss = loss;
    let mut c = regularise(args, c)?;
    c.code_noise = code_noise(args, c.code_noise);
    c.validate()?;
    Ok(c)
}

/// `--code-noise`: its standard deviation, drawn from the resumed model's
/// noise seed when it has one, else from `--seed` (the run's seed, 0 by
/// default); `stored` when the flag is absent.
pub fn code_noise(args: &TrainArgs, stored: Option<CodeNoise>) -> Option<CodeNoise> {
    match args.code_noise {
        Some(std) => Some(CodeNoise {
            std,
            seed: stored.map_or(args.seed.unwrap_or(0), |n| n.seed),
        }),
        None => stored,
    }
}

pub fn resume_path(args: &TrainArgs) -> &Path {
    args.resume.as_deref().unwrap_or(Path::new(""))
}
