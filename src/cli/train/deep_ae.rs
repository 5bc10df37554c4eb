//! `latent train deep-ae`: the flags become the library's
//! [`DeepAeSpec`]; [`train_deep_ae`] pretrains the layers (autoencoders or
//! RBMs, a linear code layer's RBM with linear hiddens), unrolls the stack
//! and fine-tunes it.

use latent_engine::Par;
use latent_kernels::activation::Activation;
use latent_models::ModelError;
use latent_models::ae::{AeConfig, Loss};
use latent_models::persist::{self, DeepAeSpec, Pretrain};
use latent_models::rbm::RbmConfig;
use latent_models::train::{DeepAePlan, DeepAeResume, Settings, train_deep_ae};
use serde_json::json;

use super::ae_flags::{
    activations, choose_loss, code_noise, flag_sizes, missing_sizes, regularise, resume_path,
};
use super::args::{
    Kind, PretrainArg, TrainArgs, check_resumed_config, dashed, rbm_config, settings,
};
use super::data::{TrainData, check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::pretrain_opt::{
    HINTON2006_EPOCHS, HINTON2006_INIT_STD, HINTON2006_PRETRAIN_EPOCHS, check_recipe, hinton2006,
    pretrain_optimizer, recipe_activations,
};
use super::session::{Session, best_text, history_json};
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// The deep autoencoder setup the flags describe, on top of `base` when
/// resuming; every pretraining layer's configuration is checked.
fn deep_spec(
    args: &TrainArgs,
    sizes: Vec<usize>,
    loss: Loss,
    settings: &Settings,
    base: Option<&DeepAeSpec>,
) -> Result<DeepAeSpec> {
    let depth = sizes.len() - 1;
    let acts = activations(
        args,
        depth,
        base.map(|b| b.config.activations.as_slice()),
        Activation::Sigmoid,
    )?;
    let acts = recipe_activations(args, acts);
    // Exactly the configuration `DeepAeSpec::unroll` gives.
    let mut config = AeConfig::new(&sizes, Activation::Identity)
        .with_activations(&acts)
        .with_loss(loss);
    config.code_noise = code_noise(args, base.and_then(|b| b.config.code_noise));
    config.validate()?;
    let kind = match (args.pretrain, base.map(|b| &b.pretrain)) {
        (Some(k), _) => k,
        (None, Some(Pretrain::Rbm(_))) => PretrainArg::Rbm,
        (None, _) if hinton2006(args) => PretrainArg::Rbm,
        (None, _) => PretrainArg::Ae,
    };
    let pretrain = match kind {
        PretrainArg::None => {
            return Err(CliError::arg(
                "--pretrain",
                "none",
                "ae or rbm for a deep-ae (none is for a classifier)",
            ));
        }
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
            // Sigmoid hiddens, or linear ones on the code layer.
            let code_linear =
                |l: usize, a: &Activation| *a == Activation::Identity && l + 1 == depth;
            if let Some((_, a)) = acts
                .iter()
                .enumerate()
                .find(|(l, a)| **a != Activation::Sigmoid && !code_linear(*l, a))
            {
                return Err(CliError::arg(
                    "--activation",
                    a.name(),
                    "sigmoid on every layer with --pretrain rbm (an RBM's hidden units are sigmoid), or identity on the code layer (linear hiddens)",
                ));
            }
            let rc = match base.map(|b| &b.pretrain) {
                Some(Pretrain::Rbm(rc)) => *rc,
                _ if hinton2006(args) => RbmConfig {
                    init_std: HINTON2006_INIT_STD,
                    ..RbmConfig::bernoulli(sizes[0], sizes[1])
                },
                _ => RbmConfig::bernoulli(sizes[0], sizes[1]),
            };
            let mut rc = rbm_config(args, rc)?;
            rc.n_visible = sizes[0];
            rc.n_hidden = sizes[1];
            Pretrain::Rbm(rc)
        }
    };
    let recipe_epochs = hinton2006(args).then_some(HINTON2006_PRETRAIN_EPOCHS);
    let base_opt = base.and_then(|b| b.pretrain_optimizer);
    let spec = DeepAeSpec {
        config,
        pretrain,
        pretrain_epochs: args
            .pretrain_epochs
            .map(|e| e as usize)
            .or(base.map(|b| b.pretrain_epochs))
            .or(recipe_epochs)
            .unwrap_or(settings.epochs),
        pretrain_optimizer: pretrain_optimizer(args, settings, kind, base_opt)?,
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

/// The plan of the run: the flags' setup, on top of the resumed file's.
fn plan(
    args: &TrainArgs,
    data: &TrainData,
    settings: &Settings,
    resumed: Option<&persist::ModelFile>,
) -> Result<DeepAePlan> {
    let sizes = flag_sizes(args, data, 2)?;
    Ok(match resumed {
        Some(m) => {
            let (file, state) = persist::deep_ae_state(&m.checkpoint, resume_path(args))?;
            check_columns(&args.data, &data.train.x, file.config.sizes[0])?;
            let loss = choose_loss(args, data, Some(file.config.loss))?;
            let sizes = sizes.unwrap_or_else(|| file.config.sizes.clone());
            let flags = deep_spec(args, sizes, loss, settings, Some(&file))?;
            // Like --epochs, --pretrain-epochs may change on a resume.
            let same_length = DeepAeSpec {
                pretrain_epochs: file.pretrain_epochs,
                ..flags.clone()
            };
            check_resumed_config(args, &file.lines(false), &same_length.lines(false))?;
            DeepAePlan {
                spec: flags,
                resume: Some(DeepAeResume::new(&m.checkpoint, state)?),
            }
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::DeepAe))?;
            let loss = choose_loss(args, data, None)?;
            DeepAePlan {
                spec: deep_spec(args, sizes, loss, settings, None)?,
                resume: None,
            }
        }
    })
}

