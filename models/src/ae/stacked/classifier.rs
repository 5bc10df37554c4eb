//! The softmax classifier on a stack's encoders ([`Stack::classifier`](super::Stack::classifier)):
//! the loss is the mean cross-entropy `-ln p(y|x)` of
//! `p = softmax(h_L V + 1 dᵀ)`; its gradient at the logits is `p - onehot(y)`,
//! back-propagated through every encoder layer. Its products follow its
//! precision; in bf16 a training step packs its weights once.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, Metrics, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, Precision, product};
use latent_kernels::reduce::col_sums;

use crate::ae::operands::{PackedWeights, Use, Weights};
use crate::ae::util::{
    bad, check_len, copy_rows, dense_forward, encoder_backward, init_weights, into_engine, matmul,
    write_rows,
};
use crate::error::{ModelError, Result};

/// The workspace of a classifier's forward pass (the caller's, for
/// [`Classifier::probabilities_with`] and [`Classifier::features_with`]):
/// it grows to the largest batch seen and is reused.
#[derive(Debug, Default)]
pub struct ClassifierScratch {
    rows: usize,
    h: Vec<Vec<f32>>,
    dh: Vec<Vec<f32>>,
    /// Logits, then probabilities, then `(p - onehot)/B`.
    p: Vec<f32>,
    /// The weights packed for a bf16 step.
    packed: PackedWeights,
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
    ws: ClassifierScratch,
    /// The precision of the matrix products.
    precision: Precision,
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
            ws: ClassifierScratch::default(),
            precision: Precision::F32,
        })
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The precision of the classifier's matrix products
    /// ([`Precision::F32`] unless set), in training and prediction alike.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the classifier's matrix products (master
    /// parameters and everything else stay f32).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// Overwrites encoder layer `i`'s weights and bias (shapes as the
    /// layer's, which the stack that made this classifier guarantees).
    pub(super) fn set_encoder_layer(&mut self, i: usize, w: &[f32], c: &[f32]) {
        let p = &mut self.params;
        p.value_mut(self.enc_w[i]).as_mut_slice().copy_from_slice(w);
        p.value_mut(self.enc_c[i]).as_mut_slice().copy_from_slice(c);
    }

    /// In bf16, packs every weight matrix (into `packed`'s storage) in each
    /// orientation a training step multiplies by: `W` (forward) and `Wᵀ`
    /// (the delta below it, above the first layer; below `V` when there is
    /// an encoder layer).
    fn pack_weights(&self, packed: &mut PackedWeights) {
        if self.precision != Precision::Bf16 {
            return;
        }
        packed.start_step(self.params.len());
        let layers = self.enc_w.iter().chain(std::iter::once(&self.out_w));
        for (i, &w) in layers.enumerate() {
            packed.pack(&self.params, w, Use::AsStored);
            if i > 0 {
                packed.pack(&self.params, w, Use::Transposed);
            }
        }
    }

    fn ensure(&mut self, rows: usize) {
        let mut ws = std::mem::take(&mut self.ws);
        self.ensure_in(&mut ws, rows);
        self.ws = ws;
    }

    /// Grows `ws` to hold `rows` rows of every layer (nothing once it has).
    fn ensure_in(&self, ws: &mut ClassifierScratch, rows: usize) {
        if rows <= ws.rows && ws.h.len() == self.sizes.len() && ws.p.len() >= rows * self.classes {
            return;
        }
        ws.rows = rows;
        ws.h = self.sizes.iter().map(|&n| vec![0.0; rows * n]).collect();
        ws.dh = self.sizes.iter().map(|&n| vec![0.0; rows * n]).collect();
        ws.p = vec![0.0; rows * self.classes];
    }

    /// The encoder layers' forward pass of `ws.h[0]` with the weights of
    /// `w`: every hidden layer's activations into `ws.h`.
    fn forward_hidden(
        &self,
        ws: &mut ClassifierScratch,
        w: &Weights<'_>,
        rows: usize,
        par: Par,
    ) -> Result<()> {
        for i in 0..self.sizes.len() - 1 {
            let (lo, hi) = ws.h.split_at_mut(i + 1);
            dense_forward(
                &lo[i],
                rows,
                w.of(self.enc_w[i], Use::AsStored),
                self.params.value(self.enc_c[i]).as_slice(),
                self.activations[i],
                &mut hi[0],
                par,
            )?;
        }
        Ok(())
    }

    /// Forward pass of `ws.h[0]` with the weights of `w`: class
    /// probabilities into `ws.p`.
    fn forward(
        &self,
        ws: &mut ClassifierScratch,
        w: &Weights<'_>,
        rows: usize,
        par: Par,
    ) -> Result<()> {
        self.forward_hidden(ws, w, rows, par)?;
        let s = &self.sizes;
        let l = s.len() - 1;
        let k = self.classes;
        product(
            1.0,
            MatRef::row_major(&ws.h[l][..rows * s[l]], rows, s[l])?,
            w.of(self.out_w, Use::AsStored),
            Accum::Replace,
            MatMut::row_major(&mut ws.p[..rows * k], rows, k)?,
            &BiasAdd::new(self.params.value(self.out_b).as_slice()),
            par,
        )?;
        for row in ws.p[..rows * k].chunks_exact_mut(k) {
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
        // The workspace is moved out (no allocation) so that the step can
        // read the parameters while it writes the buffers.
        let mut ws = std::mem::take(&mut self.ws);
        let mut packed = std::mem::take(&mut ws.packed);
        self.pack_weights(&mut packed);
        let weights = Weights::new(&self.params, self.precision, Some(&packed));
        let step = self.step(&mut ws, &weights, (x, labels), grads, par);
        ws.packed = packed;
        self.ws = ws;
        step
    }

    /// [`loss_and_gradient`](Self::loss_and_gradient) on `ws` with the
    /// weights of `w`, for a non-empty batch whose shapes are checked.
    fn step(
        &self,
        ws: &mut ClassifierScratch,
        w: &Weights<'_>,
        (x, labels): (MatRef<'_>, &[u32]),
        grads: &mut ParamSet,
        par: Par,
    ) -> Result<(f64, f64)> {
        let rows = x.rows();
        copy_rows(&x, &mut ws.h[0]);
        self.forward(ws, w, rows, par)?;
        let k = self.classes;
        let inv_b = 1.0 / rows as f32;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (row, &y) in ws.p[..rows * k].chunks_exact_mut(k).zip(labels) {
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
        let d = &ws.p[..rows * k];
        matmul(
            MatRef::row_major(&ws.h[l][..rows * s[l]], rows, s[l])?.t(),
            w.data(MatRef::row_major(d, rows, k)?),
            Accum::Replace,
            MatMut::row_major(grads.value_mut(self.out_w).as_mut_slice(), s[l], k)?,
            par,
        )?;
        col_sums(d, rows, k, grads.value_mut(self.out_b).as_mut_slice(), par)?;
        if l > 0 {
            matmul(
                MatRef::row_major(d, rows, k)?,
                w.of(self.out_w, Use::Transposed),
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
            w,
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
        let mut ws = std::mem::take(&mut self.ws);
        copy_rows(&x, &mut ws.h[0]);
        let weights = Weights::new(&self.params, self.precision, None);
        let forward = self.forward(&mut ws, &weights, rows, par);
        let k = self.classes;
        for (o, row) in out.iter_mut().zip(ws.p[..rows * k].chunks_exact(k)) {
            *o = argmax(row) as u32;
        }
        self.ws = ws;
        forward
    }

    /// Layer sizes `[V, H_1, …, H_L]` (the softmax's classes apart).
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The activation of each encoder layer.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Checks `x` (its columns) and `out` (its rows, and `cols` columns)
    /// of a forward pass.
    fn check_io(&self, what: &str, x: &MatRef<'_>, out: &MatMut<'_>, cols: usize) -> Result<()> {
        check_len(
            &format!("{what}: columns of the data"),
            x.cols(),
            self.sizes[0],
        )?;
        check_len(&format!("{what}: rows of out"), out.rows(), x.rows())?;
        check_len(&format!("{what}: columns of out"), out.cols(), cols)
    }

    /// The class probabilities `p(y|x)` of the rows of `x` into `out`
    /// (`rows x classes`), with the caller's scratch: no allocation once it
    /// has held a batch this large.
    pub fn probabilities_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut ClassifierScratch,
        par: Par,
    ) -> Result<()> {
        self.check_io("Classifier::probabilities", &x, &out, self.classes)?;
        let rows = x.rows();
        if rows == 0 {
            return Ok(());
        }
        self.ensure_in(scratch, rows);
        copy_rows(&x, &mut scratch.h[0]);
        let weights = Weights::new(&self.params, self.precision, None);
        self.forward(scratch, &weights, rows, par)?;
        write_rows(&scratch.p[..rows * self.classes], out);
        Ok(())
    }

    /// The top hidden layer's activations `h_L` of the rows of `x` into
    /// `out` (`rows x H_L`; with no hidden layer, the input itself), with
    /// the caller's scratch.
    pub fn features_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut ClassifierScratch,
        par: Par,
    ) -> Result<()> {
        let top = *self.sizes.last().unwrap_or(&0);
        self.check_io("Classifier::features", &x, &out, top)?;
        let rows = x.rows();
        if rows == 0 {
            return Ok(());
        }
        self.ensure_in(scratch, rows);
        copy_rows(&x, &mut scratch.h[0]);
        let weights = Weights::new(&self.params, self.precision, None);
        self.forward_hidden(scratch, &weights, rows, par)?;
        let l = self.sizes.len() - 1;
        write_rows(&scratch.h[l][..rows * top], out);
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

/// The index of the largest entry of `row` (the first of equals).
pub fn argmax(row: &[f32]) -> usize {
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
