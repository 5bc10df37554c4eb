//! Principal component analysis: the sample covariance of the rows of a
//! matrix, accumulated in `f64`, and its leading eigenvectors from a
//! cyclic Jacobi eigen-solver for symmetric matrices ([`symmetric_eigen`]).
//!
//! The Jacobi method rotates away one off-diagonal entry at a time until
//! the matrix is diagonal to working precision; it is slow for large
//! matrices (`O(d³)` per sweep, 6 to 12 sweeps: 0.03 s for `d = 100`,
//! 1 s for `d = 300`, 6 s for `d = 500` on a loaded 2-core VM) but simple, accurate to the last bits for every eigenvalue,
//! large or small, and its eigenvectors are orthonormal by construction.
//! Everything is sequential, so the results do not depend on the thread
//! count.

use latent_engine::Matrix;

use crate::error::{ModelError, Result};

/// Sweeps after which [`symmetric_eigen`] gives up (convergence is
/// quadratic: 6 to 12 sweeps suffice in practice).
const MAX_SWEEPS: usize = 100;

/// The eigen-decomposition of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Eigen {
    /// The eigenvalues, largest first.
    pub values: Vec<f64>,
    /// The unit eigenvectors as rows, in the order of `values`
    /// (`n x n`, row-major); each one's largest-magnitude entry is
    /// positive (the first such entry, on ties), so the signs are
    /// deterministic.
    pub vectors: Vec<f64>,
}

/// The eigenvalues and eigenvectors of the symmetric `n x n` matrix `a`
/// (row-major; only its upper triangle is read) by cyclic Jacobi
/// rotations. Errors on a wrong length, a non-finite entry or (never seen
/// in practice) no convergence in [`MAX_SWEEPS`] sweeps.
pub fn symmetric_eigen(a: &[f64], n: usize) -> Result<Eigen> {
    if a.len() != n * n {
        return Err(ModelError::Shape {
            what: format!("symmetric_eigen: entries of a {n} x {n} matrix"),
            expected: n * n,
            found: a.len(),
        });
    }
    if let Some(i) = a.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::InvalidConfig {
            what: "symmetric_eigen: matrix entry",
            value: format!("{} at ({}, {})", a[i], i / n, i % n),
            expected: "finite values",
        });
    }
    // The full symmetric matrix from the upper triangle.
    let mut m = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            m[i * n + j] = a[i * n + j];
            m[j * n + i] = a[i * n + j];
        }
    }
    let mut vt = vec![0.0f64; n * n];
    for i in 0..n {
        vt[i * n + i] = 1.0;
    }
    let mut converged = false;
    for _ in 0..MAX_SWEEPS {
        if off_diagonal_negligible(&m, n) {
            converged = true;
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut m, &mut vt, n, p, q);
            }
        }
    }
    if !converged && !off_diagonal_negligible(&m, n) {
        return Err(ModelError::Unsupported {
            what: "symmetric_eigen",
            why: format!("the Jacobi rotations did not converge in {MAX_SWEEPS} sweeps"),
        });
    }
    Ok(sorted(&m, &vt, n))
}

/// Whether every off-diagonal entry is negligible beside the diagonal:
/// the sum of their squares below `(ε·‖diag‖)²`.
fn off_diagonal_negligible(m: &[f64], n: usize) -> bool {
    let (mut off, mut diag) = (0.0f64, 0.0f64);
    for i in 0..n {
        diag += m[i * n + i] * m[i * n + i];
        for j in i + 1..n {
            off += m[i * n + j] * m[i * n + j];
        }
    }
    off == 0.0 || off <= (f64::EPSILON * f64::EPSILON * 1e-2) * diag
}

