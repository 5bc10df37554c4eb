//! The hyper-parameter text of model files: `name: …` lines of `key=value`
//! words, read strictly (an unknown key or a value that does not parse is an
//! error naming the key and the file).

use std::path::Path;

use latent_kernels::Precision;

use crate::error::{ModelError, Result};
use crate::rbm::{HiddenUnits, RbmConfig, Sparsity, VisibleUnits};

/// The precision a `train:` line's `precision=` stores: f32 when the line
/// or the key is absent (every file written before there was a choice, and
/// every f32 file), else `f32` or `bf16`; another value is an error naming
/// `what`.
pub fn train_precision(train_line: Option<&str>, what: &str) -> Result<Precision> {
    match train_line.and_then(|l| hyper_value(l, "precision")) {
        None => Ok(Precision::F32),
        Some(text) => text
            .parse()
            .map_err(|_| ModelError::mismatch(what, "f32 or bf16", format!("{text:?}"))),
    }
}

/// The most Gibbs steps per gradient estimate a model file (and the
/// `--cd-k` flag) may ask for: more is a damaged file or a typo, and would
/// run practically forever.
pub const MAX_CD_K: usize = 1000;

/// The rest of the hyper-parameter line that starts with `name:`.
pub fn hyper_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// `key=value` of a hyper-parameter line (`sparsity=target=…` keeps the
/// rest after the first `=`).
pub fn hyper_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The hyper-parameter lines of a model file: the model's own lines, and
/// the `preprocess:` line (`none` when absent).
pub fn split_hyper(text: &str) -> (Vec<&str>, &str) {
    let mut model = Vec::new();
    let mut pre = "none";
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("preprocess:") {
            pre = p.trim();
        } else {
            model.push(line);
        }
    }
    (model, pre)
}

/// An error about `key` of the line `what` in the file `path`.
pub(crate) fn bad_value(
    path: &Path,
    what: &str,
    key: &str,
    expected: &str,
    found: &str,
) -> ModelError {
    ModelError::mismatch(
        format!("{}: {key} in the {what}", path.display()),
        expected,
        format!("{found:?}"),
    )
}

/// Parses `value` of `key` as a `T`.
pub(crate) fn parse_value<T: std::str::FromStr>(
    path: &Path,
    what: &str,
    key: &str,
    value: &str,
    expected: &str,
) -> Result<T> {
    value
        .parse()
        .map_err(|_| bad_value(path, what, key, expected, value))
}

