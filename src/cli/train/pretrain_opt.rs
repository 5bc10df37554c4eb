//! `latent train deep-ae`'s pretraining optimiser (`--pretrain-optimizer`,
//! `--pretrain-lr`, `--pretrain-momentum`, `--pretrain-weight-decay`,
//! `--pretrain-linear-lr`) and the published recipe (`--recipe
//! hinton2006`) that sets them with the rest of Hinton & Salakhutdinov's
//! (2006) setup.

use latent_kernels::activation::Activation;
use latent_models::persist::{self, PretrainOptimizer};
use latent_models::train::{Optimizer, Settings, default_lr};

use super::args::{Optim, PretrainArg, Recipe, TrainArgs};
use crate::cli::error::{CliError, Result};

/// Fine-tuning epochs of `--recipe hinton2006` (the paper's 200).
pub const HINTON2006_EPOCHS: usize = 200;
/// Pretraining epochs per layer of `--recipe hinton2006` (the paper's 50).
pub const HINTON2006_PRETRAIN_EPOCHS: usize = 50;
/// The initial weights' standard deviation of their `rbm.m`
/// (`0.1*randn`).
pub const HINTON2006_INIT_STD: f32 = 0.1;

/// Whether `--recipe hinton2006` was given.
pub fn hinton2006(args: &TrainArgs) -> bool {
    args.recipe == Some(Recipe::Hinton2006)
}

/// `--recipe` is for new runs: a resumed file keeps the settings it was
/// made with. With the recipe, `--pretrain` must be rbm.
pub fn check_recipe(args: &TrainArgs) -> Result<()> {
    if !hinton2006(args) {
        return Ok(());
    }
    if args.resume.is_some() {
        return Err(CliError::unsupported(
            "--recipe with --resume",
            "the resumed model keeps the settings it was made with",
        ));
    }
    if args.pretrain == Some(PretrainArg::Ae) {
        return Err(CliError::unsupported(
            "--recipe hinton2006 with --pretrain ae",
            "the recipe pretrains with RBMs",
        ));
    }
    Ok(())
}

/// The encoder's activations with the recipe: sigmoid, the code layer
/// linear, unless `--activation` says otherwise (or a file is resumed).
pub fn recipe_activations(args: &TrainArgs, mut acts: Vec<Activation>) -> Vec<Activation> {
    if hinton2006(args)
        && args.activation.is_none()
        && let Some(last) = acts.last_mut()
    {
        *last = Activation::Identity;
    }
    acts
}

/// The pretraining optimiser of the flags, on top of the resumed file's
/// `base`: `None` (the run's settings pretrain, as before these flags)
/// unless a flag, the recipe or the file sets one. A field no flag gives
/// comes from the file, else the recipe, else the run's `settings`
/// (its learning rate only with the same optimiser, else the default
/// rate of `pretrain`'s kind of layer with that optimiser).
pub fn pretrain_optimizer(
    args: &TrainArgs,
    settings: &Settings,
    pretrain: PretrainArg,
    base: Option<PretrainOptimizer>,
) -> Result<Option<PretrainOptimizer>> {
    let any_flag = args.pretrain_optimizer.is_some()
        || args.pretrain_lr.is_some()
        || args.pretrain_momentum.is_some()
        || args.pretrain_weight_decay.is_some()
        || args.pretrain_linear_lr.is_some();
    let from = match (base, hinton2006(args)) {
        (Some(b), _) => Some(b),
        (None, true) => Some(PretrainOptimizer::hinton2006()),
        (None, false) => None,
    };
    if !any_flag {
        return Ok(from);
    }
    let optimizer = args
        .pretrain_optimizer
        .map(Optim::optimizer)
        .or(from.map(|f| f.optimizer))
        .unwrap_or(settings.optimizer);
    let same = |f: &PretrainOptimizer| f.optimizer == optimizer;
    let lr = args
        .pretrain_lr
        .or(from.filter(same).map(|f| f.lr))
        .unwrap_or(match (optimizer == settings.optimizer, pretrain) {
            (true, _) => settings.lr,
            (false, PretrainArg::Rbm) => default_lr(persist::Kind::Rbm, optimizer),
            (false, PretrainArg::Ae) => default_lr(persist::Kind::Ae, optimizer),
            // Refused before here (deep_ae::train): no layer is pretrained.
            (false, PretrainArg::None) => settings.lr,
        });
    let momentum = match args.pretrain_momentum {
        Some(m) if optimizer == Optimizer::Adam => {
            return Err(CliError::unsupported(
                format!("--pretrain-momentum {m} with adam pretraining"),
                "momentum is an sgd setting",
            ));
        }
        Some(m) => Some(m),
        None => from.filter(same).and_then(|f| f.momentum),
    };
    let p = PretrainOptimizer {
        optimizer,
        lr,
        momentum,
        weight_decay: args
            .pretrain_weight_decay
            .or(from.map(|f| f.weight_decay))
            .unwrap_or(settings.weight_decay),
        linear_lr: args.pretrain_linear_lr.or(from.and_then(|f| f.linear_lr)),
    };
    p.validate()?;
    Ok(Some(p))
}
