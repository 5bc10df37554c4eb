//! Gibbs sampling of a DBM's chains: given the even layers the odd layers
//! are independent (and vice versa), so a sweep samples every odd layer
//! from its neighbours, then every even layer (the visible layer among
//! them). Every sampler draws from the per-row streams of a [`Streams`]
//! advanced once per layer update, so chain `r` draws the same numbers
//! however the rows are split between threads.

use latent_kernels::Par;
use latent_kernels::gemm::BiasAdd;
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian, sigmoid_bernoulli};

use super::mean_field::{Net, layer_input};
use super::workspace::LayerBufs;
use crate::error::Result;
use crate::rbm::VisibleUnits;

/// `k` sweeps of the first `rows` chains of `states`, with `probs` for the
/// layers' total inputs (left holding the last sweep's probabilities, or
/// the Gaussian means). Returns the streams of the next draw.
#[allow(clippy::too_many_arguments)]
pub(super) fn sweeps(
    net: &Net<'_>,
    visible: VisibleUnits,
    states: &mut LayerBufs,
    probs: &mut LayerBufs,
    rows: usize,
    k: usize,
    streams: Streams,
    par: Par,
) -> Result<Streams> {
    let mut streams = streams;
    for _ in 0..k {
        for parity in [1, 0] {
            for l in (0..=net.depth()).filter(|l| l % 2 == parity) {
                streams = sample_layer(net, visible, l, states, probs, rows, streams, par)?;
            }
        }
    }
    Ok(streams)
}

/// Samples layer `l` of the chains from its neighbours.
#[allow(clippy::too_many_arguments)]
fn sample_layer(
    net: &Net<'_>,
    visible: VisibleUnits,
    l: usize,
    states: &mut LayerBufs,
    probs: &mut LayerBufs,
    rows: usize,
    streams: Streams,
    par: Par,
) -> Result<Streams> {
    let n = net.sizes[l];
    let (below, cur, above) = states.split(l, rows);
    let p = probs.layer_mut(l, rows);
    let epi = BiasAdd::new(net.bias(l));
    layer_input(net, l, rows, below, above, 1.0, p, &epi, par)?;
    if l == 0 && visible == VisibleUnits::Gaussian {
        gaussian(streams, p, Scale::Scalar(1.0), cur, rows, n, par)?;
    } else {
        sigmoid_bernoulli(streams, p, None, cur, rows, n, par)?;
    }
    Ok(streams.next_step())
}

/// Random states for `rows` chains into `states` (every layer): fair
/// coins, or standard normal values for Gaussian visibles; `probs` is the
/// samplers' scratch. Each layer draws from its own step of `streams`.
pub(super) fn random_states(
    sizes: &[usize],
    visible: VisibleUnits,
    states: &mut LayerBufs,
    probs: &mut LayerBufs,
    rows: usize,
    streams: Streams,
    par: Par,
) -> Result<()> {
    for (l, &n) in sizes.iter().enumerate() {
        let s = streams.at_step(l as u64);
        let p = probs.layer_mut(l, rows);
        let out = states.layer_mut(l, rows);
        if l == 0 && visible == VisibleUnits::Gaussian {
            p.fill(0.0);
            gaussian(s, p, Scale::Scalar(1.0), out, rows, n, par)?;
        } else {
            p.fill(0.5);
            bernoulli(s, p, out, rows, n, par)?;
        }
    }
    Ok(())
}
