//! Text forms of the autoencoders' settings: one word per setting, so that a
//! command line and a model file can say the same thing the same way and a
//! model can be rebuilt from what was stored.
//!
//! | setting | text |
//! | --- | --- |
//! | [`Loss`] | `squared-error` (or `mse`), `cross-entropy` (or `bce`) |
//! | [`Sparsity`] | `none`, `l1:LAMBDA`, `kl:RHO:BETA` (`kl:RHO` means `BETA = 1`) |
//! | [`Noise`] | `none`, `mask:NU`, `gaussian:STD`, `salt-pepper:NU` (values 0 and 1) or `salt-pepper:NU:LO:HI` |
//! | [`Activation`] | `identity` (or `linear`), `sigmoid`, `relu`, `tanh`, `softplus` |
//! | [`VaeOutput`] | `bernoulli`, `gaussian` |
//! | [`CodeNoise`] | `none`, `STD:SEED` (e.g. `4:0`) |
//!
//! A whole configuration is a line of `key=value` words
//! ([`AeConfig::to_spec`], [`VaeConfig::to_spec`]), e.g.
//! `sizes=784,256,64 activations=sigmoid,sigmoid tied=false loss=cross-entropy
//! sparsity=none noise=mask:0.3 contractive=none init_std=none`, and
//! ` code_noise=STD:SEED` at the end only when there is code noise (so
//! the lines of models without it are what they always were). Numbers are
//! written in Rust's shortest round-trip form, so parsing the text gives back
//! exactly the configuration that was written. Parsing checks the syntax and
//! each value's domain; errors are [`ModelError::InvalidConfig`] naming the
//! setting, the text and what is allowed.

use std::fmt;
use std::str::FromStr;

use latent_kernels::activation::Activation;

use super::dense::{AeConfig, CodeNoise, Loss, Noise, Sparsity};
use super::vae::{VaeConfig, VaeOutput};
use crate::error::{ModelError, Result};

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ModelError {
    ModelError::InvalidConfig {
        what,
        value: value.to_string(),
        expected,
    }
}

/// A finite `f32` in `lo..=hi` (`hi` may be infinite), or the error.
fn number(
    text: &str,
    lo: f32,
    hi: f32,
    what: &'static str,
    whole: &str,
    expected: &'static str,
) -> Result<f32> {
    match text.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v >= lo && v <= hi => Ok(v),
        _ => Err(invalid(what, whole, expected)),
    }
}

const LOSS_EXPECTED: &str = "squared-error (mse) or cross-entropy (bce)";

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = ModelError;

    /// `squared-error` / `mse`, or `cross-entropy` / `bce`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "squared-error" | "mse" => Ok(Loss::SquaredError),
            "cross-entropy" | "bce" => Ok(Loss::CrossEntropy),
            _ => Err(invalid("loss", s, LOSS_EXPECTED)),
        }
    }
}

const SPARSITY_EXPECTED: &str =
    "none, l1:LAMBDA (LAMBDA >= 0) or kl:RHO[:BETA] (RHO in (0, 1), BETA >= 0, default 1)";

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsity::None => f.write_str("none"),
            Sparsity::L1 { lambda } => write!(f, "l1:{lambda}"),
            Sparsity::Kl { rho, beta } => write!(f, "kl:{rho}:{beta}"),
        }
    }
}

impl FromStr for Sparsity {
    type Err = ModelError;

    /// `none`, `l1:LAMBDA` or `kl:RHO[:BETA]`.
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |t: &str, lo, hi| number(t, lo, hi, "sparsity", s, SPARSITY_EXPECTED);
        match parts.as_slice() {
            ["none"] => Ok(Sparsity::None),
            ["l1", l] => Ok(Sparsity::L1 {
                lambda: num(l, 0.0, f32::INFINITY)?,
            }),
            ["kl", rho] | ["kl", rho, _] => {
                let rho = num(rho, f32::MIN_POSITIVE, 1.0)?;
                if rho >= 1.0 {
                    return Err(invalid("sparsity", s, SPARSITY_EXPECTED));
                }
                let beta = match parts.get(2) {
                    Some(b) => num(b, 0.0, f32::INFINITY)?,
                    None => 1.0,
                };
                Ok(Sparsity::Kl { rho, beta })
            }
            _ => Err(invalid("sparsity", s, SPARSITY_EXPECTED)),
        }
    }
}

