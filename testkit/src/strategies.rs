//! Proptest strategies that more than one test draws from.

use latent_kernels::Activation;
use proptest::prelude::*;
use std::ops::{Range, RangeInclusive};

/// An index into [`Activation::ALL`].
pub fn activation_index() -> Range<usize> {
    0..Activation::ALL.len()
}

/// The layer sizes of a network: `depth + 1` sizes (input, hidden…) with
/// `depth` drawn from `depths` and each size from `widths`.
pub fn layer_sizes(
    depths: RangeInclusive<usize>,
    widths: Range<usize>,
) -> impl Strategy<Value = Vec<usize>> {
    depths.prop_flat_map(move |depth| proptest::collection::vec(widths.clone(), depth + 1))
}
