//! `paytap gate`: an emulated metro validator of one operator's station,
//! with its SAM (terminal id, the purchase key derived from the platform's
//! keyring as the operator's host derives it) and its durable store
//! ([`store`], `gate.db` in the gate's directory).
//!
//! * `tap`: express mode (no finger, no unlock; a band included). At the
//!   entry the card gets a compound purchase of zero with its entry trip
//!   record; at the exit (`--exit`) the entry station is read back from
//!   the card's newest trip record and the fare by distance is charged
//!   with the exit record. At a T-Union member's gate a member card of
//!   another member is accepted too (T-Union, JT/T 978): debited under the
//!   national key index with the SAM's T-Union master purchase key, fares
//!   and minimum to enter by this gate's operator, the record kept and
//!   uploaded with its TAC like any other. A card of another operator
//!   where either is no member, a hotlisted card (the hotlist of a member
//!   names every member's hotlisted cards), a balance below the minimum to
//!   enter and an exit without an entry here are refused (exit 1). Each
//!   transaction is kept with its TAC before the gate opens; the SAM's
//!   terminal sequence is reserved before the DEBIT leaves.
//! * `upload`: the unsent records in batches, each batch id fixed in the
//!   store before it is sent, so a gate that crashes or loses the answer
//!   sends the same batch again and the operator counts it once.
//! * `hotlist`: downloads the operator's hotlist; later taps refuse its
//!   cards.
//!
//! Not yet: recovery of a torn tap (the purse core and its driver support
//! it; this gate taps an in-process keystore, where no answer is lost),
//! the transfer discount, and bus validators.

mod store;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use paytap_device::{Device, Tap};
use paytap_operator::wire::{WireBatch, WireHotlist, host_time};
use paytap_purse::PurseKey;
use paytap_purse::card::{KEY_INDEX, TUNION_KEY_INDEX};
use paytap_purse::command::{PurchaseKind, SFI_PUBLIC, SFI_TRIPS};
use paytap_purse::records::{
    DateTime, PublicData, TERMINAL_ID_LEN, TRIP_ENTRY, TRIP_EXIT, TripRecord,
};
use paytap_purse::sam::Sam;
use paytap_purse::terminal::{self, Next, PurchaseFlow, split};
use paytap_transit::config::{Acceptance, Operator};
use paytap_transit::fare::{may_enter, metro_fare};
use paytap_transit::{GateRecord, TransitConfig};
use paytap_types::{Currency, Money};
use paytap_vault::{KEY_FILE, Keyring};
use serde_json::json;
use zeroize::Zeroizing;

use crate::device::Unlock;
use store::{GateStore, KeptTorn};

/// The first two bytes of every gate's terminal id ("GT"); the next two
/// are its station code, the last its number at the station.
const TERMINAL_PREFIX: [u8; 2] = *b"GT";
/// Most command APDUs one tap may take.
const MAX_TAP_STEPS: usize = 8;
/// Exit code of a refused tap.
const REFUSED: u8 = 1;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

/// Which gate this is and where it keeps its store.
#[derive(ClapArgs)]
struct Gate {
    /// The operator the gate belongs to: an id of the data directory's
    /// operators.toml; the default six are beijing, shanghai, shenzhen,
    /// guangzhou, wuhan and lingnan.
    #[arg(long, default_value = "beijing")]
    operator: String,
    /// The station code (operators.toml).
    #[arg(long)]
    station: u16,
    /// The gate's number at the station.
    #[arg(long, default_value_t = 1)]
    gate: u8,
    /// The gate's directory (default ./paytap-gate/<operator>-<station>-<gate>).
    #[arg(long)]
    gate_dir: Option<PathBuf>,
    /// The platform's data directory: the SAM's key and the store's sealing
    /// key come from its keyring (or PAYTAP_KEK).
    #[arg(long, default_value = "paytap-data")]
    data_dir: PathBuf,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tap a device at the gate (entry, or exit with --exit).
    Tap {
        #[command(flatten)]
        gate: Gate,
        /// The device's secure element file.
        #[arg(long)]
        keystore: PathBuf,
        #[command(flatten)]
        unlock: Unlock,
        /// The exit gate: charges the fare by distance from the entry.
        #[arg(long)]
        exit: bool,
    },
    /// Send the unsent records to the operator in batches.
    Upload {
        #[command(flatten)]
        gate: Gate,
        /// The operators' base URL (`transit_url` in endpoints.json).
        #[arg(long)]
        transit: String,
    },
    /// Download the operator's hotlist.
    Hotlist {
        #[command(flatten)]
        gate: Gate,
        /// The operators' base URL (`transit_url` in endpoints.json).
        #[arg(long)]
        transit: String,
    },
}

