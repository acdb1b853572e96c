//! Starting the server: data directory, master key, store, TLS, the sandbox
//! merchant on first start, and the listener. Used by `paygate serve` and by
//! the black-box tests alike.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use paygate_proto::Environment;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{router, AppState};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::http::{listener, tls};
use crate::keys::{issue_key, IssuedKey, KeySpec};
use crate::merchants::create_merchant;
use crate::store::Store;

pub struct ServeOptions {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// `PAYGATE_MASTER_KEY`, read by the caller from the environment.
    pub master_key: Option<SecretString>,
    /// Create a sandbox merchant and test key when there is no merchant yet.
    pub create_sandbox: bool,
}

/// A running server.
pub struct Running {
    pub local_addr: SocketAddr,
    /// The admin listener (`/metrics`).
    pub admin_addr: SocketAddr,
    pub certificate: Option<tls::CertificateInfo>,
    /// The sandbox merchant's first key, on the start that created it.
    pub sandbox: Option<IssuedKey>,
    pub sandbox_master_key: bool,
    pub state: AppState,
    /// The sandbox signer's process id, when this server started one.
    pub sandbox_signer_pid: Option<u32>,
    shutdown: watch::Sender<bool>,
    /// Dropped (so stopped) after the listener, with the server.
    chain: crate::chain::ChainRuntime,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets open requests finish, and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        // Authentication decisions are audited in batches: write the last one.
        self.state.auth().decisions().flush().await;
        drop(self.chain);
    }

    /// Runs until SIGINT or SIGTERM.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

pub async fn open_state(
    config: Config,
    master_key: Option<SecretString>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    open_state_with_signer(config, master_key, clock, None).await
}

async fn open_state_with_signer(
    config: Config,
    master_key: Option<SecretString>,
    clock: Arc<dyn Clock>,
    signer: Option<Arc<crate::chain::signer_client::SignerClient>>,
) -> anyhow::Result<AppState> {
    ensure_private_dir(&config.data_dir)?;
    let master_key = MasterKey::resolve(master_key, &config.master_key_file, &config.data_dir, true)
        .context("the master key could not be loaded")?;
    let store = Store::open(&config.database_url, &config.data_dir)
        .await
        .context("the database could not be opened")?;
    Ok(AppState::with_signer(config, store, master_key, clock, signer))
}

pub async fn start(options: ServeOptions) -> anyhow::Result<Running> {
    let ServeOptions {
        config,
        clock,
        master_key,
        create_sandbox,
    } = options;
    let tls = tls::server_config(&config).context("TLS could not be set up")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (listen)", config.listen))?;
    let local_addr = listener.local_addr()?;
    let admin = crate::metrics::bind_admin(config.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {} (admin_listen)", config.admin_listen))?;
    let admin_addr = admin.local_addr()?;
    let chain = crate::chain::start(&config).await?;
    let state = open_state_with_signer(config, master_key, clock, chain.signer.clone()).await?;
    let sandbox_master_key = state.master_key().is_sandbox_file();
    if sandbox_master_key {
        tracing::warn!(
            "the master key is kept in DATA_DIR/master.key beside the database: fine for a sandbox; in production supply PAYGATE_MASTER_KEY or master_key_file"
        );
    }
    let sandbox = if create_sandbox && state.store().merchant_count().await? == 0 {
        Some(create_sandbox_merchant(&state).await?)
    } else {
        None
    };
    let (tls_config, certificate) = match tls {
        Some((config, info)) => (Some(config), Some(info)),
        None => (None, None),
    };
    let (shutdown, shutdown_rx) = watch::channel(false);
    crate::webhooks::worker::spawn(state.clone(), shutdown_rx.clone()).context("the webhook worker could not start")?;
    let app = router(state.clone());
    crate::chain::watcher::spawn_all(&state, &shutdown_rx);
    crate::chain::payouts::spawn_all(&state, &shutdown_rx);
    tokio::spawn(crate::maintenance::run(state.clone(), shutdown_rx.clone()));
    tokio::spawn(crate::realtime::run_pump(state.clone(), shutdown_rx.clone()));
    tokio::spawn(crate::audit::run_retention(state.clone(), shutdown_rx.clone()));
    tokio::spawn(crate::metrics::serve_admin(admin, state.clone(), shutdown_rx.clone()));
    let listener_state = state.clone();
    let task = tokio::spawn(async move {
        listener::serve(listener, tls_config, app, listener_state.config(), shutdown_rx).await;
    });
    tracing::info!(listen = %local_addr, "listening");
    Ok(Running {
        local_addr,
        admin_addr,
        certificate,
        sandbox,
        sandbox_master_key,
        state,
        sandbox_signer_pid: chain.sandbox.as_ref().map(|s| s.pid()),
        shutdown,
        chain,
        task,
    })
}

async fn create_sandbox_merchant(state: &AppState) -> anyhow::Result<IssuedKey> {
    let merchant = create_merchant(state.store(), "US", "sandbox@localhost.localdomain", state.now()).await?;
    let key = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Test,
        &KeySpec::named("sandbox"),
        state.now(),
    )
    .await?;
    Ok(key)
}

/// Creates `dir` (mode 0700) if it does not exist.
pub fn ensure_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| "cannot create the data directory (data_dir)")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
