//! Training on synthetic sparse data: the prediction error falls, the
//! atoms stay unit norm; the same bits on 1 and 2 threads; a resumed run
//! continues exactly; the model file round trips.

use latent_engine::train::{Silent as Quiet, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, LrSchedule, Matrix};
use latent_kernels::Par;
use latent_models::model::{AnyModel, Inference, Score};
use latent_models::persist::{self, Kind, Preprocess};
use latent_models::psd::{EncoderKind, Psd, PsdConfig, UNIT_NORM_TOL};
use latent_models::train::{Run, Settings, SettingsOverrides, Silent, train_psd};
use latent_testkit::{TestRng, f32_bits};

/// `rows` rows `x = zD` over 16 random unit atoms in 24 dimensions, each
/// with 2 or 3 positive codes.
fn sparse_data(rows: usize) -> Matrix {
    sparse_data_of(rows, 24, 16)
}

/// `rows` rows `x = zD` over `k` random unit atoms in `v` dimensions.
fn sparse_data_of(rows: usize, v: usize, k: usize) -> Matrix {
    let mut rng = TestRng::new(77);
    let mut d: Vec<f32> = (0..k * v).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for atom in d.chunks_exact_mut(v) {
        let n = atom.iter().map(|a| a * a).sum::<f32>().sqrt();
        atom.iter_mut().for_each(|a| *a /= n);
    }
    let mut x = Matrix::zeros(rows, v).unwrap();
    for i in 0..rows {
        let active = 2 + (i % 2);
        for _ in 0..active {
            let a = (rng.uniform(0.0, 1.0) * k as f32) as usize % k;
            let c = rng.uniform(0.5, 1.5);
            for j in 0..v {
                x.row_mut(i)[j] += c * d[a * v + j];
            }
        }
    }
    x
}

fn config(encoder: EncoderKind) -> PsdConfig {
    let mut c = PsdConfig::new(24, 16);
    c.lambda = 0.05;
    c.alpha = 1.0;
    c.encoder = encoder;
    c.fista_iters = 60;
    c.fista_tol = 1e-4;
    c
}

fn settings(epochs: usize) -> Settings {
    let flags = SettingsOverrides {
        epochs: Some(epochs),
        batch: Some(50),
        lr: Some(0.01),
        seed: Some(3),
        ..Default::default()
    };
    Settings::resolve(Kind::Psd, &flags, None).unwrap()
}

fn atoms_are_unit(psd: &Psd) {
    let d = psd.dictionary();
    for (k, atom) in d.as_slice().chunks_exact(d.cols()).enumerate() {
        let sq: f64 = atom.iter().map(|&a| f64::from(a).powi(2)).sum();
        assert!(
            (sq - 1.0).abs() <= UNIT_NORM_TOL * 1.01,
            "atom {k}: |d|² = {sq}"
        );
    }
}

#[test]
fn the_prediction_error_falls_and_atoms_stay_unit_norm() {
    let data = Dataset::new(sparse_data(400), None).unwrap();
    for encoder in [EncoderKind::Tanh, EncoderKind::Shrink] {
        let s = settings(12);
        let (none, mut silent) = (Preprocess::None, Silent);
        let mut run = Run::in_memory(&s, &none, &mut silent);
        let psd = Psd::new(config(encoder), s.seed).unwrap();
        let (trainer, _) = train_psd(&mut run, (psd, None), "psd", (&data, None)).unwrap();
        let h = trainer.history();
        let pred = |e: usize| h[e].metrics.iter().find(|m| m.0 == "pred").unwrap().1;
        let (first, last) = (pred(0), pred(h.len() - 1));
        assert!(last < 0.5 * first, "{encoder}: pred {first} -> {last}");
        assert!(
            h[h.len() - 1].train_loss < h[0].train_loss,
            "{encoder}: energy"
        );
        let ck = run.kept.take().unwrap();
        let file = persist::from_checkpoint(ck, "memory".as_ref()).unwrap();
        let AnyModel::Psd(loaded) = &file.model else {
            panic!("not psd")
        };
        atoms_are_unit(loaded);
    }
}

fn train_threads(threads: usize) -> Vec<u32> {
    // Wide enough that the products split their work between threads.
    let x = Dataset::new(sparse_data_of(600, 256, 160), None).unwrap();
    let mut c = config(EncoderKind::Tanh);
    (c.n_visible, c.codes, c.fista_iters) = (256, 192, 20);
    let psd = Psd::new(c, 5).unwrap();
    let s = settings(2);
    let mut opt = s.optimizer_config();
    opt.lr = LrSchedule::constant(0.01);
    let mut tc = TrainConfig::new(opt);
    tc.epochs = 2;
    tc.batch_size = 300;
    tc.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(psd, tc).unwrap();
    trainer.fit(&x, None, &mut Quiet).unwrap();
    trainer
        .model()
        .params()
        .tensors()
        .iter()
        .flat_map(|t| f32_bits(t.value.as_slice()))
        .collect()
}

#[test]
fn training_gives_the_same_bits_on_one_and_two_threads() {
    assert!(
        train_threads(1) == train_threads(2),
        "2 threads differ from 1"
    );
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("psd-{name}-{}.latent", std::process::id()))
}

fn run_to(out: &std::path::Path, epochs: usize, resume: Option<&std::path::Path>) -> Psd {
    let x = Dataset::new(sparse_data(120), None).unwrap();
    let s = settings(epochs);
    let (none, mut silent) = (Preprocess::None, Silent);
    let mut run = Run::new(out, &s, &none, &mut silent);
    let start = match resume {
        Some(path) => {
            let file = persist::load(path).unwrap();
            let state = persist::resume_state(&file.checkpoint, "psd");
            let AnyModel::Psd(psd) = file.model else {
                panic!("not psd")
            };
            (*psd, Some(state))
        }
        None => (Psd::new(config(EncoderKind::Shrink), s.seed).unwrap(), None),
    };
    let (trainer, _) = train_psd(&mut run, start, "psd", (&x, None)).unwrap();
    let mut psd = trainer.into_model();
    psd.project();
    psd
}

fn bits(psd: &Psd) -> Vec<u32> {
    psd.params()
        .tensors()
        .iter()
        .flat_map(|t| f32_bits(t.value.as_slice()))
        .collect()
}

#[test]
fn a_resumed_run_continues_exactly_and_the_file_round_trips() {
    let (whole, half) = (temp("whole"), temp("half"));
    let straight = run_to(&whole, 4, None);
    run_to(&half, 2, None);
    let resumed = run_to(&half, 4, Some(&half));
    assert!(bits(&straight) == bits(&resumed), "the resumed run differs");

    let file = persist::load(&whole).unwrap();
    assert_eq!(file.kind, Kind::Psd);
    assert!(file.status.is_none());
    let AnyModel::Psd(loaded) = &file.model else {
        panic!("not psd")
    };
    assert_eq!(loaded.config(), straight.config());
    assert!(bits(loaded) == bits(&straight));
    let x = sparse_data(30);
    let fast = file.model.features(&x, Par::All).unwrap();
    assert_eq!(
        f32_bits(fast.as_slice()),
        f32_bits(straight.features(&x, Par::All).unwrap().as_slice())
    );
    assert_eq!(fast.shape(), (30, 16));
    let e = file.model.scores(&x, Score::Energy, 0, Par::All).unwrap();
    assert!(e.iter().all(|v| v.is_finite() && *v > 0.0));
    assert_eq!(file.model.supported_scores()[0], Score::Energy);
    std::fs::remove_file(&whole).ok();
    std::fs::remove_file(&half).ok();
}