/// Reads an RBM configuration line written by [`RbmConfig::to_text`] for a model of
/// `visible` units and `v x h` sizes (the sizes come from the tensors).
/// Keys that are absent take their defaults (files written before a key
/// existed); a key that is unknown, a value that does not parse, or (with
/// `check_sizes`) sizes or a unit type that disagree with the tensors are
/// errors naming the key. `what` names the line (e.g. `layer1 line`).
pub fn parse_rbm_config(
    line: &str,
    (visible, v, h): (VisibleUnits, usize, usize),
    check_sizes: bool,
    path: &Path,
    what: &str,
) -> Result<RbmConfig> {
    let mut c = match visible {
        VisibleUnits::Bernoulli => RbmConfig::bernoulli(v, h),
        VisibleUnits::Gaussian => RbmConfig::gaussian(v, h),
    };
    let mut sparsity: Option<f32> = None;
    let (mut cost, mut decay) = (None, None);
    let boolean = "true or false";
    for word in line.split_whitespace() {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| bad_value(path, what, "a word", "key=value", word))?;
        match key {
            "visible" => {
                let found = match value {
                    "bernoulli" => VisibleUnits::Bernoulli,
                    "gaussian" => VisibleUnits::Gaussian,
                    _ => return Err(bad_value(path, what, key, "bernoulli or gaussian", value)),
                };
                if check_sizes && found != visible {
                    return Err(bad_value(path, what, key, visible.name(), value));
                }
            }
            "n_visible" | "n_hidden" => {
                let n: usize = parse_value(path, what, key, value, "a size")?;
                let want = if key == "n_visible" { v } else { h };
                if check_sizes && n != want {
                    return Err(bad_value(
                        path,
                        what,
                        key,
                        &format!("{want} (the tensors' size)"),
                        value,
                    ));
                }
            }
            "cd_k" => {
                const STEPS: &str = "a number of Gibbs steps from 1 to 1000 (MAX_CD_K)";
                c.cd_k = parse_value(path, what, key, value, STEPS)?;
                if c.cd_k > MAX_CD_K {
                    return Err(bad_value(path, what, key, STEPS, value));
                }
            }
            "persistent" => c.persistent = parse_value(path, what, key, value, boolean)?,
            "sample_visible" => c.sample_visible = parse_value(path, what, key, value, boolean)?,
            "learn_sigma" => c.learn_sigma = parse_value(path, what, key, value, boolean)?,
            "init_std" => c.init_std = parse_value(path, what, key, value, "a number")?,
            "sparsity" => {
                sparsity = match value {
                    "none" => None,
                    t => Some(t.strip_prefix("target=").map_or_else(
                        || Err(bad_value(path, what, key, "none or target=T", value)),
                        |t| parse_value(path, what, "sparsity target", t, "a number"),
                    )?),
                }
            }
            "hidden" => {
                c.hidden = match value {
                    "bernoulli" => HiddenUnits::Bernoulli,
                    "linear" => HiddenUnits::Linear,
                    _ => return Err(bad_value(path, what, key, "bernoulli or linear", value)),
                }
            }
            "cost" => cost = Some(parse_value::<f32>(path, what, key, value, "a number")?),
            "decay" => decay = Some(parse_value::<f32>(path, what, key, value, "a number")?),
            _ => {
                return Err(bad_value(
                    path,
                    what,
                    "key",
                    "one of visible, n_visible, n_hidden, cd_k, persistent, sample_visible, init_std, sparsity, cost, decay, learn_sigma, hidden",
                    key,
                ));
            }
        }
    }
    c.sparsity = match (sparsity, cost, decay) {
        (Some(target), Some(cost), Some(decay)) => Some(Sparsity {
            target,
            cost,
            decay,
        }),
        (None, None, None) => None,
        _ => {
            return Err(bad_value(
                path,
                what,
                "sparsity",
                "sparsity=none, or sparsity=target=T cost=C decay=D",
                line,
            ));
        }
    };
    c.validate().map_err(|e| {
        ModelError::mismatch(
            format!("{}: the {what}", path.display()),
            "a valid RBM configuration",
            e,
        )
    })?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<RbmConfig> {
        parse_rbm_config(
            line,
            (VisibleUnits::Bernoulli, 16, 8),
            true,
            Path::new("m.latent"),
            "model line",
        )
    }

    #[test]
    fn rbm_config_text_round_trips() {
        let mut c = RbmConfig::bernoulli(16, 8);
        c.cd_k = 3;
        c.persistent = true;
        c.init_std = 0.05;
        c.sparsity = Some(Sparsity {
            target: 0.1,
            cost: 0.2,
            decay: 0.9,
        });
        assert_eq!(parse(&c.to_text()).unwrap(), c);
        assert_eq!(parse("").unwrap(), RbmConfig::bernoulli(16, 8));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        for (line, key) in [
            ("cd_k=three", "cd_k"),
            ("persistent=yes", "persistent"),
            ("n_hidden=17", "n_hidden"),
            ("visible=gaussian", "visible"),
            ("sparsity=target=x cost=1 decay=0.5", "sparsity target"),
            ("sparsity=target=0.1", "sparsity"),
            ("colour=blue", "key"),
            ("cd_k=0", "the model line"),
            ("cd_k=1001", "cd_k"),
            ("cd_k=4294967295", "cd_k"),
        ] {
            let e = parse(line).unwrap_err().to_string();
            assert!(e.contains(key), "{line}: {e}");
            assert!(e.starts_with("m.latent: "), "{e}");
        }
    }
}
