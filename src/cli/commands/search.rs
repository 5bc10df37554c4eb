//! `latent search`: retrieval over packed binary codes (semantic hashing)
//! with the kernels' popcount search: for each query the `k` nearest
//! codes of the index, or every code within a Hamming radius, by distance
//! then index. With labels, precision@k, or precision and recall within
//! the radius, as means over the queries.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use latent_engine::Par;
use latent_kernels::hamming::{Neighbor, Searcher};
use latent_models::ae::BinaryCodes;
use serde_json::json;

use super::hash::{model_codes, parse_threshold, read_packed};
use super::{PrecisionFlag, load_with, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, read_labels, write_atomic};
use crate::cli::{Global, Report};

/// Flags of `latent search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The index: packed codes written by `latent hash` (NPY uint8).
    #[arg(long)]
    pub index: PathBuf,
    /// The queries: packed codes of the same width (NPY uint8); or
    /// --model and --data.
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// Hash the queries with this model (with --data).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The data to hash into queries (with --model).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With --model: a feature above this value is a 1 bit [default: 0.5].
    #[arg(long, value_parser = parse_threshold, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The K nearest codes to each query (ties broken by index).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub k: Option<u32>,
    /// Every code within Hamming distance R of each query.
    #[arg(long, value_name = "R")]
    pub radius: Option<u32>,
    /// Write the results as CSV, one line per query and hit:
    /// query,rank,index,distance (0-based rows).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Labels of the index's codes (IDX, NPY or CSV), with --query-labels:
    /// precision@k, or precision and recall within the radius.
    #[arg(long)]
    pub index_labels: Option<PathBuf>,
    /// Labels of the queries, with --index-labels.
    #[arg(long)]
    pub query_labels: Option<PathBuf>,
    /// The queries are the index's own codes, in order: leave each
    /// query's own code out of its results.
    #[arg(long)]
    pub exclude_self: bool,
}

/// What is asked for each query.
#[derive(Debug, Clone, Copy)]
enum Ask {
    Nearest(usize),
    Within(u32),
}

/// Runs `latent search`.
pub fn run(args: &SearchArgs, g: &Global) -> Result<Report> {
    let ask = check_flags(args)?;
    let index = read_packed("--index", &args.index)?;
    if index.is_empty() {
        return Err(CliError::mismatch(
            format!("--index {}: codes", args.index.display()),
            "at least one",
            0,
        ));
    }
    let queries = query_codes(args)?;
    if queries.packed_bytes() != index.packed_bytes() {
        let width = |c: &BinaryCodes| format!("{} bits ({} bytes)", c.bits(), c.packed_bytes());
        return Err(CliError::mismatch(
            "the queries' code width vs the index's",
            width(&index),
            width(&queries),
        ));
    }
    let queries =
        BinaryCodes::from_packbits(&queries.to_packbits(), queries.len(), index.packed_bytes())?;
    if args.exclude_self && queries.len() != index.len() {
        return Err(CliError::mismatch(
            "--exclude-self: queries (the index's own codes, in order)",
            index.len(),
            queries.len(),
        ));
    }
    let available = index.len() - usize::from(args.exclude_self);
    if let Ask::Nearest(k) = ask
        && k > available
    {
        return Err(CliError::arg(
            "--k",
            k,
            format!("at most {available}, the codes of the index a query can retrieve"),
        ));
    }
    let labels = labels(args, index.len(), queries.len())?;
    let results = search(&index, &queries, ask, args.exclude_self)?;
    if let Some(out) = &args.out {
        write_results(out, &results)?;
    }
    report(args, g, (&index, &queries), ask, &results, labels.as_ref())
}

/// The one-of flags and the paths, before anything is read.
fn check_flags(args: &SearchArgs) -> Result<Ask> {
    let ask = match (args.k, args.radius) {
        (Some(k), None) => Ask::Nearest(k as usize),
        (None, Some(r)) => Ask::Within(r),
        (Some(_), Some(_)) => {
            return Err(CliError::unsupported(
                "--k with --radius",
                "ask for the k nearest codes or for a Hamming ball, not both",
            ));
        }
        (None, None) => {
            return Err(CliError::arg(
                "--k/--radius",
                "(missing)",
                "--k K or --radius R",
            ));
        }
    };
    check_query_source(args)?;
    if args.index_labels.is_some() != args.query_labels.is_some() {
        return Err(CliError::unsupported(
            if args.index_labels.is_some() {
                "--index-labels without --query-labels"
            } else {
                "--query-labels without --index-labels"
            },
            "precision needs the labels of both the index and the queries",
        ));
    }
    check_files(args)?;
    Ok(ask)
}