/// A gate ready to work: its operator, station, terminal id, SAM key and
/// store. The demo drives one in-process.
pub(crate) struct Station {
    /// Every operator (whose card a tap reads).
    config: TransitConfig,
    op: Operator,
    station: u16,
    terminal: [u8; TERMINAL_ID_LEN],
    purchase_key: PurseKey,
    /// The T-Union master purchase key, at a member's gate.
    tunion_key: Option<PurseKey>,
    store: GateStore,
    /// The gate's key for the operator's API (its requests are signed).
    api_key: Zeroizing<[u8; 32]>,
}

/// A tap the gate let through.
pub(crate) struct Passed {
    /// The card number, 20 digits.
    pub card_number: String,
    /// The fare charged (zero at an entry).
    pub fare: u32,
    /// The card's balance after.
    pub balance: u32,
    /// The SAM's terminal sequence of the transaction.
    pub terminal_seq: u32,
    /// The card's TAC.
    pub tac: [u8; 4],
}

/// What an upload did.
pub(crate) struct Uploaded {
    /// Batches the operator answered.
    pub batches: u64,
    /// Records it accepted.
    pub accepted: u64,
    /// Records it rejected.
    pub rejected: u64,
    /// Records the gate keeps.
    pub records: u64,
    /// Records still unanswered.
    pub unsent: u64,
}

/// The platform's keyring: `PAYTAP_KEK`, else `DIR/keys.toml` (never
/// created here: a gate serves a platform that exists).
pub(crate) fn keyring(data_dir: &Path) -> anyhow::Result<Keyring> {
    if let Some(k) = Keyring::from_env()? {
        return Ok(k);
    }
    let path = data_dir.join(KEY_FILE);
    Keyring::load(&path).with_context(|| format!("reading the keyring {}", path.display()))
}

impl Station {
    /// Opens gate `gate` of `station` of `operator`, its store in `dir`.
    pub(crate) fn open(
        config: &TransitConfig,
        operator: &str,
        (station, gate): (u16, u8),
        dir: &Path,
        keyring: &Keyring,
    ) -> anyhow::Result<Station> {
        let op = config
            .operator(operator)
            .cloned()
            .with_context(|| format!("no operator {operator:?}"))?;
        if !op.metro.stations.iter().any(|s| s.code == station) {
            bail!("{} has no station {station}", op.name);
        }
        let s = station.to_be_bytes();
        let terminal = [TERMINAL_PREFIX[0], TERMINAL_PREFIX[1], s[0], s[1], 0, gate];
        let seal_key = Zeroizing::new(*keyring.subkey(&format!("transit gate {} records", op.id)));
        let store = GateStore::open(dir, &hex::encode(terminal), seal_key)?;
        let purchase_key = crate::platform::transit::master_keys(keyring, &op.id).purchase;
        let tunion_key = op
            .tunion
            .then(|| crate::platform::transit::tunion_master_keys(keyring).purchase);
        let master = crate::platform::transit::gate_api_master(keyring, &op.id);
        let api_key = paytap_operator::auth::gate_key(&master, &terminal);
        Ok(Station {
            config: config.clone(),
            op,
            station,
            terminal,
            purchase_key,
            tunion_key,
            store,
            api_key,
        })
    }

