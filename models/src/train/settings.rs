//! The training settings of a run (the `train:` line of a model file) and
//! their defaults, in one place for every kind.

use latent_engine::train::{Threads, TrainConfig};
use latent_engine::{Momentum, OptimizerConfig, OptimizerKind};
use latent_kernels::Precision;

use crate::error::{ModelError, Result};
use crate::persist::{Kind, hyper_value, train_precision};

/// The optimiser of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// SGD with momentum (Hinton's schedule 0.5 then 0.9 unless a constant
    /// momentum is given).
    Sgd,
    /// Adam (β₁ 0.9, β₂ 0.999).
    Adam,
}

impl Optimizer {
    /// The name in the `train:` line and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Adam => "adam",
        }
    }

    /// The optimiser of a name ([`name`](Self::name)'s inverse).
    pub fn from_name(name: &str) -> Option<Optimizer> {
        match name {
            "sgd" => Some(Optimizer::Sgd),
            "adam" => Some(Optimizer::Adam),
            _ => None,
        }
    }
}

/// Settings given by a caller (command-line flags); `None` takes the
/// resumed file's value, else the kind's default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SettingsOverrides {
    /// Epochs in all.
    pub epochs: Option<usize>,
    /// The optimiser.
    pub optimizer: Option<Optimizer>,
    /// The learning rate.
    pub lr: Option<f32>,
    /// L2 weight decay on the weights.
    pub weight_decay: Option<f32>,
    /// A constant SGD momentum.
    pub momentum: Option<f32>,
    /// Minibatch size.
    pub batch: Option<usize>,
    /// The seed of everything random.
    pub seed: Option<u64>,
    /// The precision of the matrix products.
    pub precision: Option<Precision>,
}

/// The settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Epochs in all.
    pub epochs: usize,
    /// SGD or Adam.
    pub optimizer: Optimizer,
    /// The learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// A constant SGD momentum (`None`: Hinton's schedule).
    pub momentum: Option<f32>,
    /// Minibatch size.
    pub batch: usize,
    /// The seed of everything random.
    pub seed: u64,
    /// The precision of the model's matrix products (f32 unless asked;
    /// the `train:` line says `precision=bf16` only for bf16, so f32 files
    /// are as before).
    pub precision: Precision,
}

/// The default learning rate of `kind` with `optimizer`: 0.1 for binary
/// RBMs and DBNs with SGD, 0.001 for Gaussian RBMs; 0.01 for DBMs with SGD
/// (their persistent chains diverge at 0.1 with Hinton's momentum: on bars
/// and stripes 0.1 lost likelihood where 0.02 gained 4.4 nats);
/// autoencoders 0.001 with Adam, 0.01 with SGD.
pub fn default_lr(kind: Kind, optimizer: Optimizer) -> f32 {
    match (kind, optimizer) {
        (Kind::GaussianRbm, _) => 0.001,
        (Kind::Dbm, Optimizer::Sgd) => 0.01,
        (k, Optimizer::Adam) if k.is_autoencoder() => 0.001,
        (k, Optimizer::Sgd) if k.is_autoencoder() => 0.01,
        (_, Optimizer::Adam) => 0.001,
        (_, Optimizer::Sgd) => 0.1,
    }
}

/// The default L2 weight decay on the weights of `kind`: 1e-4 for the
/// RBMs and DBNs (Hinton's guide), none for the autoencoders and the
/// classifier.
pub fn default_weight_decay(kind: Kind) -> f32 {
    if adam_by_default(kind) { 0.0 } else { 1e-4 }
}

/// Whether `kind` trains with Adam unless told otherwise: the autoencoders,
/// and the classifier's fine-tuning (on 8,000 MNIST images, 5 epochs of
/// fine-tuning a pretrained 784-256-128 DBN reached 0.956 test accuracy
/// with Adam at 0.002 against 0.88 with SGD at 0.1 and Hinton's momentum).
fn adam_by_default(kind: Kind) -> bool {
    kind.is_autoencoder() || kind == Kind::Classifier
}

