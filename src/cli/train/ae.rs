//! `latent train ae`: one autoencoder (plain, sparse, denoising or
//! contractive; one or more layers), or one continued.

use latent_engine::Par;
use latent_engine::train::Model;
use latent_models::ae::Autoencoder;
use latent_models::model::AnyModel;
use latent_models::persist;
use latent_models::train::train_model;
use serde_json::json;

use super::ae_flags::{ae_config, choose_loss, flag_sizes, missing_sizes};
use super::args::{Kind, TrainArgs, check_resumed_config, dashed, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// `latent train ae`.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let sizes = flag_sizes(args, &data, 2)?;
    let (ae, state) = match resumed {
        Some(m) => {
            let AnyModel::Ae(ae) = m.model else {
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
            check_run(args, &settings, &data, Net::Ae(&file.sizes))?;
            let state = persist::resume_state(&m.checkpoint, ae.kind());
            (*ae, Some(state))
        }
        None => {
            let sizes = sizes.ok_or_else(|| missing_sizes(Kind::Ae))?;
            check_run(args, &settings, &data, Net::Ae(&sizes))?;
            let loss = choose_loss(args, &data, None)?;
            let mut ae = Autoencoder::new(ae_config(args, sizes, loss, None)?, settings.seed)?;
            ae.init_output_bias_from_data(&*data.means_data()?, Par::All)?;
            (ae, None)
        }
    };
    let sizes = ae.config().sizes.clone();
    let variant = ae.kind().to_string();
    let label = format!("ae {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone()).with_ranks(ranks);
    let intro = format!("{label} ({variant})");
    let mut run = session.run(&settings, &data.pre);
    let io = (data.train_rows(), data.valid.as_ref());
    let (trainer, summary) = train_model(&mut run, (ae, state), (&intro, persist::Kind::Ae), io)?;
    let seconds = session.seconds();
    let loss = trainer.model().config().loss;
    let model = trainer.model();
    let recon =
        data.mean_over_rows(|x| Ok(model.mean_reconstruction_error(x, 500, Par::All)?))?;
    let result = format!(
        "reconstruction error {recon:.4} ({} per sample)",
        loss.name()
    );
    Ok(session.model_report(
        (&intro, &result),
        seconds,
        (&trainer, &summary),
        json!({
            "kind": "ae",
            "variant": variant,
            "sizes": sizes,
            "loss": loss.name(),
            "reconstruction_error": json_f64(recon),
        }),
    ))
}
