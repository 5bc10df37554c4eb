//! The DBM's hyper-parameters: [`DbmConfig`] with its checks and its
//! one-line text form (the first hyper-parameter line of model files), and
//! the parser of that line.

use crate::error::{ModelError, Result};
use crate::persist::text::MAX_CD_K;
use crate::rbm::VisibleUnits;

/// The most mean-field updates per posterior a configuration may ask for:
/// more is a damaged file or a typo.
pub const MAX_MF_ITERS: usize = 10_000;

/// Hyper-parameters of a deep Boltzmann machine and its training.
#[derive(Debug, Clone, PartialEq)]
pub struct DbmConfig {
    /// Layer sizes `[n0, n1, …, nL]`, visible first, `L ≥ 2`.
    pub sizes: Vec<usize>,
    /// The visible units' kind (Gaussian: unit variance, standardised data).
    pub visible: VisibleUnits,
    /// The most mean-field updates (sweeps over the odd then the even
    /// layers) per posterior, at least 1.
    pub mf_iters: usize,
    /// Mean-field stops once no posterior changed by more than this in a
    /// sweep (the largest absolute change); 0 runs all `mf_iters`.
    pub mf_tol: f32,
    /// Persistent chains of the negative phase: `None` keeps one per
    /// minibatch row (a partial batch moves its first rows' chains).
    pub chains: Option<usize>,
    /// Alternating odd/even Gibbs sweeps of the chains per update, ≥ 1.
    pub cd_k: usize,
    /// Standard deviation of the initial weights.
    pub init_std: f32,
}

impl DbmConfig {
    /// A Bernoulli DBM of `sizes` with the defaults: at most 10 mean-field
    /// updates to a tolerance of 1e-4, one chain per batch row, one Gibbs
    /// sweep per update, initial weights of standard deviation 0.01.
    pub fn bernoulli(sizes: &[usize]) -> Self {
        DbmConfig {
            sizes: sizes.to_vec(),
            visible: VisibleUnits::Bernoulli,
            mf_iters: 10,
            mf_tol: 1e-4,
            chains: None,
            cd_k: 1,
            init_std: 0.01,
        }
    }

    /// [`bernoulli`](Self::bernoulli) with unit-variance Gaussian visibles.
    pub fn gaussian(sizes: &[usize]) -> Self {
        DbmConfig {
            visible: VisibleUnits::Gaussian,
            ..Self::bernoulli(sizes)
        }
    }

    /// The mean-field options (`mf_iters`, `mf_tol`).
    pub fn mean_field_options(&self) -> super::MeanFieldOptions {
        super::MeanFieldOptions {
            max_iters: self.mf_iters,
            tol: self.mf_tol,
        }
    }

    /// The number of hidden layers `L`.
    pub fn depth(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, expected| {
            Err(ModelError::InvalidConfig {
                what,
                value,
                expected,
            })
        };
        if self.sizes.len() < 3 || self.sizes.contains(&0) {
            return bad(
                "sizes",
                sizes_text(&self.sizes),
                "at least three positive sizes (visible and two or more hidden layers)",
            );
        }
        if self.mf_iters == 0 || self.mf_iters > MAX_MF_ITERS {
            return bad(
                "mf_iters",
                self.mf_iters.to_string(),
                "a number of mean-field updates from 1 to 10000",
            );
        }
        if !(self.mf_tol.is_finite() && self.mf_tol >= 0.0) {
            return bad("mf_tol", self.mf_tol.to_string(), "a finite value >= 0");
        }
        if self.chains == Some(0) {
            return bad("chains", "0".into(), "at least 1 chain (or batch)");
        }
        if self.cd_k == 0 || self.cd_k > MAX_CD_K {
            return bad(
                "cd_k",
                self.cd_k.to_string(),
                "a number of Gibbs sweeps from 1 to 1000",
            );
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return bad("init_std", self.init_std.to_string(), "a finite value >= 0");
        }
        Ok(())
    }

