//! Model files in the library: files written by `latent train` before the
//! model-file code moved into the library (the fixtures, written by latent
//! at bb685a8, see `fixtures/make.sh`) load and encode to the same bits;
//! reading is strict (a bad value is an error naming the key); a loaded
//! file saves back to the same bytes; and `evaluate` of a Gaussian RBM that
//! learned σ uses that σ (it used σ = 1), checked against an independent
//! f64 computation of the exact log-likelihood.

use std::path::{Path, PathBuf};

use latent_engine::data::csv::{CsvOptions, read};
use latent_engine::data::npy;
use latent_engine::{Checkpoint, Matrix, Par};
use latent_kernels::Precision;
use latent_models::model::{AnyModel, EvalOptions, Inference};
use latent_models::persist::{self, Kind, Preprocess};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn data(name: &str) -> Matrix {
    read(fixture(name), &CsvOptions::default())
        .unwrap()
        .dataset
        .x
}

fn bits(m: &Matrix) -> Vec<u32> {
    m.as_slice().iter().map(|v| v.to_bits()).collect()
}

const FIXTURES: [(&str, Kind, &str); 10] = [
    ("rbm", Kind::Rbm, "binary16.csv"),
    ("gaussian_sigma", Kind::GaussianRbm, "real6.csv"),
    ("gaussian", Kind::GaussianRbm, "real6.csv"),
    ("dbn", Kind::Dbn, "binary16.csv"),
    ("ae", Kind::Ae, "binary16.csv"),
    ("ae_deep", Kind::Ae, "real6.csv"),
    ("ae_contractive", Kind::Ae, "binary16.csv"),
    ("vae", Kind::Vae, "binary16.csv"),
    ("deep_ae", Kind::DeepAe, "binary16.csv"),
    ("deep_ae_rbm", Kind::DeepAe, "binary16.csv"),
];

