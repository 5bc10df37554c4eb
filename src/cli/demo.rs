//! `latent demo`: the whole job on data the program draws itself.
//!
//! 1. **Bars and stripes 4x4** (30 distinct binary patterns, each with
//!    probability 1/30, so the best possible average log-likelihood is
//!    `-ln 30`): a 16-32 RBM trained with CD-10; the exact log-likelihood
//!    (enumerating `2^16` states) before and after, next to the optimum, and
//!    an AIS estimate of `ln Z` with its ±3σ interval next to the exact one.
//! 2. **Drawn digits** (16x16, seven-segment digits with random position,
//!    size, slant and stroke width): an RBM with CD-1 (reconstruction error
//!    and pseudo-log-likelihood before and after, filters, reconstructions,
//!    samples) and a two-layer DBN (features, samples).
//! 3. **A denoising autoencoder** on the same digits (256-64, a quarter of
//!    the pixels masked, cross-entropy, Adam): reconstruction error before
//!    and after, from clean and from corrupted inputs, and a picture of
//!    digits, their corrupted copies and the reconstructions.
//!
//! Pictures go to the output folder (`latent-demo-out/` by default).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use latent_engine::train::{Observer, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, OptimizerConfig, Par, Rng};
use latent_kernels::activation::Activation;
use latent_models::ae::{AeConfig, Autoencoder, Loss, Noise};
use latent_models::dbn::{Dbn, Propagate};
use latent_models::eval::{
    AisConfig, RbmParams, ais_log_z, base_rate_visible_bias, exact_average_log_likelihood,
    exact_log_z, piecewise_linear_betas, pseudo_log_likelihood,
};
use latent_models::rbm::{Rbm, RbmConfig, VisibleUnits};
use serde_json::{Value, json};

use crate::cli::error::Result;
use crate::cli::image::{self, Grid, Shade};
use crate::cli::io::create_dir;
use crate::cli::progress::{Display, Progress, json_f64};
use crate::cli::{Global, Report};

/// Flags of `latent demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the pictures (created if missing).
    #[arg(long, default_value = "latent-demo-out")]
    pub out: PathBuf,
    /// Seed of the data, the initial weights and every sampler.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A shorter run (fewer epochs, a shorter AIS schedule), for tests.
    #[arg(long)]
    pub quick: bool,
}

/// The 30 distinct 4x4 bars-and-stripes patterns, each `repeat` times.
pub fn bars_and_stripes(repeat: usize) -> Result<Matrix> {
    let mut patterns: Vec<[f32; 16]> = Vec::new();
    for mask in 0u32..16 {
        let mut rows = [0.0f32; 16];
        let mut cols = [0.0f32; 16];
        for i in 0..4 {
            for j in 0..4 {
                rows[i * 4 + j] = ((mask >> i) & 1) as f32;
                cols[i * 4 + j] = ((mask >> j) & 1) as f32;
            }
        }
        patterns.push(rows);
        if mask != 0 && mask != 15 {
            patterns.push(cols);
        }
    }
    debug_assert_eq!(patterns.len(), 30);
    let n = patterns.len();
    Ok(Matrix::from_fn(n * repeat, 16, |r, c| patterns[r % n][c])?)
}

/// Segments `a..g` of a seven-segment digit on a 1 x 2 box: `(x0, y0, x1, y1)`.
const SEGMENTS: [(f32, f32, f32, f32); 7] = [
    (0.0, 0.0, 1.0, 0.0), // a: top
    (1.0, 0.0, 1.0, 1.0), // b: upper right
    (1.0, 1.0, 1.0, 2.0), // c: lower right
    (0.0, 2.0, 1.0, 2.0), // d: bottom
    (0.0, 1.0, 0.0, 2.0), // e: lower left
    (0.0, 0.0, 0.0, 1.0), // f: upper left
    (0.0, 1.0, 1.0, 1.0), // g: middle
];

/// Which segments each digit lights (bits a..g).
const DIGITS: [u8; 10] = [
    0b0111111, 0b0000110, 0b1011011, 0b1001111, 0b1100110, 0b1101101, 0b1111101, 0b0000111,
    0b1111111, 0b1101111,
];

fn dist_to_segment(px: f32, py: f32, (x0, y0, x1, y1): (f32, f32, f32, f32)) -> f32 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (qx, qy) = (x0 + t * dx - px, y0 + t * dy - py);
    (qx * qx + qy * qy).sqrt()
}

