//! `paygate-cli`: the merchant developer's command-line companion.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paygate_sdk::scan::scan_paths;

#[derive(Debug, Parser)]
#[command(name = "paygate-cli", version, about = "Paygate for merchants' developers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find Paygate keys and secrets in files. Exits 1 when one is found.
    Scan {
        /// Files or directories (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per finding.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Scan { paths, json } => scan(&paths, json),
    }
}

fn scan(paths: &[PathBuf], json: bool) -> ExitCode {
    let report = scan_paths(paths);
    for finding in &report.findings {
        if json {
            let line = serde_json::json!({
                "path": finding.path.display().to_string(),
                "line": finding.line,
                "kind": finding.kind.as_str(),
                "masked": finding.masked,
            });
            println!("{line}");
        } else {
            println!(
                "{}:{}: {} {}",
                finding.path.display(),
                finding.line,
                finding.kind.as_str(),
                finding.masked
            );
        }
    }
    for (path, reason) in &report.unreadable {
        eprintln!("warning: {} not scanned: {reason}", path.display());
    }
    if report.findings.is_empty() {
        eprintln!("No Paygate credentials found in {} files.", report.files_scanned);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "Found {} Paygate credential(s) in {} files. Revoke or roll each one (a leaked key can also be reported at POST /v1/leaked-keys), then remove it.",
            report.findings.len(),
            report.files_scanned
        );
        ExitCode::from(1)
    }
}
