//! `paygate-cli verify-webhook`: checks a delivery with the SDK's verifier,
//! for receivers written in other languages and for debugging.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use paygate_sdk::webhook::WebhookVerifier;

use crate::output;

#[derive(clap::Args)]
pub struct Args {
    /// An endpoint secret (repeat during a rotation); env PAYGATE_WEBHOOK_SECRET.
    #[arg(
        long = "secret",
        env = "PAYGATE_WEBHOOK_SECRET",
        hide_env_values = true,
        required = true
    )]
    secrets: Vec<String>,
    /// A received header as `name: value` (repeat).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The raw body (default: standard input).
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Seconds the timestamp may be from now.
    #[arg(long, default_value_t = 300)]
    tolerance: u64,
}

pub fn run(args: &Args, json: bool) -> ExitCode {
    match verify(args) {
        Ok(event) => {
            if json {
                output::json(&event);
            } else {
                println!("verified {} {}", event.event_type, event.id);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn verify(args: &Args) -> Result<paygate_sdk::proto::webhooks::Event, String> {
    let mut headers = HeaderMap::new();
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or("a header is `name: value`")?;
        let name = HeaderName::try_from(name.trim()).map_err(|_| "a header name is not valid")?;
        let value = HeaderValue::try_from(value.trim()).map_err(|_| "a header value is not valid")?;
        headers.append(name, value);
    }
    let mut body = Vec::new();
    match &args.body_file {
        Some(path) => body = std::fs::read(path).map_err(|e| format!("cannot read the body: {}", e.kind()))?,
        None => {
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| format!("cannot read the body: {}", e.kind()))?;
        }
    }
    let verifier = WebhookVerifier::new(&args.secrets)
        .map_err(|e| e.to_string())?
        .tolerance(Duration::from_secs(args.tolerance));
    verifier.verify(&headers, &body).map_err(|e| e.to_string())
}
