//! `paytap register upload`: sends the register's queued operations
//! (`register/queue.rs`) to the acquirer in batches
//! (`PUT /acquirer/v1/register-batches/{id}`, signed), each batch retried
//! with a doubling pause; what the acquirer answered is marked done, what
//! it could not answer stays queued for the next upload.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args as ClapArgs;
use paytap_acquirer::batches::BatchResult;
use serde_json::{Value, json};

use super::queue::{FIRST_BACKOFF, MAX_UPLOAD_ATTEMPTS, Queue};
use super::{AcquirerClient, Connection, Refused};
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

/// Uploads one batch, the same id and body on every attempt.
async fn upload(
    client: &AcquirerClient,
    id: &str,
    body: &Value,
) -> anyhow::Result<Vec<BatchResult>> {
    let path = format!("{REGISTER_BATCHES_PATH}/{id}");
    let mut pause = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match client.call("PUT", &path, Some(body)).await {
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

/// Runs `paytap register upload`.
pub(super) async fn run(a: UploadArgs) -> anyhow::Result<ExitCode> {
    let queue = Queue::open(&a.register_dir).await?;
    let client = AcquirerClient::new(&a.conn)?.with_timeout(BATCH_TIMEOUT)?;
    let (mut batches, mut paid, mut refused) = (0u32, 0u32, 0u32);
    while let Some((id, ops)) = queue.next_batch(&new_batch_id()?).await? {
        let body = json!({ "operations": ops });
        let results = upload(&client, &id, &body).await.with_context(|| {
            format!("uploading batch {id}: the operations stay queued for the next upload")
        })?;
        queue.record(&results).await?;
        batches += 1;
        for r in &results {
            match &r.outcome {
                Some(o) if o.approved => paid += 1,
                _ if r.settled => refused += 1,
                _ => {}
            }
        }
        if results.iter().any(|r| !r.settled) {
            break;
        }
    }
    let waiting = queue.waiting().await?;
    if a.conn.json {
        println!(
            "{}",
            json!({ "batches": batches, "paid": paid, "refused": refused, "waiting": waiting })
        );
    } else {
        println!(
            "uploaded {batches} batch(es): {paid} paid, {refused} refused, {waiting} still waiting"
        );
    }
    Ok(if waiting == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::exit::UNREACHABLE)
    })
}
