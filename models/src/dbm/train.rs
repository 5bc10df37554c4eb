//! Training: the gradient of a minibatch (mean-field positive phase,
//! persistent-chain negative phase) and the engine's [`Model`] trait, with
//! the chains as persistent state of checkpoints.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, EngineError, Matrix, ParamSet, Rng, Tensor};
use latent_kernels::Par;
use latent_kernels::gemm::{Accum, MatMut, MatRef, NoEpilogue, product};
use latent_kernels::random::Streams;
use latent_kernels::reduce::{col_sums, sq_err};

use super::mean_field::{self, MeanFieldStats, Net, visible_means};
use super::workspace::{LayerBufs, LayerOps};
use super::{Dbm, gibbs, visible_activation, weight_index};
use crate::error::{Result, into_engine};

/// Mixed into a step's seed for the streams that start new chains.
const CHAIN_START: u64 = 0xD8A1_C4A1_0000_0001;

/// What a training step reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepStats {
    /// The mean over the batch of `Σ_i (v_i − E[v_i | μ¹])²`.
    pub reconstruction_error: f64,
    /// The positive phase's mean-field.
    pub mean_field: MeanFieldStats,
}

impl Dbm {
    /// The gradient of the negative log-likelihood for the minibatch `x`
    /// (`B x n0`) into `grads` (the parameters' layout), drawing from the
    /// streams of `seed`: `∂/∂Wˡ = −(1/B)·μˡ⁻¹ᵀμˡ + (1/C)·hˡ⁻¹ᵀhˡ` with the
    /// data's mean-field posteriors `μ` and the `C` persistent chains' states
    /// `h` after `k` sweeps, `∂/∂bˡ = −(mean μˡ − mean hˡ)`. Moves the
    /// chains on (starting them at random states the first time). No
    /// allocation once the batch size has been seen.
    pub fn pcd_gradient(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<StepStats> {
        self.check_input("Dbm::pcd_gradient", x.cols())?;
        self.params
            .check_same_layout(grads, "Dbm::pcd_gradient: gradient layout")?;
        let rows = x.rows();
        if rows == 0 {
            return Ok(StepStats::default());
        }
        let chains = self.config.chains.unwrap_or(rows);
        self.ensure_chains(chains, seed, par)?;
        self.ws.ensure(rows, chains, &self.config.sizes);
        let (precision, depth) = (self.precision, self.depth());
        let ws = &mut self.ws;
        ws.packed.repack(precision, &self.params, depth);
        let (config, states) = (&self.config, &mut self.chains);
        let net = Net {
            sizes: &config.sizes,
            params: &self.params,
            ops: LayerOps {
                precision,
                params: &self.params,
                packed: &ws.packed,
            },
        };
        let bufs = (&mut ws.mf.mu, &mut ws.mf.next, &mut ws.mf.bottom_up);
        let mf_stats = mean_field::run(&net, x, config.mean_field_options(), bufs, par)?;
        ws.mf.rows = rows;
        let (k, streams) = (config.cd_k, Streams::new(seed));
        let probs = &mut ws.probs;
        gibbs::sweeps(&net, config.visible, states, probs, chains, k, streams, par)?;
        let act = visible_activation(config.visible);
        let (recon, recon_rows) = (&mut ws.recon[..], &mut ws.recon_rows[..]);
        let recon = reconstruction_error(&net, act, recon, recon_rows, &ws.mf.mu, rows, par)?;
        gradients(&net, &ws.mf.mu, rows, states, chains, grads, par)?;
        let sums = (&mut ws.sum_data[..], &mut ws.sum_chains[..]);
        bias_gradients(sums, &net, (&ws.mf.mu, rows), (states, chains), grads)?;
        Ok(StepStats {
            reconstruction_error: recon,
            mean_field: mf_stats,
        })
    }

    /// Makes sure there are `count` chains (at least, for one per batch
    /// row), new ones at random states from the streams of `seed`.
    fn ensure_chains(&mut self, count: usize, seed: u64, par: Par) -> Result<()> {
        let sizes = &self.config.sizes;
        let fixed = self.config.chains.is_some();
        let enough = match fixed {
            true => self.chains.rows == count,
            false => self.chains.rows >= count,
        };
        if enough && self.chains.sizes == *sizes {
            return Ok(());
        }
        let (mut fresh, mut probs) = (LayerBufs::default(), LayerBufs::default());
        fresh.ensure(count, sizes);
        probs.ensure(count, sizes);
        let streams = Streams::new(seed ^ CHAIN_START);
        gibbs::random_states(
            sizes,
            self.config.visible,
            &mut fresh,
            &mut probs,
            count,
            streams,
            par,
        )?;
        let old = &self.chains;
        if old.sizes == *sizes && !fixed {
            for (l, &n) in sizes.iter().enumerate() {
                let keep = old.rows.min(count) * n;
                fresh.bufs[l][..keep].copy_from_slice(&old.bufs[l][..keep]);
            }
        }
        self.chains = fresh;
        Ok(())
    }
}

/// The visible means of the data's `μ¹` into `recon`, their per-row squared
/// errors against the data (`μ⁰`) into `rows_err`, and the mean error.
fn reconstruction_error(
    net: &Net<'_>,
    act: latent_kernels::activation::Activation,
    recon: &mut [f32],
    rows_err: &mut [f32],
    mu: &LayerBufs,
    rows: usize,
    par: Par,
) -> Result<f64> {
    let n0 = net.sizes[0];
    let recon = &mut recon[..rows * n0];
    visible_means(net, act, mu.layer(1, rows), rows, recon, par)?;
    let errs = &mut rows_err[..rows];
    sq_err(
        recon,
        mu.layer(0, rows),
        rows,
        n0,
        Some(&mut errs[..]),
        None,
        0.0,
    )?;
    let total: f64 = errs.iter().map(|&e| e as f64).sum();
    Ok(total / rows as f64)
}

/// The weight gradients: `−(1/B)·μˡ⁻¹ᵀμˡ`, then `+ (1/C)·hˡ⁻¹ᵀhˡ` added in
/// a second product, in the model's precision.
fn gradients(
    net: &Net<'_>,
    mu: &LayerBufs,
    rows: usize,
    states: &LayerBufs,
    chains: usize,
    grads: &mut ParamSet,
    par: Par,
) -> Result<()> {
    let precision = net.ops.precision;
    for l in 1..=net.depth() {
        let (a, b) = (net.sizes[l - 1], net.sizes[l]);
        let g = grads.value_mut(weight_index(l));
        let m0 = MatRef::row_major(mu.layer(l - 1, rows), rows, a)?;
        let m1 = MatRef::row_major(mu.layer(l, rows), rows, b)?;
        let out = MatMut::row_major(g.as_mut_slice(), a, b)?;
        let (inv_b, inv_c) = (1.0 / rows as f32, 1.0 / chains as f32);
        product(
            -inv_b,
            m0.t(),
            precision.operand(m1),
            Accum::Replace,
            out,
            &NoEpilogue,
            par,
        )?;
        let h0 = MatRef::row_major(states.layer(l - 1, chains), chains, a)?;
        let h1 = MatRef::row_major(states.layer(l, chains), chains, b)?;
        let out = MatMut::row_major(g.as_mut_slice(), a, b)?;
        let add = Accum::Add { beta: 1.0 };
        product(
            inv_c,
            h0.t(),
            precision.operand(h1),
            add,
            out,
            &NoEpilogue,
            par,
        )?;
    }
    Ok(())
}

/// The bias gradients `−(Σμˡ/B − Σhˡ/C)` from column sums (each column
/// summed in row order, so the bits do not depend on the threads).
fn bias_gradients(
    (sum_data, sum_chains): (&mut [Vec<f32>], &mut [Vec<f32>]),
    net: &Net<'_>,
    (mu, rows): (&LayerBufs, usize),
    (states, chains): (&LayerBufs, usize),
    grads: &mut ParamSet,
) -> Result<()> {
    let (inv_b, inv_c) = (1.0 / rows as f32, 1.0 / chains as f32);
    for (l, &n) in net.sizes.iter().enumerate() {
        let (sd, sc) = (&mut sum_data[l], &mut sum_chains[l]);
        col_sums(mu.layer(l, rows), rows, n, sd, Par::Seq)?;
        col_sums(states.layer(l, chains), chains, n, sc, Par::Seq)?;
        let g = grads.value_mut(net.depth() + l).as_mut_slice();
        for ((g, &d), &c) in g.iter_mut().zip(sd.iter()).zip(sc.iter()) {
            *g = -(d * inv_b - c * inv_c);
        }
    }
    Ok(())
}

impl Model for Dbm {
    fn kind(&self) -> &str {
        "dbm"
    }

