//! `latent train dbm`: a deep Boltzmann machine, pretrained greedily with
//! `--pretrain-epochs` (the modified RBMs, composed) or not, trained jointly
//! (mean-field positive phase, persistent chains); or, with `--resume`, its
//! joint training continued (a pretrained file is never pretrained again).

use latent_engine::Matrix;
use latent_models::dbm::DbmConfig;
use latent_models::model::AnyModel;
use latent_models::persist::ModelFile;
use latent_models::train::{DbmPlan, DbmPretrain, DbmResume, Optimizer, train_dbm};
use serde_json::json;

use super::args::{TrainArgs, check_resumed_config, dashed, parse_layers, settings};
use super::data::{check_columns, load_resumed, read_data};
use super::distributed::Ranks;
use super::memory::{Net, check_run};
use super::session::Session;
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Trains a DBM (or continues one). The closing line gives the last
/// epoch's mean reconstruction error `Σ_i (v_i − E[v_i | μ¹])²` over its
/// minibatches, as the training measured it.
pub fn train(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    if let Some(h) = args.hidden {
        return Err(CliError::arg("--hidden", h, "--layers V,H1,H2,… for a dbm"));
    }
    let resumed = load_resumed(args)?;
    let mut settings = settings(args, resumed.as_ref())?;
    if resumed.is_none()
        && args.pretrain_epochs.is_some()
        && args.lr.is_none()
        && settings.optimizer == Optimizer::Sgd
    {
        settings.lr = DbmPretrain::JOINT_LR;
    }
    let flag_sizes = args.layers.as_deref().map(dbm_layers).transpose()?;
    let data = read_data(args, resumed.as_ref())?;
    let plan = match resumed {
        Some(m) => resumed_plan(args, m, flag_sizes, &data.train.x)?,
        None => {
            let sizes = flag_sizes.ok_or_else(|| {
                CliError::arg(
                    "--layers",
                    "(missing)",
                    "the layer sizes of the DBM, visible first, e.g. 784,500,1000",
                )
            })?;
            check_columns(&args.data, &data.train.x, sizes[0])?;
            DbmPlan {
                config: dbm_config(args, DbmConfig::bernoulli(&sizes))?,
                pretrain: pretrain_flags(args)?,
                resume: None,
            }
        }
    };
    let sizes = plan.config.sizes.clone();
    check_run(args, &settings, &data, Net::Dbm(&sizes))?;
    let pretrain = plan.resume.as_ref().map_or(plan.pretrain, |r| r.pretrain);
    let label = format!("dbm {}", dashed(&sizes));
    let mut session = Session::new(args, g, label.clone()).with_ranks(ranks);
    let mut run = session.run(&settings, &data.pre);
    let outcome = train_dbm(&mut run, plan, (&data.train, data.valid.as_ref()))?;
    let seconds = session.seconds();
    let (trainer, summary) = (&outcome.trainer, &outcome.summary);
    let recon = trainer.history().last().map(|r| r.train_loss);
    let mut result = match recon {
        Some(e) => format!("last epoch's reconstruction error {e:.4} (during training)"),
        None => "no epoch trained".into(),
    };
    let pretrain_epochs_run = outcome.epochs_run - summary.epochs_run;
    if pretrain_epochs_run > 0 {
        result = format!(
            "after {pretrain_epochs_run} pretraining epoch(s) over {} RBMs, {result}",
            sizes.len() - 1
        );
    }
    let pretrain =
        pretrain.map(|p| json!({"epochs": p.epochs, "lr": json_f64(p.lr.into()), "cd_k": p.cd_k}));
    Ok(session.model_report(
        (&label, &result),
        seconds,
        (trainer, summary),
        json!({
            "kind": "dbm",
            "sizes": sizes,
            "last_epoch_reconstruction_error": recon.map(json_f64),
            "pretrain": pretrain,
            "pretrain_epochs_run": pretrain_epochs_run,
        }),
    ))
}

/// The plan of a resumed file `m`: its model and where its joint training
/// left off, with the flags checked against it (`--layers`, the DBM's
/// configuration, the pretraining, the data's columns `x`).
fn resumed_plan(
    args: &TrainArgs,
    m: ModelFile,
    flag_sizes: Option<Vec<usize>>,
    x: &Matrix,
) -> Result<DbmPlan> {
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
    check_columns(&args.data, x, sizes[0])?;
    let file = dbm.config().clone();
    let flags = dbm_config(args, file.clone())?;
    check_resumed_config(args, &file.to_text(), &flags.to_text())?;
    let resume = DbmResume::from_checkpoint(&m.checkpoint, *dbm)?;
    check_resumed_pretrain(args, resume.pretrain)?;
    Ok(DbmPlan {
        config: file,
        pretrain: None,
        resume: Some(resume),
    })
}

/// The pretraining the flags ask for: `--pretrain-epochs` (with
/// `--pretrain-lr`, which alone is refused).
fn pretrain_flags(args: &TrainArgs) -> Result<Option<DbmPretrain>> {
    match (args.pretrain_epochs, args.pretrain_lr) {
        (None, None) => Ok(None),
        (None, Some(lr)) => Err(CliError::arg(
            "--pretrain-lr",
            lr,
            "it needs --pretrain-epochs N (the pretraining's epochs per RBM)",
        )),
        (Some(n), lr) => Ok(Some(DbmPretrain {
            lr: lr.unwrap_or(DbmPretrain::DEFAULT_LR),
            ..DbmPretrain::new(n as usize)
        })),
    }
}

/// With `--resume`, pretraining flags must describe what the file did
/// (a resumed run continues the joint training and never pretrains).
fn check_resumed_pretrain(args: &TrainArgs, file: Option<DbmPretrain>) -> Result<()> {
    let Some(asked) = pretrain_flags(args)? else {
        return Ok(());
    };
    let file_text = file.map_or("no pretraining".to_string(), |p| p.line());
    let asked = DbmPretrain {
        lr: args.pretrain_lr.or(file.map(|p| p.lr)).unwrap_or(asked.lr),
        ..asked
    };
    if file == Some(asked) {
        return Ok(());
    }
    Err(CliError::mismatch(
        "--pretrain-epochs/--pretrain-lr with --resume (a resumed dbm continues its joint training; it is not pretrained again)",
        file_text,
        asked.line(),
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