/// One Jacobi rotation in the plane `(p, q)`: `m ← Jᵀ m J` with the angle
/// that zeroes `m[p][q]` (rows `p` and `q` are updated in place and
/// mirrored into columns `p` and `q`), and `vt ← Jᵀ vt` (the eigenvectors
/// accumulate in the rows of `vt`).
fn rotate(m: &mut [f64], vt: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = m[p * n + q];
    if apq == 0.0 {
        return;
    }
    let (app, aqq) = (m[p * n + p], m[q * n + q]);
    // An entry below the rounding of both diagonal entries: dropped.
    if apq.abs() <= f64::EPSILON * 1e-3 * app.abs().min(aqq.abs()) {
        m[p * n + q] = 0.0;
        m[q * n + p] = 0.0;
        return;
    }
    // t = tan φ, the smaller root of t² + 2θt − 1 = 0.
    let theta = (aqq - app) / (2.0 * apq);
    let t = if theta.abs() > 1e150 {
        0.5 / theta
    } else {
        let sign = if theta < 0.0 { -1.0 } else { 1.0 };
        sign / (theta.abs() + (theta * theta + 1.0).sqrt())
    };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    let (row_p, row_q) = two_rows(m, n, p, q);
    for (k, (a, b)) in row_p.iter_mut().zip(row_q.iter_mut()).enumerate() {
        if k != p && k != q {
            let (kp, kq) = (*a, *b);
            *a = c * kp - s * kq;
            *b = s * kp + c * kq;
        }
    }
    for k in (0..n).filter(|&k| k != p && k != q) {
        m[k * n + p] = m[p * n + k];
        m[k * n + q] = m[q * n + k];
    }
    m[p * n + p] = app - t * apq;
    m[q * n + q] = aqq + t * apq;
    // Exactly zero by construction.
    m[p * n + q] = 0.0;
    m[q * n + p] = 0.0;
    let (vp, vq) = two_rows(vt, n, p, q);
    for (a, b) in vp.iter_mut().zip(vq.iter_mut()) {
        let (kp, kq) = (*a, *b);
        *a = c * kp - s * kq;
        *b = s * kp + c * kq;
    }
}

/// Rows `p < q` of the `n`-column row-major `m`, both mutable.
fn two_rows(m: &mut [f64], n: usize, p: usize, q: usize) -> (&mut [f64], &mut [f64]) {
    let (head, tail) = m.split_at_mut(q * n);
    (&mut head[p * n..(p + 1) * n], &mut tail[..n])
}

/// The diagonal of `m` and the rows of `vt` as an [`Eigen`], largest
/// eigenvalue first (ties by index), signs normalised.
fn sorted(m: &[f64], vt: &[f64], n: usize) -> Eigen {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[j * n + j].total_cmp(&m[i * n + i]).then(i.cmp(&j)));
    let mut values = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n * n);
    for &j in &order {
        values.push(m[j * n + j]);
        let row = &vt[j * n..(j + 1) * n];
        let lead = row
            .iter()
            .enumerate()
            .fold((0, 0.0f64), |(bi, bv), (i, &x)| {
                if x.abs() > bv { (i, x.abs()) } else { (bi, bv) }
            })
            .0;
        let sign = if row.get(lead).is_some_and(|&x| x < 0.0) {
            -1.0
        } else {
            1.0
        };
        vectors.extend(row.iter().map(|&x| sign * x));
    }
    Eigen { values, vectors }
}

/// A fitted principal component analysis: the data's mean and its
/// covariance's leading eigenvectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f64>,
    /// `k x d`, row-major: the principal directions, unit length.
    components: Vec<f64>,
    variances: Vec<f64>,
    total_variance: f64,
}

impl Pca {
    /// Fits `k` principal components to the rows of `x` (samples): the
    /// eigenvectors of the sample covariance `Σ (x − x̄)(x − x̄)ᵀ / (n − 1)`
    /// (accumulated in `f64`) with the `k` largest eigenvalues. Needs at
    /// least two rows, `1 ≤ k ≤ columns`, and finite values.
    pub fn fit(x: &Matrix, k: usize) -> Result<Pca> {
        let (n, d) = x.shape();
        if k == 0 || k > d {
            return Err(ModelError::InvalidConfig {
                what: "PCA components",
                value: format!("{k} (of {d} columns)"),
                expected: "between 1 and the number of columns",
            });
        }
        if n < 2 {
            return Err(ModelError::Shape {
                what: "PCA: rows (samples) for a covariance, at least".into(),
                expected: 2,
                found: n,
            });
        }
        if let Some((i, v)) = x.first_non_finite() {
            return Err(ModelError::InvalidConfig {
                what: "PCA: data value",
                value: format!("{v} (sample {}, feature {})", i / d + 1, i % d + 1),
                expected: "finite values",
            });
        }
        let mean = column_means(x);
        let cov = covariance(x, &mean);
        let eig = symmetric_eigen(&cov, d)?;
        Ok(Pca {
            total_variance: eig.values.iter().sum(),
            variances: eig.values[..k].to_vec(),
            components: eig.vectors[..k * d].to_vec(),
            mean,
        })
    }

