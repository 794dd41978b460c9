//! The register and the band's offline codes.
//!
//! * `register band-sync` downloads, while online, the platform's
//!   certificate key and the revoked bands
//!   (`GET /acquirer/v1/band-revocations`) into `register.db`.
//! * `register band` takes a band code offline: the code (from an image or
//!   as text) is verified with nothing but what `register.db` holds
//!   ([`paytap_qr::offline::RegisterVerifier`]: the platform's signature,
//!   the band's, validity, freshness, the counters and spending this
//!   register saw of the band, the revocation list); an accepted code is
//!   written, with the band's new counter and spending, in one transaction
//!   before the receipt prints. A refused code prints its reason and exits
//!   refused; nothing is stored.
//! * `register upload` then sends the band operations in batches
//!   (`PUT /acquirer/v1/band-batches/{id}`, `register/upload.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use paytap_acquirer::bands::upload::BandOperation;
use paytap_qr::offline::{BandSeen, OfflineCode, RegisterVerifier};
use paytap_types::{Currency, Money};
use serde_json::json;
use sqlx::Row;

use super::queue::{Kind, Queue, enqueue_in};
use super::{AcquirerClient, Connection};
use crate::platform::bands::BAND_REVOCATIONS_PATH;

/// `paytap register band-sync`.
#[derive(ClapArgs)]
pub(super) struct BandSyncArgs {
    /// The register's directory (`register.db`).
    #[arg(long)]
    register_dir: PathBuf,
    #[command(flatten)]
    conn: Connection,
}