/// `latent train deep-ae`.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    check_recipe(args)?;
    let resumed = load_resumed(args)?;
    let mut settings = settings(args, resumed.as_ref())?;
    if hinton2006(args) && args.epochs.is_none() {
        settings.epochs = HINTON2006_EPOCHS;
    }
    let data = read_data(args, resumed.as_ref())?;
    let plan = plan(args, &data, &settings, resumed.as_ref())?;
    check_run(args, &settings, &data, Net::DeepAe(&plan.spec.config.sizes))?;
    if matches!(plan.spec.pretrain, Pretrain::Rbm(_)) && !data.in_unit() {
        return Err(CliError::mismatch(
            format!(
                "{}: value range for --pretrain rbm (Bernoulli visibles)",
                args.data.display()
            ),
            "[0, 1] (pass --scale)",
            format!("[{}, {}]", data.range.0, data.range.1),
        ));
    }
    let spec = plan.spec.clone();
    let mut session = Session::new(args, g, "deep-ae").with_ranks(ranks);
    let mut run = session.run(&settings, &data.pre);
    let mut outcome = train_deep_ae(&mut run, plan, (&data.train, data.valid.as_ref()))?;
    let seconds = session.seconds();
    let (sizes, depth, loss) = (&spec.config.sizes, spec.config.depth(), spec.config.loss);
    let recon =
        outcome
            .trainer
            .model_mut()
            .mean_reconstruction_error(&data.train.x, 500, Par::All)?;
    if session.verbose() {
        crate::cli::print_line(format!(
            "trained deep-ae {}: {depth} layer(s) pretrained ({}), {} epoch(s) in {seconds:.1} s, reconstruction error {recon:.4} ({} per sample){}; wrote {}",
            dashed(sizes),
            match spec.pretrain {
                Pretrain::Ae(_) => "ae",
                Pretrain::Rbm(_) => "rbm",
            },
            outcome.epochs_run,
            loss.name(),
            best_text(&outcome.summary),
            args.out.display()
        ));
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": "deep-ae",
        "sizes": sizes,
        "loss": loss.name(),
        "out": args.out.display().to_string(),
        "epochs_run": outcome.epochs_run,
        "finetune_epochs_total": outcome.trainer.epochs_done(),
        "seconds": json_f64(seconds),
        "reconstruction_error": json_f64(recon),
        "best_valid": outcome.summary.best_valid.map(json_f64),
        "history": history_json(&outcome.history),
    })))
}
