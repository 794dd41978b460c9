//! `paytap device`: the emulated phone, watch or band.
//!
//! The secure element lives in the keystore file (`--keystore FILE`),
//! encrypted under a passphrase stretched with Argon2id, from
//! `--passphrase-file` or `PAYTAP_KEYSTORE_PASSPHRASE` ([`unlock`]).
//! The wallet session is kept inside the keystore; when it has expired,
//! commands log in again with `--password` / `PAYTAP_PASSWORD`.

use std::io::IsTerminal;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a command that stopped at a step-up the owner must finish
/// (a one-time passcode); listed in the README.
pub const STEP_UP: u8 = crate::exit::STEP_UP;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use paytap_device::locate::{CommandInfo, Owner, PaymentPrompt, Reason, listen};
use paytap_device::wallet::{AddCardResult, NewCardRequest};
use paytap_device::{
    Device, DeviceAccess, DeviceKind, Outcome, Position, WalletClient, serve_field, sync_device,
};
use paytap_types::Secret;
use zeroize::Zeroizing;

mod band;
mod bills;
mod scan;
pub(crate) mod show;
pub(crate) mod transit;
mod unlock;
mod upi;
pub use unlock::Unlock;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(ClapArgs)]
struct Keystore {
    /// The device's secure element file.
    #[arg(long)]
    keystore: PathBuf,
    #[command(flatten)]
    unlock: Unlock,
}

impl Keystore {
    /// Opens the device.
    fn open(&self) -> anyhow::Result<Device> {
        self.unlock.open(&self.keystore)
    }
}

/// The account password, for a wallet session that has expired.
#[derive(ClapArgs)]
pub struct Login {
    /// Account password, used only when the stored session has expired.
    #[arg(long, env = "PAYTAP_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// Where the device is now, as its location service would say. Given once,
/// it is kept in the keystore and sent with every sync, payment and answer
/// to "locate".
#[derive(ClapArgs)]
struct Where {
    /// Latitude, degrees.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    lat: Option<f64>,
    /// Longitude, degrees.
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    lon: Option<f64>,
    /// Radius of the 68 % confidence circle, metres.
    #[arg(long, default_value_t = 25.0)]
    accuracy: f64,
    /// A name for the place ("People's Square, Shanghai").
    #[arg(long, requires = "lat")]
    place: Option<String>,
}

impl Where {
    /// Stores a newly given position; the device's position either way.
    fn apply(&self, device: &mut Device) -> anyhow::Result<Option<Position>> {
        if let (Some(lat), Some(lon)) = (self.lat, self.lon) {
            device.set_position(Position {
                lat,
                lon,
                accuracy_m: self.accuracy,
                place: self.place.clone(),
            })?;
        }
        Ok(device.position().cloned())
    }
}

/// `--type`: the kinds of device the emulator can be.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    /// A phone: bank cards, QR codes, transit.
    Phone,
    /// A watch: bank cards, QR codes, transit.
    Watch,
    /// A fitness band: transit purses and QR codes, no bank cards.
    Band,
}

