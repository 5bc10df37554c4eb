//! `latent train dbm`: a deep Boltzmann machine trained jointly (mean-field
//! positive phase, persistent chains), or continued with `--resume`.

use latent_models::dbm::{Dbm, DbmConfig};
use latent_models::model::AnyModel;
use latent_models::persist;
use latent_models::train::train_model;
use serde_json::json;

use super::args::{TrainArgs, check_resumed_config, dashed, parse_layers, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Trains a DBM (or continues one). The closing line gives the last
/// epoch's mean reconstruction error `Σ_i (v_i − E[v_i | μ¹])²` over its
/// minibatches, as the training measured it.
pub fn train(args: &TrainArgs, g: &Global) -> Result<Report> {
    if let Some(h) = args.hidden {
        return Err(CliError::arg("--hidden", h, "--layers V,H1,H2,… for a dbm"));
    }
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let flag_sizes = args.layers.as_deref().map(dbm_layers).transpose()?;
    let data = read_data(args, resumed.as_ref())?;
    let (dbm, state) = match resumed {
        Some(m) => {
            let AnyModel::Dbm(dbm) = m.model else {
                return Err(CliError::mismatch("resumed model", "dbm", "another kind"));
            };
            let sizes = dbm.sizes().to_vec();
            if let Some(f) = &flag_sizes
                && *f != sizes
            {
                return Err(CliError::mismatch(
                    "--layers vs the resumed DBM's layers",
                    dashed(&sizes),
                    dashed(f),
                ));
            }
            check_columns(&args.data, &data.train.x, sizes[0])?;
            let file = dbm.config().clone();
            check_resumed_config(args, &file.to_text(), &dbm_config(args, file)?.to_text())?;
            check_run(args, &settings, &data, Net::Dbm(&sizes))?;
            (*dbm, Some(persist::resume_state(&m.checkpoint, "dbm")))
        }
        None => {
            let sizes = flag_sizes.ok_or_else(|| {
                CliError::arg(
                    "--layers",
                    "(missing)",
                    "the layer sizes of the DBM, visible first, e.g. 784,500,1000",
                )
            })?;
            check_columns(&args.data, &data.train.x, sizes[0])?;
            check_run(args, &settings, &data, Net::Dbm(&sizes))?;
            let config = dbm_config(args, DbmConfig::bernoulli(&sizes))?;
            let mut dbm = Dbm::new(config, settings.seed)?;
            dbm.init_visible_bias_from_data(&data.train.x)?;
            (dbm, None)
        }
    };
    let sizes = dbm.sizes().to_vec();
    let label = format!("dbm {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone());
    let mut run = session.run(&settings, &data.pre);
    let io = (&data.train, data.valid.as_ref());
    let kind = persist::Kind::Dbm;
    let (trainer, summary) = train_model(&mut run, (dbm, state), (&label, kind), io)?;
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
            "kind": "dbm",
            "sizes": sizes,
            "last_epoch_reconstruction_error": recon.map(json_f64),
        }),
    ))
}

/// `--layers` of a DBM: at least three sizes.
fn dbm_layers(text: &str) -> Result<Vec<usize>> {
    let sizes = parse_layers(text, 1)?;
    if sizes.len() < 3 {
        return Err(CliError::arg(
            "--layers",
            text,
            "at least three sizes for a dbm (visible and two or more hidden layers), e.g. 784,500,1000",
        ));
    }
    Ok(sizes)
}

/// The DBM configuration the flags describe, from `base` (the defaults, or
/// the resumed model's configuration).
fn dbm_config(args: &TrainArgs, base: DbmConfig) -> Result<DbmConfig> {
    let mut c = base;
    if let Some(k) = args.cd_k {
        c.cd_k = k as usize;
    }
    if let Some(n) = args.chains {
        c.chains = Some(n as usize);
    }
    if let Some(n) = args.mf_iters {
        c.mf_iters = n as usize;
    }
    if let Some(t) = args.mf_tol {
        c.mf_tol = t;
    }
    c.validate()?;
    Ok(c)
}
