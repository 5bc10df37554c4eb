//! Every failure, of every subcommand, is one line `latent: error: …` in
//! plain words (no Rust debug formatting) naming what is wrong, with a
//! non-zero exit status and every existing output left as it was: one
//! table of bad invocations (flags, values, data files of each format,
//! model files, outputs).

use std::fs;
use std::path::Path;

use super::common::{in_dir, keep, kept, ok, run, scratch, write_idx};

/// Signs of Rust debug formatting in a message: `Option`/`Result` dumps,
/// struct dumps (`Foo { a: 1 }`), escaped strings and vectors of strings.
const DEBUG_MARKS: &[&str] = &[
    "Some(", "None", "Ok(", "Err(", " { ", "\\\"", "[\"", "\\u{", "\\n", "\\0", "\\\\",
];

/// The standard CRC-32 (gzip's) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// `bytes` as a gzip file of one stored (uncompressed) deflate block.
fn gzip_stored(bytes: &[u8]) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1];
    let len = bytes.len() as u16;
    g.extend_from_slice(&len.to_le_bytes());
    g.extend_from_slice(&(!len).to_le_bytes());
    g.extend_from_slice(bytes);
    g.extend_from_slice(&crc32(bytes).to_le_bytes());
    g.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    g
}

/// A version-1 NPY file of `descr` and `shape` over `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(data);
    v
}

/// `n` rows of `cols` copies of `v` as CSV lines, then `last`.
fn csv(n: usize, cols: usize, v: &str, last: &str) -> String {
    let row = vec![v; cols].join(",");
    format!("{}{last}", format!("{row}\n").repeat(n))
}

