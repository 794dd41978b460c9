//! The whole platform in one process: the card network (`paytap-network`:
//! ledger, vault, twenty banks, token service, switch), the wallet service
//! and the web site on one HTTP listener, the network's payment events fed
//! into the wallet's history, and the emulated SMS outbox.
//!
//! When the HTTP listener is on a loopback address, [`emulator_router`]
//! adds the **emulator control API** under `/emulator/v1`: what a test lab
//! has besides the product (the banks mailing a new plastic card, the
//! phone's SMS inbox, the network's ledger totals). It answers only to
//! loopback clients and never exists on a non-loopback listener.
//!
//! [`NetworkPort`] is the adaptor that implements the wallet's
//! [`WalletNetwork`] port over a running network (EMV Payment Tokenisation
//! roles: the wallet is the token requestor, the issuer does ID&V, the token
//! service provisions).

#[path = "platform/bands.rs"]
pub mod bands;
#[path = "platform/bills.rs"]
pub mod bills;
#[path = "platform/emulator.rs"]
mod emulator;
#[path = "platform/health.rs"]
mod health;
#[path = "platform/india_lab.rs"]
mod india_lab;
#[path = "platform/merchants.rs"]
pub mod merchants;
#[path = "platform/metrics.rs"]
mod metrics;
#[path = "platform/points.rs"]
pub mod points;
#[path = "platform/presented.rs"]
pub mod presented;
#[path = "platform/scan.rs"]
pub mod scan;
#[path = "platform/storage.rs"]
pub mod storage;
#[path = "platform/transit.rs"]
pub mod transit;
#[path = "platform/upi.rs"]
pub mod upi;
#[path = "platform/upi_lab.rs"]
mod upi_lab;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
pub use emulator::{console_router, emulator_router};
use paytap_issuer::{IdvDecision as IssuerIdv, IdvRequest, OtpOutcome, Product};
use paytap_network::{Network, NetworkConfig, RunningNetwork};
use paytap_store::Regions;
use paytap_tsp::{Actor as TspActor, Domain, ProvisionRequest, TokenState as TspState};
use paytap_wallet::{
    Actor, BoxFuture, CardDetails, DeviceBinding, IdvDecision, NetworkError, OtpDecision,
    ProvisionedCard, ServerLimits, StateReason, TokenState, TrustedProxies, Wallet, WalletConfig,
    WalletNetwork,
};

/// paytap wallet's token requestor id (EMV tokenisation TRID, 11 digits).
pub const WALLET_TRID: &str = "40010075001";

/// Where a device's tokens may pay: a phone's by tap and by the merchant
/// codes it scans (it has a camera), a watch's by tap only.
fn token_domain(kind: paytap_types::DeviceKind) -> Domain {
    match kind {
        paytap_types::DeviceKind::Phone => Domain::NfcQr,
        _ => Domain::Nfc,
    }
}

/// [`WalletNetwork`] over a [`RunningNetwork`].
pub struct NetworkPort {
    net: Arc<RunningNetwork>,
}

impl NetworkPort {
    pub fn new(net: Arc<RunningNetwork>) -> NetworkPort {
        NetworkPort { net }
    }
}

fn unavailable(e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Unavailable(e.to_string())
}

