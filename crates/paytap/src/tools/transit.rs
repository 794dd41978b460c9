//! `paytap tools transit`: the transit purse's keys, MACs and TACs from the
//! command line (library: `paytap-purse` `crypto` and `card`), so an engineer can
//! check a card against their own. Keys are given in hex: a workbench for test
//! keys, not for production key material. Amounts and balances are decimal
//! minor units; every other field is hex (BCD for date and time).

use super::fixed;
use anyhow::{Context, bail};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Subcommand};
use paytap_purse::card::{
    load_mac1_input, load_mac2_input, load_tac_input, purchase_mac1_input, purchase_tac_input,
};
use paytap_purse::crypto::{self, PurseKey, SessionKey};
use paytap_purse::records::{DateTime, TYPE_COMPOUND, TYPE_LOAD, TYPE_PURCHASE};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// The session (process) key: 3DES-ECB of the data under a 16-byte card key.
    SessionKey {
        /// Card load or purchase key, 32 hex digits.
        #[arg(long)]
        key: String,
        /// Random ‖ counter ‖ `8000` (load) or terminal sequence (purchase), 16 hex digits.
        #[arg(long)]
        data: String,
        /// Print the result as one JSON object (errors too).
        #[arg(long)]
        json: bool,
    },
    /// The purse MAC (MAC1/MAC2): single-DES CBC-MAC, zero IV, `80 00..` padding, 4 bytes.
    Mac {
        /// Session key, 16 hex digits.
        #[arg(long)]
        session_key: String,
        /// The MAC input, hex.
        #[arg(long)]
        data: String,
        /// Print the result as one JSON object (errors too).
        #[arg(long)]
        json: bool,
    },
    /// The TAC: the purse MAC under the DES key left half ⊕ right half of the TAC key.
    Tac {
        /// Card TAC key, 32 hex digits.
        #[arg(long)]
        key: String,
        /// The TAC input, hex.
        #[arg(long)]
        data: String,
        /// Print the result as one JSON object (errors too).
        #[arg(long)]
        json: bool,
    },
    /// A load's session key, MAC1 (card), MAC2 (host) and TAC (card) from named fields.
    Load(LoadArgs),
    /// A purchase's session key, MAC1 (SAM), MAC2 (card) and TAC (card) from named fields.
    Purchase(PurchaseArgs),
}

/// `tools transit load`: the fields a load's MACs and TAC cover.
#[derive(Args)]
pub struct LoadArgs {
    /// Card load key, 32 hex digits.
    #[arg(long)]
    key: String,
    /// Card TAC key, 32 hex digits (without it no TAC is computed).
    #[arg(long)]
    tac_key: Option<String>,
    /// Card random from INITIALIZE FOR LOAD, 8 hex digits.
    #[arg(long)]
    random: String,
    /// Online counter, 4 hex digits.
    #[arg(long)]
    online_counter: String,
    /// Balance before the load, decimal minor units.
    #[arg(long)]
    balance: u32,
    /// Amount, decimal minor units.
    #[arg(long)]
    amount: u32,
    /// Transaction type, 2 hex digits.
    #[arg(long, default_value = "02", value_parser = type_values(LOAD_TYPES))]
    r#type: String,
    /// Terminal id, 12 hex digits.
    #[arg(long)]
    terminal: String,
    /// Host date, YYYYMMDD.
    #[arg(long)]
    date: String,
    /// Host time, hhmmss.
    #[arg(long)]
    time: String,
    /// Print the result as one JSON object (errors too).
    #[arg(long)]
    json: bool,
}

/// `tools transit purchase`: the fields a purchase's MACs and TAC cover.
#[derive(Args)]
pub struct PurchaseArgs {
    /// Card purchase key, 32 hex digits.
    #[arg(long)]
    key: String,
    /// Card TAC key, 32 hex digits (without it no TAC is computed).
    #[arg(long)]
    tac_key: Option<String>,
    /// Card random from INITIALIZE FOR PURCHASE, 8 hex digits.
    #[arg(long)]
    random: String,
    /// Offline counter, 4 hex digits.
    #[arg(long)]
    offline_counter: String,
    /// Terminal transaction sequence, 8 hex digits.
    #[arg(long)]
    terminal_seq: String,
    /// Amount, decimal minor units.
    #[arg(long)]
    amount: u32,
    /// Transaction type, 2 hex digits.
    #[arg(long, default_value = "06", value_parser = type_values(PURCHASE_TYPES))]
    r#type: String,
    /// Terminal id, 12 hex digits.
    #[arg(long)]
    terminal: String,
    /// Terminal date, YYYYMMDD.
    #[arg(long)]
    date: String,
    /// Terminal time, hhmmss.
    #[arg(long)]
    time: String,
    /// Print the result as one JSON object (errors too).
    #[arg(long)]
    json: bool,
}

fn card_key(hex_s: &str, what: &str) -> anyhow::Result<PurseKey> {
    Ok(PurseKey::new(fixed::<16>(hex_s, what)?))
}

fn data(hex_s: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(hex_s.trim()).context("--data is not valid hex")
}

fn date_time(date: &str, time: &str) -> anyhow::Result<DateTime> {
    let d = fixed::<4>(date, "date")?;
    let t = fixed::<3>(time, "time")?;
    DateTime::parse(d, t)
        .context("--date/--time must be a BCD calendar date YYYYMMDD and time hhmmss")
}

