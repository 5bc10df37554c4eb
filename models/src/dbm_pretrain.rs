//! Greedy layer-wise pretraining of a deep Boltzmann machine (MODELS.md 3;
//! Salakhutdinov & Hinton 2009, "Deep Boltzmann Machines", AISTATS, the
//! section on greedy layerwise pretraining; Salakhutdinov & Larochelle
//! 2010): a stack of RBMs trained one after the other, each on the hidden
//! probabilities of the one below, then composed into the DBM's weights and
//! biases.
//!
//! For sizes `[n0, n1, …, nL]` (L ≥ 2) RBM `l` (1-based) joins layers
//! `l − 1` and `l`:
//! - RBM 1 has its visible input doubled on the way up
//!   ([`DoubledInput::BottomUp`]: `p(h¹|v) = σ(2vᵀW + c)`, `p(v|h¹)` as
//!   usual); RBM L its top-down input doubled ([`DoubledInput::TopDown`]:
//!   `p(hᴸ⁻¹|hᴸ) = σ(2Wh + b)`); the RBMs between are ordinary.
//! - RBM `l + 1` is trained on RBM `l`'s own posteriors `p(hˡ | hˡ⁻¹)` of
//!   the data (probabilities, not samples; RBM 1's with its doubled input),
//!   as the paper's code does, through [`Dbn::pretrain`]: the DBN's
//!   layer-by-layer loop (each RBM through the engine's
//!   [`Trainer`](latent_engine::train::Trainer), its visible biases first
//!   set from its input) run on the modified RBMs.
//!
//! Composing ([`PretrainedDbm::compose`]): in the DBM a hidden layer `l <
//! L` gets input from below and from above, where each RBM gave it all its
//! input from one side. The paper's modified RBMs make each side's input
//! half of the whole: RBM 1's doubled `2W¹ᵀv` stands for `W¹ᵀv` plus the
//! top-down input h¹ will get from h², and so on. So the DBM's total input
//! to every interior layer is the **average** of the total inputs its two
//! RBMs give it, and to the visible and top layers the one RBM's:
//! - `W¹` = RBM 1's weights and `Wᴸ` = RBM L's, as they are (their doubling
//!   already made them half-strength: `½·2W = W`); the weights of the
//!   middle RBMs (1 < l < L) are halved, "in both directions" as the paper
//!   says (`½·W`); for L = 2 nothing is halved;
//! - `b⁰` = RBM 1's visible bias, `bᴸ` = RBM L's hidden bias, and for
//!   `0 < l < L`, `bˡ = ½(c of RBM l + b of RBM l + 1)`: the average of the
//!   two biases the layer had. The paper's models have no biases; this is
//!   the same averaging applied to them, and it makes the DBM's conditional
//!   of every interior layer exactly `σ(½(input from RBM l) + ½(input from
//!   RBM l + 1))`, which the tests check.

use latent_engine::train::{FitSummary, Observer, Threads, TrainConfig};
use latent_engine::{Dataset, Matrix};
use latent_kernels::Par;

use crate::dbn::{Dbn, Propagate};
use crate::error::{ModelError, Result};
use crate::persist::Kind;
use crate::rbm::{DoubledInput, Rbm, RbmConfig, VisibleUnits};
use crate::train::Settings;

/// How one RBM of the stack is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerPlan {
    /// The RBM's training options (`cd_k`, `persistent`, `sample_visible`,
    /// `init_std`, `sparsity`). Its sizes, visible units and doubled input
    /// are the stack's ([`stack_configs`]); `learn_sigma` must be false.
    pub rbm: RbmConfig,
    /// Epochs, optimiser, learning rate, weight decay, momentum, batch,
    /// seed and precision. RBM `l` (0-based) is initialised from
    /// `seed + l` and trained with the streams of `seed`, as a DBN's layers.
    pub settings: Settings,
}

impl LayerPlan {
    /// CD-1 with Hinton's defaults, and the defaults of a run of an RBM
    /// with `visible` units ([`Settings::defaults`]: SGD with Hinton's
    /// momentum, lr 0.1 for binary visibles and 0.001 for Gaussian ones,
    /// weight decay 1e-4, 10 epochs of batches of 100, seed 0).
    pub fn defaults(visible: VisibleUnits) -> Self {
        let (rbm, kind) = match visible {
            VisibleUnits::Bernoulli => (RbmConfig::bernoulli(1, 1), Kind::Rbm),
            VisibleUnits::Gaussian => (RbmConfig::gaussian(1, 1), Kind::GaussianRbm),
        };
        LayerPlan {
            rbm,
            settings: Settings::defaults(kind),
        }
    }
}