    /// The number of components, `k`.
    pub fn components_count(&self) -> usize {
        self.variances.len()
    }

    /// The number of columns of the data, `d`.
    pub fn dims(&self) -> usize {
        self.mean.len()
    }

    /// The data's column means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Component `i` (0 = the direction of most variance), a unit vector
    /// of `d` values.
    pub fn component(&self, i: usize) -> &[f64] {
        let d = self.dims();
        &self.components[i * d..(i + 1) * d]
    }

    /// The variance along each component (the covariance's eigenvalues),
    /// largest first.
    pub fn variances(&self) -> &[f64] {
        &self.variances
    }

    /// The fraction of the data's total variance along each component.
    pub fn explained_ratio(&self) -> Vec<f64> {
        let total = self.total_variance;
        self.variances
            .iter()
            .map(|&v| if total > 0.0 { v / total } else { 0.0 })
            .collect()
    }

    /// The coordinates of the rows of `x` along the components, `(x − x̄)
    /// Wᵀ` (`rows x k`).
    pub fn transform(&self, x: &Matrix) -> Result<Matrix> {
        let (d, k) = (self.dims(), self.components_count());
        if x.cols() != d {
            return Err(ModelError::Shape {
                what: "PCA::transform: columns of the data".into(),
                expected: d,
                found: x.cols(),
            });
        }
        let mut out = Matrix::zeros(x.rows(), k)?;
        let mut centred = vec![0.0f64; d];
        for r in 0..x.rows() {
            for ((c, &v), &m) in centred.iter_mut().zip(x.row(r)).zip(&self.mean) {
                *c = v as f64 - m;
            }
            for (j, o) in out.row_mut(r).iter_mut().enumerate() {
                *o = dot(&centred, self.component(j)) as f32;
            }
        }
        Ok(out)
    }

