//! `paytap device upi`: the phone's UPI app over the wallet's UPI routes.
//!
//! `bind` binds the phone to the accounts the banks hold for its mobile
//! number (and makes a UPI ID with `--name`); `set-pin` asks the bank for
//! its OTP, then sets the PIN with the debit card's last six digits and
//! expiry; `pay` pays a UPI ID or a mobile number, `scan` a shop's
//! `upi://pay` QR (an image or its text); `collects` lists merchants'
//! requests, `approve` pays or declines one; `status` checks a payment.
//! The PIN (`--pin` or `PAYTAP_UPI_PIN`) is sealed here to the bank's key
//! from ListKeys, for the one transaction it authorizes: neither the wallet
//! nor the switch can read it. A payment's transaction id is chosen here,
//! and a post without an answer is sent again with the same id and body,
//! so a payment is never made twice.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use paytap_device::WalletClient;
use paytap_seal::upi_pin::PinPurpose;
use paytap_types::Secret;
use serde_json::{Value, json};

use super::{Keystore, Login, STEP_UP, client_for};

/// Posts of one payment before the phone gives up (each with the same id).
const MAX_POST_ATTEMPTS: u32 = 3;
/// Random bytes in a transaction id (hex, after `PTP`: 35 characters, the
/// most a UPI id may have).
const TXN_ID_BYTES: usize = 16;

#[derive(ClapArgs)]
pub(super) struct Args {
    #[command(subcommand)]
    command: Cmd,
}

/// The UPI PIN, typed by the owner.
#[derive(ClapArgs)]
struct Pin {
    /// The UPI PIN (4 or 6 digits).
    #[arg(long, env = "PAYTAP_UPI_PIN", hide_env_values = true)]
    pin: String,
}

/// What every UPI command needs.
#[derive(ClapArgs)]
struct Common {
    #[command(flatten)]
    ks: Keystore,
    #[command(flatten)]
    login: Login,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bind this phone to the bank accounts of its mobile number.
    Bind {
        #[command(flatten)]
        c: Common,
        /// The SIM's mobile number (10 digits).
        #[arg(long)]
        mobile: String,
        /// Also make the UPI ID NAME@paytap for the first account.
        #[arg(long)]
        name: Option<String>,
    },
    /// Set the UPI PIN: without --otp, ask the bank to text one; with it, set the PIN.
    SetPin {
        #[command(flatten)]
        c: Common,
        /// The binding (default: the first).
        #[arg(long)]
        binding: Option<String>,
        /// The debit card's last six digits.
        #[arg(long)]
        card_last6: Option<String>,
        /// The debit card's expiry, MM/YY.
        #[arg(long)]
        expiry: Option<String>,
        /// The OTP the bank texted.
        #[arg(long, requires = "verification")]
        otp: Option<String>,
        /// The verification id printed with the OTP's request.
        #[arg(long)]
        verification: Option<String>,
        /// The new UPI PIN (4 or 6 digits), with --otp.
        #[arg(long, env = "PAYTAP_UPI_PIN", hide_env_values = true)]
        pin: Option<String>,
    },
    /// Pay a contact: a UPI ID or a mobile number (amount in rupees, 250.00).
    Pay {
        #[command(flatten)]
        c: Common,
        #[command(flatten)]
        pin: Pin,
        /// Your UPI ID to pay from (default: the first).
        #[arg(long)]
        from: Option<String>,
        /// The payee's UPI ID.
        #[arg(long, conflicts_with = "mobile", required_unless_present = "mobile")]
        to: Option<String>,
        /// The payee's mobile number.
        #[arg(long)]
        mobile: Option<String>,
        /// The amount in rupees.
        #[arg(long)]
        amount: String,
        /// A note for the payee.
        #[arg(long)]
        note: Option<String>,
    },
    /// Scan a shop's UPI QR code and pay it.
    Scan {
        #[command(flatten)]
        c: Common,
        #[command(flatten)]
        pin: Pin,
        /// A PNG image of the code.
        #[arg(long, conflicts_with = "link", required_unless_present = "link")]
        image: Option<PathBuf>,
        /// The code's text, upi://pay?...
        #[arg(long)]
        link: Option<String>,
        /// Your UPI ID to pay from (default: the first).
        #[arg(long)]
        from: Option<String>,
        /// The amount in rupees, for a static code.
        #[arg(long)]
        amount: Option<String>,
    },
    /// Merchants' collect requests waiting for you.
    Collects {
        #[command(flatten)]
        c: Common,
    },
    /// Approve a merchant's collect request with the PIN, or decline it.
    Approve {
        #[command(flatten)]
        c: Common,
        /// The request's transaction id.
        #[arg(long)]
        txn: String,
        /// Decline instead.
        #[arg(long)]
        decline: bool,
        /// The UPI PIN, to approve.
        #[arg(long, env = "PAYTAP_UPI_PIN", hide_env_values = true)]
        pin: Option<String>,
    },
    /// A payment's status (checked with the switch while it is open).
    Status {
        #[command(flatten)]
        c: Common,
        /// The transaction id.
        #[arg(long)]
        txn: String,
    },
}

