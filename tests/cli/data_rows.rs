//! How `latent train` holds its training data: `--load-data` only with
//! `--distributed` (a run alone reads the whole file), and the peak
//! resident memory in the JSON report. The distributed runs that read rows
//! on demand are ci/mpi-test.sh's.

use super::common::{fails, in_dir, json, keep, kept, scratch, write_idx};

#[test]
fn load_data_needs_distributed_and_the_report_gives_the_peak_memory() {
    let d = scratch("data-rows");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let (data, out) = (p("a-ubyte"), p("m.latent"));
    let train = [
        "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1",
    ];
    let kept_out = keep(d.join("kept.latent"));
    let kept_out = kept_out.to_str().unwrap();
    let e = fails(&[&train[..], &["--out", kept_out, "--load-data"]].concat());
    assert!(
        e.contains("--load-data") && e.contains("--distributed"),
        "{e}"
    );
    kept(d.join("kept.latent").as_path());
    let report = json(&[&train[..], &["--out", &out]].concat());
    let peak = report["peak_rss_bytes"].as_u64().expect("peak_rss_bytes");
    // More than the binary's first megabyte, less than a terabyte.
    assert!(peak > 1 << 20 && peak < 1 << 40, "{peak}");
    assert!(report.get("peak_rss_bytes_per_rank").is_none(), "{report}");
}
