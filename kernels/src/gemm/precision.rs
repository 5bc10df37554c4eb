//! The precision a product runs in, and the one entry point models call
//! for a product in either: [`product`], whose right operand
//! ([`Operand`]) says how it is multiplied — in f32 (the SGEMM), rounded
//! to bf16 while packed (the bf16 GEMM), or already packed to bf16 (a
//! weight matrix packed once per training step and reused).

use std::fmt;
use std::str::FromStr;

use super::{Accum, Epilogue, MatMut, MatRef, PackedBf16};
use crate::dispatch::Dispatch;
use crate::{KernelError, Par};

/// The precision of a model's matrix products. Everything else (master
/// parameters, accumulation, optimiser state, samplers, losses) stays f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// f32 operands (the SGEMM).
    #[default]
    F32,
    /// bf16 operands (rounded to nearest even while packed), f32
    /// accumulation and output (the bf16 GEMM).
    Bf16,
}

impl Precision {
    /// Both precisions, the default first.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Bf16];

    /// The name used on command lines and in model files (`f32`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The right operand `b` of a product in this precision (a bf16
    /// operand is rounded and packed by each product; see
    /// [`Operand::Packed`] to do it once).
    pub fn operand(self, b: MatRef<'_>) -> Operand<'_> {
        match self {
            Precision::F32 => Operand::F32(b),
            Precision::Bf16 => Operand::Bf16(b),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = KernelError;

    fn from_str(text: &str) -> Result<Precision, KernelError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(KernelError::InvalidValue {
                what: "precision",
                value: text.to_string(),
                expected: "f32 or bf16",
            }),
        }
    }
}

/// The right operand of a [`product`], and the precision it is multiplied
/// in.
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a> {
    /// f32: the SGEMM ([`gemm`](super::gemm)).
    F32(MatRef<'a>),
    /// bf16 products on an f32 matrix, rounded while packed
    /// ([`gemm_bf16`](super::gemm_bf16)).
    Bf16(MatRef<'a>),
    /// bf16 products on a matrix packed beforehand
    /// ([`gemm_bf16_packed`](super::gemm_bf16_packed)).
    Packed(&'a PackedBf16),
}

impl Operand<'_> {
    /// The precision of products with this operand.
    pub fn precision(&self) -> Precision {
        match self {
            Operand::F32(_) => Precision::F32,
            Operand::Bf16(_) | Operand::Packed(_) => Precision::Bf16,
        }
    }

    /// Rows of the operand (the product's depth).
    pub fn rows(&self) -> usize {
        match self {
            Operand::F32(b) | Operand::Bf16(b) => b.rows(),
            Operand::Packed(p) => p.rows(),
        }
    }

    /// Columns of the operand.
    pub fn cols(&self) -> usize {
        match self {
            Operand::F32(b) | Operand::Bf16(b) => b.cols(),
            Operand::Packed(p) => p.cols(),
        }
    }
}

/// `C ← α·op(A)·B (+ β·C)`, then `epilogue`, in the precision of `b`
/// (under [`Dispatch::global`]): the one product call of the models.
/// Errors if the shapes disagree.
pub fn product<E: Epilogue>(
    alpha: f32,
    a: MatRef<'_>,
    b: Operand<'_>,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global().product(alpha, a, b, accum, c, epilogue, par)
}

impl Dispatch {
    /// [`product`] under this context.
    #[allow(clippy::too_many_arguments)]
    pub fn product<E: Epilogue>(
        &self,
        alpha: f32,
        a: MatRef<'_>,
        b: Operand<'_>,
        accum: Accum,
        c: MatMut<'_>,
        epilogue: &E,
        par: Par,
    ) -> Result<(), KernelError> {
        match b {
            Operand::F32(b) => self.gemm(alpha, a, b, accum, c, epilogue, par),
            Operand::Bf16(b) => self.gemm_bf16(alpha, a, b, accum, c, epilogue, par),
            Operand::Packed(b) => self.gemm_bf16_packed(alpha, a, b, accum, c, epilogue, par),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::NoEpilogue;

    #[test]
    fn names_parse_back() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(" BF16 ".parse::<Precision>().unwrap(), Precision::Bf16);
        let err = "f16".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("f16") && err.contains("bf16"), "{err}");
    }

    /// Each operand form reaches its own GEMM: f32 gives the SGEMM's bits,
    /// both bf16 forms the bf16 GEMM's (and agree with each other).
    #[test]
    fn each_operand_runs_its_gemm() {
        let (m, k, n) = (5, 7, 6);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.71).cos() / 3.0).collect();
        let (av, bv) = (
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
        );
        let run = |op: Operand<'_>| {
            let mut c = vec![f32::NAN; m * n];
            let cv = MatMut::row_major(&mut c, m, n).unwrap();
            product(1.0, av, op, Accum::Replace, cv, &NoEpilogue, Par::Seq).unwrap();
            c
        };
        let mut want_f32 = vec![0.0; m * n];
        let cv = MatMut::row_major(&mut want_f32, m, n).unwrap();
        super::super::sgemm(1.0, av, bv, Accum::Replace, cv, Par::Seq).unwrap();
        let mut want_bf16 = vec![0.0; m * n];
        let cv = MatMut::row_major(&mut want_bf16, m, n).unwrap();
        let none = &NoEpilogue;
        super::super::gemm_bf16(1.0, av, bv, Accum::Replace, cv, none, Par::Seq).unwrap();
        assert_ne!(want_f32, want_bf16, "the inputs are not exact in bf16");
        assert_eq!(run(Precision::F32.operand(bv)), want_f32);
        assert_eq!(run(Precision::Bf16.operand(bv)), want_bf16);
        let packed = super::super::pack_bf16_b(bv);
        assert_eq!(run(Operand::Packed(&packed)), want_bf16);
        assert_eq!(
            (
                Operand::Packed(&packed).rows(),
                Operand::Packed(&packed).cols()
            ),
            (k, n)
        );
    }
}
