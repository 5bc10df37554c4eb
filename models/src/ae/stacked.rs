//! Stacked autoencoders (MODELS.md 4.6): greedy layer-wise pretraining, each
//! layer an autoencoder of any variant ([`AeConfig`]: plain, sparse,
//! denoising, contractive) or an RBM, trained on the codes of the layer
//! below; then either
//!
//! - [`Stack::unroll`]: the encoders and their decoders unrolled into one
//!   deep untied [`Autoencoder`] (e.g. 784-1000-500-250-30 with a linear code
//!   layer) to fine-tune end to end on reconstruction, or
//! - [`Stack::classifier`]: the encoders topped with a softmax layer
//!   ([`Classifier`]) to fine-tune on labels.
//!
//! Autoencoder layers start with their output bias at the data's mean
//! ([`Autoencoder::init_output_bias_from_data`]), RBM layers with Hinton's
//! visible-bias initialisation.
//!
//! The classifier's loss is the mean cross-entropy `-ln p(y|x)` of
//! `p = softmax(h_L V + 1 dᵀ)`; its gradient at the logits is `p - onehot(y)`,
//! back-propagated through every encoder layer.

use latent_engine::data::Dataset;
use latent_engine::train::{Model, Silent, StepContext, StepOutput, TrainConfig, Trainer};
use latent_engine::{Batch, Matrix, Metrics, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, gemm, sgemm};
use latent_kernels::reduce::col_sums;

use super::dense::{AeConfig, Autoencoder, Loss};
use super::util::{
    bad, check_len, copy_rows, dense_forward, encoder_backward, init_weights, into_engine,
};
use crate::error::{ModelError, Result};
use crate::rbm::{Rbm, RbmConfig};

/// How one layer of a stack is pretrained.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// A one-layer autoencoder of any variant; its `sizes` are replaced by
    /// `[n_in, n_out]` and it must have one activation.
    Autoencoder(AeConfig),
    /// An RBM (Bernoulli or Gaussian visibles); its sizes are replaced. Its
    /// encoder is `σ(xW + c)`, its decoder bias the visible bias.
    Rbm(RbmConfig),
}

/// Greedy pretraining of a stack.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// Layer sizes `[V, H_1, …, H_L]`.
    pub sizes: Vec<usize>,
    /// How each of the `L` layers is pretrained, with its training setup
    /// (epochs, batch, optimiser, threads, seed).
    pub layers: Vec<(LayerKind, TrainConfig)>,
    /// Seed of the layers' initial weights.
    pub seed: u64,
}

/// One pretrained layer: encoder `act(x W + c)`, decoder weights (untied
/// copy or the RBM's) and bias.
#[derive(Debug, Clone)]
pub struct PretrainedLayer {
    /// Encoder weights, `n_in x n_out`.
    pub w: Matrix,
    /// Encoder bias, `n_out`.
    pub c: Vec<f32>,
    /// Decoder weights, `n_in x n_out` (used as `h Wdᵀ`).
    pub wd: Matrix,
    /// Decoder bias, `n_in`.
    pub b: Vec<f32>,
    /// The encoder activation.
    pub activation: Activation,
    /// The training loss of the last epoch.
    pub final_loss: Option<f64>,
}

/// A pretrained stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Layer sizes `[V, H_1, …, H_L]`.
    pub sizes: Vec<usize>,
    /// The layers, bottom first.
    pub layers: Vec<PretrainedLayer>,
}

/// Greedy layer-wise pretraining.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackedPretrainer;

