//! The `latent` program: see `latent --help` and the README's tour.
//!
//! Exit status 0 on success; 1 with one line `latent: error: …` on standard
//! error when a command fails; 2 for a command line that does not parse.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let parsed = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        ExitCode::from(2)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                _ => {
                    let text = e.render().to_string();
                    // The first paragraph (a list of missing arguments
                    // continues on indented lines), as one line.
                    let first: Vec<&str> = text
                        .lines()
                        .skip_while(|l| l.trim().is_empty())
                        .take_while(|l| !l.trim().is_empty())
                        .map(str::trim)
                        .collect();
                    let first = first.join(" ");
                    let first = first.strip_prefix("error: ").unwrap_or(&first);
                    let first = if first.is_empty() {
                        "invalid command line"
                    } else {
                        first
                    };
                    eprintln!("latent: error: {first} (see latent --help)");
                    ExitCode::from(2)
                }
            };
        }
    };
    if let Some(n) = parsed.global.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .thread_name(|i| format!("latent-{i}"))
            .build_global()
    {
        eprintln!("latent: error: --threads {n}: cannot build the thread pool: {e}");
        return ExitCode::from(1);
    }
    match cli::run(&parsed) {
        Ok(report) => {
            // A null report: a rank but 0 of a distributed run.
            if parsed.global.json && !report.json.is_null() {
                cli::print_line(&report.json);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("latent: error: {e}");
            ExitCode::from(1)
        }
    }
}
