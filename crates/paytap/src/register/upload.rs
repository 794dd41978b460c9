//! `paytap register upload`: sends the register's queued operations
//! (`register/queue.rs`) to the acquirer in batches, each batch retried
//! with a doubling pause; what the acquirer answered is marked done, what
//! it could not answer stays queued for the next upload. Shown phone codes
//! go to `PUT /acquirer/v1/register-batches/{id}`, band codes taken offline
//! to `PUT /acquirer/v1/band-batches/{id}` (both signed); a band operation
//! always gets a final answer (paid, or refused with its reason).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use paytap_acquirer::bands::upload::{BandResult, MAX_BAND_BATCH_OPERATIONS};
use paytap_acquirer::batches::BatchResult;
use serde_json::{Value, json};

use super::queue::{FIRST_BACKOFF, Kind, MAX_UPLOAD_ATTEMPTS, Queue};
use super::{AcquirerClient, Connection, Refused};
use crate::platform::bands::BAND_BATCHES_PATH;
use crate::platform::presented::REGISTER_BATCHES_PATH;

/// How long the acquirer may take to answer a batch (each operation may
/// wait for the network).
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Random bytes in a batch id (hex, after `batch-`).
const BATCH_ID_BYTES: usize = 12;

/// `paytap register upload`.
#[derive(ClapArgs)]
pub(super) struct UploadArgs {
    /// The register's directory (its queue, `register.db`).
    #[arg(long)]
    register_dir: PathBuf,
    #[command(flatten)]
    conn: Connection,
}

fn new_batch_id() -> anyhow::Result<String> {
    let mut b = [0u8; BATCH_ID_BYTES];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!("batch-{}", hex::encode(b)))
}

/// Whether a failed upload may be tried again: no answer, or the acquirer
/// or the network could not answer for now.
fn retryable(e: &anyhow::Error) -> bool {
    match e.chain().find_map(|c| c.downcast_ref::<Refused>()) {
        Some(r) => r.status == 503 || r.status == 504,
        None => e
            .chain()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// Uploads one batch to `path`, the same body on every attempt.
async fn upload<T: serde::de::DeserializeOwned>(
    client: &AcquirerClient,
    path: &str,
    body: &Value,
) -> anyhow::Result<Vec<T>> {
    let id = path.rsplit('/').next().unwrap_or(path);
    let mut pause = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match client.call("PUT", path, Some(body)).await {
            Ok((_, v)) => {
                return serde_json::from_value(v["results"].clone())
                    .context("reading the batch's results");
            }
            Err(e) if attempt < MAX_UPLOAD_ATTEMPTS && retryable(&e) => {
                tracing::warn!(batch_id = id, attempt, error = %e, "batch upload failed; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What one upload run did.
#[derive(Default)]
struct Tally {
    batches: u32,
    paid: u32,
    refused: u32,
    double_spends: u32,
}

/// Uploads the shown-code payments; `false` when one was left unanswered.
async fn upload_presented(
    queue: &Queue,
    client: &AcquirerClient,
    t: &mut Tally,
) -> anyhow::Result<bool> {
    while let Some((id, ops)) = queue.next_batch(&new_batch_id()?).await? {
        let body = json!({ "operations": ops });
        let path = format!("{REGISTER_BATCHES_PATH}/{id}");
        let results: Vec<BatchResult> = upload(client, &path, &body).await.with_context(|| {
            format!("uploading batch {id}: the operations stay queued for the next upload")
        })?;
        queue.record(&results).await?;
        t.batches += 1;
        for r in &results {
            match &r.outcome {
                Some(o) if o.approved => t.paid += 1,
                _ if r.settled => t.refused += 1,
                _ => {}
            }
        }
        if results.iter().any(|r| !r.settled) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Uploads the band codes taken offline: every one gets a final answer.
async fn upload_band(queue: &Queue, client: &AcquirerClient, t: &mut Tally) -> anyhow::Result<()> {
    while let Some((id, ops)) = queue
        .next_batch_of(Kind::Band, &new_batch_id()?, MAX_BAND_BATCH_OPERATIONS)
        .await?
    {
        let keys: Vec<String> = ops.iter().map(band_key).collect::<anyhow::Result<_>>()?;
        let body = json!({ "operations": ops });
        let path = format!("{BAND_BATCHES_PATH}/{id}");
        let results: Vec<BandResult> = upload(client, &path, &body).await.with_context(|| {
            format!("uploading band batch {id}: the operations stay queued for the next upload")
        })?;
        anyhow::ensure!(
            results.len() == keys.len(),
            "the band batch's answer has {} results for {} operations",
            results.len(),
            keys.len()
        );
        for (key, r) in keys.iter().zip(&results) {
            queue.done(key, &serde_json::to_value(r)?).await?;
            if r.paid {
                t.paid += 1
            } else {
                t.refused += 1
            }
            if r.double_spend {
                t.double_spends += 1;
                tracing::warn!(band = ?r.band_id, counter = ?r.counter, reason = ?r.reason, "band double spend caught at upload");
            }
        }
        t.batches += 1;
    }
    Ok(())
}

/// A queued band operation's key: its band and counter (`register/band.rs`).
fn band_key(op: &Value) -> anyhow::Result<String> {
    let text = op["code"]
        .as_str()
        .context("a queued band operation's code")?;
    let code = paytap_qr::offline::OfflineCode::from_base64(text).context("a queued band code")?;
    Ok(format!(
        "band-{}-{}",
        hex::encode(code.certificate.band_id),
        code.counter
    ))
}

/// Runs `paytap register upload`.
pub(super) async fn run(a: UploadArgs) -> anyhow::Result<ExitCode> {
    let queue = Queue::open(&a.register_dir).await?;
    let client = AcquirerClient::new(&a.conn)?.with_timeout(BATCH_TIMEOUT)?;
    let mut t = Tally::default();
    if upload_presented(&queue, &client, &mut t).await? {
        upload_band(&queue, &client, &mut t).await?;
    }
    let waiting = queue.waiting().await?;
    let Tally {
        batches,
        paid,
        refused,
        double_spends,
    } = t;
    if a.conn.json {
        println!(
            "{}",
            json!({ "batches": batches, "paid": paid, "refused": refused, "double_spends": double_spends, "waiting": waiting })
        );
    } else {
        println!(
            "uploaded {batches} batch(es): {paid} paid, {refused} refused, {double_spends} double spend(s), {waiting} still waiting"
        );
    }
    Ok(if waiting == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::UNREACHABLE)
    })
}
