//! Resumption, determinism across thread counts and early stopping of
//! [`train_classifier`](latent_models::train::train_classifier), on a small
//! labelled data set of noisy binary prototypes.

use std::path::{Path, PathBuf};

use latent_engine::train::{Control, EpochProgress, Observer};
use latent_engine::{Checkpoint, Dataset, Matrix, Par};
use latent_models::persist::{self, ClassifierPretrain, Kind, Preprocess, Validation};
use latent_models::train::{
    ClassifierPlan, ClassifierResume, Run, RunObserver, Silent, train_classifier,
};
use latent_testkit::TestRng;

use super::{settings, spec, tensor_bits, train};

/// `n` rows of 16 binary features: one of 3 prototypes with 15 % of its
/// bits flipped, labelled with the prototype.
fn prototypes(n: usize, seed: u64) -> Dataset {
    let mut rng = TestRng::new(seed);
    let protos: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..16).map(|_| (rng.next_u64() % 2) as f32).collect())
        .collect();
    let mut x = Matrix::zeros(n, 16).unwrap();
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let y = (rng.next_u64() % 3) as usize;
        for (j, v) in x.as_mut_slice()[i * 16..(i + 1) * 16]
            .iter_mut()
            .enumerate()
        {
            let flip = rng.uniform(0.0, 1.0) < 0.15;
            *v = if flip {
                1.0 - protos[y][j]
            } else {
                protos[y][j]
            };
        }
        labels.push(y as u32);
    }
    Dataset::new(x, Some(labels)).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latent-clf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copies the run's file to `copy` when the stage `stage` reports its
/// epoch `epoch` (from 0): the file then holds the state after the epoch
/// before it (written every epoch), as a run killed there would leave it.
struct CopyAt<'a> {
    out: &'a Path,
    copy: &'a Path,
    stage: &'a str,
    epoch: u64,
    current: String,
}

impl Observer for CopyAt<'_> {
    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> Control {
        if self.current.contains(self.stage) && p.record.epoch == self.epoch {
            std::fs::copy(self.out, self.copy).unwrap();
        }
        Control::Continue
    }
}

impl RunObserver for CopyAt<'_> {
    fn stage(&mut self, label: &str, _layer: Option<usize>) {
        self.current = label.to_string();
    }
}

/// A run writing `out` every epoch, copying it at (`stage`, `epoch`).
fn run_to_file(
    plan: ClassifierPlan,
    data: &Dataset,
    out: &Path,
    copy_at: Option<(&str, u64, &Path)>,
) -> Checkpoint {
    let s = settings(6, 20, Some(0.01));
    let none = Preprocess::None;
    let (stage, epoch, copy) = copy_at.unwrap_or(("never", 0, out));
    let mut obs = CopyAt {
        out,
        copy,
        stage,
        epoch,
        current: String::new(),
    };
    let mut run = Run::new(out, &s, &none, &mut obs);
    run.checkpoint_every = Some(1);
    train_classifier(&mut run, plan, (data, None)).unwrap();
    Checkpoint::load(out).unwrap()
}

/// The plan of a resume from the file at `path`.
fn resume_plan(path: &Path) -> ClassifierPlan {
    let m = persist::load(path).unwrap();
    assert_eq!(m.kind, Kind::Classifier);
    let (spec, state, _) = persist::classifier_state(&m.checkpoint, path).unwrap();
    let resume = ClassifierResume::new(&m.checkpoint, state).unwrap();
    ClassifierPlan {
        spec,
        resume: Some(resume),
    }
}