impl WalletNetwork for NetworkPort {
    fn identify_and_verify<'a>(
        &'a self,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<IdvDecision, NetworkError>> {
        Box::pin(async move {
            let req = IdvRequest {
                pan: card.pan.clone(),
                expiry_yymm: *card.expiry.expose(),
                cvv: card.cvv.clone(),
                device_id: device.device_id.clone(),
                device_kind: device.kind.as_str().to_owned(),
                account_id: device.account_id.clone(),
            };
            Ok(
                match self
                    .net
                    .identify_and_verify(&req)
                    .await
                    .map_err(unavailable)?
                {
                    IssuerIdv::Green {
                        verification_id,
                        bank_name,
                        ..
                    } => IdvDecision::Green {
                        verification_id,
                        bank_name,
                    },
                    IssuerIdv::Yellow {
                        verification_id,
                        bank_name,
                        destination,
                        ..
                    } => IdvDecision::Yellow {
                        verification_id,
                        bank_name,
                        channel: destination,
                    },
                    IssuerIdv::Red { reason, .. } => IdvDecision::Red {
                        reason: reason.message().to_owned(),
                    },
                },
            )
        })
    }

    fn verify_otp<'a>(
        &'a self,
        verification_id: &'a str,
        code: &'a str,
    ) -> BoxFuture<'a, Result<OtpDecision, NetworkError>> {
        Box::pin(async move {
            Ok(
                match self
                    .net
                    .verify_otp(verification_id, code)
                    .await
                    .map_err(unavailable)?
                {
                    OtpOutcome::Verified => OtpDecision::Verified,
                    OtpOutcome::Incorrect { attempts_left } => {
                        OtpDecision::Incorrect { attempts_left }
                    }
                    OtpOutcome::Expired => OtpDecision::Expired,
                    OtpOutcome::Locked => OtpDecision::Locked,
                },
            )
        })
    }

    fn provision<'a>(
        &'a self,
        verification_id: &'a str,
        _card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<ProvisionedCard, NetworkError>> {
        Box::pin(async move {
            let issuer = self.net.issuer();
            let v = issuer
                .verification(verification_id)
                .await
                .map_err(|_| NetworkError::UnknownReference(verification_id.to_owned()))?;
            if v.state != paytap_issuer::VerificationState::Approved {
                return Err(NetworkError::Rejected(
                    "the bank has not approved this card for the device".into(),
                ));
            }
            if v.device_id != device.device_id {
                return Err(NetworkError::Rejected(
                    "the verification was for another device".into(),
                ));
            }
            let card_id = v.card_id.ok_or_else(|| {
                NetworkError::Rejected("the bank did not identify the card".into())
            })?;
            let bank = issuer.bank(&v.bank_id).map_err(unavailable)?.clone();
            let info = issuer.card(&card_id).await.map_err(unavailable)?;
            let label = match info.product {
                Product::Debit => "UnionPay Debit",
                Product::Credit => "UnionPay Credit",
            };
            let p = self
                .net
                .provision(ProvisionRequest {
                    domain: token_domain(device.kind),
                    no_cvm_limit_minor: info.limits.no_cvm_limit.max(0),
                    currency: bank.currency,
                    app_label: label.into(),
                    account_id: Some(device.account_id.clone()),
                    ..ProvisionRequest::wallet_nfc(
                        card_id,
                        v.bank_id.clone(),
                        bank.name.clone(),
                        WALLET_TRID,
                        device.device_id.clone(),
                        device.public_key,
                    )
                })
                .await
                .map_err(|e| NetworkError::Rejected(e.to_string()))?;
            Ok(ProvisionedCard {
                token_ref: p.token_ref.clone(),
                card_last4: info.last4.clone(),
                bank_name: bank.name.clone(),
                sealed_payload: p.sealed_payload.clone(),
            })
        })
    }

    fn set_token_state<'a>(
        &'a self,
        token_ref: &'a str,
        state: TokenState,
        reason: StateReason,
        actor: &'a Actor,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        Box::pin(async move {
            let to = match state {
                TokenState::Active => TspState::Active,
                TokenState::Suspended => TspState::Suspended,
                TokenState::Deleted => TspState::Deleted,
            };
            let who = match actor {
                Actor::AccountHolder { .. } => TspActor::Holder,
                Actor::Wallet => TspActor::Wallet,
            };
            match self
                .net
                .set_token_state(token_ref, to, who, reason.as_str())
                .await
            {
                Ok(_) => Ok(()),
                Err(paytap_network::NetworkError::Tsp(e)) => {
                    // Setting the state a token already has is success.
                    match self.net.tsp().token(token_ref).await {
                        Ok(t) if t.state == to => Ok(()),
                        _ => Err(NetworkError::Rejected(e.to_string())),
                    }
                }
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn points<'a>(
        &'a self,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<paytap_wallet::points::Points, NetworkError>> {
        Box::pin(async move { points::points(self.offers()?, account_id).await })
    }

    fn redeem_points<'a>(
        &'a self,
        account_id: &'a str,
        points: u64,
        currency: paytap_types::Currency,
        key: &'a str,
    ) -> BoxFuture<'a, Result<paytap_types::Money, NetworkError>> {
        Box::pin(
            async move { points::redeem(self.offers()?, account_id, points, currency, key).await },
        )
    }
}

