//! # paytap-network: the card network, assembled
//!
//! [`Network::start`] wires one network database ([`paytap_store::Db`]) into
//! the double-entry ledger, the card vault (KEK keyring), the issuer
//! processor (twenty default banks), the token service and the switch, and
//! opens the switch's acquirer port on loopback (port 0 allowed). Issuers are
//! in-process by default; [`IssuerTransport::LoopbackTcp`] puts them behind
//! their own TCP endpoint and the switch reaches them with
//! [`paytap_switch::TcpIssuerLink`]; [`IssuerTransport::Remote`] points the
//! switch at issuers running elsewhere.
//!
//! [`RunningNetwork`] is what `paytap up`, the demo and the wallet adaptor
//! hold: the switch address, the [`paytap_types::PaymentEvent`] stream,
//! ID&V / OTP / provisioning / token lifecycle calls, demo card issuance,
//! the emulated SMS outbox, clearing, and a graceful shutdown.
//!
//! [`ComponentDbs`] optionally gives the ledger, the issuers, the token
//! service and the switch their own database files: each SQLite file has one
//! write lock, and components that commit on every authorization then stop
//! queuing behind each other (about 2.5 times the throughput in
//! `paytap bench auth` on a 2-core machine).
//!
//! [`adapters`] implements the switch's ports over the token service and
//! the issuers (neither of which depends on the switch), and the issuer's
//! TCP endpoint.
//!
//! [`terminal`] is a small acquirer terminal (secure element + kernel +
//! ISO 8583 client) for the integration tests, the benchmark and the demo.
//! [`bench`] is the `paytap bench auth` driver.

pub mod acquirers;
pub mod adapters;
pub mod bench;
pub mod terminal;

use adapters::{IssuerAdapter, IssuerServer, TokenServiceAdapter};
use paytap_guard::{Guard, OffersService, RiskService};
use paytap_issuer::{
    IdvDecision, IdvRequest, IssueCard, IssuedCard, Issuer, IssuerConfig, IssuerError, IssuerKeys,
    OtpDelivery, OtpOutcome,
};
use paytap_ledger::{Ledger, LedgerError};
use paytap_store::{Db, StoreError, now_millis};
use paytap_switch::{
    BinRange, ClearingReport, ForwardKey, IssuerLink, IssuerRoute, RunningSwitch, StandInRules,
    Switch, SwitchConfig, SwitchError, SwitchParts, TcpIssuerLink,
};
use paytap_tsp::{
    Actor, ProvisionRequest, Provisioned, TokenInfo, TokenKeys, TokenRange, TokenState, Tsp,
    TspConfig, TspError,
};
use paytap_types::PaymentEvent;
use paytap_vault::{Keyring, Vault, VaultError};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use zeroize::Zeroizing;

pub use paytap_issuer;
pub use paytap_ledger;
pub use paytap_switch;
pub use paytap_tsp;
pub use paytap_vault;

/// What the switch's stored-advice key is derived for ([`Keyring::subkey`]).
const FORWARD_KEY_PURPOSE: &str = "switch stored advices";

