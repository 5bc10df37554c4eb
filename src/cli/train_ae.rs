//! `latent train ae | vae | deep-ae`: the autoencoders of
//! `latent_models::ae`, trained through the engine's `Trainer` with the
//! shared [`Session`] (progress, metrics file, validation,
//! `--checkpoint-every`, atomic model files) of [`train`](crate::cli::train).
//!
//! - `ae`: an [`Autoencoder`] with the encoder `--layers V,H1,…` (or
//!   `--hidden H`), `--activation`, `--loss`, `--tied`, and the regularised
//!   variants as flags: `--sparsity l1:λ | kl:ρ:β`, `--noise mask:ν |
//!   gaussian:s | salt-pepper:ν` (denoising), `--contractive λ`.
//! - `vae`: a [`Vae`] with hidden layers `--layers V,H1,…` (or `--hidden H`)
//!   and `--latent Z`; `--loss bce` is a Bernoulli decoder, `mse` a
//!   unit-variance Gaussian one.
//! - `deep-ae`: greedy layer-wise pretraining of `--layers V,H1,…,HL`
//!   (`--pretrain ae`, one-layer autoencoders with the ae flags, or
//!   `--pretrain rbm`), `--pretrain-epochs` a layer, then the stack unrolled
//!   into a deep autoencoder (`Stack::unroll`) and fine-tuned end to end
//!   for `--epochs`. The model file says which phase it is in, so
//!   `--resume` (and `--checkpoint-every`) work in both.

use std::path::Path;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{Model, Trainer};
use latent_engine::{Checkpoint, Dataset, Par, ParamSet};
use latent_kernels::activation::Activation;
use latent_models::ModelError;
use latent_models::ae::{
    AeConfig, Autoencoder, Loss, PretrainedLayer, StackedPretrainer, Vae, VaeConfig, VaeOutput,
    parse_activations,
};
use latent_models::rbm::{Rbm, RbmConfig};
use serde_json::json;

use crate::cli::error::{CliError, Result};
use crate::cli::modelfile::{
    self, DeepAeSpec, DeepAeState, LayerModel, Model as FileModel, Pretrain,
};
use crate::cli::progress::json_f64;
use crate::cli::train::{
    Kind, LossArg, PretrainArg, Session, Settings, TrainArgs, TrainData, best_text, check_columns,
    check_resumed_config, dashed, history_json, load_resumed, parse_layers, rbm_config, read_data,
};
use crate::cli::{Global, Report};

/// A library configuration error as an error of the flag that set it.
fn flag_err(flag: &'static str) -> impl Fn(ModelError) -> CliError {
    move |e| match e {
        ModelError::InvalidConfig {
            value, expected, ..
        } => CliError::arg(flag, value, expected),
        other => CliError::from(other),
    }
}

