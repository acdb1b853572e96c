//! The `paygate-signer` command: init, serve, attest, verify.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paygate_signer::audit::{self, AuditLog};
use paygate_signer::eth::Address;
use paygate_signer::hd::{KeyPath, Seed};
use paygate_signer::policy::Policy;
use paygate_signer::store::{self, PayoutStore};
use paygate_signer::{seal, server};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "paygate-signer",
    about = "Holds Paygate's chain keys and signs checked intents"
)]
struct Cli {
    /// The signer's data directory (sealed seed, seal key, audit log).
    #[arg(
        long,
        env = "PAYGATE_SIGNER_DATA_DIR",
        default_value = "./paygate-signer-data",
        global = true
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the seed (random, or a BIP39 mnemonic read from stdin) and
    /// seals it; prints the hot wallet's address.
    Init {
        #[arg(long)]
        mnemonic_stdin: bool,
    },
    /// Listens on the Unix socket.
    Serve {
        /// Default: DATA_DIR/signer.sock.
        #[arg(long, env = "PAYGATE_SIGNER_SOCKET")]
        socket: Option<PathBuf>,
        /// Exits when standard input reaches its end: the parent that
        /// started this signer holds the pipe's other end, so the signer
        /// ends with it however it ends (`paygate serve`'s sandbox signer).
        /// It also waits up to 5 s for the data directory's serve lock,
        /// which a signer whose parent just died may still hold.
        #[arg(long)]
        exit_on_stdin_eof: bool,
        #[command(flatten)]
        policy: Policy,
    },
    /// Prints what this signer is: TEE, binary and policy hashes, hot wallet.
    Attest {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: Policy,
    },
    /// Verifies the audit log's hash chain.
    Verify,
    /// Allows payouts to ADDRESS when the signer runs with --allowlist-only
    /// (takes effect at once, also for a running signer).
    Allow { address: String },
    /// Removes ADDRESS from the payout allowlist.
    Disallow { address: String },
    /// Prints the payout allowlist, one address a line.
    Allowlist,
}

fn allowlist_vec(data_dir: &std::path::Path) -> anyhow::Result<Vec<Address>> {
    Ok(store::allowlist(data_dir)?.into_iter().collect())
}

fn open_seed(data_dir: &std::path::Path) -> anyhow::Result<Seed> {
    let key = seal::SealKey::resolve(data_dir, false)?;
    Ok(seal::load(data_dir, &key)?)
}

fn set_allowed(data_dir: &std::path::Path, address: &str, allowed: bool) -> anyhow::Result<()> {
    let parsed = Address::parse(address).map_err(|e| anyhow::anyhow!("{address}: {e}"))?;
    if !data_dir.join("seed.sealed").exists() {
        anyhow::bail!("{} is not an initialised signer directory", data_dir.display());
    }
    store::set_allowed(data_dir, parsed, allowed)?;
    let own_uid = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    let op = if allowed { "allow" } else { "disallow" };
    let detail = serde_json::json!({"address": parsed.checksummed()});
    AuditLog::open(&data_dir.join("audit.log"))?.record(own_uid, op, "allowed", detail)?;
    println!("{op}ed {parsed}");
    Ok(())
}

/// Resolves when standard input reaches its end (or fails), if `watch`;
/// never otherwise. The read runs on a thread of its own, which neither
/// holds up the runtime's shutdown nor outlives the process.
async fn stdin_end(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let (done, ended) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        drop(done);
    });
    let _ = ended.await;
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init { mnemonic_stdin } => {
            let seed = if mnemonic_stdin {
                let mut phrase = Zeroizing::new(String::new());
                std::io::stdin().read_to_string(&mut phrase)?;
                Seed::from_mnemonic(&phrase, "")?
            } else {
                Seed::generate()
            };
            std::fs::create_dir_all(&cli.data_dir)?;
            let key = seal::SealKey::resolve(&cli.data_dir, true)?;
            seal::store(&cli.data_dir, &key, &seed)?;
            println!("{}", seed.address(KeyPath::HotWallet)?);
            Ok(())
        }
        Command::Serve {
            socket,
            exit_on_stdin_eof,
            policy,
        } => {
            let seed = open_seed(&cli.data_dir)?;
            let lock_wait = if exit_on_stdin_eof {
                Duration::from_secs(5)
            } else {
                Duration::ZERO
            };
            let _serving = store::lock_serving(&cli.data_dir, lock_wait)?;
            let audit = AuditLog::open(&cli.data_dir.join("audit.log"))?;
            let payouts = PayoutStore::open(&cli.data_dir)?;
            let socket = socket.unwrap_or_else(|| cli.data_dir.join("signer.sock"));
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let (listener, own_uid) = server::bind(&socket)?;
                eprintln!(
                    "paygate-signer: listening on {} (policy {})",
                    socket.display(),
                    policy.sha256(&allowlist_vec(&cli.data_dir)?)
                );
                let signer = Arc::new(server::Signer {
                    seed,
                    policy,
                    audit: Mutex::new(audit),
                    data_dir: cli.data_dir.clone(),
                    payouts: Mutex::new(payouts),
                });
                let parent_gone = stdin_end(exit_on_stdin_eof);
                tokio::select! {
                    result = server::serve(listener, own_uid, signer) => result,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                    _ = parent_gone => {
                        eprintln!("paygate-signer: standard input closed (the parent is gone); exiting");
                        Ok(())
                    }
                }
            })
        }
        Command::Attest { json: _, policy } => {
            let seed = open_seed(&cli.data_dir)?;
            let exe = std::env::current_exe()?;
            let binary = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
            let out = serde_json::json!({
                "tee": "none",
                "binary_sha256": hex::encode(Sha256::digest(&binary)),
                "policy_sha256": policy.sha256(&allowlist_vec(&cli.data_dir)?),
                "hot_wallet": seed.address(KeyPath::HotWallet)?.checksummed(),
            });
            println!("{out}");
            Ok(())
        }
        Command::Verify => {
            let (count, last) = audit::verify(&cli.data_dir.join("audit.log"))?;
            println!("audit log intact: {count} entries, last hash {last}");
            Ok(())
        }
        Command::Allow { address } => set_allowed(&cli.data_dir, &address, true),
        Command::Disallow { address } => set_allowed(&cli.data_dir, &address, false),
        Command::Allowlist => {
            for address in allowlist_vec(&cli.data_dir)? {
                println!("{address}");
            }
            Ok(())
        }
    }
}
