//! The authorization benchmark behind `paytap bench auth` and the criterion
//! bench `benches/auth.rs`: authorizations per second through switch →
//! token service → issuer → ledger with durable commits (SQLite file,
//! `synchronous=FULL`), over loopback TCP from many concurrent simulated
//! terminals, with p50/p99 latency; and, in the same run and on the same
//! file system, the store's raw durable append rate
//! ([`paytap_ledger::bench::raw_append_rate`]) for comparison.
//!
//! Each simulated terminal owns one card and one token (the token service
//! accepts a token's counters in order, and the issuer serialises one card's
//! authorizations, exactly as in the field). Cryptograms are generated
//! before the clock starts, so the client is not what is measured.

use crate::terminal::{self, AcquirerClient, Merchant, TapData};
use crate::{Network, NetworkConfig, NetworkError, RunningNetwork};
use paytap_iso8583::encode_frame;
use paytap_issuer::{IssueCard, Limits, Product};
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_store::Db;
use paytap_tsp::ProvisionRequest;
use paytap_types::{Currency, Money};
use paytap_vault::Keyring;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What to run.
#[derive(Debug, Clone)]
pub struct AuthBenchOptions {
    /// Measurement time.
    pub duration: Duration,
    /// Simulated terminals sending at once (one card and token each).
    pub concurrency: usize,
    /// TCP connections the terminals share.
    pub connections: usize,
    /// Where the database files go (a fresh temporary directory by default).
    /// Must be a real file system for the durability to mean anything.
    pub data_dir: Option<PathBuf>,
    /// Upper bound on the request rate the pre-generated cryptograms cover.
    pub max_rate: u64,
    /// Rows for the raw append measurement.
    pub raw_append_rows: usize,
    /// One SQLite file per component instead of one network database.
    pub split_databases: bool,
    /// Run on this database (e.g. an empty PostgreSQL database) instead of
    /// SQLite files; the raw append rate is then measured there too.
    pub database_url: Option<String>,
    /// Risk on (the bench's rules, [`bench_guard`]): every authorization is
    /// decided and its decision stored before the issuer sees it.
    pub risk: bool,
    /// Offers on (the bench's offer, [`bench_guard`]): every authorization
    /// gets a cashback, stored, captured and posted on the ledger.
    pub offers: bool,
}

impl Default for AuthBenchOptions {
    fn default() -> Self {
        AuthBenchOptions {
            duration: Duration::from_secs(10),
            concurrency: 64,
            connections: 4,
            data_dir: None,
            max_rate: 40_000,
            raw_append_rows: 50_000,
            split_databases: false,
            database_url: None,
            risk: false,
            offers: false,
        }
    }
}

/// The risk rules of a bench run: one rule of every kind the default rules
/// have that a card payment reaches (velocity per card, device and merchant,
/// cooling-off of a new card, impossible travel, declines in a row), with
/// thresholds the bench's load never reaches, so every authorization pays
/// for the whole evaluation and goes on to its issuer.
const BENCH_RULES: &str = r#"
[[velocity]]
name = "card-burst"
key = "card"
window_secs = 1
max_count = 500
action = "step_up_biometric"
[[velocity]]
name = "card-daily-sum"
key = "card"
window_secs = 86400
max_sum = { CNY = "100000000.00" }
action = "step_up_otp"
[[velocity]]
name = "merchant-surge"
key = "merchant"
window_secs = 1
max_count = 500
action = "step_up_biometric"
shadow = true
[[cooling_off]]
name = "new-card"
subject = "card"
period_secs = 3600
above = { CNY = "100000000.00" }
action = "step_up_otp"
"#;

/// The offer of a bench run: 1% cashback up to 1 CNY on every CNY card
/// payment, funded by the platform, with a budget the run never spends.
const BENCH_OFFERS: &str = r#"
[[offer]]
id = "bench-cashback"
title = "1% back"
funder = { kind = "platform", id = "paytap" }
order = 1
currency = "CNY"
[offer.eligible]
channels = ["nfc"]
[offer.benefit]
kind = "cashback"
percent = "1"
cap = "1.00"
[offer.limits]
budget = "100000000000.00"
"#;