/// Exactly one source of queries: `--queries`, or `--model` with `--data`.
fn check_query_source(args: &SearchArgs) -> Result<()> {
    match (&args.queries, &args.model, &args.data) {
        (Some(_), None, None) if args.threshold.is_none() => Ok(()),
        (Some(_), _, _) => Err(CliError::unsupported(
            "--queries with --model, --data or --threshold",
            "give packed codes (--queries) or a model and data to hash (--model M --data X)",
        )),
        (None, Some(_), Some(_)) => Ok(()),
        (None, Some(_), None) => Err(CliError::arg(
            "--data",
            "(missing)",
            "the data to hash into queries with --model",
        )),
        (None, None, Some(_)) => Err(CliError::arg(
            "--model",
            "(missing)",
            "the model that hashes --data into queries",
        )),
        (None, None, None) => Err(CliError::arg(
            "--queries",
            "(missing)",
            "packed codes (--queries q.npy), or --model M --data X",
        )),
    }
}

/// The output's extension, and that no output is an input.
fn check_files(args: &SearchArgs) -> Result<()> {
    if let Some(out) = &args.out
        && !out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(CliError::arg(
            "--out",
            out.display(),
            "a file name ending in .csv",
        ));
    }
    let inputs: Vec<(&'static str, &Path)> = [
        ("--index", Some(args.index.as_path())),
        ("--queries", args.queries.as_deref()),
        ("--model", args.model.as_deref()),
        ("--data", args.data.as_deref()),
        ("--index-labels", args.index_labels.as_deref()),
        ("--query-labels", args.query_labels.as_deref()),
    ]
    .into_iter()
    .filter_map(|(f, p)| Some((f, p?)))
    .collect();
    let outputs: Vec<(&'static str, &Path)> =
        args.out.iter().map(|o| ("--out", o.as_path())).collect();
    check_paths(&inputs, &outputs)
}

/// The queries: packed codes, or the model's codes of the data.
fn query_codes(args: &SearchArgs) -> Result<BinaryCodes> {
    match (&args.queries, &args.model, &args.data) {
        (Some(q), _, _) => read_packed("--queries", q),
        (None, Some(model), Some(data)) => {
            let m = load_with(model, &args.precision)?;
            model_codes(&m, model, data, args.threshold.unwrap_or(0.5))
        }
        _ => unreachable!("checked by check_flags"),
    }
}

/// The index's and the queries' labels, when given, checked against
/// their counts.
fn labels(
    args: &SearchArgs,
    n_index: usize,
    n_queries: usize,
) -> Result<Option<(Vec<u32>, Vec<u32>)>> {
    let (Some(il), Some(ql)) = (&args.index_labels, &args.query_labels) else {
        return Ok(None);
    };
    let read = |flag: &str, path: &Path, n: usize, what: &str| -> Result<Vec<u32>> {
        let l = read_labels(path)?;
        if l.len() != n {
            return Err(CliError::mismatch(
                format!("{flag} {}: labels (one per {what})", path.display()),
                n,
                l.len(),
            ));
        }
        Ok(l)
    };
    Ok(Some((
        read("--index-labels", il, n_index, "code of the index")?,
        read("--query-labels", ql, n_queries, "query")?,
    )))
}

/// Each query's results, by distance then index (its own code left out
/// with `exclude_self`).
fn search(
    index: &BinaryCodes,
    queries: &BinaryCodes,
    ask: Ask,
    exclude_self: bool,
) -> Result<Vec<Vec<Neighbor>>> {
    let kernel_index = index.index()?;
    let mut searcher = Searcher::new();
    let mut hits = Vec::new();
    let mut results = Vec::with_capacity(queries.len());
    for q in 0..queries.len() {
        let query = queries.code(q).unwrap_or(&[]);
        match ask {
            Ask::Nearest(k) => {
                let k = k + usize::from(exclude_self);
                searcher.nearest(&kernel_index, query, k, &mut hits, Par::All)?;
            }
            Ask::Within(r) => searcher.within(&kernel_index, query, r, &mut hits, Par::All)?,
        }
        if exclude_self {
            hits.retain(|h| h.index as usize != q);
            if let Ask::Nearest(k) = ask {
                hits.truncate(k);
            }
        }
        results.push(hits.clone());
    }
    Ok(results)
}

/// Writes `query,rank,index,distance` lines, atomically.
fn write_results(path: &Path, results: &[Vec<Neighbor>]) -> Result<()> {
    let mut text = String::from("query,rank,index,distance\n");
    for (q, hits) in results.iter().enumerate() {
        for (rank, h) in hits.iter().enumerate() {
            let _ = writeln!(text, "{q},{},{},{}", rank + 1, h.index, h.distance);
        }
    }
    write_atomic(path, text.as_bytes())
}

/// Retrieval quality against labels, means over the queries.
#[derive(Debug, Default)]
struct Quality {
    /// Mean over the queries of the fraction of its results with its
    /// label (queries without results left out).
    precision: Option<f64>,
    /// Mean over the queries of the fraction of the index's codes with its
    /// label that it retrieved (queries whose label the index lacks left
    /// out).
    recall: Option<f64>,
}

