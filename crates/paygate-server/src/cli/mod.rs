//! The operator's command line: `paygate serve`, `merchant create`,
//! `merchant suspend|unsuspend|lockdown`, `keys create`, `keys revoke`,
//! `migrate`, `audit verify`, `ledger verify`, `chain status|reconcile`
//! (one module per command group beside this one).

mod banner;
mod chain;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use paygate_proto::{Environment, MerchantId};
use secrecy::SecretString;
use serde_json::json;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::keys::{issue_key, IssuedKey, KeySpec};
use crate::serve::{self, ServeOptions};
use crate::suspension::{self, Change};

#[derive(Debug, Parser)]
#[command(name = "paygate", version, about = "Paygate: a self-hostable payment gateway")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./paygate-data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the double-entry ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Access-token signing keys.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// The stablecoin chain: status and reconciliation.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check that every transaction sums to zero, every balance equals the
    /// sum of its entries and no merchant balance is negative; exit non-zero
    /// naming what is wrong.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Make a new Ed25519 key current for signing access tokens.
    RotateSigningKey,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit non-zero naming the first bad row.
    Verify,
    /// Write audit rows as JSON lines (for a SIEM).
    Export {
        /// RFC 3339 time or Unix seconds; default: everything kept.
        #[arg(long)]
        since: Option<String>,
    },
    /// Remove rows older than the retention period (or `--before`) now,
    /// leaving a checkpoint that keeps verification passing.
    Prune {
        /// RFC 3339 time or Unix seconds.
        #[arg(long)]
        before: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant and print its ID.
    Create {
        /// ISO 3166-1 alpha-2 country code, e.g. ZA.
        #[arg(long)]
        country: String,
        #[arg(long)]
        email: String,
    },
    /// Suspend a merchant: every request of it gets `403 account_suspended`
    /// and its webhook deliveries wait until it is restored.
    Suspend {
        merchant: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension; held webhook deliveries resume.
    Unsuspend {
        merchant: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "suspension lifted")]
        reason: String,
    },
    /// Stop every key, session, ws token and open checkout session of a
    /// merchant in one environment, and issue one new key and secret
    /// (printed once).
    Lockdown {
        merchant: String,
        #[arg(long, value_parser = ["test", "live"])]
        env: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue an API key and secret (printed once).
    Create {
        #[arg(long)]
        merchant: String,
        #[arg(long, value_parser = ["test", "live"])]
        env: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a key at once.
    Revoke { id: String },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let config = match load_config(&cli.global) {
        Ok(config) => config,
        Err(err) => return fail(&cli.global, &err.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&cli.global, &format!("cannot start the runtime: {err}")),
    };
    match runtime.block_on(crate::store::settled(run(cli.command, &cli.global, config))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&cli.global, &format!("{err:#}")),
    }
}

fn load_config(global: &GlobalArgs) -> Result<Config, crate::config::ConfigError> {
    let mut config = Config::load(global.config.as_deref())?;
    if let Some(dir) = &global.data_dir {
        config.data_dir.clone_from(dir);
    }
    Ok(config)
}

