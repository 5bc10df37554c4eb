//! `latent train`: the flags ([`args`]), the data ([`data`]) and the
//! session ([`session`]: progress, metrics file, the closing report) are the
//! command line's; the training itself is the library's
//! ([`latent_models::train`]): one model (a DBM too), a DBN layer by layer, a deep
//! autoencoder pretrained and fine-tuned, with the model file written
//! every `--checkpoint-every` epochs and at the end, and `--resume`
//! continuing exactly. One file per kind.

pub mod args;
pub mod data;
pub mod session;

mod ae;
mod ae_flags;
mod classifier;
mod dbm;
mod dbn;
mod deep_ae;
mod distributed;
mod memory;
mod pretrain_opt;
mod psd;
mod rbm;
mod rss;
mod vae;

pub use args::TrainArgs;

use args::{Kind, check_flags};
use distributed::Ranks;

use latent_engine::fsutil::OutputLock;

use crate::cli::error::Result;
use crate::cli::io::check_paths;
use crate::cli::{Global, Report};

/// Runs `latent train`: the one place that dispatches on the kind. With
/// `--distributed`, as one rank of an MPI job: an error on any rank ends
/// every rank.
pub fn run(args: &TrainArgs, g: &Global) -> Result<Report> {
    check_flags(args)?;
    let ranks = Ranks::join(args)?;
    let result = if ranks.leads() {
        let started = std::time::Instant::now();
        let report = run_rank(args, g, &ranks);
        let report = report.map(|r| report_sums(r, &ranks, started.elapsed().as_secs_f64(), g));
        // After the sums' seconds are read: this last sum waits for the
        // slowest rank's end.
        rss::add_peak_rss(report, &ranks)
    } else {
        // Ranks but 0 print nothing and write no metrics file or report.
        let args = TrainArgs {
            metrics: None,
            ..args.clone()
        };
        let g = Global {
            quiet: true,
            json: false,
            ..g.clone()
        };
        let report = run_rank(&args, &g, &ranks).map(|_| Report::json(serde_json::Value::Null));
        rss::add_peak_rss(report, &ranks)
    };
    ranks.finish(result)
}

/// Rank 0's report of a distributed run with the time it spent in the
/// ranks' sums: a line `rank 0: X s of Y s in the sums across ranks (Z %,
/// waiting for the other ranks included)` and the JSON field
/// `seconds_in_sums`. Alone: `report` as it is.
fn report_sums(mut report: Report, ranks: &Ranks, seconds: f64, g: &Global) -> Report {
    let Some(sums) = ranks.seconds_in_sums() else {
        return report;
    };
    if !g.quiet && !g.json {
        crate::cli::print_line(format!(
            "rank 0: {sums:.2} s of {seconds:.2} s in the sums across ranks ({:.1} %, waiting for the other ranks included)",
            100.0 * sums / seconds.max(f64::MIN_POSITIVE)
        ));
    }
    if let Some(o) = report.json.as_object_mut() {
        o.insert("seconds_in_sums".into(), serde_json::json!(sums));
    }
    report
}

/// [`run`] on this rank (alone: the whole run).
fn run_rank(args: &TrainArgs, g: &Global, ranks: &Ranks) -> Result<Report> {
    check_train_paths(args)?;
    // Held until the run's last write: a second run on the same --out
    // fails at once. Only the rank that writes takes it.
    let _lock = match ranks.leads() {
        true => Some(OutputLock::acquire(&args.out)?),
        false => None,
    };
    match args.model {
        Kind::Rbm | Kind::GaussianRbm => rbm::train(args, g, ranks),
        Kind::Dbn => dbn::train(args, g, ranks),
        Kind::Ae => ae::train(args, g, ranks),
        Kind::Vae => vae::train(args, g, ranks),
        Kind::DeepAe => deep_ae::train(args, g, ranks),
        Kind::Dbm => dbm::train(args, g, ranks),
        Kind::Psd => psd::train(args, g, ranks),
        Kind::Classifier => classifier::train(args, g, ranks),
    }
}

/// The files of a run, checked before anything is read or trained: the
/// outputs can be written and none is an input (`--resume` may name the
/// `--out` file: it is read whole first, then replaced atomically).
fn check_train_paths(args: &TrainArgs) -> Result<()> {
    let mut inputs = vec![("--data", args.data.as_path())];
    inputs.extend(args.labels.as_deref().map(|p| ("--labels", p)));
    inputs.extend(args.validate.as_deref().map(|p| ("--validate", p)));
    inputs.extend((args.validation_labels.as_deref()).map(|p| ("--validation-labels", p)));
    let mut outputs = vec![("--out", args.out.as_path())];
    outputs.extend(args.metrics.as_deref().map(|p| ("--metrics", p)));
    check_paths(&inputs, &outputs)
}