    /// The points of the data space with the coordinates `codes` (`rows x
    /// k`): `x̄ + codes · W` (`rows x d`), the reconstruction of data from
    /// its [`transform`](Self::transform).
    pub fn inverse_transform(&self, codes: &Matrix) -> Result<Matrix> {
        let (d, k) = (self.dims(), self.components_count());
        if codes.cols() != k {
            return Err(ModelError::Shape {
                what: "PCA::inverse_transform: columns of the codes".into(),
                expected: k,
                found: codes.cols(),
            });
        }
        let mut out = Matrix::zeros(codes.rows(), d)?;
        let mut acc = vec![0.0f64; d];
        for r in 0..codes.rows() {
            acc.copy_from_slice(&self.mean);
            for (j, &c) in codes.row(r).iter().enumerate() {
                for (a, &w) in acc.iter_mut().zip(self.component(j)) {
                    *a += c as f64 * w;
                }
            }
            for (o, &a) in out.row_mut(r).iter_mut().zip(&acc) {
                *o = a as f32;
            }
        }
        Ok(out)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The column means of `x`, in `f64`.
fn column_means(x: &Matrix) -> Vec<f64> {
    let mut mean = vec![0.0f64; x.cols()];
    for r in 0..x.rows() {
        for (m, &v) in mean.iter_mut().zip(x.row(r)) {
            *m += v as f64;
        }
    }
    let n = x.rows() as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}

/// The sample covariance of the rows of `x` about `mean` (`d x d`,
/// row-major, upper triangle filled and mirrored), in `f64`.
fn covariance(x: &Matrix, mean: &[f64]) -> Vec<f64> {
    let d = x.cols();
    let mut cov = vec![0.0f64; d * d];
    let mut centred = vec![0.0f64; d];
    for r in 0..x.rows() {
        for ((c, &v), &m) in centred.iter_mut().zip(x.row(r)).zip(mean) {
            *c = v as f64 - m;
        }
        for i in 0..d {
            let ci = centred[i];
            if ci == 0.0 {
                continue;
            }
            for (acc, &cj) in cov[i * d + i..(i + 1) * d].iter_mut().zip(&centred[i..]) {
                *acc += ci * cj;
            }
        }
    }
    let scale = 1.0 / (x.rows() as f64 - 1.0);
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] * scale;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    cov
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) (splitmix64).
    struct Rand(u64);
    impl Rand {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    /// An `n x n` orthogonal matrix (rows orthonormal) by Gram-Schmidt
    /// (twice, for accuracy) of random rows.
    fn orthogonal(n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rand(seed);
        let mut q: Vec<f64> = (0..n * n).map(|_| r.next()).collect();
        for i in 0..n {
            for _ in 0..2 {
                for j in 0..i {
                    let d = dot(&q[i * n..(i + 1) * n], &q[j * n..(j + 1) * n]);
                    for k in 0..n {
                        q[i * n + k] -= d * q[j * n + k];
                    }
                }
            }
            let norm = dot(&q[i * n..(i + 1) * n], &q[i * n..(i + 1) * n]).sqrt();
            q[i * n..(i + 1) * n].iter_mut().for_each(|v| *v /= norm);
        }
        q
    }

    /// `Qᵀ diag(values) Q` for the rows of `q`.
    fn with_spectrum(q: &[f64], values: &[f64]) -> Vec<f64> {
        let n = values.len();
        let mut a = vec![0.0; n * n];
        for (l, &lambda) in values.iter().enumerate() {
            for i in 0..n {
                for j in 0..n {
                    a[i * n + j] += lambda * q[l * n + i] * q[l * n + j];
                }
            }
        }
        a
    }

    fn mat_vec(a: &[f64], v: &[f64]) -> Vec<f64> {
        a.chunks(v.len()).map(|row| dot(row, v)).collect()
    }

    /// Checks `A v = λ v` for every pair and that the vectors are
    /// orthonormal, to `tol` relative to the largest |λ|.
    fn check_decomposition(a: &[f64], e: &Eigen, tol: f64) {
        let n = e.values.len();
        let scale = e.values.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        for i in 0..n {
            let v = &e.vectors[i * n..(i + 1) * n];
            let av = mat_vec(a, v);
            for (x, y) in av.iter().zip(v) {
                assert!((x - e.values[i] * y).abs() <= tol * scale, "pair {i}");
            }
            for j in 0..n {
                let d = dot(v, &e.vectors[j * n..(j + 1) * n]);
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((d - want).abs() <= 1e-13, "vectors {i}, {j}: {d}");
            }
        }
        assert!(e.values.windows(2).all(|w| w[0] >= w[1]), "{:?}", e.values);
    }

    #[test]
    fn a_known_spectrum_is_recovered() {
        let n = 12;
        let values: Vec<f64> = (0..n).map(|i| 10.0 - 1.7 * i as f64).collect();
        let q = orthogonal(n, 7);
        let a = with_spectrum(&q, &values);
        let e = symmetric_eigen(&a, n).unwrap();
        for (got, want) in e.values.iter().zip(&values) {
            assert!((got - want).abs() <= 1e-12, "{got} vs {want}");
        }
        check_decomposition(&a, &e, 1e-13);
        // The eigenvectors are the rows of Q, up to sign.
        for i in 0..n {
            let d = dot(&e.vectors[i * n..(i + 1) * n], &q[i * n..(i + 1) * n]);
            assert!((d.abs() - 1.0).abs() <= 1e-12, "{i}: {d}");
        }
    }