/// The guard a bench run asks for: `None` for what is off.
pub fn bench_guard(risk: bool, offers: bool) -> crate::GuardConfig {
    // Both files are constants of this module, checked by its test.
    crate::GuardConfig {
        risk: risk.then(|| {
            paytap_risk::RiskRules::from_toml(BENCH_RULES).expect("the bench's rules are valid")
        }),
        offers: offers.then(|| {
            paytap_offers::OffersFile::from_toml(BENCH_OFFERS).expect("the bench's offer is valid")
        }),
    }
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct AuthBenchReport {
    pub concurrency: usize,
    pub connections: usize,
    pub seconds: f64,
    pub authorizations: u64,
    pub approved: u64,
    pub declined: u64,
    pub errors: u64,
    pub stand_in: u64,
    pub auth_per_sec: f64,
    /// Process CPU time per authorization (server and simulated terminals
    /// together), in microseconds; 0 where the platform does not tell.
    pub cpu_us_per_auth: f64,
    /// Bytes this process wrote to storage per authorization (database
    /// pages, WAL frames, logs); 0 where the platform does not tell or the
    /// database is another process.
    pub storage_bytes_per_auth: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Durable single-row appends per second, `raw_append_batch` per commit.
    pub raw_append_per_sec: f64,
    pub raw_append_batch: usize,
    /// Bytes written to storage per raw-append row (0 as above).
    pub raw_append_bytes_per_row: f64,
    /// `auth_per_sec / raw_append_per_sec`.
    pub ratio_to_raw_append: f64,
    pub data_dir: String,
    /// One SQLite file per component (`false`: one network database).
    pub split_databases: bool,
    /// Whether risk ran on every authorization.
    pub risk: bool,
    /// Whether offers ran on every authorization.
    pub offers: bool,
    /// `SQLite`, or the database given by URL.
    pub backend: String,
    /// The cryptograms ran out before the measurement time ended.
    pub exhausted: bool,
}

impl AuthBenchReport {
    /// A side-by-side table for people.
    pub fn table(&self) -> String {
        format!(
            "authorizations (switch -> TSP -> issuer -> ledger, durable, loopback TCP)\n\
             \x20 terminals {} over {} connections, {:.1} s, {}\n\
             \x20 risk {}, offers {}\n\
             \x20 {:>10.0} auth/s   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms\n\
             \x20 {:>10.0} µs of CPU per authorization (server and terminals)\n\
             \x20 {:>10.1} KB written to storage per authorization\n\
             \x20 {} approved, {} declined, {} errors, {} stand-in{}\n\
             store raw durable append (same file system, {} rows per commit)\n\
             \x20 {:>10.0} rows/s   {:.2} KB written per row\n\
             authorizations / raw append = {:.3}\n\
             targets: >= 20000 auth/s, p99 <= 5 ms, ratio >= 0.5\n",
            self.concurrency,
            self.connections,
            self.seconds,
            if self.split_databases {
                "one SQLite file per component".to_owned()
            } else {
                format!("one network database ({})", self.backend)
            },
            if self.risk { "on" } else { "off" },
            if self.offers { "on" } else { "off" },
            self.auth_per_sec,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.cpu_us_per_auth,
            self.storage_bytes_per_auth / 1024.0,
            self.approved,
            self.declined,
            self.errors,
            self.stand_in,
            if self.exhausted {
                " (pre-generated cryptograms ran out)"
            } else {
                ""
            },
            self.raw_append_batch,
            self.raw_append_per_sec,
            self.raw_append_bytes_per_row / 1024.0,
            self.ratio_to_raw_append,
        )
    }
}

struct Lane {
    terminal_id: String,
    /// Pre-encoded, signed requests (STAN, DE 7, frame), used from the back.
    frames: Vec<(u32, [u8; 10], Vec<u8>)>,
}

/// A card's application transaction counter is two bytes: one simulated
/// card can make at most this many taps before it refuses to answer.
const MAX_TAPS_PER_CARD: usize = 65_000;

fn bench_limits() -> Limits {
    Limits {
        single_transaction: 1_000_000_000,
        daily: i64::MAX / 4,
        velocity_count: u32::MAX,
        velocity_window_secs: 1,
        no_cvm_limit: 1_000_000,
    }
}

/// A network with cards, tokens and pre-generated requests, ready to drive.
pub struct PreparedAuthBench {
    net: Option<crate::RunningNetwork>,
    lanes: Vec<Lane>,
    clients: Vec<AcquirerClient>,
    dir: PathBuf,
    run_id: String,
    database_url: Option<String>,
    _temp: Option<tempfile::TempDir>,
}

/// One measured burst.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub approved: u64,
    pub declined: u64,
    pub errors: u64,
    /// Sorted latencies in microseconds.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
    /// CPU time the whole process (network and simulated terminals) used
    /// while driving, if the platform tells.
    pub cpu: Option<Duration>,
    /// Bytes the process wrote to storage while driving, if the platform
    /// tells and the database is in this process.
    pub storage_bytes: Option<u64>,
    /// A terminal ran out of pre-generated requests.
    pub exhausted: bool,
}

