//! The memory a training run will allocate, estimated from the shapes and
//! flags before the model is built and checked against the memory the
//! process may use ([`fsutil::check_memory`]: `MemAvailable` or the cgroup
//! limit), so that a run that cannot fit is refused at once, naming the
//! flag, instead of dying or thrashing epochs later.
//!
//! An upper estimate, in `f32` values (4 bytes), of what is counted:
//! - the parameters `P`: every weight matrix and bias (an autoencoder's
//!   decoder counted untied, a VAE's mean and log-variance heads, a DBN's
//!   and a deep autoencoder's every layer at once);
//! - their gradients (`P`) and the optimiser's state (`P` for SGD's
//!   velocity, `2P` for Adam's moments);
//! - the serialised copy of parameters and optimiser state a checkpoint
//!   write makes;
//! - the minibatch workspace: 8 values per unit of every layer per row
//!   (activations, samples, means, deltas, noise, persistent chains);
//! - for layer-wise training (`dbn`, `deep-ae`), the data propagated
//!   through the layers: two matrices of (training + validation) rows by
//!   the widest hidden layer.
//!
//! Not counted: the data as loaded (already in memory, so no longer among
//! what is available), the model file read for `--resume`, and small
//! per-epoch bookkeeping.

use latent_engine::fsutil;
use latent_models::train::{Optimizer, Settings};

use super::args::{TrainArgs, dashed};
use super::data::TrainData;
use crate::cli::error::Result;