/// The encoder sizes from `--layers` (visible first, as wide as the data)
/// or `--hidden` (`[V, H]`); `None` when neither is given.
fn flag_sizes(args: &TrainArgs, data: &TrainData, min: usize) -> Result<Option<Vec<usize>>> {
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

fn missing_sizes(kind: Kind) -> CliError {
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
fn choose_loss(args: &TrainArgs, data: &TrainData, stored: Option<Loss>) -> Result<Loss> {
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
fn activations(
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
fn regularise(args: &TrainArgs, mut c: AeConfig) -> Result<AeConfig> {
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
fn ae_config(
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
    let c = regularise(args, c)?;
    c.validate()?;
    Ok(c)
}

fn resume_path(args: &TrainArgs) -> &Path {
    args.resume.as_deref().unwrap_or(Path::new(""))
}

/// `latent train ae`.
pub fn train_ae(args: &TrainArgs, g: &Global) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = Settings::resolve(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let sizes = flag_sizes(args, &data, 2)?;
    let (ae, state) = match resumed {
        Some(m) => {
            let FileModel::Ae(ae) = m.model else {
                return Err(CliError::mismatch("resumed model", "ae", "another kind"));
            };
            check_columns(&args.data, &data.train.x, ae.n_visible())?;
            let file = ae.config().clone();
            let loss = choose_loss(args, &data, Some(file.loss))?;
            let flags = ae_config(
                args,
                sizes.unwrap_or_else(|| file.sizes.clone()),
                loss,
                Some(&file),
            )?;
            check_resumed_config(args, &file.to_spec(), &flags.to_spec())?;
            let state = modelfile::resume_state(&m.checkpoint, ae.kind());
            (*ae, Some(state))
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::Ae))?;
            let loss = choose_loss(args, &data, None)?;
            let mut ae = Autoencoder::new(ae_config(args, sizes, loss, None)?, settings.seed)?;
            ae.init_output_bias_from_data(&data.train.x, Par::All)?;
            (ae, None)
        }
    };
    let sizes = ae.config().sizes.clone();
    let variant = ae.kind().to_string();
    let label = format!("ae {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone());
    let intro = format!("{label} ({variant})");
    let (mut trainer, summary) = session.train_model(
        (ae, state),
        &intro,
        "ae",
        |m: &Autoencoder| m.config().to_spec(),
        &data,
        &settings,
    )?;
    let seconds = session.started.elapsed().as_secs_f64();
    let loss = trainer.model().config().loss;
    let recon = trainer
        .model_mut()
        .mean_reconstruction_error(&data.train.x, 500, Par::All)?;
    Ok(session.model_report(
        &intro,
        &format!(
            "reconstruction error {recon:.4} ({} per sample)",
            loss.name()
        ),
        seconds,
        &trainer,
        &summary,
        json!({
            "kind": "ae",
            "variant": variant,
            "sizes": sizes,
            "loss": loss.name(),
            "reconstruction_error": json_f64(recon),
        }),
    ))
}

/// The VAE the flags describe, on top of `base` when resuming.
fn vae_config(
    args: &TrainArgs,
    sizes: Vec<usize>,
    loss: Loss,
    base: Option<&VaeConfig>,
) -> Result<VaeConfig> {
    let hidden = sizes.len() - 1;
    let acts = activations(
        args,
        hidden,
        base.map(|b| b.activations.as_slice()),
        Activation::Relu,
    )?;
    let latent = args
        .latent
        .map(|z| z as usize)
        .or(base.map(|b| b.latent))
        .unwrap_or(20);
    let output = match loss {
        Loss::CrossEntropy => VaeOutput::Bernoulli,
        Loss::SquaredError => VaeOutput::Gaussian,
    };
    let mut c = VaeConfig::new(sizes[0], &sizes[1..], latent, Activation::Relu)
        .with_activations(&acts)
        .with_output(output);
    c.init_std = base.and_then(|b| b.init_std);
    c.validate()?;
    Ok(c)
}

/// `latent train vae`.
pub fn train_vae(args: &TrainArgs, g: &Global) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = Settings::resolve(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let sizes = flag_sizes(args, &data, 1)?;
    let (vae, state) = match resumed {
        Some(m) => {
            let FileModel::Vae(vae) = m.model else {
                return Err(CliError::mismatch("resumed model", "vae", "another kind"));
            };
            let file = vae.config().clone();
            check_columns(&args.data, &data.train.x, file.sizes[0])?;
            let stored = match file.output {
                VaeOutput::Bernoulli => Loss::CrossEntropy,
                VaeOutput::Gaussian => Loss::SquaredError,
            };
            let loss = choose_loss(args, &data, Some(stored))?;
            let flags = vae_config(
                args,
                sizes.unwrap_or_else(|| file.sizes.clone()),
                loss,
                Some(&file),
            )?;
            check_resumed_config(args, &file.to_spec(), &flags.to_spec())?;
            let state = modelfile::resume_state(&m.checkpoint, vae.kind());
            (*vae, Some(state))
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::Vae))?;
            let loss = choose_loss(args, &data, None)?;
            (
                Vae::new(vae_config(args, sizes, loss, None)?, settings.seed)?,
                None,
            )
        }
    };
    let mut sizes = vae.config().sizes.clone();
    sizes.push(vae.latent());
    let output = vae.config().output;
    let label = format!("vae {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone());
    let (mut trainer, summary) = session.train_model(
        (vae, state),
        &format!("{label} ({output} output)"),
        "vae",
        |m: &Vae| m.config().to_spec(),
        &data,
        &settings,
    )?;
    let seconds = session.started.elapsed().as_secs_f64();
    let elbo = trainer
        .model_mut()
        .elbo(&data.train.x, 500, settings.seed, Par::All)?;
    Ok(session.model_report(
        &label,
        &format!("ELBO {elbo:.4} per sample"),
        seconds,
        &trainer,
        &summary,
        json!({
            "kind": "vae",
            "sizes": sizes,
            "output": output.to_string(),
            "elbo": json_f64(elbo),
        }),
    ))
}

// ---------------------------------------------------------------- deep-ae

/// The deep autoencoder setup the flags describe, on top of `base` when
/// resuming; every pretraining layer's configuration is checked.
fn deep_spec(
    args: &TrainArgs,
    sizes: Vec<usize>,
    loss: Loss,
    epochs: usize,
    base: Option<&DeepAeSpec>,
) -> Result<DeepAeSpec> {
    let depth = sizes.len() - 1;
    let acts = activations(
        args,
        depth,
        base.map(|b| b.config.activations.as_slice()),
        Activation::Sigmoid,
    )?;
    // Exactly the configuration `Stack::unroll` gives.
    let config = AeConfig::new(&sizes, Activation::Identity)
        .with_activations(&acts)
        .with_loss(loss);
    config.validate()?;
    let kind = match (args.pretrain, base.map(|b| &b.pretrain)) {
        (Some(k), _) => k,
        (None, Some(Pretrain::Rbm(_))) => PretrainArg::Rbm,
        (None, _) => PretrainArg::Ae,
    };
    let pretrain = match kind {
        PretrainArg::Ae => {
            if let Some(flag) = [
                ("--cd-k", args.cd_k.is_some()),
                ("--persistent", args.persistent),
            ]
            .iter()
            .find_map(|(f, given)| given.then_some(*f))
            {
                return Err(CliError::unsupported(
                    format!("{flag} with --pretrain ae"),
                    "it applies to --pretrain rbm",
                ));
            }
            let mut t = match base.map(|b| &b.pretrain) {
                Some(Pretrain::Ae(t)) => t.clone(),
                _ => AeConfig::new(&sizes[..2], acts[0]),
            };
            t.sizes = sizes[..2].to_vec();
            t.activations = vec![acts[0]];
            t.loss = loss;
            Pretrain::Ae(regularise(args, t)?)
        }
        PretrainArg::Rbm => {
            if let Some(flag) = [
                ("--tied", args.tied),
                ("--noise", args.noise.is_some()),
                ("--sparsity", args.sparsity.is_some()),
                ("--contractive", args.contractive.is_some()),
            ]
            .iter()
            .find_map(|(f, given)| given.then_some(*f))
            {
                return Err(CliError::unsupported(
                    format!("{flag} with --pretrain rbm"),
                    "it applies to --pretrain ae",
                ));
            }
            if let Some(a) = acts.iter().find(|&&a| a != Activation::Sigmoid) {
                return Err(CliError::arg(
                    "--activation",
                    a.name(),
                    "sigmoid on every layer with --pretrain rbm (an RBM's hidden units are sigmoid)",
                ));
            }
            let rc = match base.map(|b| &b.pretrain) {
                Some(Pretrain::Rbm(rc)) => *rc,
                _ => RbmConfig::bernoulli(sizes[0], sizes[1]),
            };
            let mut rc = rbm_config(args, rc)?;
            rc.n_visible = sizes[0];
            rc.n_hidden = sizes[1];
            Pretrain::Rbm(rc)
        }
    };
    let spec = DeepAeSpec {
        config,
        pretrain,
        pretrain_epochs: args
            .pretrain_epochs
            .map(|e| e as usize)
            .or(base.map(|b| b.pretrain_epochs))
            .unwrap_or(epochs),
    };
    if let Pretrain::Ae(t) = &spec.pretrain {
        for l in 0..depth {
            spec.layer_ae(t, l).validate().map_err(|e| {
                CliError::Model(ModelError::Layer {
                    layer: l,
                    source: Box::new(e),
                })
            })?;
        }
    }
    Ok(spec)
}

/// What the pretraining-phase saves need besides the trainer.
struct Staged<'a> {
    args: &'a TrainArgs,
    spec: &'a DeepAeSpec,
    done: &'a [ParamSet],
    history: &'a [EpochRecord],
    line: &'a str,
    data: &'a TrainData,
}

impl Staged<'_> {
    /// Writes the deep-ae file in pretraining: the finished layers, the
    /// layer in training (`t`, layer `l`), every record so far.
    fn save<M: Model>(&self, t: &Trainer<M>, l: usize) -> Result<()> {
        let params: Vec<&ParamSet> = self.done.iter().collect();
        let mut h = self.history.to_vec();
        h.extend(modelfile::tag_layer(t.history(), l));
        let mut ck = modelfile::staged_checkpoint(&params, &t.checkpoint(), h)?;
        modelfile::finish(
            &mut ck,
            "deep-ae",
            &self.spec.lines("pretrain"),
            self.line,
            &self.data.pre,
        )?;
        Ok(ck.save(&self.args.out)?)
    }
}

/// Pretrains one layer (`model`, restored from `state` when resuming) in
/// the session, and with `--checkpoint-every` saves the file when the
/// layer is done; returns the trained layer, its parameters, its history
/// records (tagged with the layer) and the epochs run.
#[allow(clippy::too_many_arguments)]
fn pretrain_layer<M: Model + Send>(
    session: &mut Session<'_>,
    model: M,
    state: Option<Checkpoint>,
    l: usize,
    settings: &Settings,
    input: (&Dataset, Option<&Dataset>),
    staged: &Staged<'_>,
    finish: impl Fn(&M) -> Result<PretrainedLayer>,
) -> Result<(PretrainedLayer, ParamSet, Vec<EpochRecord>, usize)> {
    let s = &staged.spec.config.sizes;
    let label = format!(
        "deep-ae pretraining layer {l} ({}-{}, {})",
        s[l],
        s[l + 1],
        model.kind()
    );
    session.obs.stage(label.clone(), Some(l));
    let layer_settings = Settings {
        epochs: staged.spec.pretrain_epochs,
        ..*settings
    };
    let mut save = |t: &Trainer<M>| staged.save(t, l);
    let (trainer, summary) = session.train(
        (model, state),
        &label,
        input,
        &staged.data.pre,
        &layer_settings,
        &mut save,
    )?;
    if session.every().is_some() {
        staged.save(&trainer, l)?;
    }
    let layer = finish(trainer.model())?;
    let records = modelfile::tag_layer(trainer.history(), l);
    Ok((
        layer,
        trainer.model().params().clone(),
        records,
        summary.epochs_run,
    ))
}

/// `latent train deep-ae`.
pub fn train_deep_ae(args: &TrainArgs, g: &Global) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = Settings::resolve(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let sizes = flag_sizes(args, &data, 2)?;
    let (spec, state) = match &resumed {
        Some(m) => {
            let (file, state) = modelfile::deep_ae_state(&m.checkpoint, resume_path(args))?;
            check_columns(&args.data, &data.train.x, file.config.sizes[0])?;
            let loss = choose_loss(args, &data, Some(file.config.loss))?;
            let flags = deep_spec(
                args,
                sizes.unwrap_or_else(|| file.config.sizes.clone()),
                loss,
                settings.epochs,
                Some(&file),
            )?;
            // Like --epochs, --pretrain-epochs may change on a resume.
            let same_length = DeepAeSpec {
                pretrain_epochs: file.pretrain_epochs,
                ..flags.clone()
            };
            check_resumed_config(args, &file.lines("-"), &same_length.lines("-"))?;
            (flags, Some(state))
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::DeepAe))?;
            let loss = choose_loss(args, &data, None)?;
            (deep_spec(args, sizes, loss, settings.epochs, None)?, None)
        }
    };
    if matches!(spec.pretrain, Pretrain::Rbm(_)) && !data.in_unit() {
        return Err(CliError::mismatch(
            format!(
                "{}: value range for --pretrain rbm (Bernoulli visibles)",
                args.data.display()
            ),
            "[0, 1] (pass --scale)",
            format!("[{}, {}]", data.range.0, data.range.1),
        ));
    }
    let sizes = spec.config.sizes.clone();
    let depth = spec.config.depth();
    let line = settings.line();
    let mut session = Session::new(args, g, "deep-ae");
    let mut epochs_run = 0;

    // Where to start: finished layers, the layer to continue, or fine-tuning.
    let mut layers: Vec<PretrainedLayer> = Vec::new();
    let mut done: Vec<ParamSet> = Vec::new();
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut cont: Option<(LayerModel, Checkpoint)> = None;
    let mut finetune: Option<(Autoencoder, Checkpoint)> = None;
    if let (Some(m), Some(state)) = (&resumed, state) {
        let ck = &m.checkpoint;
        match state {
            DeepAeState::FineTuning(ae) => {
                history = ck
                    .history
                    .iter()
                    .filter(|r| modelfile::record_layer(r).is_some())
                    .cloned()
                    .collect();
                let s = modelfile::resume_state(ck, ae.kind());
                finetune = Some((*ae, s));
            }
            DeepAeState::Pretraining(mut models) => {
                let top = models.len() - 1;
                let last = models.pop().expect("a layer in training");
                for lm in &models {
                    layers.push(lm.layer()?);
                    done.push(match lm {
                        LayerModel::Ae(a) => a.params().clone(),
                        LayerModel::Rbm(r) => r.params().clone(),
                    });
                }
                history = ck
                    .history
                    .iter()
                    .filter(|r| modelfile::record_layer(r).is_some_and(|l| l != top))
                    .cloned()
                    .collect();
                let kind = match &last {
                    LayerModel::Ae(a) => a.kind().to_string(),
                    LayerModel::Rbm(r) => r.kind().to_string(),
                };
                cont = Some((last, modelfile::stage_state(ck, top, &kind)?));
            }
        }
    }

    // Phase 1: greedy layer-wise pretraining.
    let mut input = data.train.clone();
    let mut valid = data.valid.clone();
    let propagate = |layer: &PretrainedLayer, d: &Dataset| -> Result<Dataset> {
        Ok(Dataset::new(layer.encode(&d.x, Par::All)?, None)?)
    };
    let start = match finetune {
        Some((ae, s)) => (ae, Some(s)),
        None => {
            for l in 0..depth {
                if l < layers.len() {
                    input = propagate(&layers[l], &input)?;
                    valid = valid.map(|v| propagate(&layers[l], &v)).transpose()?;
                    continue;
                }
                let seed = settings.seed.wrapping_add(l as u64);
                let (model, state) = match cont.take() {
                    Some((m, s)) => (m, Some(s)),
                    None => (
                        match &spec.pretrain {
                            Pretrain::Ae(t) => {
                                LayerModel::Ae(Box::new(StackedPretrainer::autoencoder_layer(
                                    &spec.layer_ae(t, l),
                                    sizes[l],
                                    sizes[l + 1],
                                    &input.x,
                                    seed,
                                    Par::All,
                                )?))
                            }
                            Pretrain::Rbm(rc) => {
                                LayerModel::Rbm(Box::new(StackedPretrainer::rbm_layer(
                                    &spec.layer_rbm(rc, l),
                                    sizes[l],
                                    sizes[l + 1],
                                    &input.x,
                                    seed,
                                    Par::All,
                                )?))
                            }
                        },
                        None,
                    ),
                };
                let staged = Staged {
                    args,
                    spec: &spec,
                    done: &done,
                    history: &history,
                    line: &line,
                    data: &data,
                };
                let io = (&input, valid.as_ref());
                let (layer, params, records, run) = match model {
                    LayerModel::Ae(a) => pretrain_layer(
                        &mut session,
                        *a,
                        state,
                        l,
                        &settings,
                        io,
                        &staged,
                        |m: &Autoencoder| Ok(PretrainedLayer::from_autoencoder(m, None)?),
                    )?,
                    LayerModel::Rbm(r) => pretrain_layer(
                        &mut session,
                        *r,
                        state,
                        l,
                        &settings,
                        io,
                        &staged,
                        |m: &Rbm| Ok(PretrainedLayer::from_rbm(m, None)),
                    )?,
                };
                epochs_run += run;
                history.extend(records);
                input = propagate(&layer, &input)?;
                valid = valid.map(|v| propagate(&layer, &v)).transpose()?;
                layers.push(layer);
                done.push(params);
            }
            // Phase 2: the stack unrolled, fine-tuned from the data.
            (modelfile::unroll(&spec, &layers)?, None)
        }
    };
    let label = format!("deep-ae fine-tuning {}", dashed(&sizes));
    session.obs.stage(label.clone(), None);
    let lines = spec.lines("finetune");
    let mut save = |t: &Trainer<Autoencoder>| -> Result<()> {
        let mut ck = t.checkpoint();
        let mut h = history.clone();
        h.extend(t.history().iter().cloned());
        ck.history = h;
        ck.epoch = ck.history.len() as u64;
        modelfile::finish(&mut ck, "deep-ae", &lines, &line, &data.pre)?;
        Ok(ck.save(&args.out)?)
    };
    let (mut trainer, summary) = session.train(
        start,
        &label,
        (&data.train, data.valid.as_ref()),
        &data.pre,
        &settings,
        &mut save,
    )?;
    save(&trainer)?;
    epochs_run += summary.epochs_run;
    let seconds = session.started.elapsed().as_secs_f64();
    let loss = spec.config.loss;
    let recon = trainer
        .model_mut()
        .mean_reconstruction_error(&data.train.x, 500, Par::All)?;
    if session.verbose() {
        crate::cli::print_line(format!(
            "trained deep-ae {}: {depth} layer(s) pretrained ({}), {epochs_run} epoch(s) in {seconds:.1} s, reconstruction error {recon:.4} ({} per sample){}; wrote {}",
            dashed(&sizes),
            match spec.pretrain {
                Pretrain::Ae(_) => "ae",
                Pretrain::Rbm(_) => "rbm",
            },
            loss.name(),
            best_text(&summary),
            args.out.display()
        ));
    }
    let mut all = history.clone();
    all.extend(trainer.history().iter().cloned());
    Ok(Report::json(json!({
        "command": "train",
        "kind": "deep-ae",
        "sizes": sizes,
        "loss": loss.name(),
        "out": args.out.display().to_string(),
        "epochs_run": epochs_run,
        "finetune_epochs_total": trainer.epochs_done(),
        "seconds": json_f64(seconds),
        "reconstruction_error": json_f64(recon),
        "best_valid": summary.best_valid.map(json_f64),
        "history": history_json(&all),
    })))
}