const NOISE_EXPECTED: &str =
    "none, mask:NU, gaussian:STD or salt-pepper:NU[:LO:HI] (NU a probability in [0, 1], STD >= 0)";

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Noise::None => f.write_str("none"),
            Noise::Mask { nu } => write!(f, "mask:{nu}"),
            Noise::Gaussian { std } => write!(f, "gaussian:{std}"),
            Noise::SaltPepper { nu, lo, hi } if lo == 0.0 && hi == 1.0 => {
                write!(f, "salt-pepper:{nu}")
            }
            Noise::SaltPepper { nu, lo, hi } => write!(f, "salt-pepper:{nu}:{lo}:{hi}"),
        }
    }
}

impl FromStr for Noise {
    type Err = ModelError;

    /// `none`, `mask:NU`, `gaussian:STD`, `salt-pepper:NU` or
    /// `salt-pepper:NU:LO:HI`.
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |t: &str, lo, hi| number(t, lo, hi, "noise", s, NOISE_EXPECTED);
        let any = f32::INFINITY;
        match parts.as_slice() {
            ["none"] => Ok(Noise::None),
            ["mask", nu] => Ok(Noise::Mask {
                nu: num(nu, 0.0, 1.0)?,
            }),
            ["gaussian", std] => Ok(Noise::Gaussian {
                std: num(std, 0.0, any)?,
            }),
            ["salt-pepper", nu] => Ok(Noise::SaltPepper {
                nu: num(nu, 0.0, 1.0)?,
                lo: 0.0,
                hi: 1.0,
            }),
            ["salt-pepper", nu, lo, hi] => Ok(Noise::SaltPepper {
                nu: num(nu, 0.0, 1.0)?,
                lo: num(lo, -any, any)?,
                hi: num(hi, -any, any)?,
            }),
            _ => Err(invalid("noise", s, NOISE_EXPECTED)),
        }
    }
}

const ACTIVATION_EXPECTED: &str = "identity (linear), sigmoid, relu, tanh or softplus";

/// Parses an activation name: `identity` (or `linear`), `sigmoid`, `relu`,
/// `tanh`, `softplus`.
pub fn parse_activation(s: &str) -> Result<Activation> {
    match s.trim().to_ascii_lowercase().as_str() {
        "identity" | "linear" => Ok(Activation::Identity),
        "sigmoid" => Ok(Activation::Sigmoid),
        "relu" => Ok(Activation::Relu),
        "tanh" => Ok(Activation::Tanh),
        "softplus" => Ok(Activation::Softplus),
        _ => Err(invalid("activation", s, ACTIVATION_EXPECTED)),
    }
}

/// Parses a comma-separated list of activations (`sigmoid,relu`).
pub fn parse_activations(s: &str) -> Result<Vec<Activation>> {
    s.split(',').map(parse_activation).collect()
}

fn activations_text(acts: &[Activation]) -> String {
    acts.iter().map(|a| a.name()).collect::<Vec<_>>().join(",")
}

fn sizes_text(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a comma-separated list of positive sizes (`784,256,64`).
pub fn parse_sizes(s: &str) -> Result<Vec<usize>> {
    s.split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid("sizes", s, "positive integers separated by commas"))
}

const VAE_OUTPUT_EXPECTED: &str = "bernoulli or gaussian";

impl fmt::Display for VaeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VaeOutput::Bernoulli => "bernoulli",
            VaeOutput::Gaussian => "gaussian",
        })
    }
}

impl FromStr for VaeOutput {
    type Err = ModelError;

    /// `bernoulli` or `gaussian`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bernoulli" => Ok(VaeOutput::Bernoulli),
            "gaussian" => Ok(VaeOutput::Gaussian),
            _ => Err(invalid("output", s, VAE_OUTPUT_EXPECTED)),
        }
    }
}

/// `none` or a finite number `>= 0`.
fn optional_number(s: &str, what: &'static str) -> Result<Option<f32>> {
    if s.trim() == "none" {
        return Ok(None);
    }
    number(
        s,
        0.0,
        f32::INFINITY,
        what,
        s,
        "none or a finite number >= 0",
    )
    .map(Some)
}

fn optional_text(v: Option<f32>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

/// The `key=value` words of a spec line; a word without `=` or a key not in
/// `known` is an error.
fn words<'a>(
    s: &'a str,
    known: &[&str],
    expected: &'static str,
) -> Result<Vec<(&'a str, &'a str)>> {
    s.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if known.contains(&k) => Ok((k, v)),
            _ => Err(invalid("configuration word", w, expected)),
        })
        .collect()
}

const AE_KEYS: [&str; 9] = [
    "sizes",
    "activations",
    "tied",
    "loss",
    "sparsity",
    "noise",
    "contractive",
    "init_std",
    "code_noise",
];

const AE_EXPECTED: &str = "key=value with a key among sizes, activations, tied, loss, sparsity, noise, contractive, init_std, code_noise";

const CODE_NOISE_EXPECTED: &str = "none or STD:SEED (STD a finite number >= 0, SEED an integer)";