/// A transaction type `--type` takes, with what it is.
type TypeId = (u8, &'static str);

/// `tools transit load --type`: the types a load MAC covers (JR/T 0025).
const LOAD_TYPES: &[TypeId] = &[(0x01, "deposit-book load"), (TYPE_LOAD, "purse load")];
/// `tools transit purchase --type`: the types a purchase MAC covers.
const PURCHASE_TYPES: &[TypeId] = &[
    (0x05, "deposit-book purchase"),
    (TYPE_PURCHASE, "purse purchase"),
    (TYPE_COMPOUND, "compound purchase"),
];

/// `--type`: `allowed` as 2 hex digits, each with what it is, listed by
/// `--help`.
fn type_values(allowed: &[TypeId]) -> PossibleValuesParser {
    PossibleValuesParser::new(
        allowed
            .iter()
            .map(|(t, what)| PossibleValue::new(format!("{t:02X}")).help(*what)),
    )
}

/// The type byte of `s`, one of `allowed` (clap has checked the list; this
/// checks it again for callers that bypass it).
fn type_id(s: &str, allowed: &[TypeId]) -> anyhow::Result<u8> {
    let [t] = fixed::<1>(s, "type")?;
    if !allowed.iter().any(|(a, _)| *a == t) {
        bail!(
            "--type must be one of {}",
            allowed
                .iter()
                .map(|(a, _)| format!("{a:02X}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(t)
}

/// Prints `name value` lines (the last value is the last word) or one JSON object.
fn emit(json: bool, fields: &[(&str, String)]) {
    if json {
        let obj: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        println!("{}", Value::Object(obj));
    } else if let [(_, only)] = fields {
        println!("{only}");
    } else {
        for (k, v) in fields {
            println!("{k} {v}");
        }
    }
}

fn hx(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// Runs one transit workbench command: a dispatch, one arm per subcommand.
pub fn run(cmd: Cmd) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::SessionKey { key, data, json } => {
            let sk = crypto::session_key(&card_key(&key, "key")?, fixed::<8>(&data, "data")?);
            emit(json, &[("session_key", hx(sk.expose()))]);
        }
        Cmd::Mac {
            session_key,
            data: d,
            json,
        } => {
            let sk = SessionKey::new(fixed::<8>(&session_key, "session-key")?);
            emit(json, &[("mac", hx(&crypto::mac(&sk, &data(&d)?)))]);
        }
        Cmd::Tac { key, data: d, json } => {
            let k = card_key(&key, "key")?;
            emit(json, &[("tac", hx(&crypto::tac(&k, &data(&d)?)))]);
        }
        Cmd::Load(args) => emit(args.json, &load(&args)?),
        Cmd::Purchase(args) => emit(args.json, &purchase(&args)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// A load's session key, MAC1 and MAC2, and its TAC when the TAC key is
/// given, as named fields.
fn load(a: &LoadArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let k = card_key(&a.key, "key")?;
    let tac_key = a
        .tac_key
        .as_deref()
        .map(|t| card_key(t, "tac-key"))
        .transpose()?;
    let counter = u16::from_be_bytes(fixed::<2>(&a.online_counter, "online-counter")?);
    let terminal = fixed::<6>(&a.terminal, "terminal")?;
    let at = date_time(&a.date, &a.time)?;
    let t = type_id(&a.r#type, LOAD_TYPES)?;
    let new_balance = a
        .balance
        .checked_add(a.amount)
        .context("--balance plus --amount overflows 4 bytes")?;
    let sk = crypto::session_key(
        &k,
        crypto::load_session_input(fixed::<4>(&a.random, "random")?, counter),
    );
    let mut mac1_in = load_mac1_input(a.balance, a.amount, &terminal);
    mac1_in[8] = t;
    let mut mac2_in = load_mac2_input(a.amount, &terminal, &at);
    mac2_in[4] = t;
    let mut out = vec![
        ("session_key", hx(sk.expose())),
        ("mac1", hx(&crypto::mac(&sk, &mac1_in))),
        ("mac2", hx(&crypto::mac(&sk, &mac2_in))),
    ];
    if let Some(tk) = tac_key {
        let mut tac_in = load_tac_input(new_balance, counter, a.amount, &terminal, &at);
        tac_in[10] = t;
        out.push(("tac", hx(&crypto::tac(&tk, &tac_in))));
    }
    Ok(out)
}

/// A purchase's session key, MAC1 and MAC2, and its TAC when the TAC key
/// is given, as named fields.
fn purchase(a: &PurchaseArgs) -> anyhow::Result<Vec<(&'static str, String)>> {
    let k = card_key(&a.key, "key")?;
    let tac_key = a
        .tac_key
        .as_deref()
        .map(|t| card_key(t, "tac-key"))
        .transpose()?;
    let counter = u16::from_be_bytes(fixed::<2>(&a.offline_counter, "offline-counter")?);
    let seq = u32::from_be_bytes(fixed::<4>(&a.terminal_seq, "terminal-seq")?);
    let terminal = fixed::<6>(&a.terminal, "terminal")?;
    let at = date_time(&a.date, &a.time)?;
    let t = type_id(&a.r#type, PURCHASE_TYPES)?;
    let sk = crypto::session_key(
        &k,
        crypto::purchase_session_input(fixed::<4>(&a.random, "random")?, counter, seq),
    );
    let mac1_in = purchase_mac1_input(a.amount, t, &terminal, &at);
    let mut out = vec![
        ("session_key", hx(sk.expose())),
        ("mac1", hx(&crypto::mac(&sk, &mac1_in))),
        ("mac2", hx(&crypto::mac(&sk, &a.amount.to_be_bytes()))),
    ];
    if let Some(tk) = tac_key {
        let tac_in = purchase_tac_input(a.amount, t, &terminal, seq, &at);
        out.push(("tac", hx(&crypto::tac(&tk, &tac_in))));
    }
    Ok(out)
}