impl StackedPretrainer {
    /// Pretrains every layer in turn on the codes of the one below (the
    /// first on `data`), with its own trainer.
    pub fn pretrain(config: &PretrainConfig, data: &Dataset) -> Result<Stack> {
        let s = &config.sizes;
        if s.len() < 2 || s.contains(&0) {
            return bad(
                "PretrainConfig::sizes",
                format!("{s:?}"),
                "[V, H_1, ...] all >= 1",
            );
        }
        check_len(
            "PretrainConfig::layers (one per layer)",
            config.layers.len(),
            s.len() - 1,
        )?;
        check_len("pretrain: columns of the data", data.features(), s[0])?;
        let mut input = data.x.clone();
        let mut layers = Vec::new();
        for (i, (kind, train)) in config.layers.iter().enumerate() {
            let (n_in, n_out) = (s[i], s[i + 1]);
            let ds = Dataset::new(input, None)?;
            let par = if train.threads == latent_engine::Threads::Count(1) {
                Par::Seq
            } else {
                Par::All
            };
            let seed = config.seed.wrapping_add(i as u64);
            let layer = match kind {
                LayerKind::Autoencoder(ae) => {
                    let ae = Self::autoencoder_layer(ae, n_in, n_out, &ds.x, seed, par)?;
                    let mut trainer = Trainer::new(ae, *train)?;
                    let summary = trainer.fit(&ds, None, &mut Silent)?;
                    PretrainedLayer::from_autoencoder(trainer.model(), summary.last_train_loss)?
                }
                LayerKind::Rbm(rc) => {
                    let rbm = Self::rbm_layer(rc, n_in, n_out, &ds.x, seed, par)?;
                    let mut trainer = Trainer::new(rbm, *train)?;
                    let summary = trainer.fit(&ds, None, &mut Silent)?;
                    PretrainedLayer::from_rbm(trainer.model(), summary.last_train_loss)
                }
            };
            // The codes of this layer feed the next.
            let codes = layer.encode(&ds.x, par)?;
            input = codes;
            layers.push(layer);
        }
        Ok(Stack {
            sizes: s.clone(),
            layers,
        })
    }
}

impl StackedPretrainer {
    /// The untrained one-layer autoencoder that [`pretrain`](Self::pretrain)
    /// makes for a layer of `n_in -> n_out` units from `config` (its sizes
    /// replaced; it must have one activation), with its output bias at the
    /// mean of `input`, the layer's training data. For callers that train
    /// the layers themselves (progress, checkpoints between epochs).
    pub fn autoencoder_layer(
        config: &AeConfig,
        n_in: usize,
        n_out: usize,
        input: &Matrix,
        seed: u64,
        par: Par,
    ) -> Result<Autoencoder> {
        let mut cfg = config.clone();
        cfg.sizes = vec![n_in, n_out];
        if cfg.activations.len() != 1 {
            return bad(
                "LayerKind::Autoencoder: activations",
                format!("{:?}", cfg.activations),
                "exactly one (a single-layer autoencoder)",
            );
        }
        let mut ae = Autoencoder::new(cfg, seed)?;
        ae.init_output_bias_from_data(input, par)?;
        Ok(ae)
    }

    /// The untrained RBM that [`pretrain`](Self::pretrain) makes for a layer
    /// of `n_in -> n_out` units from `config` (its sizes replaced), with
    /// Hinton's visible-bias initialisation from `input`.
    pub fn rbm_layer(
        config: &RbmConfig,
        n_in: usize,
        n_out: usize,
        input: &Matrix,
        seed: u64,
        par: Par,
    ) -> Result<Rbm> {
        let cfg = RbmConfig {
            n_visible: n_in,
            n_hidden: n_out,
            ..*config
        };
        let mut rbm = Rbm::new(cfg, seed)?;
        rbm.init_visible_bias_from_data(input, par)?;
        Ok(rbm)
    }
}

impl PretrainedLayer {
    /// The layer a trained one-layer autoencoder gives: its encoder, its
    /// decoder (the encoder's weights when tied) and its activation;
    /// `final_loss` is recorded as it is.
    pub fn from_autoencoder(ae: &Autoencoder, final_loss: Option<f64>) -> Result<Self> {
        let cfg = ae.config();
        if cfg.depth() != 1 {
            return bad(
                "PretrainedLayer::from_autoencoder: depth",
                cfg.depth().to_string(),
                "a single-layer autoencoder",
            );
        }
        let w = ae
            .encoder_weights(0)
            .cloned()
            .unwrap_or(Matrix::zeros(cfg.sizes[0], cfg.sizes[1])?);
        Ok(PretrainedLayer {
            wd: ae.decoder_weights(0).cloned().unwrap_or(w.clone()),
            w,
            c: ae.encoder_bias(0).unwrap_or(&[]).to_vec(),
            b: ae.decoder_bias(0).unwrap_or(&[]).to_vec(),
            activation: cfg.activations[0],
            final_loss,
        })
    }

