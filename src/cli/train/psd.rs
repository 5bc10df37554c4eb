//! `latent train psd`: predictive sparse decomposition (sparse codes by
//! FISTA over a learned dictionary and a fast encoder trained to predict
//! them), or one continued.

use latent_engine::Par;
use latent_models::model::AnyModel;
use latent_models::persist;
use latent_models::psd::{EncoderKind, Psd, PsdConfig, PsdScratch};
use latent_models::train::train_psd;
use serde_json::json;

use super::args::{EncoderArg, TrainArgs, check_resumed_config, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// The configuration the flags describe for `visible` inputs, on top of
/// `base` (the resumed model's, or the defaults).
fn psd_config(args: &TrainArgs, visible: usize, base: Option<&PsdConfig>) -> Result<PsdConfig> {
    let codes = match (args.codes, base) {
        (Some(k), _) => k as usize,
        (None, Some(b)) => b.codes,
        (None, None) => {
            return Err(CliError::arg(
                "--codes",
                "(missing)",
                "the number of code units (dictionary atoms), e.g. --codes 256",
            ));
        }
    };
    let mut c = base
        .copied()
        .unwrap_or_else(|| PsdConfig::new(visible, codes));
    c.codes = codes;
    c.lambda = args.lambda.unwrap_or(c.lambda);
    c.alpha = args.alpha.unwrap_or(c.alpha);
    c.encoder = match args.encoder {
        Some(EncoderArg::Tanh) => EncoderKind::Tanh,
        Some(EncoderArg::Shrink) => EncoderKind::Shrink,
        None => c.encoder,
    };
    c.fista_iters = args.fista_iters.map_or(c.fista_iters, |n| n as usize);
    c.fista_tol = args.fista_tol.unwrap_or(c.fista_tol);
    c.validate()?;
    Ok(c)
}

/// `latent train psd`.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let data = read_data(args, resumed.as_ref())?;
    let (psd, state) = match resumed {
        Some(m) => {
            let AnyModel::Psd(psd) = m.model else {
                return Err(CliError::mismatch("resumed model", "psd", "another kind"));
            };
            let file = *psd.config();
            check_columns(&args.data, &data.train.x, file.n_visible)?;
            let flags = psd_config(args, file.n_visible, Some(&file))?;
            check_resumed_config(args, &file.to_text(), &flags.to_text())?;
            let state = persist::resume_state(&m.checkpoint, persist::Kind::Psd.name());
            (*psd, Some(state))
        }
        None => {
            let config = psd_config(args, data.train.x.cols(), None)?;
            (Psd::new(config, settings.seed)?, None)
        }
    };
    let c = *psd.config();
    check_run(args, &settings, &data, Net::Ae(&[c.n_visible, c.codes]))?;
    let label = format!("psd {}-{}", c.n_visible, c.codes);
    let mut session = Session::new(args, g, label.clone()).with_ranks(ranks);
    let intro = format!(
        "{label} (lambda {}, alpha {}, {} encoder, FISTA {} iterations, tol {})",
        c.lambda, c.alpha, c.encoder, c.fista_iters, c.fista_tol
    );
    let mut run = session.run(&settings, &data.pre);
    let io = (&data.train, data.valid.as_ref());
    let (trainer, summary) = train_psd(&mut run, (psd, state), &intro, io)?;
    let seconds = session.seconds();
    let energy =
        trainer
            .model()
            .mean_energy(&data.train.x, &mut PsdScratch::default(), Par::All)?;
    Ok(session.model_report(
        (&label, &format!("mean energy {energy:.4} per sample")),
        seconds,
        (&trainer, &summary),
        json!({
            "kind": "psd",
            "codes": c.codes,
            "lambda": c.lambda,
            "alpha": c.alpha,
            "encoder": c.encoder.name(),
            "energy": json_f64(energy),
        }),
    ))
}
