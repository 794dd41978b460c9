//! `paytap register scan`: the register scans the code a phone shows and
//! takes the payment (show to pay).
//!
//! The code comes from an image (`--image FILE`, read with
//! `paytap-qrimage`) or as text (`--payload`); the register checks that it
//! is a paytap phone's code ([`paytap_qr::presented::PhoneCode`]) before
//! anything is sent, then posts `{"idempotency_key", "merchant",
//! "amount_minor", "code"}` to the acquirer
//! (`POST /acquirer/v1/presented-payments`, signed as the merchant API's
//! requests are). The key is chosen here (`--key`, or a random one); a post
//! without an answer is sent again with the same key and body, so a sale
//! is never paid twice. With `--register-dir DIR` the payment is written
//! to the register's queue (`register/queue.rs`) before it is sent and
//! marked done when answered; one left without an answer waits there for
//! `paytap register upload`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use paytap_acquirer::payments::PaymentOutcome;
use paytap_qr::presented::PhoneCode;
use paytap_types::{Currency, Money};
use serde_json::json;

use super::queue::Queue;
use super::{AcquirerClient, Connection, Refused};
use crate::platform::presented::PRESENTED_PAYMENTS_PATH;

/// Posts of one payment before the register gives up (each with the same key).
const MAX_POST_ATTEMPTS: u32 = 3;
/// Random bytes in an idempotency key (hex).
const KEY_BYTES: usize = 16;
/// How long the acquirer may take to answer a payment (it waits for the network).
const PAYMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `paytap register scan`.
#[derive(ClapArgs)]
pub(super) struct ScanArgs {
    /// The merchant's id.
    #[arg(long)]
    merchant: String,
    /// The sale's amount in major units (e.g. 12.34).
    #[arg(long)]
    amount: String,
    /// The merchant's currency (ISO 4217), which the register rings up in.
    #[arg(long, default_value = "CNY", value_parser = crate::pos::currency_codes())]
    currency: String,
    /// A PNG image of the code the phone shows.
    #[arg(long, conflicts_with = "payload", required_unless_present = "payload")]
    image: Option<PathBuf>,
    /// The code's text (Base64, EMVCo consumer-presented).
    #[arg(long)]
    payload: Option<String>,
    /// The payment's idempotency key (1-64 letters, digits, '-' or '_');
    /// a random one if absent. The same key sent again answers the same outcome.
    #[arg(long)]
    key: Option<String>,
    /// The register's directory: the payment is queued there (`register.db`)
    /// before it is sent, and waits there when no answer comes.
    #[arg(long)]
    register_dir: Option<PathBuf>,
    #[command(flatten)]
    conn: Connection,
}

fn read_code(a: &ScanArgs) -> anyhow::Result<String> {
    let text = crate::register::scanned_text(a.image.as_deref(), a.payload.as_deref())?;
    PhoneCode::read(&text).context("not a paytap phone's payment code")?;
    Ok(text.trim().to_owned())
}

fn new_key() -> anyhow::Result<String> {
    let mut b = [0u8; KEY_BYTES];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("reg-{}", hex::encode(b)))
}

/// Whether a failed post may be sent again: no answer came, or the
/// acquirer had none from the network in time.
fn retryable(e: &anyhow::Error) -> bool {
    match e.chain().find_map(|c| c.downcast_ref::<Refused>()) {
        Some(r) => r.status == 504,
        None => e
            .chain()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// Posts until the acquirer answers, always with the same key and body.
async fn post(client: &AcquirerClient, body: &serde_json::Value) -> anyhow::Result<PaymentOutcome> {
    let mut attempt = 1;
    loop {
        match client
            .call("POST", PRESENTED_PAYMENTS_PATH, Some(body))
            .await
        {
            Ok((_, v)) => return serde_json::from_value(v).context("reading the outcome"),
            Err(e) if attempt < MAX_POST_ATTEMPTS && retryable(&e) => {
                attempt += 1;
                tracing::warn!(attempt, error = %e, "no answer from the acquirer; sending the payment again");
            }
            Err(e) => return Err(e),
        }
    }
}

fn q_path(a: &ScanArgs) -> String {
    a.register_dir
        .as_ref()
        .map(|d| d.join(super::queue::QUEUE_FILE).display().to_string())
        .unwrap_or_default()
}

/// Runs `paytap register scan`.
pub(super) async fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let code = read_code(&a)?;
    let client = AcquirerClient::new(&a.conn)?.with_timeout(PAYMENT_TIMEOUT)?;
    let currency = Currency::from_code(&a.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let amount = Money::parse(&a.amount, currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let minor = u64::try_from(amount.minor)
        .ok()
        .filter(|&n| n > 0)
        .context("--amount must be above zero")?;
    let key = match &a.key {
        Some(k) => k.clone(),
        None => new_key()?,
    };
    let body = json!({
        "idempotency_key": key, "merchant": a.merchant, "amount_minor": minor, "code": code,
        "currency": currency.code(),
    });
    let queue = match &a.register_dir {
        Some(dir) => Some(Queue::open(dir).await?),
        None => None,
    };
    if let Some(q) = &queue {
        q.enqueue(&key, &body).await?;
    }
    let posted = post(&client, &body).await;
    let outcome = match (posted, &queue) {
        (Ok(o), Some(q)) => {
            q.done(&key, &serde_json::to_value(&o)?).await?;
            o
        }
        (Ok(o), None) => o,
        (Err(e), Some(_)) if retryable(&e) => {
            return Err(e.context(format!(
                "payment {key} waits in {} for `paytap register upload`",
                q_path(&a)
            )));
        }
        (Err(e), Some(q)) => {
            q.done(&key, &json!({ "error": format!("{e:#}") })).await?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    if a.conn.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else if outcome.approved {
        println!(
            "{}: paid {amount}: {}",
            outcome.merchant_name, outcome.meaning
        );
    } else {
        println!("declined ({}): {}", outcome.response_code, outcome.meaning);
    }
    Ok(crate::exit::of_answer(outcome.approved))
}