    /// The layer a trained RBM gives: encoder `σ(xW + c)`, decoder weights
    /// `W` and the visible bias.
    pub fn from_rbm(rbm: &Rbm, final_loss: Option<f64>) -> Self {
        PretrainedLayer {
            w: rbm.weights().clone(),
            wd: rbm.weights().clone(),
            c: rbm.hidden_bias().to_vec(),
            b: rbm.visible_bias().to_vec(),
            activation: Activation::Sigmoid,
            final_loss,
        }
    }

    /// The codes `act(x W + c)` of the rows of `x`: the next layer's data.
    pub fn encode(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        check_len(
            "PretrainedLayer::encode: columns of x",
            x.cols(),
            self.w.rows(),
        )?;
        let mut codes = Matrix::zeros(x.rows(), self.w.cols())?;
        gemm(
            1.0,
            x.view(),
            self.w.view(),
            Accum::Replace,
            codes.view_mut(),
            &BiasActivation::new(&self.c, self.activation),
            par,
        )?;
        Ok(codes)
    }
}

impl Stack {
    /// Unrolls the stack into a deep untied autoencoder with the layers'
    /// activations and the given output loss, ready to fine-tune.
    pub fn unroll(&self, loss: Loss, seed: u64) -> Result<Autoencoder> {
        let acts: Vec<Activation> = self.layers.iter().map(|l| l.activation).collect();
        let cfg = AeConfig::new(&self.sizes, Activation::Identity)
            .with_activations(&acts)
            .with_loss(loss);
        let mut ae = Autoencoder::new(cfg, seed)?;
        for (i, l) in self.layers.iter().enumerate() {
            ae.set_layer(i, l.w.as_slice(), &l.c, Some(l.wd.as_slice()), &l.b)?;
        }
        Ok(ae)
    }

    /// The stack's encoders topped with a fresh softmax layer over
    /// `classes` classes, ready to fine-tune on labels.
    pub fn classifier(&self, classes: usize, seed: u64) -> Result<Classifier> {
        let acts: Vec<Activation> = self.layers.iter().map(|l| l.activation).collect();
        let mut clf = Classifier::new(&self.sizes, &acts, classes, seed)?;
        for (i, l) in self.layers.iter().enumerate() {
            clf.params
                .value_mut(clf.enc_w[i])
                .as_mut_slice()
                .copy_from_slice(l.w.as_slice());
            clf.params
                .value_mut(clf.enc_c[i])
                .as_mut_slice()
                .copy_from_slice(&l.c);
        }
        Ok(clf)
    }
}

#[derive(Debug, Default)]
struct ClfWorkspace {
    rows: usize,
    h: Vec<Vec<f32>>,
    dh: Vec<Vec<f32>>,
    /// Logits, then probabilities, then `(p - onehot)/B`.
    p: Vec<f32>,
}

/// A feed-forward classifier: encoder layers `h_l = act_l(h_{l-1} W_l + c_l)`
/// (possibly none: softmax regression on the raw input) and a softmax
/// output layer, trained on the labels of each batch.
///
/// Parameters: `W1, c1, …, WL, cL, V, d` (`V` is `H_L x classes`).
#[derive(Debug)]
pub struct Classifier {
    sizes: Vec<usize>,
    activations: Vec<Activation>,
    classes: usize,
    params: ParamSet,
    enc_w: Vec<usize>,
    enc_c: Vec<usize>,
    out_w: usize,
    out_b: usize,
    ws: ClfWorkspace,
}