/// The bad data files (16 features per sample unless named otherwise) and
/// the models (`r` rbm, `v` vae, `a` ae, `d` dbn, `da` deep-ae, `m` dbm, `c`
/// classifier, with the labels `y.npy`) and broken
/// model files of the table, in `d`.
fn write_files(d: &Path) {
    let p = in_dir(d);
    write_idx(&d.join("a-ubyte"), 20, 4);
    write_idx(&d.join("nine-ubyte"), 20, 3);
    let idx = fs::read(d.join("a-ubyte")).unwrap();
    let w = |name: &str, bytes: &[u8]| fs::write(d.join(name), bytes).unwrap();
    w("trunc-ubyte", &idx[..idx.len() - 5]);
    w("magic-ubyte", &[0, 0, 0x0d, 3, 0, 0, 0, 1]);
    w(
        "zero-ubyte",
        &[0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4],
    );
    let gz = gzip_stored(&idx);
    w("a.gz", &gz);
    w("trunc.gz", &gz[..gz.len() / 2]);
    w("tail.gz", &[gz.as_slice(), b"garbage"].concat());
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff;
    w("crc.gz", &bad_crc);
    w(
        "nine.gz",
        &gzip_stored(&fs::read(d.join("nine-ubyte")).unwrap()),
    );
    let f4 = |n: usize, v: f32| v.to_le_bytes().repeat(n);
    w("trunc.npy", &npy("<f4", "(20, 16)", &f4(319, 0.5)));
    w("complex.npy", &npy("<c8", "(20, 16)", &f4(640, 0.5)));
    w("nine.npy", &npy("<f4", "(20, 9)", &f4(180, 0.5)));
    w("one-d.npy", &npy("<f4", "(16,)", &f4(16, 0.5)));
    w("empty.npy", &npy("<f4", "(10, 0)", &[]));
    let mut nan = f4(320, 0.5);
    nan[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
    w("nan.npy", &npy("<f4", "(20, 16)", &nan));
    w("big.npy", &npy("<f4", "(20, 16)", &f4(320, 300.0)));
    w("ok.npy", &npy("<f4", "(20, 16)", &f4(320, 0.5)));
    w(
        "header.npy",
        b"\x93NUMPY\x01\x00\x10\x00{garbage\x08     }\n",
    );
    w("ragged.csv", csv(5, 16, "0.5", "0.5,0.5\n").as_bytes());
    w("word.csv", csv(5, 16, "0.5", "0.5,x\"y\n").as_bytes());
    w(
        "nan.csv",
        csv(5, 16, "0.5", &format!("{}\n", csv(1, 16, "nan", ""))).as_bytes(),
    );
    w("big.csv", csv(5, 16, "500", "").as_bytes());
    w("empty.csv", b"");
    w("binary.csv", &[0xff, 0xfe, 0, 1, 2, 3]);
    w("text.latent", b"hello world");
    w("labels.npy", &npy("<f4", "(20,)", &f4(20, 1.0)));
    fs::create_dir_all(d.join("dir")).unwrap();
    let data = p("a-ubyte");
    let train = |kind: &str, sizes: &[&str], out: &str| {
        let mut a = vec!["train", kind, "--data", &data, "--epochs", "1", "-q"];
        a.extend(sizes);
        let out = p(out);
        a.extend(["--out", &out]);
        ok(&a);
    };
    train("rbm", &["--hidden", "4"], "r.latent");
    train("vae", &["--hidden", "4", "--latent", "2"], "v.latent");
    train("ae", &["--hidden", "4"], "a.latent");
    train("dbn", &["--layers", "16,8,4"], "d.latent");
    train("deep-ae", &["--layers", "16,8,4"], "da.latent");
    train("dbm", &["--layers", "16,8,4"], "m.latent");
    train("psd", &["--codes", "4"], "p.latent");
    let ok_npy = p("ok.npy");
    ok(&[
        "train",
        "ae",
        "--data",
        &ok_npy,
        "--hidden",
        "4",
        "--loss",
        "bce",
        "--epochs",
        "1",
        "--out",
        &p("bce.latent"),
        "-q",
    ]);
    let model = fs::read(d.join("r.latent")).unwrap();
    w("trunc.latent", &model[..model.len() / 2]);
    let mut corrupt = model.clone();
    let n = corrupt.len();
    corrupt[n / 2] ^= 0xff;
    w("corrupt.latent", &corrupt);
    w("empty.latent", b"");
    // Labels of a-ubyte (i % 3), five of them, and one out of range.
    let i8s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let y: Vec<i64> = (0..20).map(|i| i % 3).collect();
    w("y.npy", &npy("<i8", "(20,)", &i8s(&y)));
    w("y5.npy", &npy("<i8", "(5,)", &i8s(&y[..5])));
    let mut bad = y.clone();
    bad[0] = 7;
    w("ybad.npy", &npy("<i8", "(20,)", &i8s(&bad)));
    let (y, c) = (p("y.npy"), p("c.latent"));
    ok(&[
        "train",
        "classifier",
        "--data",
        &data,
        "--labels",
        &y,
        "--layers",
        "16,4",
        "--epochs",
        "1",
        "-q",
        "--out",
        &c,
    ]);
    let bytes: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37)).collect();
    w("codes1.npy", &npy("|u1", "(20, 1)", &bytes[..20]));
    w("codes2.npy", &npy("|u1", "(20, 2)", &bytes));
    w("codes3.npy", &npy("|u1", "(5, 1)", &bytes[..5]));
    w("nocodes.npy", &npy("|u1", "(0, 1)", &[]));
    w("l5.npy", &npy("<i8", "(5,)", &1i64.to_le_bytes().repeat(5)));
}

