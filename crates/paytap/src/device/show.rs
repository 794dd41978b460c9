//! `paytap device show`: the phone shows a one-time code for the shop's
//! register to scan (show to pay, online).
//!
//! Only with the owner's finger (`--verified`; without it nothing is
//! asked of the secure element: a code pays what the register rings up,
//! and its amount of zero is within every no-CVM limit), the phone's secure element runs the contactless
//! kernel against itself as `device scan` does (its ATC written ahead of
//! the cryptogram), for an amount of zero (the register sets the amount)
//! and with the unpredictable number set to the time
//! ([`paytap_qr::presented::unpredictable_number`]). The card data and the
//! chip data become an EMVCo consumer-presented code
//! ([`paytap_qr::presented::PhoneCode`]), drawn in the terminal and, with
//! `--png FILE`, written as a PNG. The acquirer takes it for
//! [`paytap_qr::presented::CODE_LIFETIME_SECS`] seconds, once.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use paytap_device::scan::{ScanCryptogram, ScanError, make_cryptogram};
use paytap_emv::TxnDate;
use paytap_qr::presented::{CODE_LIFETIME_SECS, PhoneCode, unpredictable_number};
use paytap_types::{Currency, Money};
use serde_json::json;

use super::Keystore;

/// `paytap device show`.
#[derive(ClapArgs)]
pub(super) struct ShowArgs {
    #[command(flatten)]
    ks: Keystore,
    /// Also write the code as a PNG image.
    #[arg(long)]
    png: Option<PathBuf>,
    /// The owner touches the fingerprint sensor (required to show a code).
    #[arg(long)]
    verified: bool,
    /// The currency the phone pays in (the chip data's currency code).
    #[arg(long, default_value = "CNY", value_parser = crate::pos::currency_codes())]
    currency: String,
    /// Print `{"payload", "atc", "made_at", "expires_at", "png"}` as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    login: super::Login,
}

fn date(now: &time::OffsetDateTime) -> TxnDate {
    TxnDate {
        yy: now.year().rem_euclid(100) as u8,
        mm: u8::from(now.month()),
        dd: now.day(),
    }
}

fn phone_code(c: &ScanCryptogram) -> PhoneCode {
    PhoneCode {
        aid: c.aid.clone(),
        token: c.token.expose().clone(),
        expiry_yymm: c.expiry_yymm.clone(),
        psn: c.psn,
        track2: c.track2.expose().clone(),
        icc_data: c.icc_data.clone(),
    }
}

/// The phone's code at `now`, made by its secure element with the
/// owner's finger (the caller has checked it), and the cryptogram's ATC.
pub(crate) fn make_code(
    device: &mut paytap_device::Device,
    now: &time::OffsetDateTime,
    currency: Currency,
) -> anyhow::Result<(String, u16)> {
    let owner = device.owner_finger();
    let c = make_cryptogram(
        device,
        Some(&owner),
        Money::new(0, currency),
        date(now),
        unpredictable_number(now.unix_timestamp()),
    )?;
    let payload = phone_code(&c)
        .to_base64()
        .context("making the code's payload")?;
    Ok((payload, c.atc))
}

/// Runs `paytap device show`.
pub(super) fn run(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let currency = Currency::from_code(&a.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut device = a.ks.open()?;
    if device.kind() != paytap_device::DeviceKind::Phone {
        bail!(
            "a {} cannot show a card's code: show it on a phone",
            device.kind().as_str()
        );
    }
    if !a.verified {
        // The code pays whatever amount the register rings up, and its
        // cryptogram (amount zero) is within any no-CVM limit: the phone
        // makes one only after the owner's finger, so that its CVR says
        // CDCVM and the issuer sees a verified owner.
        return Err(ScanError::NotVerified.into());
    }
    let now = time::OffsetDateTime::now_utc();
    let made_at = now.unix_timestamp();
    let (payload, atc) = make_code(&mut device, &now, currency)?;
    if let Some(png) = &a.png {
        let bytes = paytap_qrimage::render_png(&payload)?;
        std::fs::write(png, &bytes).with_context(|| format!("writing {}", png.display()))?;
    }
    let expires_at = made_at + CODE_LIFETIME_SECS;
    // Showing a code is paying: the wallet hears where the phone is, as
    // after a tap or a scanned code.
    let here = device.position().cloned();
    let rt = tokio::runtime::Runtime::new()?;
    if let Some(report) = super::payment_reporter(&rt, &mut device, here, &a.login) {
        report();
    }
    if a.json {
        let png = a.png.as_ref().map(|p| p.display().to_string());
        println!(
            "{}",
            json!({ "payload": payload, "atc": atc, "made_at": made_at, "expires_at": expires_at, "png": png })
        );
    } else {
        print!("{}", paytap_qrimage::render_terminal(&payload)?);
        println!("{payload}");
        println!(
            "show this to the cashier within {CODE_LIFETIME_SECS} s (ATC {})",
            atc
        );
        if let Some(png) = &a.png {
            println!("wrote {}", png.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
