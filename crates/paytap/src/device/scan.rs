//! `paytap device scan`: the phone scans a merchant's code and pays.
//!
//! The code comes from an image (`--image FILE`, read with
//! `paytap-qrimage`) or as text (`--payload`); the phone reads it with
//! `paytap-qr` (CRC, paytap's merchant template), shows the merchant and
//! the amount (a dynamic code's own, or `--amount`, asked for on a
//! terminal, for a static one), has the secure element make the chip data
//! for the QR channel with the owner's finger (`--verified`: the owner
//! touches the sensor; every scanned-code payment needs it), and posts the
//! payment to the acquirer on the platform (`paytap_device::scan`). The
//! idempotency key is chosen here; a post without an answer is sent again
//! with the same key and body, so a payment is never made twice. The
//! network tells the wallet, whose history shows the payment as it shows a
//! tap; like a tap, the phone then reports where it paid when it knows.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use paytap_device::scan::{ScanError, ScanOutcome, make_cryptogram, post_payment};
use paytap_emv::TxnDate;
use paytap_qr::merchant::paytap_merchant_id;
use paytap_qr::mpm::Mpm;
use paytap_types::{Currency, Money};

use super::{Keystore, Login};

/// Posts of one payment before the phone gives up (each with the same key).
const MAX_POST_ATTEMPTS: u32 = 3;
/// Random bytes in an idempotency key (hex).
const KEY_BYTES: usize = 16;

/// `paytap device scan`.
#[derive(ClapArgs)]
pub(super) struct ScanArgs {
    #[command(flatten)]
    ks: Keystore,
    /// A PNG image of the merchant's code.
    #[arg(long, conflicts_with = "payload", required_unless_present = "payload")]
    image: Option<PathBuf>,
    /// The code's text (EMVCo merchant-presented).
    #[arg(long)]
    payload: Option<String>,
    /// The amount in major units (12.34), for a static code; a dynamic
    /// code's amount is its own.
    #[arg(long)]
    amount: Option<String>,
    /// The owner touches the fingerprint sensor (required to pay).
    #[arg(long)]
    verified: bool,
    /// The platform's base URL (default: the wallet the device enrolled with).
    #[arg(long)]
    platform: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    login: Login,
}

/// What the phone read from the code.
struct Scanned {
    text: String,
    mpm: Mpm,
    currency: Currency,
}

fn read_code(a: &ScanArgs) -> anyhow::Result<Scanned> {
    let text = crate::register::scanned_text(a.image.as_deref(), a.payload.as_deref())?;
    let mpm = Mpm::parse(&text).context("not a valid merchant code")?;
    if paytap_merchant_id(&mpm).is_none() {
        bail!("not a paytap merchant code (no com.paytap merchant account)");
    }
    let currency = Currency::from_numeric(mpm.currency)
        .map_err(|e| anyhow::anyhow!("the code's currency: {e}"))?;
    Ok(Scanned {
        text,
        mpm,
        currency,
    })
}

/// The amount to pay: the dynamic code's, or `--amount`, or what the owner
/// types on a terminal.
fn amount(a: &ScanArgs, s: &Scanned) -> anyhow::Result<Money> {
    if let Some(minor) = s.mpm.amount {
        let code = Money::new(
            i64::try_from(minor).context("the code's amount is out of range")?,
            s.currency,
        );
        if let Some(given) = &a.amount {
            let given =
                Money::parse(given, s.currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
            if given != code {
                bail!("the code asks for {code}, not {given}");
            }
        }
        return Ok(code);
    }
    let typed = match &a.amount {
        Some(t) => t.clone(),
        None if std::io::stdin().is_terminal() => {
            eprint!("amount ({}): ", s.currency.code());
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
        None => bail!("a static code has no amount: give --amount"),
    };
    let m = Money::parse(&typed, s.currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    if m.minor <= 0 {
        bail!("--amount must be more than zero");
    }
    Ok(m)
}

fn new_key() -> anyhow::Result<String> {
    let mut b = [0u8; KEY_BYTES];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("scan-{}", hex::encode(b)))
}

/// Posts until the acquirer answers (a refusal or no answer after
/// [`MAX_POST_ATTEMPTS`] ends it), always with the same key and body.
async fn post(
    platform: &str,
    key: &str,
    s: &Scanned,
    minor: u64,
    c: &paytap_device::scan::ScanCryptogram,
) -> Result<ScanOutcome, ScanError> {
    let mut attempt = 1;
    loop {
        match post_payment(platform, key, &s.text, minor, c).await {
            Err(ScanError::Transport(_) | ScanError::Refused { status: 504, .. })
                if attempt < MAX_POST_ATTEMPTS =>
            {
                attempt += 1;
                tracing::warn!(
                    attempt,
                    "no answer from the acquirer; sending the payment again"
                );
            }
            other => return other,
        }
    }
}

pub(crate) fn today() -> TxnDate {
    let now = time::OffsetDateTime::now_utc();
    TxnDate {
        yy: now.year().rem_euclid(100) as u8,
        mm: u8::from(now.month()),
        dd: now.day(),
    }
}

/// Runs `paytap device scan`.
pub(super) fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let s = read_code(&a)?;
    let amount = amount(&a, &s)?;
    let name = format!("{}, {}", s.mpm.merchant_name, s.mpm.merchant_city);
    if !a.json {
        println!("pay {name}: {amount}");
    }
    let mut device = a.ks.open()?;
    if device.kind() != paytap_device::DeviceKind::Phone {
        bail!(
            "a {} has no camera to scan a code: scan with a phone",
            device.kind().as_str()
        );
    }
    let platform = match &a.platform {
        Some(p) => p.clone(),
        None => device
            .wallet_url()
            .context("the device is not enrolled: give --platform")?
            .to_owned(),
    };
    let owner = device.owner_finger();
    let mut un = [0u8; 4];
    getrandom::fill(&mut un).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let c = make_cryptogram(
        &mut device,
        a.verified.then_some(&owner),
        amount,
        today(),
        un,
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let minor = u64::try_from(amount.minor).context("amount out of range")?;
    let outcome = rt.block_on(post(&platform, &new_key()?, &s, minor, &c))?;
    let here = device.position().cloned();
    if let Some(report) = super::payment_reporter(&rt, &mut device, here, &a.login) {
        report();
    }
    if a.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else if outcome.approved {
        println!(
            "paid {amount} to {name} (ATC {}): {}",
            c.atc, outcome.meaning
        );
    } else {
        println!("declined ({}): {}", outcome.response_code, outcome.meaning);
    }
    Ok(crate::exit::of_response(
        outcome.approved,
        Some(&outcome.response_code),
    ))
}
