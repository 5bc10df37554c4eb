//! SGEMM against a naive f64 reference on every instruction set this CPU
//! has: edge tiles of every size, blocking boundaries in k, strides,
//! transposes, α/β, `Replace` over NaN, the epilogue, threads, and errors.

use latent_kernels::gemm::{
    Accum, BiasAdd, Epilogue, MatMut, MatRef, NoEpilogue, gemm_on, kernel_info,
};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::{TestRng, present_isas as isas};
use proptest::prelude::*;
use std::sync::Mutex;

mod accuracy;
mod epilogues;
mod errors;
mod threads;

/// A matrix stored with arbitrary strides inside a padded buffer.
struct Strided {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Strided {
    /// `rows x cols`, row-major (`col_major = false`) or column-major, with
    /// `pad` extra elements per leading dimension, filled from `rng`.
    fn new(
        rng: &mut TestRng,
        rows: usize,
        cols: usize,
        col_major: bool,
        pad: usize,
        fill: f32,
    ) -> Self {
        let (rs, cs) = if col_major {
            (1, rows + pad)
        } else {
            (cols + pad, 1)
        };
        let len = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        };
        let mut data = vec![fill; len];
        for i in 0..rows {
            for j in 0..cols {
                data[i * rs + j * cs] = if fill.is_nan() {
                    f32::NAN
                } else {
                    rng.uniform(-1.0, 1.0)
                };
            }
        }
        Strided {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }

    fn view(&self) -> MatRef<'_> {
        MatRef::new(&self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }

    fn view_mut(&mut self) -> MatMut<'_> {
        MatMut::new(&mut self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }
}

/// The f64 reference and an error bound for each element:
/// `(k + 2)·ε·(|α|·Σ|a||b| + |β||c|)` plus a little for the epilogue.
fn reference(
    alpha: f32,
    a: &dyn Fn(usize, usize) -> f32,
    b: &dyn Fn(usize, usize) -> f32,
    beta: f32,
    c0: &dyn Fn(usize, usize) -> f32,
    bias: Option<&[f32]>,
    (m, k, n): (usize, usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; m * n];
    let mut bound = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut s_abs) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = a(i, p) as f64 * b(p, j) as f64;
                s += t;
                s_abs += t.abs();
            }
            let mut v = alpha as f64 * s;
            let mut scale = (alpha as f64).abs() * s_abs;
            if beta != 0.0 {
                v += beta as f64 * c0(i, j) as f64;
                scale += (beta as f64 * c0(i, j) as f64).abs();
            }
            if let Some(bias) = bias {
                v += bias[j] as f64;
                scale += v.abs() + (bias[j] as f64).abs();
            }
            out[i * n + j] = v;
            bound[i * n + j] = (k as f64 + 4.0) * f32::EPSILON as f64 * scale + 1e-30;
        }
    }
    (out, bound)
}

/// Runs one case on `isa` and checks every element of C.
#[allow(clippy::too_many_arguments)]
fn check_case(
    isa: Isa,
    rng: &mut TestRng,
    (m, k, n): (usize, usize, usize),
    a_col_major: bool,
    b_col_major: bool,
    c_col_major: bool,
    pad: usize,
    alpha: f32,
    accum: Accum,
    par: Par,
) {
    let a = Strided::new(rng, m, k, a_col_major, pad, 0.0);
    let b = Strided::new(rng, k, n, b_col_major, pad, 0.0);
    let replace = matches!(accum, Accum::Replace);
    let mut c = Strided::new(
        rng,
        m,
        n,
        c_col_major,
        pad,
        if replace { f32::NAN } else { 0.0 },
    );
    let c0 = c.data.clone();
    let (crs, ccs) = (c.rs, c.cs);
    let beta = match accum {
        Accum::Replace => 0.0,
        Accum::Add { beta } => beta,
    };
    let (want, bound) = reference(
        alpha,
        &|i, p| a.at(i, p),
        &|p, j| b.at(p, j),
        beta,
        &|i, j| c0[i * crs + j * ccs],
        None,
        (m, k, n),
    );
    gemm_on(
        isa,
        alpha,
        a.view(),
        b.view(),
        accum,
        c.view_mut(),
        &NoEpilogue,
        par,
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let got = c.at(i, j) as f64;
            let (w, tol) = (want[i * n + j], bound[i * n + j]);
            assert!(
                (got - w).abs() <= tol,
                "{isa}: m={m} k={k} n={n} a_cm={a_col_major} b_cm={b_col_major} c_cm={c_col_major} pad={pad} alpha={alpha} {accum:?}: C[{i},{j}] = {got}, want {w} ± {tol}"
            );
        }
    }
    // Padding between elements must be untouched.
    let mut is_elem = vec![false; c.data.len()];
    for i in 0..m {
        for j in 0..n {
            is_elem[i * crs + j * ccs] = true;
        }
    }
    for (idx, (&now, &before)) in c.data.iter().zip(&c0).enumerate() {
        if !is_elem[idx] {
            assert!(
                now.to_bits() == before.to_bits(),
                "{isa}: padding at {idx} was written"
            );
        }
    }
}
