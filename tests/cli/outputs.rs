//! Where outputs go: never over an input, through links to their target,
//! keeping a file's mode, straight into devices and FIFOs, never over a
//! directory.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

use super::common::{fails, in_dir, ok, run, scratch, write_idx};

/// A scratch folder with IDX data `a-ubyte` and an RBM `m.latent` on it.
fn setup(name: &str) -> std::path::PathBuf {
    let d = scratch(name);
    write_idx(&d.join("a-ubyte"), 40, 6);
    let (data, model) = (d.join("a-ubyte"), d.join("m.latent"));
    let (data, model) = (data.to_str().unwrap(), model.to_str().unwrap());
    ok(&[
        "train", "rbm", "--data", data, "--hidden", "4", "--epochs", "1", "--out", model, "-q",
    ]);
    d
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let d = setup("same-file");
    let p = in_dir(&d);
    let data = p("a-ubyte");
    let before = fs::read(&data).unwrap();
    // Through a link and through a hard link: the same file (by name: the
    // training cases below).
    symlink("a-ubyte", d.join("link.npy")).unwrap();
    fs::hard_link(&data, d.join("hard.npy")).unwrap();
    for out in ["link.npy", "hard.npy"] {
        let e = fails(&["encode", &p("m.latent"), "--data", &data, "--out", &p(out)]);
        assert!(
            e.contains(&format!("--out {}", p(out)))
                && e.contains(&format!("the input --data {data}")),
            "{e}"
        );
    }
    symlink("m.latent", d.join("model.npy")).unwrap();
    let e = fails(&[
        "sample",
        &p("m.latent"),
        "--out",
        &p("model.npy"),
        "-n",
        "2",
    ]);
    assert!(e.contains("same file as the input model"), "{e}");
    let model = fs::read(p("m.latent")).unwrap();
    for (flag, out) in [
        ("--out", "a-ubyte"),
        ("--metrics", "a-ubyte"),
        ("--metrics", "m.latent"),
    ] {
        let mut a = vec![
            "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1",
        ];
        let out = p(out);
        let model_path = p("m.latent");
        if flag == "--out" {
            a.extend(["--out", &out]);
        } else {
            a.extend(["--out", &model_path, "--metrics", &out]);
        }
        let e = fails(&a);
        assert!(
            e.contains(&format!("{flag} {out} is the same file as the")),
            "{e}"
        );
    }
    assert_eq!(fs::read(&data).unwrap(), before, "the data is untouched");
    assert_eq!(
        fs::read(p("m.latent")).unwrap(),
        model,
        "the model is untouched"
    );
    // Resuming in place stays allowed: the file is read before it is written.
    let m = p("m.latent");
    ok(&[
        "train", "rbm", "--data", &data, "--resume", &m, "--epochs", "2", "--out", &m, "-q",
    ]);
}

#[test]
fn links_are_followed_modes_kept_devices_written_through() {
    let d = setup("out-kinds");
    let p = in_dir(&d);
    let (m, data) = (p("m.latent"), p("a-ubyte"));
    // A link: its target is replaced, the link stays.
    fs::write(d.join("target.npy"), b"old").unwrap();
    symlink("target.npy", d.join("link.npy")).unwrap();
    ok(&["encode", &m, "--data", &data, "--out", &p("link.npy"), "-q"]);
    assert!(
        fs::symlink_metadata(d.join("link.npy"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(&fs::read(d.join("target.npy")).unwrap()[..6], b"\x93NUMPY");
    // A mode-600 model file stays 600.
    fs::set_permissions(&m, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&[
        "train", "rbm", "--data", &data, "--resume", &m, "--epochs", "2", "--out", &m, "-q",
    ]);
    assert_eq!(
        fs::metadata(&m).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // /dev/null (through a link, so a faulty build cannot replace the
    // machine's): written into, not replaced.
    symlink("/dev/null", d.join("null.npy")).unwrap();
    symlink("/dev/null", d.join("null.latent")).unwrap();
    ok(&["encode", &m, "--data", &data, "--out", &p("null.npy"), "-q"]);
    ok(&[
        "train",
        "rbm",
        "--data",
        &data,
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--out",
        &p("null.latent"),
        "-q",
    ]);
    for l in ["null.npy", "null.latent"] {
        assert!(
            fs::symlink_metadata(d.join(l))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    // A FIFO: its reader gets the file; the FIFO stays.
    let fifo = d.join("f.npy");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    ok(&["encode", &m, "--data", &data, "--out", &p("f.npy"), "-q"]);
    assert_eq!(&reader.join().unwrap()[..6], b"\x93NUMPY");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    // A directory: an error naming it.
    fs::create_dir(d.join("dir.npy")).unwrap();
    let e = fails(&["encode", &m, "--data", &data, "--out", &p("dir.npy")]);
    assert!(
        e.contains(&p("dir.npy")) && e.contains("is a directory"),
        "{e}"
    );
    // An endless input: refused at once.
    let e = fails(&["info", "/dev/zero"]);
    assert!(
        e.contains("/dev/zero") && e.contains("not a regular file"),
        "{e}"
    );
}

#[test]
fn export_writes_every_file_or_none() {
    let d = setup("export-all");
    let p = in_dir(&d);
    let out = d.join("ex");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("W.npy"), b"KEEP").unwrap();
    // b.npy cannot be written (a folder is in the way): nothing is.
    fs::create_dir(out.join("b.npy")).unwrap();
    let e = fails(&["export", &p("m.latent"), "--out", &p("ex")]);
    assert!(e.contains("b.npy") && e.contains("is a directory"), "{e}");
    assert_eq!(fs::read(out.join("W.npy")).unwrap(), b"KEEP");
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["W.npy", "b.npy"], "no temporaries, no c.npy");
    fs::remove_dir(out.join("b.npy")).unwrap();
    ok(&["export", &p("m.latent"), "--out", &p("ex"), "-q"]);
    for f in ["W.npy", "b.npy", "c.npy"] {
        assert_eq!(&fs::read(out.join(f)).unwrap()[..6], b"\x93NUMPY", "{f}");
    }
}

#[test]
fn a_second_writer_of_the_same_model_fails_at_once() {
    let d = setup("lock");
    let p = in_dir(&d);
    let (m, data) = (p("m.latent"), p("a-ubyte"));
    let before = fs::read(&m).unwrap();
    // Another training holds the model's lock.
    let lock = fs::File::create(d.join(".m.latent.lock")).unwrap();
    lock.try_lock().unwrap();
    let e = fails(&[
        "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &m,
    ]);
    assert!(
        e.contains(&m) && e.contains("another process is writing") && e.contains(".m.latent.lock"),
        "{e}"
    );
    assert_eq!(fs::read(&m).unwrap(), before);
    // Released (or left by a killed run, unlocked): training goes on, and
    // removes the lock file when done.
    drop(lock);
    // A child that another test forks while the lock is held shares it
    // until that child's exec: retry (for at most 10 s) while the lock is
    // still reported held.
    let args = [
        "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &m, "-q",
    ];
    let mut trained = false;
    for _ in 0..500 {
        let out = run(&args);
        if out.status.success() {
            trained = true;
            break;
        }
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("another process is writing"), "{e}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(trained, "the lock stayed held");
    assert!(!d.join(".m.latent.lock").exists());
}
