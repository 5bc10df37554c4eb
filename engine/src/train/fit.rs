//! The training loop of a [`Trainer`], phase by phase: the run's setup
//! ([`FitRun`]), an epoch (its shuffle, then one step per minibatch and
//! the progress report), one step (zeroed gradients, the model's gradient
//! with the fused update offered, the checked optimiser step), and the end
//! of an epoch (validation, the history record, the best parameters, the
//! observer, early stopping). [`Trainer::fit_checkpointed`] runs the same
//! loop in pieces with a save between them.

use std::time::{Duration, Instant};

use latent_kernels::Par;

use crate::checkpoint::EpochRecord;
use crate::data::Dataset;
use crate::data::rows::{RowSource, TrainRows};
use crate::error::{EngineError, Result};
use crate::minibatch::{Batch, Minibatcher};
use crate::optim::Optimizer;
use crate::params::ParamSet;
use crate::train::{
    BatchProgress, Control, EpochProgress, FitSummary, FusedUpdate, Metrics, Model, Observer,
    StepContext, StepOutput, StopReason, Trainer,
};

/// What one call of `fit` keeps across its epochs: the data (the training
/// rows from their source, in memory or a file), the batcher (its buffers
/// allocated once) and where the call started.
struct FitRun<'d> {
    x: &'d dyn RowSource,
    labels: Option<&'d [u32]>,
    valid: Option<&'d Dataset>,
    batcher: Minibatcher,
    batches: usize,
    par: Par,
    started: Instant,
    first_epoch: usize,
}

/// The running sums of one epoch (weighted by the rows of each batch).
pub(super) struct EpochSums {
    started: Instant,
    pub(super) loss: f64,
    pub(super) samples: usize,
    pub(super) metrics: Metrics,
}

impl EpochSums {
    fn start() -> Self {
        EpochSums {
            started: Instant::now(),
            loss: 0.0,
            samples: 0,
            metrics: Metrics::new(),
        }
    }

    /// Adds a batch of `rows` rows.
    fn add(&mut self, out: &StepOutput, rows: usize) -> Result<()> {
        self.loss += out.loss * rows as f64;
        self.samples += rows;
        self.metrics.add_weighted(&out.metrics, rows as f64)
    }
}

pub(super) fn diverged(
    epoch: usize,
    batch: usize,
    tensor: String,
    index: usize,
    value: f32,
) -> EngineError {
    EngineError::Diverged {
        epoch,
        batch,
        tensor,
        index,
        value,
    }
}

/// The SGD step of tensor `t` offered to the model: its rule and velocity
/// from `optimizer`, its output in `spare`; `None` when the optimiser has
/// no such step (not SGD with momentum) or `t` is out of range.
fn offer_fused<'a>(
    params: &ParamSet,
    spare: &'a mut ParamSet,
    optimizer: &'a mut Optimizer,
    t: usize,
    epoch: usize,
) -> Option<FusedUpdate<'a>> {
    let role = params.tensors().get(t)?.role;
    let out = spare.tensors_mut().get_mut(t)?;
    let (rule, velocity) = optimizer.fusable_sgd(t, role, epoch)?;
    Some(FusedUpdate {
        tensor: t,
        rule,
        velocity,
        out: &mut out.value,
        applied: false,
        non_finite: false,
    })
}