/// `paytap register band`.
#[derive(ClapArgs)]
pub(super) struct BandArgs {
    /// The register's directory (`register.db`).
    #[arg(long)]
    register_dir: PathBuf,
    /// The merchant's id.
    #[arg(long)]
    merchant: String,
    /// This register's id at the merchant (letters, digits, '-' or '_').
    #[arg(long, default_value = "till-1")]
    register_id: String,
    /// The sale's amount in major units of CNY (e.g. 12.34); at most what
    /// the code allows.
    #[arg(long)]
    amount: String,
    /// A PNG image of the code the band shows.
    #[arg(long, conflicts_with = "payload", required_unless_present = "payload")]
    image: Option<PathBuf>,
    /// The code's text.
    #[arg(long)]
    payload: Option<String>,
    /// The register's clock (Unix seconds), for a replayed trial; now if absent.
    #[arg(long)]
    now: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `paytap register band-sync`.
pub(super) async fn sync(a: BandSyncArgs) -> anyhow::Result<ExitCode> {
    let queue = Queue::open(&a.register_dir).await?;
    let client = AcquirerClient::new(&a.conn)?;
    let (_, v) = client.call("GET", BAND_REVOCATIONS_PATH, None).await?;
    let key = v["platform_key"]
        .as_str()
        .context("the answer's platform_key")?;
    let revoked: Vec<String> =
        serde_json::from_value(v["revoked"].clone()).context("the answer's revoked list")?;
    let mut tx = queue.db().begin_write().await?;
    sqlx::query(
        "INSERT INTO register_band_platform (id, key) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET key = excluded.key",
    )
    .bind(key)
    .execute(&mut *tx)
    .await?;
    for band in &revoked {
        sqlx::query(
            "INSERT INTO register_band_revoked (band_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(band)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if a.conn.json {
        println!(
            "{}",
            json!({ "platform_key": key, "revoked": revoked.len() })
        );
    } else {
        println!("platform key {key}; {} band(s) revoked", revoked.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// A verifier that knows what this register's store says of one band.
async fn verifier_for(queue: &Queue, code: &OfflineCode) -> anyhow::Result<RegisterVerifier> {
    let pool = queue.db().pool();
    let key = sqlx::query("SELECT key FROM register_band_platform WHERE id = 1")
        .fetch_optional(pool)
        .await?
        .context("no platform key: run `paytap register band-sync` once while online")?;
    let key: String = key.try_get("key")?;
    let key: [u8; 32] = hex::decode(&key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .context("the stored platform key")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).context("the stored platform key")?;
    let mut v = RegisterVerifier::new(key);
    let band = hex::encode(code.certificate.band_id);
    let revoked = sqlx::query("SELECT 1 AS one FROM register_band_revoked WHERE band_id = $1")
        .bind(&band)
        .fetch_optional(pool)
        .await?;
    if revoked.is_some() {
        v.revoke(code.certificate.band_id)?;
    }
    let seen = sqlx::query(
        "SELECT serial, last_counter, spent FROM register_band_seen WHERE band_id = $1",
    )
    .bind(&band)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = seen {
        let seen = BandSeen {
            serial: u32::try_from(row.try_get::<i64, _>("serial")?)?,
            last_counter: u64::try_from(row.try_get::<i64, _>("last_counter")?)?,
            spent: u64::try_from(row.try_get::<i64, _>("spent")?)?,
        };
        v.restore(code.certificate.band_id, seen)?;
    }
    Ok(v)
}

/// Runs `paytap register band`.
pub(super) async fn take(a: BandArgs) -> anyhow::Result<ExitCode> {
    let text = super::scanned_text(a.image.as_deref(), a.payload.as_deref())?;
    let money =
        Money::parse(&a.amount, Currency::CNY).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let amount = u64::try_from(money.minor)
        .ok()
        .filter(|&n| n > 0)
        .context("--amount must be above zero")?;
    let queue = Queue::open(&a.register_dir).await?;
    let code = OfflineCode::from_base64(&text).context("not a band's offline code")?;
    let mut verifier = verifier_for(&queue, &code).await?;
    let now = a.now.unwrap_or_else(|| paytap_store::now_millis() / 1000);
    let band = hex::encode(code.certificate.band_id);
    let refusal = if amount > code.amount {
        Some(format!(
            "the code allows {}, the sale is {amount}",
            code.amount
        ))
    } else {
        verifier.verify(&code, now).err().map(|e| e.to_string())
    };
    if let Some(why) = refusal {
        tracing::info!(
            band,
            counter = code.counter,
            why,
            "band code refused at the register"
        );
        if a.json {
            println!(
                "{}",
                json!({ "accepted": false, "band_id": band, "counter": code.counter, "reason": why })
            );
        } else {
            println!("REFUSED: {why}");
        }
        return Ok(ExitCode::from(crate::exit::REFUSED));
    }
    let seen = verifier
        .seen(&code.certificate.band_id)
        .context("an accepted band is tracked")?;
    let op = BandOperation {
        register: a.register_id.clone(),
        merchant: a.merchant.clone(),
        code: text.trim().to_owned(),
        amount_minor: amount,
        taken_at: now,
    };
    let key = format!("band-{band}-{}", code.counter);
    let mut tx = queue.db().begin_write().await?;
    enqueue_in(&mut tx, Kind::Band, &key, &serde_json::to_value(&op)?).await?;
    sqlx::query(
        "INSERT INTO register_band_seen (band_id, serial, last_counter, spent) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (band_id) DO UPDATE SET serial = excluded.serial, \
         last_counter = excluded.last_counter, spent = excluded.spent",
    )
    .bind(&band)
    .bind(i64::from(seen.serial))
    .bind(i64::try_from(seen.last_counter)?)
    .bind(i64::try_from(seen.spent)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let shown = Money::new(money.minor, Currency::CNY);
    if a.json {
        println!(
            "{}",
            json!({ "accepted": true, "band_id": band, "counter": code.counter, "amount_minor": amount, "spent_minor": seen.spent, "limit_minor": code.certificate.limit, "queued": key })
        );
    } else {
        println!("RECEIPT  {}  band {band}  #{}", a.merchant, code.counter);
        println!("  paid offline  {shown}");
        println!("  queued for upload as {key}");
    }
    Ok(ExitCode::SUCCESS)
}
