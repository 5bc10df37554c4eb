//! The staged kinds (and PSD) on ranks, through the library's runs with
//! the run's reducer ([`Run::reducer`], handed to every stage): those
//! whose every stage is deterministic (a deep autoencoder and a classifier
//! pretrained as autoencoders or not at all, PSD) train on 2 and 3 ranks
//! the model of a run alone up to float rounding, with the classifier's
//! validation and early stopping the same on every rank; those with
//! sampling stages (a DBN with PCD, a DBM pretrained then trained jointly,
//! a deep autoencoder and a classifier pretrained as RBMs) give the same
//! bits on every rank, repeat and thread count, and on one rank those of a
//! run alone.

use std::path::{Path, PathBuf};

use latent_engine::train::{Control, EpochProgress, GradientReducer, LocalReducer, Observer};
use latent_engine::{Checkpoint, Dataset};
use latent_kernels::Activation;
use latent_models::ae::AeConfig;
use latent_models::dbm::DbmConfig;
use latent_models::persist::{
    ClassifierPretrain, ClassifierSpec, DeepAeSpec, Kind, Preprocess, Pretrain, Validation,
};
use latent_models::psd::{Psd, PsdConfig};
use latent_models::rbm::RbmConfig;
use latent_models::train::{
    ClassifierPlan, DbmPlan, DbmPretrain, DbnPlan, DbnResume, DeepAePlan, Run, RunObserver,
    Settings, SettingsOverrides, Silent, train_classifier, train_dbm, train_dbn, train_deep_ae,
    train_psd,
};

use crate::{data, on_ranks};

/// Worst |a - b| / max(1, |b|) tolerated between N ranks and one process
/// for the deterministic kinds, 3 epochs (1 of pretraining per layer):
/// measured on 2 and 3 ranks 6.0e-8 (deep-ae, ae pretraining), 2.4e-7 and
/// 1.8e-7 (classifier, ae pretraining), 3.0e-8 (classifier, none).
const TOL: f32 = 1e-6;

/// PSD's: its codes come from FISTA, which stops a row when its codes
/// move less than a tolerance, so float rounding of the dictionary can
/// change a row's iteration count and its codes by more than rounding;
/// measured 4.5e-7 (2 ranks) and 2.1e-7 (3 ranks) here, 9.1e-7 on 2 ranks
/// in ci/mpi-test.sh.
const PSD_TOL: f32 = 1e-5;