/// The fixtures' encodings were written with the AVX-512 kernels (the
/// machine that made them): under those the bits must be equal; under
/// another instruction set (`LATENT_ISA=portable|avx2`, or a CPU without
/// AVX-512) the kernels round differently (their own `exp`, FMA or not), so
/// the values must agree to 1e-5.
#[test]
fn files_of_the_previous_release_load_and_encode_to_the_same_bits() {
    let exact = latent_kernels::Isa::selected() == latent_kernels::Isa::Avx512;
    if !exact {
        println!(
            "NOTE: {} kernels, not the AVX-512 ones the fixtures were encoded with: comparing to 1e-5, not bits",
            latent_kernels::Isa::selected()
        );
    }
    for (name, kind, csv) in FIXTURES {
        let path = fixture(&format!("{name}.latent"));
        let file = persist::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(file.kind, kind, "{name}");
        assert!(file.status.is_none(), "{name}: {:?}", file.status);
        let mut x = data(csv);
        file.preprocess.apply(&mut x, &path).unwrap();
        let codes = file.model.features(&x, Par::All).unwrap();
        let expected = npy::read_matrix(fixture(&format!("{name}.encode.npy"))).unwrap();
        assert_eq!(codes.shape(), expected.shape(), "{name}");
        if exact {
            assert_eq!(bits(&codes), bits(&expected), "{name}: encode differs");
        } else {
            for (a, b) in codes.as_slice().iter().zip(expected.as_slice()) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{name}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn preprocessing_is_read_back() {
    let file = persist::load(&fixture("gaussian.latent")).unwrap();
    let Preprocess::Standardize(s) = &file.preprocess else {
        panic!("{:?}", file.preprocess)
    };
    assert_eq!(s.mean.len(), 6);
    let file = persist::load(&fixture("ae_contractive.latent")).unwrap();
    assert_eq!(
        file.preprocess,
        Preprocess::Binarize {
            lo: 0.0,
            hi: 1.0,
            threshold: 0.5
        }
    );
}

#[test]
fn a_loaded_file_saves_back_to_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("latent-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, _, _) in FIXTURES {
        let path = fixture(&format!("{name}.latent"));
        let file = persist::load(&path).unwrap();
        let out = dir.join(format!("{name}.latent"));
        file.save(&out).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&path).unwrap(),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `from_bytes` is `load` without the file system: every fixture's bytes
/// give the file's model (the same checkpoint, preprocessing and features,
/// bit for bit), and its errors name the source it is given as `load`'s
/// name the path, from the checkpoint's framing to the model's lines.
#[test]
fn a_file_read_from_its_bytes_is_the_file_loaded() {
    let source = Path::new("the pickled model");
    for (name, kind, csv) in FIXTURES {
        let path = fixture(&format!("{name}.latent"));
        let bytes = std::fs::read(&path).unwrap();
        let file = persist::from_bytes(&bytes, source).unwrap_or_else(|e| panic!("{name}: {e}"));
        let loaded = persist::load(&path).unwrap();
        assert_eq!(file.kind, kind, "{name}");
        assert_eq!(file.checkpoint.to_bytes(), bytes, "{name}");
        assert_eq!(file.preprocess, loaded.preprocess, "{name}");
        assert_eq!(file.status, loaded.status, "{name}");
        let mut x = data(csv);
        file.preprocess.apply(&mut x, &path).unwrap();
        let (a, b) = (
            file.model.features(&x, Par::All),
            loaded.model.features(&x, Par::All),
        );
        assert_eq!(bits(&a.unwrap()), bits(&b.unwrap()), "{name}");
    }
    let from = |ck: &Checkpoint| persist::from_bytes(&ck.to_bytes(), source).map(|_| ());
    let e = persist::from_bytes(b"LATENTCK but not really", source).map(|_| ());
    let e = e.unwrap_err().to_string();
    assert!(e.contains("the pickled model"), "{e}");
    let mut ck = Checkpoint::load(fixture("rbm.latent")).unwrap();
    ck.hyperparameters = ck.hyperparameters.replacen("cd_k=2", "cd_k=two", 1);
    let e = from(&ck).unwrap_err().to_string();
    assert!(e.contains("the pickled model") && e.contains("cd_k"), "{e}");
    ck.model_kind = "boltzmann".into();
    let e = persist::from_checkpoint(ck, source)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("the pickled model: model kind"), "{e}");
}

/// Writes the checkpoint of `name` with its text edited by `edit`, and
/// returns the error loading it gives.
fn load_edited(name: &str, edit: impl Fn(&mut Checkpoint)) -> String {
    let mut ck = Checkpoint::load(fixture(&format!("{name}.latent"))).unwrap();
    edit(&mut ck);
    // A name of its own per call: the tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "latent-persist-bad-{}-{name}-{call}.latent",
        std::process::id(),
    ));
    ck.save(&path).unwrap();
    let e = persist::load(&path).map(|_| ()).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(e.contains(&*path.to_string_lossy()), "{e}");
    e
}

#[test]
fn a_bad_value_in_a_file_is_an_error_naming_the_key() {
    let replace = |from: &'static str, to: &'static str| {
        move |ck: &mut Checkpoint| {
            assert!(ck.hyperparameters.contains(from), "{}", ck.hyperparameters);
            ck.hyperparameters = ck.hyperparameters.replacen(from, to, 1);
        }
    };
    for (name, from, to, key) in [
        ("rbm", "cd_k=2", "cd_k=two", "cd_k"),
        ("rbm", "persistent=true", "persistent=yes", "persistent"),
        ("rbm", "n_hidden=8", "n_hidden=17", "n_hidden"),
        ("rbm", "cost=0.1", "cost=lots", "cost"),
        (
            "rbm",
            "learn_sigma=false",
            "learn_sigma=false colour=blue",
            "colour",
        ),
        (
            "dbn",
            "layer1: visible=bernoulli",
            "layer1: visible=gaussian",
            "visible",
        ),
        ("dbn", "bottom=bernoulli", "bottom=poisson", "bottom"),
        (
            "gaussian",
            "preprocess: standardize",
            "preprocess: standardize 2",
            "preprocessing",
        ),
        (
            "ae_contractive",
            "binarize 0 1 0.5",
            "binarize 0 1 x",
            "preprocessing",
        ),
        (
            "deep_ae_rbm",
            "epochs=1 phase",
            "epochs=one phase",
            "epochs",
        ),
        (
            "deep_ae_rbm",
            "phase=finetune",
            "phase=done",
            "pretrain line",
        ),
        ("ae", "tied=true", "tied=maybe", "tied"),
    ] {
        let e = load_edited(name, replace(from, to));
        assert!(e.contains(key), "{name} {to}: {e}");
    }
    let e = load_edited("rbm", |ck| ck.model_kind = "boltzmann".into());
    assert!(e.contains("model kind") && e.contains("boltzmann"), "{e}");
}

