//! The sandbox signer: when a chain is configured and `[signer].socket` is
//! empty, `paygate serve` runs `paygate-signer` as a child process with its
//! own data directory (`DATA_DIR/signer`), creating a random seed on first
//! start, and stops it with the server: dropped with the server, or, when
//! the server dies without dropping it (`SIGKILL`), through the pipe on the
//! child's stdin, whose end closes with the server's process. A production deployment runs the
//! signer as its own service under its own user (docs/deploy.md) and sets
//! `[signer].socket`; a live chain requires that.
//!
//! The child gets an empty environment and its policy on the command line:
//! the test chain's id, its token contracts and the `[signer]` caps
//! (`max_fee_per_gas_gwei`, `payout_cap`, `daily_cap`, `allowlist_only`).

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::config::{EvmChain, SignerConfig};
use super::signer_client::{SignerClient, SignerError};

/// How long the child has to start answering on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running sandbox signer; dropping it stops the process.
pub struct SandboxSigner {
    child: Child,
    /// The write end of the child's standard input, never written: when
    /// this process ends, however it ends (a `SIGKILL` included), the kernel
    /// closes it, and the child (`--exit-on-stdin-eof`) exits.
    _lifeline: ChildStdin,
    socket: PathBuf,
}

impl std::fmt::Debug for SandboxSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxSigner")
            .field("pid", &self.child.id())
            .field("socket", &self.socket)
            .finish()
    }
}

impl Drop for SandboxSigner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `paygate-signer` binary: `PAYGATE_SIGNER_BIN` when set, else the one
/// next to the running executable.
pub fn signer_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PAYGATE_SIGNER_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("the running executable cannot be found")?;
    let beside = exe.with_file_name("paygate-signer");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!(
        "a chain is configured but [signer].socket is empty, and no paygate-signer binary is beside {} \
         (set PAYGATE_SIGNER_BIN, or run the signer and set signer.socket)",
        exe.display()
    )
}

impl SandboxSigner {
    /// The signer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Starts the signer for `chain` in `data_dir/signer` and waits until it
    /// answers; returns it with its client.
    pub async fn start(
        data_dir: &Path,
        chain: &EvmChain,
        caps: &SignerConfig,
    ) -> anyhow::Result<(SandboxSigner, SignerClient)> {
        let binary = signer_binary()?;
        let dir = data_dir.join("signer");
        if !dir.join("seed.sealed").exists() {
            let output = Command::new(&binary)
                .arg("--data-dir")
                .arg(&dir)
                .arg("init")
                .env_clear()
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("{} could not be run", binary.display()))?;
            if !output.status.success() {
                bail!(
                    "the sandbox signer could not create its seed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            let hot_wallet = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            tracing::info!(%hot_wallet, "the sandbox signer created a new seed in DATA_DIR/signer");
        }
        let socket = dir.join("signer.sock");
        // Only the child started here may answer on this path.
        if std::fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            std::fs::remove_file(&socket).context("the old sandbox signer socket could not be removed")?;
        }
        let mut command = Command::new(&binary);
        command
            .arg("--data-dir")
            .arg(&dir)
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .arg("--exit-on-stdin-eof")
            .arg("--chain-id")
            .arg(chain.chain_id.to_string())
            .arg("--max-fee-per-gas-gwei")
            .arg(caps.max_fee_per_gas_gwei.to_string())
            .arg("--payout-cap")
            .arg(caps.payout_cap.to_string())
            .arg("--daily-cap")
            .arg(caps.daily_cap.to_string());
        if caps.allowlist_only {
            command.arg("--allowlist-only");
        }
        for contract in chain.tokens.values() {
            command.arg("--token").arg(contract);
        }
        let mut child = command
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("{} could not be started", binary.display()))?;
        let lifeline = child.stdin.take().context("the sandbox signer's stdin pipe")?;
        let mut signer = SandboxSigner {
            child,
            _lifeline: lifeline,
            socket,
        };
        let client = signer.wait_until_answering().await?;
        tracing::info!(pid = signer.pid(), socket = %signer.socket.display(), "sandbox signer started");
        Ok((signer, client))
    }

    async fn wait_until_answering(&mut self) -> anyhow::Result<SignerClient> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the sandbox signer exited at start ({status}); its reason is in the log above");
            }
            match SignerClient::connect(&self.socket).await {
                Ok(client) => return Ok(client),
                Err(SignerError::Unavailable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => bail!("the sandbox signer does not answer: {e}"),
            }
        }
    }
}