pub(crate) fn master_key_from_env() -> Option<SecretString> {
    std::env::var("PAYGATE_MASTER_KEY")
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

fn fail(global: &GlobalArgs, message: &str) -> ExitCode {
    if global.json {
        eprintln!("{}", json!({ "error": message }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::FAILURE
}

async fn run(command: Command, global: &GlobalArgs, config: Config) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match command {
        Command::Serve => {
            let options = ServeOptions {
                config,
                clock,
                master_key: master_key_from_env(),
                create_sandbox: true,
            };
            let running = serve::start(options).await?;
            banner::print_banner(&running, global.json);
            running.run_until_signal().await;
            Ok(())
        }
        Command::Migrate => {
            serve::open_state(config, master_key_from_env(), clock).await?;
            print(global.json, json!({ "migrated": true }), "Migrations applied.");
            Ok(())
        }
        Command::Merchant(MerchantCommand::Create { country, email }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let id = crate::merchants::create_merchant(state.store(), &country, &email, state.now()).await?;
            print(
                global.json,
                json!({ "merchant_id": id.as_str() }),
                &format!("merchant_id: {id}"),
            );
            Ok(())
        }
        Command::Merchant(MerchantCommand::Suspend { merchant, reason }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            change_suspension(&state, &merchant, Change::Suspend, &reason, global.json).await
        }
        Command::Merchant(MerchantCommand::Unsuspend { merchant, reason }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            change_suspension(&state, &merchant, Change::Unsuspend, &reason, global.json).await
        }
        Command::Merchant(MerchantCommand::Lockdown { merchant, env }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let merchant = existing_merchant(&state, &merchant).await?;
            let env = Environment::parse(&env).ok_or_else(|| anyhow::anyhow!("--env must be test or live"))?;
            let actor = crate::api_keys::Actor {
                label: "operator".to_owned(),
                ip: None,
            };
            let lockdown = crate::lockdown::lock_down(&state, &merchant, env, &actor)
                .await
                .map_err(|e| anyhow::anyhow!("the lockdown failed: {:?}", e.code()))?;
            let text = format!(
                "Locked down {merchant} ({env}): {} keys revoked, {} sessions ended, {} ws tokens spent, {} checkout sessions expired.\n\nThe one working key now:\nid:          {}\nkey:         {}\nsecret:      {}\n\nThe key and secret are shown once. Store them in your secret manager.",
                lockdown.revoked_keys,
                lockdown.ended_sessions,
                lockdown.spent_ws_tokens,
                lockdown.expired_checkout_sessions,
                lockdown.issued.id,
                lockdown.issued.key.expose(),
                lockdown.issued.secret.expose()
            );
            let value = json!({
                "merchant_id": merchant.as_str(),
                "env": env.as_str(),
                "revoked_keys": lockdown.revoked_keys,
                "ended_sessions": lockdown.ended_sessions,
                "spent_ws_tokens": lockdown.spent_ws_tokens,
                "expired_checkout_sessions": lockdown.expired_checkout_sessions,
                "new_key": issued_json(&lockdown.issued),
            });
            print(global.json, value, &text);
            Ok(())
        }
        Command::Keys(KeysCommand::Create { merchant, env, name }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let merchant = existing_merchant(&state, &merchant).await?;
            let env = Environment::parse(&env).ok_or_else(|| anyhow::anyhow!("--env must be test or live"))?;
            let issued = issue_key(
                state.store(),
                state.master_key(),
                &merchant,
                env,
                &KeySpec::named(name),
                state.now(),
            )
            .await?;
            let text = format!(
                "id:          {}\nmerchant_id: {}\nenv:         {}\nkey:         {}\nsecret:      {}\n\nThe key and secret are shown once. Store them in your secret manager.",
                issued.id, issued.merchant_id, issued.env, issued.key.expose(), issued.secret.expose()
            );
            print(global.json, issued_json(&issued), &text);
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            match crate::audit::verify(state.store()).await? {
                crate::audit::Verdict::Intact { rows } => {
                    print(
                        global.json,
                        json!({ "ok": true, "rows": rows }),
                        &format!("Audit chain intact: {rows} rows."),
                    );
                    Ok(())
                }
                crate::audit::Verdict::Broken { seq, problem } => {
                    print(
                        global.json,
                        json!({ "ok": false, "seq": seq, "problem": problem }),
                        &format!("Audit chain broken at row {seq}: {problem}."),
                    );
                    anyhow::bail!("audit chain broken at row {seq}: {problem}")
                }
            }
        }
        Command::Ledger(LedgerCommand::Verify) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let report = crate::ledger::verify(state.store()).await?;
            let clean = report.is_clean();
            let text = if clean {
                format!(
                    "Ledger balanced: {} entries in {} transactions; every balance matches its entries.",
                    report.entries, report.transactions
                )
            } else {
                format!(
                    "Ledger NOT clean.\nUnbalanced transactions: {:?}\nMismatched balances: {:?}\nNegative balances: {:?}",
                    report.unbalanced_transactions, report.mismatched_balances, report.negative_balances
                )
            };
            let mut value = serde_json::to_value(&report)?;
            value["ok"] = json!(clean);
            print(global.json, value, &text);
            if !clean {
                anyhow::bail!("the ledger is not clean");
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Export { since }) => {
            let since = since.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MIN);
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            for row in crate::audit::export(state.store(), since).await? {
                println!("{row}");
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Prune { before }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let retention = i64::from(state.config().audit.retention_days) * 86_400;
            let cutoff = before
                .as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(state.now() - retention);
            let rows = crate::audit::prune(state.store(), cutoff, state.now()).await?;
            print(
                global.json,
                json!({ "pruned": rows }),
                &format!("Pruned {rows} audit rows."),
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Revoke { id }) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let actor = crate::api_keys::Actor {
                label: "operator".to_owned(),
                ip: None,
            };
            if crate::api_keys::revoke_key(&state, &id, None, &actor)
                .await
                .map_err(|e| anyhow::anyhow!("cannot revoke the key: {:?}", e.code()))?
                .is_none()
            {
                anyhow::bail!("no active key with id {id}");
            }
            print(
                global.json,
                json!({ "id": id, "revoked": true }),
                &format!("Revoked {id}."),
            );
            Ok(())
        }
        Command::Auth(AuthCommand::RotateSigningKey) => {
            let state = serve::open_state(config, master_key_from_env(), clock).await?;
            let kid = crate::auth::tokens::add_signing_key(state.store(), state.master_key(), state.now()).await?;
            print(
                global.json,
                json!({ "kid": kid }),
                &format!("New token signing key {kid}; the previous key keeps verifying until the next rotation."),
            );
            Ok(())
        }
        Command::Chain(command) => chain::run(command, global.json, config, clock).await,
    }
}

/// The merchant named on the command line, which must exist.
async fn existing_merchant(state: &crate::app::AppState, text: &str) -> anyhow::Result<MerchantId> {
    let merchant =
        MerchantId::parse(text).map_err(|_| anyhow::anyhow!("{text:?} is not a merchant ID (MCH-CC-XXXXXX)"))?;
    if state.store().merchant(&merchant).await?.is_none() {
        anyhow::bail!("no such merchant: {merchant}");
    }
    Ok(merchant)
}

/// `merchant suspend` and `merchant unsuspend`.
async fn change_suspension(
    state: &crate::app::AppState,
    merchant: &str,
    change: Change,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let merchant = existing_merchant(state, merchant).await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        anyhow::bail!("--reason must be 1 to 500 characters");
    }
    let applied = suspension::set(state.store(), &merchant, change, reason, "operator", state.now()).await?;
    let suspended = change == Change::Suspend;
    let changed = applied == suspension::Applied::Changed;
    let text = match (suspended, changed) {
        (true, true) => {
            format!("Suspended {merchant}: its requests now get 403 account_suspended; webhook deliveries wait.")
        }
        (true, false) => format!("{merchant} was already suspended."),
        (false, true) => format!("Restored {merchant}: requests are served again and held webhook deliveries resume."),
        (false, false) => format!("{merchant} was not suspended."),
    };
    print(
        as_json,
        json!({ "merchant_id": merchant.as_str(), "suspended": suspended, "changed": changed }),
        &text,
    );
    Ok(())
}

/// Unix seconds, or an RFC 3339 time.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| anyhow::anyhow!("{text:?} is neither Unix seconds nor an RFC 3339 time"))
}

fn issued_json(issued: &IssuedKey) -> serde_json::Value {
    json!({
        "id": issued.id,
        "key": issued.key.expose(),
        "secret": issued.secret.expose(),
        "merchant_id": issued.merchant_id.as_str(),
        "env": issued.env.as_str(),
    })
}

pub(crate) fn print(as_json: bool, value: serde_json::Value, text: &str) {
    if as_json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}
