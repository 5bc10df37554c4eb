//! `ln Σ exp` over every configuration of a set of binary units, the others
//! summed (or, Gaussian visibles, integrated) in closed form: the exact
//! `ln Z` and marginals of tiny RBMs ([`super::exact`]) and DBMs
//! ([`super::dbm`]). An RBM is the chain of its two layers.
//!
//! Configurations are enumerated in fixed blocks of `2^12` (high bits name
//! the block, the low bits run in Gray-code order so each step adds or
//! removes one unit's weights); blocks are reduced on their own and combined
//! in block order, so the results are bit-identical for any thread count.

use latent_kernels::Par;

use super::{fill_rows_min, log_sum_exp, sum_softplus_f64};

/// Low bits enumerated inside one block.
const BLOCK_BITS: usize = 12;

/// `ln Σ_u exp(unit_biasᵀu + g(a))` over `u ∈ {0,1}^n`, with `a =
/// other_init + Σ_k u_k unit_w[k]` and `g(a) = Σ_{l<G} (coef_l a_l +
/// a_l²/2) + Σ_{l≥G} softplus(a_l)`, `G = coef.len()`, plus `constant`
/// (the first `G` summed units are Gaussian: Gaussian visibles, or linear
/// hiddens).
pub(crate) struct Enumeration {
    n: usize,
    m: usize,
    unit_bias: Vec<f64>,
    /// `n x m`: the weights of each enumerated unit to the summed ones.
    unit_w: Vec<f64>,
    other_init: Vec<f64>,
    /// `b_i/σ_i` of the Gaussian visibles, which come first among the
    /// summed units.
    coef: Vec<f64>,
    constant: f64,
}

impl Enumeration {
    /// The enumeration of a chain of Bernoulli layers (`bias[k]` its sizes,
    /// `weights[k]` linking layers `k` and `k+1` row-major) whose layers of
    /// `parity` are enumerated. `gaussian_sigma`: layer 0 is Gaussian (it
    /// must then be summed, i.e. `parity == 1`) with these `σ`.
    pub(crate) fn of_chain(
        bias: &[Vec<f64>],
        weights: &[&[f32]],
        parity: usize,
        gaussian_sigma: Option<&[f32]>,
    ) -> Enumeration {
        let sizes: Vec<usize> = bias.iter().map(Vec::len).collect();
        let is_enum = |l: usize| l % 2 == parity;
        let (mut off, mut n, mut m) = (vec![0; sizes.len()], 0, 0);
        for (l, &s) in sizes.iter().enumerate() {
            let next = if is_enum(l) { &mut n } else { &mut m };
            off[l] = *next;
            *next += s;
        }
        let (mut unit_bias, mut other_init, mut coef) = (Vec::new(), Vec::new(), Vec::new());
        let mut constant = 0.0;
        for (l, b) in bias.iter().enumerate() {
            match (is_enum(l), gaussian_sigma) {
                (true, _) => unit_bias.extend_from_slice(b),
                (false, Some(sigma)) if l == 0 => {
                    coef.extend(b.iter().zip(sigma).map(|(&b, &s)| b / s as f64));
                    other_init.extend(std::iter::repeat_n(0.0, b.len()));
                    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
                    constant += sigma
                        .iter()
                        .map(|&s| half_ln_2pi + (s as f64).ln())
                        .sum::<f64>();
                }
                (false, _) => other_init.extend_from_slice(b),
            }
        }
        let mut unit_w = vec![0.0f64; n * m];
        for l in (0..sizes.len()).filter(|&l| is_enum(l)) {
            for j in 0..sizes[l] {
                let row = &mut unit_w[(off[l] + j) * m..(off[l] + j + 1) * m];
                if l > 0 {
                    for i in 0..sizes[l - 1] {
                        row[off[l - 1] + i] = weights[l - 1][i * sizes[l] + j] as f64;
                    }
                }
                if l + 1 < sizes.len() {
                    let w = &weights[l][j * sizes[l + 1]..(j + 1) * sizes[l + 1]];
                    for (k, &x) in w.iter().enumerate() {
                        row[off[l + 1] + k] = x as f64;
                    }
                }
            }
        }
        Enumeration {
            n,
            m,
            unit_bias,
            unit_w,
            other_init,
            coef,
            constant,
        }
    }

    /// The enumeration of an RBM's `2^V` Bernoulli visible configurations
    /// with its `H` linear (unit-variance Gaussian) hiddens integrated:
    /// `ln Σ_v exp(bᵀv + Σ_j ½a_j²) + (H/2) ln 2π`, `a = c + vᵀW` (`w` is
    /// `V x H` row-major).
    pub(crate) fn linear_hidden(b: Vec<f64>, c: Vec<f64>, w: &[f32]) -> Enumeration {
        let (n, m) = (b.len(), c.len());
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        Enumeration {
            n,
            m,
            unit_bias: b,
            unit_w: w.iter().map(|&x| x as f64).collect(),
            other_init: c,
            // Every summed unit is Gaussian, with no linear term.
            coef: vec![0.0; m],
            constant: m as f64 * half_ln_2pi,
        }
    }

    #[inline]
    fn other_sum(&self, a: &[f64]) -> f64 {
        let g = self.coef.len();
        let gauss: f64 = a[..g]
            .iter()
            .zip(&self.coef)
            .map(|(&a, &k)| k * a + 0.5 * a * a)
            .sum();
        gauss + sum_softplus_f64(&a[g..])
    }

    /// `ln Σ exp(value)` over the configurations of block `block`.
    fn block_log_sum(&self, block: usize, low_bits: usize) -> f64 {
        let m = self.m;
        let mut a = self.other_init.clone();
        let mut lin = 0.0f64;
        for k in low_bits..self.n {
            if (block >> (k - low_bits)) & 1 == 1 {
                lin += self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += w;
                }
            }
        }
        let mut on = vec![false; low_bits];
        let (mut max, mut sum) = (f64::NEG_INFINITY, 0.0f64);
        for t in 0..1usize << low_bits {
            if t > 0 {
                let k = t.trailing_zeros() as usize;
                on[k] = !on[k];
                let sign = if on[k] { 1.0 } else { -1.0 };
                lin += sign * self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += sign * w;
                }
            }
            let x = lin + self.other_sum(&a);
            if x > max {
                sum = sum * (max - x).exp() + 1.0;
                max = x;
            } else {
                sum += (x - max).exp();
            }
        }
        max + sum.ln()
    }

    /// The whole sum, its fixed blocks spread over `par`.
    pub(crate) fn log_sum(&self, par: Par) -> f64 {
        let low_bits = self.n.min(BLOCK_BITS);
        let mut per_block = vec![0.0f64; 1usize << (self.n - low_bits)];
        fill_rows_min(&mut per_block, par, 1, |b| self.block_log_sum(b, low_bits));
        self.constant + log_sum_exp(per_block.iter().copied())
    }
}
