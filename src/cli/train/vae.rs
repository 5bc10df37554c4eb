//! `latent train vae`: a variational autoencoder, or one continued.

use latent_engine::Par;
use latent_engine::train::Model;
use latent_kernels::activation::Activation;
use latent_models::ae::{Loss, Vae, VaeConfig, VaeOutput};
use latent_models::model::AnyModel;
use latent_models::persist;
use latent_models::train::train_model;
use serde_json::json;

use super::ae_flags::{activations, choose_loss, flag_sizes, missing_sizes};
use super::args::{Kind, TrainArgs, check_resumed_config, dashed, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

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
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let sizes = flag_sizes(args, &data, 1)?;
    let (vae, state) = match resumed {
        Some(m) => {
            let AnyModel::Vae(vae) = m.model else {
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
            check_run(args, &settings, &data, Net::Vae(&file.sizes, file.latent))?;
            let state = persist::resume_state(&m.checkpoint, vae.kind());
            (*vae, Some(state))
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::Vae))?;
            let loss = choose_loss(args, &data, None)?;
            let config = vae_config(args, sizes, loss, None)?;
            check_run(
                args,
                &settings,
                &data,
                Net::Vae(&config.sizes, config.latent),
            )?;
            (Vae::new(config, settings.seed)?, None)
        }
    };
    let mut sizes = vae.config().sizes.clone();
    sizes.push(vae.latent());
    let output = vae.config().output;
    let label = format!("vae {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone()).with_ranks(ranks);
    let intro = format!("{label} ({output} output)");
    let mut run = session.run(&settings, &data.pre);
    let io = (data.train_rows(), data.valid.as_ref());
    let (trainer, summary) = train_model(&mut run, (vae, state), (&intro, persist::Kind::Vae), io)?;
    let seconds = session.seconds();
    let model = trainer.model();
    let elbo = data.mean_over_rows(|x| Ok(model.elbo(x, 500, settings.seed, Par::All)?))?;
    Ok(session.model_report(
        (&label, &format!("ELBO {elbo:.4} per sample")),
        seconds,
        (&trainer, &summary),
        json!({
            "kind": "vae",
            "sizes": sizes,
            "output": output.to_string(),
            "elbo": json_f64(elbo),
        }),
    ))
}