    /// The station's name.
    pub(crate) fn name(&self) -> &str {
        self.op
            .metro
            .stations
            .iter()
            .find(|s| s.code == self.station)
            .map_or("", |s| s.name.as_str())
    }

    /// An express-mode tap of `device` (entry, or exit); the inner error
    /// is why the gate stays closed.
    pub(crate) fn tap(
        &self,
        device: &mut Device,
        exit: bool,
    ) -> anyhow::Result<Result<Passed, String>> {
        let mut tap = device.tap(None)?;
        let card = match read_card(&mut tap) {
            Ok(c) => c,
            Err(why) => return Ok(Err(format!("no transit card answered: {why}"))),
        };
        let serial = paytap_transit::config::serial_from_digits(&card.number);
        let key_index = match self.key_index(serial) {
            Ok(k) => k,
            Err(why) => return Ok(Err(why)),
        };
        if self.store.hotlisted(&card.number)? {
            return Ok(Err("this card is on the hotlist".into()));
        }
        // A purchase of this card torn earlier is finished as it began
        // (recovered if the card took the DEBIT), never priced again.
        let kept = self.store.torn()?.filter(|k| Some(k.torn.serial) == serial);
        let sale = match kept {
            Some(k) => Sale::from(k),
            None => {
                let at = now();
                match self.price(&card, exit, at) {
                    Ok((fare, trip)) => Sale { fare, trip, at },
                    Err(why) => return Ok(Err(why)),
                }
            }
        };
        let mut field = |apdu: &[u8]| tap.process(apdu);
        let record = match self.purchase(&mut field, sale, key_index)? {
            Ok(r) => r,
            Err(why) => return Ok(Err(why)),
        };
        // Durable before the gate opens.
        self.store.record(&record)?;
        Ok(Ok(Passed {
            card_number: card.number,
            fare: record.amount,
            balance: record.balance_before - record.amount,
            terminal_seq: record.terminal_seq,
            tac: record.tac,
        }))
    }

    /// The key index this gate debits the card under: its own operator's
    /// card under the operator's, another member's card at a member's gate
    /// under T-Union's; otherwise why the gate refuses it.
    fn key_index(&self, serial: Option<[u8; 10]>) -> Result<u8, String> {
        let acceptance = serial.map(|s| self.config.accepts(&self.op, &s));
        match acceptance {
            Some(Acceptance::Own) => Ok(KEY_INDEX),
            Some(Acceptance::Tunion(_)) => Ok(TUNION_KEY_INDEX),
            Some(Acceptance::Refused(Some(issuer))) if self.op.tunion => Err(format!(
                "a card of another operator than {} ({issuer} is no T-Union member)",
                self.op.name
            )),
            _ if !self.op.tunion => Err(format!(
                "a card of another operator than {}, which takes no T-Union cards",
                self.op.name
            )),
            _ => Err(format!("a card of another operator than {}", self.op.name)),
        }
    }

    /// The fare and trip record of this tap, or why the gate refuses it.
    fn price(&self, card: &Card, exit: bool, at: DateTime) -> Result<(u32, TripRecord), String> {
        let trip = |kind, amount| TripRecord {
            kind,
            terminal: self.terminal,
            at,
            amount,
            balance: 0,
        };
        if !exit {
            if !may_enter(&self.op, card.balance) {
                return Err(format!(
                    "balance {} is below the {} needed to enter",
                    yuan(card.balance),
                    yuan(self.op.min_entry_balance)
                ));
            }
            return Ok((0, trip(TRIP_ENTRY, 0)));
        }
        let entry = entry_station(card.newest_trip).ok_or("no entry on this card: tap in first")?;
        let fare = metro_fare(&self.op.metro, entry, self.station).map_err(|e| e.to_string())?;
        if fare > card.balance {
            return Err(format!(
                "balance {} is below the fare {}",
                yuan(card.balance),
                yuan(fare)
            ));
        }
        Ok((fare, trip(TRIP_EXIT, fare)))
    }