/// The table: each row's arguments (`@name` is the scratch file `name`)
/// and a text its message must contain.
fn table() -> Vec<(&'static str, &'static str)> {
    let mut rows = vec![
        // train: flags and their values, for each kind.
        (
            "train rbm --data @a-ubyte --out @o.latent",
            "missing --hidden",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 0",
            "--hidden",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden x",
            "--hidden",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --lr -1",
            "--lr",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --lr nan",
            "--lr",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --batch 0",
            "--batch",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --momentum 2",
            "--momentum",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --cd-k 0",
            "--cd-k",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --optimizer x",
            "--optimizer",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --layers 16,4",
            "--layers",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --sparsity 0.1:x",
            "--sparsity",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --binarize 2",
            "--binarize",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --precision x",
            "--precision",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --noise mask:0.3",
            "--noise",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --bogus",
            "--bogus",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --weight-decay -1",
            "--weight-decay",
        ),
        (
            "train rbm --data @big.csv --out @o.latent --hidden 4",
            "big.csv",
        ),
        (
            "train gaussian-rbm --data @a-ubyte --out @o.latent --hidden 4 --tied",
            "--tied",
        ),
        (
            "train gaussian-rbm --data @nan.npy --out @o.latent --hidden 4",
            "nan.npy",
        ),
        ("train dbn --data @a-ubyte --out @o.latent", "--layers"),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers 16",
            "--layers",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers 16,,8",
            "--layers",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers \"16,8\"",
            "--layers",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers 9,4",
            "a-ubyte",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --hidden 4",
            "--hidden",
        ),
        ("train dbm --data @a-ubyte --out @o.latent", "--layers"),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8",
            "--layers",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 9,4,3",
            "a-ubyte",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --hidden 4",
            "--hidden",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --chains 0",
            "--chains",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --mf-iters 0",
            "--mf-iters",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --mf-iters 10001",
            "--mf-iters",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --mf-tol -1",
            "--mf-tol",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --cd-k 0",
            "--cd-k",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --persistent",
            "--persistent",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --sparsity 0.1",
            "--sparsity",
        ),
        (
            "train dbm --data @big.csv --out @o.latent --layers 16,8,4",
            "big.csv",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain-epochs 0",
            "--pretrain-epochs",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain-lr 0",
            "--pretrain-lr",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain-lr -0.1",
            "--pretrain-lr",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain-lr 0.1",
            "--pretrain-epochs",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --resume @m.latent --pretrain-epochs 3",
            "--pretrain-epochs",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --pretrain-lr 0.1",
            "--pretrain-lr",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers 16,8 --pretrain-epochs 3",
            "--pretrain-epochs",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --chains 5",
            "--chains",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --layers 16,8 --mf-iters 5",
            "--mf-iters",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --mf-tol 0.1",
            "--mf-tol",
        ),
        ("train ae --data @a-ubyte --out @o.latent", "--layers"),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --noise mask:2",
            "--noise",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --activation x",
            "--activation",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --activation sigmoid,relu",
            "--activation",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --layers 16,4",
            "--layers",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --sparsity kl:2",
            "--sparsity",
        ),
        (
            "train ae --data @big.csv --out @o.latent --hidden 4 --loss bce",
            "big.csv",
        ),
        (
            "train vae --data @a-ubyte --out @o.latent --hidden 4 --latent 0",
            "--latent",
        ),
        (
            "train vae --data @a-ubyte --out @o.latent --hidden 4 --latent 2 --cd-k 2",
            "--cd-k",
        ),
        (
            "train deep-ae --data @a-ubyte --out @o.latent --layers 16",
            "--layers",
        ),
        (
            "train deep-ae --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain rbm --activation relu",
            "--activation",
        ),
        (
            "train deep-ae --data @a-ubyte --out @o.latent --layers 16,8,4 --pretrain x",
            "--pretrain",
        ),
        // train: resumed, labels, validation and output files.
        (
            "train rbm --data @a-ubyte --out @o.latent --resume @missing.latent",
            "missing.latent",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --resume @v.latent",
            "v.latent",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --resume @corrupt.latent",
            "corrupt.latent",
        ),
        (
            "train dbn --data @a-ubyte --out @o.latent --resume @r.latent",
            "r.latent",
        ),
        (
            "train vae --data @a-ubyte --out @o.latent --resume @a.latent",
            "a.latent",
        ),
        (
            "train deep-ae --data @a-ubyte --out @o.latent --resume @d.latent",
            "d.latent",
        ),
        (
            "train dbm --data @a-ubyte --out @o.latent --resume @d.latent",
            "d.latent",
        ),
        (
            "train dbm --data @nine-ubyte --out @o.latent --resume @m.latent",
            "nine-ubyte",
        ),
        ("eval @m.latent --data @a-ubyte --mf-iters 0", "--mf-iters"),
        (
            "eval @m.latent --data @a-ubyte --mf-iters 10001",
            "--mf-iters",
        ),
        ("eval @m.latent --data @a-ubyte --mf-tol -1", "--mf-tol"),
        ("eval @m.latent --data @a-ubyte --mf-tol nan", "--mf-tol"),
        (
            "eval @m.latent --data @a-ubyte --ais --ais-runs 1",
            "--ais-runs",
        ),
        ("eval @m.latent --data @nine-ubyte", "nine-ubyte"),
        ("eval @r.latent --data @a-ubyte --mf-iters 5", "--mf-iters"),
        ("eval @d.latent --data @a-ubyte --mf-tol 0", "--mf-tol"),
        (
            "encode @m.latent --data @a-ubyte --out @o.npy --layer 3",
            "--layer",
        ),
        (
            "encode @r.latent --data @a-ubyte --out @o.npy --all-layers",
            "--all-layers",
        ),
        (
            "encode @m.latent --data @a-ubyte --out @o.npy --layer 1 --all-layers",
            "--all-layers",
        ),
        (
            "score @m.latent --data @a-ubyte --out @o.npy --metric free-energy",
            "--metric",
        ),
        (
            "sample @r.latent --out @o.npy --from-chains",
            "--from-chains",
        ),
        (
            "train rbm --data @nine-ubyte --out @o.latent --resume @r.latent",
            "nine-ubyte",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --validate @nine-ubyte",
            "nine-ubyte",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --labels @nine-ubyte",
            "nine-ubyte",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --labels @labels.npy",
            "labels.npy",
        ),
        ("train rbm --data @a-ubyte --out @dir --hidden 4", "dir"),
        (
            "train rbm --data @a-ubyte --out @no/such/dir/o.latent --hidden 4",
            "does not exist",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --metrics @no/such/m.jsonl --hidden 4",
            "m.jsonl: cannot write there",
        ),
        (
            "train rbm --data @a-ubyte --out @a-ubyte --hidden 4",
            "--out",
        ),
        // Model files: missing, empty, not a model, truncated, corrupt, a folder.
        ("info", "not provided: <MODEL>"),
        ("info @missing.latent", "missing.latent"),
        ("info @empty.latent", "empty.latent"),
        ("info @text.latent", "text.latent"),
        ("info @a-ubyte", "found the bytes 00 00 08 03"),
        ("info @trunc.latent", "trunc.latent"),
        ("info @corrupt.latent", "corrupt.latent"),
        ("info @dir", "dir"),
        (
            "encode @trunc.latent --data @a-ubyte --out @o.npy",
            "trunc.latent",
        ),
        (
            "reconstruct @corrupt.latent --data @a-ubyte --out @o.npy",
            "corrupt.latent",
        ),
        ("score @a-ubyte --data @a-ubyte --out @o.npy", "a-ubyte"),
        ("sample @empty.latent --out @o.npy", "empty.latent"),
        ("eval @text.latent --data @a-ubyte", "text.latent"),
        ("filters @trunc.latent --out @o.png", "trunc.latent"),
        ("export @corrupt.latent --out @exp", "corrupt.latent"),
        // Wrong kinds of model for the command or flag.
        ("sample @a.latent --out @o.npy", "a.latent"),
        ("sample @da.latent --out @o.npy", "da.latent"),
        (
            "score @r.latent --data @a-ubyte --out @o.npy --metric neg-elbo",
            "--metric",
        ),
        (
            "score @a.latent --data @a-ubyte --out @o.npy --metric free-energy",
            "--metric",
        ),
        (
            "eval @a.latent --data @a-ubyte --ais",
            "--ais with the ae model",
        ),
        ("eval @v.latent --data @a-ubyte --ais", "--ais"),
        (
            "encode @d.latent --data @a-ubyte --out @o.npy --layer 5",
            "--layer",
        ),
        (
            "eval @r.latent --data @big.npy",
            "big.npy: the value of sample 1, feature 1: expected a value in [0, 255], the range \
             the model's preprocessing (scale 0 255) maps onto [0, 1], found 300",
        ),
        (
            "encode @bce.latent --data @big.csv --out @o.npy",
            "big.csv: the value of sample 1, feature 1: expected a value in [0, 1], the inputs \
             of this ae model (not preprocessed: data on the scale it was trained on), found 500",
        ),
        // Bad flags of the other commands.
        ("encode @r.latent --data @a-ubyte --out @o.txt", "o.txt"),
        (
            "encode @r.latent --data @a-ubyte --out @o.npy --precision fp16",
            "--precision",
        ),
        ("reconstruct @r.latent --data @a-ubyte", "--out"),
        (
            "reconstruct @r.latent --data @a-ubyte --png @o.npy",
            "--png",
        ),
        (
            "reconstruct @r.latent --data @a-ubyte --png @o.png --tile 3x3",
            "--tile",
        ),
        (
            "reconstruct @r.latent --data @a-ubyte --png @o.png --tile 4xx",
            "--tile",
        ),
        ("sample @r.latent -n 0 --out @o.npy", "-n"),
        ("sample @r.latent --out @o.npy --steps x", "--steps"),
        (
            "eval @r.latent --data @a-ubyte --ais --ais-runs 1",
            "--ais-runs",
        ),
        (
            "eval @d.latent --data @a-ubyte --ais --bound-samples 1",
            "--bound-samples",
        ),
        (
            "eval @d.latent --data @a-ubyte --ais --bound-samples 0",
            "--bound-samples",
        ),
        (
            "eval @d.latent --data @a-ubyte --ais --bound-samples x",
            "--bound-samples",
        ),
        (
            "eval @d.latent --data @a-ubyte --ais --ais-steps 2",
            "--ais-steps",
        ),
        ("filters @r.latent --out @o.npy", "--out"),
        ("filters @r.latent --out @o.png --max 0", "--max"),
        ("export @r.latent --out @exp --format x", "--format"),
        ("--threads 0 info @r.latent", "--threads"),
        ("frobnicate", "frobnicate"),
        // Unwritable outputs.
        (
            "encode @r.latent --data @a-ubyte --out @no/such/o.npy",
            "no/such/o.npy",
        ),
        ("reconstruct @r.latent --data @a-ubyte --out @dir", "dir"),
        ("sample @r.latent --out @no/such/o.npy", "no/such/o.npy"),
        ("filters @r.latent --out @no/such/o.png", "no/such/o.png"),
        ("export @r.latent --out @o.npy", "not a folder"),
        ("score @r.latent --data @ok.npy --out @ok.npy", "same file"),
        // latent plot: labels, data, flags, kinds of model, files.
        (
            "plot codes @r.latent --data @a-ubyte --out @o.png --labels @labels.npy",
            "labels.npy",
        ),
        (
            "plot codes @r.latent --data @a-ubyte --out @o.png --labels @nine-ubyte",
            "nine-ubyte",
        ),
        (
            "plot codes @r.latent --data @nine-ubyte --out @o.png",
            "expected 16, found 9",
        ),
        ("plot codes @r.latent --data @a-ubyte --out @o.npy", "--out"),
        (
            "plot codes @r.latent --data @a-ubyte --out @o.png --size 10x10",
            "--size",
        ),
        (
            "plot codes @r.latent --data @a-ubyte --out @o.png --max-points 0",
            "--max-points",
        ),
        (
            "plot codes @d.latent --data @a-ubyte --out @o.png --layer 5",
            "--layer",
        ),
        (
            "plot codes @corrupt.latent --data @a-ubyte --out @o.png",
            "corrupt.latent",
        ),
        (
            "plot manifold @r.latent --out @o.png",
            "rbm models have no latent prior",
        ),
        (
            "plot manifold @da.latent --out @o.png",
            "manifold works with vae",
        ),
        ("plot manifold @v.latent --out @o.png --span 1", "--span"),
        ("plot manifold @v.latent --out @o.png --grid 1", "--grid"),
        ("plot manifold @v.latent --out @o.png --dims 1,1", "--dims"),
        ("plot manifold @v.latent --out @o.png --dims 1,3", "--dims"),
        ("plot manifold @v.latent --out @o.png --tile 3x3", "--tile"),
        ("plot manifold @trunc.latent --out @o.png", "trunc.latent"),
        ("plot history --out @o.png", "missing MODEL or --metrics"),
        (
            "plot history @r.latent --metrics @a-ubyte --out @o.png",
            "--metrics",
        ),
        ("plot history --metrics @a-ubyte --out @o.png", "a-ubyte"),
        (
            "plot history --metrics @missing.jsonl --out @o.png",
            "missing.jsonl",
        ),
        (
            "plot history @r.latent --out @no/such/o.png",
            "no/such/o.png",
        ),
        ("plot history @empty.latent --out @o.png", "empty.latent"),
        // psd: its flags, and what applies to it only.
        ("train psd --data @a-ubyte --out @o.latent", "--codes"),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --lambda 0",
            "--lambda",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --alpha -1",
            "--alpha",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --encoder relu",
            "--encoder",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --fista-iters 0",
            "--fista-iters",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --fista-tol -1",
            "--fista-tol",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 4 --hidden 4",
            "--hidden with train psd",
        ),
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --lambda 0.5",
            "--lambda with train rbm",
        ),
        (
            "train psd --data @a-ubyte --out @o.latent --codes 8 --resume @p.latent",
            "configuration",
        ),
        (
            "encode @r.latent --data @a-ubyte --out @o.npy --exact",
            "--exact with the rbm model",
        ),
        (
            "encode @p.latent --data @a-ubyte --out @o.npy --exact --layer 1",
            "--exact",
        ),
        (
            "reconstruct @a.latent --data @a-ubyte --out @o.npy --exact",
            "--exact with the ae model",
        ),
        (
            "score @p.latent --data @a-ubyte --out @o.npy --metric free-energy",
            "--metric",
        ),
        (
            "score @r.latent --data @a-ubyte --out @o.npy --metric energy",
            "--metric",
        ),
        // Classifiers: train classifier, predict, eval --labels.
        (
            "train classifier --data @a-ubyte --layers 16,4 --out @o.latent",
            "missing --labels",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --out @o.latent",
            "missing --layers",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --classes 2 --out @o.latent",
            "y.npy: label of sample 3: expected a class in 0..2",
        ),
        (
            "train classifier --data @a-ubyte --labels @y5.npy --layers 16,4 --out @o.latent",
            "expected 20, found 5",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 9,4 --out @o.latent",
            "expected 16, found 9",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --classes 1 --out @o.latent",
            "--classes",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --validation-fraction 1 --out @o.latent",
            "--validation-fraction",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --validation-fraction 0.2 --validation-data @a-ubyte --out @o.latent",
            "--validation-fraction",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --validation-data @a-ubyte --out @o.latent",
            "missing --validation-labels",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --validation-labels @y.npy --out @o.latent",
            "missing --validation-data",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --validation-data @a-ubyte --validation-labels @ybad.npy --classes 3 --out @o.latent",
            "ybad.npy: label of sample 1",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --patience 0 --out @o.latent",
            "--patience",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16 --pretrain rbm --out @o.latent",
            "--pretrain",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --pretrain ae --cd-k 2 --out @o.latent",
            "--cd-k",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --pretrain x --out @o.latent",
            "--pretrain",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --layers 16,4 --hidden 4 --out @o.latent",
            "--hidden with train classifier",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --resume @r.latent --out @o.latent",
            "model kind for train classifier",
        ),
        (
            "train classifier --data @a-ubyte --labels @y.npy --resume @c.latent --layers 16,5 --out @o.latent",
            "configuration vs the flags",
        ),
        (
            "train rbm --data @a-ubyte --hidden 4 --classes 3 --out @o.latent",
            "--classes with train rbm",
        ),
        (
            "train dbn --data @a-ubyte --layers 16,4 --patience 3 --out @o.latent",
            "--patience with train dbn",
        ),
        (
            "train deep-ae --data @a-ubyte --layers 16,4 --pretrain none --out @o.latent",
            "--pretrain",
        ),
        (
            "predict @r.latent --data @a-ubyte --out @o.npy",
            "rbm model has no classes",
        ),
        (
            "predict @c.latent --data @a-ubyte --out @o.txt",
            ".npy or .csv",
        ),
        (
            "predict @c.latent --data @nine-ubyte --out @o.npy",
            "expected 16, found 9",
        ),
        ("predict @c.latent --data @a-ubyte", "--out"),
        (
            "eval @r.latent --data @a-ubyte --labels @y.npy",
            "--labels with the rbm model",
        ),
        (
            "eval @m.latent --data @a-ubyte --labels @y.npy",
            "--labels with the dbm model",
        ),
        ("eval @c.latent --data @a-ubyte", "missing --labels"),
        (
            "eval @c.latent --data @a-ubyte --labels @ybad.npy",
            "ybad.npy: label of sample 1: expected a class in 0..3",
        ),
        (
            "eval @c.latent --data @a-ubyte --labels @y5.npy",
            "expected 20, found 5",
        ),
        (
            "eval @c.latent --data @a-ubyte --labels @y.npy --ais",
            "--ais",
        ),
        (
            "eval @c.latent --data @a-ubyte --labels @labels.npy",
            "labels.npy",
        ),
        (
            "reconstruct @c.latent --data @a-ubyte --out @o.npy",
            "kind classifier",
        ),
        (
            "score @c.latent --data @a-ubyte --out @o.npy",
            "kind classifier",
        ),
        ("sample @c.latent --out @o.npy", "classifier"),
        // Semantic hashing: train --code-noise, hash, search.
        (
            "train rbm --data @a-ubyte --out @o.latent --hidden 4 --code-noise 4",
            "--code-noise with train rbm",
        ),
        (
            "train ae --data @a-ubyte --out @o.latent --hidden 4 --code-noise x",
            "--code-noise",
        ),
        (
            "hash @v.latent --data @a-ubyte --out @o.npy",
            "latent hash with the vae model",
        ),
        ("hash @r.latent --data @a-ubyte --out @o.txt", "--out"),
        (
            "hash @r.latent --data @a-ubyte --out @o.npy --threshold 2",
            "--threshold",
        ),
        (
            "search --index @codes1.npy --queries @codes2.npy --k 1",
            "code width",
        ),
        (
            "search --index @codes2.npy --model @r.latent --data @a-ubyte --k 1",
            "code width",
        ),
        (
            "search --index @nocodes.npy --queries @codes1.npy --k 1",
            "nocodes.npy",
        ),
        ("search --index @ok.npy --queries @codes1.npy --k 1", "|u1"),
        ("search --index @codes1.npy --queries @codes1.npy", "--k"),
        (
            "search --index @codes1.npy --queries @codes1.npy --k 0",
            "--k",
        ),
        (
            "search --index @codes1.npy --queries @codes1.npy --k 30",
            "--k",
        ),
        (
            "search --index @codes1.npy --queries @codes1.npy --k 1 --radius 2",
            "--k with --radius",
        ),
        ("search --index @codes1.npy --k 1", "--queries"),
        (
            "search --index @codes1.npy --model @r.latent --k 1",
            "--data",
        ),
        (
            "search --index @codes1.npy --queries @codes1.npy --k 1 --index-labels @l5.npy",
            "--index-labels without --query-labels",
        ),
        (
            "search --index @codes1.npy --queries @codes3.npy --k 1 --index-labels @l5.npy --query-labels @l5.npy",
            "one per code of the index",
        ),
        (
            "search --index @codes1.npy --queries @codes3.npy --k 1 --exclude-self",
            "--exclude-self",
        ),
        (
            "search --index @codes1.npy --queries @codes1.npy --k 1 --out @o.npy",
            "--out",
        ),
    ];
    // Bad data files of each format, to training and to every command
    // that reads data, with each kind of model.
    let data = [
        ("missing-ubyte", "missing-ubyte"),
        ("trunc-ubyte", "truncated"),
        ("magic-ubyte", "magic-ubyte"),
        ("zero-ubyte", "zero-ubyte"),
        ("nine-ubyte", "expected 16, found 9"),
        ("trunc.gz", "trunc.gz"),
        ("tail.gz", "tail.gz"),
        ("crc.gz", "crc.gz"),
        ("nine.gz", "expected 16, found 9"),
        ("trunc.npy", "truncated"),
        ("complex.npy", "<c8"),
        ("nine.npy", "expected 16, found 9"),
        ("one-d.npy", "shape (16,)"),
        ("empty.npy", "empty.npy"),
        ("nan.npy", "NaN"),
        ("header.npy", "found the bytes 67 61 72 62"),
        ("ragged.csv", "line 6"),
        ("word.csv", "line 6"),
        ("nan.csv", "line 6"),
        ("big.csv", "500"),
        ("big.npy", "300"),
        ("empty.csv", "empty.csv"),
        ("binary.csv", "binary.csv"),
        ("dir", "dir"),
    ];
    let uses = [
        "train rbm --out @o.latent --hidden 4 --data",
        "train ae --out @o.latent --hidden 4 --loss bce --data",
        "encode @r.latent --out @o.npy --data",
        "encode @d.latent --out @o.npy --data",
        "reconstruct @a.latent --out @o.npy --data",
        "score @v.latent --out @o.npy --data",
        "eval @da.latent --data",
    ];
    for (i, (file, mention)) in data.into_iter().enumerate() {
        // Each file with two of the uses, every use with several files.
        // (Training takes any width: the narrow files go to models.)
        let from = if file.starts_with("nine") { 2 } else { 0 };
        let pick = |k: usize| uses[from + k % (uses.len() - from)];
        for u in [pick(i), pick(i + 3)] {
            let row = format!("{u} @{file}");
            rows.push((Box::leak(row.into_boxed_str()), mention));
        }
    }
    rows
}

