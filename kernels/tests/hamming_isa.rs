//! The Hamming kernels are reached on each instruction set and capped by
//! it: the record of kernels that ran (`dispatch::take_ran`) shows the
//! kernel asked for and nothing above it, and a capped dispatch context
//! picks no Hamming kernel above its cap. One test: the record is
//! process-wide.

use latent_kernels::dispatch::{Family, take_ran};
use latent_kernels::hamming::{HammingIndex, HammingIsa, Searcher, distances_on};
use latent_kernels::{Dispatch, Isa, Par};

#[test]
fn each_hamming_kernel_runs_on_its_own_instruction_set() {
    let codes: Vec<u64> = (0..37u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let index = HammingIndex::new(&codes, 1).unwrap();
    let mut out = vec![0; 37];
    for isa in HammingIsa::ALL {
        if !isa.is_available() {
            eprintln!("SKIP: {isa} not supported by this CPU; its record is not checked");
            continue;
        }
        take_ran();
        distances_on(isa, &index, &[5], &mut out, Par::Seq).unwrap();
        Searcher::on(isa)
            .unwrap()
            .nearest(&index, &[5], 3, &mut Vec::new(), Par::Seq)
            .unwrap();
        let ran = take_ran();
        assert!(
            ran.contains(Family::Hamming, isa.base()),
            "{isa} did not run"
        );
        for other in Isa::ALL.into_iter().filter(|&o| o != isa.base()) {
            assert!(
                !ran.contains(Family::Hamming, other),
                "{other} ran for {isa}"
            );
        }
    }
    for cap in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let h = Dispatch::new(cap).unwrap().hamming_isa();
        assert!(h.base() <= cap && h.is_available(), "{h} under {cap}");
    }
    assert_eq!(HammingIsa::best_under(Isa::Portable), HammingIsa::Portable);
    assert!(HammingIsa::selected().base() <= Dispatch::global().isa());
}
