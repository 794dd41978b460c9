//! `paytap device transit`: a city's transit card on the device (a band
//! included), through the operator's host (`--transit`, the `transit_url`
//! of `endpoints.json`).
//!
//! `issue` asks the operator for a card sealed to the device's key and
//! installs it in the secure element, the operator's card fee (if it
//! charges one) paid with a bank card in the wallet like a top-up (the
//! issue, payment included, kept in the keystore until the card is
//! installed, and asked again as it was by the next `issue`); `load` tops it up, paid with a bank
//! card in the wallet (`--pay-with`, the phone whose secure element holds
//! it, or this device; the owner's finger on it, `--verified`): the
//! card's INITIALIZE FOR LOAD, the payment's chip data made for the QR
//! channel, the operator's MAC2 once the network approved, CREDIT FOR LOAD
//! (`paytap_device::transit`); `sync` finishes a top-up that failed after
//! payment (credited in a new card session), then takes every lost card's
//! balance its holder ordered onto this card on the wallet (loaded under
//! the move's id, once every gate has uploaded), and `cancel` has the
//! operator refund a pending top-up instead; `cards` shows each card's balance and its newest log
//! records. Every request carries an id chosen here and is
//! resent with the same id and body when no answer came, so nothing is
//! issued or loaded twice.

use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args as ClapArgs, Subcommand};
use paytap_device::Device;
use paytap_device::scan::make_cryptogram;
use paytap_device::transit::{
    Finished, LoadAnswer, PendingIssue, PendingLoad, cancel, resume, take_move, top_up,
};
use paytap_operator::Refunded;
use paytap_operator::wire::{
    CardPayment, WireIssue, WireIssued, WireLoad, WireLoaded, date_time_digits, hex_array,
    parse_date_time, purse_aad,
};
use paytap_purse::PurseState;
use paytap_purse::records::TYPE_LOAD;
use paytap_transit::TransitConfig;
use paytap_types::{Currency, Money};
use serde_json::{Value, json};
use std::path::PathBuf;

use super::Keystore;

/// Posts of one request before the device gives up (each with the same id).
const MAX_POST_ATTEMPTS: u32 = 3;
/// Random bytes in an issue id (hex).
const ISSUE_ID_BYTES: usize = 16;
/// Ordered moves one `sync` takes at most.
const MAX_MOVES_PER_SYNC: usize = 4;
/// Log records `cards` shows per card.
const SHOWN_LOG_RECORDS: usize = 5;

#[derive(ClapArgs)]
pub(super) struct Args {
    #[command(subcommand)]
    command: Cmd,
}

/// Where the operators' hosts are.
#[derive(ClapArgs)]
struct Operators {
    /// The operators' base URL (`transit_url` in endpoints.json), e.g. http://127.0.0.1:8082/.
    #[arg(long)]
    transit: String,
}

