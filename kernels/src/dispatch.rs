//! The one decision of how the kernels run: which instruction set, and the
//! SGEMM's tuning, made once from the CPU and the environment, and a record
//! of which instruction-set-specific kernels ran.
//!
//! A [`Dispatch`] holds every choice a kernel makes that is not in its
//! arguments. [`Dispatch::global`] is the context the plain entry points
//! ([`gemm`](crate::gemm()), [`Isa::selected`] and every kernel that
//! defaults to it) use: the CPU's best instruction set with the overrides
//! below applied, decided on first use. The `_on` entry points
//! ([`gemm_on`](crate::gemm_on), `exp_on`, …) take the instruction set as an
//! argument instead, and [`Dispatch::gemm`] runs a product under an
//! explicit context; the packing of the SGEMM follows the context's
//! instruction set too (its AVX2 transposes run only under `avx2` or
//! `avx512`), so capping the instruction set caps every kernel.
//!
//! Environment variables (read once, by [`Dispatch::from_env`]):
//!
//! - `LATENT_ISA=portable|avx2|avx512|avx512bf16` (also `scalar`,
//!   `generic`, `fma`, `avx512f`, …): caps the instruction set, so tests
//!   and benchmarks can reach every path on one machine. Asking for one the
//!   CPU lacks falls back to the best it has, with a warning on standard
//!   error. The bf16 GEMM's kernel ([`Bf16Isa`]) is a level above
//!   `avx512`: `avx512bf16` (or no cap) lets it use `vdpbf16ps`, and any
//!   lower cap, `avx512` included, gives it the portable kernel.
//! - `LATENT_GEMM_BLOCKING=mc,kc,nc`: overrides the SGEMM cache blocking
//!   ([`Blocking`]), for tuning. Malformed values are ignored with a
//!   warning.
//! - `LATENT_GEMM_PACK_B=always|never`: whether a row-major B is packed
//!   ([`PackB`]); otherwise the driver decides by the shape.
//! - `LATENT_GEMM_ORDER=a|b`: the order of the two innermost SGEMM loops
//!   ([`LoopOrder`]): A panels outer (`a`) or B panels outer (`b`);
//!   otherwise B panels are outer exactly when B is read in place.
//!
//! The record: each dispatch to an instruction-set-specific kernel sets one
//! bit per ([`Family`], [`Isa`]) in a process-wide set (one relaxed load,
//! and a store only the first time), which [`take_ran`] reads and clears.
//! Tests use it to prove that a capped context reaches no AVX code.

use crate::gemm::Blocking;
use crate::isa::Bf16Isa;
use crate::{Isa, KernelError};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the SGEMM packs a row-major B or reads it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackB {
    /// By the shape: in place when A is short (few A panels reuse each B
    /// panel), packed otherwise.
    #[default]
    Auto,
    /// Always packed (`LATENT_GEMM_PACK_B=always`).
    Always,
    /// Never packed when B is row-major (`LATENT_GEMM_PACK_B=never`); a
    /// B with strided columns is packed regardless.
    Never,
}

/// The order of the two loops over packed panels inside an SGEMM block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopOrder {
    /// B panels outer exactly when B is read in place.
    #[default]
    Auto,
    /// A panels outer (`LATENT_GEMM_ORDER=a`).
    APanelsOuter,
    /// B panels outer (`LATENT_GEMM_ORDER=b`).
    BPanelsOuter,
}

/// How the kernels run: the instruction set and the SGEMM's tuning.
///
/// The instruction set is always one this CPU supports (every constructor
/// checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    isa: Isa,
    bf16: Bf16Isa,
    blocking: Option<Blocking>,
    pack_b: PackB,
    order: LoopOrder,
}

impl Dispatch {
    /// The context on `isa` with the default tuning (no environment
    /// overrides); errors if this CPU lacks `isa`.
    pub fn new(isa: Isa) -> Result<Dispatch, KernelError> {
        if !isa.is_available() {
            return Err(KernelError::IsaUnavailable(isa));
        }
        Ok(Dispatch {
            isa,
            bf16: Bf16Isa::best_under(isa),
            blocking: None,
            pack_b: PackB::Auto,
            order: LoopOrder::Auto,
        })
    }