/// `none` or `STD:SEED`.
fn parse_code_noise(s: &str) -> Result<Option<CodeNoise>> {
    if s.trim() == "none" {
        return Ok(None);
    }
    let bad = || invalid("code_noise", s, CODE_NOISE_EXPECTED);
    let (std, seed) = s.split_once(':').ok_or_else(bad)?;
    let std = number(
        std,
        0.0,
        f32::INFINITY,
        "code_noise",
        s,
        CODE_NOISE_EXPECTED,
    )?;
    let seed = seed.trim().parse::<u64>().map_err(|_| bad())?;
    Ok(Some(CodeNoise { std, seed }))
}

fn parse_bool(s: &str, what: &'static str) -> Result<bool> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(what, s, "true or false")),
    }
}

impl AeConfig {
    /// The configuration as one line of `key=value` words (see the module
    /// documentation); [`from_spec`](Self::from_spec) reads it back.
    pub fn to_spec(&self) -> String {
        let code_noise = match self.code_noise {
            Some(n) => format!(" code_noise={}:{}", n.std, n.seed),
            None => String::new(),
        };
        format!(
            "sizes={} activations={} tied={} loss={} sparsity={} noise={} contractive={} init_std={}{code_noise}",
            sizes_text(&self.sizes),
            activations_text(&self.activations),
            self.tied,
            self.loss,
            self.sparsity,
            self.noise,
            optional_text(self.contractive),
            optional_text(self.init_std),
        )
    }

    /// Parses a line written by [`to_spec`](Self::to_spec). `sizes` is
    /// required; `activations` defaults to sigmoid on every layer and the
    /// other settings to those of [`AeConfig::new`]. The result is
    /// [`validate`](Self::validate)d.
    pub fn from_spec(s: &str) -> Result<AeConfig> {
        let mut sizes = None;
        let mut acts = None;
        let mut cfg = AeConfig::new(&[1, 1], Activation::Sigmoid);
        for (k, v) in words(s, &AE_KEYS, AE_EXPECTED)? {
            match k {
                "sizes" => sizes = Some(parse_sizes(v)?),
                "activations" => acts = Some(parse_activations(v)?),
                "tied" => cfg.tied = parse_bool(v, "tied")?,
                "loss" => cfg.loss = v.parse()?,
                "sparsity" => cfg.sparsity = v.parse()?,
                "noise" => cfg.noise = v.parse()?,
                "contractive" => cfg.contractive = optional_number(v, "contractive")?,
                "code_noise" => cfg.code_noise = parse_code_noise(v)?,
                _ => cfg.init_std = optional_number(v, "init_std")?,
            }
        }
        let sizes = sizes.ok_or_else(|| invalid("sizes", "(missing)", "sizes=V,H1,..."))?;
        cfg.activations = acts.unwrap_or_else(|| vec![Activation::Sigmoid; sizes.len() - 1]);
        cfg.sizes = sizes;
        cfg.validate()?;
        Ok(cfg)
    }
}

const VAE_KEYS: [&str; 5] = ["sizes", "activations", "latent", "output", "init_std"];

const VAE_EXPECTED: &str =
    "key=value with a key among sizes, activations, latent, output, init_std";

impl VaeConfig {
    /// The configuration as one line of `key=value` words, e.g.
    /// `sizes=784,256 activations=relu latent=20 output=bernoulli
    /// init_std=none`; [`from_spec`](Self::from_spec) reads it back.
    pub fn to_spec(&self) -> String {
        format!(
            "sizes={} activations={} latent={} output={} init_std={}",
            sizes_text(&self.sizes),
            if self.activations.is_empty() {
                "none".to_string()
            } else {
                activations_text(&self.activations)
            },
            self.latent,
            self.output,
            optional_text(self.init_std),
        )
    }

