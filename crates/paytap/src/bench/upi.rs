//! `paytap bench upi`: person-to-person UPI payments per second through
//! the whole path, durable: the wallet's UPI app (`paytap-upipsp`) records
//! the payment and sends its ReqPay to the switch (`paytap-upid`, every
//! event logged before the core sees it), which debits the remitter bank
//! (the PIN block opened and checked, a ledger transfer) and credits the
//! beneficiary bank, and the app records the answer. Payers pay at once,
//! one lane each; each payment's PIN block is sealed before the clock
//! starts (that is the phone's work, not the platform's). Beside it, in the
//! same run and on the same kind of database, the store's raw append rate
//! ([`paytap_ledger::bench::raw_append_rate`]).

use anyhow::Context;
use clap::Args as ClapArgs;
use paytap_issuer::{IssuerConfig, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Secret, SystemClock};
use paytap_upi::xml::OrgId;
use paytap_upid::{IssuerBanks, UpiSwitch};
use paytap_upipsp::{InProcess, NewBinding, PayRequest, PinSetting, Psp, PspConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NPCI's national peak, the rate the platform aims at on this machine.
const TARGET_PER_SEC: f64 = 7_000.0;
/// The latency the target holds at, 99th percentile.
const TARGET_P99_MS: f64 = 20.0;
/// The payers' bank and the payees'.
const ICICI: &str = "63560001";
const HDFC: &str = "63560002";
/// Each payment: ₹1, so no payer nears a limit however long the run.
const PAISE: u64 = 100;
/// The payers' PIN.
const PIN: &str = "1357";
/// Each payer's opening balance: ₹10,00,000 (10 lakh), more than a run pays.
const OPENING_PAISE: i64 = 10 * 100_000 * 100;
/// Largest lane count (payers paying at once).
const MAX_CONCURRENCY: usize = 1024;

#[derive(ClapArgs)]
pub struct UpiArgs {
    /// Payments to make (their PIN blocks are sealed before the clock starts).
    #[arg(long, default_value_t = 5_000)]
    payments: usize,
    /// Payers paying at once (one lane, bound phone and UPI ID each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Where the database files go (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run on this (empty) database instead, e.g. postgres://user@host/db.
    #[arg(long)]
    database_url: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What a run measured.
#[derive(Debug, serde::Serialize)]
struct Report {
    payments: usize,
    succeeded: usize,
    concurrency: usize,
    seconds: f64,
    payments_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    raw_append_per_sec: f64,
    raw_append_batch: usize,
    ratio_to_raw_append: f64,
    target_payments_per_sec: f64,
    target_p99_ms: f64,
    database: &'static str,
}

pub fn run(a: UpiArgs) -> anyhow::Result<ExitCode> {
    if a.concurrency == 0 || a.concurrency > MAX_CONCURRENCY {
        anyhow::bail!("--concurrency must be 1 to {MAX_CONCURRENCY}");
    }
    if a.payments < a.concurrency {
        anyhow::bail!("--payments must be at least --concurrency");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(bench(&a))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} P2P payments ({} succeeded), {} at once, {}: {:.0} payments/s, p50 {:.2} ms, p99 {:.2} ms\n\
             raw append {:.0} rows/s (batch {}): ratio {:.3}; target {:.0}/s at p99 <= {:.0} ms",
            report.payments,
            report.succeeded,
            report.concurrency,
            report.database,
            report.payments_per_sec,
            report.p50_ms,
            report.p99_ms,
            report.raw_append_per_sec,
            report.raw_append_batch,
            report.ratio_to_raw_append,
            TARGET_PER_SEC,
            TARGET_P99_MS,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The databases: the network's (banks, ledger, switch), the app's, the
/// raw append's.
async fn databases(a: &UpiArgs, dir: &std::path::Path) -> anyhow::Result<[Db; 3]> {
    if let Some(url) = &a.database_url {
        let db = Db::connect(url).await?;
        return Ok([db.clone(), db.clone(), db]);
    }
    let open = |name: &str| {
        let url = format!("sqlite://{}", dir.join(name).display());
        async move { Db::connect(&url).await }
    };
    Ok([
        open("network.db").await?,
        open("wallet-in.db").await?,
        open("raw.db").await?,
    ])
}

/// A payer ready to pay: the app's owner id, UPI ID, and sealed PIN blocks.
struct Lane {
    owner: String,
    vpa: String,
    blocks: Vec<(String, String)>,
}

async fn bench(a: &UpiArgs) -> anyhow::Result<Report> {
    let tmp;
    let dir = match &a.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir)?;
    let [net_db, app_db, raw_db] = databases(a, &dir).await?;
    let ledger = Ledger::open(net_db.clone()).await?;
    let banks = UpiBanks::open(
        net_db.clone(),
        ledger,
        &IssuerConfig::default_banks(),
        &rand_key()?,
        &Secret::new(rand_key()?),
    )
    .await?;
    let banks = Arc::new(banks);
    let switch = UpiSwitch::open(
        net_db,
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new("NPCI")?,
    )
    .await?;
    let links = Arc::new(InProcess::new(banks.clone(), Arc::new(switch)));
    let psp = Psp::open(
        app_db,
        links,
        Arc::new(SystemClock),
        PspConfig::default(),
        &rand_key()?,
    )
    .await?;
    if !a.json {
        eprintln!(
            "preparing {} payers and {} PIN blocks ...",
            a.concurrency, a.payments
        );
    }
    let payee = prepare_payee(&psp, &banks).await?;
    let mut lanes = Vec::with_capacity(a.concurrency);
    for i in 0..a.concurrency {
        let per_lane = a.payments / a.concurrency + usize::from(i < a.payments % a.concurrency);
        lanes.push(prepare_payer(&psp, &banks, i, per_lane).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(lanes.len());
    for lane in lanes {
        let (psp, payee) = (psp.clone(), payee.clone());
        tasks.push(tokio::spawn(
            async move { pay_lane(&psp, lane, &payee).await },
        ));
    }
    let mut latencies = Vec::with_capacity(a.payments);
    let mut succeeded = 0;
    for t in tasks {
        let (l, ok) = t.await??;
        latencies.extend(l);
        succeeded += ok;
    }
    let elapsed = start.elapsed();
    let batch = paytap_ledger::LedgerOptions::default().max_batch;
    let raw = paytap_ledger::bench::raw_append_rate(&raw_db, a.payments.max(batch), batch).await?;
    latencies.sort();
    let per_sec = a.payments as f64 / elapsed.as_secs_f64();
    Ok(Report {
        payments: a.payments,
        succeeded,
        concurrency: a.concurrency,
        seconds: elapsed.as_secs_f64(),
        payments_per_sec: per_sec,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        raw_append_per_sec: raw.per_second(),
        raw_append_batch: batch,
        ratio_to_raw_append: per_sec / raw.per_second(),
        target_payments_per_sec: TARGET_PER_SEC,
        target_p99_ms: TARGET_P99_MS,
        database: if a.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
    })
}

fn rand_key() -> anyhow::Result<[u8; 32]> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).context("the random number generator failed")?;
    Ok(k)
}

fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// The payee: a bound phone with a UPI ID (no PIN needed to be paid).
async fn prepare_payee(psp: &Psp, banks: &UpiBanks) -> anyhow::Result<String> {
    let mobile = "9000000000";
    banks.open_account(HDFC, "Bench Payee", mobile, 0).await?;
    let b = psp.bind("bench-payee", &binding("payee", mobile)?).await?;
    let id = psp
        .create_id("bench-payee", &b[0].binding_id, "benchpayee")
        .await?;
    Ok(id.vpa)
}

fn binding(device: &str, mobile: &str) -> anyhow::Result<NewBinding> {
    let key = paytap_seal::DeviceKey::generate()?;
    Ok(NewBinding {
        device_id: device.to_owned(),
        device_key: paytap_seal::public_key_to_base64(&key.public()),
        mobile: mobile.to_owned(),
    })
}

/// Payer `i`: an account, a bound phone, a PIN set, a UPI ID, and the PIN
/// blocks of its `n` payments.
async fn prepare_payer(psp: &Psp, banks: &UpiBanks, i: usize, n: usize) -> anyhow::Result<Lane> {
    let mobile = format!("8{i:09}");
    let owner = format!("bench-payer-{i}");
    let account = banks
        .open_account(ICICI, &format!("Payer {i}"), &mobile, OPENING_PAISE)
        .await?;
    let bound = psp
        .bind(&owner, &binding(&format!("phone-{i}"), &mobile)?)
        .await?;
    let binding_id = &bound[0].binding_id;
    let key = psp
        .list_keys()
        .into_iter()
        .find(|k| account.ifsc.starts_with(&k.bank))
        .context("ICICI's PIN key")?
        .public;
    let mut sms = banks.subscribe_otp();
    let otp = psp.request_pin_otp(&owner, binding_id).await?;
    let code = sms.recv().await?.code;
    let card = account
        .debit_card
        .as_ref()
        .context("a new account's card")?;
    let pin = Secret::new(PIN.to_owned());
    let block = seal_pin(&key, PinPurpose::SetPin, &otp.verification_id, &pin)?;
    let setting = PinSetting {
        card_last6: card.last6(),
        card_expiry: card.expiry.yymm(),
        verification_id: otp.verification_id,
        otp: code,
        pin_block: b64(&block),
    };
    psp.set_pin(&owner, binding_id, setting).await?;
    let id = psp
        .create_id(&owner, binding_id, &format!("payer{i}"))
        .await?;
    let mut blocks = Vec::with_capacity(n);
    for k in 0..n {
        let txn = format!("BENCH{i:04}X{k:08}");
        let block = seal_pin(&key, PinPurpose::Debit, &txn, &pin)?;
        blocks.push((txn, b64(&block)));
    }
    Ok(Lane {
        owner,
        vpa: id.vpa,
        blocks,
    })
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// One payer's payments, one after another: each one's latency, and how
/// many succeeded.
async fn pay_lane(psp: &Psp, lane: Lane, payee: &str) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut latencies = Vec::with_capacity(lane.blocks.len());
    let mut ok = 0;
    for (txn_id, pin_block) in lane.blocks {
        let req = PayRequest {
            txn_id,
            from: lane.vpa.clone(),
            to: Some(payee.to_owned()),
            mobile: None,
            link: None,
            amount_paise: Some(PAISE),
            note: None,
            pin_block,
        };
        let t = Instant::now();
        let paid = psp.pay(&lane.owner, &req).await?;
        latencies.push(t.elapsed());
        ok += usize::from(paid.status == "success");
    }
    Ok((latencies, ok))
}
