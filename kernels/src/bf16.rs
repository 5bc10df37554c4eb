//! bfloat16 (bf16): the upper half of an f32 (sign, 8 exponent bits, 7
//! mantissa bits), held as its raw `u16` bits.
//!
//! [`f32_to_bf16`] rounds to nearest, ties to even; infinities stay
//! infinite, finite values too large for bf16 round to infinity as in IEEE
//! arithmetic, NaN stays NaN (made quiet, with its sign and the top of its
//! payload kept), and subnormal inputs round like any other value (no flush
//! to zero). [`bf16_to_f32`] is exact.

use crate::KernelError;

/// The bf16 nearest to `x` (ties to even), as raw bits; NaN gives a quiet
/// NaN with the same sign.
#[inline(always)]
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    // Adding 0x7fff (plus 1 when the kept part is odd) carries into the
    // upper half exactly when the dropped half is above (or at, for an odd
    // kept part) the midpoint; a carry out of the mantissa raises the
    // exponent, which is the correctly rounded result (up to infinity).
    let lsb = (bits >> 16) & 1;
    ((bits + 0x7fff + lsb) >> 16) as u16
}

/// The f32 with the value of the bf16 `h` (exact).
#[inline(always)]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `dst[i] = f32_to_bf16(src[i])`; errors if the lengths differ.
pub fn round_to_bf16(src: &[f32], dst: &mut [u16]) -> Result<(), KernelError> {
    if src.len() != dst.len() {
        return Err(KernelError::LengthMismatch {
            what: "round_to_bf16: dst (one bf16 per f32 of src)",
            expected: src.len(),
            found: dst.len(),
        });
    }
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32_to_bf16(s);
    }
    Ok(())
}

/// `dst[i] = bf16_to_f32(src[i])`; errors if the lengths differ.
pub fn widen_bf16(src: &[u16], dst: &mut [f32]) -> Result<(), KernelError> {
    if src.len() != dst.len() {
        return Err(KernelError::LengthMismatch {
            what: "widen_bf16: dst (one f32 per bf16 of src)",
            expected: src.len(),
            found: dst.len(),
        });
    }
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = bf16_to_f32(s);
    }
    Ok(())
}

/// Two bf16 values `lo` (an even k) and `hi` (the next k) in one 32-bit
/// word, `lo` in the low half: the pairing `vdpbf16ps` and AMX tiles read.
#[inline(always)]
pub(crate) fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(f32_to_bf16(lo)) | (u32::from(f32_to_bf16(hi)) << 16)
}