impl NetworkPort {
    /// The network's offers service, which keeps the card payments' points.
    fn offers(&self) -> Result<&paytap_guard::OffersService, NetworkError> {
        points::offers_of(self.net.guard().map(|g| &**g))
    }
}

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    pub data_dir: PathBuf,
    pub wallet_addr: SocketAddr,
    pub switch_addr: SocketAddr,
    /// The transit operators' API address.
    pub transit_addr: SocketAddr,
    /// Write OTPs to `DIR/sms-outbox.jsonl` (the emulated phone's inbox).
    pub sms_file: bool,
    /// Proxies whose `X-Forwarded-For` names the client (default none).
    pub trusted_proxies: TrustedProxies,
    /// Where the databases live (default: SQLite files in `data_dir`).
    pub storage: storage::Storage,
}

impl PlatformOptions {
    /// A platform in `data_dir` with the wallet and the switch on free
    /// loopback ports, no SMS file and no trusted proxy: what the demo, the
    /// crash bench and the in-process tests start.
    pub fn loopback(data_dir: PathBuf) -> Self {
        PlatformOptions {
            data_dir,
            wallet_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            switch_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            transit_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            sms_file: false,
            trusted_proxies: TrustedProxies::default(),
            storage: storage::Storage::Files,
        }
    }

    /// [`PlatformOptions::loopback`] on the tests' database: PostgreSQL
    /// schemas of its own when `PAYTAP_TEST_DATABASE_URL` names one, else
    /// SQLite files in `data_dir`.
    #[allow(dead_code, reason = "the tests' options; the binary takes its flags")]
    pub fn for_tests(data_dir: PathBuf) -> Self {
        PlatformOptions {
            storage: storage::Storage::for_tests(),
            ..PlatformOptions::loopback(data_dir)
        }
    }
}

/// Purpose of the vault keyring subkey that fingerprints request bodies
/// for the wallet's `Idempotency-Key` records.
const REQUEST_KEY_PURPOSE: &str = "wallet request fingerprints";

/// Open files kept back from the HTTP server's connection bound: the
/// databases, their WAL files, the switch's acquirer and issuer links.
const FILES_KEPT_BACK: u64 = 256;

/// Raises the soft open-file limit to the hard one (a default soft limit
/// of 1,024 is far below what a server with many clients needs); returns
/// the soft limit in force afterwards.
#[allow(unsafe_code, reason = "getrlimit(2)/setrlimit(2) have no safe wrapper")]
pub fn raise_open_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = lim.rlim_cur,
                to = lim.rlim_max,
                "open-file limit raised"
            );
            return lim.rlim_max;
        }
        tracing::warn!(limit = lim.rlim_cur, "cannot raise the open-file limit");
    }
    lim.rlim_cur
}

/// The HTTP connection bound: [`paytap_wallet::server::MAX_CONNECTIONS`],
/// or less when the open-file limit leaves less room.
fn connection_limit(open_files: u64) -> usize {
    let room = open_files.saturating_sub(FILES_KEPT_BACK) / 2;
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(16, paytap_wallet::server::MAX_CONNECTIONS)
}

/// The running platform.
pub struct Platform {
    pub net: Arc<RunningNetwork>,
    pub wallet: Wallet,
    pub wallet_url: String,
    pub switch_addr: SocketAddr,
    /// The transit operators' API (`http://addr/`).
    pub transit_url: String,
    http_shutdown: tokio::sync::oneshot::Sender<()>,
    http_task: tokio::task::JoinHandle<()>,
    transit_shutdown: tokio::sync::oneshot::Sender<()>,
    transit_task: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// India's side: UPI, the INR ledger, bills and recharge, all over the
    /// `in` region's database.
    pub india: Arc<India>,
}

/// What runs over the `in` region's database.
pub struct India {
    /// The UPI switch.
    pub upi: Arc<paytap_upid::UpiSwitch<paytap_upid::IssuerBanks>>,
    /// The INR banks' UPI side.
    pub banks: Arc<paytap_issuer::UpiBanks>,
    /// The INR ledger.
    pub ledger: paytap_ledger::Ledger,
    /// Bills and recharge.
    pub bills: Arc<paytap_bills::BillService>,
    /// The emulated billers and operators.
    pub billers: Arc<paytap_bills::EmulatedBillers>,
    /// India's risk and offers services (on the `in` database and the INR
    /// ledger), which the UPI app and bills ask about each payment, the
    /// console shows as region `in` and the wallet's India accounts' points
    /// come from; `None` when the configuration turns both off.
    pub guard: Option<Arc<paytap_guard::Guard>>,
}