    /// Sends every unsent record in batches (ids fixed before sending).
    pub(crate) async fn upload(&mut self, transit: &str) -> anyhow::Result<Uploaded> {
        let http = reqwest::Client::new();
        let (mut batches, mut accepted, mut rejected) = (0u64, 0u64, 0u64);
        while let Some((id, records)) = self.store.next_batch()? {
            let url = endpoint(transit, &self.op.id, &format!("batches/{id}"));
            let body = serde_json::to_vec(&WireBatch { records })?;
            let v = send(self.signed(http.put(&url), "PUT", &url, body)?)
                .await
                .with_context(|| {
                    format!("uploading batch {id} (kept: it is sent again next time)")
                })?;
            self.store.mark_sent(&id)?;
            batches += 1;
            accepted += v["accepted"].as_u64().unwrap_or(0);
            rejected += v["rejected"].as_array().map_or(0, |a| a.len() as u64);
        }
        let counts = self.store.counts()?;
        Ok(Uploaded {
            batches,
            accepted,
            rejected,
            records: counts.records,
            unsent: counts.unsent,
        })
    }

    /// `req` with `body`, signed with the gate's key.
    fn signed(
        &self,
        req: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let client = paytap_operator::auth::gate_client(&self.terminal);
        signed(req, (&client, &self.api_key), (method, url), body)
    }

    /// Downloads the operator's hotlist; how many cards it names.
    pub(crate) async fn hotlist(&self, transit: &str) -> anyhow::Result<usize> {
        // The operator learns how much this gate still holds unsent: a
        // lost card's balance moves only once no gate holds a record of it.
        let unsent = self.store.counts()?.unsent;
        let url = endpoint(transit, &self.op.id, &format!("hotlist?unsent={unsent}"));
        let req = reqwest::Client::new().get(&url);
        let v = send(self.signed(req, "GET", &url, Vec::new())?).await?;
        let list: WireHotlist = serde_json::from_value(v).context("the operator's hotlist")?;
        self.store.set_hotlist(&list)?;
        Ok(list.cards.len())
    }
}

impl Gate {
    fn open(&self) -> anyhow::Result<Station> {
        let dir = self.gate_dir.clone().unwrap_or_else(|| {
            PathBuf::from("paytap-gate")
                .join(format!("{}-{}-{}", self.operator, self.station, self.gate))
        });
        let config = TransitConfig::for_data_dir(&self.data_dir)
            .with_context(|| format!("the operators of {}", self.data_dir.display()))?;
        Station::open(
            &config,
            &self.operator,
            (self.station, self.gate),
            &dir,
            &keyring(&self.data_dir)?,
        )
    }
}

/// Runs one `paytap gate` subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init("warn");
    match args.command {
        Cmd::Tap {
            gate,
            keystore,
            unlock,
            exit,
        } => tap(&gate, &keystore, &unlock, exit),
        Cmd::Upload { gate, transit } => upload(&gate, &transit),
        Cmd::Hotlist { gate, transit } => hotlist(&gate, &transit),
    }
}

fn yuan(minor: u32) -> String {
    Money::new(i64::from(minor), Currency::CNY).to_string()
}

fn now() -> DateTime {
    let millis = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    host_time(millis)
}

/// Why the gate stays closed.
fn refuse(gate: &Gate, why: &str) -> anyhow::Result<ExitCode> {
    tracing::warn!(operator = %gate.operator, station = gate.station, why, "tap refused");
    if gate.json {
        println!("{}", json!({"opened": false, "refused": why}));
    } else {
        println!("gate stays closed: {why}");
    }
    Ok(ExitCode::from(REFUSED))
}

/// The card's answer's data, or why it refused.
fn ask(tap: &mut Tap<'_>, apdu: &[u8]) -> Result<Vec<u8>, String> {
    let resp = tap.process(apdu);
    let (data, sw) = split(&resp).ok_or("the card's answer is malformed")?;
    if sw.is_success() {
        Ok(data.to_vec())
    } else {
        Err(format!("the card answered {:04X}", sw.0))
    }
}