/// A DBM's parameters after greedy pretraining, in the shared convention:
/// `E = −Σ_l hˡ⁻¹ᵀ Wˡ hˡ − Σ_l bˡᵀ hˡ` with `h⁰ = v`.
#[derive(Debug)]
pub struct PretrainedDbm {
    /// Layer sizes `[n0, n1, …, nL]`, visible first.
    pub sizes: Vec<usize>,
    /// The visible units' kind (layers above are Bernoulli).
    pub visible: VisibleUnits,
    /// `W¹ … Wᴸ`: `weights[l − 1]` is `n_{l−1} x n_l`, row-major.
    pub weights: Vec<Matrix>,
    /// `b⁰ … bᴸ`: `biases[l]` has `n_l` entries.
    pub biases: Vec<Vec<f32>>,
    /// The trained RBMs, bottom first (RBM 1 doubled bottom-up, RBM L
    /// doubled top-down).
    pub rbms: Vec<Rbm>,
    /// What each RBM's training did, bottom first (empty when composed
    /// from given RBMs).
    pub summaries: Vec<FitSummary>,
}

/// The configurations of the stack's RBMs for `sizes` (`[n0, …, nL]`,
/// L ≥ 2) with `visible` units at the bottom: RBM `l` (0-based) is
/// `layers[l]`'s (or `layers[0]`'s when one plan is given for all) at
/// sizes `n_l x n_{l+1}`, with `visible` units for `l = 0` and Bernoulli
/// above, doubled bottom-up for `l = 0`, top-down for `l = L − 1`.
pub fn stack_configs(
    sizes: &[usize],
    visible: VisibleUnits,
    layers: &[LayerPlan],
) -> Result<Vec<RbmConfig>> {
    let rbms = check_sizes(sizes)?;
    if layers.len() != 1 && layers.len() != rbms {
        return Err(ModelError::Shape {
            what: format!("pretrain_dbm: layer plans for sizes {sizes:?} (one, or one per RBM)"),
            expected: rbms,
            found: layers.len(),
        });
    }
    (0..rbms)
        .map(|l| {
            let doubled = match l {
                0 => DoubledInput::BottomUp,
                l if l + 1 == rbms => DoubledInput::TopDown,
                _ => DoubledInput::None,
            };
            let config = RbmConfig {
                visible: if l == 0 {
                    visible
                } else {
                    VisibleUnits::Bernoulli
                },
                n_visible: sizes[l],
                n_hidden: sizes[l + 1],
                doubled,
                ..plan_of(layers, l).rbm
            };
            config.validate().map(|()| config)
        })
        .collect()
}

/// The plan of RBM `l`: its own, or the one plan given for all.
fn plan_of(layers: &[LayerPlan], l: usize) -> &LayerPlan {
    &layers[l.min(layers.len() - 1)]
}

/// The number of RBMs (L) of `sizes`, at least 2, every size at least 1.
fn check_sizes(sizes: &[usize]) -> Result<usize> {
    if sizes.len() < 3 || sizes.contains(&0) {
        return Err(ModelError::InvalidConfig {
            what: "DBM layer sizes",
            value: format!("{sizes:?}"),
            expected: "at least three sizes of at least 1: visible and two or more hidden layers",
        });
    }
    Ok(sizes.len() - 1)
}

/// The trainer's configuration of a layer: its settings' ([`Settings::train_config`])
/// with the threads of `par` (one for [`Par::Seq`], a pool of `n` for
/// `Par::Rayon(n)`, the caller's pool for [`Par::All`]).
fn train_config(settings: &Settings, par: Par) -> TrainConfig {
    let mut config = settings.train_config();
    config.threads = match par {
        Par::Seq => Threads::Count(1),
        Par::Rayon(n) if n > 0 => Threads::Count(n),
        _ => Threads::CallerPool,
    };
    config
}