/// Starting or running the network failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("vault: {0}")]
    Vault(#[from] VaultError),
    #[error("issuer: {0}")]
    Issuer(#[from] IssuerError),
    #[error("token service: {0}")]
    Tsp(#[from] TspError),
    #[error("switch: {0}")]
    Switch(#[from] SwitchError),
    #[error("token range: {0}")]
    Range(#[from] paytap_tsp::number::RangeError),
    #[error("network i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("risk and offers: {0}")]
    Guard(#[from] paytap_guard::GuardError),
}

/// How the switch reaches the issuers.
#[derive(Debug, Clone, Default)]
pub enum IssuerTransport {
    /// Direct calls into the in-process issuer processor.
    #[default]
    InProcess,
    /// The in-process issuer behind its own loopback TCP endpoint.
    LoopbackTcp,
    /// Issuers elsewhere: bank id → address. Banks not listed stay in-process.
    Remote(HashMap<String, SocketAddr>),
}

/// Wraps an issuer's link (fault injection in tests: an issuer that does
/// not answer, a slow one ...). Called once per bank id.
pub type LinkHook = Arc<dyn Fn(&str, Arc<dyn IssuerLink>) -> Arc<dyn IssuerLink> + Send + Sync>;

/// Everything [`Network::start`] needs.
#[derive(Clone)]
pub struct NetworkConfig {
    /// The network database: the vault, and every component without its
    /// own database below.
    pub db: Db,
    /// Separate databases per component (each SQLite file has its own write
    /// lock, so components that commit often do not queue behind each other).
    pub component_dbs: ComponentDbs,
    /// Vault key-encryption keys.
    pub keyring: Keyring,
    /// Secret from which the banks' and the token service's master keys are
    /// derived (at least 16 bytes; keep it stable across restarts).
    pub master_secret: Zeroizing<Vec<u8>>,
    pub issuers: IssuerConfig,
    /// Acquirer port of the switch (port 0: any free port).
    pub switch_addr: SocketAddr,
    pub issuer_transport: IssuerTransport,
    /// How long the switch waits for an issuer.
    pub issuer_timeout: Duration,
    /// Switch settings other than the issuer table (which comes from `issuers`).
    pub switch: SwitchConfig,
    /// Token service settings other than the ranges (which come from `issuers`).
    pub tsp: TspConfig,
    pub link_hook: Option<LinkHook>,
    /// The acquirers the switch accepts (DE 32 id → MAC key): from
    /// `acquirers.toml` for a data directory, the demo acquirer under a
    /// random key otherwise ([`acquirers`]).
    pub acquirers: paytap_switch::Acquirers,
    /// How often the issuers release holds past their expiry
    /// ([`Issuer::expire_holds`]); `None`: never (tests call it).
    pub hold_sweep: Option<Duration>,
    /// The risk rules and offers every authorization passes through
    /// (`paytap-guard`, on the network database); both off in
    /// [`NetworkConfig::new`] (tests and benches choose), both on in the
    /// deployment layout [`NetworkConfig::for_data_dir`].
    pub guard: GuardConfig,
}

/// Which of the risk and offers services run on the card path, and with
/// which rules. `None`: off (the switch does no work for it).
#[derive(Clone, Debug, Default)]
pub struct GuardConfig {
    /// The risk rules, when risk is on.
    pub risk: Option<paytap_risk::RiskRules>,
    /// The offers, when offers are on.
    pub offers: Option<paytap_offers::OffersFile>,
}

/// The risk rules file in a data directory: when present it replaces the
/// embedded default rules (`crates/risk/src/rules.toml`).
pub const RISK_RULES_FILE: &str = "risk-rules.toml";
/// The offers file in a data directory: when present it replaces the
/// embedded default offers (`crates/offers/src/offers.toml`).
pub const OFFERS_FILE: &str = "offers.toml";

impl GuardConfig {
    /// Both on with the embedded default rules and offers.
    pub fn defaults() -> GuardConfig {
        GuardConfig {
            risk: Some(paytap_risk::RiskRules::default_rules()),
            offers: Some(paytap_offers::OffersFile::default_offers()),
        }
    }

    /// Both on, as the product runs: the rules and offers of `dir`'s
    /// [`RISK_RULES_FILE`] and [`OFFERS_FILE`] where they exist, the
    /// embedded defaults otherwise. A file that does not parse stops the
    /// start with its path and the reason (a platform never runs with
    /// rules other than the ones it was given).
    pub fn for_data_dir(dir: &Path) -> Result<GuardConfig, NetworkError> {
        let risk = match read_optional(&dir.join(RISK_RULES_FILE))? {
            None => paytap_risk::RiskRules::default_rules(),
            Some((path, text)) => paytap_risk::RiskRules::from_toml(&text)
                .map_err(|e| NetworkError::Config(format!("{path}: {e}")))?,
        };
        let offers = match read_optional(&dir.join(OFFERS_FILE))? {
            None => paytap_offers::OffersFile::default_offers(),
            Some((path, text)) => paytap_offers::OffersFile::from_toml(&text)
                .map_err(|e| NetworkError::Config(format!("{path}: {e}")))?,
        };
        Ok(GuardConfig {
            risk: Some(risk),
            offers: Some(offers),
        })
    }
}

/// A file's path and text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<(String, String)>, NetworkError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            tracing::info!(file = %path.display(), "read from the data directory");
            Ok(Some((path.display().to_string(), text)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetworkError::Config(format!("{}: {e}", path.display()))),
    }
}

impl std::fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("db", &self.db)
            .field("banks", &self.issuers.banks.len())
            .field("switch_addr", &self.switch_addr)
            .field("issuer_transport", &self.issuer_transport)
            .finish_non_exhaustive()
    }
}

/// Optional per-component databases; `None` uses [`NetworkConfig::db`].
/// No component reads another's tables, so any split is consistent.
#[derive(Clone, Debug, Default)]
pub struct ComponentDbs {
    pub ledger: Option<Db>,
    pub issuer: Option<Db>,
    pub tsp: Option<Db>,
    pub switch: Option<Db>,
}

impl ComponentDbs {
    /// One SQLite file per component in `dir`: `network-ledger.db`,
    /// `network-issuer.db`, `network-tsp.db`, `network-switch.db`.
    pub async fn sqlite_files(dir: &Path) -> Result<ComponentDbs, NetworkError> {
        let open = |name: &str| {
            let url = format!("sqlite://{}", dir.join(name).display());
            async move { Db::connect(&url).await }
        };
        Ok(ComponentDbs {
            ledger: Some(open("network-ledger.db").await?),
            issuer: Some(open("network-issuer.db").await?),
            tsp: Some(open("network-tsp.db").await?),
            switch: Some(open("network-switch.db").await?),
        })
    }
}

/// File in the data directory holding the master secret (hex, mode 0600).
pub const SECRET_FILE: &str = "network-secret.hex";
/// Environment variable that overrides the master secret file (hex).
pub const SECRET_ENV: &str = "PAYTAP_NETWORK_SECRET";

impl NetworkConfig {
    /// Defaults around a database, keyring and master secret: the twenty
    /// default banks, in-process issuers, switch on 127.0.0.1:8583.
    pub fn new(db: Db, keyring: Keyring, master_secret: Zeroizing<Vec<u8>>) -> NetworkConfig {
        NetworkConfig {
            db,
            component_dbs: ComponentDbs::default(),
            keyring,
            master_secret,
            issuers: IssuerConfig::default_banks(),
            switch_addr: SocketAddr::from(([127, 0, 0, 1], 8583)),
            issuer_transport: IssuerTransport::InProcess,
            issuer_timeout: Duration::from_secs(2),
            switch: SwitchConfig::default(),
            tsp: TspConfig::default(),
            link_hook: None,
            acquirers: acquirers::demo(acquirers::random_key()),
            hold_sweep: Some(Duration::from_secs(300)),
            guard: GuardConfig::default(),
        }
    }

    /// The deployment layout: `DIR/network.db`, the vault keyring from
    /// `PAYTAP_KEK` or `DIR/keys.toml`, the master secret from
    /// `PAYTAP_NETWORK_SECRET` or `DIR/network-secret.hex` (both created on
    /// first run, mode 0600), and the risk rules and offers on
    /// ([`GuardConfig::for_data_dir`]).
    pub async fn for_data_dir(dir: &Path) -> Result<NetworkConfig, NetworkError> {
        std::fs::create_dir_all(dir)?;
        let url = format!("sqlite://{}", dir.join("network.db").display());
        let db = Db::connect(&url).await?;
        NetworkConfig::for_data_dir_on(dir, db).await
    }

    /// [`NetworkConfig::for_data_dir`] with the network's tables in `db`
    /// (a PostgreSQL schema, say) instead of `DIR/network.db`; keys,
    /// secrets and settings still come from `dir`.
    pub async fn for_data_dir_on(dir: &Path, db: Db) -> Result<NetworkConfig, NetworkError> {
        std::fs::create_dir_all(dir)?;
        let keyring = Keyring::for_data_dir(dir)?;
        let secret = load_or_create_secret(dir)?;
        let mut config = NetworkConfig::new(db, keyring, secret);
        config.acquirers = acquirers::load_or_create(dir)?;
        config.guard = GuardConfig::for_data_dir(dir)?;
        Ok(config)
    }

    /// The switch's issuer table derived from the bank configuration.
    pub fn switch_config(&self) -> Result<SwitchConfig, NetworkError> {
        let mut cfg = self.switch.clone();
        cfg.issuers = self
            .issuers
            .banks
            .iter()
            .map(|b| {
                let ranges = |bins: &[String]| -> Result<Vec<BinRange>, NetworkError> {
                    bins.iter()
                        .map(|p| {
                            BinRange::new(p, p).map_err(|e| NetworkError::Config(e.to_string()))
                        })
                        .collect()
                };
                Ok(IssuerRoute {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    card_ranges: ranges(&b.card_bins)?,
                    token_ranges: ranges(&b.token_bins)?,
                    credit_ranges: ranges(&b.credit_bins)?,
                    timeout: self.issuer_timeout,
                    stand_in: StandInRules {
                        enabled: true,
                        currency: b.currency,
                        max_per_transaction: b.stand_in.max_amount,
                        max_per_card_per_day: b.stand_in.daily_amount,
                    },
                })
            })
            .collect::<Result<_, NetworkError>>()?;
        Ok(cfg)
    }
}

fn load_or_create_secret(dir: &Path) -> Result<Zeroizing<Vec<u8>>, NetworkError> {
    let parse = |s: &str| -> Result<Zeroizing<Vec<u8>>, NetworkError> {
        let v = Zeroizing::new(
            hex::decode(s.trim())
                .map_err(|_| NetworkError::Config("network secret must be hex".into()))?,
        );
        if v.len() < 16 {
            return Err(NetworkError::Config(
                "network secret must be at least 16 bytes".into(),
            ));
        }
        Ok(v)
    };
    if let Ok(v) = std::env::var(SECRET_ENV)
        && !v.trim().is_empty()
    {
        let v = Zeroizing::new(v);
        return parse(&v);
    }
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = Zeroizing::new(s);
            parse(&s)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = Zeroizing::new(vec![0u8; 32]);
            rand::fill(bytes.as_mut_slice());
            let text = Zeroizing::new(hex::encode(bytes.as_slice()));
            write_private(&path, text.as_bytes())?;
            Ok(bytes)
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Namespace of [`Network::start`].
pub struct Network;

/// The OTPs the emulated SMS gateway delivered, newest last (bounded).
#[derive(Clone, Default)]
pub struct SmsOutbox {
    inner: Arc<Mutex<VecDeque<OtpDelivery>>>,
}

const OUTBOX_MAX: usize = 1024;

impl SmsOutbox {
    /// Every message still in the outbox.
    pub fn messages(&self) -> Vec<OtpDelivery> {
        paytap_types::sync::lock(&self.inner, "otp outbox")
            .iter()
            .cloned()
            .collect()
    }

    /// The latest code sent for `verification_id`.
    pub fn code_for(&self, verification_id: &str) -> Option<Zeroizing<String>> {
        paytap_types::sync::lock(&self.inner, "otp outbox")
            .iter()
            .rev()
            .find(|d| d.verification_id == verification_id)
            .map(|d| Zeroizing::new(d.code.expose().clone()))
    }

    /// Copies every passcode `otps` carries into the outbox (another
    /// sender's SMS, such as the UPI banks' PIN-setting OTPs), until it
    /// closes.
    pub fn forward(
        &self,
        mut otps: broadcast::Receiver<OtpDelivery>,
    ) -> tokio::task::JoinHandle<()> {
        let ob = self.clone();
        tokio::spawn(async move {
            loop {
                match otps.recv().await {
                    Ok(d) => ob.push(d),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "SMS outbox lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    fn push(&self, d: OtpDelivery) {
        let mut q = paytap_types::sync::lock(&self.inner, "otp outbox");
        if q.len() >= OUTBOX_MAX {
            q.pop_front();
        }
        q.push_back(d);
    }
}

/// A running network. Dropping it does not stop it: call
/// [`RunningNetwork::shutdown`].
pub struct RunningNetwork {
    db: Db,
    ledger: Ledger,
    vault: Vault,
    issuer: Issuer,
    tsp: Tsp,
    switch: RunningSwitch,
    issuer_servers: Vec<IssuerServer>,
    outbox: SmsOutbox,
    outbox_task: tokio::task::JoinHandle<()>,
    sweep_task: Option<tokio::task::JoinHandle<()>>,
    acquirers: paytap_switch::Acquirers,
    guard: Option<Arc<Guard>>,
}

impl Network {
    /// Binds the switch's acquirer port ([`NetworkConfig::switch_addr`]),
    /// then builds and starts everything (see the crate documentation).
    pub async fn start(config: NetworkConfig) -> Result<RunningNetwork, NetworkError> {
        let listener = tokio::net::TcpListener::bind(config.switch_addr).await?;
        Network::start_on(config, listener).await
    }

    /// [`Network::start`] with the switch serving on `listener`, bound
    /// earlier (its [`NetworkConfig::switch_addr`] is not used).
    pub async fn start_on(
        config: NetworkConfig,
        listener: tokio::net::TcpListener,
    ) -> Result<RunningNetwork, NetworkError> {
        if config.master_secret.len() < 16 {
            return Err(NetworkError::Config(
                "master secret must be at least 16 bytes".into(),
            ));
        }
        let db = config.db.clone();
        let pick = |d: &Option<Db>| d.clone().unwrap_or_else(|| db.clone());
        let ledger = Ledger::open(pick(&config.component_dbs.ledger)).await?;
        let vault = Vault::open(db.clone(), config.keyring.clone()).await?;
        let bank_ids: Vec<&str> = config.issuers.banks.iter().map(|b| b.id.as_str()).collect();
        let issuer_keys = IssuerKeys::derive(&config.master_secret, bank_ids.iter().copied());
        let issuer = Issuer::open(
            pick(&config.component_dbs.issuer),
            ledger.clone(),
            vault.clone(),
            config.issuers.clone(),
            issuer_keys,
        )
        .await?;
        let tsp_config = tsp_config_for(&config)?;
        let token_keys = TokenKeys::derive(&config.master_secret, bank_ids.iter().copied());
        let tsp = Tsp::open(
            pick(&config.component_dbs.tsp),
            vault.clone(),
            tsp_config,
            token_keys,
        )
        .await?;

        let guard = open_guard(&config.guard, &db, &ledger).await?;
        let (links, issuer_servers) = issuer_links(&config, &issuer).await?;
        let switch = Switch::start(SwitchParts {
            config: config.switch_config()?,
            links,
            tokens: Some(Arc::new(TokenServiceAdapter(tsp.clone()))),
            db: pick(&config.component_dbs.switch),
            forward_key: Some(ForwardKey::new(config.keyring.subkey(FORWARD_KEY_PURPOSE))),
            guard: guard
                .clone()
                .map(|g| g as Arc<dyn paytap_types::PaymentGuard>),
        })
        .await?;
        let running = paytap_switch::serve_on(switch, listener, config.acquirers.clone())?;

        let outbox = SmsOutbox::default();
        let outbox_task = spawn_outbox(&outbox, &issuer);
        let sweep_task = config
            .hold_sweep
            .map(|every| spawn_hold_sweep(&issuer, every));
        tracing::info!(switch = %running.local_addr(), banks = config.issuers.banks.len(), "card network started");
        Ok(RunningNetwork {
            db,
            ledger,
            vault,
            issuer,
            tsp,
            switch: running,
            issuer_servers,
            outbox,
            outbox_task,
            sweep_task,
            acquirers: config.acquirers.clone(),
            guard,
        })
    }
}

/// The risk and offers services `config` turns on, on the network
/// database; `None` when both are off.
async fn open_guard(
    config: &GuardConfig,
    db: &Db,
    ledger: &Ledger,
) -> Result<Option<Arc<Guard>>, NetworkError> {
    if config.risk.is_none() && config.offers.is_none() {
        return Ok(None);
    }
    db.migrate(paytap_guard::MIGRATIONS).await?;
    let risk = match &config.risk {
        Some(rules) => Some(RiskService::open(db.clone(), rules.clone(), now_millis()).await?),
        None => None,
    };
    let offers = match &config.offers {
        Some(file) => Some(OffersService::open(db.clone(), ledger.clone(), file.clone()).await?),
        None => None,
    };
    Ok(Some(Arc::new(Guard { risk, offers })))
}

/// The token service's configuration with a 16-digit token range for each
/// of every bank's token BINs.
fn tsp_config_for(config: &NetworkConfig) -> Result<TspConfig, NetworkError> {
    let mut tsp_config = config.tsp.clone();
    tsp_config.ranges = Vec::new();
    for b in &config.issuers.banks {
        for prefix in &b.token_bins {
            tsp_config.ranges.push(TokenRange::new(&b.id, prefix, 16)?);
        }
    }
    Ok(tsp_config)
}

/// Each bank's link as `config.issuer_transport` says: in process, one
/// loopback TCP endpoint for all (returned, to stop with the network), or
/// a remote address per bank; wrapped by `config.link_hook` when set.
async fn issuer_links(
    config: &NetworkConfig,
    issuer: &Issuer,
) -> Result<(HashMap<String, Arc<dyn IssuerLink>>, Vec<IssuerServer>), NetworkError> {
    let in_process: Arc<dyn IssuerLink> = Arc::new(IssuerAdapter(issuer.clone()));
    let mut issuer_servers = Vec::new();
    let shared_tcp: Option<Arc<dyn IssuerLink>> = match &config.issuer_transport {
        IssuerTransport::LoopbackTcp => {
            let server =
                IssuerServer::bind(issuer.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let link: Arc<dyn IssuerLink> = Arc::new(TcpIssuerLink::new(server.addr));
            issuer_servers.push(server);
            Some(link)
        }
        _ => None,
    };
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    for b in &config.issuers.banks {
        let base = match (&config.issuer_transport, &shared_tcp) {
            (_, Some(l)) => l.clone(),
            (IssuerTransport::Remote(map), _) => match map.get(&b.id) {
                Some(addr) => Arc::new(TcpIssuerLink::new(*addr)) as Arc<dyn IssuerLink>,
                None => in_process.clone(),
            },
            _ => in_process.clone(),
        };
        let link = match &config.link_hook {
            Some(hook) => hook(&b.id, base),
            None => base,
        };
        links.insert(b.id.clone(), link);
    }
    Ok((links, issuer_servers))
}

/// Copies every passcode the issuer "texts" into `outbox`.
fn spawn_outbox(outbox: &SmsOutbox, issuer: &Issuer) -> tokio::task::JoinHandle<()> {
    outbox.forward(issuer.subscribe_otp())
}

/// Releases expired holds every `every`, the first time one interval after
/// start (the start has just read every record once already).
fn spawn_hold_sweep(issuer: &Issuer, every: Duration) -> tokio::task::JoinHandle<()> {
    let issuer = issuer.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = issuer.expire_holds().await {
                tracing::error!(error = %e, "releasing expired holds failed; next sweep retries");
            }
        }
    })
}

impl RunningNetwork {
    /// The risk and offers services, when on: their decisions and
    /// redemptions for the wallet and the console.
    pub fn guard(&self) -> Option<&Arc<Guard>> {
        self.guard.as_ref()
    }

    /// The MAC key of acquirer `id` (tests, benches and the demo sign on
    /// with the demo acquirer's).
    pub fn acquirer_key(&self, id: &str) -> Option<paytap_iso8583::AcquirerKey> {
        self.acquirers.key(id).cloned()
    }

    /// Connect a terminal client to the switch as the demo acquirer.
    pub async fn demo_acquirer(&self) -> Result<terminal::AcquirerClient, terminal::ClientError> {
        let id = paytap_types::DEMO_ACQUIRER_ID;
        let key = self
            .acquirer_key(id)
            .ok_or_else(|| terminal::ClientError::Io("no demo acquirer registered".into()))?;
        terminal::AcquirerClient::connect(self.switch_addr(), id, key).await
    }

    /// The switch's acquirer address (POS terminals connect here).
    pub fn switch_addr(&self) -> SocketAddr {
        self.switch.local_addr()
    }

    /// Authorization outcomes for the wallet's history and live updates.
    pub fn subscribe(&self) -> broadcast::Receiver<PaymentEvent> {
        self.switch.switch().subscribe()
    }

    pub fn switch(&self) -> &Switch {
        self.switch.switch()
    }
    pub fn tsp(&self) -> &Tsp {
        &self.tsp
    }
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    pub fn vault(&self) -> &Vault {
        &self.vault
    }
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The emulated SMS gateway's outbox (one-time passcodes for ID&V).
    pub fn sms_outbox(&self) -> &SmsOutbox {
        &self.outbox
    }

    /// Issuer ID&V for adding a card to a device.
    pub async fn identify_and_verify(&self, req: &IdvRequest) -> Result<IdvDecision, NetworkError> {
        Ok(self.issuer.identify_and_verify(req).await?)
    }

    /// Check the one-time passcode of a yellow ID&V.
    pub async fn verify_otp(
        &self,
        verification_id: &str,
        code: &str,
    ) -> Result<OtpOutcome, NetworkError> {
        Ok(self.issuer.verify_otp(verification_id, code).await?)
    }

    /// Create a token for a card on a device and seal its payload to the device.
    pub async fn provision(&self, req: ProvisionRequest) -> Result<Provisioned, NetworkError> {
        Ok(self.tsp.provision(req).await?)
    }

    /// Change one token's lifecycle state.
    pub async fn set_token_state(
        &self,
        token_ref: &str,
        to: TokenState,
        actor: Actor,
        reason: &str,
    ) -> Result<TokenInfo, NetworkError> {
        Ok(self.tsp.set_state(token_ref, to, actor, reason).await?)
    }

    /// Change the state of every token on a device (lost, found, wiped).
    pub async fn set_device_state(
        &self,
        device_id: &str,
        to: TokenState,
        actor: Actor,
        reason: &str,
    ) -> Result<Vec<String>, NetworkError> {
        Ok(self
            .tsp
            .set_device_state(device_id, to, actor, reason)
            .await?)
    }

    /// Issue a card at a bank (demo and tests); the bank knows its number.
    pub async fn issue_card(&self, req: IssueCard) -> Result<IssuedCard, NetworkError> {
        Ok(self.issuer.issue(req).await?)
    }

    /// End-of-day clearing of UTC day `day` (`YYYY-MM-DD`).
    pub async fn clearing(&self, day: &str) -> Result<ClearingReport, NetworkError> {
        Ok(self.switch().clearing(day).await?)
    }

    /// Stop the switch (in-flight requests finish), the issuer endpoints
    /// and the background tasks; flush the message log.
    pub async fn shutdown(self) {
        self.switch.shutdown().await;
        for s in self.issuer_servers {
            s.stop().await;
        }
        self.outbox_task.abort();
        if let Some(t) = self.sweep_task {
            t.abort();
        }
        tracing::info!("card network stopped");
    }
}