impl Measured {
    /// Latency percentile `p` (0..=1) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
        f64::from(self.latencies_us.get(idx).copied().unwrap_or(0)) / 1000.0
    }
}

impl PreparedAuthBench {
    /// Start a network on a fresh SQLite file, issue one card and provision
    /// one token per terminal, pre-generate `requests_per_terminal`
    /// cryptograms per terminal.
    pub async fn prepare(
        opts: &AuthBenchOptions,
        requests_per_terminal: usize,
    ) -> Result<PreparedAuthBench, NetworkError> {
        let concurrency = opts.concurrency.max(1);
        let connections = opts.connections.clamp(1, concurrency);
        let (dir, temp) = bench_dir(opts)?;
        let run_id = uuid_like();
        let net = start_bench_network(opts, &dir, &run_id).await?;
        let acquirer_key = net
            .acquirer_key(paytap_types::DEMO_ACQUIRER_ID)
            .ok_or_else(|| NetworkError::Config("no demo acquirer registered".into()))?;
        let per_lane = requests_per_terminal.clamp(1, MAX_TAPS_PER_CARD);
        let banks = cny_banks(&net);
        let mut gen_tasks = Vec::with_capacity(concurrency);
        for lane in 0..concurrency {
            let bank = banks
                .get(lane % banks.len().max(1))
                .ok_or_else(|| NetworkError::Config("no CNY bank configured".into()))?;
            let payload = provision_lane(&net, bank, &format!("bench-{run_id}-{lane}")).await?;
            let terminal_id = format!("B{lane:07}");
            let key = acquirer_key.clone();
            gen_tasks.push(tokio::task::spawn_blocking(move || {
                generate_lane(&payload, terminal_id, &key, per_lane)
            }));
        }
        let mut lanes = Vec::with_capacity(concurrency);
        for t in gen_tasks {
            let lane = t
                .await
                .map_err(|e| NetworkError::Config(format!("generator: {e}")))?
                .map_err(NetworkError::Config)?;
            lanes.push(lane);
        }
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections {
            clients.push(
                AcquirerClient::connect(
                    net.switch_addr(),
                    paytap_types::DEMO_ACQUIRER_ID,
                    acquirer_key.clone(),
                )
                .await
                .map_err(|e| NetworkError::Config(e.to_string()))?,
            );
        }
        Ok(PreparedAuthBench {
            net: Some(net),
            lanes,
            clients,
            dir,
            run_id,
            database_url: opts.database_url.clone(),
            _temp: temp,
        })
    }

