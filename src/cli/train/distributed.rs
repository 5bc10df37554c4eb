//! `latent train --distributed`: joining the ranks of an MPI job (a build
//! with `--features mpi`), the kinds and flags that can be distributed, and
//! what each rank does differently (rank 0 alone prints and writes files;
//! an error on any rank stops the whole job).

use latent_engine::train::GradientReducer;

use super::args::{Kind, TrainArgs};
use crate::cli::error::{CliError, Result};

/// This process's place in a data-parallel run: alone, or one rank of an
/// MPI job (which stays initialised while this lives).
pub struct Ranks {
    /// This rank (0 alone).
    pub rank: usize,
    #[cfg(feature = "mpi")]
    mpi: Option<latent::mpi::MpiRanks>,
}

impl Ranks {
    /// Alone without `--distributed`; with it, checks the kind and flags
    /// and joins the MPI job.
    pub fn join(args: &TrainArgs) -> Result<Self> {
        if !args.distributed {
            if let Some(t) = args.collective_timeout {
                return Err(CliError::arg(
                    "--collective-timeout",
                    t.to_string(),
                    "a run with --distributed",
                ));
            }
            if let Some(k) = args.average_every {
                return Err(CliError::arg(
                    "--average-every",
                    k.to_string(),
                    "a run with --distributed",
                ));
            }
            return Ok(Ranks::alone());
        }
        check_distributable(args)?;
        join_mpi(args)
    }

    fn alone() -> Self {
        Ranks {
            rank: 0,
            #[cfg(feature = "mpi")]
            mpi: None,
        }
    }

    /// Whether this process writes files and prints (rank 0, or alone).
    pub fn leads(&self) -> bool {
        self.rank == 0
    }

    /// Seconds this rank has spent in the ranks' sums (waiting for the
    /// other ranks included); `None` alone.
    pub fn seconds_in_sums(&self) -> Option<f64> {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            return Some(m.seconds_in_sums());
        }
        None
    }

    /// The reducer a trainer of this rank gets; `None` alone.
    pub fn reducer(&self) -> Option<Box<dyn GradientReducer>> {
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            return Some(Box::new(m.reducer()));
        }
        None
    }

    /// On an error in a run of several ranks: prints it in one line
    /// `latent: error: … (rank r of N; stopping every rank)` and ends every
    /// rank of the job (`MPI_Abort`, exit status 1), so that none waits
    /// for the others until its `--collective-timeout`; otherwise gives
    /// `result` back.
    pub fn finish<T>(&self, result: Result<T>) -> Result<T> {
        #[cfg(feature = "mpi")]
        if let (Err(e), Some(m)) = (&result, &self.mpi)
            && m.ranks() > 1
        {
            m.abort_with(e);
        }
        result
    }
}

/// `--distributed` with a flag whose training state the ranks cannot
/// split: an error that says so. Every kind trains distributed (each stage
/// of a staged one, PCD chains on the rank that owns them); not an RBM's
/// sparsity target, whose moving average of the hidden units' means is the
/// whole batch's (nor an autoencoder's KL sparsity, for the same reason),
/// nor a fixed number of DBM chains, which is not a share of the batch's
/// rows.
fn check_distributable(args: &TrainArgs) -> Result<()> {
    let rbms = [Kind::Rbm, Kind::GaussianRbm, Kind::Dbn];
    if args.sparsity.is_some() && rbms.contains(&args.model) {
        return Err(CliError::arg(
            "--distributed",
            "--sparsity",
            "an RBM without --sparsity (its moving average of the hidden means is the whole \
             batch's, which the ranks do not share)",
        ));
    }
    let aes = [Kind::Ae, Kind::DeepAe];
    if let Some(s) = &args.sparsity
        && s.starts_with("kl")
        && aes.contains(&args.model)
    {
        return Err(CliError::arg(
            "--distributed",
            format!("--sparsity {s}"),
            "an autoencoder without KL sparsity (its mean activation is the whole batch's, \
             which the ranks do not share; l1 sparsity is per row and distributes)",
        ));
    }
    if args.model == Kind::Dbm && args.chains.is_some() {
        return Err(CliError::arg(
            "--distributed",
            "--chains",
            "one chain per batch row, the default (each rank keeps its rows' chains; a fixed \
             number of chains is not split among the ranks)",
        ));
    }
    Ok(())
}

#[cfg(feature = "mpi")]
fn join_mpi(args: &TrainArgs) -> Result<Ranks> {
    let timeout = (args.collective_timeout).map_or(latent::mpi::DEFAULT_TIMEOUT, |s| {
        std::time::Duration::from_secs(u64::from(s))
    });
    let mpi = latent::mpi::MpiRanks::init(timeout)
        .map_err(|e| CliError::arg("--distributed", "(MPI)", e.to_string()))?;
    Ok(Ranks {
        rank: mpi.rank(),
        mpi: Some(mpi),
    })
}

#[cfg(not(feature = "mpi"))]
fn join_mpi(_: &TrainArgs) -> Result<Ranks> {
    Err(CliError::arg(
        "--distributed",
        "(this build)",
        "a latent built with MPI support (cargo build --release --features mpi), run under mpirun",
    ))
}
