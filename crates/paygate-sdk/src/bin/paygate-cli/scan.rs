//! `paygate-cli scan`: leaked credentials in files.

use std::path::PathBuf;
use std::process::ExitCode;

use paygate_sdk::scan::scan_paths_with_progress;

use crate::output;

pub fn run(paths: &[PathBuf], json: bool) -> ExitCode {
    let progress = output::spinner("files scanned");
    let report = scan_paths_with_progress(paths, |_| progress.inc(1));
    progress.finish_and_clear();
    for finding in &report.findings {
        if json {
            output::json(&serde_json::json!({
                "path": finding.path.display().to_string(),
                "line": finding.line,
                "kind": finding.kind.as_str(),
                "masked": finding.masked,
            }));
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