    /// The running network.
    pub fn network(&self) -> Option<&crate::RunningNetwork> {
        self.net.as_ref()
    }

    /// Requests still pre-generated, over all terminals.
    pub fn remaining(&self) -> usize {
        self.lanes.iter().map(|l| l.frames.len()).sum()
    }

    /// Drive all terminals at once until `duration` passed or, when given,
    /// `max_requests` were answered (spread evenly over the terminals).
    pub async fn drive(&mut self, duration: Duration, max_requests: Option<u64>) -> Measured {
        let n = self.lanes.len().max(1) as u64;
        let cpu_start = process_cpu_time();
        let written_start = self.storage_writes();
        let start = Instant::now();
        let deadline = start + duration;
        let mut workers = Vec::with_capacity(self.lanes.len());
        for (i, mut lane) in std::mem::take(&mut self.lanes).into_iter().enumerate() {
            let Some(client) = self.clients.get(i % self.clients.len().max(1)).cloned() else {
                continue;
            };
            let quota = max_requests.map(|m| m / n + u64::from((i as u64) < m % n));
            workers.push(tokio::spawn(async move {
                let mut m = Measured::default();
                let mut sent = 0u64;
                loop {
                    if quota.is_some_and(|q| sent >= q) || Instant::now() >= deadline {
                        break;
                    }
                    let Some((stan, de7, frame)) = lane.frames.pop() else {
                        m.exhausted = true;
                        break;
                    };
                    sent += 1;
                    let t0 = Instant::now();
                    match client.send_frame(frame, &lane.terminal_id, stan, de7).await {
                        Ok(a) => {
                            m.latencies_us
                                .push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                            if a.get_str(39) == Some("00") {
                                m.approved += 1;
                            } else {
                                m.declined += 1;
                            }
                        }
                        Err(_) => m.errors += 1,
                    }
                }
                (lane, m)
            }));
        }
        let mut total = Measured::default();
        for w in workers {
            if let Ok((lane, m)) = w.await {
                self.lanes.push(lane);
                total.approved += m.approved;
                total.declined += m.declined;
                total.errors += m.errors;
                total.exhausted |= m.exhausted;
                total.latencies_us.extend(m.latencies_us);
            }
        }
        total.elapsed = start.elapsed();
        total.cpu = process_cpu_time()
            .zip(cpu_start)
            .map(|(end, start)| end.saturating_sub(start));
        total.storage_bytes = self
            .storage_writes()
            .zip(written_start)
            .map(|(end, start)| end.saturating_sub(start));
        total.latencies_us.sort_unstable();
        total
    }

    /// Bytes this process wrote to storage so far; `None` when the database
    /// is another process (its writes are not this process's).
    fn storage_writes(&self) -> Option<u64> {
        process_storage_writes().filter(|_| self.database_url.is_none())
    }

    /// Stop the network and measure the store's raw durable append rate on
    /// the same file system (`rows` single-row inserts, the ledger's group
    /// commit batch per commit). Returns rows per second, rows per commit
    /// and bytes written to storage per row (0 if unknown).
    pub async fn finish(mut self, rows: usize) -> Result<(f64, usize, f64), NetworkError> {
        if let Some(net) = self.net.take() {
            net.shutdown().await;
        }
        let raw_db = match &self.database_url {
            Some(url) => Db::connect(url).await?,
            None => {
                Db::connect(&format!(
                    "sqlite://{}",
                    self.dir
                        .join(format!("bench-raw-{}.db", self.run_id))
                        .display()
                ))
                .await?
            }
        };
        let batch = paytap_ledger::LedgerOptions::default().max_batch;
        let rows = rows.max(batch);
        let written_start = self.storage_writes();
        let raw = paytap_ledger::bench::raw_append_rate(&raw_db, rows, batch).await?;
        let written = self
            .storage_writes()
            .zip(written_start)
            .map(|(end, start)| end.saturating_sub(start) as f64 / rows as f64)
            .unwrap_or(0.0);
        raw_db.close().await;
        Ok((raw.per_second(), batch, written))
    }
}