impl From<KindArg> for DeviceKind {
    fn from(k: KindArg) -> DeviceKind {
        match k {
            KindArg::Phone => DeviceKind::Phone,
            KindArg::Watch => DeviceKind::Watch,
            KindArg::Band => DeviceKind::Band,
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a device (fresh X25519 key) and register it with the wallet.
    Enrol(EnrolArgs),
    /// Add a bank card: the bank verifies it (maybe with a one-time passcode), the token arrives sealed.
    AddCard(AddCardArgs),
    /// Fetch newly provisioned tokens into the secure element (and report where the device is).
    Sync {
        #[command(flatten)]
        ks: Keystore,
        #[command(flatten)]
        at: Where,
        #[command(flatten)]
        login: Login,
    },
    /// The cards in the secure element.
    Cards {
        #[command(flatten)]
        ks: Keystore,
    },
    /// Hold the device in an NFC field served over TCP, so a POS can tap it.
    Field(FieldArgs),
    /// Keep the wallet's command channel open and obey "find my device":
    /// report the place for "locate", beep for "sound", wipe the secure
    /// element for "erase", ask the owner's finger for a payment the risk
    /// engine stepped up ("verify_payment", then the next tap carries it);
    /// each is answered.
    Listen(ListenArgs),
    /// Scan a merchant's QR code and pay it (a phone): the owner's finger, the secure element's cryptogram, the acquirer.
    Scan(Box<scan::ScanArgs>),
    /// Show a one-time QR code for the shop's register to scan (a phone): the owner's finger, the secure element's cryptogram, valid for a minute.
    Show(show::ShowArgs),
    /// Transit cards: issue one from a city's operator, top it up, show them.
    Transit(transit::Args),
    /// Bills of an India account: billers, fetch a bill, pay it over UPI, reminders, receipts.
    Bills(bills::BillsArgs),
    /// Prepaid mobile recharge of an India account: plans, pay over UPI.
    Recharge(bills::RechargeArgs),
    /// UPI (India): bind to the bank by mobile number, set the UPI PIN, pay a contact or a shop's QR, approve a merchant's collect, check a payment.
    Upi(upi::Args),
    /// The band's offline account: open, fund, sync, show a code offline, turn off.
    Band(band::Args),
    /// Tell the wallet the device is alive (and where, for "find my device").
    Heartbeat {
        #[command(flatten)]
        ks: Keystore,
        #[command(flatten)]
        at: Where,
        #[command(flatten)]
        login: Login,
    },
}

/// `paytap device enrol`.
#[derive(ClapArgs)]
struct EnrolArgs {
    /// The wallet's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    wallet: String,
    /// The account's e-mail address (its login).
    #[arg(long)]
    email: String,
    /// The account's password.
    #[arg(long, env = "PAYTAP_PASSWORD", hide_env_values = true)]
    password: String,
    /// What the device is: a band holds transit purses and QR codes, no cards.
    #[arg(long = "type", value_enum)]
    kind: KindArg,
    /// The device's name as the owner sees it ("Li's phone").
    #[arg(long)]
    name: String,
    /// The device's model, as the wallet lists it.
    #[arg(long, default_value = "paytap emulated device")]
    model: String,
    /// Create the account first.
    #[arg(long)]
    register: bool,
    /// Where a new account's data lives (in: India, where UPI pays).
    #[arg(long, default_value = "cn", value_parser = ["cn", "in"])]
    region: String,
    #[command(flatten)]
    ks: Keystore,
}

/// `paytap device add-card`.
#[derive(ClapArgs)]
struct AddCardArgs {
    #[command(flatten)]
    ks: Keystore,
    /// The card number, as printed on the card.
    #[arg(long)]
    pan: Option<String>,
    /// The expiry as printed on the card, MM/YY (07/29), or as the
    /// emulator's card answer gives it (`expiry`, the same MM/YY).
    #[arg(long)]
    expiry: Option<String>,
    /// The card's security code (3 digits on the back).
    #[arg(long)]
    cvv: Option<String>,
    /// The cardholder's name, as printed on the card.
    #[arg(long)]
    name: Option<String>,
    /// The one-time passcode of a card waiting for it (with --pending).
    #[arg(long)]
    otp: Option<String>,
    /// The pending card id printed when a passcode was required.
    #[arg(long)]
    pending: Option<String>,
    #[command(flatten)]
    login: Login,
}

/// `paytap device field`.
#[derive(ClapArgs)]
struct FieldArgs {
    #[command(flatten)]
    ks: Keystore,
    /// The address the field listens on for a POS (port 0: any free port; printed).
    #[arg(long)]
    listen: SocketAddr,
    /// The owner touches the fingerprint sensor for every tap (and for a
    /// payment the wallet asks about, with `--commands`).
    #[arg(long)]
    verified: bool,
    /// Also keep the wallet's command channel open and obey it, as
    /// `device listen` does, in this process: the one that owns the secure
    /// element serves the field and the commands in turn.
    #[arg(long)]
    commands: bool,
    #[command(flatten)]
    at: Where,
    #[command(flatten)]
    login: Login,
}

/// `paytap device listen`.
#[derive(ClapArgs)]
struct ListenArgs {
    #[command(flatten)]
    ks: Keystore,
    /// Stop after this many commands (default: run until stopped).
    #[arg(long)]
    count: Option<usize>,
    /// The owner touches the fingerprint sensor when the phone asks to
    /// verify a payment (without it, the owner declines).
    #[arg(long)]
    verified: bool,
    #[command(flatten)]
    at: Where,
    #[command(flatten)]
    login: Login,
}

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A wallet client with a live session for this device.
async fn client_for(device: &mut Device, login: &Login) -> anyhow::Result<WalletClient> {
    let url = device
        .wallet_url()
        .context("the device is not enrolled (run `paytap device enrol`)")?
        .to_owned();
    let client = WalletClient::new(&url)?;
    if let Some((token, exp)) = device.session()
        && exp > now_millis() + 60_000
    {
        return Ok(client.with_session(token));
    }
    let Some(pw) = &login.password else {
        bail!(
            "the wallet session has expired: pass --password (or PAYTAP_PASSWORD) to log in again"
        );
    };
    let email = device.login().context("no login stored")?.to_owned();
    let mut client = client;
    let s = client.login(&email, pw).await?;
    device.set_session(s.token.expose(), s.expires_at)?;
    Ok(client)
}

/// Runs one `paytap device` subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init("warn");
    let rt = tokio::runtime::Runtime::new()?;
    match args.command {
        Cmd::Enrol(a) => rt.block_on(enrol(a)),
        Cmd::AddCard(a) => rt.block_on(add_card(a)),
        Cmd::Sync { ks, at, login } => rt.block_on(sync(ks, at, login)),
        Cmd::Cards { ks } => cards(ks),
        Cmd::Field(a) => field(&rt, a),
        Cmd::Listen(a) => rt.block_on(obey_commands(a)),
        Cmd::Heartbeat { ks, at, login } => rt.block_on(heartbeat(ks, at, login)),
        Cmd::Transit(a) => {
            drop(rt);
            transit::run(a)
        }
        Cmd::Scan(a) => {
            drop(rt);
            scan::run(*a)
        }
        Cmd::Show(a) => show::run(a),
        Cmd::Bills(a) => rt.block_on(bills::bills(a)),
        Cmd::Recharge(a) => rt.block_on(bills::recharge(a)),
        Cmd::Upi(a) => rt.block_on(upi::run(a)),
        Cmd::Band(a) => {
            drop(rt);
            band::run(a)
        }
    }
}

/// Creates the device's keystore and registers the device with the wallet
/// (and the account first, with `--register`).
async fn enrol(a: EnrolArgs) -> anyhow::Result<ExitCode> {
    let EnrolArgs {
        wallet,
        email,
        password,
        kind,
        name,
        model,
        register,
        region,
        ks,
    } = a;
    let kind = DeviceKind::from(kind);
    // Before anything reaches the wallet: a keystore needs its passphrase.
    let key = ks.unlock.create_key()?;
    let mut client = WalletClient::new(&wallet)?;
    if register {
        client
            .register_in(&email, &password, &email, &region)
            .await
            .context("creating the account")?;
    }
    let session = client
        .login(&email, &password)
        .await
        .context("logging in")?;
    let mut device = Device::create(&ks.keystore, &key, kind, &name, &model)?;
    let info = client
        .register_device(kind.as_str(), &name, &model, &device.public_key())
        .await?;
    device.set_enrolment(&info.id, client.base_url(), &email)?;
    device.set_session(session.token.expose(), session.expires_at)?;
    println!(
        "enrolled {} {:?} as device {}",
        kind.as_str(),
        name,
        info.id
    );
    println!("keystore: {}", ks.keystore.display());
    Ok(ExitCode::SUCCESS)
}

/// Adds a bank card (or finishes one waiting for its passcode) and
/// installs its token.
async fn add_card(a: AddCardArgs) -> anyhow::Result<ExitCode> {
    let AddCardArgs {
        ks,
        pan,
        expiry,
        cvv,
        name,
        otp,
        pending,
        login,
    } = a;
    let mut device = ks.open()?;
    let client = client_for(&mut device, &login).await?;
    let device_id = device.device_id().context("not enrolled")?.to_owned();
    let result = match (&pending, &otp) {
        (Some(p), Some(code)) => client.submit_otp(&device_id, p, code).await?,
        (Some(_), None) | (None, Some(_)) => bail!("--pending and --otp go together"),
        (None, None) => {
            let card = NewCardRequest {
                pan: Secret::new(pan.context("--pan is required")?),
                expiry: expiry.context("--expiry is required")?,
                cvv: Secret::new(cvv.context("--cvv is required")?),
                cardholder_name: Secret::new(name.context("--name is required")?),
            };
            let r = client.add_card(&device_id, &card).await?;
            match r {
                AddCardResult::OtpRequired { pending } if std::io::stdin().is_terminal() => {
                    eprintln!(
                        "{} sent a one-time passcode ({}).",
                        pending.bank_name, pending.otp_channel
                    );
                    eprint!("passcode: ");
                    let mut code = Zeroizing::new(String::new());
                    std::io::stdin().read_line(&mut code)?;
                    client
                        .submit_otp(&device_id, &pending.id, code.trim())
                        .await?
                }
                other => other,
            }
        }
    };
    match result {
        AddCardResult::OtpRequired { pending } => {
            println!(
                "{} sent a one-time passcode ({}).",
                pending.bank_name, pending.otp_channel
            );
            println!(
                "finish with: paytap device add-card --keystore {} --pending {} --otp CODE",
                ks.keystore.display(),
                pending.id
            );
            // Not a failure: the bank asks for a step-up.
            Ok(ExitCode::from(STEP_UP))
        }
        AddCardResult::Provisioned { card } => {
            println!(
                "card •••• {} from {} added (token {})",
                card.card_last4, card.bank_name, card.token_ref
            );
            let report = sync_device(&mut device, &client).await?;
            for c in &report.installed {
                println!(
                    "secure element: installed token {} ({})",
                    c.masked_token, c.bank_name
                );
            }
            for (t, why) in &report.refused {
                println!("secure element refused {t}: {why}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Fetches newly provisioned tokens into the secure element, reporting
/// where the device is.
async fn sync(ks: Keystore, at: Where, login: Login) -> anyhow::Result<ExitCode> {
    let mut device = ks.open()?;
    at.apply(&mut device)?;
    let client = client_for(&mut device, &login).await?;
    let r = sync_device(&mut device, &client).await?;
    println!(
        "installed {}, removed {}, refused {}",
        r.installed.len(),
        r.removed.len(),
        r.refused.len()
    );
    for (t, why) in &r.refused {
        println!("refused {t}: {why}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Lists the cards in the secure element.
fn cards(ks: Keystore) -> anyhow::Result<ExitCode> {
    let device = ks.open()?;
    println!(
        "{} {:?} (device {})",
        device.kind().as_str(),
        device.name(),
        device.device_id().unwrap_or("not enrolled")
    );
    for c in device.cards() {
        println!(
            "{} {}  card •••• {}  {}  ATC {}  token {}",
            if c.is_default { "*" } else { " " },
            c.masked_token,
            c.card_last4,
            c.bank_name,
            c.atc,
            c.token_ref
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Holds the device in an NFC field served over TCP until stopped.
fn field(rt: &tokio::runtime::Runtime, a: FieldArgs) -> anyhow::Result<ExitCode> {
    let FieldArgs {
        ks,
        listen,
        verified,
        commands,
        at,
        login,
    } = a;
    let mut device = ks.open()?;
    let here = at.apply(&mut device)?;
    let reporter = payment_reporter(rt, &mut device, here, &login);
    let client = match commands {
        true => Some(rt.block_on(client_for(&mut device, &login))?),
        false => None,
    };
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    println!("nfc field: {}", listener.local_addr()?);
    let owner = device.owner_finger();
    let mut shared = Arc::new(Mutex::new(device));
    if let Some(client) = client {
        obey_beside(shared.clone(), client, verified)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    serve_field(
        &listener,
        &mut shared,
        &stop,
        || verified.then(|| owner.clone()),
        |r| match r {
            Ok(rep) => {
                for (t, atc, cid) in &rep.cryptograms {
                    let kind = match cid & 0xC0 {
                        0x80 => "ARQC",
                        0x40 => "TC",
                        _ => "AAC",
                    };
                    println!(
                        "tap: {kind} ATC {atc} token {t}; user verified: {}",
                        rep.user_verified
                    );
                }
                if !rep.cryptograms.is_empty()
                    && let Some(report) = &reporter
                {
                    report();
                }
            }
            Err(e) => eprintln!("{}tap failed: {e}", crate::failure::PREFIX),
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Obeys the wallet's commands on a thread of its own beside the field,
/// taking the device for one command at a time. A channel the wallet
/// refuses (the session ended, the device removed) is said on stderr; the
/// field goes on.
fn obey_beside(
    device: Arc<Mutex<Device>>,
    client: WalletClient,
    verified: bool,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = device.clone().with(|d| d.name().to_owned());
    println!("listening for commands to {name:?} (locate, sound, erase, verify_payment)");
    std::thread::spawn(move || {
        let mut device = device;
        if let Err(e) = rt.block_on(answer_commands(&mut device, &client, None, verified)) {
            eprintln!("{}the command channel stopped: {e}", crate::failure::PREFIX);
        }
    });
    Ok(())
}

/// Obeys the wallet's "find my device" commands.
async fn obey_commands(a: ListenArgs) -> anyhow::Result<ExitCode> {
    let ListenArgs {
        ks,
        count,
        verified,
        at,
        login,
    } = a;
    let mut device = ks.open()?;
    at.apply(&mut device)?;
    let client = client_for(&mut device, &login).await?;
    println!(
        "listening for commands to {:?} (locate, sound, erase, verify_payment)",
        device.name()
    );
    let n = answer_commands(&mut device, &client, count, verified).await?;
    println!("answered {n} command(s)");
    Ok(ExitCode::SUCCESS)
}

/// Obeys the wallet's commands on `device` (at most `count`), each said on
/// stdout; a payment to verify is verified when the owner's finger is on
/// the sensor (`verified`). How many were answered.
async fn answer_commands(
    device: &mut impl DeviceAccess,
    client: &WalletClient,
    count: Option<usize>,
    verified: bool,
) -> anyhow::Result<usize> {
    let finger = device.with(|d| d.owner_finger());
    let mut owner = Owner {
        ring: &mut || println!("beep beep beep"),
        touch: &mut |p: &PaymentPrompt| {
            println!(
                "verify it's you: {} {} at {}",
                p.amount_display,
                p.amount.currency.code(),
                p.merchant_name
            );
            verified.then(|| finger.clone())
        },
    };
    let n = listen(
        device,
        client,
        count,
        &mut owner,
        &mut |c: &CommandInfo, o: &Outcome| println!("{}", said(c, o)),
    )
    .await?;
    Ok(n)
}

/// Tells the wallet the device is alive, and where.
async fn heartbeat(ks: Keystore, at: Where, login: Login) -> anyhow::Result<ExitCode> {
    let mut device = ks.open()?;
    let here = at.apply(&mut device)?;
    let client = client_for(&mut device, &login).await?;
    let id = device.device_id().context("not enrolled")?.to_owned();
    let d = match &here {
        Some(p) => client.report_place(&id, Reason::Heartbeat, p).await?,
        None => client.heartbeat(&id, None).await?,
    };
    println!("device {} is {}", d.id, d.status);
    Ok(ExitCode::SUCCESS)
}

/// One line for a command the device obeyed.
fn said(c: &CommandInfo, o: &Outcome) -> String {
    match o {
        Outcome::Located(p) => format!(
            "locate: reported {} ({:.5}, {:.5}) ±{} m",
            p.place.as_deref().unwrap_or("a place without a name"),
            p.lat,
            p.lon,
            p.accuracy_m
        ),
        Outcome::Rang => "sound: rang".into(),
        Outcome::Erased(n) => format!("erase: secure element wiped ({n} removed)"),
        Outcome::Verified => {
            "verify_payment: verified; the next tap carries the fingerprint".into()
        }
        Outcome::Refused => "verify_payment: refused".into(),
        Outcome::Failed(why) => format!("{}: could not ({why})", c.kind),
    }
}

/// After each payment the device tells the wallet where it paid, when it
/// knows its place and has a session; a failure to report never stops a
/// tap.
pub fn payment_reporter(
    rt: &tokio::runtime::Runtime,
    device: &mut Device,
    here: Option<Position>,
    login: &Login,
) -> Option<impl Fn() + use<>> {
    let here = here?;
    let client = match rt.block_on(client_for(device, login)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("payments will not report the device's place: {e}");
            return None;
        }
    };
    let id = device.device_id()?.to_owned();
    let handle = rt.handle().clone();
    Some(move || {
        if let Err(e) = handle.block_on(client.report_place(&id, Reason::Payment, &here)) {
            eprintln!("could not report where the device paid: {e}");
        }
    })
}