impl Settings {
    /// The defaults of `kind`, nothing given and nothing resumed.
    pub fn defaults(kind: Kind) -> Settings {
        let optimizer = if adam_by_default(kind) {
            Optimizer::Adam
        } else {
            Optimizer::Sgd
        };
        Settings {
            epochs: Self::DEFAULT_EPOCHS,
            optimizer,
            lr: default_lr(kind, optimizer),
            weight_decay: default_weight_decay(kind),
            momentum: None,
            batch: Self::DEFAULT_BATCH,
            seed: 0,
            precision: Precision::F32,
        }
    }

    /// Epochs when neither the caller nor a resumed file says.
    pub const DEFAULT_EPOCHS: usize = 10;
    /// Minibatch size when neither the caller nor a resumed file says.
    pub const DEFAULT_BATCH: usize = 100;

    /// The settings of a run of `kind`: the caller's `flags`, else the
    /// resumed file's `train:` line `stored`, else the kind's defaults
    /// (SGD with Hinton's momentum and weight decay 1e-4 for the RBMs and
    /// DBNs, Adam without weight decay for the autoencoders;
    /// [`default_lr`]; 10 epochs of batches of 100; seed 0).
    pub fn resolve(
        kind: Kind,
        flags: &SettingsOverrides,
        stored: Option<&str>,
    ) -> Result<Settings> {
        let get = |key: &str| stored.and_then(|l| hyper_value(l, key));
        let stored_opt = get("optimizer").and_then(Optimizer::from_name);
        if let (Some(flag), Some(file)) = (flags.optimizer, stored_opt)
            && flag != file
        {
            return Err(ModelError::mismatch(
                "--optimizer vs the resumed model's optimiser (its state is kept)",
                file.name(),
                flag.name(),
            ));
        }
        let fallback = if adam_by_default(kind) {
            Optimizer::Adam
        } else {
            Optimizer::Sgd
        };
        let optimizer = flags.optimizer.or(stored_opt).unwrap_or(fallback);
        let num = |key: &str| get(key).and_then(|v| v.parse::<f64>().ok());
        let momentum = match (flags.momentum, get("momentum")) {
            (Some(m), _) => Some(m),
            (None, Some(m)) if m != "hinton" => m.parse().ok(),
            _ => None,
        };
        if momentum.is_some() && optimizer == Optimizer::Adam {
            return Err(ModelError::Unsupported {
                what: "--momentum with the adam optimiser",
                why: "momentum is an sgd setting".into(),
            });
        }
        let precision = match flags.precision {
            Some(p) => p,
            None => train_precision(stored, "the train line's precision")?,
        };
        Ok(Settings {
            precision,
            epochs: flags
                .epochs
                .or(num("epochs").map(|e| e as usize))
                .unwrap_or(Self::DEFAULT_EPOCHS),
            optimizer,
            lr: flags
                .lr
                .or(num("lr").map(|v| v as f32))
                .unwrap_or(default_lr(kind, optimizer)),
            weight_decay: flags
                .weight_decay
                .or(num("weight_decay").map(|v| v as f32))
                .unwrap_or(default_weight_decay(kind)),
            momentum,
            batch: flags
                .batch
                .or(num("batch").map(|b| b as usize))
                .filter(|&b| b > 0)
                .unwrap_or(Self::DEFAULT_BATCH),
            seed: flags
                .seed
                .or(get("seed").and_then(|s| s.parse().ok()))
                .unwrap_or(0),
        })
    }

    /// The `train:` line of the model file.
    pub fn line(&self) -> String {
        let momentum = match (self.optimizer, self.momentum) {
            (Optimizer::Adam, _) => String::new(),
            (Optimizer::Sgd, None) => " momentum=hinton".into(),
            (Optimizer::Sgd, Some(m)) => format!(" momentum={m}"),
        };
        let precision = match self.precision {
            Precision::F32 => String::new(),
            p => format!(" precision={p}"),
        };
        format!(
            "epochs={} optimizer={} lr={} weight_decay={}{momentum} batch={} seed={}{precision}",
            self.epochs,
            self.optimizer.name(),
            self.lr,
            self.weight_decay,
            self.batch,
            self.seed
        )
    }