/// Precision and recall of `results` for the labels `(index, queries)`;
/// the query's own code, left out, is not counted as relevant.
fn quality(results: &[Vec<Neighbor>], (il, ql): (&[u32], &[u32]), exclude_self: bool) -> Quality {
    let mut per_class: HashMap<u32, usize> = HashMap::new();
    for &l in il {
        *per_class.entry(l).or_default() += 1;
    }
    let (mut p_sum, mut p_n, mut r_sum, mut r_n) = (0.0, 0usize, 0.0, 0usize);
    for (q, hits) in results.iter().enumerate() {
        let label = ql[q];
        let relevant = hits
            .iter()
            .filter(|h| il[h.index as usize] == label)
            .count();
        if !hits.is_empty() {
            p_sum += relevant as f64 / hits.len() as f64;
            p_n += 1;
        }
        let own = usize::from(exclude_self && il[q] == label);
        let in_index = per_class.get(&label).copied().unwrap_or(0) - own;
        if in_index > 0 {
            r_sum += relevant as f64 / in_index as f64;
            r_n += 1;
        }
    }
    Quality {
        precision: (p_n > 0).then(|| p_sum / p_n as f64),
        recall: (r_n > 0).then(|| r_sum / r_n as f64),
    }
}

/// The summary line (and per-query lines without --out), and the JSON.
fn report(
    args: &SearchArgs,
    g: &Global,
    (index, queries): (&BinaryCodes, &BinaryCodes),
    ask: Ask,
    results: &[Vec<Neighbor>],
    labels: Option<&(Vec<u32>, Vec<u32>)>,
) -> Result<Report> {
    let q = labels.map(|(il, ql)| quality(results, (il, ql), args.exclude_self));
    let found: usize = results.iter().map(Vec::len).sum();
    let with_results = results.iter().filter(|r| !r.is_empty()).count();
    let mean_found = found as f64 / results.len().max(1) as f64;
    say_results(
        args,
        g,
        (index, queries),
        ask,
        results,
        (q.as_ref(), mean_found, with_results),
    );
    let mut j = json!({
        "command": "search",
        "index": args.index.display().to_string(),
        "codes": index.len(),
        "queries": queries.len(),
        "bits": index.bits(),
        "k": match ask { Ask::Nearest(k) => Some(k), Ask::Within(_) => None },
        "radius": match ask { Ask::Within(r) => Some(r), Ask::Nearest(_) => None },
        "exclude_self": args.exclude_self,
        "mean_results": mean_found,
        "queries_with_results": with_results,
        "out": args.out.as_ref().map(|o| o.display().to_string()),
    });
    if let Some(q) = &q {
        match ask {
            Ask::Nearest(_) => j["precision_at_k"] = json!(q.precision),
            Ask::Within(_) => {
                j["precision"] = json!(q.precision);
                j["recall"] = json!(q.recall);
            }
        }
    }
    if args.out.is_none() {
        j["results"] = json!(
            results
                .iter()
                .map(|hits| hits
                    .iter()
                    .map(|h| [h.index, h.distance])
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
    }
    Ok(Report::json(j))
}

/// The per-query lines (without `--out`) and the summary line.
fn say_results(
    args: &SearchArgs,
    g: &Global,
    (index, queries): (&BinaryCodes, &BinaryCodes),
    ask: Ask,
    results: &[Vec<Neighbor>],
    (q, mean_found, with_results): (Option<&Quality>, f64, usize),
) {
    if args.out.is_none() {
        for (i, hits) in results.iter().enumerate() {
            let list: Vec<String> = hits
                .iter()
                .map(|h| format!("{}:{}", h.index, h.distance))
                .collect();
            say(g, format!("query {i}: {}", list.join(" ")));
        }
    }
    let (what, quality_text) = match (ask, q) {
        (Ask::Nearest(k), Some(q)) => (
            format!("k={k}"),
            format!(", precision@{k} {:.4}", q.precision.unwrap_or(0.0)),
        ),
        (Ask::Within(r), Some(q)) => (
            format!("radius {r}"),
            format!(
                ", precision {} recall {}",
                q.precision.map_or("n/a".into(), |p| format!("{p:.4}")),
                q.recall.map_or("n/a".into(), |r| format!("{r:.4}"))
            ),
        ),
        (Ask::Nearest(k), None) => (format!("k={k}"), String::new()),
        (Ask::Within(r), None) => (format!("radius {r}"), String::new()),
    };
    say(
        g,
        format!(
            "searched {} queries against {} codes of {} bits ({what}): {mean_found:.2} results per query, {with_results} queries with results{quality_text}{}",
            queries.len(),
            index.len(),
            index.bits(),
            args.out
                .as_ref()
                .map_or(String::new(), |o| format!("; wrote {}", o.display())),
        ),
    );
}
