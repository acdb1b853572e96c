//! `paygate-cli login`: checks the credentials with one request, then stores them.

use std::io::BufRead as _;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::output;
use crate::profile::Profile;

#[derive(clap::Args)]
pub struct Args {
    /// The server, e.g. https://localhost:8443.
    #[arg(long)]
    base_url: String,
    /// The merchant ID (needed for access tokens; checked by the server).
    #[arg(long)]
    merchant_id: Option<String>,
    /// An extra CA to trust, e.g. a sandbox's paygate-data/tls/cert.pem.
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

pub async fn run(args: Args, json: bool) -> Result<(), String> {
    // Never from the command line, which other users can see in `ps`.
    let mut lines = std::io::stdin().lock().lines();
    let mut next_line = || {
        lines
            .next()
            .and_then(Result::ok)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
    };
    let api_key = std::env::var("PAYGATE_API_KEY")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(&mut next_line)
        .ok_or("no API key: set PAYGATE_API_KEY or give it on standard input")?;
    let api_secret = std::env::var("PAYGATE_API_SECRET")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(next_line);
    let ca_file = args.ca_file.map(|p| std::path::absolute(&p).unwrap_or(p));
    let profile = Profile {
        base_url: args.base_url,
        api_key: SecretString::from(api_key),
        api_secret: api_secret.map(SecretString::from),
        merchant_id: args.merchant_id,
        ca_file,
    };
    let client = profile.client()?;
    client
        .balance()
        .await
        .map_err(|e| format!("the server refused these credentials: {e}"))?;
    let path = profile.store()?;
    if json {
        output::json(&serde_json::json!({
            "env": client.environment().as_str(),
            "credentials_file": path.display().to_string(),
        }));
    } else {
        println!(
            "Logged in ({} mode). Credentials stored in {} (mode 0600).",
            client.environment().as_str(),
            path.display()
        );
    }
    Ok(())
}