/// The data directory, created or corrected to 0700 with its files 0600.
fn secure_dir(dir: &Path) -> anyhow::Result<()> {
    paytap_store::files::secure_dir(dir)
        .with_context(|| format!("making {} private", dir.display()))
}

/// A listener that could not be bound, naming the address and the flag
/// that changes it (the OS error once, not repeated by its source).
fn bind_error(e: std::io::Error, what: &str, addr: SocketAddr, flag: &str) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        anyhow::anyhow!(
            "the {what}'s address {addr} is already in use by another process; \
             choose another with {flag}"
        )
    } else {
        anyhow::anyhow!("cannot listen for the {what} on {addr} ({e}); choose another with {flag}")
    }
}

/// The platform's three ports, bound before anything is written: a start
/// that cannot have its ports leaves the data directory as it was.
pub struct Listeners {
    switch: tokio::net::TcpListener,
    wallet: tokio::net::TcpListener,
    transit: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds the switch's acquirer port, the wallet's HTTP port, then the
    /// transit operators' port; a busy one is named with the flag that
    /// changes it.
    pub async fn bind(opts: &PlatformOptions) -> anyhow::Result<Listeners> {
        let switch = tokio::net::TcpListener::bind(opts.switch_addr)
            .await
            .map_err(|e| bind_error(e, "card network switch", opts.switch_addr, "--switch-addr"))?;
        let wallet = tokio::net::TcpListener::bind(opts.wallet_addr)
            .await
            .map_err(|e| bind_error(e, "wallet and web site", opts.wallet_addr, "--wallet-addr"))?;
        let transit = tokio::net::TcpListener::bind(opts.transit_addr)
            .await
            .map_err(|e| bind_error(e, "transit operators", opts.transit_addr, "--transit-addr"))?;
        Ok(Listeners {
            switch,
            wallet,
            transit,
        })
    }
}

/// What the web site shows of each bank: its Chinese name and its
/// currency, from the issuers' configuration where the bank is defined.
fn site_banks(issuers: &paytap_issuer::IssuerConfig) -> paytap_web::i18n::Banks {
    issuers
        .banks
        .iter()
        .map(|b| {
            let info = paytap_web::i18n::BankInfo {
                name_zh: b.name_zh.clone(),
                currency: Some(b.currency),
            };
            (b.name.clone(), info)
        })
        .collect()
}

impl Platform {
    /// Binds the ports, then starts network, wallet and web site.
    pub async fn start(opts: PlatformOptions) -> anyhow::Result<Platform> {
        let listeners = Listeners::bind(&opts).await?;
        Platform::start_on(opts, listeners).await
    }

