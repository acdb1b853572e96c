//! `paygate-cli`: the merchant developer's command-line companion.
#![forbid(unsafe_code)]

mod listen;
mod login;
mod money;
mod output;
mod profile;
mod refunds;
mod scan;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// No `Debug` on the argument types: they carry keys, secrets and webhook
// secrets, and a printed value must never show them.
#[derive(Parser)]
#[command(name = "paygate-cli", version, about = "Paygate for merchants' developers")]
struct Cli {
    /// Machine-readable output: JSON documents (one per line for streams).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check an API key (and secret) against the server and store them for
    /// the other commands (mode 0600 file). The key is read from
    /// PAYGATE_API_KEY or standard input, the secret from PAYGATE_API_SECRET
    /// or the next line of standard input (optional).
    Login(login::Args),
    /// Create, list and show payments.
    #[command(subcommand)]
    Payments(money::PaymentCommand),
    /// Create, list, show, approve and reject withdrawals.
    #[command(subcommand)]
    Withdrawals(money::WithdrawalCommand),
    /// Create, list and show refunds.
    #[command(subcommand)]
    Refunds(refunds::RefundCommand),
    /// Make an event happen in test mode (e.g. `trigger payment.succeeded`).
    Trigger {
        /// payment.created, payment.succeeded, payment.failed or payment.canceled.
        event: String,
    },
    /// Receive the merchant's events over the realtime socket and forward
    /// each, signed, to a local endpoint (Standard Webhooks headers).
    Listen(listen::Args),
    /// Verify a webhook delivery with the SDK's verifier (exit 1 if it fails).
    VerifyWebhook(verify::Args),
    /// Find Paygate keys and secrets in files. Exits 1 when one is found.
    Scan {
        /// Files or directories (searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Scan { paths } = &cli.command {
        return scan::run(paths, cli.json);
    }
    if let Command::VerifyWebhook(args) = &cli.command {
        return verify::run(args, cli.json);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Login(args) => login::run(args, cli.json).await,
            Command::Payments(command) => money::payments(command, cli.json).await,
            Command::Withdrawals(command) => money::withdrawals(command, cli.json).await,
            Command::Refunds(command) => refunds::refunds(command, cli.json).await,
            Command::Trigger { event } => money::trigger(&event, cli.json).await,
            Command::Listen(args) => listen::run(args, cli.json).await,
            Command::Scan { .. } | Command::VerifyWebhook(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
