//! Under `mpirun -np N` (a build with `--features mpi`): the MPI ranks'
//! ring sums ([`latent::mpi::MpiReducer`]) against N ranks as threads of
//! this process ([`LocalReducer`]) on the same values, bit for bit, f32
//! (weighted, as a gradient), f64, and packed (f32 values carried as f64,
//! then f64), for lengths from 0 to more than the ranks. Values of magnitudes 1e-4 to 1e4, so that another order of the
//! additions gives other bits (checked: the sums in plain rank order
//! differ). Prints one `ok:` line per rank; exits 1 on a difference.
//!
//! `cargo build --profile ci --features mpi --example ring_sum_check`

use latent::engine::train::{GradientReducer, LocalReducer, SumOf};
use latent::mpi::MpiRanks;

/// Rank `rank`'s `len` values: a hash of (rank, index) as ±[0, 1000]
/// times a power of ten from 1e-4 to 1e4.
fn values(rank: usize, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let mut h = (rank as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64;
            h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 29;
            let mantissa = (h % 2001) as f32 - 1000.0;
            mantissa * 10f32.powi((h >> 20) as i32 % 9 - 4)
        })
        .collect()
}

/// Rank `rank`'s weight, as a share of a batch's rows.
fn weight(rank: usize, ranks: usize) -> f32 {
    (rank + 1) as f32 / (ranks * (ranks + 1) / 2) as f32
}

/// Rank `rank`'s packed values: its f32 values as f64, weighted, then the
/// f64 ones; and where the f64 ones start.
fn packed(rank: usize, ranks: usize, len: usize) -> (Vec<f64>, usize) {
    let v = values(rank, len);
    let w = weight(rank, ranks);
    let mut p: Vec<f64> = v.iter().map(|&x| f64::from(x * w)).collect();
    p.extend(v.iter().map(|&x| f64::from(x) * 1e-3));
    (p, len)
}

/// The f32, f64 and packed sums of every rank's values, ranks as threads
/// (rank 0's result; each rank's is checked to be the same).
fn local_sums(ranks: usize, len: usize) -> (Vec<f32>, Vec<f64>, Vec<f64>) {
    let group = LocalReducer::group(ranks).expect("ranks > 0");
    let all: Vec<(Vec<f32>, Vec<f64>, Vec<f64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (group.into_iter())
            .map(|mut r| {
                s.spawn(move || {
                    let k = r.rank();
                    let mut v = values(k, len);
                    let mut w: Vec<f64> = v.iter().map(|&x| f64::from(x) * 1e-3).collect();
                    r.sum_weighted(&mut v, weight(k, ranks), SumOf::VALUES)
                        .unwrap();
                    r.sum_f64(&mut w, SumOf::VALUES).unwrap();
                    let (mut p, f32_len) = packed(k, ranks, len);
                    r.sum_packed(&mut p, f32_len, SumOf::VALUES).unwrap();
                    (v, w, p)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(all.iter().all(|a| bits(&a.0) == bits(&all[0].0)));
    all.into_iter().next().expect("one rank at least")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn main() {
    let mpi = MpiRanks::init(latent::mpi::DEFAULT_TIMEOUT).expect("MPI");
    let (rank, ranks) = (mpi.rank(), mpi.ranks());
    let mut reducer = mpi.reducer();
    let lens = [0, 1, 2, ranks + 1, 1001, 40_000];
    let mut rank_order_differs = false;
    for len in lens {
        let mut v = values(rank, len);
        let mut w: Vec<f64> = v.iter().map(|&x| f64::from(x) * 1e-3).collect();
        reducer
            .sum_weighted(&mut v, weight(rank, ranks), SumOf::VALUES)
            .unwrap();
        reducer.sum_f64(&mut w, SumOf::VALUES).unwrap();
        let (mut p, f32_len) = packed(rank, ranks, len);
        reducer.sum_packed(&mut p, f32_len, SumOf::VALUES).unwrap();
        let (lv, lw, lp) = local_sums(ranks, len);
        let differ =
            |a: &[f64], b: &[f64]| a.iter().zip(b).any(|(x, y)| x.to_bits() != y.to_bits());
        // The packed f32 values are the f32 sums' bits.
        let unpacked: Vec<f32> = p[..len].iter().map(|&x| x as f32).collect();
        if bits(&v) != bits(&lv)
            || differ(&w, &lw)
            || differ(&p, &lp)
            || (ranks == 2 && bits(&unpacked) != bits(&v))
        {
            eprintln!(
                "rank {rank} of {ranks}: the ring sums of {len} values differ from LocalReducer's"
            );
            mpi.abort(1);
        }
        let all: Vec<Vec<f32>> = (0..ranks).map(|k| values(k, len)).collect();
        let in_rank_order: Vec<f32> = (0..len)
            .map(|i| {
                let first = all[0][i] * weight(0, ranks);
                (1..ranks).fold(first, |t, k| t + all[k][i] * weight(k, ranks))
            })
            .collect();
        rank_order_differs |= bits(&in_rank_order) != bits(&v);
    }
    if ranks > 2 && !rank_order_differs {
        eprintln!(
            "rank {rank} of {ranks}: the sums in rank order are the ring's: the check cannot fail"
        );
        mpi.abort(1);
    }
    println!(
        "ok: rank {rank} of {ranks}: ring sums bit-identical to LocalReducer's (lengths {lens:?})"
    );
}