/// Run the benchmark (needs a multi-threaded tokio runtime).
pub async fn run_auth_bench(opts: &AuthBenchOptions) -> Result<AuthBenchReport, NetworkError> {
    let concurrency = opts.concurrency.max(1);
    let per_lane =
        ((opts.max_rate as f64 * opts.duration.as_secs_f64()) / concurrency as f64).ceil() as usize;
    let mut prepared = PreparedAuthBench::prepare(opts, per_lane).await?;
    let connections = prepared.clients.len();
    let stats = |p: &PreparedAuthBench| {
        p.network()
            .map(|n| {
                n.switch()
                    .stats()
                    .stand_in
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0)
    };
    let stand_in_before = stats(&prepared);
    let m = prepared.drive(opts.duration, None).await;
    let stand_in = stats(&prepared) - stand_in_before;
    let data_dir = prepared.dir.display().to_string();
    let (raw_rate, batch, raw_bytes) = prepared.finish(opts.raw_append_rows).await?;
    let total = m.approved + m.declined;
    let secs = m.elapsed.as_secs_f64();
    let auth_per_sec = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    Ok(AuthBenchReport {
        concurrency,
        connections,
        seconds: secs,
        authorizations: total,
        approved: m.approved,
        declined: m.declined,
        errors: m.errors,
        stand_in,
        auth_per_sec,
        cpu_us_per_auth: m
            .cpu
            .filter(|_| total > 0)
            .map(|c| c.as_secs_f64() * 1e6 / total as f64)
            .unwrap_or(0.0),
        storage_bytes_per_auth: m
            .storage_bytes
            .filter(|_| total > 0)
            .map(|b| b as f64 / total as f64)
            .unwrap_or(0.0),
        p50_ms: m.percentile_ms(0.50),
        p99_ms: m.percentile_ms(0.99),
        max_ms: m.percentile_ms(1.0),
        raw_append_per_sec: raw_rate,
        raw_append_batch: batch,
        raw_append_bytes_per_row: raw_bytes,
        ratio_to_raw_append: if raw_rate > 0.0 {
            auth_per_sec / raw_rate
        } else {
            0.0
        },
        data_dir,
        split_databases: opts.split_databases && opts.database_url.is_none(),
        risk: opts.risk,
        offers: opts.offers,
        backend: if opts.database_url.is_some() {
            "database URL".into()
        } else {
            "SQLite".into()
        },
        exhausted: m.exhausted,
    })
}

/// User plus system CPU time of this process so far (Linux: from
/// `/proc/self/stat`, in clock ticks of 10 ms).
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Bytes this process caused to be written to storage so far (Linux:
/// `write_bytes` of `/proc/self/io`).
fn process_storage_writes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

fn uuid_like() -> String {
    let n: u64 = rand::random();
    format!("{n:016x}")
}

/// The bench's data directory: `--data-dir`, or a temporary one removed
/// with the bench.
fn bench_dir(
    opts: &AuthBenchOptions,
) -> Result<(PathBuf, Option<tempfile::TempDir>), NetworkError> {
    match &opts.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            Ok((d.clone(), None))
        }
        None => {
            let t = tempfile::Builder::new().prefix("paytap-bench-").tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// A network of its own for the run: on `--database-url`, or on SQLite
/// files in `dir` (one per component with `--split-databases`).
async fn start_bench_network(
    opts: &AuthBenchOptions,
    dir: &Path,
    run_id: &str,
) -> Result<RunningNetwork, NetworkError> {
    let db = match &opts.database_url {
        Some(url) => Db::connect(url).await?,
        None => {
            let file = dir.join(format!("bench-network-{run_id}.db"));
            Db::connect(&format!("sqlite://{}", file.display())).await?
        }
    };
    let mut secret = Zeroizing::new(vec![0u8; 32]);
    rand::fill(secret.as_mut_slice());
    let mut config = NetworkConfig::new(db, Keyring::generate()?, secret);
    if opts.split_databases && opts.database_url.is_none() {
        let sub = dir.join(format!("bench-{run_id}"));
        std::fs::create_dir_all(&sub)?;
        config.component_dbs = crate::ComponentDbs::sqlite_files(&sub).await?;
    }
    config.switch_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.issuer_timeout = Duration::from_secs(5);
    config.guard = bench_guard(opts.risk, opts.offers);
    Network::start(config).await
}

/// The banks whose cards the bench pays with (CNY, like its amount).
fn cny_banks(net: &RunningNetwork) -> Vec<String> {
    net.issuer()
        .config()
        .banks
        .iter()
        .filter(|b| b.currency == Currency::CNY)
        .map(|b| b.id.clone())
        .collect()
}

/// A debit card of `bank` with the bench's limits, tokenized for the
/// device `device_id`; returns the token's opened provisioning payload.
async fn provision_lane(
    net: &RunningNetwork,
    bank: &str,
    device_id: &str,
) -> Result<ProvisioningPayload, NetworkError> {
    let mut req = IssueCard::new(bank, Product::Debit, "BENCH", 1_000_000_000_000);
    req.limits = Some(bench_limits());
    let card = net.issue_card(req).await?;
    let key =
        DeviceKey::generate().map_err(|e| NetworkError::Config(format!("device key: {e}")))?;
    let p = net
        .provision(ProvisionRequest::wallet_nfc(
            card.card_id.clone(),
            bank.to_owned(),
            bank.to_owned(),
            "40010075001",
            device_id.to_owned(),
            key.public(),
        ))
        .await?;
    ProvisioningPayload::open_with(&key, device_id, &p.token_ref, &p.sealed_payload)
        .map_err(|e| NetworkError::Config(format!("payload: {e}")))
}

/// `per_lane` signed, framed authorization requests of one terminal, each
/// a tap of the card in `payload` (ATCs rising, so they are used from the
/// back).
fn generate_lane(
    payload: &ProvisioningPayload,
    terminal_id: String,
    key: &paytap_iso8583::AcquirerKey,
    per_lane: usize,
) -> Result<Lane, String> {
    let amount = Money::new(100, Currency::CNY);
    let merchant = Merchant {
        terminal_id: terminal_id.clone(),
        ..Merchant::default()
    };
    let mut se = paytap_emv::SecureElement::new();
    se.add_card(terminal::card_from_payload(payload).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{e:?}"))?;
    let mut frames = Vec::with_capacity(per_lane);
    for i in 0..per_lane {
        let stan = (i % 999_999) as u32 + 1;
        let tap: TapData =
            terminal::tap(&mut se, amount, true, rand::random()).map_err(|e| e.to_string())?;
        let mut m = terminal::authorization_request(&tap, amount, stan, &merchant)
            .map_err(|e| e.to_string())?;
        paytap_iso8583::mac::sign(&mut m, key);
        let mut de7 = [0u8; 10];
        de7.copy_from_slice(m.get(7).unwrap_or(&[b'0'; 10]));
        let mut f = Vec::with_capacity(m.encoded_len() + 2);
        encode_frame(&m.encode(), &mut f).map_err(|e| e.to_string())?;
        frames.push((stan, de7, f));
    }
    // Used from the back: the lowest counters go first.
    frames.reverse();
    Ok(Lane {
        terminal_id,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::bench_guard;

    #[test]
    fn the_bench_rules_and_offer_are_valid_and_off_means_none() {
        let on = bench_guard(true, true);
        assert!(on.risk.is_some() && on.offers.is_some());
        let off = bench_guard(false, false);
        assert!(off.risk.is_none() && off.offers.is_none());
    }
}