    /// Starts network, wallet and web site on ports bound earlier
    /// (`opts`' addresses are not used), creating the data directory's
    /// files.
    pub async fn start_on(opts: PlatformOptions, listeners: Listeners) -> anyhow::Result<Platform> {
        let open_files = raise_open_file_limit();
        secure_dir(&opts.data_dir)?;
        let network_db = opts.storage.open(&opts.data_dir, storage::NETWORK).await?;
        let config = NetworkConfig::for_data_dir_on(&opts.data_dir, network_db).await?;
        let request_key = *config.keyring.subkey(REQUEST_KEY_PURPOSE);
        let band_signer = Arc::new(bands::platform_signer(&config.keyring));
        let banks = site_banks(&config.issuers);
        let transit_config = paytap_transit::TransitConfig::for_data_dir(&opts.data_dir)?;
        let transit_keys = transit::TransitKeys::derive(&config.keyring, &transit_config);
        let bills_key = bills::data_key(&config.keyring);
        let upi_key = upi::data_key(&config.keyring);
        let bindings_key = upi::bindings_key(&config.keyring);
        let issuers = config.issuers.clone();
        let guard_config = config.guard.clone();
        let net = Arc::new(Network::start_on(config, listeners.switch).await?);
        let merchants =
            paytap_acquirer::Merchants::open(net.db().clone(), net.ledger().clone()).await?;
        let payments = paytap_acquirer::payments::QrPayments::new(merchants.clone());
        let operator_payments = transit::OperatorPayments::open(
            &transit_config,
            &merchants,
            payments.clone(),
            Arc::new(scan::NetworkSwitch::new(net.clone())),
        )
        .await?;
        let (transit_db, operators) = transit::open(
            opts.storage.open(&opts.data_dir, storage::TRANSIT).await?,
            &transit_config,
            transit_keys,
            net.ledger().clone(),
            Arc::new(operator_payments),
        )
        .await?;
        let mut regions = Regions::new();
        let mut probes = health::Probes {
            databases: vec![
                ("network".to_string(), net.db().clone()),
                ("transit".to_string(), transit_db),
            ],
            switch_addr: net.switch_addr(),
            switch: health::sign_on_check(net.clone()),
        };
        for region in ["cn", "in"] {
            let name = storage::wallet_region(region);
            let db = opts.storage.open(&opts.data_dir, &name).await?;
            probes
                .databases
                .push((format!("wallet-{region}"), db.clone()));
            regions.insert(region, db);
        }
        let india_db = regions.get("in")?.clone();
        let upi_side = upi::start(&net, &india_db, &issuers, &upi_key).await?;
        let psp = upi_side.psp(india_db.clone(), &bindings_key).await?;
        // India's own risk and offers, on its database and INR ledger.
        let india_guard = upi::guard(&india_db, &upi_side.ledger, &guard_config).await?;
        if let Some(g) = &india_guard {
            psp.attach_guard(g.clone(), upi::biller_addresses());
            psp.tell_guard_ended().await?;
        }
        let upi_routes = upi_side.routes;
        let mut tasks = upi_side.tasks;
        let bills_side = bills::start(
            &india_db,
            upi_side.switch.clone(),
            &upi_side.banks,
            bills_key,
        )
        .await?;
        if let Some(g) = &india_guard {
            bills_side.service.attach_guard(g.clone());
        }
        let india = Arc::new(India {
            upi: upi_side.switch,
            banks: upi_side.banks,
            ledger: upi_side.ledger,
            bills: bills_side.service,
            billers: bills_side.billers,
            guard: india_guard,
        });
        let wallet = Wallet::new(
            regions,
            Arc::new(NetworkPort::new(net.clone())),
            WalletConfig {
                trusted_proxies: opts.trusted_proxies.clone(),
                request_key,
                ..WalletConfig::default()
            },
        )
        .await?;
        wallet.attach_bills(india.bills.clone());
        wallet.attach_upi(psp)?;
        // An India account's points are India's guard's, never the network's.
        wallet.attach_points("in", Arc::new(points::GuardPoints(india.guard.clone())));
        // Files the start created (keys, settings) are private too.
        secure_dir(&opts.data_dir)?;
        tasks.extend([
            wallet.spawn_event_pump(net.subscribe()),
            spawn_housekeeping(wallet.clone()),
            bills_side.task,
        ]);
        if opts.sms_file {
            tasks.push(spawn_sms_file(
                net.clone(),
                opts.data_dir.join("sms-outbox.jsonl"),
            ));
        }
        let metrics = metrics::Metrics::new(metrics::Sources {
            switch: net.switch().clone(),
            databases: probes.databases.clone(),
            wallet: wallet.clone(),
        });
        let merchants =
            paytap_acquirer::Merchants::open(net.db().clone(), net.ledger().clone()).await?;
        let band_accounts =
            paytap_acquirer::bands::BandAccounts::open(merchants.clone(), band_signer).await?;
        band_accounts
            .fund_reserve("at-start", bands::RESERVE_AT_START_MINOR)
            .await?;
        wallet.attach_band_history(Arc::new(bands::WalletBands(band_accounts.clone())));
        let operators = Arc::new(operators);
        wallet.attach_transit(Arc::new(transit::WalletTransit(operators.clone())));
        tasks.push(transit::settle_forever(operators.clone()));
        let site = paytap_web::WebConfig {
            trusted_proxies: opts.trusted_proxies.clone(),
            banks,
            bands: paytap_web::bands::Bands(Some(Arc::new(bands::WebBands(band_accounts.clone())))),
            ..paytap_web::WebConfig::default()
        };
        let mut app = paytap_wallet::router(wallet.clone())
            .merge(paytap_web::router_with(wallet.clone(), site));
        app = app.merge(merchants::router(net.clone(), merchants));
        app = app.merge(bands::router(
            net.clone(),
            band_accounts,
            wallet.clone(),
            payments.clone(),
        ));
        app = app.merge(presented::router(net.clone(), payments.clone()));
        app = app.merge(scan::router(net.clone(), payments));
        app = app.merge(upi_routes);
        let console = open_console(&net, india.guard.clone()).await?;
        app = app.merge(paytap_console::router(console.clone()));
        app = app.merge(health::health_router(probes));
        app = app.merge(metrics.router());
        if opts.wallet_addr.ip().is_loopback() {
            app = app.merge(emulator_router(net.clone()));
            app = app.merge(india_lab::india_router(india.clone()));
            app = app.merge(console_router(console.clone()));
            app = app.merge(upi_lab::router(india.banks.clone(), india.upi.clone()));
        }
        app = metrics.count_requests(app);
        let listener = listeners.wallet;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let limits = ServerLimits {
            max_connections: connection_limit(open_files),
            ..ServerLimits::default()
        };
        let http_task = tokio::spawn(paytap_wallet::serve(listener, app, limits, async move {
            // A dropped sender also means stop.
            let _ = rx.await;
        }));
        let transit_addr = listeners.transit.local_addr()?;
        let (transit_shutdown, transit_rx) = tokio::sync::oneshot::channel::<()>();
        let transit_app = paytap_operator::api::router(operators);
        let transit_task = tokio::spawn(paytap_wallet::serve(
            listeners.transit,
            transit_app,
            ServerLimits::default(),
            async move {
                // A dropped sender also means stop.
                let _ = transit_rx.await;
            },
        ));
        Ok(Platform {
            transit_url: format!("http://{transit_addr}/"),
            transit_shutdown,
            transit_task,
            switch_addr: net.switch_addr(),
            net,
            wallet,
            wallet_url: format!("http://{addr}/"),
            http_shutdown: tx,
            http_task,
            tasks,
            india,
        })
    }