/// What the gate reads before it decides: card number, balance, newest trip.
struct Card {
    number: String,
    balance: u32,
    newest_trip: Option<TripRecord>,
}

fn read_card(tap: &mut Tap<'_>) -> Result<Card, String> {
    ask(tap, &terminal::select())?;
    let public = PublicData::decode(&ask(tap, &terminal::read_binary(SFI_PUBLIC))?)
        .ok_or("the card's public data is malformed")?;
    let balance = ask(tap, &terminal::get_balance())?;
    let balance = u32::from_be_bytes(balance.try_into().map_err(|_| "malformed balance")?);
    let newest_trip = ask(tap, &terminal::read_record(SFI_TRIPS, 1))
        .ok()
        .and_then(|b| TripRecord::decode(&b));
    Ok(Card {
        number: hex::encode(public.serial),
        balance,
        newest_trip,
    })
}

/// The entry station of a trip begun at one of this operator's gates.
fn entry_station(trip: Option<TripRecord>) -> Option<u16> {
    let t = trip.filter(|t| t.kind == TRIP_ENTRY)?;
    (t.terminal[..2] == TERMINAL_PREFIX).then(|| u16::from_be_bytes([t.terminal[2], t.terminal[3]]))
}

fn tap(gate: &Gate, keystore: &Path, unlock: &Unlock, exit: bool) -> anyhow::Result<ExitCode> {
    let g = gate.open()?;
    let mut device = unlock.open(keystore)?;
    let p = match g.tap(&mut device, exit)? {
        Ok(p) => p,
        Err(why) => return refuse(gate, &why),
    };
    if gate.json {
        println!(
            "{}",
            json!({"opened": true, "direction": if exit {"exit"} else {"entry"},
                   "card_number": p.card_number, "fare": p.fare, "balance": p.balance,
                   "terminal": hex::encode(g.terminal), "terminal_seq": p.terminal_seq,
                   "tac": hex::encode(p.tac)})
        );
    } else if exit {
        println!(
            "gate opens: exit at {}, fare {}, balance {}",
            g.name(),
            yuan(p.fare),
            yuan(p.balance)
        );
    } else {
        println!(
            "gate opens: entry at {}, balance {}",
            g.name(),
            yuan(p.balance)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The compound purchase; the SAM's sequence is reserved in the store
/// before the DEBIT leaves. The inner error is the card's refusal.
/// What a tap sells: the fare, the trip record written with it, when.
#[derive(Clone, Copy)]
struct Sale {
    fare: u32,
    trip: TripRecord,
    at: DateTime,
}

impl From<KeptTorn> for Sale {
    fn from(k: KeptTorn) -> Sale {
        Sale {
            fare: k.fare,
            trip: k.trip,
            at: k.at,
        }
    }
}

impl Station {
    /// The purchase of `sale` over `field` with the gate's SAM: its
    /// sequence and the purchase kept before the DEBIT leaves, a purchase
    /// torn earlier recovered; the record, or why it stopped.
    fn purchase(
        &self,
        field: &mut impl FnMut(&[u8]) -> Vec<u8>,
        sale: Sale,
        key_index: u8,
    ) -> anyhow::Result<Result<GateRecord, String>> {
        let store = &self.store;
        let mut sam = Sam::new(self.terminal, self.purchase_key.clone(), store.next_seq()?);
        if let Some(k) = &self.tunion_key {
            sam = sam.with_tunion(k.clone());
        }
        let torn = store.torn()?.map(|k| k.torn);
        let (mut flow, mut apdu) = PurchaseFlow::new(
            PurchaseKind::Compound,
            sale.fare,
            sale.at,
            Some(sale.trip),
            torn,
        );
        flow.use_key_index(key_index);
        for _ in 0..MAX_TAP_STEPS {
            if let Some(torn) = flow.torn() {
                // Durable before the DEBIT leaves: its sequence and the sale.
                store.reserve_seq(sam.next_seq())?;
                let (fare, trip, at) = (sale.fare, sale.trip, sale.at);
                store.set_torn(&KeptTorn {
                    torn,
                    fare,
                    trip,
                    at,
                })?;
            }
            let resp = field(&apdu);
            match flow.on_response(&resp, &mut sam) {
                Ok(Next::Send(next)) => apdu = next,
                Ok(Next::Done(r)) => {
                    return Ok(Ok(GateRecord::from_receipt(&r, sam.terminal(), sale.at)));
                }
                Err(e) => return Ok(Err(format!("the purchase stopped: {e}"))),
            }
        }
        Ok(Err("the purchase did not finish".into()))
    }
}

fn endpoint(transit: &str, operator: &str, what: &str) -> String {
    format!(
        "{}/transit/v1/{operator}/{what}",
        transit.trim_end_matches('/')
    )
}

/// A transit operator's API answered with an error (exit status 1, as any
/// refusal).
#[derive(Debug)]
pub(crate) struct OperatorRefused {
    /// The HTTP status.
    pub status: u16,
    /// The API's error code (`hotlisted`, `id_conflict`, ...).
    pub code: String,
    /// The API's message.
    pub message: String,
}

impl std::fmt::Display for OperatorRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the operator refused ({} {}): {}",
            self.status, self.code, self.message
        )
    }
}