/// The layer sizes of a model to train, visible first.
#[derive(Debug, Clone, Copy)]
pub enum Net<'a> {
    /// An RBM (`[V, H]`) or a DBN (`[V, H1, …]`), trained layer by layer
    /// when it has more than one hidden layer.
    Rbms(&'a [usize]),
    /// A one-stage autoencoder: encoder `sizes`, the decoder mirrored.
    Ae(&'a [usize]),
    /// A VAE: encoder `sizes`, mean and log-variance heads of `latent`
    /// units, the decoder mirrored.
    Vae(&'a [usize], usize),
    /// A deep autoencoder: pretrained layer by layer, then fine-tuned
    /// unrolled.
    DeepAe(&'a [usize]),
    /// A deep Boltzmann machine, trained jointly (every layer at once).
    Dbm(&'a [usize]),
}

impl Net<'_> {
    /// The weight matrices' shapes (fan-in, fan-out), each with its bias.
    fn layers(&self) -> Vec<(usize, usize)> {
        let pairs = |s: &[usize]| s.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>();
        match *self {
            Net::Rbms(s) | Net::Dbm(s) => pairs(s),
            Net::Ae(s) | Net::DeepAe(s) => {
                let mut l = pairs(s);
                l.extend(pairs(s).iter().rev().map(|&(a, b)| (b, a)));
                l
            }
            Net::Vae(s, latent) => {
                let top = *s.last().unwrap_or(&0);
                let mut l = pairs(s);
                l.extend([(top, latent), (top, latent), (latent, top)]);
                l.extend(pairs(s).iter().rev().map(|&(a, b)| (b, a)));
                l
            }
        }
    }

    /// Whether the data is propagated through trained layers.
    fn layer_wise(&self) -> bool {
        match *self {
            Net::Rbms(s) => s.len() > 2,
            Net::DeepAe(_) => true,
            Net::Ae(_) | Net::Vae(..) | Net::Dbm(_) => false,
        }
    }

    /// The widest hidden layer (the data propagated through the layers).
    fn widest_hidden(&self) -> usize {
        match *self {
            Net::Rbms(s) | Net::Ae(s) | Net::Vae(s, _) | Net::DeepAe(s) | Net::Dbm(s) => {
                s.iter().skip(1).copied().max().unwrap_or(0)
            }
        }
    }

    /// The sizes, dashed (`784-500-250`; a VAE's latent last).
    fn label(&self) -> String {
        match *self {
            Net::Rbms(s) | Net::Ae(s) | Net::DeepAe(s) | Net::Dbm(s) => dashed(s),
            Net::Vae(s, latent) => format!("{}-{latent}", dashed(s)),
        }
    }
}

/// The estimate of a run's memory, in bytes (the module comment says what
/// it counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Everything counted.
    pub total: u128,
    /// The part that grows with the minibatch (`--batch`).
    pub batch: u128,
}

/// Estimates the memory of training `net` with `optimizer` on minibatches
/// of `batch` rows, `rows` training and validation samples in all.
pub fn estimate(net: &Net, optimizer: Optimizer, batch: usize, rows: usize) -> Estimate {
    let layers = net.layers();
    let params: u128 = layers
        .iter()
        .map(|&(a, b)| a as u128 * b as u128 + a as u128 + b as u128)
        .sum();
    let state = match optimizer {
        Optimizer::Sgd => params,
        Optimizer::Adam => 2 * params,
    };
    // Parameters, gradients, optimiser state, a checkpoint's copy of both.
    let model = params + params + state + (params + state);
    let units: u128 = layers.iter().map(|&(a, b)| a as u128 + b as u128).sum();
    let batch_values = 8 * batch.min(rows) as u128 * units;
    let propagated = if net.layer_wise() {
        2 * rows as u128 * net.widest_hidden() as u128
    } else {
        0
    };
    Estimate {
        total: 4 * (model + batch_values + propagated),
        batch: 4 * batch_values,
    }
}

/// Refuses, before anything is built, a run of `kind` whose [`estimate`]
/// exceeds the memory available: the error names `size_flag` (e.g.
/// `--hidden 2000000`), or `--batch` where only the minibatch workspace
/// does not fit, and the bytes needed and available.
pub fn check_fits(
    kind: &str,
    net: Net,
    size_flag: &str,
    settings: &Settings,
    rows: usize,
) -> Result<()> {
    let e = estimate(&net, settings.optimizer, settings.batch, rows);
    let flag = culprit(&e, size_flag, settings.batch, fsutil::available_memory());
    let what = || format!("{flag}: training {kind} {}", net.label());
    Ok(fsutil::check_memory(what, e.total)?)
}

/// The flag to name where the estimate `e` exceeds the `available`
/// memory: `--batch` where the model without its minibatch workspace would
/// fit (a smaller batch can run), else `size_flag`.
fn culprit(e: &Estimate, size_flag: &str, batch: usize, available: Option<u64>) -> String {
    match available {
        Some(a) if e.total - e.batch <= u128::from(a) => format!("--batch {batch}"),
        _ => size_flag.to_string(),
    }
}

/// [`check_fits`] for a run of `args` on `data`: the flag named is the one
/// that gave the sizes (`--layers`, `--hidden`, else `--resume`'s model).
pub fn check_run(args: &TrainArgs, settings: &Settings, data: &TrainData, net: Net) -> Result<()> {
    let mut flag = match (&args.layers, args.hidden, &args.resume) {
        (Some(l), _, _) => format!("--layers {l}"),
        (None, Some(h), _) => format!("--hidden {h}"),
        (None, None, Some(r)) => format!("--resume {}", r.display()),
        (None, None, None) => "the sizes".into(),
    };
    if let (Net::Vae(..), Some(l)) = (net, args.latent) {
        flag.push_str(&format!(" --latent {l}"));
    }
    let rows = data.rows() + data.valid.as_ref().map_or(0, |v| v.x.rows());
    check_fits(args.model.name(), net, &flag, settings, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rbm_counts_weights_gradients_velocity_checkpoint_and_batch() {
        // 784 x 500 + 784 + 500 = 393284 parameters; SGD: 5 copies (the
        // parameters, gradients, velocity, and the checkpoint's copy of the
        // parameters and velocity); 100 rows x 8 x 1284 units of workspace.
        let e = estimate(&Net::Rbms(&[784, 500]), Optimizer::Sgd, 100, 60000);
        assert_eq!(e.batch, 4 * 8 * 100 * 1284);
        assert_eq!(e.total, 4 * (5 * 393_284) + e.batch);
        assert_eq!(culprit(&e, "--hidden 500", 100, Some(1000)), "--hidden 500");
        assert_eq!(culprit(&e, "--hidden 500", 100, None), "--hidden 500");
        // Adam keeps two moments: 7 copies. A batch above the data is the data.
        let a = estimate(&Net::Rbms(&[784, 500]), Optimizer::Adam, 1000, 100);
        assert_eq!(a.total, 4 * (7 * 393_284) + 4 * 8 * 100 * 1284);
        // Where the model fits without its workspace, --batch is named.
        let b = estimate(&Net::Rbms(&[10, 10]), Optimizer::Sgd, 1 << 40, 1 << 41);
        let named = culprit(&b, "--hidden 10", 1 << 40, Some(1 << 30));
        assert_eq!(named, "--batch 1099511627776");
    }

    #[test]
    fn the_readme_runs_fit_in_a_gigabyte_and_two_million_hidden_units_do_not() {
        let mnist = 60_000;
        let runs = [
            estimate(&Net::Rbms(&[784, 200]), Optimizer::Sgd, 100, mnist),
            estimate(&Net::Rbms(&[784, 500, 250]), Optimizer::Sgd, 100, mnist),
            estimate(&Net::Ae(&[784, 256, 64]), Optimizer::Adam, 100, mnist),
            estimate(&Net::Vae(&[784, 256], 20), Optimizer::Adam, 100, mnist),
            estimate(
                &Net::DeepAe(&[784, 256, 64, 16]),
                Optimizer::Adam,
                100,
                mnist,
            ),
        ];
        for e in runs {
            assert!(e.total < 1 << 30, "{e:?}");
        }
        // The run: 6.3 GB per matrix, about 31 GB in all with SGD,
        // more than a 24 GB machine has.
        let big = estimate(&Net::Rbms(&[784, 2_000_000]), Optimizer::Sgd, 100, mnist);
        assert!(big.total > 31_000_000_000, "{big:?}");
    }

    #[test]
    fn autoencoders_count_their_decoders_and_heads() {
        let ae = estimate(&Net::Ae(&[10, 4]), Optimizer::Sgd, 1, 1);
        // Encoder 10x4 + 14 biases, decoder 4x10 + 14: 108 parameters.
        assert_eq!(ae.total, 4 * (5 * 108 + 8 * 28));
        let vae = estimate(&Net::Vae(&[10, 4], 2), Optimizer::Sgd, 1, 1);
        // Plus two 4x2 heads and a 2x4 decoder layer: 108 + 3 * 14.
        assert_eq!(vae.total, 4 * (5 * 150 + 8 * (28 + 18)));
    }
}