/// Pretrains a DBM of `sizes` (`[n0, …, nL]`, L ≥ 2) with `visible` units
/// at the bottom on the rows of `data` (`n0` columns): the modified RBMs of
/// [`stack_configs`], each with its [`LayerPlan`] (one for all, or one per
/// RBM), trained greedily bottom first with `par`'s threads, then composed
/// ([`PretrainedDbm::compose`]). The results depend on the seeds only, not
/// on the threads. `observer` sees every RBM's batches and epochs in turn.
/// Errors name the RBM (0-based layer) whose training failed.
pub fn pretrain_dbm(
    sizes: &[usize],
    visible: VisibleUnits,
    layers: &[LayerPlan],
    data: &Dataset,
    par: Par,
    observer: &mut (dyn Observer + Send),
) -> Result<PretrainedDbm> {
    let configs = stack_configs(sizes, visible, layers)?;
    let rbms = configs
        .iter()
        .enumerate()
        .map(|(l, config)| {
            let settings = &plan_of(layers, l).settings;
            let mut rbm = Rbm::new(*config, settings.seed.wrapping_add(l as u64))?;
            rbm.set_precision(settings.precision);
            Ok(rbm)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stack = Dbn::from_rbms(rbms)?;
    let config_for = |l: usize, _: &RbmConfig| train_config(&plan_of(layers, l).settings, par);
    let summaries = stack.pretrain(data, config_for, Propagate::Probabilities, observer)?;
    let mut dbm = PretrainedDbm::compose(take_layers(stack)?)?;
    dbm.summaries = summaries;
    Ok(dbm)
}

impl PretrainedDbm {
    /// The DBM composed of `rbms` (bottom first: RBM 1 doubled bottom-up,
    /// RBM L top-down, the ones between ordinary; sizes that chain; only the
    /// bottom may have Gaussian visibles), as the module says: `W¹` and
    /// `Wᴸ` as they are, the middle weights halved, `b⁰` and `bᴸ` the outer
    /// biases, each interior bias the mean of the layer's two biases.
    pub fn compose(rbms: Vec<Rbm>) -> Result<PretrainedDbm> {
        let count = rbms.len();
        let mut sizes = vec![rbms.first().map_or(0, |r| r.config().n_visible)];
        sizes.extend(rbms.iter().map(|r| r.config().n_hidden));
        check_sizes(&sizes)?;
        let stack = Dbn::from_rbms(rbms)?; // sizes chain, Bernoulli above the bottom
        let rbms = stack.layers();
        for (l, rbm) in rbms.iter().enumerate() {
            let want = match l {
                0 => DoubledInput::BottomUp,
                l if l + 1 == count => DoubledInput::TopDown,
                _ => DoubledInput::None,
            };
            if rbm.config().doubled != want {
                return Err(ModelError::mismatch(
                    format!(
                        "PretrainedDbm::compose: the doubled input of RBM {l} (0-based) of {count}"
                    ),
                    want.name(),
                    rbm.config().doubled.name(),
                ));
            }
        }
        let weights = rbms
            .iter()
            .enumerate()
            .map(|(l, rbm)| {
                let scale = if l == 0 || l + 1 == count { 1.0 } else { 0.5 };
                let w = rbm.weights();
                Matrix::from_fn(w.rows(), w.cols(), |i, j| scale * w.row(i)[j])
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut biases = vec![rbms[0].visible_bias().to_vec()];
        for pair in rbms.windows(2) {
            let (below, above) = (pair[0].hidden_bias(), pair[1].visible_bias());
            biases.push(
                below
                    .iter()
                    .zip(above)
                    .map(|(c, b)| 0.5 * (c + b))
                    .collect(),
            );
        }
        biases.push(rbms[count - 1].hidden_bias().to_vec());
        let visible = rbms[0].config().visible;
        let rbms = take_layers(stack)?;
        Ok(PretrainedDbm {
            sizes,
            visible,
            weights,
            biases,
            rbms,
            summaries: Vec::new(),
        })
    }
}

/// The RBMs of `stack`, bottom first, moved out (a 1x1 RBM is left in
/// each place, and the stack dropped).
fn take_layers(mut stack: Dbn) -> Result<Vec<Rbm>> {
    stack
        .layers_mut()
        .iter_mut()
        .map(|rbm| {
            Ok(std::mem::replace(
                rbm,
                Rbm::new(RbmConfig::bernoulli(1, 1), 0)?,
            ))
        })
        .collect()
}

/// The composition against the RBMs' own conditionals in f64, the stack's
/// checks, and pretraining on bars and stripes: every RBM's reconstruction
/// error falls, and the bits do not depend on the threads.
#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
mod tests {
    use latent_engine::train::{Control, EpochProgress, Observer, Silent};
    use latent_engine::{Dataset, Matrix, Rng};
    use latent_kernels::{Par, Precision};

    use super::*;

    /// RBMs for `sizes` in the stack's roles, with random parameters.
    fn random_stack(sizes: &[usize], visible: VisibleUnits, seed: u64) -> Vec<Rbm> {
        let configs = stack_configs(sizes, visible, &[LayerPlan::defaults(visible)]).unwrap();
        let mut rng = Rng::new(seed);
        let mut draw = |n: usize, s: f64| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.uniform_f64() * 2.0 - 1.0) * s) as f32)
                .collect()
        };
        configs
            .into_iter()
            .map(|c| {
                let (nv, nh) = (c.n_visible, c.n_hidden);
                let (w, b, c_bias) = (draw(nv * nh, 0.6), draw(nv, 1.0), draw(nh, 1.0));
                Rbm::from_params(c, &w, &b, &c_bias).unwrap()
            })
            .collect()
    }

    fn logit(p: f32) -> f64 {
        let p = p as f64;
        (p / (1.0 - p)).ln()
    }

    /// The total input of layer `l` in the composed DBM, in f64, given the
    /// states `h` of every layer (`h[0] = v`).
    fn dbm_input(dbm: &PretrainedDbm, h: &[Vec<f64>], l: usize) -> Vec<f64> {
        let top = dbm.sizes.len() - 1;
        (0..dbm.sizes[l])
            .map(|j| {
                let mut x = dbm.biases[l][j] as f64;
                if l > 0 {
                    let w = &dbm.weights[l - 1];
                    x += (0..dbm.sizes[l - 1])
                        .map(|i| h[l - 1][i] * w.row(i)[j] as f64)
                        .sum::<f64>();
                }
                if l < top {
                    let w = &dbm.weights[l];
                    x += (0..dbm.sizes[l + 1])
                        .map(|k| w.row(j)[k] as f64 * h[l + 1][k])
                        .sum::<f64>();
                }
                x
            })
            .collect()
    }

    /// The total input RBM `r` (0-based) gives layer `r + 1` from below
    /// (`up`) or layer `r` from above, from its own conditionals
    /// (`transform`, `visible_means`: their doubled inputs included).
    fn rbm_input(rbm: &Rbm, h: &[Vec<f64>], r: usize, up: bool) -> Vec<f64> {
        let row = |x: &[f64]| {
            let v: Vec<f32> = x.iter().map(|&a| a as f32).collect();
            Matrix::from_slice(1, v.len(), &v).unwrap()
        };
        let c = rbm.config();
        if up {
            let mut p = Matrix::zeros(1, c.n_hidden).unwrap();
            rbm.transform(row(&h[r]).view(), p.view_mut(), Par::Seq)
                .unwrap();
            return p.as_slice().iter().map(|&q| logit(q)).collect();
        }
        let mut m = Matrix::zeros(1, c.n_visible).unwrap();
        rbm.visible_means(row(&h[r + 1]).view(), m.view_mut(), Par::Seq)
            .unwrap();
        match c.visible {
            VisibleUnits::Bernoulli => m.as_slice().iter().map(|&q| logit(q)).collect(),
            VisibleUnits::Gaussian => m.as_slice().iter().map(|&q| q as f64).collect(),
        }
    }

    /// For 2, 3 and 4 RBMs (Bernoulli and Gaussian visibles): given any states
    /// of the other layers, the composed DBM's conditional of every layer
    /// (its mean-field update) is exactly what the paper's approximation
    /// predicts: an interior layer's input is the average of the inputs its two
    /// RBMs give it (RBM 1's doubled bottom-up input and the top-down input of
    /// the RBM above, doubled in RBM L), the visible and top layers' the one
    /// RBM's. Halving the wrong weights, or taking either bias alone, moves
    /// some input by far more than the tolerance.
    #[test]
    fn composed_conditionals_average_the_inputs_of_the_rbms() {
        let cases = [
            (vec![6, 5, 4], VisibleUnits::Bernoulli),
            (vec![6, 5, 4], VisibleUnits::Gaussian),
            (vec![7, 6, 5, 4], VisibleUnits::Bernoulli),
            (vec![5, 6, 4, 3, 4], VisibleUnits::Bernoulli),
        ];
        for (n, (sizes, visible)) in cases.into_iter().enumerate() {
            let dbm = PretrainedDbm::compose(random_stack(&sizes, visible, n as u64)).unwrap();
            assert_eq!(dbm.sizes, sizes);
            let top = sizes.len() - 1;
            let mut rng = Rng::new(100 + n as u64);
            for _ in 0..5 {
                let h: Vec<Vec<f64>> = sizes
                    .iter()
                    .map(|&s| (0..s).map(|_| rng.uniform_f64()).collect())
                    .collect();
                for l in 0..=top {
                    let got = dbm_input(&dbm, &h, l);
                    let want: Vec<f64> = match l {
                        0 => rbm_input(&dbm.rbms[0], &h, 0, false),
                        l if l == top => rbm_input(&dbm.rbms[l - 1], &h, l - 1, true),
                        l => {
                            let below = rbm_input(&dbm.rbms[l - 1], &h, l - 1, true);
                            let above = rbm_input(&dbm.rbms[l], &h, l, false);
                            below
                                .iter()
                                .zip(&above)
                                .map(|(a, b)| 0.5 * (a + b))
                                .collect()
                        }
                    };
                    for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - w).abs() < 1e-4,
                            "sizes {sizes:?}, layer {l} unit {j}: DBM input {g}, RBMs' average {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_stack_has_the_modified_rbms_at_its_ends_and_compose_checks_them() {
        let plans = [LayerPlan::defaults(VisibleUnits::Gaussian)];
        let configs = stack_configs(&[8, 6, 5, 4], VisibleUnits::Gaussian, &plans).unwrap();
        let roles: Vec<_> = configs.iter().map(|c| (c.visible, c.doubled)).collect();
        assert_eq!(
            roles,
            [
                (VisibleUnits::Gaussian, DoubledInput::BottomUp),
                (VisibleUnits::Bernoulli, DoubledInput::None),
                (VisibleUnits::Bernoulli, DoubledInput::TopDown),
            ]
        );
        let sizes: Vec<_> = configs.iter().map(|c| (c.n_visible, c.n_hidden)).collect();
        assert_eq!(sizes, [(8, 6), (6, 5), (5, 4)]);
        // Too few layers, a zero size, or two plans for three RBMs.
        let plan = LayerPlan::defaults(VisibleUnits::Bernoulli);
        for (sizes, plans) in [(vec![8, 6], 1), (vec![8, 0, 4], 1), (vec![8, 6, 5, 4], 2)] {
            let e = stack_configs(&sizes, VisibleUnits::Bernoulli, &vec![plan; plans]).unwrap_err();
            assert!(e.to_string().contains("sizes"), "{e}");
        }
        // Ordinary RBMs at the ends are not the paper's stack.
        let mut rbms = random_stack(&[6, 5, 4], VisibleUnits::Bernoulli, 1);
        let top = rbms.pop().unwrap();
        let plain = RbmConfig {
            doubled: DoubledInput::None,
            ..*top.config()
        };
        let (w, b, c) = (
            top.weights().as_slice(),
            top.visible_bias(),
            top.hidden_bias(),
        );
        rbms.push(Rbm::from_params(plain, w, b, c).unwrap());
        let e = PretrainedDbm::compose(rbms).unwrap_err().to_string();
        assert!(
            e.contains("doubled input of RBM 1") && e.contains("top-down"),
            "{e}"
        );
    }

    /// Bars and stripes on a 4x4 grid (30 patterns), each `copies` times.
    fn bars_and_stripes(copies: usize) -> Dataset {
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for mask in 0..16usize {
            for stripes in [false, true] {
                let p: Vec<f32> = (0..16)
                    .map(|k| {
                        let line = if stripes { k / 4 } else { k % 4 };
                        ((mask >> line) & 1) as f32
                    })
                    .collect();
                if !rows.contains(&p) {
                    rows.push(p);
                }
            }
        }
        assert_eq!(rows.len(), 30);
        let flat: Vec<f32> = (0..copies).flat_map(|_| rows.concat()).collect();
        let x = Matrix::from_slice(30 * copies, 16, &flat).unwrap();
        Dataset::new(x, None).unwrap()
    }

    /// Every epoch's mean training loss (the reconstruction error), a list per
    /// RBM (an RBM's epochs count from 0).
    #[derive(Default)]
    struct EpochLosses(Vec<Vec<f64>>);

    impl Observer for EpochLosses {
        fn on_epoch(&mut self, progress: &EpochProgress<'_>) -> Control {
            if progress.record.epoch == 0 {
                self.0.push(Vec::new());
            }
            if let Some(layer) = self.0.last_mut() {
                layer.push(progress.record.train_loss);
            }
            Control::Continue
        }
    }

    fn plan(epochs: usize, batch: usize, seed: u64) -> LayerPlan {
        let mut plan = LayerPlan::defaults(VisibleUnits::Bernoulli);
        plan.settings.epochs = epochs;
        plan.settings.batch = batch;
        plan.settings.seed = seed;
        plan
    }

    #[test]
    fn pretraining_on_bars_and_stripes_lowers_every_rbms_reconstruction_error() {
        let data = bars_and_stripes(4);
        let sizes = [16, 16, 12, 8];
        let mut losses = EpochLosses::default();
        let plans = [plan(30, 10, 5)];
        let dbm = pretrain_dbm(
            &sizes,
            VisibleUnits::Bernoulli,
            &plans,
            &data,
            Par::All,
            &mut losses,
        )
        .unwrap();
        assert_eq!(losses.0.len(), 3, "one list of epochs per RBM");
        for (l, epochs) in losses.0.iter().enumerate() {
            let (first, last) = (epochs[0], epochs[epochs.len() - 1]);
            assert_eq!(epochs.len(), 30);
            assert!(
                last < 0.6 * first,
                "RBM {l}: reconstruction error {first:.3} in the first epoch, {last:.3} in the last"
            );
        }
        // The composed parameters are the trained RBMs' (middle halved).
        assert_eq!(dbm.summaries.len(), 3);
        let shapes: Vec<_> = dbm.weights.iter().map(|w| w.shape()).collect();
        assert_eq!(shapes, [(16, 16), (16, 12), (12, 8)]);
        let lens: Vec<_> = dbm.biases.iter().map(|b| b.len()).collect();
        assert_eq!(lens, sizes);
        let halved = dbm.rbms[1].weights().as_slice().iter().map(|w| 0.5 * w);
        assert!(halved.eq(dbm.weights[1].as_slice().iter().copied()));
        assert_eq!(dbm.weights[0].as_slice(), dbm.rbms[0].weights().as_slice());
    }

    /// The same bits on one thread and on two (chain blocks of 30 rows each),
    /// with CD-1, PCD-2 and bf16 products in the stack; another seed differs.
    #[test]
    fn pretraining_is_the_same_on_one_and_two_threads() {
        let data = bars_and_stripes(4);
        let mut middle = plan(3, 60, 9);
        middle.rbm.persistent = true;
        middle.rbm.cd_k = 2;
        let mut top = plan(3, 60, 9);
        top.settings.precision = Precision::Bf16;
        let run = |par: Par, seed: u64| {
            let plans = [plan(3, 60, seed), middle, top];
            let dbm = pretrain_dbm(
                &[16, 12, 10, 8],
                VisibleUnits::Bernoulli,
                &plans,
                &data,
                par,
                &mut Silent,
            )
            .unwrap();
            let mut bits: Vec<u32> = Vec::new();
            for w in &dbm.weights {
                bits.extend(w.as_slice().iter().map(|x| x.to_bits()));
            }
            for b in &dbm.biases {
                bits.extend(b.iter().map(|x| x.to_bits()));
            }
            bits
        };
        let one = run(Par::Seq, 9);
        assert!(one == run(Par::Rayon(2), 9), "2 threads differ from 1");
        assert!(one != run(Par::Seq, 10), "another seed gives the same bits");
    }
}
