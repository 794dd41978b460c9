//! `paytap up`: the whole platform on loopback until Ctrl-C / SIGTERM.
//!
//! Starts the card network (ledger, vault, twenty banks, token service,
//! switch), the six transit operators' hosts, the wallet service and the
//! web site (see [`crate::platform`]),
//! with SQLite databases in the data directory (created on first run) or
//! on PostgreSQL (`--database-url`, one schema per database), prints the
//! URLs, and writes `DIR/endpoints.json` once everything
//! listens. Nothing is written before the three ports are bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;

use paytap_wallet::TrustedProxies;

use crate::platform::storage::Storage;
use crate::platform::{Listeners, Platform, PlatformOptions};

#[derive(ClapArgs)]
pub struct Args {
    /// Data directory (databases, keys, device keystores, SMS outbox).
    #[arg(long, env = "PAYTAP_DATA_DIR", default_value = "./paytap-data")]
    pub data_dir: PathBuf,
    /// Wallet API and web site address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub wallet_addr: SocketAddr,
    /// Switch acquirer (ISO 8583) address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8583")]
    pub switch_addr: SocketAddr,
    /// Transit operators' API address (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8591")]
    pub transit_addr: SocketAddr,
    /// Reverse proxies whose X-Forwarded-For names the client: addresses
    /// or CIDR blocks, comma-separated (default: none is trusted).
    #[arg(long, env = "PAYTAP_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Keep the databases on PostgreSQL (postgres://user@host/db), one
    /// schema each, instead of SQLite files in the data directory.
    #[arg(long, env = "PAYTAP_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Put before each schema's name on PostgreSQL (several platforms may
    /// share one database).
    #[arg(long, requires = "database_url", default_value = crate::platform::storage::DEFAULT_SCHEMA_PREFIX)]
    pub schema_prefix: String,
    /// A region's wallet database on a PostgreSQL server of its own, as
    /// REGION=URL (e.g. in=postgres://db.in.example/paytap: India's data
    /// in India); repeatable.
    #[arg(long, requires = "database_url", value_name = "REGION=URL")]
    pub region_database_url: Vec<String>,
}

impl Args {
    /// Where the databases live, from `--database-url` and its companions.
    fn storage(&self) -> anyhow::Result<Storage> {
        let Some(url) = &self.database_url else {
            return Ok(Storage::Files);
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            anyhow::bail!(
                "--database-url {url:?}: give a postgres:// URL (without it, SQLite files in --data-dir)"
            );
        }
        if !paytap_store::valid_schema_name(&format!("{}network", self.schema_prefix)) {
            anyhow::bail!(
                "--schema-prefix {:?}: lowercase letters, digits and '_', starting with a letter",
                self.schema_prefix
            );
        }
        Storage::postgres(url, &self.schema_prefix).with_regions(&self.region_database_url)
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init("info");
    // Everything written from here on is private to the owner (the data
    // directory holds password hashes, keys and passcodes).
    #[allow(unsafe_code, reason = "umask(2) has no safe wrapper")]
    // SAFETY: umask only sets the process's file-creation mask.
    unsafe {
        libc::umask(0o077)
    };
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

/// Binds the three ports, then takes the data directory's lock, then opens the
/// storage: a busy port leaves no file behind, and a second platform on
/// the same data directory (on other ports) is refused by the lock before
/// it opens a database.
async fn serve(args: Args) -> anyhow::Result<()> {
    let opts = PlatformOptions {
        data_dir: args.data_dir.clone(),
        wallet_addr: args.wallet_addr,
        switch_addr: args.switch_addr,
        transit_addr: args.transit_addr,
        sms_file: true,
        trusted_proxies: args.trusted_proxies.clone(),
        storage: args.storage()?,
    };
    let listeners = Listeners::bind(&opts).await?;
    let _lock = crate::instance::lock_data_dir(&args.data_dir)?;
    let storage = opts.storage.describe(&args.data_dir);
    let platform = Platform::start_on(opts, listeners).await?;
    println!("databases: {storage}");
    println!("wallet: {}", platform.wallet_url);
    println!("web: {}", platform.wallet_url);
    println!("api: {}api/v1/openapi.json", platform.wallet_url);
    println!("switch: {}", platform.switch_addr);
    println!("transit: {}transit/v1/operators", platform.transit_url);
    println!(
        "acquirer keys: {} (terminals: --data-dir or --acquirer-key-file)",
        args.data_dir
            .join(paytap_network::acquirers::ACQUIRERS_FILE)
            .display()
    );
    if args.wallet_addr.ip().is_loopback() {
        println!(
            "emulator: {}emulator/v1/info (loopback only)",
            platform.wallet_url
        );
    }
    println!(
        "sms outbox: {}",
        args.data_dir.join("sms-outbox.jsonl").display()
    );
    let endpoints = serde_json::json!({
        "wallet_url": platform.wallet_url,
        "switch_addr": platform.switch_addr.to_string(),
        "transit_url": platform.transit_url,
    });
    let path = args.data_dir.join("endpoints.json");
    let tmp = args.data_dir.join("endpoints.json.tmp");
    write_private(&tmp, &serde_json::to_vec_pretty(&endpoints)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    println!("ready (Ctrl-C to stop)");
    tracing::info!(wallet = %platform.wallet_url, switch = %platform.switch_addr, "paytap is up");
    wait_for_stop().await;
    tracing::info!("stopping");
    // Gone already is fine: it only told clients where to connect.
    let _ = std::fs::remove_file(&path);
    platform.shutdown().await;
    println!("stopped");
    Ok(())
}

/// Writes a new file with mode 0600.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    // An error means no Ctrl-C handler could be installed: stop then.
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        // An error means no Ctrl-C handler could be installed: stop then.
        let _ = ctrl_c.await;
    }
}
