//! The settlement half of `paytap bench qr`: band batches uploaded by
//! several registers at once and settled by [`BandAccounts::upload`] on a
//! SQLite file in a fresh temporary directory, then the store's raw durable
//! append rate on the same file system.

use std::sync::Arc;
use std::time::Instant;

use paytap_acquirer::bands::upload::{BandBatch, BandOperation, MAX_BAND_BATCH_OPERATIONS};
use paytap_acquirer::bands::{BAND_CURRENCY, BandAccounts, MAX_LIMIT_MINOR};
use paytap_acquirer::{MerchantSpec, Merchants};
use paytap_ledger::{AccountFlags, AccountSpec, Ledger};
use paytap_qr::offline::{BAND_ID_LEN, Band, Platform, public_key_of};
use paytap_store::Db;

/// Registers uploading at once (each its own batches, as shops do).
const REGISTERS: usize = 4;
/// Each code is for one fen, so a band's certificate covers this many.
const CODES_PER_BAND: usize = 20_000;
/// The acquirer the bench's merchant belongs to.
const ACQUIRER: &str = "10000000001";
/// The funding account the bench's bands are paid into from.
const FUNDING: &str = "bench:band-funding";

/// Settled operations per second and raw appends per second, for `ops`
/// operations.
pub(super) fn measure(ops: usize) -> anyhow::Result<(f64, f64)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(ops))
}

async fn run(ops: usize) -> anyhow::Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let db = Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    let ledger = Ledger::open(db.clone()).await?;
    let merchants = Merchants::open(db.clone(), ledger.clone()).await?;
    let bands =
        BandAccounts::open(merchants.clone(), Arc::new(Platform::from_secret(&[7; 32]))).await?;
    ledger
        .create_account(AccountSpec::new(
            FUNDING,
            FUNDING,
            BAND_CURRENCY,
            AccountFlags::None,
        ))
        .await?;
    merchants
        .create(
            ACQUIRER,
            MerchantSpec {
                id: "BENCH".into(),
                name: "Bench Shop".into(),
                city: "Beijing".into(),
                mcc: "5411".into(),
                currency: BAND_CURRENCY,
                country: "CN".into(),
            },
        )
        .await?;
    let batches = prepare(&bands, ops).await?;
    let started = Instant::now();
    let mut lanes = tokio::task::JoinSet::new();
    for lane in split(batches) {
        let bands = bands.clone();
        lanes.spawn(async move {
            for (id, b) in lane {
                bands
                    .upload(&id, &b, ACQUIRER, crate::bench::unix_now())
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = lanes.join_next().await {
        r??;
    }
    let settled = ops as f64 / started.elapsed().as_secs_f64();
    ledger.check_invariants().await?;
    let raw_db = Db::connect(&format!("sqlite://{}", dir.path().join("raw.db").display())).await?;
    let batch = paytap_ledger::LedgerOptions::default().max_batch;
    let raw = paytap_ledger::bench::raw_append_rate(&raw_db, ops.max(batch), batch).await?;
    Ok((settled, raw.per_second()))
}

/// Opens, funds and syncs enough bands, and makes `ops` one-fen codes,
/// cut into batches by register.
async fn prepare(bands: &BandAccounts, ops: usize) -> anyhow::Result<Vec<(String, BandBatch)>> {
    let now = crate::bench::unix_now();
    let mut codes = Vec::with_capacity(ops);
    for n in 0..ops.div_ceil(CODES_PER_BAND) {
        let id = band_id(n);
        let secret = id
            .repeat(2)
            .try_into()
            .map_err(|_| anyhow::anyhow!("band secret"))?;
        bands
            .open_band("bench", &id, &public_key_of(&secret), Some(MAX_LIMIT_MINOR))
            .await?;
        bands
            .fund(&id, &format!("bench-{n}"), FUNDING, MAX_LIMIT_MINOR)
            .await?;
        let cert = bands.sync(&id, &[], now).await?;
        let mut band = Band::new(&secret, cert, 1)?;
        for _ in 0..CODES_PER_BAND.min(ops - codes.len()) {
            codes.push(band.make_code(now, 1)?.to_base64());
        }
    }
    let mut batches = Vec::new();
    for (r, chunk) in codes.chunks(ops.div_ceil(REGISTERS).max(1)).enumerate() {
        for (i, part) in chunk.chunks(MAX_BAND_BATCH_OPERATIONS).enumerate() {
            let operations = part
                .iter()
                .map(|code| BandOperation {
                    register: format!("till-{r}"),
                    merchant: "BENCH".into(),
                    code: code.clone(),
                    amount_minor: 1,
                    taken_at: now,
                })
                .collect();
            batches.push((format!("bench-{r}-{i}"), BandBatch { operations }));
        }
    }
    Ok(batches)
}

fn band_id(n: usize) -> [u8; BAND_ID_LEN] {
    let mut id = [0x5A; BAND_ID_LEN];
    id[..8].copy_from_slice(&(n as u64).to_be_bytes());
    id
}

/// The batches of each register, in the order each sends them.
fn split(batches: Vec<(String, BandBatch)>) -> Vec<Vec<(String, BandBatch)>> {
    let mut lanes: Vec<Vec<_>> = (0..REGISTERS).map(|_| Vec::new()).collect();
    for (id, b) in batches {
        let lane = b.operations[0]
            .register
            .trim_start_matches("till-")
            .parse::<usize>()
            .unwrap_or(0);
        lanes[lane % REGISTERS].push((id, b));
    }
    lanes
}
