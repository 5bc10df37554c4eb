//! Microbenchmarks of the CPU's fused multiply-add peak (f32) and bf16
//! dot-product peak (`vdpbf16ps`), the yardsticks against which benchmark
//! reports state a "fraction of peak".

use crate::{Bf16Isa, Isa};
use std::time::Instant;

/// Measures single-thread FMA throughput on `isa` in GFLOP/s (2 flops per
/// lane per FMA), running for about `millis` milliseconds; `None` if the CPU
/// lacks `isa`. The loop keeps 24 independent accumulator chains, enough to
/// hide FMA latency on every current x86 core.
pub fn fma_peak_gflops(isa: Isa, millis: u64) -> Option<f64> {
    if !isa.is_available() {
        return None;
    }
    Some(best_gflops(millis, |iters| fma_loop(isa, iters)))
}

/// Measures single-thread bf16 dot-product throughput on `isa` in GFLOP/s
/// (4 flops per f32 lane per `vdpbf16ps`: two products, two sums), for
/// about `millis` milliseconds, with 24 independent accumulator chains;
/// `None` if the CPU lacks `isa` or `isa` has no bf16 instruction (the
/// portable kernel's peak is the f32 one's).
pub fn bf16_peak_gflops(isa: Bf16Isa, millis: u64) -> Option<f64> {
    if !isa.is_available() {
        return None;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Bf16Isa::Avx512Bf16 => Some(best_gflops(millis, |iters| {
            // SAFETY: checked above that the CPU has AVX512-BF16.
            let sink = unsafe { x86::dpbf16_loop_avx512(iters) };
            (iters as f64 * 24.0 * 16.0 * 4.0, sink)
        })),
        _ => None,
    }
}

/// The best GFLOP/s of five repetitions of `kernel(iters)` (which returns
/// its flop count and a value to keep), `iters` calibrated so that the
/// five take about `millis` milliseconds.
fn best_gflops(millis: u64, kernel: impl Fn(u64) -> (f64, f32)) -> f64 {
    let run = |iters: u64| -> (f64, f64) {
        let start = Instant::now();
        let (flops, sink) = kernel(iters);
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(sink);
        (flops, secs)
    };
    // Calibrate, then measure the best of a few repetitions.
    let mut iters = 1u64 << 16;
    loop {
        let (_, secs) = run(iters);
        if secs > 0.01 || iters > 1 << 34 {
            let per_rep = (millis as f64 / 1000.0 / 5.0).max(0.005);
            iters = ((iters as f64) * per_rep / secs.max(1e-9)).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let mut best = 0.0f64;
    for _ in 0..5 {
        let (flops, secs) = run(iters);
        best = best.max(flops / secs / 1e9);
    }
    best
}

fn fma_loop(isa: Isa, iters: u64) -> (f64, f32) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `fma_peak_gflops` checked that the CPU has AVX-512F.
            let sink = unsafe { x86::fma_loop_avx512(iters) };
            (iters as f64 * 24.0 * 16.0 * 2.0, sink)
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            // SAFETY: `fma_peak_gflops` checked that the CPU has AVX2 and FMA.
            let sink = unsafe { x86::fma_loop_avx2(iters) };
            (iters as f64 * 12.0 * 8.0 * 2.0, sink)
        }
        _ => {
            let mut acc = [[1.0f32; 4]; 8];
            let x = std::hint::black_box([0.999_999f32; 4]);
            let y = std::hint::black_box([1e-7f32; 4]);
            for _ in 0..iters {
                for row in acc.iter_mut() {
                    for l in 0..4 {
                        row[l] = row[l].mul_add(x[l], y[l]);
                    }
                }
            }
            (iters as f64 * 8.0 * 4.0 * 2.0, acc.iter().flatten().sum())
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn fma_loop_avx512(iters: u64) -> f32 {
        let x = _mm512_set1_ps(std::hint::black_box(0.999_999));
        let y = _mm512_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 24];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        let mut s = _mm512_setzero_ps();
        for a in acc {
            s = _mm512_add_ps(s, a);
        }
        _mm512_reduce_add_ps(s)
    }

    /// 24 chains of `vdpbf16ps` on registers: every lane adds two products
    /// of bf16 (0.999 and 1e-3 pairs, so the sums stay finite).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) fn dpbf16_loop_avx512(iters: u64) -> f32 {
        // 0x3f7f: 0.996 in bf16, 0x3a83: about 1e-3; two per 32-bit word.
        let x = _mm512_set1_epi32(std::hint::black_box(0x3f7f_3f7f));
        let y = _mm512_set1_epi32(std::hint::black_box(0x3a83_3a83));
        // SAFETY: both are 64-byte plain vectors; every bit pattern is a
        // valid `__m512bh`.
        let (x, y) = unsafe {
            (
                std::mem::transmute::<__m512i, __m512bh>(x),
                std::mem::transmute::<__m512i, __m512bh>(y),
            )
        };
        let mut acc = [_mm512_set1_ps(1.0); 24];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_dpbf16_ps(*a, x, y);
            }
        }
        let mut s = _mm512_setzero_ps();
        for a in acc {
            s = _mm512_add_ps(s, a);
        }
        _mm512_reduce_add_ps(s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn fma_loop_avx2(iters: u64) -> f32 {
        let x = _mm256_set1_ps(std::hint::black_box(0.999_999));
        let y = _mm256_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); 12];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let mut s = _mm256_setzero_ps();
        for a in acc {
            s = _mm256_add_ps(s, a);
        }
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds 8 floats, the width of one ymm store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }
}
