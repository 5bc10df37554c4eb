//! Run-time instruction-set detection.
//!
//! Which instruction set the kernels use (the CPU's best, capped by
//! `LATENT_ISA`) is decided in one place, [`crate::dispatch`].

use std::fmt;

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

    /// The instruction set kernels use by default: that of
    /// [`Dispatch::global`](crate::dispatch::Dispatch::global), the best
    /// available capped by `LATENT_ISA` when set. Decided once.
    pub fn selected() -> Isa {
        crate::dispatch::Dispatch::global().isa()
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
