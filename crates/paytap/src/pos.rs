//! `paytap pos charge`: the emulated contactless POS terminal.
//!
//! Taps a device (its keystore in this process with `--keystore`, or its
//! NFC field over TCP with `--nfc`), sends the `0100` to the switch and
//! prints the receipt. Exit status: 0 approved, 1 declined, 2 error.
//! A device tapped in this process reports where it paid to its wallet
//! afterwards, as `paytap device field` does, when it knows its place.
//!
//! The terminal keeps the reversals it owes the switch in
//! `--terminal-dir` (default `./paytap-pos/<terminal id>`), written before
//! each request leaves and resent before the next charge until the switch
//! acknowledges them (`paytap_pos::saf`); `paytap pos flush-reversals`
//! resends them on demand.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use paytap_device::FieldTransport;
use paytap_emv::kernel::DEFAULT_READER_CVM_LIMIT_CNY_MINOR;
use paytap_pos::saf::ReversalStore;
use paytap_pos::{Pos, Receipt, TerminalProfile};
use paytap_types::{Currency, Money};

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Charge an amount to a tapped device.
    Charge(Box<ChargeArgs>),
    /// Resend this terminal's stored reversals until the switch acknowledges them.
    FlushReversals(FlushArgs),
}

/// Which acquirer the terminal signs on as, and where its MAC key is.
#[derive(ClapArgs)]
pub(crate) struct AcquirerArgs {
    /// The acquirer's DE 32 id (its key must be in the key file).
    #[arg(long, default_value = paytap_types::DEMO_ACQUIRER_ID)]
    pub(crate) acquirer_id: String,
    /// An `acquirers.toml` holding the acquirer's key.
    #[arg(long, conflicts_with = "data_dir")]
    acquirer_key_file: Option<PathBuf>,
    /// The platform's data directory: its `acquirers.toml` is read.
    #[arg(long, default_value = "paytap-data")]
    data_dir: PathBuf,
}

impl AcquirerArgs {
    /// The key the terminal signs with.
    pub(crate) fn key(&self) -> anyhow::Result<paytap_iso8583::AcquirerKey> {
        let file = self.acquirer_key_file.clone().unwrap_or_else(|| {
            self.data_dir
                .join(paytap_network::acquirers::ACQUIRERS_FILE)
        });
        let registry = paytap_network::acquirers::load(&file)
            .with_context(|| format!("reading the acquirer keys in {}", file.display()))?;
        match registry.key(&self.acquirer_id) {
            Some(k) => Ok(k.clone()),
            None => bail!(
                "{} has no key for acquirer {}",
                file.display(),
                self.acquirer_id
            ),
        }
    }
}

#[derive(ClapArgs)]
struct FlushArgs {
    /// The switch's acquirer address.
    #[arg(long, default_value = "127.0.0.1:8583")]
    switch: SocketAddr,
    /// The terminal's id (DE 41, up to 8 characters).
    #[arg(long, default_value = "PTPOS001")]
    terminal_id: String,
    /// Where the terminal keeps its stored reversals (default ./paytap-pos/<terminal id>).
    #[arg(long)]
    terminal_dir: Option<PathBuf>,
    #[command(flatten)]
    acquirer: AcquirerArgs,
}

fn terminal_dir(dir: &Option<PathBuf>, terminal_id: &str) -> PathBuf {
    dir.clone()
        .unwrap_or_else(|| PathBuf::from("paytap-pos").join(terminal_id))
}

