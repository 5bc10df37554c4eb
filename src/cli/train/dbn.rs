//! `latent train dbn`: the flags and the resumed file become the library's
//! [`DbnPlan`]; [`train_dbn`] trains it greedily, layer by layer.

use latent_models::rbm::RbmConfig;
use latent_models::train::{DbnPlan, DbnResume, train_dbn};
use serde_json::json;

use super::args::{TrainArgs, check_resumed_rbm, dashed, parse_layers, rbm_config, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::{Session, history_json};
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Trains a DBN (or continues one: its top layer up to `--epochs`, then
/// the layers still missing).
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    let resumed = load_resumed(args)?;
    let settings = settings(args, resumed.as_ref())?;
    let flag_sizes = match &args.layers {
        Some(s) => Some(parse_layers(s, 2)?),
        None => None,
    };
    let data = read_data(args, resumed.as_ref())?;
    let plan = match &resumed {
        Some(m) => {
            let path = args.resume.as_deref().unwrap_or("".as_ref());
            let resume = DbnResume::from_checkpoint(&m.checkpoint, path)?;
            if let Some(f) = &flag_sizes
                && *f != resume.sizes
            {
                return Err(CliError::mismatch(
                    "--layers vs the resumed DBN's layers",
                    resume
                        .sizes
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                    f.iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ));
            }
            let top = *resume.current.0.config();
            check_resumed_rbm(args, top)?;
            DbnPlan {
                sizes: resume.sizes.clone(),
                layer: rbm_config(args, top)?,
                resume: Some(resume),
            }
        }
        None => {
            if args.hidden.is_some() {
                return Err(CliError::arg(
                    "--hidden",
                    args.hidden.unwrap_or(0),
                    "--layers V,H1,H2,… for a dbn",
                ));
            }
            let sizes = flag_sizes.ok_or_else(|| {
                CliError::arg(
                    "--layers",
                    "(missing)",
                    "the layer sizes of the DBN, visible first, e.g. 784,500,250",
                )
            })?;
            DbnPlan {
                sizes,
                layer: rbm_config(args, RbmConfig::bernoulli(1, 1))?,
                resume: None,
            }
        }
    };
    check_columns(&args.data, &data.train.x, plan.sizes[0])?;
    check_run(args, &settings, &data, Net::Rbms(&plan.sizes))?;
    let sizes = plan.sizes.clone();
    let mut session = Session::new(args, g, "dbn").with_ranks(ranks);
    let mut run = session.run(&settings, &data.pre);
    let outcome = train_dbn(&mut run, plan, (&data.train, data.valid.as_ref()))?;
    let seconds = session.seconds();
    if session.verbose() {
        crate::cli::print_line(format!(
            "trained dbn {}: {} layer(s), {} epoch(s) in {seconds:.1} s; wrote {}",
            dashed(&sizes),
            sizes.len() - 1,
            outcome.epochs_run,
            args.out.display()
        ));
    }
    Ok(Report::json(json!({
        "command": "train",
        "kind": "dbn",
        "sizes": sizes,
        "out": args.out.display().to_string(),
        "epochs_run": outcome.epochs_run,
        "seconds": json_f64(seconds),
        "history": history_json(&outcome.checkpoint.history),
    })))
}
