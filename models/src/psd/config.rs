//! The configuration of a PSD model ([`PsdConfig`]) and its one-line text
//! form, the first line of a `psd` model file.

use std::fmt;

use crate::error::{ModelError, Result};

/// The fast encoder `F(x)` that predicts the sparse codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncoderKind {
    /// `F(x) = g ⊙ tanh(xW + b)` (Kavukcuoglu, Ranzato & LeCun 2008), with
    /// a learned gain `g_j` per code unit.
    Tanh,
    /// Learned shrinkage `F(x) = sign(a)·max(|a| − θ, 0)`, `a = xW + b`,
    /// with a learned threshold `θ_j ≥ 0` per code unit.
    Shrink,
}

impl EncoderKind {
    /// The name in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::Tanh => "tanh",
            EncoderKind::Shrink => "shrink",
        }
    }

    /// The encoder named `name`.
    pub fn from_name(name: &str) -> Option<EncoderKind> {
        match name {
            "tanh" => Some(EncoderKind::Tanh),
            "shrink" => Some(EncoderKind::Shrink),
            _ => None,
        }
    }

    /// The name of the encoder's per-unit tensor: the gains `g` or the
    /// thresholds `theta`.
    pub fn unit_tensor(self) -> &'static str {
        match self {
            EncoderKind::Tanh => "g",
            EncoderKind::Shrink => "theta",
        }
    }
}

impl fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A PSD model's shape and objective: `V` inputs, `K` codes, the L1
/// weight `λ`, the prediction weight `α`, the encoder, and how FISTA runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PsdConfig {
    /// Inputs `V`.
    pub n_visible: usize,
    /// Code units (dictionary atoms) `K`.
    pub codes: usize,
    /// `λ > 0`, the weight of `‖z‖₁`.
    pub lambda: f32,
    /// `α ≥ 0`, the weight of the prediction term `‖z − F(x)‖²` (0: plain
    /// sparse coding; the encoder then gets no gradient).
    pub alpha: f32,
    /// The fast encoder.
    pub encoder: EncoderKind,
    /// FISTA iterations at most.
    pub fista_iters: usize,
    /// FISTA stops early when `‖Z_k − Z_{k−1}‖_F ≤ tol·‖Z_k‖_F` over the
    /// block of rows solved together (0: always `fista_iters`).
    pub fista_tol: f32,
}

impl PsdConfig {
    /// Default `λ`.
    pub const DEFAULT_LAMBDA: f32 = 0.5;
    /// Default `α`.
    pub const DEFAULT_ALPHA: f32 = 1.0;
    /// Default FISTA iterations.
    pub const DEFAULT_FISTA_ITERS: usize = 100;
    /// Default FISTA tolerance.
    pub const DEFAULT_FISTA_TOL: f32 = 1e-4;

    /// `V` inputs and `K` codes with the defaults: `λ` 0.5, `α` 1, the tanh
    /// encoder, 100 FISTA iterations, tolerance 1e-4.
    pub fn new(n_visible: usize, codes: usize) -> Self {
        PsdConfig {
            n_visible,
            codes,
            lambda: Self::DEFAULT_LAMBDA,
            alpha: Self::DEFAULT_ALPHA,
            encoder: EncoderKind::Tanh,
            fista_iters: Self::DEFAULT_FISTA_ITERS,
            fista_tol: Self::DEFAULT_FISTA_TOL,
        }
    }

