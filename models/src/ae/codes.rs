//! Semantic hashing (MODELS.md 5): a sigmoid code layer (or any features
//! in `[0, 1]`) thresholded into binary codes packed in `u64` words, their
//! bytes in NumPy's `packbits` order, and retrieval by Hamming distance
//! with the kernels' popcount search ([`latent_kernels::hamming`]).

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::hamming::{HammingIndex, Searcher};

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
    /// `(index, distance)` sorted by distance then index (the kernels'
    /// search over an index of these codes).
    pub fn nearest(&self, query: &[u64], k: usize) -> Result<Vec<(usize, u32)>> {
        check_len("BinaryCodes::nearest: query words", query.len(), self.words)?;
        let mut hits = Vec::new();
        Searcher::new().nearest(&self.index()?, query, k, &mut hits, Par::Seq)?;
        Ok(hits
            .iter()
            .map(|h| (h.index as usize, h.distance))
            .collect())
    }

    /// Words per code (`ceil(bits/64)`).
    pub fn words(&self) -> usize {
        self.words
    }

    /// Every code's words, item after item.
    pub fn as_words(&self) -> &[u64] {
        &self.data
    }

    /// The kernels' search index of these codes.
    pub fn index(&self) -> Result<HammingIndex> {
        Ok(HammingIndex::new(&self.data, self.words)?)
    }

    /// Bytes per code in [`to_packbits`](Self::to_packbits):
    /// `ceil(bits/8)`.
    pub fn packed_bytes(&self) -> usize {
        self.bits.div_ceil(8)
    }

    /// The codes as bytes, `len x ceil(bits/8)` row-major, in NumPy's
    /// `packbits` order (bit `j` of a code is bit `7 - j % 8`, the most
    /// significant first, of byte `j / 8`; the last byte padded with
    /// zeros), so that `np.unpackbits(a, axis=1)[:, :bits]` gives the 0/1
    /// codes back.
    pub fn to_packbits(&self) -> Vec<u8> {
        let nb = self.packed_bytes();
        let mut out = vec![0u8; self.len() * nb];
        for (code, row) in self
            .data
            .chunks_exact(self.words)
            .zip(out.chunks_exact_mut(nb))
        {
            for (b, byte) in row.iter_mut().enumerate() {
                // Bits 8b..8b+8 of the code, feature 8b in the top bit.
                *byte = ((code[b / 8] >> (8 * (b % 8))) as u8).reverse_bits();
            }
        }
        out
    }

    /// Codes of `row_bytes · 8` bits from bytes in `packbits` order (as
    /// [`to_packbits`](Self::to_packbits) writes them), `rows x
    /// row_bytes` row-major.
    pub fn from_packbits(bytes: &[u8], rows: usize, row_bytes: usize) -> Result<Self> {
        if row_bytes == 0 {
            return bad("BinaryCodes: bytes per code", "0".into(), "at least 1");
        }
        check_len(
            "BinaryCodes: packed bytes (rows x bytes per code)",
            bytes.len(),
            rows * row_bytes,
        )?;
        let bits = row_bytes * 8;
        let words = bits.div_ceil(64);
        let mut data = vec![0u64; rows * words];
        for (row, code) in bytes
            .chunks_exact(row_bytes)
            .zip(data.chunks_exact_mut(words))
        {
            for (b, &byte) in row.iter().enumerate() {
                code[b / 8] |= u64::from(byte.reverse_bits()) << (8 * (b % 8));
            }
        }
        Ok(BinaryCodes { bits, words, data })
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

#[cfg(test)]
mod tests {
    use super::BinaryCodes;
    use crate::ae::{AeConfig, Autoencoder};
    use latent_engine::Matrix;
    use latent_kernels::Par;
    use latent_kernels::activation::Activation;

    /// An autoencoder's codes are the same bits on one thread and four.
    #[test]
    fn codes_are_bit_identical_across_thread_counts() {
        let cfg = AeConfig::new(&[120, 96, 64], Activation::Sigmoid).with_init_std(0.3);
        let ae = Autoencoder::new(cfg, 4).unwrap();
        let x = Matrix::from_fn(1500, 120, |r, c| ((r * 31 + c * 7) % 11) as f32 / 10.0).unwrap();
        let one = ae.binary_codes(&x, 0.5, 700, Par::Seq).unwrap();
        let pool = latent_testkit::thread_pool(4);
        let four = pool.install(|| ae.binary_codes(&x, 0.5, 700, Par::Rayon(4)).unwrap());
        assert_eq!(one, four);
        let ones: u32 = one.as_words().iter().map(|w| w.count_ones()).sum();
        assert!(ones > 1000 && ones < 1500 * 64 - 1000, "{ones} bits set");
    }

    /// The byte layout of `np.packbits(bits, axis=1)`: feature 0 in the
    /// top bit of byte 0, the last byte padded with zeros.
    #[test]
    fn packed_bytes_are_in_numpy_packbits_order() {
        let acts = [
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
            [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
        ]
        .concat();
        let codes = BinaryCodes::from_activations(&acts, 2, 10, 0.5).unwrap();
        assert_eq!(codes.packed_bytes(), 2);
        assert_eq!(codes.to_packbits(), vec![0x80, 0xC0, 0x41, 0x40]);
        let back = BinaryCodes::from_packbits(&codes.to_packbits(), 2, 2).unwrap();
        assert_eq!(back.bits(), 16);
        assert_eq!(back.as_words(), codes.as_words());
    }

    /// Wide codes: bytes past the first word, and back.
    #[test]
    fn packed_bytes_round_trip_over_several_words() {
        let acts: Vec<f32> = (0..3 * 136).map(|i| ((i * 7919 % 13) % 2) as f32).collect();
        let codes = BinaryCodes::from_activations(&acts, 3, 136, 0.5).unwrap();
        let bytes = codes.to_packbits();
        assert_eq!(bytes.len(), 3 * 17);
        for (i, row) in acts.chunks_exact(136).enumerate() {
            for (j, &a) in row.iter().enumerate() {
                let bit = (bytes[i * 17 + j / 8] >> (7 - j % 8)) & 1;
                assert_eq!(bit as f32, a, "row {i} feature {j}");
            }
        }
        let back = BinaryCodes::from_packbits(&bytes, 3, 17).unwrap();
        assert_eq!(back.as_words(), codes.as_words());
        assert!(BinaryCodes::from_packbits(&bytes, 3, 16).is_err());
        assert!(BinaryCodes::from_packbits(&[], 0, 0).is_err());
    }
}
