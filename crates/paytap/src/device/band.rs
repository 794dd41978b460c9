//! `paytap device band`: the band's offline account, from the band.
//!
//! * `open` makes the band's key in its secure element (once) and opens its
//!   account with the wallet (`POST /api/v1/bands`), with a limit;
//! * `fund` moves an approved card payment to the band funding merchant
//!   onto it (`--payment-key`: the key `paytap device scan` paid with);
//! * `sync` reports the codes made since the last sync and installs the
//!   new certificate, which restores the offline allowance (the band syncs
//!   through the phone: here the band's own wallet session stands for it);
//! * `code` makes one payment's code offline, with no network: printed as
//!   a QR in the terminal, its text, and with `--png FILE` an image;
//! * `status` shows what the band and the wallet know; `off` turns it off.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Args as ClapArgs, Subcommand};
use paytap_types::{Currency, Money};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Keystore, Login, client_for};

#[derive(ClapArgs)]
pub(super) struct Args {
    #[command(subcommand)]
    command: Cmd,
}

/// The band, the wallet login for an expired session, and the output.
#[derive(ClapArgs)]
struct Online {
    #[command(flatten)]
    ks: Keystore,
    #[command(flatten)]
    login: Login,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make the band's key and open its offline account (limit in yuan, at most 2000).
    Open {
        #[command(flatten)]
        on: Online,
        /// The offline limit in yuan (default 500, at most 2000).
        #[arg(long)]
        limit: Option<String>,
    },
    /// Fund the band account with an approved payment to the band funding merchant.
    Fund {
        #[command(flatten)]
        on: Online,
        /// The idempotency key of the scan-to-pay payment that paid for it.
        #[arg(long)]
        payment_key: String,
    },
    /// Report the codes made since the last sync and get a new certificate.
    Sync(Online),
    /// Show one payment's code, offline (amount in yuan).
    Code {
        #[command(flatten)]
        ks: Keystore,
        /// The most the register may take, in yuan.
        #[arg(long)]
        amount: String,
        /// Also write the code as a PNG image.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What the band and the wallet know of its offline account.
    Status(Online),
    /// Turn the band off: its credential is revoked.
    Off(Online),
}

/// Runs one `paytap device band` subcommand.
pub(super) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = match args.command {
        Cmd::Open { on, limit } => rt
            .block_on(open(&on.ks, &on.login, limit.as_deref()))
            .map(|v| (v, on.json)),
        Cmd::Fund { on, payment_key } => {
            let body = json!({ "payment_key": payment_key });
            rt.block_on(call(&on.ks, &on.login, "fund", body))
                .map(|v| (v, on.json))
        }
        Cmd::Sync(on) => rt.block_on(sync(&on.ks, &on.login)).map(|v| (v, on.json)),
        Cmd::Code {
            ks,
            amount,
            png,
            json,
        } => code(&ks, &amount, png.as_ref()).map(|v| (v, json)),
        Cmd::Status(on) => rt.block_on(status(&on.ks, &on.login)).map(|v| (v, on.json)),
        Cmd::Off(on) => rt
            .block_on(call(&on.ks, &on.login, "off", json!({})))
            .map(|v| (v, on.json)),
    };
    let (v, as_json) = out?;
    if as_json {
        println!("{v}");
    } else if let Some(text) = v.get("text").and_then(Value::as_str) {
        print!("{text}");
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn yuan(text: &str) -> anyhow::Result<i64> {
    let m = Money::parse(text, Currency::CNY).map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(m.minor > 0, "the amount must be above zero");
    Ok(m.minor)
}

fn band_id(device: &paytap_device::Device) -> anyhow::Result<String> {
    if device.kind() != paytap_device::DeviceKind::Band {
        bail!(
            "a {} has no band account: use a band",
            device.kind().as_str()
        );
    }
    let id = device
        .device_id()
        .context("the band is not enrolled (run `paytap device enrol`)")?;
    Ok(hex::encode(crate::platform::bands::band_id_of(id)))
}

/// The band, its hex id and a wallet client with a live session.
async fn session(
    ks: &Keystore,
    login: &Login,
) -> anyhow::Result<(paytap_device::Device, String, paytap_device::WalletClient)> {
    let mut device = ks.open()?;
    let id = band_id(&device)?;
    let client = client_for(&mut device, login).await?;
    Ok((device, id, client))
}

async fn open(ks: &Keystore, login: &Login, limit: Option<&str>) -> anyhow::Result<Value> {
    let limit = limit.map(yuan).transpose()?;
    let (mut device, _, client) = session(ks, login).await?;
    let key = device.band_key()?;
    let body = json!({
        "device_id": device.device_id(),
        "band_key": hex::encode(key),
        "limit_minor": limit,
    });
    Ok(client
        .json(Method::POST, crate::platform::bands::BANDS_PATH, Some(body))
        .await?)
}

async fn call(ks: &Keystore, login: &Login, what: &str, body: Value) -> anyhow::Result<Value> {
    let (_, id, client) = session(ks, login).await?;
    let path = format!("{}/{id}/{what}", crate::platform::bands::BANDS_PATH);
    Ok(client.json(Method::POST, &path, Some(body)).await?)
}

async fn sync(ks: &Keystore, login: &Login) -> anyhow::Result<Value> {
    let (mut device, id, client) = session(ks, login).await?;
    let reported = device.band_unsynced();
    let path = format!("{}/{id}/sync", crate::platform::bands::BANDS_PATH);
    let v = client
        .json(Method::POST, &path, Some(json!({ "reported": reported })))
        .await?;
    let cert = v["certificate"]
        .as_str()
        .context("the answer's certificate")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cert)
        .context("the certificate's Base64")?;
    device.band_install(&bytes, reported.len())?;
    Ok(json!({
        "band_id": id, "serial": v["serial"], "limit_minor": v["limit_minor"],
        "not_after": v["not_after"], "reported": reported.len(),
    }))
}

fn code(ks: &Keystore, amount: &str, png: Option<&PathBuf>) -> anyhow::Result<Value> {
    let mut device = ks.open()?;
    let minor = u64::try_from(yuan(amount)?)?;
    let now = paytap_store::now_millis() / 1000;
    let code = device.band_code(now, minor)?;
    let payload = code.to_base64();
    if let Some(path) = png {
        let bytes = paytap_qrimage::render_png(&payload)?;
        std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    let text = format!(
        "{}{payload}\nband code #{} for up to {} (made offline)\n",
        paytap_qrimage::render_terminal(&payload)?,
        code.counter,
        Money::new(i64::try_from(minor)?, Currency::CNY),
    );
    Ok(json!({
        "payload": payload, "counter": code.counter, "amount_minor": minor,
        "made_at": now, "png": png.map(|p| p.display().to_string()), "text": text,
    }))
}

async fn status(ks: &Keystore, login: &Login) -> anyhow::Result<Value> {
    let (device, id, client) = session(ks, login).await?;
    let band = device.band_info()?;
    let all = client
        .json(Method::GET, crate::platform::bands::BANDS_PATH, None)
        .await?;
    let account = all["bands"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["band_id"] == id.as_str()))
        .cloned();
    Ok(json!({ "band_id": id, "band": band, "account": account }))
}