    #[test]
    fn two_by_two_matches_the_closed_form() {
        let (a, b, c) = (3.0f64, -1.25, 0.5);
        let e = symmetric_eigen(&[a, b, b, c], 2).unwrap();
        let (mid, rad) = ((a + c) / 2.0, (((a - c) / 2.0).powi(2) + b * b).sqrt());
        assert!((e.values[0] - (mid + rad)).abs() <= 1e-15 * 4.0);
        assert!((e.values[1] - (mid - rad)).abs() <= 1e-15 * 4.0);
        check_decomposition(&[a, b, b, c], &e, 1e-15);
    }

    #[test]
    fn degenerate_and_diagonal_matrices() {
        // Repeated eigenvalues: any orthonormal basis of the eigenspace.
        let n = 6;
        let values = [4.0, 4.0, 4.0, 1.0, 1.0, -2.0];
        let a = with_spectrum(&orthogonal(n, 3), &values);
        let e = symmetric_eigen(&a, n).unwrap();
        for (got, want) in e.values.iter().zip(values) {
            assert!((got - want).abs() <= 1e-13, "{got} vs {want}");
        }
        check_decomposition(&a, &e, 1e-13);
        // A diagonal matrix: itself, sorted, unit vectors.
        let d = [1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0];
        let e = symmetric_eigen(&d, 3).unwrap();
        assert_eq!(e.values, vec![3.0, 2.0, 1.0]);
        assert_eq!(e.vectors, vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(symmetric_eigen(&[], 0).unwrap().values, Vec::<f64>::new());
    }

    #[test]
    fn bad_matrices_are_errors() {
        assert!(symmetric_eigen(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(symmetric_eigen(&[1.0, f64::NAN, f64::NAN, 1.0], 2).is_err());
    }

    /// Data with a known sample covariance: pairs `x̄ ± a_j q_j` along
    /// orthonormal directions `q_j`, so that the covariance is
    /// `Σ_j 2 a_j² q_j q_jᵀ / (n − 1)` exactly (up to the `f32` storage).
    #[test]
    fn pca_recovers_a_known_covariance() {
        let d = 6;
        let q = orthogonal(d, 11);
        let amps = [3.0f64, 2.0, 1.0, 0.5];
        let mean = [1.0f64, -2.0, 0.5, 4.0, 0.0, 3.0];
        let n = 2 * amps.len();
        let x = Matrix::from_fn(n, d, |r, c| {
            let (j, sign) = (r / 2, if r % 2 == 0 { 1.0 } else { -1.0 });
            (mean[c] + sign * amps[j] * q[j * d + c]) as f32
        })
        .unwrap();
        let pca = Pca::fit(&x, 3).unwrap();
        for (j, &a) in amps.iter().take(3).enumerate() {
            let want = 2.0 * a * a / (n as f64 - 1.0);
            let got = pca.variances()[j];
            assert!((got - want).abs() <= 1e-6 * want, "{j}: {got} vs {want}");
            let along = dot(pca.component(j), &q[j * d..(j + 1) * d]);
            assert!((along.abs() - 1.0).abs() <= 1e-6, "{j}: {along}");
        }
        for (m, want) in pca.mean().iter().zip(mean) {
            assert!((m - want).abs() <= 1e-6, "{m} vs {want}");
        }
        let total: f64 = amps.iter().map(|a| 2.0 * a * a / (n as f64 - 1.0)).sum();
        let ratio = pca.explained_ratio();
        assert!((ratio[0] - 2.0 * 9.0 / (n as f64 - 1.0) / total).abs() <= 1e-6);
        // Four directions hold all the variance: four components give the
        // data back, three leave out exactly the fourth pair's offsets.
        let full = Pca::fit(&x, 4).unwrap();
        let back = full
            .inverse_transform(&full.transform(&x).unwrap())
            .unwrap();
        for (a, b) in back.as_slice().iter().zip(x.as_slice()) {
            assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
        }
        let back = pca.inverse_transform(&pca.transform(&x).unwrap()).unwrap();
        let residual = sum_sq_diff(&back, &x);
        assert!((residual - 2.0 * 0.25).abs() <= 1e-5, "{residual}");
    }

    fn sum_sq_diff(a: &Matrix, b: &Matrix) -> f64 {
        let d = a.as_slice().iter().zip(b.as_slice());
        d.map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum()
    }

    /// Random correlated data: each component is an eigenvector of the
    /// covariance computed here directly (two passes, no shared code),
    /// the codes are uncorrelated with the variances as their variances,
    /// and the reconstruction error from `k` components is `(n − 1)` times
    /// the sum of the eigenvalues left out.
    #[test]
    fn pca_of_random_data_matches_a_direct_computation() {
        let (n, d, k) = (300, 8, 3);
        let mut r = Rand(5);
        let mix: Vec<f64> = (0..d * d).map(|_| r.next()).collect();
        let mut x = Matrix::zeros(n, d).unwrap();
        for row in 0..n {
            let z: Vec<f64> = (0..d).map(|i| r.next() * (i + 1) as f64).collect();
            for c in 0..d {
                x.row_mut(row)[c] = (dot(&z, &mix[c * d..(c + 1) * d]) + c as f64) as f32;
            }
        }
        let pca = Pca::fit(&x, k).unwrap();
        let xs: Vec<Vec<f64>> = (0..n)
            .map(|i| x.row(i).iter().map(|&v| v as f64).collect())
            .collect();
        let mean: Vec<f64> = (0..d)
            .map(|c| xs.iter().map(|row| row[c]).sum::<f64>() / n as f64)
            .collect();
        let cov: Vec<f64> = (0..d * d)
            .map(|ij| {
                let (i, j) = (ij / d, ij % d);
                let s: f64 = xs.iter().map(|r| (r[i] - mean[i]) * (r[j] - mean[j])).sum();
                s / (n as f64 - 1.0)
            })
            .collect();
        for j in 0..k {
            let w = pca.component(j);
            let cw = mat_vec(&cov, w);
            for (a, b) in cw.iter().zip(w) {
                assert!((a - pca.variances()[j] * b).abs() <= 1e-9 * pca.variances()[0]);
            }
            assert!((dot(w, w) - 1.0).abs() <= 1e-13);
        }
        let codes = pca.transform(&x).unwrap();
        for a in 0..k {
            for b in 0..k {
                let s: f64 = (0..n)
                    .map(|i| codes.row(i)[a] as f64 * codes.row(i)[b] as f64)
                    .sum();
                let want = if a == b { pca.variances()[a] } else { 0.0 };
                let got = s / (n as f64 - 1.0);
                assert!((got - want).abs() <= 1e-5 * pca.variances()[0], "{a},{b}");
            }
        }
        let all = Pca::fit(&x, d).unwrap();
        let dropped: f64 = all.variances()[k..].iter().sum();
        let back = pca.inverse_transform(&codes).unwrap();
        let err = sum_sq_diff(&back, &x);
        let want = (n as f64 - 1.0) * dropped;
        assert!((err - want).abs() <= 1e-4 * want, "{err} vs {want}");
    }

    #[test]
    fn bad_pca_inputs_are_errors() {
        let x = Matrix::filled(5, 3, 1.0).unwrap();
        assert!(Pca::fit(&x, 0).is_err());
        assert!(Pca::fit(&x, 4).is_err());
        assert!(Pca::fit(&Matrix::filled(1, 3, 1.0).unwrap(), 1).is_err());
        let mut bad = x.clone();
        bad.row_mut(2)[1] = f32::NAN;
        let e = Pca::fit(&bad, 1).unwrap_err().to_string();
        assert!(e.contains("sample 3, feature 2"), "{e}");
        let pca = Pca::fit(&x, 2).unwrap();
        assert!(pca.transform(&Matrix::filled(2, 4, 0.0).unwrap()).is_err());
        assert!(
            pca.inverse_transform(&Matrix::filled(2, 3, 0.0).unwrap())
                .is_err()
        );
        // Constant data: no variance, components still orthonormal.
        assert_eq!(pca.variances(), &[0.0, 0.0]);
        assert_eq!(pca.explained_ratio(), vec![0.0, 0.0]);
    }
}
