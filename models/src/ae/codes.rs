//! Semantic hashing (MODELS.md 5): a sigmoid code layer thresholded into
//! binary codes packed in `u64` words, and retrieval by Hamming distance.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::Activation;

use super::dense::{AeScratch, Autoencoder};
use super::util::{bad, check_len};
use crate::error::Result;

/// Binary codes of `len` items, `bits` bits each, packed little-endian into
/// `words = ceil(bits/64)` `u64`s per item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryCodes {
    bits: usize,
    words: usize,
    data: Vec<u64>,
}

impl BinaryCodes {
    /// Codes `[code_ij > threshold]` of a row-major `rows x bits` matrix of
    /// code activations.
    pub fn from_activations(
        codes: &[f32],
        rows: usize,
        bits: usize,
        threshold: f32,
    ) -> Result<Self> {
        check_len("BinaryCodes: codes (rows x bits)", codes.len(), rows * bits)?;
        if bits == 0 {
            return bad("BinaryCodes: bits", "0".into(), "at least 1");
        }
        let words = bits.div_ceil(64);
        let mut data = vec![0u64; rows * words];
        for (i, row) in codes.chunks_exact(bits).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if v > threshold {
                    data[i * words + j / 64] |= 1u64 << (j % 64);
                }
            }
        }
        Ok(BinaryCodes { bits, words, data })
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.data.len() / self.words
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bits per code.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The packed code of item `i` (`None` past the end).
    pub fn code(&self, i: usize) -> Option<&[u64]> {
        self.data.get(i * self.words..(i + 1) * self.words)
    }

    /// The Hamming distance between a packed `query` (as from
    /// [`code`](Self::code)) and item `i`.
    pub fn distance(&self, query: &[u64], i: usize) -> Result<u32> {
        check_len(
            "BinaryCodes::distance: query words",
            query.len(),
            self.words,
        )?;
        let c = self.code(i).ok_or_else(|| crate::ModelError::Shape {
            what: "BinaryCodes::distance: item index".into(),
            expected: self.len(),
            found: i,
        })?;
        Ok(query.iter().zip(c).map(|(a, b)| (a ^ b).count_ones()).sum())
    }

    /// The `k` items nearest to `query` by Hamming distance, as
    /// `(index, distance)` sorted by distance then index.
    pub fn nearest(&self, query: &[u64], k: usize) -> Result<Vec<(usize, u32)>> {
        check_len("BinaryCodes::nearest: query words", query.len(), self.words)?;
        let mut all: Vec<(usize, u32)> = self
            .data
            .chunks_exact(self.words)
            .enumerate()
            .map(|(i, c)| {
                (
                    i,
                    query.iter().zip(c).map(|(a, b)| (a ^ b).count_ones()).sum(),
                )
            })
            .collect();
        all.sort_by_key(|&(i, d)| (d, i));
        all.truncate(k);
        Ok(all)
    }
}

impl Autoencoder {
    /// Binary codes of the rows of `x`: the code layer (which must be a
    /// sigmoid) thresholded at `threshold`, encoded in batches of at most
    /// `batch` rows.
    pub fn binary_codes(
        &self,
        x: &Matrix,
        threshold: f32,
        batch: usize,
        par: Par,
    ) -> Result<BinaryCodes> {
        let l = self.config().depth();
        if self.config().activations[l - 1] != Activation::Sigmoid {
            return bad(
                "binary_codes: code activation",
                self.config().activations[l - 1].name().to_string(),
                "a sigmoid code layer",
            );
        }
        if batch == 0 {
            return bad("binary_codes: batch", "0".into(), "at least 1");
        }
        let h = self.code_size();
        let mut codes = Matrix::zeros(x.rows(), h)?;
        let mut scratch = AeScratch::new();
        let mut start = 0;
        while start < x.rows() {
            let n = batch.min(x.rows() - start);
            let (rows, out) = (x.rows_view(start, n)?, codes.rows_view_mut(start, n)?);
            self.encode_with(rows, out, &mut scratch, par)?;
            start += n;
        }
        BinaryCodes::from_activations(codes.as_slice(), x.rows(), h, threshold)
    }
}