/// The arguments of a row, `@name` made a path in `d` (a quoted word
/// stays one argument, quotes included).
fn args_of(row: &str, d: &Path) -> Vec<String> {
    let p = in_dir(d);
    row.split(' ')
        .map(|w| match w.strip_prefix('@') {
            Some(name) => p(name),
            None => w.to_string(),
        })
        .collect()
}

/// What is wrong with a failing run's output, if anything.
fn fault(status_ok: bool, stderr: &str, mention: &str) -> Option<String> {
    if status_ok {
        return Some("exit status 0".into());
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 || stderr.lines().count() != 1 {
        return Some(format!("{} lines: {stderr}", lines.len()));
    }
    let line = lines[0];
    if !line.starts_with("latent: error: ") {
        return Some(format!("not `latent: error: `: {line}"));
    }
    if let Some(m) = DEBUG_MARKS.iter().find(|m| line.contains(*m)) {
        return Some(format!("debug formatting `{m}`: {line}"));
    }
    if !line.contains(mention) {
        return Some(format!("does not mention `{mention}`: {line}"));
    }
    None
}

#[test]
fn every_error_is_one_plain_line_and_leaves_the_outputs() {
    let d = scratch("errors");
    write_files(&d);
    fs::create_dir_all(d.join("exp")).unwrap();
    let outputs = ["o.latent", "o.npy", "o.png", "o.txt", "exp/W.npy"];
    let outputs: Vec<_> = outputs.iter().map(|o| keep(d.join(o))).collect();
    let models: Vec<_> = ["r", "v", "a", "d", "da"]
        .iter()
        .map(|m| fs::read(d.join(format!("{m}.latent"))).unwrap())
        .collect();
    let rows = table();
    let mut faults = Vec::new();
    for (row, mention) in &rows {
        let args = args_of(row, &d);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(f) = fault(out.status.success(), &stderr, mention) {
            faults.push(format!("latent {row}: {f}"));
        }
    }
    assert!(rows.len() >= 130, "{} rows", rows.len());
    assert!(
        faults.is_empty(),
        "{} of {} rows:\n{}",
        faults.len(),
        rows.len(),
        faults.join("\n")
    );
    for o in &outputs {
        kept(o);
    }
    for (m, bytes) in ["r", "v", "a", "d", "da"].iter().zip(&models) {
        let now = fs::read(d.join(format!("{m}.latent"))).unwrap();
        assert!(now == *bytes, "{m}.latent changed");
    }
}

#[test]
fn the_debug_check_can_fail() {
    for bad in [
        "latent: error: x: Some(3)",
        "latent: error: Foo { a: 1 }",
        "latent: error: found \"a\\\"b\"",
        "latent: error: [\"a\", \"b\"]",
        "latent: error: found \"\\u{8}\"",
    ] {
        assert!(fault(false, bad, "").is_some(), "{bad}");
    }
    assert!(fault(false, "latent: error: a\nb", "").is_some());
    assert!(fault(true, "latent: error: a", "").is_some());
    assert!(fault(false, "error: a", "").is_some());
    assert!(fault(false, "latent: error: a", "").is_none());
}