/// A run of a kind: trains on the data in `run` (its file kept).
type Train = fn(&mut Run<'_>, &Dataset) -> latent_models::Result<()>;

/// The data with a label in 0..3 per row (the classifier's).
fn labelled() -> Dataset {
    let d = data();
    let labels = (0..d.len())
        .map(|i| (d.x.row(i)[..6].iter().sum::<f32>() as u32) % 3)
        .collect();
    Dataset::new(d.x, Some(labels)).unwrap()
}

fn settings(kind: Kind) -> Settings {
    let flags = SettingsOverrides {
        epochs: Some(3),
        batch: Some(50),
        seed: Some(9),
        ..Default::default()
    };
    Settings::resolve(kind, &flags, None).unwrap()
}

/// What a rank's run keeps: its file's parameters and persistent state,
/// and the validation metric of each epoch of its history.
struct Kept {
    values: Vec<f32>,
    valid: Vec<Option<f64>>,
}

fn kept(ck: &Checkpoint) -> Kept {
    let all = ck.params.tensors().iter().chain(&ck.persistent);
    Kept {
        values: all.flat_map(|t| t.value.as_slice().to_vec()).collect(),
        valid: ck.history.iter().map(|h| h.valid_metric).collect(),
    }
}

/// `train` of `kind` on each of `ranks` ranks with `threads` threads, or
/// alone: the file each keeps.
fn run_on(kind: Kind, train: Train, (ranks, threads): (Option<usize>, usize)) -> Vec<Kept> {
    let ds = if kind == Kind::Classifier {
        labelled()
    } else {
        data()
    };
    let s = settings(kind);
    on_ranks(ranks, threads, |reducer: Option<LocalReducer>| {
        let (none, mut silent) = (Preprocess::None, Silent);
        let mut run = Run::in_memory(&s, &none, &mut silent);
        run.reducer = reducer.map(|r| Box::new(r) as Box<dyn GradientReducer>);
        train(&mut run, &ds).unwrap();
        kept(&run.kept.take().expect("a run in memory keeps its file"))
    })
}

fn ae(sizes: &[usize]) -> AeConfig {
    AeConfig::new(sizes, Activation::Sigmoid)
}

fn deep_ae(pretrain: Pretrain) -> DeepAePlan {
    let spec = DeepAeSpec {
        config: ae(&[30, 12, 6]),
        pretrain,
        pretrain_epochs: 1,
        pretrain_optimizer: None,
    };
    DeepAePlan { spec, resume: None }
}

fn classifier(pretrain: ClassifierPretrain) -> ClassifierPlan {
    let spec = ClassifierSpec {
        sizes: vec![30, 12],
        activations: vec![Activation::Sigmoid],
        classes: 3,
        pretrain,
        pretrain_epochs: 1,
        pretrain_lr: 0.1,
        validation: Validation::Fraction(0.2),
        patience: Some(1),
    };
    ClassifierPlan { spec, resume: None }
}

fn deep_ae_ae(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    train_deep_ae(run, deep_ae(Pretrain::Ae(ae(&[30, 12]))), (d, None)).map(drop)
}

fn deep_ae_rbm(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    let pretrain = Pretrain::Rbm(RbmConfig::bernoulli(30, 12));
    train_deep_ae(run, deep_ae(pretrain), (d, None)).map(drop)
}

fn classifier_ae(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    let plan = classifier(ClassifierPretrain::Ae(ae(&[30, 12])));
    train_classifier(run, plan, (d, None)).map(drop)
}

fn classifier_none(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    train_classifier(run, classifier(ClassifierPretrain::None), (d, None)).map(drop)
}

fn classifier_pcd(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    let rbm = RbmConfig {
        persistent: true,
        ..RbmConfig::bernoulli(30, 12)
    };
    let plan = classifier(ClassifierPretrain::Rbm(rbm));
    train_classifier(run, plan, (d, None)).map(drop)
}

fn psd(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    let model = Psd::new(PsdConfig::new(30, 12), run.settings.seed)?;
    train_psd(run, (model, None), "psd", (d, None)).map(drop)
}

fn dbn_pcd(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    train_dbn(run, dbn_plan(), (d, None)).map(drop)
}

fn dbm_pretrained(run: &mut Run<'_>, d: &Dataset) -> latent_models::Result<()> {
    let plan = DbmPlan {
        config: DbmConfig::bernoulli(&[30, 12, 8]),
        pretrain: Some(DbmPretrain::new(1)),
        resume: None,
    };
    train_dbm(run, plan, (d, None)).map(drop)
}

/// Worst |a - b| / max(1, |b|).
fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    (a.iter().zip(b))
        .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f32, f32::max)
}