impl std::error::Error for OperatorRefused {}

/// A transit operator's API could not be reached (exit status 4).
#[derive(Debug)]
pub(crate) struct OperatorUnreachable(pub String);

impl std::fmt::Display for OperatorUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the operator could not be reached: {}", self.0)
    }
}

impl std::error::Error for OperatorUnreachable {}

/// A request's answer: its JSON, the operator's refusal, or why it did not
/// arrive.
/// `req` with `body`, signed as `client` with `key` for the operator API
/// (`paytap_operator::auth`: the MAC over method, the URL's path and body).
fn signed(
    req: reqwest::RequestBuilder,
    (client, key): (&str, &[u8; 32]),
    (method, url): (&str, &str),
    body: Vec<u8>,
) -> anyhow::Result<reqwest::RequestBuilder> {
    use paytap_operator::auth::{CLIENT_HEADER, MAC_HEADER, sign};
    let parsed = reqwest::Url::parse(url).with_context(|| format!("the operator URL {url}"))?;
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let req = req
        .header(CLIENT_HEADER, client)
        .header(MAC_HEADER, sign(key, method, &path, &body));
    Ok(if body.is_empty() {
        req
    } else {
        req.header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    })
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    match req.send().await {
        Ok(resp) => answer(resp).await,
        Err(e) => Err(OperatorUnreachable(e.to_string()).into()),
    }
}

/// The answer's JSON, or the operator's refusal as an error.
pub(crate) async fn answer(resp: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        tracing::warn!(status = status.as_u16(), answer = %v, "the transit operator refused");
        return Err(OperatorRefused {
            status: status.as_u16(),
            code: v["error"]["code"].as_str().unwrap_or("error").to_owned(),
            message: v["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        }
        .into());
    }
    Ok(v)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn upload(gate: &Gate, transit: &str) -> anyhow::Result<ExitCode> {
    let mut g = gate.open()?;
    let u = runtime()?.block_on(g.upload(transit))?;
    if gate.json {
        println!(
            "{}",
            json!({"batches": u.batches, "accepted": u.accepted, "rejected": u.rejected,
                   "records": u.records, "unsent": u.unsent})
        );
    } else {
        println!(
            "uploaded {} batch(es): {} accepted, {} rejected; {} record(s) kept, {} unsent",
            u.batches, u.accepted, u.rejected, u.records, u.unsent
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn hotlist(gate: &Gate, transit: &str) -> anyhow::Result<ExitCode> {
    let g = gate.open()?;
    let n = runtime()?.block_on(g.hotlist(transit))?;
    if gate.json {
        println!("{}", json!({"operator": g.op.id, "cards": n}));
    } else {
        println!("hotlist of {}: {n} card(s)", g.op.name);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[path = "gate/tests.rs"]
mod tests;
