//! Run-time instruction-set detection and selection.
//!
//! The CPU is probed once and the choice cached. The environment variable
//! `LATENT_ISA` (`portable`/`scalar`, `avx2`, `avx512`) caps the choice, so
//! tests and benchmarks can reach every path on one machine; asking for a
//! path the CPU lacks falls back to the best one it has, with a warning on
//! standard error.

use std::fmt;
use std::sync::OnceLock;

/// An instruction-set family a kernel can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, vectorised by the compiler for the baseline target.
    Portable,
    /// AVX2 with FMA (Haswell, Zen and later).
    Avx2,
    /// AVX-512 Foundation (Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4).
    Avx512,
}

impl Isa {
    /// Every instruction set latent has kernels for, slowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// Whether this CPU can run kernels for `self`.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best instruction set this CPU supports, ignoring `LATENT_ISA`.
    pub fn best_available() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.is_available())
            .unwrap_or(Isa::Portable)
    }

    /// The instruction set kernels use by default: the best available,
    /// capped by `LATENT_ISA` when set. Detected once and cached.
    pub fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let best = Isa::best_available();
            match std::env::var("LATENT_ISA") {
                Ok(name) => match name.parse::<Isa>() {
                    Ok(wanted) if wanted.is_available() => wanted,
                    Ok(wanted) => {
                        eprintln!(
                            "latent: LATENT_ISA={name}: {wanted} is not supported by this CPU; using {best}"
                        );
                        best
                    }
                    Err(err) => {
                        eprintln!("latent: {err}; using {best}");
                        best
                    }
                },
                Err(_) => best,
            }
        })
    }

    /// The lower-case name used by `LATENT_ISA` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" | "scalar" | "generic" => Ok(Isa::Portable),
            "avx2" | "avx2+fma" | "fma" => Ok(Isa::Avx2),
            "avx512" | "avx512f" | "avx-512" => Ok(Isa::Avx512),
            other => Err(format!(
                "unknown instruction set {other:?} (expected portable, avx2 or avx512)"
            )),
        }
    }
}