fn bits(k: &Kept) -> Vec<u32> {
    k.values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn deterministic_stages_on_n_ranks_train_the_model_of_one_process() {
    let kinds: [(&str, Kind, Train, f32); 4] = [
        ("deep-ae (ae)", Kind::DeepAe, deep_ae_ae, TOL),
        ("classifier (ae)", Kind::Classifier, classifier_ae, TOL),
        ("classifier (none)", Kind::Classifier, classifier_none, TOL),
        ("psd", Kind::Psd, psd, PSD_TOL),
    ];
    for (what, kind, train, tol) in kinds {
        let alone = run_on(kind, train, (None, 1)).remove(0);
        for ranks in [2, 3] {
            let all = run_on(kind, train, (Some(ranks), 1));
            assert!(
                all.iter().all(|r| bits(r) == bits(&all[0])),
                "{what}, {ranks} ranks differ"
            );
            // Validation and early stopping: the same on every rank, and
            // the epochs of a run alone.
            assert!(all.iter().all(|r| r.valid == all[0].valid), "{what}");
            assert_eq!(all[0].valid.len(), alone.valid.len(), "{what}: epochs");
            let w = worst(&all[0].values, &alone.values);
            eprintln!("{what}, {ranks} ranks: worst {w:e}");
            assert!(w <= tol, "{what}, {ranks} ranks: worst {w:e}");
            assert!(
                bits(&all[0]) != bits(&alone),
                "{what}: the sums' order differs"
            );
        }
    }
}

#[test]
fn sampling_stages_give_the_same_bits_on_every_rank_repeat_and_thread_count() {
    let kinds: [(&str, Kind, Train); 4] = [
        ("dbn (pcd)", Kind::Dbn, dbn_pcd),
        ("dbm (pretrained)", Kind::Dbm, dbm_pretrained),
        ("deep-ae (rbm)", Kind::DeepAe, deep_ae_rbm),
        ("classifier (rbm, pcd)", Kind::Classifier, classifier_pcd),
    ];
    for (what, kind, train) in kinds {
        let first = run_on(kind, train, (Some(2), 1));
        assert!(bits(&first[0]) == bits(&first[1]), "{what}: ranks differ");
        for threads in [1, 2] {
            let again = run_on(kind, train, (Some(2), threads));
            assert!(
                bits(&again[0]) == bits(&first[0]),
                "{what}: {threads} thread(s)"
            );
        }
        let one = run_on(kind, train, (Some(1), 1)).remove(0);
        let alone = run_on(kind, train, (None, 1)).remove(0);
        assert!(bits(&one) == bits(&alone), "{what}: one rank");
        assert!(
            bits(&first[0]) != bits(&alone),
            "{what}: rank 1 samples its own stream"
        );
    }
}

/// Rank 0's observer: copies the model file to `to` (when given) as layer
/// 1's second epoch ends, before it is written again (the file then holds
/// layer 1 after one epoch, layer 0 done).
struct CopyMidway {
    layer: Option<usize>,
    from: PathBuf,
    to: Option<PathBuf>,
}

impl Observer for CopyMidway {
    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> Control {
        if let Some(to) = &self.to
            && self.layer == Some(1)
            && p.record.epoch == 1
        {
            std::fs::copy(&self.from, to).unwrap();
        }
        Control::Continue
    }
}

impl RunObserver for CopyMidway {
    fn stage(&mut self, _: &str, layer: Option<usize>) {
        self.layer = layer;
    }
}

/// A DBN with PCD on 2 ranks (files every epoch), `resume`d from a file
/// when given; rank 0 writes `out` (copying it midway to `mid` when
/// given). Rank 0's file as written.
fn dbn_on_2(out: &Path, mid: Option<&Path>, resume: Option<&Path>) -> Vec<f32> {
    let (ds, s) = (data(), settings(Kind::Dbn));
    on_ranks(Some(2), 1, |reducer: Option<LocalReducer>| {
        let r = reducer.expect("a rank");
        let rank = r.rank();
        let none = Preprocess::None;
        let mut copy = CopyMidway {
            layer: None,
            from: out.to_path_buf(),
            to: mid.map(Path::to_path_buf),
        };
        let mut silent = Silent;
        let mut run = match rank {
            0 => Run::new(out, &s, &none, &mut copy),
            _ => Run::in_memory(&s, &none, &mut silent),
        };
        run.checkpoint_every = Some(1);
        run.reducer = Some(Box::new(r));
        let resume = resume.map(|p| {
            let ck = Checkpoint::load(p).unwrap();
            DbnResume::from_checkpoint(&ck, p).unwrap()
        });
        let plan = DbnPlan {
            resume,
            ..dbn_plan()
        };
        train_dbn(&mut run, plan, (&ds, None)).unwrap();
        kept(&Checkpoint::load(out).unwrap()).values
    })
    .remove(0)
}

/// A DBN with PCD, its weights started large enough (σ 0.5) that its
/// chains do not all agree after a step whatever their states (with small
/// weights every chain's hidden probabilities are near σ(c), and chains
/// drawing the same random numbers coalesce at once).
fn dbn_plan() -> DbnPlan {
    DbnPlan {
        sizes: vec![30, 12, 8],
        layer: RbmConfig {
            persistent: true,
            init_std: 0.5,
            ..RbmConfig::bernoulli(1, 1)
        },
        resume: None,
    }
}

#[test]
fn a_dbn_resumed_on_as_many_ranks_continues_its_layer_and_chains_exactly() {
    let dir = std::env::temp_dir().join(format!("latent-dp-dbn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, mid, again) = (dir.join("a"), dir.join("mid"), dir.join("b"));
    let straight = dbn_on_2(&out, Some(&mid), None);
    let midway = Checkpoint::load(&mid).unwrap();
    assert_eq!(
        midway.epoch, 4,
        "layer 0 done (3 epochs), layer 1 after one"
    );
    assert!(!midway.persistent.is_empty(), "its chains");
    let resumed = dbn_on_2(&again, None, Some(&mid));
    assert!(resumed == straight, "resumed from midway");
    std::fs::remove_dir_all(&dir).unwrap();
}