fn flush(a: FlushArgs) -> anyhow::Result<ExitCode> {
    let profile = TerminalProfile {
        terminal_id: a.terminal_id.clone(),
        acquirer_id: a.acquirer.acquirer_id.clone(),
        ..TerminalProfile::default()
    };
    let store = ReversalStore::open(&terminal_dir(&a.terminal_dir, &a.terminal_id))?;
    let pos = Pos::new(profile, a.switch)?
        .with_reversal_store(store)
        .with_acquirer_key(a.acquirer.key()?);
    let f = pos.flush_reversals()?;
    println!(
        "reversals acknowledged: {}, still stored: {}",
        f.acknowledged, f.remaining
    );
    Ok(if f.remaining == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(ClapArgs)]
struct ChargeArgs {
    /// The switch's acquirer address.
    #[arg(long, default_value = "127.0.0.1:8583")]
    switch: SocketAddr,
    /// Amount in major units, e.g. 12.50.
    #[arg(long)]
    amount: String,
    /// The amount's currency (ISO 4217).
    #[arg(long, default_value = "CNY", ignore_case = true, value_parser = currency_codes())]
    currency: String,
    /// The terminal's no-CVM limit (see `cvm_limit_help`).
    #[arg(long, value_name = "AMOUNT", help = cvm_limit_help())]
    cvm_limit: Option<String>,
    /// Merchant name (up to 25 characters).
    #[arg(long, default_value = "paytap demo store")]
    merchant: String,
    /// Merchant category code, four digits (DE 18; 5411 grocery stores).
    #[arg(long, default_value_t = 5411)]
    mcc: u16,
    /// The terminal's id (DE 41, up to 8 characters).
    #[arg(long, default_value = "PTPOS001")]
    terminal_id: String,
    /// The merchant's id at the acquirer (DE 42, up to 15 characters).
    #[arg(long, default_value = "PAYTAPMERCH0001")]
    merchant_id: String,
    /// The merchant's city (DE 43, up to 13 characters).
    #[arg(long, default_value = "Beijing")]
    city: String,
    /// Tap the device whose keystore is this file (in this process); after
    /// a tap it tells its wallet where it paid, when it knows its place.
    #[arg(long, conflicts_with = "nfc")]
    keystore: Option<PathBuf>,
    /// A file whose first line is the keystore's passphrase (mode 0600);
    /// without it, PAYTAP_KEYSTORE_PASSPHRASE.
    #[arg(long, value_name = "PATH", requires = "keystore")]
    passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    login: crate::device::Login,
    /// The owner verifies with fingerprint or face on the device (with --keystore).
    #[arg(long, requires = "keystore")]
    verified: bool,
    /// Tap the device holding its NFC field at this address (`paytap device field`).
    #[arg(long)]
    nfc: Option<SocketAddr>,
    /// Print the receipt as JSON (an error as `{"error": .., "exit_code": ..}`).
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the network's answer before reversing.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Where the terminal keeps its stored reversals (default ./paytap-pos/<terminal id>).
    #[arg(long)]
    terminal_dir: Option<PathBuf>,
    #[command(flatten)]
    acquirer: AcquirerArgs,
}

/// `--cvm-limit`'s help, with the default the terminal kernel holds.
fn cvm_limit_help() -> String {
    let cny = i64::try_from(DEFAULT_READER_CVM_LIMIT_CNY_MINOR)
        .map(|minor| Money::new(minor, Currency::CNY).decimal())
        .unwrap_or_default();
    format!(
        "The terminal's no-CVM limit in the charge's currency, in major units like --amount \
         (e.g. {cny}): above it the owner must verify on the device. Default: {cny} for CNY, \
         none for other currencies"
    )
}

/// `--currency`: the ISO 4217 codes paytap operates in, listed by `--help`.
pub(crate) fn currency_codes() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Currency::all().map(Currency::code))
}

/// Taps the device whose keystore is `ks`, in this process; then, when the
/// card answered with a cryptogram, the device reports where it paid.
fn charge_in_process(
    pos: &mut Pos,
    a: &ChargeArgs,
    ks: &Path,
    amount: Money,
) -> anyhow::Result<Receipt> {
    let unlock = crate::device::Unlock {
        passphrase_file: a.passphrase_file.clone(),
    };
    let mut device = unlock.open(ks)?;
    // A runtime with its own worker: the report runs through a handle
    // (`Handle::block_on`), which drives I/O only on such a runtime.
    let rt = tokio::runtime::Runtime::new()?;
    let here = device.position().cloned();
    let reporter = crate::device::payment_reporter(&rt, &mut device, here, &a.login);
    let owner = device.owner_finger();
    let mut tap = device.tap(a.verified.then_some(&owner))?;
    let receipt = pos.charge(&mut tap, amount)?;
    if receipt.cryptogram.is_some()
        && let Some(report) = &reporter
    {
        report();
    }
    Ok(receipt)
}

/// Runs `paytap pos charge` or `paytap pos flush-reversals`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init("warn");
    let a = match args.command {
        Cmd::Charge(a) => *a,
        Cmd::FlushReversals(f) => return flush(f),
    };
    let currency = Currency::from_code(&a.currency.to_ascii_uppercase())
        .map_err(|e| anyhow::anyhow!("--currency: {e}"))?;
    let amount = Money::parse(&a.amount, currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let country = if currency == Currency::INR {
        ("IN", 356)
    } else {
        ("CN", 156)
    };
    let profile = TerminalProfile {
        terminal_id: a.terminal_id.clone(),
        merchant_id: a.merchant_id.clone(),
        merchant_name: a.merchant.clone(),
        city: a.city.clone(),
        country_alpha2: country.0.into(),
        country_numeric: country.1,
        mcc: a.mcc,
        acquirer_id: a.acquirer.acquirer_id.clone(),
    };
    let store = ReversalStore::open(&terminal_dir(&a.terminal_dir, &a.terminal_id))?;
    let mut pos = Pos::new(profile, a.switch)?
        .with_reversal_store(store)
        .with_acquirer_key(a.acquirer.key()?);
    pos.response_timeout = Duration::from_secs(a.timeout.max(1));
    if let Some(limit) = &a.cvm_limit {
        let limit =
            Money::parse(limit, currency).map_err(|e| anyhow::anyhow!("--cvm-limit: {e}"))?;
        pos = pos
            .with_no_cvm_limit(limit)
            .map_err(|e| anyhow::anyhow!("--cvm-limit: {e}"))?;
    }
    let receipt = match (&a.keystore, a.nfc) {
        (Some(ks), None) => charge_in_process(&mut pos, &a, ks, amount)?,
        (None, Some(addr)) => {
            let mut field = FieldTransport::connect(addr, Duration::from_secs(10))
                .with_context(|| format!("no device in the field at {addr}"))?;
            pos.charge(&mut field, amount)?
        }
        _ => bail!("tap a device: --keystore FILE [--verified] or --nfc ADDR"),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&receipt)?);
    } else {
        println!("{receipt}");
    }
    Ok(crate::exit::of_response(
        receipt.approved,
        receipt.response_code.as_deref(),
    ))
}
