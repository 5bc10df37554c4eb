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

/// The kinds whose training is one plain loop with no per-row state kept
/// between steps: the ones distributed so far.
const DISTRIBUTED: &[Kind] = &[Kind::Rbm, Kind::GaussianRbm, Kind::Ae, Kind::Vae];

/// `--distributed` with a kind or flag not distributed yet: an error that
/// says so.
fn check_distributable(args: &TrainArgs) -> Result<()> {
    if !DISTRIBUTED.contains(&args.model) {
        return Err(CliError::arg(
            "--distributed",
            args.model.name(),
            "rbm, gaussian-rbm, ae or vae (this kind is not yet distributed)",
        ));
    }
    if args.persistent {
        return Err(CliError::arg(
            "--distributed",
            "--persistent",
            "CD-k (PCD chains are not yet distributed)",
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
