//! Threads: bit-identical results on any thread count, and a caller's
//! rayon pool is the one used.

use super::*;

#[test]
fn threads_give_bit_identical_results() {
    let mut rng = TestRng::new(4);
    for isa in isas() {
        for &(m, k, n) in &[
            (100, 784, 500),
            (784, 100, 500),
            (333, 257, 129),
            (1000, 64, 1000),
        ] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let run = |par: Par| {
                let mut c = vec![f32::NAN; m * n];
                let av = MatRef::row_major(&a, m, k).unwrap();
                let bv = MatRef::row_major(&b, k, n).unwrap();
                gemm_on(
                    isa,
                    1.0,
                    av,
                    bv,
                    Accum::Replace,
                    MatMut::row_major(&mut c, m, n).unwrap(),
                    &NoEpilogue,
                    par,
                )
                .unwrap();
                c
            };
            let seq = run(Par::Seq);
            for par in [Par::Rayon(2), Par::Rayon(3), Par::Rayon(8)] {
                let got = run(par);
                assert!(
                    seq.iter()
                        .zip(&got)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{isa} {m}x{k}x{n}: {par:?} differs from Seq"
                );
            }
        }
    }
}

#[test]
fn running_inside_a_callers_pool_uses_that_pool() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let mut rng = TestRng::new(5);
    let (m, k, n) = (200, 300, 400);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let mut c = vec![0.0f32; m * n];
    let mut c_seq = vec![0.0f32; m * n];
    let av = MatRef::row_major(&a, m, k).unwrap();
    let bv = MatRef::row_major(&b, k, n).unwrap();
    latent_kernels::sgemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c_seq, m, n).unwrap(),
        Par::Seq,
    )
    .unwrap();
    pool.install(|| {
        assert_eq!(Par::All.max_tasks(), 3);
        latent_kernels::sgemm(
            1.0,
            av,
            bv,
            Accum::Replace,
            MatMut::row_major(&mut c, m, n).unwrap(),
            Par::All,
        )
        .unwrap();
    });
    assert_eq!(c, c_seq);
}