/// The device and operators of `sync` and `cancel`.
#[derive(ClapArgs)]
struct Pending {
    #[command(flatten)]
    ks: Keystore,
    #[command(flatten)]
    ops: Operators,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Issue a city's transit card into this device's secure element.
    Issue {
        #[command(flatten)]
        ks: Keystore,
        #[command(flatten)]
        ops: Operators,
        /// The operator (beijing, shanghai, shenzhen, guangzhou, wuhan, lingnan).
        #[arg(long)]
        operator: String,
        /// The secure element file of the device whose bank card pays the
        /// operator's card fee (a phone; default: this device). Unlocked
        /// as this one is.
        #[arg(long)]
        pay_with: Option<PathBuf>,
        /// The owner touches the paying device's fingerprint sensor
        /// (required to pay a card fee).
        #[arg(long)]
        verified: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Top up the device's transit card (amount in yuan, 50.00), paid
    /// with a bank card in the wallet.
    Load {
        #[command(flatten)]
        ks: Keystore,
        #[command(flatten)]
        ops: Operators,
        /// The amount, major units.
        #[arg(long)]
        amount: String,
        /// The secure element file of the device whose bank card pays
        /// (a phone; default: this device). Unlocked as this one is.
        #[arg(long)]
        pay_with: Option<PathBuf>,
        /// The owner touches the paying device's fingerprint sensor
        /// (required to pay).
        #[arg(long)]
        verified: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Finish a top-up that was paid but not credited: credit it now.
    Sync(Pending),
    /// Have the operator refund a top-up that was paid but not credited.
    Cancel(Pending),
    /// The transit cards in the secure element: balance and newest records.
    Cards {
        #[command(flatten)]
        ks: Keystore,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `paytap device transit` subcommand.
pub(super) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Cmd::Issue {
            ks,
            ops,
            operator,
            pay_with,
            verified,
            json,
        } => issue(&ks, &ops, &operator, (pay_with, verified), json),
        Cmd::Load {
            ks,
            ops,
            amount,
            pay_with,
            verified,
            json,
        } => load(&ks, &ops, &amount, (pay_with, verified), json),
        Cmd::Sync(p) => finish(&p, false),
        Cmd::Cancel(p) => finish(&p, true),
        Cmd::Cards { ks, json } => cards(&ks, json),
    }
}

/// POSTs `body` to `url`, resending it when no answer came; the answer's
/// JSON, or the operator's refusal as an error.
pub(crate) async fn post_async(url: &str, body: &Value) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let mut last = None;
    for _ in 0..MAX_POST_ATTEMPTS {
        match crate::gate::send(http.post(url).json(body)).await {
            Err(e) if e.is::<crate::gate::OperatorUnreachable>() => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no answer")))
        .with_context(|| format!("no answer from {url}"))
}

fn endpoint(ops: &Operators, operator: &str, what: &str) -> String {
    format!(
        "{}/transit/v1/{operator}/{what}",
        ops.transit.trim_end_matches('/')
    )
}

fn issue(
    ks: &Keystore,
    ops: &Operators,
    operator: &str,
    (pay_with, verified): (Option<PathBuf>, bool),
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut device = ks.open()?;
    let device_id = device
        .device_id()
        .context("the device is not enrolled (run `paytap device enrol`)")?
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pending = match device.pending_issue().cloned() {
        Some(p) if p.operator == operator => p,
        Some(p) => anyhow::bail!(
            "the issue of a {} card ({}) is not finished: run `paytap device transit issue --operator {}` first",
            p.operator,
            p.issue_id,
            p.operator
        ),
        None => {
            let fee = rt.block_on(card_fee(ops, operator))?;
            let payment = match (fee, &pay_with) {
                (0, _) => None,
                (_, Some(path)) => Some(card_payment(&mut ks.unlock.open(path)?, verified, fee)?),
                (_, None) => Some(card_payment(&mut device, verified, fee)?),
            };
            let p = new_issue(operator, payment.as_ref())?;
            device.set_pending_issue(Some(p.clone()))?;
            p
        }
    };
    let issued = match rt.block_on(ask_issue(ops, &device, &device_id, &pending)) {
        Ok(issued) => issued,
        Err(e) => return Err(keep_or_drop(&mut device, &pending, e)),
    };
    let aad = purse_aad(operator, &device_id, &issued.card_number);
    let state = install(&mut device, &aad, &issued)?;
    device.set_pending_issue(None)?;
    if json {
        println!(
            "{}",
            json!({"operator": operator, "fee": issued.fee, "card": card_json(&state)})
        );
    } else {
        println!(
            "transit card {} of {operator} installed in {:?}, card fee {}, balance {}",
            issued.card_number,
            device.name(),
            yuan(issued.fee),
            yuan(state.balance)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A new issue id, its fee's payment as the wire carries it.
fn new_issue(operator: &str, payment: Option<&CardPayment>) -> anyhow::Result<PendingIssue> {
    let mut id = [0u8; ISSUE_ID_BYTES];
    getrandom::fill(&mut id).context("the random number generator failed")?;
    Ok(PendingIssue {
        operator: operator.to_owned(),
        issue_id: format!("issue-{}", hex::encode(id)),
        payment: payment.map(serde_json::to_string).transpose()?,
    })
}

/// The operator's card fee, minor units, as its host says (none for an
/// operator it does not list: the issue is asked anyway, and the host's
/// refusal names it).
async fn card_fee(ops: &Operators, operator: &str) -> anyhow::Result<u32> {
    let url = format!("{}/transit/v1/operators", ops.transit.trim_end_matches('/'));
    let v = crate::gate::send(reqwest::Client::new().get(&url)).await?;
    let fee = v["operators"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["id"] == operator))
        .map_or(0, |o| o["card_fee"].as_u64().unwrap_or(0));
    u32::try_from(fee).context("the operator's card fee is out of range")
}

/// Posts `p` to the operator: the issued card.
async fn ask_issue(
    ops: &Operators,
    device: &Device,
    device_id: &str,
    p: &PendingIssue,
) -> anyhow::Result<WireIssued> {
    let payment: Option<CardPayment> = p
        .payment
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("the kept issue's payment")?;
    let req = WireIssue {
        issue_id: p.issue_id.clone(),
        device_id: device_id.to_owned(),
        device_public_key: paytap_seal::public_key_to_base64(&device.public_key()),
        payment,
    };
    let v = post_async(
        &endpoint(ops, &p.operator, "cards"),
        &serde_json::to_value(&req)?,
    )
    .await?;
    serde_json::from_value(v).context("the operator's answer")
}

/// After a failed issue: the operator's refusal of the request ends it
/// (nothing was kept by the operator, any fee refunded); no answer, or a
/// failure on the operator's side (`5xx`: the payment's outcome may be
/// unknown), keeps it to be asked again.
fn keep_or_drop(device: &mut Device, p: &PendingIssue, e: anyhow::Error) -> anyhow::Error {
    let refused = e
        .downcast_ref::<crate::gate::OperatorRefused>()
        .is_some_and(|r| r.status < 500);
    if refused {
        if let Err(clear) = device.set_pending_issue(None) {
            return clear.into();
        }
        return e;
    }
    e.context(format!(
        "issue {} kept: run `paytap device transit issue --operator {}` again to finish it (nothing is paid twice)",
        p.issue_id, p.operator
    ))
}

/// Installs the issued purse, unless a run that stopped before clearing
/// its issue installed it already.
fn install(device: &mut Device, aad: &[u8], issued: &WireIssued) -> anyhow::Result<PurseState> {
    let installed = device
        .purses()?
        .into_iter()
        .find(|p| hex::encode(p.public.serial) == issued.card_number);
    if let Some(state) = installed {
        return Ok(state);
    }
    let sealed = STANDARD
        .decode(&issued.sealed_purse)
        .context("the sealed purse is not Base64")?;
    Ok(device.install_sealed_purse(aad, &sealed)?)
}

fn load(
    ks: &Keystore,
    ops: &Operators,
    amount: &str,
    (pay_with, verified): (Option<PathBuf>, bool),
    json: bool,
) -> anyhow::Result<ExitCode> {
    let minor = Money::parse(amount, Currency::CNY)
        .map_err(|e| anyhow::anyhow!("--amount: {e}"))?
        .minor;
    let minor = u32::try_from(minor)
        .ok()
        .filter(|m| *m > 0)
        .context("--amount must be above zero and fit a purse")?;
    let mut device = ks.open()?;
    let purse = device
        .purses()?
        .into_iter()
        .next()
        .context("the device holds no transit card (run `paytap device transit issue`)")?;
    if let Some(p) = device.pending_load() {
        anyhow::bail!(
            "top-up {} is not finished: run `paytap device transit sync` (or `cancel`) first",
            p.load_id
        );
    }
    let payment = match &pay_with {
        Some(path) => card_payment(&mut ks.unlock.open(path)?, verified, minor)?,
        None => card_payment(&mut device, verified, minor)?,
    };
    let operator = operator_of(&purse)?;
    let url = endpoint(ops, &operator, "loads");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let paid = Some(serde_json::to_string(&payment)?);
    let balance = rt.block_on(top_up(&mut device, minor, paid, |p: PendingLoad| {
        operator_load(&url, p)
    }))?;
    let card = hex::encode(purse.public.serial);
    if json {
        println!(
            "{}",
            json!({"operator": operator, "card_number": card, "amount": minor, "balance": balance})
        );
    } else {
        println!(
            "loaded {} onto {card}; balance {}",
            yuan(minor),
            yuan(balance)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The chip data `payer`'s secure element makes for paying `minor` fen
/// (the QR channel: the owner's finger required).
pub(crate) fn card_payment(
    payer: &mut Device,
    verified: bool,
    minor: u32,
) -> anyhow::Result<CardPayment> {
    let owner = payer.owner_finger();
    let mut un = [0u8; 4];
    getrandom::fill(&mut un).context("the random number generator failed")?;
    let amount = Money::new(i64::from(minor), Currency::CNY);
    let c = make_cryptogram(
        payer,
        verified.then_some(&owner),
        amount,
        super::scan::today(),
        un,
    )
    .context("the paying device's secure element")?;
    Ok(CardPayment {
        token: c.token.expose().clone(),
        expiry: c.expiry_yymm,
        psn: c.psn,
        track2: c.track2.expose().clone(),
        icc_data: hex::encode_upper(&c.icc_data),
    })
}

/// `sync` (`refund` false) or `cancel` (`refund` true) of the pending
/// top-up.
fn finish(p: &Pending, refund: bool) -> anyhow::Result<ExitCode> {
    let (ops, json) = (&p.ops, p.json);
    let mut device = p.ks.open()?;
    let Some(purse) = device.purses()?.into_iter().next() else {
        anyhow::bail!("the device holds no transit card");
    };
    let operator = operator_of(&purse)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = if refund {
        let url = endpoint(ops, &operator, "refunds");
        rt.block_on(cancel(&mut device, |p: PendingLoad| {
            operator_refund(&url, p)
        }))?
    } else {
        let base = endpoint(ops, &operator, "");
        rt.block_on(resume(&mut device, |p: PendingLoad| {
            let url = load_url(&base, &p);
            async move { operator_load(&url, p).await }
        }))?
    };
    let moved = if refund {
        Vec::new()
    } else {
        rt.block_on(take_ordered_moves(&mut device, &ops.transit, &operator))?
    };
    let (what, amount) = match done {
        Finished::Nothing => ("nothing", None),
        Finished::AlreadyCredited(b) => ("already_credited", Some(b)),
        Finished::Credited(b) => ("credited", Some(b)),
        Finished::Refunded(a) => ("refunded", Some(a)),
    };
    if json {
        println!(
            "{}",
            json!({"operator": operator, "outcome": what, "amount": amount, "moves": moved})
        );
    } else {
        for m in &moved {
            match m.balance {
                Some(b) => println!(
                    "{} moved onto the card ({}); balance {}",
                    yuan(m.amount),
                    m.move_id,
                    yuan(b)
                ),
                None => println!(
                    "{} waits to move onto the card ({}): {} gate(s) have not yet uploaded everything; sync again later",
                    yuan(m.amount),
                    m.move_id,
                    m.gates_waiting
                ),
            }
        }
        match done {
            Finished::Nothing => println!("no top-up is pending"),
            Finished::AlreadyCredited(b) => {
                println!("the card had taken the top-up; balance {}", yuan(b))
            }
            Finished::Credited(b) => println!("top-up credited; balance {}", yuan(b)),
            Finished::Refunded(a) => println!("top-up of {} refunded to the bank card", yuan(a)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a pending load is sent: a top-up to the operator's `loads`, a
/// moved balance to its move (`base` ends with the operator's `/`).
fn load_url(base: &str, p: &PendingLoad) -> String {
    match &p.move_id {
        Some(id) => format!("{base}moves/{id}/load"),
        None => format!("{base}loads"),
    }
}

/// A move ordered onto the device's card, as `sync` took it or left it.
#[derive(serde::Serialize)]
pub(crate) struct MoveTaken {
    pub(crate) move_id: String,
    pub(crate) amount: u32,
    /// Gates still to confirm the hotlist: not taken yet.
    pub(crate) gates_waiting: u64,
    /// The card's balance once taken.
    pub(crate) balance: Option<u32>,
}

/// An ordered move as the operator lists it.
#[derive(serde::Deserialize)]
struct WireOrderedMove {
    move_id: String,
    amount: u32,
    gates_waiting: u64,
}

/// Takes every balance its holder ordered onto the device's card (at most
/// `MAX_MOVES_PER_SYNC`), each loaded under its move id; one whose gates
/// have not all confirmed the hotlist is left for a later sync.
pub(crate) async fn take_ordered_moves(
    device: &mut Device,
    transit: &str,
    operator: &str,
) -> anyhow::Result<Vec<MoveTaken>> {
    let Some(purse) = device.purses()?.into_iter().next() else {
        return Ok(Vec::new());
    };
    let base = format!("{}/transit/v1/{operator}/", transit.trim_end_matches('/'));
    let number = hex::encode(purse.public.serial);
    let url = format!("{base}cards/{number}/moves");
    let listed = crate::gate::send(reqwest::Client::new().get(&url)).await?;
    let moves: Vec<WireOrderedMove> =
        serde_json::from_value(listed["moves"].clone()).context("the operator's moves")?;
    let mut out = Vec::new();
    for m in moves.into_iter().take(MAX_MOVES_PER_SYNC) {
        let balance = if m.gates_waiting == 0 && m.amount > 0 {
            let url = format!("{base}moves/{}/load", m.move_id);
            let b = take_move(device, m.amount, m.move_id.clone(), |p: PendingLoad| {
                operator_load(&url, p)
            })
            .await?;
            Some(b)
        } else {
            None
        };
        out.push(MoveTaken {
            move_id: m.move_id,
            amount: m.amount,
            gates_waiting: m.gates_waiting,
            balance,
        });
    }
    Ok(out)
}

/// The operator's request of a pending load.
pub(crate) fn wire_load(p: &PendingLoad) -> anyhow::Result<WireLoad> {
    let payment = match &p.payment {
        Some(s) => Some(serde_json::from_str(s).context("the pending top-up's payment")?),
        None => None,
    };
    Ok(WireLoad {
        load_id: p.load_id.clone(),
        card_number: p.card_number.clone(),
        amount: p.amount,
        terminal: p.terminal.clone(),
        init: p.init.clone(),
        payment,
    })
}

/// The operator's answer to the pending load.
pub(crate) async fn operator_load(url: &str, p: PendingLoad) -> anyhow::Result<LoadAnswer> {
    let v = post_async(url, &serde_json::to_value(wire_load(&p)?)?).await?;
    load_answer(v)
}

/// What CREDIT FOR LOAD needs of the operator's answer to a load.
pub(crate) fn load_answer(v: Value) -> anyhow::Result<LoadAnswer> {
    let l: WireLoaded = serde_json::from_value(v).context("the operator's answer")?;
    Ok(LoadAnswer {
        mac2: hex_array(&l.mac2).context("the operator's MAC2")?,
        at: parse_date_time(&l.at).context("the operator's date-time")?,
    })
}

/// The operator's refund of the pending load.
pub(crate) async fn operator_refund(url: &str, p: PendingLoad) -> anyhow::Result<()> {
    let v = post_async(url, &serde_json::to_value(wire_load(&p)?)?).await?;
    let r: Refunded = serde_json::from_value(v).context("the operator's answer")?;
    anyhow::ensure!(r.load_id == p.load_id, "the operator refunded another load");
    Ok(())
}

/// The operator whose card range holds the purse's number.
pub(crate) fn operator_of(state: &PurseState) -> anyhow::Result<String> {
    let number = hex::encode(state.public.serial);
    TransitConfig::default_operators()
        .operators
        .iter()
        .find(|op| op.card_first <= number && number <= op.card_last)
        .map(|op| op.id.clone())
        .with_context(|| format!("card {number} belongs to no known operator"))
}

fn yuan(minor: u32) -> String {
    Money::new(i64::from(minor), Currency::CNY).to_string()
}

fn cards(ks: &Keystore, json: bool) -> anyhow::Result<ExitCode> {
    let device = ks.open()?;
    let purses = device.purses()?;
    if json {
        let list: Vec<Value> = purses.iter().map(card_json).collect();
        println!(
            "{}",
            json!({"cards": list, "pending_load": device.pending_load().map(|p| &p.load_id)})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {:?}: {} transit card(s)",
        device.kind().as_str(),
        device.name(),
        purses.len()
    );
    for p in &purses {
        print_card(p);
    }
    if let Some(p) = device.pending_load() {
        println!(
            "top-up {} of {} was sent but not credited: `paytap device transit sync` credits it, `cancel` has it refunded",
            p.load_id,
            yuan(p.amount)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_card(p: &PurseState) {
    let op = operator_of(p).unwrap_or_else(|_| "unknown".into());
    println!(
        "{} ({op})  balance {}  online counter {}  offline counter {}",
        hex::encode(p.public.serial),
        yuan(p.balance),
        p.online_counter,
        p.offline_counter
    );
    for r in p.log.iter().take(SHOWN_LOG_RECORDS) {
        println!(
            "  #{:<4} {} {:>10}  terminal {}  {}",
            r.counter,
            if r.kind == TYPE_LOAD {
                "load    "
            } else {
                "purchase"
            },
            yuan(r.amount),
            hex::encode(r.terminal),
            date_time_digits(&r.at)
        );
    }
}

fn card_json(p: &PurseState) -> Value {
    let log: Vec<Value> = p
        .log
        .iter()
        .take(SHOWN_LOG_RECORDS)
        .map(|r| {
            json!({"counter": r.counter, "type": r.kind, "amount": r.amount,
                   "terminal": hex::encode(r.terminal),
                   "at": date_time_digits(&r.at)})
        })
        .collect();
    json!({
        "card_number": hex::encode(p.public.serial),
        "operator": operator_of(p).ok(),
        "balance": p.balance,
        "online_counter": p.online_counter,
        "offline_counter": p.offline_counter,
        "log": log,
    })
}