/// `ln p(v)` of a Gaussian-Bernoulli RBM (MODELS.md 2.2) averaged over the
/// rows of `x`, in f64, by enumerating the hidden states: with `u = W h`,
/// `ln Z = ln Σ_h exp(cᵀh + Σ_i (b_i u_i/σ_i + u_i²/2)) + Σ_i ln(√(2π) σ_i)`,
/// and `ln p(v) = −F(v) − ln Z`.
fn gaussian_rbm_log_likelihood(w: &[f32], b: &[f32], c: &[f32], sigma: &[f32], x: &Matrix) -> f64 {
    let (v, h) = (b.len(), c.len());
    let wij = |i: usize, j: usize| w[i * h + j] as f64;
    let mut terms = Vec::new();
    for state in 0..1usize << h {
        let on = |j: usize| (state >> j) & 1 == 1;
        let mut t: f64 = (0..h).filter(|&j| on(j)).map(|j| c[j] as f64).sum();
        for i in 0..v {
            let u: f64 = (0..h).filter(|&j| on(j)).map(|j| wij(i, j)).sum();
            t += b[i] as f64 * u / sigma[i] as f64 + u * u / 2.0;
        }
        terms.push(t);
    }
    let top = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let log_z = top
        + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
        + sigma
            .iter()
            .map(|&s| (2.0 * std::f64::consts::PI).sqrt().ln() + (s as f64).ln())
            .sum::<f64>();
    let mut total = 0.0;
    for r in 0..x.rows() {
        let row = x.row(r);
        let mut f: f64 = (0..v)
            .map(|i| {
                let d = (row[i] - b[i]) as f64;
                d * d / (2.0 * (sigma[i] as f64).powi(2))
            })
            .sum();
        for (j, &cj) in c.iter().enumerate() {
            let a = cj as f64
                + (0..v)
                    .map(|i| wij(i, j) * row[i] as f64 / sigma[i] as f64)
                    .sum::<f64>();
            f -= if a > 0.0 {
                a + (-a).exp().ln_1p()
            } else {
                a.exp().ln_1p()
            };
        }
        total += -f - log_z;
    }
    total / x.rows() as f64
}

