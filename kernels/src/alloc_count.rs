//! A counting global allocator for tests that prove a hot path allocates
//! nothing (behind the `alloc-count` feature, which the test kit
//! `latent-testkit` enables and re-exports). It lives here so that test
//! binaries can install it without writing `unsafe` themselves:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: latent_testkit::alloc_count::CountingAllocator =
//!     latent_testkit::alloc_count::CountingAllocator;
//! let before = latent_testkit::alloc_count::allocations_on_this_thread();
//! ```
//!
//! Counts are per thread, so tests running in parallel do not disturb each
//! other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting allocations (alloc, alloc_zeroed,
/// realloc) per thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

thread_local! {
    /// Allocations by this thread. Const-initialised and without a
    /// destructor, so touching it inside the allocator never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.with(|c| c.set(c.get() + 1));
}

/// Allocations made so far by the calling thread (meaningful only when
/// [`CountingAllocator`] is the global allocator).
pub fn allocations_on_this_thread() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counter is a thread-local cell and
// does not affect the memory returned.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}