/// Runs one `paytap device upi` subcommand.
pub(super) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Cmd::Bind { c, mobile, name } => bind(&c, &mobile, name.as_deref()).await,
        Cmd::SetPin {
            c,
            binding,
            card_last6,
            expiry,
            otp,
            verification,
            pin,
        } => {
            let client = session(&c).await?;
            let binding = binding_id(&client, binding).await?;
            match (otp, verification) {
                (Some(otp), Some(v)) => {
                    let card = (card_last6, expiry);
                    let pin = pin.context("--pin (or PAYTAP_UPI_PIN) is the new PIN")?;
                    set_pin(&client, &c, &binding, card, &v, &otp, pin).await
                }
                _ => request_otp(&client, &c, &binding).await,
            }
        }
        Cmd::Pay {
            c,
            pin,
            from,
            to,
            mobile,
            amount,
            note,
        } => {
            let payee = match (to, mobile) {
                (Some(to), _) => json!({ "to": to }),
                (None, Some(m)) => json!({ "mobile": m }),
                (None, None) => bail!("pay whom: --to UPI-ID or --mobile NUMBER"),
            };
            let mut body = with_amount(payee, Some(&amount))?;
            body["note"] = json!(note);
            pay(&c, from, body, pin).await
        }
        Cmd::Scan {
            c,
            pin,
            image,
            link,
            from,
            amount,
        } => {
            let link = read_code(image, link)?;
            let body = with_amount(json!({ "link": link }), amount.as_deref())?;
            pay(&c, from, body, pin).await
        }
        Cmd::Collects { c } => collects(&c).await,
        Cmd::Approve {
            c,
            txn,
            decline,
            pin,
        } => approve(&c, &txn, decline, pin).await,
        Cmd::Status { c, txn } => {
            let client = session(&c).await?;
            let p = client.upi_get(&format!("payments/{txn}")).await?;
            Ok(show_payment(&p, c.json))
        }
    }
}

async fn session(c: &Common) -> anyhow::Result<WalletClient> {
    let mut device = c.ks.open()?;
    client_for(&mut device, &c.login).await
}

fn with_amount(mut body: Value, amount: Option<&str>) -> anyhow::Result<Value> {
    if let Some(a) = amount {
        let paise = paytap_upi::parse_amount("amount", a)
            .map_err(|_| anyhow::anyhow!("--amount: rupees, as 250 or 250.00"))?;
        body["amount_paise"] = json!(paise);
    }
    Ok(body)
}

fn read_code(image: Option<PathBuf>, link: Option<String>) -> anyhow::Result<String> {
    match (image, link) {
        (Some(path), _) => {
            let png =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            paytap_qrimage::read_png(&png)
                .with_context(|| format!("no QR code readable in {}", path.display()))
        }
        (None, Some(l)) => Ok(l),
        (None, None) => bail!("scan a code: --image FILE or --link TEXT"),
    }
}

