//! `paytap bench crash`: the platform killed at random moments, and what
//! every terminal heard checked against what the network recorded.
//!
//! The driver (run by `paytap bench crash` and by the crash test in
//! `crates/paytap/tests/crash.rs`, so both run the same check):
//!
//! 1. **Set-up**, in this process on a fresh data directory: one card per
//!    terminal (alternating CNY banks), a token provisioned to an emulated
//!    phone's secure element (`paytap-device`, which also checks the
//!    issuer's ARPC).
//! 2. **Run**: `paytap up` as a child process on that directory with fixed
//!    loopback ports. Every terminal (a `paytap-pos` terminal with its own
//!    reversal store, in a thread) charges in a loop. The child is killed
//!    with SIGKILL at random moments, `kills` times, and started again
//!    each time; the terminals carry on (unreachable while it is down).
//! 3. **Delivery**: the terminals stop; each resends its stored reversals
//!    until the switch acknowledges them; the child is killed once more.
//! 4. **Check**, in this process on the same directory (so only what was
//!    durable counts): the switch's stored forwards are delivered; then
//!    * every approval a terminal heard is logged once as approved (what
//!      clearing reads), held once at its issuer and once in the ledger;
//!    * no issuer record is held for a request whose terminal heard no
//!      approval, and the ledger's pending total is exactly the heard
//!      approvals' amounts;
//!    * every other heard approval is reversed through the switch (`0410`
//!      with `00`, its hold released); clearing captures the rest exactly
//!      once and balances; afterwards nothing is held, the ledger sums to
//!      zero and each card's balance is its opening balance less what was
//!      cleared on it.
//!
//! Anything that does not hold is reported in `problems`; `ok` is true
//! when there are none.

use paytap_types::XorShift64;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_iso8583::{Message, Mti, OriginalData, ResponseCode};
use paytap_issuer::{IssueCard, Limits, Product};
use paytap_pos::saf::ReversalStore;
use paytap_pos::{Pos, PosError, TerminalProfile};
use paytap_tsp::ProvisionRequest;
use paytap_types::{Currency, Money};
use serde::Serialize;
use time::OffsetDateTime;

use crate::platform::{Platform, PlatformOptions};

/// Each card's opening balance: never the reason for a decline.
const OPENING: i64 = 1_000_000_000;
/// Charges are 1.00 to 50.00 CNY.
const AMOUNTS: (u64, u64) = (100, 5_000);
/// How long a terminal waits for an answer (a killed switch resets the
/// connection at once; this only bounds a hung one).
const TERMINAL_TIMEOUT: Duration = Duration::from_secs(5);
/// A terminal that cannot reach the switch tries again after this.
const RETRY: Duration = Duration::from_millis(50);
/// `paytap up` must listen within this after it is started.
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Stored reversals (the terminals', then the switch's) must be delivered
/// within this.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);
/// The acquirer id the terminals send (DE 32).
const ACQUIRER: &str = paytap_types::DEMO_ACQUIRER_ID;

/// What to run.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    pub kills: u32,
    pub terminals: usize,
    /// Longest run between two kills, in milliseconds (each is random
    /// between a fifth of it and all of it).
    pub max_uptime_ms: u64,
    /// Where the data and terminal directories go (default: a fresh
    /// temporary directory, removed afterwards).
    pub dir: Option<PathBuf>,
    /// The random sequence (kill moments, amounts); printed in the report.
    pub seed: Option<u64>,
}

/// What happened and what was found.
#[derive(Debug, Default, Serialize)]
pub struct CrashReport {
    pub seed: u64,
    pub kills: u32,
    pub terminals: usize,
    pub seconds: f64,
    /// Authorization requests that left a terminal.
    pub requests: u64,
    pub approvals_heard: u64,
    /// Answered, but not an approval.
    pub declines_heard: u64,
    /// No answer: the reversal was acknowledged at once or stored.
    pub no_answer: u64,
    /// Reversals still stored at the terminals when the run ended,
    /// delivered afterwards.
    pub reversals_resent: u64,
    pub approvals_reversed: u64,
    pub approvals_cleared: u64,
    pub problems: Vec<String>,
    pub ok: bool,
}

/// What one terminal heard of one request.
#[derive(Debug, Clone)]
struct Sent {
    terminal: String,
    stan: u32,
    transmission: String,
    amount: i64,
    card: usize,
    at_millis: i64,
    heard: Heard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Approved,
    Declined,
    NoAnswer,
}