/// `n` drawn digits, 16x16 pixels in `[0, 1]`, and their labels.
pub fn drawn_digits(n: usize, seed: u64) -> Result<Dataset> {
    const S: usize = 16;
    let mut rng = Rng::stream(seed, 0xD161_7500);
    let mut x = Matrix::zeros(n, S * S)?;
    let mut labels = Vec::with_capacity(n);
    for r in 0..n {
        let digit = (r % 10) as u32;
        labels.push(digit);
        let mut u = || rng.uniform_f32();
        let sx = 4.5 + 2.0 * u(); // box width in pixels
        let sy = 5.0 + 1.0 * u(); // half box height
        let slant = 0.25 * (u() - 0.5);
        let cx = 7.5 + 1.5 * (u() - 0.5);
        let cy = 7.5 + 1.5 * (u() - 0.5);
        let width = 0.7 + 0.6 * u();
        let segs: Vec<(f32, f32, f32, f32)> = SEGMENTS
            .iter()
            .enumerate()
            .filter(|(i, _)| DIGITS[digit as usize] >> i & 1 == 1)
            .map(|(_, &(x0, y0, x1, y1))| {
                let map = |x: f32, y: f32| {
                    let yy = cy + sy * (y - 1.0);
                    (cx + sx * (x - 0.5) - slant * (yy - cy), yy)
                };
                let (a, b) = map(x0, y0);
                let (c, d) = map(x1, y1);
                (a, b, c, d)
            })
            .collect();
        let row = x.row_mut(r);
        for i in 0..S {
            for j in 0..S {
                let d = segs
                    .iter()
                    .map(|&s| dist_to_segment(j as f32, i as f32, s))
                    .fold(f32::INFINITY, f32::min);
                row[i * S + j] = (width + 0.5 - d).clamp(0.0, 1.0);
            }
        }
    }
    Ok(Dataset::new(x, Some(labels))?)
}

fn train_rbm(
    rbm: Rbm,
    data: &Dataset,
    config: TrainConfig,
    observer: &mut (dyn Observer + Send),
) -> Result<(Rbm, f64)> {
    let start = Instant::now();
    let mut trainer = Trainer::new(rbm, config)?;
    trainer.fit(data, None, observer)?;
    Ok((trainer.into_model(), start.elapsed().as_secs_f64()))
}

fn params(rbm: &Rbm) -> RbmParams<'_> {
    RbmParams::bernoulli(
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    )
}

fn mean_pll(rbm: &Rbm, x: &Matrix) -> Result<f64> {
    let mut out = vec![0.0f32; x.rows()];
    pseudo_log_likelihood(&params(rbm), x.as_slice(), 7, &mut out, Par::All)?;
    Ok(out.iter().map(|&v| v as f64).sum::<f64>() / out.len().max(1) as f64)
}

