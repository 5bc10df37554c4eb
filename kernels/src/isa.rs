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

/// The instruction set of the bf16 GEMM's microkernel
/// ([`gemm_bf16`](crate::gemm::gemm_bf16)), a level above [`Isa`]: the
/// products need AVX512-BF16 (`vdpbf16ps`) on top of AVX-512F, and
/// everything else falls back to the portable kernel, which computes the
/// same bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bf16Isa {
    /// Plain Rust: the widened bf16 products summed in f32 in the order
    /// `vdpbf16ps` uses, with its denormal handling.
    Portable,
    /// AVX512-BF16 (`vdpbf16ps`; Cooper Lake, Sapphire Rapids and later,
    /// Zen 4 and later).
    Avx512Bf16,
}

impl Bf16Isa {
    /// Every bf16 instruction set, slowest first.
    pub const ALL: [Bf16Isa; 2] = [Bf16Isa::Portable, Bf16Isa::Avx512Bf16];

    /// Whether this CPU can run the bf16 kernels for `self`.
    pub fn is_available(self) -> bool {
        match self {
            Bf16Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Bf16Isa::Avx512Bf16 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best bf16 instruction set allowed under the f32 level `cap`
    /// (AVX512-BF16 only under [`Isa::Avx512`]) that this CPU has.
    pub fn best_under(cap: Isa) -> Bf16Isa {
        if cap >= Isa::Avx512 && Bf16Isa::Avx512Bf16.is_available() {
            Bf16Isa::Avx512Bf16
        } else {
            Bf16Isa::Portable
        }
    }

    /// The f32 level whose instructions the kernel uses, for the record
    /// of what ran ([`crate::dispatch::take_ran`]).
    pub fn base(self) -> Isa {
        match self {
            Bf16Isa::Portable => Isa::Portable,
            Bf16Isa::Avx512Bf16 => Isa::Avx512,
        }
    }

    /// The lower-case name used in reports (and by `LATENT_ISA`:
    /// `avx512bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Bf16Isa::Portable => "portable",
            Bf16Isa::Avx512Bf16 => "avx512bf16",
        }
    }
}

impl fmt::Display for Bf16Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