    /// Checks every value is in its domain.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, expected| {
            Err(ModelError::InvalidConfig {
                what,
                value,
                expected,
            })
        };
        if self.n_visible == 0 {
            return bad("n_visible", "0".into(), "at least 1 input");
        }
        if self.codes == 0 {
            return bad("codes", "0".into(), "at least 1 code unit");
        }
        if !(self.lambda > 0.0 && self.lambda.is_finite()) {
            return bad("lambda", self.lambda.to_string(), "a finite number > 0");
        }
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return bad("alpha", self.alpha.to_string(), "a finite number >= 0");
        }
        if self.fista_iters == 0 {
            return bad("fista_iters", "0".into(), "at least 1 iteration");
        }
        if !(self.fista_tol >= 0.0 && self.fista_tol.is_finite()) {
            return bad(
                "fista_tol",
                self.fista_tol.to_string(),
                "a finite number >= 0",
            );
        }
        Ok(())
    }

    /// The configuration line: `n_visible=784 codes=256 lambda=0.5 alpha=1
    /// encoder=tanh fista_iters=100 fista_tol=0.0001`.
    pub fn to_text(&self) -> String {
        format!(
            "n_visible={} codes={} lambda={} alpha={} encoder={} fista_iters={} fista_tol={}",
            self.n_visible,
            self.codes,
            self.lambda,
            self.alpha,
            self.encoder,
            self.fista_iters,
            self.fista_tol
        )
    }

    /// Parses [`to_text`](Self::to_text)'s line (every key required, none
    /// unknown) and validates it.
    pub fn from_text(line: &str) -> Result<Self> {
        let mut c = PsdConfig::new(0, 0);
        let mut seen = [false; 7];
        for word in line.split_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| invalid("a word of the psd line", word, "key=value"))?;
            let slot = match key {
                "n_visible" => {
                    c.n_visible = number("n_visible", value, "a count")?;
                    0
                }
                "codes" => {
                    c.codes = number("codes", value, "a count")?;
                    1
                }
                "lambda" => {
                    c.lambda = number("lambda", value, "a number")?;
                    2
                }
                "alpha" => {
                    c.alpha = number("alpha", value, "a number")?;
                    3
                }
                "encoder" => {
                    c.encoder = EncoderKind::from_name(value)
                        .ok_or_else(|| invalid("encoder", value, "tanh or shrink"))?;
                    4
                }
                "fista_iters" => {
                    c.fista_iters = number("fista_iters", value, "a count")?;
                    5
                }
                "fista_tol" => {
                    c.fista_tol = number("fista_tol", value, "a number")?;
                    6
                }
                _ => {
                    return Err(invalid(
                        "a key of the psd line",
                        key,
                        "n_visible, codes, lambda, alpha, encoder, fista_iters or fista_tol",
                    ));
                }
            };
            seen[slot] = true;
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            const KEYS: [&str; 7] = [
                "n_visible",
                "codes",
                "lambda",
                "alpha",
                "encoder",
                "fista_iters",
                "fista_tol",
            ];
            return Err(invalid(
                "a key of the psd line",
                &format!("{} (missing)", KEYS[missing]),
                "every one of n_visible, codes, lambda, alpha, encoder, fista_iters, fista_tol",
            ));
        }
        c.validate()?;
        Ok(c)
    }
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ModelError {
    ModelError::InvalidConfig {
        what,
        value: value.to_string(),
        expected,
    }
}

fn number<T: std::str::FromStr>(
    what: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T> {
    value.parse().map_err(|_| invalid(what, value, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_round_trips_and_is_strict() {
        let mut c = PsdConfig::new(784, 256);
        c.lambda = 0.25;
        c.encoder = EncoderKind::Shrink;
        c.fista_tol = 0.0;
        assert_eq!(PsdConfig::from_text(&c.to_text()).unwrap(), c);
        assert_eq!(
            PsdConfig::new(4, 3).to_text(),
            "n_visible=4 codes=3 lambda=0.5 alpha=1 encoder=tanh fista_iters=100 fista_tol=0.0001"
        );
        let line = c.to_text();
        for bad in [
            line.replace("lambda=0.25", "lambda=0"),
            line.replace("lambda=0.25", "lambda=x"),
            line.replace("alpha=1", "alpha=-1"),
            line.replace("encoder=shrink", "encoder=relu"),
            line.replace("codes=256", "codes=0"),
            line.replace("fista_iters=100", "fista_iters=0"),
            line.replace(" fista_tol=0", ""),
            format!("{line} extra=1"),
        ] {
            assert!(PsdConfig::from_text(&bad).is_err(), "{bad}");
        }
    }
}