impl<M: Model> Trainer<M> {
    /// Trains on `train` until [`TrainConfig::epochs`](crate::TrainConfig::epochs)
    /// epochs are done (or an early stop, or the observer asks to stop),
    /// validating on `valid` after each epoch when given. `train` is a
    /// [`Dataset`] or any [`TrainRows`]: rows read from a file as they are
    /// needed train the same as the matrix of those rows.
    pub fn fit<'d>(
        &mut self,
        train: impl Into<TrainRows<'d>>,
        valid: Option<&'d Dataset>,
        observer: &mut (dyn Observer + Send),
    ) -> Result<FitSummary>
    where
        M: Send,
    {
        let mut run = self.prepare(train.into(), valid)?;
        let until = self.config.epochs;
        let stop = self.in_pool(|t| t.run_epochs(&mut run, observer, until))?;
        Ok(self.summary(&run, stop.unwrap_or(StopReason::Completed)))
    }

    /// [`fit`](Self::fit) with a checkpoint every `every` epochs: calls
    /// `save` with the trainer after each `every` epochs counted from the
    /// epochs done when the call starts (with 3 done and `every` 5, after
    /// epochs 8, 13, ...), except when the run ends there (all epochs done,
    /// an early stop, the observer asked to stop): the caller saves the end
    /// itself. `None` never saves. An error from `save` ends the call.
    ///
    /// The parameters, and every checkpoint `save` can take, are those of a
    /// trainer fitted in pieces of `every` epochs with
    /// [`set_epochs`](Self::set_epochs) to the end of each piece, or rebuilt
    /// with that target and [`restore`](Self::restore)d from its own
    /// checkpoint; the returned summary covers the whole call
    /// ([`FitSummary::epochs_run`] summed over the pieces, the stop reason
    /// of the last). Two things differ from the rebuilt pieces: the
    /// [`trainer`](crate::Checkpoint::trainer) text of a checkpoint
    /// describes this trainer's configuration as it is, so it says
    /// `epochs=<the target of the whole run>` (the piece's end in the
    /// rebuilt trainer); and with
    /// [`EarlyStopping::restore_best`](crate::EarlyStopping::restore_best)
    /// the best parameters are tracked across the whole call, where a
    /// rebuilt trainer only knows those since its rebuild. Progress reports
    /// count towards the whole run's target.
    ///
    /// `every == Some(0)` is an error.
    pub fn fit_checkpointed<'d, E: From<EngineError>>(
        &mut self,
        train: impl Into<TrainRows<'d>>,
        valid: Option<&'d Dataset>,
        observer: &mut (dyn Observer + Send),
        every: Option<usize>,
        mut save: impl FnMut(&Trainer<M>) -> std::result::Result<(), E>,
    ) -> std::result::Result<FitSummary, E>
    where
        M: Send,
    {
        if every == Some(0) {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit_checkpointed: epochs between checkpoints",
                value: "0".into(),
                expected: "at least 1",
            }
            .into());
        }
        let mut run = self.prepare(train.into(), valid)?;
        let target = self.config.epochs;
        loop {
            let until = every.map_or(target, |n| self.epoch.saturating_add(n).min(target));
            let stop = self.in_pool(|t| t.run_epochs(&mut run, &mut *observer, until))?;
            if let Some(stop) = stop {
                return Ok(self.summary(&run, stop));
            }
            if self.epoch >= target {
                return Ok(self.summary(&run, StopReason::Completed));
            }
            save(self)?;
        }
    }

    /// Runs `f` in the trainer's pool (the caller's when it has none).
    fn in_pool<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R
    where
        M: Send,
    {
        match self.pool.take() {
            Some(pool) => {
                let r = pool.install(|| f(self));
                self.pool = Some(pool);
                r
            }
            None => f(self),
        }
    }

    /// Checks the data and allocates what the run needs beyond the
    /// trainer's own buffers: the batcher, the history's room, the copy of
    /// the best parameters (early stopping that restores them).
    fn prepare<'d>(
        &mut self,
        train: TrainRows<'d>,
        valid: Option<&'d Dataset>,
    ) -> Result<FitRun<'d>> {
        let cfg = self.config;
        let x = train.x;
        if x.rows() == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: training data",
                value: "0 samples".into(),
                expected: "at least one sample",
            });
        }
        let batcher = Minibatcher::new(
            x.rows(),
            x.cols(),
            cfg.batch_size,
            cfg.seed,
            cfg.drop_last,
            cfg.shuffle,
        )?;
        let batches = batcher.num_batches();
        let ranks = self.rank().1;
        if batcher.batch_len(0) < ranks {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: rows of the first batch for data-parallel ranks",
                value: format!("{} rows, {ranks} ranks", batcher.batch_len(0)),
                expected: "at least one row per rank",
            });
        }
        if batches == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: batch size with drop_last",
                value: format!("{} > {} samples", cfg.batch_size, x.rows()),
                expected: "at least one full batch",
            });
        }
        self.split_persistent_state(&batcher, self.par())?;
        self.history.reserve(cfg.epochs.saturating_sub(self.epoch));
        if cfg.early_stopping.is_some_and(|e| e.restore_best)
            && valid.is_some()
            && self.best.is_none()
        {
            self.best = Some(self.model.params().clone());
        }
        Ok(FitRun {
            x,
            labels: train.labels,
            valid,
            batcher,
            batches,
            par: self.par(),
            started: Instant::now(),
            first_epoch: self.epoch,
        })
    }

    /// What the run did, for the caller.
    fn summary(&self, run: &FitRun<'_>, stop: StopReason) -> FitSummary {
        FitSummary {
            epochs_run: self.epoch - run.first_epoch,
            stop,
            last_train_loss: self.history.last().map(|h| h.train_loss),
            best_valid: self.best_valid().map(|b| b.1),
        }
    }

    /// The epoch with the lowest validation metric in the history (the
    /// first of equals) and that metric.
    fn best_valid(&self) -> Option<(usize, f64)> {
        self.history
            .iter()
            .filter_map(|h| h.valid_metric.map(|v| (h.epoch as usize, v)))
            .fold(None, |best: Option<(usize, f64)>, (e, v)| match best {
                Some((_, b)) if b <= v => best,
                _ => Some((e, v)),
            })
    }

    /// Trains epochs until `until` are done; `Some` when the run stopped
    /// before that.
    fn run_epochs(
        &mut self,
        run: &mut FitRun<'_>,
        observer: &mut (dyn Observer + Send),
        until: usize,
    ) -> Result<Option<StopReason>> {
        while self.epoch < until {
            if let Some(stop) = self.train_epoch(run, observer)? {
                return Ok(Some(stop));
            }
        }
        Ok(None)
    }

    /// One epoch: the shuffle of `(seed, epoch)`, a step per minibatch with
    /// its progress report, then [`end_epoch`](Self::end_epoch).
    fn train_epoch(
        &mut self,
        run: &mut FitRun<'_>,
        observer: &mut (dyn Observer + Send),
    ) -> Result<Option<StopReason>> {
        let epoch = self.epoch;
        let mut sums = EpochSums::start();
        run.batcher.start_epoch(epoch);
        for b in 0..run.batches {
            // The gather of the next minibatch runs on the pool too: it
            // waits on memory (shuffled rows), and it wakes the pool's
            // threads before the step's first parallel region.
            let lr = self.optimizer.lr(epoch);
            let rows = run.batcher.batch_len(b);
            let (out, counted) = match self.reducer.as_ref().map(|r| (r.rank(), r.ranks())) {
                None => {
                    let batch = run.batcher.batch_with(b, run.x, run.labels, run.par)?;
                    (self.step(&batch, b, run.par)?, rows)
                }
                Some(rank) => {
                    let share = (run.batcher).batch_share(b, run.x, run.labels, run.par, rank)?;
                    if self.average_every.is_some() {
                        (self.step_local(&share, (b, rows), run.par)?, share.len())
                    } else {
                        (self.step_reduced(&share, (b, rows), run.par)?, rows)
                    }
                }
            };
            sums.add(&out, counted)?;
            self.average_if_due((b, run.batches), &mut sums)?;
            let control = self.report_batch(run, &sums, &out, (b, lr), observer);
            if self.agree(control)? == Control::Stop {
                self.average_now(None, b)?;
                return Ok(Some(StopReason::Observer));
            }
        }
        self.end_epoch(run, &sums, observer)
    }

    /// One optimisation step on `batch` (number `b` of the epoch): the
    /// gradients zeroed (unless the model overwrites them), the model's
    /// gradient with the fused update offered, the loss checked, then
    /// [`apply_update`](Self::apply_update).
    pub(super) fn step(&mut self, batch: &Batch<'_>, b: usize, par: Par) -> Result<StepOutput> {
        let epoch = self.epoch;
        if !self.model.overwrites_gradients() {
            self.grads.fill_zero();
        }
        let fusable = if self.config.fuse_updates {
            self.model.fusable_tensor()
        } else {
            None
        };
        let fused = fusable.and_then(|t| {
            let (params, spare) = (self.model.params(), &mut self.spare_params);
            offer_fused(params, spare, &mut self.optimizer, t, epoch)
        });
        let mut ctx = StepContext {
            par,
            rng: &mut self.rng,
            epoch,
            batch: b,
            fused,
        };
        let out = self.model.gradient(batch, &mut self.grads, &mut ctx)?;
        let fused = ctx
            .fused
            .filter(|f| f.applied)
            .map(|f| (f.tensor, f.non_finite));
        if !out.loss.is_finite() {
            return Err(diverged(epoch, b, "loss".into(), 0, out.loss as f32));
        }
        self.apply_update(fused, b, par)?;
        Ok(out)
    }

    /// The optimiser's step from the gradients, for every tensor but the
    /// one the model updated itself (`fused`: its index and whether a value
    /// it wrote is not finite).
    ///
    /// One fused pass: the update is written into the spare parameter set
    /// and checked as it is written; the sets swap only when it is finite,
    /// so the last good parameters stay in the model otherwise. The error
    /// names the first non-finite gradient when there is one, else the
    /// first non-finite new parameter.
    pub(super) fn apply_update(
        &mut self,
        fused: Option<(usize, bool)>,
        b: usize,
        par: Par,
    ) -> Result<()> {
        let epoch = self.epoch;
        self.optimizer.set_par(par);
        let mut bad = self.optimizer.step_into_except(
            self.model.params(),
            &self.grads,
            &mut self.spare_params,
            epoch,
            fused.map(|(t, _)| t),
        )?;
        if let Some((t, true)) = fused {
            let w = self.spare_params.value(t).as_slice();
            if let Some((i, v)) = crate::matrix::first_non_finite(w) {
                bad = bad.or(Some((t, i, v)));
            }
        }
        if let Some((t, i, v)) = bad {
            if let Some((gt, gi, gv)) = self.grads.first_non_finite() {
                let name = format!("gradient of {}", self.grads.tensors()[gt].name);
                return Err(diverged(epoch, b, name, gi, gv));
            }
            let name = self.model.params().tensors()[t].name.clone();
            return Err(diverged(epoch, b, name, i, v));
        }
        std::mem::swap(self.model.params_mut(), &mut self.spare_params);
        Ok(())
    }

    /// Tells the observer about batch `b` (trained at rate `lr`).
    fn report_batch(
        &self,
        run: &FitRun<'_>,
        sums: &EpochSums,
        out: &StepOutput,
        (b, lr): (usize, f32),
        observer: &mut (dyn Observer + Send),
    ) -> Control {
        let (epoch, epochs) = (self.epoch, self.config.epochs);
        let elapsed = sums.started.elapsed().as_secs_f64();
        let rate = sums.samples as f64 / elapsed.max(1e-9);
        let per_epoch = run.batcher.samples_per_epoch();
        let remaining = (per_epoch - sums.samples) + (epochs - epoch - 1) * per_epoch;
        observer.on_batch(&BatchProgress {
            epoch,
            epochs,
            batch: b,
            batches: run.batches,
            loss: out.loss,
            metrics: &out.metrics,
            lr,
            samples_per_sec: rate,
            eta: Some(Duration::from_secs_f64(remaining as f64 / rate.max(1e-9))),
        })
    }

    /// The end of an epoch: validation, the history record, the copy of
    /// the best parameters, the observer, then early stopping.
    fn end_epoch(
        &mut self,
        run: &FitRun<'_>,
        sums: &EpochSums,
        observer: &mut (dyn Observer + Send),
    ) -> Result<Option<StopReason>> {
        let epoch = self.epoch;
        self.gather_rank_rngs()?;
        let valid_metric = self.validate(run)?;
        let prev_best = self.best_valid();
        let n = sums.samples as f64;
        self.history.push(EpochRecord {
            epoch: epoch as u64,
            train_loss: sums.loss / n,
            valid_metric,
            samples: sums.samples as u64,
            seconds: sums.started.elapsed().as_secs_f64(),
            metrics: (sums.metrics.as_slice().iter())
                .map(|&(k, v)| (k.to_string(), v / n))
                .collect(),
        });
        self.epoch += 1;
        let improved = self.keep_if_best(valid_metric, prev_best)?;
        let control = self.report_epoch(run, improved, observer);
        if self.agree(control)? == Control::Stop {
            return Ok(Some(StopReason::Observer));
        }
        self.early_stop(epoch, valid_metric)
    }

    /// The model's validation metric on the validation data, if any; a
    /// non-finite one is divergence.
    fn validate(&mut self, run: &FitRun<'_>) -> Result<Option<f64>> {
        let metric = match run.valid {
            Some(v) => (self.model).validation_metric(&v.x, v.labels.as_deref(), run.par)?,
            None => None,
        };
        if let Some(v) = metric
            && !v.is_finite()
        {
            let (epoch, batch) = (self.epoch, run.batches - 1);
            return Err(diverged(
                epoch,
                batch,
                "validation metric".into(),
                0,
                v as f32,
            ));
        }
        Ok(metric)
    }

    /// Whether `valid_metric` improves on `prev_best` by more than the
    /// early stopping's `min_delta` (any metric improves on none); if so,
    /// the parameters are copied into the best ones (when kept).
    fn keep_if_best(
        &mut self,
        valid_metric: Option<f64>,
        prev_best: Option<(usize, f64)>,
    ) -> Result<bool> {
        let min_delta = self.config.early_stopping.map_or(0.0, |e| e.min_delta);
        let improved = match (valid_metric, prev_best) {
            (Some(v), Some((_, b))) => v < b - min_delta,
            (Some(_), None) => true,
            _ => false,
        };
        if improved && let Some(best) = &mut self.best {
            best.copy_from(self.model.params())?;
        }
        Ok(improved)
    }

    /// Tells the observer about the epoch just recorded.
    fn report_epoch(
        &self,
        run: &FitRun<'_>,
        improved: bool,
        observer: &mut (dyn Observer + Send),
    ) -> Control {
        let record = self.history.last().expect("an epoch was just recorded");
        let epochs = self.config.epochs;
        let rate = record.samples as f64 / record.seconds.max(1e-9);
        let done = (self.epoch - run.first_epoch) as f64;
        let per_epoch = run.started.elapsed().as_secs_f64() / done;
        observer.on_epoch(&EpochProgress {
            record,
            epochs,
            samples_per_sec: rate,
            eta: Some(Duration::from_secs_f64(
                per_epoch * epochs.saturating_sub(self.epoch) as f64,
            )),
            improved,
        })
    }

    /// Early stopping after epoch `epoch` (validated when `valid_metric`
    /// is given): when `patience` epochs have passed since the best
    /// improvement by more than `min_delta`, the best parameters go back
    /// (when kept) and the run stops.
    fn early_stop(
        &mut self,
        epoch: usize,
        valid_metric: Option<f64>,
    ) -> Result<Option<StopReason>> {
        let (Some(es), Some(_)) = (self.config.early_stopping, valid_metric) else {
            return Ok(None);
        };
        let mut best: Option<(usize, f64)> = None;
        for h in &self.history {
            if let Some(v) = h.valid_metric
                && best.is_none_or(|(_, b)| v < b - es.min_delta)
            {
                best = Some((h.epoch as usize, v));
            }
        }
        let Some((best_epoch, _)) = best else {
            return Ok(None);
        };
        if epoch - best_epoch < es.patience {
            return Ok(None);
        }
        if es.restore_best
            && let Some(b) = &self.best
        {
            self.model.params_mut().copy_from(b)?;
        }
        Ok(Some(StopReason::EarlyStopped { best_epoch }))
    }
}