struct Lane {
    terminal: String,
    dir: PathBuf,
    phone: Device,
    card: usize,
    /// The acquirer's MAC key (from the platform's `acquirers.toml`).
    key: paytap_iso8583::AcquirerKey,
}

/// Runs the whole check (blocking; it starts its own runtime).
pub fn run_crash(opts: &CrashOptions) -> anyhow::Result<CrashReport> {
    let started = Instant::now();
    let seed = match opts.seed {
        Some(s) => s,
        None => {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random: {e}"))?;
            u64::from_le_bytes(b)
        }
    };
    let mut rng = XorShift64::new(seed | 1);
    let temp;
    let root = match &opts.dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("paytap-crash-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let data = root.join("data");
    let rt = tokio::runtime::Runtime::new()?;
    let (lanes, cards) = rt.block_on(set_up(&data, &root, opts.terminals.max(1)))?;
    let ports = (free_port()?, free_port()?);
    let mut report = CrashReport {
        seed,
        kills: opts.kills,
        terminals: lanes.len(),
        ..CrashReport::default()
    };
    let sent = run_under_kills(opts, &mut rng, &data, &root, ports, lanes, &mut report)?;
    rt.block_on(check(&data, &sent, &cards, &mut rng, &mut report))?;
    report.ok = report.problems.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn platform_options(data: &Path) -> PlatformOptions {
    PlatformOptions::loopback(data.to_path_buf())
}

/// Cards, tokens and phones, one per terminal; the cards' ids.
async fn set_up(data: &Path, root: &Path, n: usize) -> anyhow::Result<(Vec<Lane>, Vec<String>)> {
    let p = Platform::start(platform_options(data)).await?;
    let banks: Vec<String> = p
        .net
        .issuer()
        .config()
        .banks
        .iter()
        .filter(|b| b.currency == Currency::CNY)
        .map(|b| b.id.clone())
        .collect();
    let mut lanes = Vec::new();
    let mut cards = Vec::new();
    for i in 0..n {
        let bank = banks.get(i % banks.len().max(1)).context("no CNY bank")?;
        let mut req = IssueCard::new(bank, Product::Debit, "CRASH TEST", OPENING);
        req.limits = Some(Limits {
            single_transaction: OPENING,
            daily: OPENING,
            velocity_count: 1_000_000,
            velocity_window_secs: 60,
            no_cvm_limit: 0,
        });
        let card = p.net.issue_card(req).await?;
        let terminal = format!("CR{i:06}");
        let dir = root.join("terminals").join(&terminal);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("phone.se");
        // Only this process opens the terminals' phones: a random passphrase
        // it alone holds, so no key is written beside them (an Argon2id run
        // per phone, once, at set-up).
        let mut phone = Device::create(
            &path,
            &KeystoreKey::for_this_run()?,
            DeviceKind::Phone,
            "phone",
            "emulated",
        )?;
        let device_id = format!("crash-{i}");
        phone.set_enrolment(&device_id, "http://127.0.0.1:1/", "crash@example.com")?;
        let tok = p
            .net
            .provision(ProvisionRequest::wallet_nfc(
                card.card_id.clone(),
                bank.clone(),
                bank.clone(),
                "40010075001",
                device_id,
                phone.public_key(),
            ))
            .await?;
        phone.install(&tok.token_ref, &tok.sealed_payload, true)?;
        lanes.push(Lane {
            terminal,
            dir,
            phone,
            card: i,
            key: p
                .net
                .acquirer_key(ACQUIRER)
                .context("the platform has no key for the demo acquirer")?,
        });
        cards.push(card.card_id);
    }
    p.shutdown().await;
    Ok((lanes, cards))
}

/// The `paytap up` child process.
struct Up {
    child: Child,
    data: PathBuf,
    log: PathBuf,
    ports: (u16, u16),
}

impl Up {
    fn start(data: &Path, log: &Path, ports: (u16, u16)) -> anyhow::Result<Up> {
        let endpoints = data.join("endpoints.json");
        // Absent is fine: the next start writes it again.
        let _ = std::fs::remove_file(&endpoints);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(std::env::current_exe()?)
            .arg("up")
            .arg("--data-dir")
            .arg(data)
            .arg("--wallet-addr")
            .arg(format!("127.0.0.1:{}", ports.0))
            .arg("--switch-addr")
            .arg(format!("127.0.0.1:{}", ports.1))
            .arg("--transit-addr")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting paytap up")?;
        let mut up = Up {
            child,
            data: data.to_path_buf(),
            log: log.to_path_buf(),
            ports,
        };
        let end = Instant::now() + READY_LIMIT;
        while !endpoints.exists() {
            if let Some(status) = up.child.try_wait()? {
                bail!("paytap up exited ({status}); see {}", up.log.display());
            }
            if Instant::now() > end {
                up.kill()?;
                bail!("paytap up did not start; see {}", up.log.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(up)
    }

    fn switch(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.1))
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        *self = Up::start(&self.data, &self.log, self.ports)?;
        Ok(())
    }
}

fn run_under_kills(
    opts: &CrashOptions,
    rng: &mut XorShift64,
    data: &Path,
    root: &Path,
    ports: (u16, u16),
    lanes: Vec<Lane>,
    report: &mut CrashReport,
) -> anyhow::Result<Vec<Sent>> {
    let mut up = Up::start(data, &root.join("paytap-up.log"), ports)?;
    let switch = up.switch();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for lane in lanes {
        let stop = stop.clone();
        let seed = rng.next_u64();
        threads.push(std::thread::spawn(move || drive(lane, switch, &stop, seed)));
    }
    let max = opts.max_uptime_ms.max(50);
    let mut failure = None;
    for _ in 0..opts.kills {
        std::thread::sleep(Duration::from_millis(rng.between(max / 5, max)));
        let restarted = up.kill().and_then(|()| {
            std::thread::sleep(Duration::from_millis(rng.between(0, 300)));
            up.restart()
        });
        if let Err(e) = restarted {
            failure = Some(e);
            break;
        }
    }
    if failure.is_none() {
        std::thread::sleep(Duration::from_millis(rng.between(max / 5, max)));
    }
    stop.store(true, Ordering::SeqCst);
    let mut sent = Vec::new();
    let mut lanes = Vec::new();
    for t in threads {
        let (lane, s, problems) = t
            .join()
            .map_err(|_| anyhow::anyhow!("a terminal thread panicked"))?;
        sent.extend(s);
        report.problems.extend(problems);
        lanes.push(lane);
    }
    if let Some(e) = failure {
        // It may have exited already.
        let _ = up.kill();
        return Err(e);
    }
    deliver_stored(&lanes, switch, report);
    up.kill()?;
    for s in &sent {
        report.requests += 1;
        match s.heard {
            Heard::Approved => report.approvals_heard += 1,
            Heard::Declined => report.declines_heard += 1,
            Heard::NoAnswer => report.no_answer += 1,
        }
    }
    Ok(sent)
}

fn terminal(lane: &Lane, switch: SocketAddr) -> Result<Pos, PosError> {
    let profile = TerminalProfile {
        terminal_id: lane.terminal.clone(),
        acquirer_id: ACQUIRER.into(),
        ..TerminalProfile::default()
    };
    let mut pos = Pos::new(profile, switch)?
        .with_reversal_store(ReversalStore::open(&lane.dir)?)
        .with_acquirer_key(lane.key.clone());
    pos.response_timeout = TERMINAL_TIMEOUT;
    Ok(pos)
}

fn transmission(now: OffsetDateTime) -> String {
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// One terminal charging until `stop`: what it heard of each request.
fn drive(
    mut lane: Lane,
    switch: SocketAddr,
    stop: &AtomicBool,
    seed: u64,
) -> (Lane, Vec<Sent>, Vec<String>) {
    let mut rng = XorShift64::new(seed | 1);
    let mut sent = Vec::new();
    let mut problems = Vec::new();
    let pos = match terminal(&lane, switch) {
        Ok(p) => p,
        Err(e) => {
            let problem = format!("{}: {e}", lane.terminal);
            return (lane, sent, vec![problem]);
        }
    };
    let owner = lane.phone.owner_finger();
    let mut stan = 0u32;
    while !stop.load(Ordering::SeqCst) {
        stan = stan % 999_999 + 1;
        let now = OffsetDateTime::now_utc();
        let minor = rng.between(AMOUNTS.0, AMOUNTS.1);
        let amount = Money::new(i64::try_from(minor).unwrap_or(100), Currency::CNY);
        let un = rng.next_u64().to_be_bytes();
        let outcome = lane
            .phone
            .tap(Some(&owner))
            .map_err(|e| e.to_string())
            .and_then(|mut tap| {
                pos.charge_with(&mut tap, amount, now, [un[0], un[1], un[2], un[3]], stan)
                    .map_err(|e| match e {
                        PosError::Connect { .. } => String::new(),
                        e => e.to_string(),
                    })
            });
        let heard = match outcome {
            Ok(r) if r.approved => Heard::Approved,
            Ok(r) if r.response_code.is_some() && !r.reversed && !r.reversal_stored => {
                Heard::Declined
            }
            Ok(_) => Heard::NoAnswer,
            Err(e) if e.is_empty() => {
                // The switch is down: nothing was sent.
                std::thread::sleep(RETRY);
                continue;
            }
            Err(e) => {
                problems.push(format!("{} STAN {stan}: {e}", lane.terminal));
                std::thread::sleep(RETRY);
                continue;
            }
        };
        sent.push(Sent {
            terminal: lane.terminal.clone(),
            stan,
            transmission: transmission(now),
            amount: amount.minor,
            card: lane.card,
            at_millis: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            heard,
        });
    }
    (lane, sent, problems)
}

/// Every terminal resends what it still owes until none is left.
fn deliver_stored(lanes: &[Lane], switch: SocketAddr, report: &mut CrashReport) {
    let end = Instant::now() + DELIVERY_LIMIT;
    for lane in lanes {
        let pos = match terminal(lane, switch) {
            Ok(p) => p,
            Err(e) => {
                report.problems.push(format!("{}: {e}", lane.terminal));
                continue;
            }
        };
        loop {
            match pos.flush_reversals() {
                Ok(f) => {
                    report.reversals_resent += f.acknowledged as u64;
                    if f.remaining == 0 {
                        break;
                    }
                }
                Err(e) => report.problems.push(format!("{}: {e}", lane.terminal)),
            }
            if Instant::now() > end {
                report.problems.push(format!(
                    "{}: stored reversals not acknowledged in {DELIVERY_LIMIT:?}",
                    lane.terminal
                ));
                break;
            }
            std::thread::sleep(RETRY);
        }
    }
}

type Key = (String, u32, String);

fn key_of(s: &Sent) -> Key {
    (s.terminal.clone(), s.stan, s.transmission.clone())
}

/// An issuer record: `hold_key, state, amount, hold_id`.
type IssuerRow = (String, String, i64, Option<String>);

async fn check(
    data: &Path,
    sent: &[Sent],
    cards: &[String],
    rng: &mut XorShift64,
    report: &mut CrashReport,
) -> anyhow::Result<()> {
    let p = Platform::start(platform_options(data)).await?;
    let net = p.net.clone();
    let left = net.switch().drain_forwards(DELIVERY_LIMIT).await;
    if left > 0 {
        report
            .problems
            .push(format!("{left} stored reversals or advices not delivered"));
    }
    let heard: Vec<&Sent> = sent.iter().filter(|s| s.heard == Heard::Approved).collect();
    let logged = logged_approvals(&net, sent).await?;
    let held = issuer_rows(&net, "held").await?;
    let mut held_keys: HashMap<&str, &IssuerRow> = held.iter().map(|r| (r.0.as_str(), r)).collect();
    let mut rrns = Vec::new();
    for s in &heard {
        let rows = logged.get(&key_of(s)).map(Vec::as_slice).unwrap_or(&[]);
        let [(rrn, hold)] = rows else {
            report.problems.push(format!(
                "approval heard by {} STAN {} is logged as approved {} times",
                s.terminal,
                s.stan,
                rows.len()
            ));
            continue;
        };
        let hold_key = match hold.as_str() {
            "0120" => format!("rrn:{rrn}:0120"),
            _ => format!("rrn:{rrn}"),
        };
        match held_keys.remove(hold_key.as_str()) {
            Some(r) if r.2 == s.amount && r.3.is_some() => rrns.push((*s, hold_key)),
            Some(r) => report
                .problems
                .push(format!("issuer record {hold_key} held wrongly: {r:?}")),
            None => report.problems.push(format!(
                "approval heard by {} STAN {} is not held at its issuer",
                s.terminal, s.stan
            )),
        }
    }
    for k in held_keys.keys() {
        report
            .problems
            .push(format!("{k} is held, and no terminal heard it approved"));
    }
    let pending = pending_total(&net).await?;
    let heard_total: i64 = heard.iter().map(|s| s.amount).sum();
    if pending != heard_total {
        report.problems.push(format!(
            "the ledger holds {pending} pending, the heard approvals {heard_total}"
        ));
    }
    let cleared = reverse_half(&net, &rrns, rng, report).await;
    clear(&net, sent, report).await?;
    final_state(&net, &rrns, &cleared, cards, report).await?;
    p.shutdown().await;
    Ok(())
}

/// Approved authorization rows by (terminal, STAN, DE 7): RRN, hold MTI.
async fn logged_approvals(
    net: &paytap_network::RunningNetwork,
    sent: &[Sent],
) -> anyhow::Result<HashMap<Key, Vec<(String, String)>>> {
    let days: BTreeSet<String> = sent
        .iter()
        .flat_map(|s| [s.at_millis, s.at_millis + 60_000])
        .map(paytap_switch::utc_day)
        .collect();
    let mut out: HashMap<Key, Vec<(String, String)>> = HashMap::new();
    for day in days {
        let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT rrn, terminal, stan, transmission, COALESCE(hold_mti, '0100') \
             FROM switch_messages WHERE day = $1 AND kind = $2 AND status = $3",
        )
        .bind(&day)
        .bind(paytap_switch::LogKind::Authorization.as_str())
        .bind(paytap_switch::LogStatus::Approved.as_str())
        .fetch_all(net.db().pool())
        .await?;
        for (rrn, terminal, stan, transmission, hold) in rows {
            let stan = u32::try_from(stan).unwrap_or(0);
            out.entry((terminal, stan, transmission))
                .or_default()
                .push((rrn, hold));
        }
    }
    Ok(out)
}

async fn issuer_rows(
    net: &paytap_network::RunningNetwork,
    state: &str,
) -> anyhow::Result<Vec<IssuerRow>> {
    Ok(
        sqlx::query_as(
            "SELECT hold_key, state, amount, hold_id FROM issuer_auths WHERE state = $1",
        )
        .bind(state)
        .fetch_all(net.db().pool())
        .await?,
    )
}

/// The ledger's pending debits in CNY (every hold is one).
async fn pending_total(net: &paytap_network::RunningNetwork) -> anyhow::Result<i64> {
    let report = net.ledger().check_invariants().await?;
    Ok(report
        .totals
        .get(&Currency::CNY)
        .map(|b| b.debits_pending)
        .unwrap_or(0))
}

/// Reverses a random half of the heard approvals through the switch; the
/// others (to be cleared).
async fn reverse_half<'a>(
    net: &paytap_network::RunningNetwork,
    heard: &[(&'a Sent, String)],
    rng: &mut XorShift64,
    report: &mut CrashReport,
) -> Vec<&'a Sent> {
    let mut cleared = Vec::new();
    for (i, (s, _)) in heard.iter().enumerate() {
        if rng.next_u64().is_multiple_of(2) {
            cleared.push(*s);
            continue;
        }
        let stan = u32::try_from(i % 999_999 + 1).unwrap_or(1);
        let answer = net.switch().handle(reversal_of(s, stan)).await;
        match answer {
            Some(a)
                if a.mti() == Mti::REVERSAL_RESPONSE
                    && a.response_code() == Some(ResponseCode::Approved) =>
            {
                report.approvals_reversed += 1;
            }
            other => report.problems.push(format!(
                "reversal of {} STAN {} answered {:?}",
                s.terminal,
                s.stan,
                other.as_ref().and_then(|a| a.get_str(39))
            )),
        }
    }
    cleared
}

/// A field of a message the bench builds from its own valid values.
fn must(set: Result<(), paytap_iso8583::Error>) {
    set.expect("the bench sets valid fields");
}

fn reversal_of(s: &Sent, stan: u32) -> Message {
    let mut m = Message::new(Mti::REVERSAL_REQUEST);
    let now = OffsetDateTime::now_utc();
    must(m.set_processing_code("000000"));
    must(m.set_amount(u64::try_from(s.amount).unwrap_or(0)));
    must(m.set(7, transmission(now)));
    must(m.set_stan(stan));
    must(m.set_acquirer_id(ACQUIRER));
    must(m.set_terminal_id(&s.terminal));
    must(m.set_currency(Currency::CNY.numeric()));
    must(m.set_original_data(&OriginalData {
        mti: Mti::AUTHORIZATION_REQUEST,
        stan: s.stan,
        transmission_datetime: s.transmission.clone(),
        acquirer_id: ACQUIRER.into(),
        forwarding_id: "0".into(),
    }));
    m
}

/// Clearing of every day of the run: balanced, nothing left to capture.
async fn clear(
    net: &paytap_network::RunningNetwork,
    sent: &[Sent],
    report: &mut CrashReport,
) -> anyhow::Result<()> {
    if net.switch().drain_forwards(DELIVERY_LIMIT).await > 0 {
        report
            .problems
            .push("reversals to the issuers not delivered".into());
    }
    let days: BTreeSet<String> = sent
        .iter()
        .flat_map(|s| [s.at_millis, s.at_millis + 60_000])
        .map(paytap_switch::utc_day)
        .collect();
    for day in days {
        let rep = net.clearing(&day).await?;
        if !rep.balanced() || rep.capture_pending > 0 {
            report.problems.push(format!(
                "clearing of {day}: balanced {}, {} captures pending",
                rep.balanced(),
                rep.capture_pending
            ));
        }
        report.approvals_cleared += rep.captured;
    }
    Ok(())
}

/// After reversals and clearing: nothing held, the ledger sums to zero,
/// each card is short by exactly what was cleared on it.
async fn final_state(
    net: &paytap_network::RunningNetwork,
    heard: &[(&Sent, String)],
    cleared: &[&Sent],
    cards: &[String],
    report: &mut CrashReport,
) -> anyhow::Result<()> {
    if report.approvals_cleared != cleared.len() as u64 {
        report.problems.push(format!(
            "clearing captured {}, {} heard approvals were left to it",
            report.approvals_cleared,
            cleared.len()
        ));
    }
    let held = issuer_rows(net, "held").await?;
    for r in &held {
        report
            .problems
            .push(format!("{} still held after reversals and clearing", r.0));
    }
    let captured: BTreeSet<String> = issuer_rows(net, "captured")
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    // A reversal voids the record's hold ('reversed' is a reversal that
    // came before its original).
    let reversed: BTreeSet<String> = issuer_rows(net, "voided")
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let cleared_keys: BTreeSet<Key> = cleared.iter().map(|s| key_of(s)).collect();
    for (s, hold_key) in heard {
        let want = if cleared_keys.contains(&key_of(s)) {
            &captured
        } else {
            &reversed
        };
        if !want.contains(hold_key) {
            report.problems.push(format!(
                "{hold_key} is neither captured nor reversed as asked"
            ));
        }
    }
    let inv = net.ledger().check_invariants().await?;
    for (cur, b) in &inv.totals {
        if b.debits_posted != b.credits_posted || b.debits_pending != b.credits_pending {
            report
                .problems
                .push(format!("the ledger does not sum to zero in {cur}"));
        }
        if b.debits_pending != 0 {
            report.problems.push(format!(
                "{} {cur} still pending in the ledger",
                b.debits_pending
            ));
        }
    }
    let mut spent: BTreeMap<usize, i64> = BTreeMap::new();
    for s in cleared {
        *spent.entry(s.card).or_default() += s.amount;
    }
    for (i, card) in cards.iter().enumerate() {
        let have = net.issuer().available(card).await?.minor;
        let want = OPENING - spent.get(&i).copied().unwrap_or(0);
        if have != want {
            report
                .problems
                .push(format!("card {i}: available {have}, expected {want}"));
        }
    }
    Ok(())
}

impl CrashReport {
    /// The report for people.
    pub fn table(&self) -> String {
        let mut t = format!(
            "kills {}, terminals {}, {:.1} s (seed {})\n\
             requests {}: approvals heard {}, declines {}, no answer {}\n\
             reversals resent after the run {}\n\
             heard approvals reversed {}, cleared {}\n",
            self.kills,
            self.terminals,
            self.seconds,
            self.seed,
            self.requests,
            self.approvals_heard,
            self.declines_heard,
            self.no_answer,
            self.reversals_resent,
            self.approvals_reversed,
            self.approvals_cleared,
        );
        if self.ok {
            t.push_str("OK: every approval heard is recorded once; no hold outlives an unheard one; the ledger sums to zero\n");
        } else {
            for p in &self.problems {
                t.push_str(&format!("PROBLEM: {p}\n"));
            }
        }
        t
    }
}