#[test]
fn evaluate_uses_the_learned_sigma() {
    let path = fixture("gaussian_sigma.latent");
    let file = persist::load(&path).unwrap();
    let rbm = file.model.as_rbm().unwrap();
    assert!(rbm.config().learn_sigma);
    let sigma = rbm.sigma();
    assert!(
        sigma.iter().any(|s| (s - 1.0).abs() > 1e-3),
        "the fixture's σ must differ from 1: {sigma:?}"
    );
    let mut x = data("real6.csv");
    file.preprocess.apply(&mut x, &path).unwrap();
    let opts = EvalOptions {
        ais: None,
        bound_samples: 10,
        iw_samples: 1,
        seed: 0,
    };
    let e = file.model.evaluate(&x, &opts, Par::All).unwrap();
    let (_, ll) = e.exact.unwrap();
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let reference = gaussian_rbm_log_likelihood(w, b, c, &sigma, &x);
    assert!(
        (ll - reference).abs() < 1e-4 * reference.abs().max(1.0),
        "{ll} vs {reference}"
    );
    // What latent printed before the fix is the same model with σ = 1.
    let old: f64 = std::fs::read_to_string(fixture("gaussian_sigma.eval-bb685a8.json"))
        .unwrap()
        .split("\"log_likelihood_exact\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let ones = vec![1.0f32; sigma.len()];
    let with_ones = gaussian_rbm_log_likelihood(w, b, c, &ones, &x);
    assert!(
        (old - with_ones).abs() < 1e-4 * with_ones.abs(),
        "{old} vs {with_ones}"
    );
    assert!(
        (old - ll).abs() > 1e-2,
        "the fix changed nothing: {old} vs {ll}"
    );
}

/// A file's PCD chains restored into an RBM that does not keep chains were
/// accepted, and a later step on a larger batch indexed past them (a
/// panic); it is an error naming the tensor.
#[test]
fn chains_do_not_resume_an_rbm_without_persistent_chains() {
    use latent_engine::train::{Model, TrainConfig, Trainer};
    let ck = Checkpoint::load(fixture("rbm.latent")).unwrap();
    assert!(ck.persistent.iter().any(|t| t.name == "pcd_chains"));
    let file = persist::load(&fixture("rbm.latent")).unwrap();
    let rbm = file.model.as_rbm().unwrap();
    let mut config = *rbm.config();
    config.persistent = false;
    let plain = latent_models::rbm::Rbm::new(config, 0).unwrap();
    let state = persist::resume_state(&ck, plain.kind());
    let mut trainer = Trainer::new(plain, TrainConfig::new(config.default_optimizer())).unwrap();
    let e = trainer.restore(&state).unwrap_err().to_string();
    assert!(e.contains("pcd_chains"), "{e}");
    let persistent = latent_models::rbm::Rbm::new(*rbm.config(), 0).unwrap();
    let mut trainer =
        Trainer::new(persistent, TrainConfig::new(config.default_optimizer())).unwrap();
    trainer.restore(&state).unwrap();
}

#[test]
fn a_non_finite_parameter_is_an_error_naming_the_tensor() {
    for (name, tensor, value) in [("rbm", "W", f32::NAN), ("vae", "bmu", f32::INFINITY)] {
        let e = load_edited(name, |ck| {
            let t = ck.params.get_mut(tensor).unwrap();
            t.as_mut_slice()[1] = value;
        });
        assert!(e.contains(&format!("tensor {tensor} at")), "{e}");
    }
    let e = load_edited("gaussian", |ck| {
        let t = ck
            .persistent
            .iter_mut()
            .find(|t| t.name == "preprocess.std")
            .unwrap();
        t.value.as_mut_slice()[0] = f32::NAN;
    });
    assert!(e.contains("preprocess.std"), "{e}");
}

/// Data on another scale than the model's (0-255 pixels for an RBM trained
/// on [0, 1] without preprocessing) is an error naming the value, not a
/// reconstruction error of millions.
#[test]
fn data_outside_the_models_input_range_is_an_error() {
    for name in ["rbm", "ae", "vae", "dbn"] {
        let path = fixture(&format!("{name}.latent"));
        let file = persist::load(&path).unwrap();
        let mut x = data("binary16.csv");
        file.prepare(&mut x, &path).unwrap();
        let mut bytes = data("binary16.csv");
        bytes.as_mut_slice().iter_mut().for_each(|v| *v *= 255.0);
        let e = file.prepare(&mut bytes, &path).unwrap_err().to_string();
        assert!(e.contains("255") && e.contains("[0, 1]"), "{name}: {e}");
    }
    // Real-valued models take any value.
    let path = fixture("ae_deep.latent");
    let file = persist::load(&path).unwrap();
    let mut x = data("real6.csv");
    file.prepare(&mut x, &path).unwrap();
}

/// The `train:` line's `precision=` sets the loaded model's precision
/// (absent: f32, as in every fixture); a value other than f32 or bf16 is
/// an error naming the file and the key.
#[test]
fn the_train_lines_precision_is_read_back() {
    for (name, _, _) in FIXTURES {
        let file = persist::load(&fixture(&format!("{name}.latent"))).unwrap();
        assert_eq!(file.model.precision(), Precision::F32, "{name}");
    }
    let add = |value: &'static str| {
        move |ck: &mut Checkpoint| {
            let at = ck.hyperparameters.find("\npreprocess:").unwrap();
            ck.hyperparameters
                .insert_str(at, &format!(" precision={value}"));
        }
    };
    for name in ["rbm", "dbn", "vae", "deep_ae_rbm", "ae"] {
        let e = load_edited(name, add("f16"));
        assert!(e.contains("precision") && e.contains("f16"), "{name}: {e}");
    }
    let mut ck = Checkpoint::load(fixture("dbn.latent")).unwrap();
    add("bf16")(&mut ck);
    let path =
        std::env::temp_dir().join(format!("latent-persist-bf16-{}.latent", std::process::id()));
    ck.save(&path).unwrap();
    let file = persist::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(file.model.precision(), Precision::Bf16);
    let AnyModel::Dbn(dbn) = &file.model else {
        panic!("a dbn")
    };
    assert!(
        dbn.layers()
            .iter()
            .all(|l| l.precision() == Precision::Bf16)
    );
}