    fn hyperparameters(&self) -> String {
        self.config.to_text()
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let stats = self
            .pcd_gradient(batch.x, grads, seed, ctx.par)
            .map_err(into_engine)?;
        let mut out = StepOutput {
            loss: stats.reconstruction_error,
            ..StepOutput::default()
        };
        out.metrics
            .push("mf_iters", stats.mean_field.iterations as f64)?;
        Ok(out)
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.reconstruction_error(x, par)
            .map(Some)
            .map_err(into_engine)
    }

    fn persistent_state(&self) -> Vec<Tensor> {
        (0..=self.depth())
            .filter_map(|l| {
                let states = self.chain_states(l)?;
                let value = Matrix::from_slice(self.chains.rows, self.sizes()[l], states).ok()?;
                Some(Tensor {
                    name: chain_tensor(l),
                    role: latent_engine::Role::Other,
                    value,
                })
            })
            .collect()
    }

    /// The chains when there is one per batch row (no fixed count: a
    /// fixed number of chains is not a share of the batch).
    fn persistent_by_row(&self, name: &str) -> bool {
        self.config.chains.is_none() && name.starts_with("chains.l")
    }

    /// The chains the first step would start (one per batch row, or the
    /// fixed count, from the step's seed, `rng`'s next draw).
    fn start_persistent_state(
        &mut self,
        rows: usize,
        rng: &Rng,
        par: Par,
    ) -> latent_engine::Result<()> {
        if self.chains.rows > 0 {
            return Ok(());
        }
        let seed = rng.clone().next_u64();
        let count = self.config.chains.unwrap_or(rows);
        self.ensure_chains(count, seed, par).map_err(into_engine)
    }