async fn bind(c: &Common, mobile: &str, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut device = c.ks.open()?;
    let client = client_for(&mut device, &c.login).await?;
    let device_id = device
        .device_id()
        .context("the device is not enrolled (run `paytap device enrol`)")?
        .to_owned();
    let key = paytap_seal::public_key_to_base64(&device.public_key());
    let body = json!({ "device_id": device_id, "device_key": key, "mobile": mobile });
    let mut answer = client.upi_post("bindings", body).await?;
    if let Some(name) = name {
        let binding = answer["bindings"][0]["binding_id"].clone();
        let id = client
            .upi_post("ids", json!({ "binding_id": binding, "name": name }))
            .await?;
        answer["id"] = id;
    }
    if c.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    for b in answer["bindings"].as_array().into_iter().flatten() {
        println!(
            "bound {} at {} ({}) as {}; lower cap until {}",
            b["account_masked"].as_str().unwrap_or_default(),
            b["ifsc"].as_str().unwrap_or_default(),
            b["holder"].as_str().unwrap_or_default(),
            b["binding_id"].as_str().unwrap_or_default(),
            b["cooling_off_until"],
        );
    }
    if let Some(vpa) = answer["id"]["vpa"].as_str() {
        println!("UPI ID {vpa}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The binding named, or the first.
async fn binding_id(client: &WalletClient, given: Option<String>) -> anyhow::Result<String> {
    if let Some(b) = given {
        return Ok(b);
    }
    let list = client.upi_get("bindings").await?;
    list["bindings"][0]["binding_id"]
        .as_str()
        .map(str::to_owned)
        .context("no binding: run `paytap device upi bind` first")
}

/// The binding's IFSC.
async fn ifsc_of(client: &WalletClient, binding: &str) -> anyhow::Result<String> {
    let list = client.upi_get("bindings").await?;
    list["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["binding_id"] == binding)
        .and_then(|b| b["ifsc"].as_str())
        .map(str::to_owned)
        .context("no such binding")
}

async fn request_otp(client: &WalletClient, c: &Common, binding: &str) -> anyhow::Result<ExitCode> {
    let otp = client
        .upi_post(&format!("bindings/{binding}/pin-otp"), json!({}))
        .await?;
    if c.json {
        println!("{otp}");
    } else {
        println!(
            "OTP sent ({}); set the PIN with --otp CODE --verification {}",
            otp["destination"].as_str().unwrap_or_default(),
            otp["verification_id"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::from(STEP_UP))
}

async fn set_pin(
    client: &WalletClient,
    c: &Common,
    binding: &str,
    (last6, expiry): (Option<String>, Option<String>),
    verification: &str,
    otp: &str,
    pin: String,
) -> anyhow::Result<ExitCode> {
    let last6 = last6.context("--card-last6: the debit card's last six digits")?;
    let expiry = expiry.context("--expiry: the debit card's expiry, MM/YY")?;
    let ifsc = ifsc_of(client, binding).await?;
    let pin = Secret::new(pin);
    let block = client
        .upi_pin_block(&ifsc, PinPurpose::SetPin, verification, &pin)
        .await?;
    let body = json!({ "card_last6": last6, "card_expiry": expiry, "verification_id": verification,
                       "otp": otp, "pin_block": block });
    let answer = client
        .upi_post(&format!("bindings/{binding}/pin"), body)
        .await?;
    if c.json {
        println!("{answer}");
    } else {
        println!("UPI PIN set");
    }
    Ok(ExitCode::SUCCESS)
}

/// Your UPI ID named, or the first; and its bank's IFSC.
async fn payer(client: &WalletClient, from: Option<String>) -> anyhow::Result<(String, String)> {
    let ids = client.upi_get("ids").await?;
    let id = ids["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| from.as_deref().is_none_or(|f| i["vpa"] == f))
        .context("no such UPI ID of yours: make one with `paytap device upi bind --name`")?;
    let vpa = id["vpa"].as_str().unwrap_or_default().to_owned();
    let binding = id["binding_id"].as_str().unwrap_or_default();
    Ok((vpa, ifsc_of(client, binding).await?))
}

fn txn_id() -> anyhow::Result<String> {
    let mut b = [0u8; TXN_ID_BYTES];
    getrandom::fill(&mut b).context("the random number generator failed")?;
    Ok(format!("PTP{}", hex::encode_upper(b)))
}

async fn pay(
    c: &Common,
    from: Option<String>,
    mut body: Value,
    pin: Pin,
) -> anyhow::Result<ExitCode> {
    let client = session(c).await?;
    let (vpa, ifsc) = payer(&client, from).await?;
    let id = txn_id()?;
    let pin = Secret::new(pin.pin);
    body["txn_id"] = json!(id);
    body["from"] = json!(vpa);
    body["pin_block"] = json!(
        client
            .upi_pin_block(&ifsc, PinPurpose::Debit, &id, &pin)
            .await?
    );
    let paid = post_again(&client, "payments", &body).await?;
    Ok(show_payment(&paid, c.json))
}

/// Posts `body`, again with the same body when no answer came.
async fn post_again(client: &WalletClient, path: &str, body: &Value) -> anyhow::Result<Value> {
    let mut last = None;
    for _ in 0..MAX_POST_ATTEMPTS {
        match client.upi_post(path, body.clone()).await {
            Err(e @ paytap_device::WalletClientError::Transport { .. }) => last = Some(e),
            other => return Ok(other?),
        }
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("no answer")))
}

async fn collects(c: &Common) -> anyhow::Result<ExitCode> {
    let client = session(c).await?;
    let list = client.upi_get("collects").await?;
    if c.json {
        println!("{list}");
        return Ok(ExitCode::SUCCESS);
    }
    let all = list["collects"].as_array().cloned().unwrap_or_default();
    if all.is_empty() {
        println!("no collect requests");
    }
    for r in all {
        println!(
            "{}  {} asks ₹{} ({})",
            r["txn_id"].as_str().unwrap_or_default(),
            r["payee_name"]
                .as_str()
                .or(r["payee_vpa"].as_str())
                .unwrap_or_default(),
            rupees(&r["amount_paise"]),
            r["note"].as_str().unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn approve(
    c: &Common,
    txn: &str,
    decline: bool,
    pin: Option<String>,
) -> anyhow::Result<ExitCode> {
    let client = session(c).await?;
    let answer = if decline {
        post_again(&client, &format!("collects/{txn}/decline"), &json!({})).await?
    } else {
        let list = client.upi_get("collects").await?;
        let asked = list["collects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["txn_id"] == txn)
            .and_then(|r| r["payer_vpa"].as_str())
            .map(str::to_owned);
        let (_, ifsc) = payer(&client, asked).await?;
        let pin = Secret::new(pin.context("--pin (or PAYTAP_UPI_PIN) approves")?);
        let block = client
            .upi_pin_block(&ifsc, PinPurpose::Debit, txn, &pin)
            .await?;
        post_again(
            &client,
            &format!("collects/{txn}/approve"),
            &json!({ "pin_block": block }),
        )
        .await?
    };
    Ok(show_payment(&answer, c.json))
}

fn rupees(paise: &Value) -> String {
    paytap_upi::format_amount(paise.as_u64().unwrap_or(0))
}

/// Prints a payment; exit 0 when it succeeded, 1 when it failed, 3 while
/// it is pending or deemed (check again with `status`).
fn show_payment(p: &Value, json: bool) -> ExitCode {
    let status = p["status"].as_str().unwrap_or_default();
    if json {
        println!("{p}");
    } else {
        let code = p["error_code"]
            .as_str()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        println!(
            "{status}{code}: ₹{} to {}, transaction {}, RRN {}",
            rupees(&p["amount_paise"]),
            p["payee_name"]
                .as_str()
                .or(p["payee_vpa"].as_str())
                .unwrap_or_default(),
            p["txn_id"].as_str().unwrap_or_default(),
            p["rrn"].as_str().unwrap_or("-"),
        );
    }
    match status {
        "success" => ExitCode::SUCCESS,
        "failed" => ExitCode::from(crate::exit::REFUSED),
        _ => ExitCode::from(STEP_UP),
    }
}