#[test]
fn a_resumed_run_continues_exactly_from_pretraining_and_from_fine_tuning() {
    let data = prototypes(200, 1);
    let d = scratch("resume");
    let mut s = spec(&[16, 8, 6], 3, 3);
    s.validation = Validation::Fraction(0.25);
    let straight = run_to_file(
        ClassifierPlan {
            spec: s.clone(),
            resume: None,
        },
        &data,
        &d.join("a.latent"),
        None,
    );
    assert!(straight.persistent.iter().any(|t| t.name == "last.W1"));
    for (stage, epoch) in [("pretraining layer 1", 2), ("fine-tuning", 3)] {
        let (out, mid) = (d.join("b.latent"), d.join("mid.latent"));
        let plan = ClassifierPlan {
            spec: s.clone(),
            resume: None,
        };
        run_to_file(plan, &data, &out, Some((stage, epoch, &mid)));
        let resumed = run_to_file(resume_plan(&mid), &data, &d.join("c.latent"), None);
        assert_eq!(
            tensor_bits(&resumed),
            tensor_bits(&straight),
            "resumed in {stage} at epoch {epoch}"
        );
        assert_eq!(resumed.history.len(), straight.history.len(), "{stage}");
        assert_eq!(resumed.hyperparameters, straight.hyperparameters, "{stage}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn one_and_two_threads_give_the_same_bits() {
    let data = prototypes(150, 2);
    let valid = prototypes(60, 3);
    let mut bits = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for pretrain in ["rbm", "ae"] {
            let mut s = spec(&[16, 12, 8], 3, 2);
            if pretrain == "ae" {
                let t = latent_models::ae::AeConfig::new(
                    &[16, 12],
                    latent_kernels::Activation::Sigmoid,
                )
                .with_loss(latent_models::ae::Loss::CrossEntropy);
                s.pretrain = ClassifierPretrain::Ae(t);
            }
            s.validation = Validation::Data;
            let st = settings(3, 16, Some(0.01));
            let out = pool.install(|| train(s, &st, (&data, Some(&valid))));
            bits.push((threads, pretrain, tensor_bits(&out.checkpoint)));
        }
    }
    assert_eq!(bits[0].2, bits[2].2, "rbm-pretrained: 1 vs 2 threads");
    assert_eq!(bits[1].2, bits[3].2, "ae-pretrained: 1 vs 2 threads");
    assert_ne!(bits[0].2, bits[1].2, "rbm vs ae pretraining differ");
}

#[test]
fn early_stopping_keeps_the_best_epochs_parameters() {
    let data = prototypes(120, 4);
    let valid = prototypes(40, 5);
    let mut s = spec(&[16, 8], 3, 1);
    s.validation = Validation::Data;
    s.patience = Some(2);
    // A high rate so that the validation error stops falling early.
    let st = settings(40, 10, Some(0.05));
    let mut out = train(s.clone(), &st, (&data, Some(&valid)));
    let best = out.best_epoch.expect("validated");
    let stopped = out.finetune_epochs;
    assert!(stopped < 40, "no early stop in 40 epochs: {stopped}");
    assert_eq!(
        stopped,
        best + 3,
        "stopped {stopped} epochs in, best {best}"
    );
    let metrics: Vec<f64> = out.history.iter().filter_map(|r| r.valid_metric).collect();
    let lowest = metrics.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(metrics[best], lowest);
    let labels = valid.labels.as_deref().unwrap();
    let acc = out
        .classifier
        .accuracy(&valid.x, labels, 7, Par::All)
        .unwrap();
    assert_eq!(1.0 - acc, lowest, "the kept parameters' validation error");
    // The same run trained for exactly best + 1 epochs without validation
    // (validation changes nothing in training) ends at those parameters.
    let mut plain = s.clone();
    plain.validation = Validation::None;
    plain.patience = None;
    let st = settings(best + 1, 10, Some(0.05));
    let reference = train(plain, &st, (&data, None));
    assert_eq!(
        tensor_bits(&out.checkpoint)
            .into_iter()
            .filter(|(n, _)| !n.starts_with("last."))
            .collect::<Vec<_>>(),
        tensor_bits(&reference.checkpoint),
        "the best epoch's parameters are the model's"
    );
    assert!(
        out.checkpoint
            .hyperparameters
            .contains(&format!("early-stop: best_epoch={best}"))
    );
    // The file says the run is finished.
    let bytes = out.checkpoint.to_bytes();
    let m = persist::from_bytes(&bytes, Path::new("mem")).unwrap();
    assert_eq!(m.status, None);
}

#[test]
fn labels_out_of_range_and_missing_are_errors_naming_them() {
    let data = prototypes(30, 6);
    let st = settings(1, 10, None);
    let none = Preprocess::None;
    let mut silent = Silent;
    let mut run = Run::in_memory(&st, &none, &mut silent);
    let plan = ClassifierPlan {
        spec: spec(&[16, 4], 2, 1),
        resume: None,
    };
    let e = train_classifier(&mut run, plan, (&data, None)).unwrap_err();
    assert!(e.to_string().contains("label of sample"), "{e}");
    assert!(e.to_string().contains("found 2"), "{e}");
    let unlabelled = Dataset::new(data.x.clone(), None).unwrap();
    let plan = ClassifierPlan {
        spec: spec(&[16, 4], 3, 1),
        resume: None,
    };
    let mut run = Run::in_memory(&st, &none, &mut silent);
    let e = train_classifier(&mut run, plan, (&unlabelled, None)).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
}