    fn load_persistent_state(&mut self, state: &[Tensor]) -> latent_engine::Result<()> {
        if state.is_empty() {
            return Ok(());
        }
        let sizes = self.config.sizes.clone();
        let count = state[0].value.rows();
        let fits = state.len() == sizes.len()
            && self.config.chains.is_none_or(|c| c == count)
            && state
                .iter()
                .enumerate()
                .all(|(l, t)| t.name == chain_tensor(l) && t.value.shape() == (count, sizes[l]));
        if !fits {
            return Err(EngineError::Mismatch {
                what: "persistent state of model dbm".into(),
                expected: format!(
                    "chains.l0 … chains.l{} of one row count ({}) and the layers' widths {:?}",
                    sizes.len() - 1,
                    self.config
                        .chains
                        .map_or("any".to_string(), |c| c.to_string()),
                    sizes
                ),
                found: state
                    .iter()
                    .map(|t| format!("{} ({} x {})", t.name, t.value.rows(), t.value.cols()))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut chains = LayerBufs::default();
        chains.ensure(count, &sizes);
        for (l, t) in state.iter().enumerate() {
            chains
                .layer_mut(l, count)
                .copy_from_slice(t.value.as_slice());
        }
        self.chains = chains;
        Ok(())
    }
}

/// The name of layer `l`'s chain states in checkpoints.
fn chain_tensor(l: usize) -> String {
    format!("chains.l{l}")
}