    /// Stops the HTTP server, the event pump and the network.
    pub async fn shutdown(self) {
        // The server may have stopped on its own already.
        let _ = self.http_shutdown.send(());
        // A server task that panicked has nothing left to stop.
        let _ = self.http_task.await;
        let _ = self.transit_shutdown.send(());
        // As above: a stopped or panicked server has nothing left to stop.
        let _ = self.transit_task.await;
        for t in self.tasks {
            t.abort();
        }
        drop(self.wallet);
        drop(self.india);
        match Arc::try_unwrap(self.net) {
            Ok(net) => net.shutdown().await,
            Err(net) => net.switch().shutdown().await,
        }
    }
}

/// The operator's console over the network's database (its own tables),
/// showing two regions: `cn`, the network's risk and offers services, and
/// `in`, India's (`india`), read and changed where they are, in the `in`
/// database.
async fn open_console(
    net: &RunningNetwork,
    india: Option<Arc<paytap_guard::Guard>>,
) -> anyhow::Result<Arc<paytap_console::Console>> {
    use paytap_console::RegionGuard;
    net.db().migrate(paytap_console::MIGRATIONS).await?;
    let operators =
        paytap_console::Operators::open(net.db().clone(), paytap_wallet::PasswordParams::default())
            .await?;
    let regions = vec![
        RegionGuard::new("cn", net.guard().cloned()),
        RegionGuard::new("in", india),
    ];
    Ok(Arc::new(paytap_console::Console::new(operators, regions)))
}

/// Appends every OTP the banks send to the emulated phone's inbox file.
fn spawn_sms_file(net: Arc<RunningNetwork>, path: PathBuf) -> tokio::task::JoinHandle<()> {
    let mut rx = net.issuer().subscribe_otp();
    tokio::spawn(async move {
        use std::io::Write;
        while let Ok(d) = rx.recv().await {
            let line = zeroize::Zeroizing::new(
                serde_json::json!({
                    "verification_id": d.verification_id,
                    "to": d.destination,
                    "code": d.code.expose().as_str(),
                    "text": format!("Your paytap verification code is {}", d.code.expose()),
                })
                .to_string(),
            );
            // The emulated phone's inbox holds passcodes: owner-only file.
            let r = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&path)
            }
            .and_then(|mut f| writeln!(f, "{}", line.as_str()));
            if let Err(e) = r {
                tracing::error!(error = %e, "cannot write the SMS outbox file");
            }
        }
    })
}

/// Hourly housekeeping: expired sessions, old idempotency records and stale
/// pending card adds are removed from every region's wallet database.
fn spawn_housekeeping(wallet: Wallet) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match wallet.purge_expired().await {
                Ok(removed) => tracing::debug!(removed, "wallet housekeeping"),
                Err(e) => tracing::warn!(error = %e, "wallet housekeeping failed"),
            }
        }
    })
}