    /// The configuration as one line of `key=value` words, as model files
    /// store it: `visible=bernoulli sizes=784,500,1000 mf_iters=10
    /// mf_tol=0.0001 chains=batch cd_k=1 init_std=0.01` (read back by
    /// [`from_text`](Self::from_text)).
    pub fn to_text(&self) -> String {
        let chains = match self.chains {
            Some(n) => n.to_string(),
            None => "batch".into(),
        };
        format!(
            "visible={} sizes={} mf_iters={} mf_tol={} chains={chains} cd_k={} init_std={}",
            self.visible.name(),
            sizes_text(&self.sizes),
            self.mf_iters,
            self.mf_tol,
            self.cd_k,
            self.init_std
        )
    }

    /// Reads a line written by [`to_text`](Self::to_text). Every key must be
    /// known and every value parse; `sizes` is required, the other keys
    /// take their defaults when absent. The result is validated.
    pub fn from_text(line: &str) -> Result<Self> {
        let mut c = DbmConfig::bernoulli(&[]);
        let mut sizes = None;
        for word in line.split_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| invalid("a word of the dbm line", word, "key=value"))?;
            match key {
                "visible" => {
                    c.visible = match value {
                        "bernoulli" => VisibleUnits::Bernoulli,
                        "gaussian" => VisibleUnits::Gaussian,
                        _ => return Err(invalid("visible", value, "bernoulli or gaussian")),
                    }
                }
                "sizes" => {
                    let s = crate::ae::parse_sizes(value)
                        .map_err(|_| invalid("sizes", value, "sizes separated by commas"))?;
                    sizes = Some(s);
                }
                "mf_iters" => c.mf_iters = number(key, value, "a count")?,
                "mf_tol" => c.mf_tol = number(key, value, "a number")?,
                "chains" => {
                    c.chains = match value {
                        "batch" => None,
                        n => Some(number(key, n, "a count or batch")?),
                    }
                }
                "cd_k" => c.cd_k = number(key, value, "a count")?,
                "init_std" => c.init_std = number(key, value, "a number")?,
                _ => {
                    return Err(invalid(
                        "a key of the dbm line",
                        key,
                        "visible, sizes, mf_iters, mf_tol, chains, cd_k or init_std",
                    ));
                }
            }
        }
        c.sizes = sizes.ok_or_else(|| invalid("sizes", "(missing)", "sizes=V,H1,H2,…"))?;
        c.validate()?;
        Ok(c)
    }
}

/// `784,500,1000`.
fn sizes_text(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ModelError {
    ModelError::InvalidConfig {
        what,
        value: value.to_string(),
        expected,
    }
}

/// `value` of `key` parsed as a `T`.
fn number<T: std::str::FromStr>(key: &str, value: &str, expected: &'static str) -> Result<T> {
    let what = match key {
        "mf_iters" => "mf_iters",
        "mf_tol" => "mf_tol",
        "chains" => "chains",
        "cd_k" => "cd_k",
        _ => "init_std",
    };
    value.parse().map_err(|_| invalid(what, value, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_reads_back() {
        let mut c = DbmConfig::gaussian(&[6, 5, 4, 3]);
        c.chains = Some(17);
        c.mf_tol = 0.0;
        c.cd_k = 5;
        assert_eq!(DbmConfig::from_text(&c.to_text()).unwrap(), c);
        let d = DbmConfig::bernoulli(&[784, 500, 1000]);
        assert_eq!(
            d.to_text(),
            "visible=bernoulli sizes=784,500,1000 mf_iters=10 mf_tol=0.0001 chains=batch cd_k=1 init_std=0.01"
        );
        assert_eq!(DbmConfig::from_text(&d.to_text()).unwrap(), d);
    }

    #[test]
    fn bad_lines_and_fields_name_the_key() {
        for (line, key) in [
            ("sizes=5,4", "sizes"),
            ("sizes=5,0,3", "sizes"),
            ("sizes=5,4,3 mf_iters=0", "mf_iters"),
            ("sizes=5,4,3 mf_tol=-1", "mf_tol"),
            ("sizes=5,4,3 chains=0", "chains"),
            ("sizes=5,4,3 cd_k=1001", "cd_k"),
            ("sizes=5,4,3 init_std=x", "init_std"),
            ("sizes=5,4,3 visible=poisson", "visible"),
            ("sizes=5,4,3 colour=red", "colour"),
            ("mf_iters=3", "sizes"),
        ] {
            let e = DbmConfig::from_text(line).unwrap_err().to_string();
            assert!(e.contains(key), "{line}: {e}");
        }
    }
}
