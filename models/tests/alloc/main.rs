//! No allocation after warm-up: RBM (`rbm`), autoencoder (`ae`) and PSD
//! (`psd`) training steps and inference with a kept scratch. One test
//! binary, whose global allocator counts each thread's allocations.

use latent_testkit::alloc_count::CountingAllocator;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

mod ae;
mod dbm;
mod hidden_pcd;
mod psd;
mod rbm;