    /// The CPU's best instruction set with the `LATENT_*` overrides of the
    /// module documentation applied (warnings for malformed ones go to
    /// standard error). Reads the environment on every call; the kernels
    /// use [`Dispatch::global`].
    pub fn from_env() -> Dispatch {
        let var = |name: &str| std::env::var(name).ok();
        let (isa, bf16) = isas_from_env(var("LATENT_ISA").as_deref());
        Dispatch {
            isa,
            bf16,
            blocking: var("LATENT_GEMM_BLOCKING").and_then(|text| blocking_from_env(&text)),
            pack_b: match var("LATENT_GEMM_PACK_B").as_deref() {
                Some("always") => PackB::Always,
                Some("never") => PackB::Never,
                _ => PackB::Auto,
            },
            order: match var("LATENT_GEMM_ORDER").as_deref() {
                Some("a") => LoopOrder::APanelsOuter,
                Some("b") => LoopOrder::BPanelsOuter,
                _ => LoopOrder::Auto,
            },
        }
    }

    /// The process-wide context: [`Dispatch::from_env`], decided on first
    /// use and kept.
    pub fn global() -> &'static Dispatch {
        static GLOBAL: OnceLock<Dispatch> = OnceLock::new();
        GLOBAL.get_or_init(Dispatch::from_env)
    }

    /// This context on another instruction set, with the same tuning;
    /// errors if this CPU lacks `isa`.
    /// The bf16 kernel becomes the best allowed under `isa`.
    pub fn with_isa(self, isa: Isa) -> Result<Dispatch, KernelError> {
        let fresh = Dispatch::new(isa)?;
        Ok(Dispatch {
            isa: fresh.isa,
            bf16: fresh.bf16,
            ..self
        })
    }

    /// This context with the bf16 GEMM on `bf16`; errors if this CPU lacks
    /// it or the context's instruction set caps it (AVX512-BF16 needs
    /// [`Isa::Avx512`]).
    pub fn with_bf16_isa(self, bf16: Bf16Isa) -> Result<Dispatch, KernelError> {
        if !bf16.is_available() || bf16.base() > self.isa {
            return Err(KernelError::InvalidValue {
                what: "bf16 instruction set",
                value: format!("{bf16} (under {})", self.isa),
                expected: "one this CPU supports, at or below the context's instruction set",
            });
        }
        Ok(Dispatch { bf16, ..self })
    }

    /// This context with the SGEMM blocking overridden (`None`: each
    /// microkernel's default).
    pub fn with_blocking(self, blocking: Option<Blocking>) -> Dispatch {
        Dispatch { blocking, ..self }
    }

    /// This context with the given B packing.
    pub fn with_pack_b(self, pack_b: PackB) -> Dispatch {
        Dispatch { pack_b, ..self }
    }

    /// This context with the given loop order.
    pub fn with_order(self, order: LoopOrder) -> Dispatch {
        Dispatch { order, ..self }
    }

    /// The instruction set every kernel run under this context uses.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The instruction set of the bf16 GEMM's microkernel.
    pub fn bf16_isa(&self) -> Bf16Isa {
        self.bf16
    }

    /// The Hamming-distance kernel under this context's instruction set
    /// (AVX-512 needs VPOPCNTDQ too; see
    /// [`HammingIsa`](crate::hamming::HammingIsa)).
    pub fn hamming_isa(&self) -> crate::hamming::HammingIsa {
        crate::hamming::HammingIsa::best_under(self.isa)
    }

    /// The SGEMM blocking override, if any.
    pub fn blocking(&self) -> Option<Blocking> {
        self.blocking
    }

    /// Whether the SGEMM packs a row-major B.
    pub fn pack_b(&self) -> PackB {
        self.pack_b
    }

    /// The order of the SGEMM's two innermost loops.
    pub fn order(&self) -> LoopOrder {
        self.order
    }
}

/// The instruction set `LATENT_ISA` (`name`) asks for, capped by the CPU.
fn isa_from_env(name: Option<&str>) -> Isa {
    let best = Isa::best_available();
    let Some(name) = name else { return best };
    match name.parse::<Isa>() {
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
    }
}