    /// Parses a line written by [`to_spec`](Self::to_spec); `sizes` and
    /// `latent` are required, `activations` defaults to ReLU on every
    /// hidden layer (`none` when there is none), `output` to Bernoulli. The
    /// result is [`validate`](Self::validate)d.
    pub fn from_spec(s: &str) -> Result<VaeConfig> {
        let (mut sizes, mut acts, mut latent) = (None, None, None);
        let mut output = VaeOutput::Bernoulli;
        let mut init_std = None;
        for (k, v) in words(s, &VAE_KEYS, VAE_EXPECTED)? {
            match k {
                "sizes" => sizes = Some(parse_sizes(v)?),
                "activations" if v == "none" => acts = Some(Vec::new()),
                "activations" => acts = Some(parse_activations(v)?),
                "latent" => {
                    latent = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&z| z > 0)
                            .ok_or_else(|| invalid("latent", v, "a positive integer"))?,
                    )
                }
                "output" => output = v.parse()?,
                _ => init_std = optional_number(v, "init_std")?,
            }
        }
        let sizes = sizes.ok_or_else(|| invalid("sizes", "(missing)", "sizes=V,H1,..."))?;
        let latent = latent.ok_or_else(|| invalid("latent", "(missing)", "latent=Z"))?;
        let hidden = sizes.len() - 1;
        let mut cfg = VaeConfig::new(sizes[0], &sizes[1..], latent, Activation::Relu)
            .with_output(output)
            .with_activations(&acts.unwrap_or_else(|| vec![Activation::Relu; hidden]));
        cfg.init_std = init_std;
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        for s in ["none", "l1:0.001", "kl:0.05:3", "kl:0.5:0"] {
            assert_eq!(s.parse::<Sparsity>().unwrap().to_string(), s);
        }
        assert_eq!(
            "kl:0.1".parse::<Sparsity>().unwrap(),
            Sparsity::Kl {
                rho: 0.1,
                beta: 1.0
            }
        );
        for s in [
            "none",
            "mask:0.3",
            "gaussian:0.1",
            "salt-pepper:0.2",
            "salt-pepper:0.2:-1:1",
        ] {
            assert_eq!(s.parse::<Noise>().unwrap().to_string(), s);
        }
        assert_eq!("bce".parse::<Loss>().unwrap(), Loss::CrossEntropy);
        assert_eq!("mse".parse::<Loss>().unwrap(), Loss::SquaredError);
        assert_eq!(parse_activation("linear").unwrap(), Activation::Identity);
    }

    #[test]
    fn bad_settings_name_the_problem() {
        for s in [
            "mask",
            "mask:1.5",
            "mask:x",
            "gaussian:-1",
            "blur:0.1",
            "salt-pepper:0.1:0",
        ] {
            let e = s.parse::<Noise>().unwrap_err().to_string();
            assert!(
                e.starts_with("noise = ") && e.contains("mask:NU"),
                "{s}: {e}"
            );
        }
        for s in ["l1", "l1:-1", "kl:0", "kl:1", "kl:0.1:-2", "l2:1"] {
            let e = s.parse::<Sparsity>().unwrap_err().to_string();
            assert!(e.starts_with("sparsity = "), "{s}: {e}");
        }
        assert!(parse_activation("gelu").is_err());
        assert!(AeConfig::from_spec("sizes=4,2 colour=red").is_err());
        assert!(AeConfig::from_spec("tied=true").is_err());
    }

    #[test]
    fn configurations_round_trip() {
        let ae = AeConfig::new(&[784, 256, 64], Activation::Sigmoid)
            .with_activations(&[Activation::Relu, Activation::Identity])
            .with_loss(Loss::CrossEntropy)
            .with_noise(Noise::SaltPepper {
                nu: 0.25,
                lo: 0.0,
                hi: 1.0,
            })
            .with_sparsity(Sparsity::L1 { lambda: 1e-3 })
            .with_init_std(0.01);
        assert_eq!(AeConfig::from_spec(&ae.to_spec()).unwrap(), ae);
        assert!(
            !ae.to_spec().contains("code_noise"),
            "no word without code noise"
        );
        let hashing = AeConfig::new(&[16, 8, 4], Activation::Sigmoid).with_code_noise(4.0, 42);
        assert!(
            hashing
                .to_spec()
                .ends_with(" init_std=none code_noise=4:42")
        );
        assert_eq!(AeConfig::from_spec(&hashing.to_spec()).unwrap(), hashing);
        for bad in ["4", "x:1", "-1:2", "4:x", "4:-1"] {
            let e = AeConfig::from_spec(&format!("sizes=4,2 code_noise={bad}")).unwrap_err();
            assert!(e.to_string().contains("STD:SEED"), "{bad}: {e}");
        }
        let c = AeConfig::new(&[16, 4], Activation::Sigmoid)
            .with_tied(true)
            .with_contractive(0.1)
            .with_sparsity(Sparsity::Kl {
                rho: 0.05,
                beta: 3.0,
            });
        assert_eq!(AeConfig::from_spec(&c.to_spec()).unwrap(), c);
        let v =
            VaeConfig::new(784, &[256, 128], 20, Activation::Tanh).with_output(VaeOutput::Gaussian);
        assert_eq!(VaeConfig::from_spec(&v.to_spec()).unwrap(), v);
        let flat = VaeConfig::new(64, &[], 2, Activation::Relu);
        assert_eq!(
            flat.to_spec(),
            "sizes=64 activations=none latent=2 output=bernoulli init_std=none"
        );
        assert_eq!(VaeConfig::from_spec(&flat.to_spec()).unwrap(), flat);
    }
}