impl Classifier {
    /// A classifier with encoder sizes `[V, H_1, …, H_L]` (`[V]` alone for
    /// softmax regression), activations per encoder layer, and `classes`
    /// outputs; Glorot weights, zero biases.
    pub fn new(
        sizes: &[usize],
        activations: &[Activation],
        classes: usize,
        seed: u64,
    ) -> Result<Self> {
        if sizes.is_empty() || sizes.contains(&0) {
            return bad(
                "Classifier: sizes",
                format!("{sizes:?}"),
                "[V, hidden...] all >= 1",
            );
        }
        if classes < 2 {
            return bad("Classifier: classes", classes.to_string(), "at least 2");
        }
        check_len(
            "Classifier: activations (one per encoder layer)",
            activations.len(),
            sizes.len() - 1,
        )?;
        let mut rng = latent_engine::Rng::stream(seed, 0x434c_4600); // "CLF"
        let mut params = ParamSet::new();
        let (mut enc_w, mut enc_c) = (vec![], vec![]);
        for i in 0..sizes.len() - 1 {
            let w = init_weights(&mut rng, sizes[i], sizes[i + 1], None)?;
            enc_w.push(params.push(format!("W{}", i + 1), Role::Weight, w)?);
            enc_c.push(params.push(
                format!("c{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, sizes[i + 1])?,
            )?);
        }
        let top = *sizes.last().unwrap_or(&1);
        let out_w = params.push(
            "V",
            Role::Weight,
            init_weights(&mut rng, top, classes, None)?,
        )?;
        let out_b = params.push("d", Role::Bias, Matrix::zeros(1, classes)?)?;
        Ok(Classifier {
            sizes: sizes.to_vec(),
            activations: activations.to_vec(),
            classes,
            params,
            enc_w,
            enc_c,
            out_w,
            out_b,
            ws: ClfWorkspace::default(),
        })
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    fn ensure(&mut self, rows: usize) {
        if rows <= self.ws.rows && !self.ws.h.is_empty() {
            return;
        }
        self.ws.rows = rows;
        self.ws.h = self.sizes.iter().map(|&n| vec![0.0; rows * n]).collect();
        self.ws.dh = self.sizes.iter().map(|&n| vec![0.0; rows * n]).collect();
        self.ws.p = vec![0.0; rows * self.classes];
    }

    /// Forward pass of `ws.h[0]`: class probabilities into `ws.p`.
    fn forward(&mut self, rows: usize, par: Par) -> Result<()> {
        let s = &self.sizes;
        let l = s.len() - 1;
        for i in 0..l {
            let (lo, hi) = self.ws.h.split_at_mut(i + 1);
            dense_forward(
                &lo[i],
                rows,
                self.params.value(self.enc_w[i]).view(),
                self.params.value(self.enc_c[i]).as_slice(),
                self.activations[i],
                &mut hi[0],
                par,
            )?;
        }
        let k = self.classes;
        gemm(
            1.0,
            MatRef::row_major(&self.ws.h[l][..rows * s[l]], rows, s[l])?,
            self.params.value(self.out_w).view(),
            Accum::Replace,
            MatMut::row_major(&mut self.ws.p[..rows * k], rows, k)?,
            &BiasAdd::new(self.params.value(self.out_b).as_slice()),
            par,
        )?;
        for row in self.ws.p[..rows * k].chunks_exact_mut(k) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - m).exp();
                sum += *v;
            }
            row.iter_mut().for_each(|v| *v /= sum);
        }
        Ok(())
    }

    fn check_labels(&self, labels: &[u32], rows: usize) -> Result<()> {
        check_len("Classifier: labels (one per row)", labels.len(), rows)?;
        if let Some(&y) = labels.iter().find(|&&y| y as usize >= self.classes) {
            return bad(
                "Classifier: label",
                y.to_string(),
                "a class index below `classes`",
            );
        }
        Ok(())
    }

    /// The mean cross-entropy on `(x, labels)` and its gradient into
    /// `grads` (overwritten); returns `(loss, accuracy)`.
    pub fn loss_and_gradient(
        &mut self,
        x: MatRef<'_>,
        labels: &[u32],
        grads: &mut ParamSet,
        par: Par,
    ) -> Result<(f64, f64)> {
        check_len("Classifier: columns of the data", x.cols(), self.sizes[0])?;
        self.params
            .check_same_layout(grads, "Classifier::loss_and_gradient: gradient layout")?;
        let rows = x.rows();
        self.check_labels(labels, rows)?;
        if rows == 0 {
            grads.fill_zero();
            return Ok((0.0, 0.0));
        }
        self.ensure(rows);
        copy_rows(&x, &mut self.ws.h[0]);
        self.forward(rows, par)?;
        let k = self.classes;
        let inv_b = 1.0 / rows as f32;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (row, &y) in self.ws.p[..rows * k].chunks_exact_mut(k).zip(labels) {
            let y = y as usize;
            loss -= (row[y].max(f32::MIN_POSITIVE) as f64).ln();
            if argmax(row) == y {
                correct += 1;
            }
            row[y] -= 1.0;
            row.iter_mut().for_each(|v| *v *= inv_b);
        }
        let s = &self.sizes;
        let l = s.len() - 1;
        let ws = &mut self.ws;
        let d = &ws.p[..rows * k];
        sgemm(
            1.0,
            MatRef::row_major(&ws.h[l][..rows * s[l]], rows, s[l])?.t(),
            MatRef::row_major(d, rows, k)?,
            Accum::Replace,
            MatMut::row_major(grads.value_mut(self.out_w).as_mut_slice(), s[l], k)?,
            par,
        )?;
        col_sums(d, rows, k, grads.value_mut(self.out_b).as_mut_slice(), par)?;
        if l > 0 {
            sgemm(
                1.0,
                MatRef::row_major(d, rows, k)?,
                self.params.value(self.out_w).view().t(),
                Accum::Replace,
                MatMut::row_major(&mut ws.dh[l][..rows * s[l]], rows, s[l])?,
                par,
            )?;
        }
        encoder_backward(
            &ws.h,
            &mut ws.dh,
            s,
            &self.activations,
            &self.params,
            (&self.enc_w, &self.enc_c),
            grads,
            rows,
            par,
        )?;
        Ok((loss / rows as f64, correct as f64 / rows as f64))
    }

    /// The predicted class of each row of `x` into `out`.
    pub fn predict(&mut self, x: MatRef<'_>, out: &mut [u32], par: Par) -> Result<()> {
        check_len(
            "Classifier::predict: columns of the data",
            x.cols(),
            self.sizes[0],
        )?;
        let rows = x.rows();
        check_len("Classifier::predict: out (one per row)", out.len(), rows)?;
        if rows == 0 {
            return Ok(());
        }
        self.ensure(rows);
        copy_rows(&x, &mut self.ws.h[0]);
        self.forward(rows, par)?;
        let k = self.classes;
        for (o, row) in out.iter_mut().zip(self.ws.p[..rows * k].chunks_exact(k)) {
            *o = argmax(row) as u32;
        }
        Ok(())
    }

    /// The fraction of rows of `x` classified as `labels`, in batches of at
    /// most `batch` rows.
    pub fn accuracy(&mut self, x: &Matrix, labels: &[u32], batch: usize, par: Par) -> Result<f64> {
        self.check_labels(labels, x.rows())?;
        if batch == 0 {
            return bad("Classifier::accuracy: batch", "0".into(), "at least 1");
        }
        let mut pred = vec![0u32; batch];
        let (mut correct, mut start) = (0usize, 0usize);
        while start < x.rows() {
            let n = batch.min(x.rows() - start);
            self.predict(x.rows_view(start, n)?, &mut pred[..n], par)?;
            correct += pred[..n]
                .iter()
                .zip(&labels[start..start + n])
                .filter(|(p, y)| p == y)
                .count();
            start += n;
        }
        Ok(if x.rows() == 0 {
            0.0
        } else {
            correct as f64 / x.rows() as f64
        })
    }
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

impl Model for Classifier {
    fn kind(&self) -> &str {
        "softmax-classifier"
    }

    fn hyperparameters(&self) -> String {
        let acts: Vec<&str> = self.activations.iter().map(|a| a.name()).collect();
        format!(
            "sizes={:?} activations={:?} classes={}",
            self.sizes, acts, self.classes
        )
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let labels = batch.labels.ok_or_else(|| {
            into_engine(ModelError::Unsupported {
                what: "Classifier::gradient",
                why: "the dataset has no labels".into(),
            })
        })?;
        let (loss, acc) = self
            .loss_and_gradient(batch.x, labels, grads, ctx.par)
            .map_err(into_engine)?;
        let mut metrics = Metrics::new();
        metrics.push("accuracy", acc)?;
        Ok(StepOutput { loss, metrics })
    }

    /// The error rate `1 - accuracy` (lower is better).
    fn validation_metric(
        &mut self,
        x: &Matrix,
        labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        match labels {
            Some(l) => self
                .accuracy(x, l, 500, par)
                .map(|a| Some(1.0 - a))
                .map_err(into_engine),
            None => Ok(None),
        }
    }
}