/// The instruction sets `LATENT_ISA` (`name`) asks for, capped by the CPU:
/// the f32 one, and the bf16 GEMM's (`avx512bf16` is the level above
/// `avx512`; unset, the best of each).
fn isas_from_env(name: Option<&str>) -> (Isa, Bf16Isa) {
    let bf16_names = ["avx512bf16", "avx512_bf16", "avx512-bf16", "bf16"];
    match name {
        Some(text) if bf16_names.contains(&text.trim().to_ascii_lowercase().as_str()) => {
            let isa = isa_from_env(Some("avx512"));
            let bf16 = Bf16Isa::best_under(isa);
            if bf16 != Bf16Isa::Avx512Bf16 {
                eprintln!(
                    "latent: LATENT_ISA={text}: avx512bf16 is not supported by this CPU; using {bf16} for bf16 products"
                );
            }
            (isa, bf16)
        }
        None => {
            let isa = isa_from_env(None);
            (isa, Bf16Isa::best_under(isa))
        }
        Some(_) => (isa_from_env(name), Bf16Isa::Portable),
    }
}

/// The blocking `LATENT_GEMM_BLOCKING` (`text`) asks for, if well-formed.
fn blocking_from_env(text: &str) -> Option<Blocking> {
    let parts: Option<Vec<usize>> = text
        .split(',')
        .map(|s| s.trim().parse::<usize>().ok())
        .collect();
    match parts.as_deref() {
        Some(&[mc, kc, nc]) if mc > 0 && kc > 0 && nc > 0 => Some(Blocking { mc, kc, nc }),
        _ => {
            eprintln!("latent: LATENT_GEMM_BLOCKING={text:?} is not mc,kc,nc; ignored");
            None
        }
    }
}

/// A family of instruction-set-specific kernels, for the record of what
/// ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// SGEMM microkernels.
    Gemm,
    /// The bf16 GEMM's microkernels (AVX512-BF16 recorded as
    /// [`Isa::Avx512`], see [`Bf16Isa::base`]).
    GemmBf16,
    /// The SGEMM's packing transposes (AVX2 only; the portable packing is
    /// not recorded).
    Pack,
    /// The element-wise kernels: activations, samplers, reductions,
    /// penalties, updates.
    Elementwise,
    /// The Hamming-distance kernels ([`crate::hamming`]; AVX-512
    /// VPOPCNTDQ recorded as [`Isa::Avx512`], see
    /// [`HammingIsa::base`](crate::hamming::HammingIsa::base)).
    Hamming,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 5] = [
        Family::Gemm,
        Family::Pack,
        Family::Elementwise,
        Family::GemmBf16,
        Family::Hamming,
    ];
}

/// The (family, instruction set) pairs that have run since the last
/// [`take_ran`].
static RAN: AtomicU32 = AtomicU32::new(0);

fn bit(family: Family, isa: Isa) -> u32 {
    1 << (family as u32 * Isa::ALL.len() as u32 + isa as u32)
}

/// Notes that a kernel of `family` ran on `isa`: a relaxed load, and a
/// read-modify-write only the first time, so the shared line stays clean.
#[inline]
pub(crate) fn record(family: Family, isa: Isa) {
    let bit = bit(family, isa);
    if RAN.load(Ordering::Relaxed) & bit == 0 {
        RAN.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Which kernel families ran on which instruction sets, as returned by
/// [`take_ran`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ran(u32);

impl Ran {
    /// Whether a kernel of `family` ran on `isa`.
    pub fn contains(self, family: Family, isa: Isa) -> bool {
        self.0 & bit(family, isa) != 0
    }

    /// Whether any kernel ran on `isa`.
    pub fn any_on(self, isa: Isa) -> bool {
        Family::ALL.into_iter().any(|f| self.contains(f, isa))
    }
}

/// The kernels that ran in this process (any thread) since the previous
/// call, and clears the record.
pub fn take_ran() -> Ran {
    Ran(RAN.swap(0, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values_parse_as_documented() {
        assert_eq!(isa_from_env(Some("portable")), Isa::Portable);
        assert_eq!(isa_from_env(None), Isa::best_available());
        assert_eq!(isa_from_env(Some("nonsense")), Isa::best_available());
        assert_eq!(
            isas_from_env(Some("avx512")).1,
            Bf16Isa::Portable,
            "avx512 caps bf16 products below avx512bf16"
        );
        assert_eq!(
            isas_from_env(Some("portable")),
            (Isa::Portable, Bf16Isa::Portable)
        );
        assert_eq!(
            isas_from_env(None).1,
            Bf16Isa::best_under(Isa::best_available())
        );
        assert_eq!(
            blocking_from_env("8, 16,32"),
            Some(Blocking {
                mc: 8,
                kc: 16,
                nc: 32
            })
        );
        assert_eq!(blocking_from_env("8,0,32"), None);
        assert_eq!(blocking_from_env("8,16"), None);
    }
}
