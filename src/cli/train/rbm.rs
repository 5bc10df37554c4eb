//! `latent train rbm` and `latent train gaussian-rbm`.

use latent_engine::Par;
use latent_models::model::AnyModel;
use latent_models::persist;
use latent_models::rbm::{Rbm, RbmConfig};
use latent_models::train::train_model;
use serde_json::json;

use super::args::{Kind, TrainArgs, check_resumed_rbm, rbm_config, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Trains a Bernoulli or Gaussian RBM (or continues one). The closing line
/// (and the JSON report's `last_epoch_reconstruction_error`) gives the last
/// epoch's mean reconstruction error over its minibatches, as the training
/// measured it (`MODELS.md` 2.4, before each minibatch's update): no extra
/// pass over the data; `latent eval` gives the final model's.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    let kind = args.model.name();
    if args.layers.is_some() {
        return Err(CliError::arg(
            "--layers",
            args.layers.as_deref().unwrap_or(""),
            "no --layers for an RBM (use --hidden N, or train dbn)",
        ));
    }
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let v = data.train.x.cols();
    let (rbm, state) = match resumed {
        Some(m) => {
            let AnyModel::Rbm(rbm) = m.model else {
                return Err(CliError::mismatch("resumed model", kind, "another kind"));
            };
            check_columns(&args.data, &data.train.x, rbm.config().n_visible)?;
            let h = rbm.config().n_hidden;
            if let Some(hh) = args.hidden
                && hh as usize != h
            {
                return Err(CliError::mismatch(
                    "--hidden vs the resumed model's hidden units",
                    h,
                    hh,
                ));
            }
            check_resumed_rbm(args, *rbm.config())?;
            check_run(args, &settings, &data, Net::Rbms(&[v, h]))?;
            let state = persist::resume_state(&m.checkpoint, kind);
            (*rbm, Some(state))
        }
        None => {
            if let Some(h) = args.hidden {
                check_run(args, &settings, &data, Net::Rbms(&[v, h as usize]))?;
            }
            (new_rbm(args, v, settings.seed, &*data.means_data()?)?, None)
        }
    };
    let h = rbm.config().n_hidden;
    let label = format!("{kind} {v}-{h}");
    let mut session = Session::new(args, g, label.clone()).with_ranks(ranks);
    let mut run = session.run(&settings, &data.pre);
    let io = (data.train_rows(), data.valid.as_ref());
    let (trainer, summary) =
        train_model(&mut run, (rbm, state), (&label, args.model.file_kind()), io)?;
    let seconds = session.seconds();
    let recon = trainer.history().last().map(|r| r.train_loss);
    let result = match recon {
        Some(e) => format!("last epoch's reconstruction error {e:.4} (during training)"),
        None => "no epoch trained".into(),
    };
    Ok(session.model_report(
        (&label, &result),
        seconds,
        (&trainer, &summary),
        json!({
            "kind": kind,
            "sizes": [v, h],
            "last_epoch_reconstruction_error": recon.map(json_f64),
        }),
    ))
}

/// A new RBM of `v` visible units and `--hidden` hidden units, configured by
/// the flags, its visible biases from the column means of `x` (the data,
/// or one row of its means).
fn new_rbm(args: &TrainArgs, v: usize, seed: u64, x: &latent_engine::Matrix) -> Result<Rbm> {
    let h = args.hidden.ok_or_else(|| {
        CliError::arg(
            "--hidden",
            "(missing)",
            "the number of hidden units, e.g. --hidden 500",
        )
    })? as usize;
    let base = if args.model == Kind::GaussianRbm {
        RbmConfig::gaussian(v, h)
    } else {
        RbmConfig::bernoulli(v, h)
    };
    let mut rbm = Rbm::new(rbm_config(args, base)?, seed)?;
    rbm.init_visible_bias_from_data(x, Par::All)?;
    Ok(rbm)
}