    /// The optimiser's configuration.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        let mut opt = match self.optimizer {
            Optimizer::Sgd => OptimizerConfig::sgd_hinton(self.lr, self.weight_decay),
            Optimizer::Adam => OptimizerConfig::adam(self.lr),
        };
        opt.weight_decay = self.weight_decay;
        if let (Some(m), OptimizerKind::Sgd { .. }) = (self.momentum, opt.kind) {
            opt.kind = OptimizerKind::Sgd {
                momentum: Momentum::Constant(m),
            };
        }
        opt
    }

    /// The trainer's configuration (all epochs, the caller's thread pool).
    pub fn train_config(&self) -> TrainConfig {
        let mut tc = TrainConfig::new(self.optimizer_config());
        tc.epochs = self.epochs;
        tc.batch_size = self.batch;
        tc.seed = self.seed;
        tc.threads = Threads::CallerPool;
        tc
    }

    /// `adam lr 0.001` or `lr 0.1` (SGD), and for bf16 which kernel runs
    /// the products (`, bf16 products (avx512bf16)`).
    pub fn describe(&self) -> String {
        let products = match self.precision {
            Precision::F32 => String::new(),
            Precision::Bf16 => format!(
                ", bf16 products ({})",
                latent_kernels::Dispatch::global().bf16_isa()
            ),
        };
        match self.optimizer {
            Optimizer::Sgd => format!("lr {}{products}", self.lr),
            Optimizer::Adam => format!("adam lr {}{products}", self.lr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_kind() {
        let rbm = Settings::defaults(Kind::Rbm);
        assert_eq!(
            (rbm.optimizer, rbm.lr, rbm.weight_decay),
            (Optimizer::Sgd, 0.1, 1e-4)
        );
        assert_eq!(Settings::defaults(Kind::GaussianRbm).lr, 0.001);
        let ae = Settings::defaults(Kind::DeepAe);
        assert_eq!(
            (ae.optimizer, ae.lr, ae.weight_decay),
            (Optimizer::Adam, 0.001, 0.0)
        );
        assert_eq!(default_lr(Kind::Ae, Optimizer::Sgd), 0.01);
        for kind in Kind::ALL {
            let none = SettingsOverrides::default();
            assert_eq!(
                Settings::resolve(kind, &none, None).unwrap(),
                Settings::defaults(kind)
            );
        }
        let c = crate::rbm::RbmConfig::gaussian(4, 3).default_optimizer();
        assert_eq!(c, Settings::defaults(Kind::GaussianRbm).optimizer_config());
    }

    #[test]
    fn flags_then_the_stored_line_then_defaults() {
        let stored = "epochs=7 optimizer=sgd lr=0.05 weight_decay=0 momentum=0.8 batch=20 seed=9";
        let flags = SettingsOverrides {
            epochs: Some(12),
            ..Default::default()
        };
        let s = Settings::resolve(Kind::Rbm, &flags, Some(stored)).unwrap();
        assert_eq!(
            s.line(),
            "epochs=12 optimizer=sgd lr=0.05 weight_decay=0 momentum=0.8 batch=20 seed=9"
        );
        let adam = SettingsOverrides {
            optimizer: Some(Optimizer::Adam),
            ..Default::default()
        };
        let e = Settings::resolve(Kind::Rbm, &adam, Some(stored)).unwrap_err();
        assert!(e.to_string().contains("optimiser"), "{e}");
    }

    #[test]
    fn precision_is_a_flag_then_the_stored_line_then_f32() {
        let none = SettingsOverrides::default();
        let stored = "epochs=2 optimizer=sgd lr=0.1 weight_decay=0 batch=10 seed=1 precision=bf16";
        let s = Settings::resolve(Kind::Rbm, &none, Some(stored)).unwrap();
        assert_eq!(s.precision, Precision::Bf16);
        assert!(s.line().ends_with(" precision=bf16"), "{}", s.line());
        let f32_flag = SettingsOverrides {
            precision: Some(Precision::F32),
            ..Default::default()
        };
        let s = Settings::resolve(Kind::Rbm, &f32_flag, Some(stored)).unwrap();
        assert_eq!(s.precision, Precision::F32);
        assert!(!s.line().contains("precision"), "f32 lines are as before");
        let bad = "epochs=2 precision=half";
        let e = Settings::resolve(Kind::Ae, &none, Some(bad)).unwrap_err();
        assert!(
            e.to_string().contains("precision") && e.to_string().contains("half"),
            "{e}"
        );
    }
}