/// Runs the demo.
pub fn run(args: &DemoArgs, g: &Global) -> Result<Report> {
    create_dir(&args.out)?;
    let display = Display::detect(g.quiet);
    let say = |s: String| {
        if !g.quiet && !g.json {
            crate::cli::print_line(s);
        }
    };
    let started = Instant::now();
    let q = args.quick;

    // 1. Bars and stripes: exact likelihoods.
    let bas = Dataset::new(bars_and_stripes(if q { 10 } else { 20 })?, None)?;
    let optimum = -(30f64.ln());
    let bas_hidden = if q { 16 } else { 32 };
    let mut config = RbmConfig::bernoulli(16, bas_hidden);
    config.cd_k = 10;
    config.init_std = 0.1;
    let mut rbm = Rbm::new(config, args.seed)?;
    rbm.init_visible_bias_from_data(&bas.x, Par::All)?;
    let ll_before = exact_average_log_likelihood(&params(&rbm), bas.x.as_slice(), Par::All)?;
    let mut tc = TrainConfig::new(OptimizerConfig::sgd_hinton(0.05, 1e-4));
    tc.epochs = if q { 200 } else { 600 };
    tc.batch_size = 20;
    tc.seed = args.seed;
    tc.threads = latent_engine::Threads::CallerPool;
    say(format!(
        "bars and stripes 4x4: 30 patterns x {} copies, RBM 16-{bas_hidden}, CD-10, {} epochs",
        bas.len() / 30,
        tc.epochs
    ));
    let mut obs = Progress::new(display, "bars-and-stripes", None);
    let (rbm, bas_secs) = train_rbm(rbm, &bas, tc, &mut obs)?;
    obs.finish();
    let p = params(&rbm);
    let log_z = exact_log_z(&p, Par::All)?;
    let ll_after = exact_average_log_likelihood(&p, bas.x.as_slice(), Par::All)?;
    let ais_cfg = AisConfig {
        betas: if q {
            piecewise_linear_betas(&[(0.5, 100), (0.9, 400), (1.0, 1000)])
        } else {
            piecewise_linear_betas(&[(0.5, 500), (0.9, 4000), (1.0, 10000)])
        },
        n_runs: if q { 48 } else { 100 },
        seed: args.seed,
        ..AisConfig::default()
    };
    let base = base_rate_visible_bias(&p, bas.x.as_slice())?;
    let ais = ais_log_z(&p, &base, &ais_cfg, Par::All)?;
    say(format!(
        "  exact log-likelihood per pattern: {ll_before:.3} before, {ll_after:.3} after (optimum -ln 30 = {optimum:.3}) [{bas_secs:.1} s]"
    ));
    say(format!(
        "  ln Z: exact {log_z:.3}, AIS {:.3} (±3σ [{:.3}, {:.3}], {} runs x {} temperatures)",
        ais.log_z,
        ais.log_z_minus_3sd,
        ais.log_z_plus_3sd,
        ais_cfg.n_runs,
        ais_cfg.betas.len()
    ));
    let bas_samples = rbm.sample(30, 200, args.seed ^ 0xB45, Par::All)?;
    image::save(
        &args.out.join("bas_samples.png"),
        &bas_samples,
        Grid {
            cols: 10,
            zoom: 8,
            ..Grid::auto(30, 4, 4, Shade::Unit)
        },
    )?;

    // 2. Drawn digits: features and pictures.
    let n = if q { 1000 } else { 3000 };
    let digits = drawn_digits(n, args.seed)?;
    let hidden = if q { 49 } else { 100 };
    let mut rbm = Rbm::new(RbmConfig::bernoulli(256, hidden), args.seed)?;
    rbm.init_visible_bias_from_data(&digits.x, Par::All)?;
    let recon_before = rbm.reconstruction_error(&digits.x, 3, Par::All)?;
    let pll_before = mean_pll(&rbm, &digits.x)?;
    let mut tc = TrainConfig::new(OptimizerConfig::sgd_hinton(0.1, 1e-4));
    tc.epochs = if q { 5 } else { 20 };
    tc.batch_size = 20;
    tc.seed = args.seed;
    tc.threads = latent_engine::Threads::CallerPool;
    say(format!(
        "drawn digits 16x16: {n} images, RBM 256-{hidden}, CD-1, {} epochs",
        tc.epochs
    ));
    let mut obs = Progress::new(display, "digits rbm", None);
    let (rbm, digit_secs) = train_rbm(rbm, &digits, tc, &mut obs)?;
    obs.finish();
    let recon_after = rbm.reconstruction_error(&digits.x, 3, Par::All)?;
    let pll_after = mean_pll(&rbm, &digits.x)?;
    say(format!(
        "  reconstruction error per image: {recon_before:.2} before, {recon_after:.2} after; pseudo-log-likelihood {pll_before:.1} -> {pll_after:.1} [{digit_secs:.1} s, {:.0} images/s]",
        (n * tc.epochs) as f64 / digit_secs.max(1e-9)
    ));
    let filters = image::filters_as_rows(rbm.weights(), hidden)?;
    image::save(
        &args.out.join("filters.png"),
        &filters,
        Grid::auto(hidden, 16, 16, Shade::PerTile),
    )?;
    let shown = 20;
    let mut recon = Matrix::zeros(shown, 256)?;
    let first = digits.x.slice_rows(0, shown)?;
    rbm.reconstruct(first.view(), recon.view_mut(), Par::All)?;
    image::save(
        &args.out.join("reconstructions.png"),
        &image::interleave(&first, &recon, shown)?,
        Grid {
            cols: 10,
            ..Grid::auto(2 * shown, 16, 16, Shade::Unit)
        },
    )?;
    let samples = rbm.sample(25, 500, args.seed ^ 0x5A, Par::All)?;
    image::save(
        &args.out.join("samples.png"),
        &samples,
        Grid::auto(25, 16, 16, Shade::Unit),
    )?;
    image::save(
        &args.out.join("data.png"),
        &digits.x.slice_rows(0, 40)?,
        Grid {
            cols: 10,
            ..Grid::auto(40, 16, 16, Shade::Unit)
        },
    )?;

    // 3. A small DBN on the same digits.
    let sizes = [256, hidden, 32];
    let mut dbn = Dbn::new(&sizes, VisibleUnits::Bernoulli, args.seed)?;
    let dbn_epochs = if q { 3 } else { 10 };
    say(format!(
        "deep belief net {}: greedy layer-wise CD-1, {dbn_epochs} epochs a layer",
        sizes.map(|s| s.to_string()).join("-")
    ));
    let start = Instant::now();
    let mut obs = Progress::new(display, "digits dbn", None);
    let seed = args.seed;
    dbn.pretrain(
        &digits,
        |_, _| {
            let mut tc = TrainConfig::new(OptimizerConfig::sgd_hinton(0.1, 1e-4));
            tc.epochs = dbn_epochs;
            tc.batch_size = 20;
            tc.seed = seed;
            tc.threads = latent_engine::Threads::CallerPool;
            tc
        },
        Propagate::Probabilities,
        &mut obs,
    )?;
    obs.finish();
    let dbn_secs = start.elapsed().as_secs_f64();
    let top = dbn.transform(&digits.x, Par::All)?;
    let mut layer_errors = Vec::new();
    let mut input = digits.x.clone();
    for (l, layer) in dbn.layers().iter().enumerate() {
        layer_errors.push(layer.reconstruction_error(&input, 3, Par::All)?);
        if l + 1 < dbn.layers().len() {
            input = dbn.transform_to(&digits.x, l + 1, Par::All)?;
        }
    }
    let dbn_samples = dbn.generate(25, 500, args.seed ^ 0xDB, Par::All)?;
    image::save(
        &args.out.join("dbn_samples.png"),
        &dbn_samples,
        Grid::auto(25, 16, 16, Shade::Unit),
    )?;
    say(format!(
        "  reconstruction error per layer: {}; top features {} x {} [{dbn_secs:.1} s]",
        layer_errors
            .iter()
            .enumerate()
            .map(|(l, e)| format!("layer {l} {e:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        top.rows(),
        top.cols()
    ));
    // 4. A denoising autoencoder on the same digits.
    let ae_report = denoising_ae(&digits.x, q, args, display, &say)?;

    let pictures = [
        "filters.png",
        "reconstructions.png",
        "samples.png",
        "data.png",
        "dbn_samples.png",
        "bas_samples.png",
        "ae_reconstructions.png",
    ];
    say(format!(
        "pictures in {}/: {} [{:.1} s in all]",
        args.out.display(),
        pictures.join(", "),
        started.elapsed().as_secs_f64()
    ));
    Ok(Report::json(json!({
        "command": "demo",
        "bars_and_stripes": {
            "log_likelihood_before": json_f64(ll_before),
            "log_likelihood_after": json_f64(ll_after),
            "log_likelihood_optimum": json_f64(optimum),
            "log_z_exact": json_f64(log_z),
            "log_z_ais": json_f64(ais.log_z),
            "log_z_ais_minus_3sd": json_f64(ais.log_z_minus_3sd),
            "log_z_ais_plus_3sd": json_f64(ais.log_z_plus_3sd),
            "seconds": json_f64(bas_secs),
        },
        "digits_rbm": {
            "hidden": hidden,
            "reconstruction_error_before": json_f64(recon_before),
            "reconstruction_error_after": json_f64(recon_after),
            "pseudo_log_likelihood_before": json_f64(pll_before),
            "pseudo_log_likelihood_after": json_f64(pll_after),
            "seconds": json_f64(digit_secs),
        },
        "dbn": {
            "sizes": sizes.to_vec(),
            "reconstruction_error_per_layer": layer_errors.iter().map(|&e| json_f64(e)).collect::<Value>(),
            "seconds": json_f64(dbn_secs),
        },
        "denoising_ae": ae_report,
        "pictures": pictures.iter().map(|p| args.out.join(p).display().to_string()).collect::<Vec<_>>(),
        "seconds": json_f64(started.elapsed().as_secs_f64()),
    })))
}

/// Mean squared error per image of the autoencoder's reconstructions of
/// `input` against `clean`, and the reconstructions.
fn ae_error(ae: &mut Autoencoder, input: &Matrix, clean: &Matrix) -> Result<(f64, Matrix)> {
    let mut r = Matrix::zeros(input.rows(), input.cols())?;
    ae.reconstruct(input.view(), r.view_mut(), Par::All)?;
    let e = per_row_sq_err(clean, &r)?;
    Ok((
        e.iter().map(|&v| v as f64).sum::<f64>() / e.len().max(1) as f64,
        r,
    ))
}

/// Section 4 of the demo: a 256-64 denoising autoencoder (masking noise)
/// on the drawn digits; reconstruction errors before and after training,
/// from clean and from corrupted inputs, and `ae_reconstructions.png`
/// (digit, corrupted copy, reconstruction of the copy).
fn denoising_ae(
    x: &Matrix,
    quick: bool,
    args: &DemoArgs,
    display: Display,
    say: &dyn Fn(String),
) -> Result<Value> {
    let hidden = 64;
    let nu = 0.25;
    let config = AeConfig::new(&[256, hidden], Activation::Sigmoid)
        .with_loss(Loss::CrossEntropy)
        .with_noise(Noise::Mask { nu });
    let mut ae = Autoencoder::new(config, args.seed)?;
    ae.init_output_bias_from_data(x, Par::All)?;
    let mut noisy = Matrix::zeros(x.rows(), x.cols())?;
    ae.corrupt(
        x.as_slice(),
        noisy.as_mut_slice(),
        x.rows(),
        args.seed ^ 0xAE,
        Par::All,
    )?;
    let corruption = per_row_sq_err(x, &noisy)?
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / x.rows().max(1) as f64;
    let (clean_before, _) = ae_error(&mut ae, x, x)?;
    let (noisy_before, _) = ae_error(&mut ae, &noisy, x)?;
    let ce_before = ae.mean_reconstruction_error(x, 500, Par::All)?;
    let mut tc = TrainConfig::new(OptimizerConfig::adam(2e-3));
    tc.epochs = if quick { 5 } else { 20 };
    tc.batch_size = 20;
    tc.seed = args.seed;
    tc.threads = latent_engine::Threads::CallerPool;
    say(format!(
        "denoising autoencoder 256-{hidden}: {}% of the pixels masked, cross-entropy, Adam, {} epochs",
        nu * 100.0,
        tc.epochs
    ));
    let start = Instant::now();
    let mut obs = Progress::new(display, "digits denoising ae", None);
    let mut trainer = Trainer::new(ae, tc)?;
    trainer.fit(&Dataset::new(x.clone(), None)?, None, &mut obs)?;
    obs.finish();
    let secs = start.elapsed().as_secs_f64();
    let mut ae = trainer.into_model();
    let (clean_after, _) = ae_error(&mut ae, x, x)?;
    let (noisy_after, denoised) = ae_error(&mut ae, &noisy, x)?;
    let ce_after = ae.mean_reconstruction_error(x, 500, Par::All)?;
    say(format!(
        "  reconstruction error per image (squared): {clean_before:.2} before, {clean_after:.2} after; from masked copies (themselves {corruption:.2} from the originals) {noisy_before:.2} -> {noisy_after:.2}; cross-entropy {ce_before:.1} -> {ce_after:.1} [{secs:.1} s]"
    ));
    let shown = 20;
    image::save(
        &args.out.join("ae_reconstructions.png"),
        &image::interleave_many(&[x, &noisy, &denoised], shown)?,
        Grid {
            cols: 15,
            ..Grid::auto(3 * shown, 16, 16, Shade::Unit)
        },
    )?;
    Ok(json!({
        "sizes": [256, hidden],
        "noise": Noise::Mask { nu }.to_string(),
        "reconstruction_error_before": json_f64(clean_before),
        "reconstruction_error_after": json_f64(clean_after),
        "corruption_error": json_f64(corruption),
        "denoising_error_before": json_f64(noisy_before),
        "denoising_error_after": json_f64(noisy_after),
        "cross_entropy_before": json_f64(ce_before),
        "cross_entropy_after": json_f64(ce_after),
        "seconds": json_f64(secs),
    }))
}

/// The squared error of each row of `x` against `r`.
fn per_row_sq_err(x: &Matrix, r: &Matrix) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; x.rows()];
    latent_models::model::row_squared_errors(x.view(), r.view(), &mut out)?;
    Ok(out)
}
