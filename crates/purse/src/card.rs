//! The purse card application: a state machine over typed commands.
//!
//! Invariants (checked with `assert!` where a breach would move money wrongly):
//! the balance is never negative (`u32`) nor above the operator's maximum; the
//! online and offline counters only grow and never wrap (a card whose counter is
//! exhausted refuses further transactions); the counter is incremented and the
//! new state persisted before the answer leaves the card. A torn purchase (field
//! lost between DEBIT and its answer) is recovered with GET TRANSACTION PROVE,
//! which returns the last purchase's MAC2 and TAC without debiting again.

use subtle::ConstantTimeEq;

use crate::command::{
    self, Command, Init, PurchaseKind, SFI_LOG, SFI_PUBLIC, SFI_TRIPS, Sw, TUNION_AID, sw,
};
use crate::crypto::{self, CardKeys, MAC_LEN, PurseKey, SessionKey, TunionCardKeys};
use crate::records::{
    DateTime, LogRecord, PublicData, TERMINAL_ID_LEN, TYPE_COMPOUND, TYPE_LOAD, TYPE_PURCHASE,
    TripRecord,
};

/// Log records the card keeps in file 0x18 (PBOC keeps the last ten).
pub const LOG_RECORDS: usize = 10;
/// Trip records the card keeps in file 0x1E (the last entry and exit, and two before).
pub const TRIP_RECORDS: usize = 4;
/// The key index of the card's own city's keys: the only one for a load.
pub const KEY_INDEX: u8 = 0x01;
/// The key index of the national T-Union purchase key (JT/T 978), which a
/// member card holds beside its city's: a gate of another member city
/// debits it under this index, and the TAC is then made with the card's
/// T-Union TAC key, so the accepting city's clearing can check it.
pub const TUNION_KEY_INDEX: u8 = 0x02;
/// Key version returned by INITIALIZE.
pub const KEY_VERSION: u8 = 0x01;
/// Algorithm identifier returned by INITIALIZE (00: 3DES).
pub const ALGORITHM_ID: u8 = 0x00;
/// Last usable counter value: a counter never wraps, so the card stops here.
pub const COUNTER_LIMIT: u16 = u16::MAX;
/// Largest maximum balance an operator may set (the amount field is 4 bytes,
/// kept below `i32::MAX` so every reader's signed parse agrees).
pub const MAX_BALANCE_CEILING: u32 = i32::MAX as u32;

/// The persistent state of one purse: everything that must survive power loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurseState {
    /// File 0x15.
    pub public: PublicData,
    /// The card's keys.
    pub keys: CardKeys,
    /// Operator's maximum balance (minor units).
    pub max_balance: u32,
    /// Current balance (minor units).
    pub balance: u32,
    /// Next online (load) counter.
    pub online_counter: u16,
    /// Next offline (purchase) counter.
    pub offline_counter: u16,
    /// File 0x18, newest first.
    pub log: Vec<LogRecord>,
    /// File 0x1E, newest first.
    pub trips: Vec<TripRecord>,
    /// Proof of the last purchase, for GET TRANSACTION PROVE.
    pub last_purchase: Option<Proof>,
    /// The T-Union purchase and TAC keys of a member card; `None` for a
    /// card that only its own city accepts.
    pub tunion: Option<TunionCardKeys>,
}

/// The proof of one completed purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    /// Transaction type (06 or 09).
    pub kind: u8,
    /// The offline counter it used.
    pub counter: u16,
    /// The card's MAC2.
    pub mac2: [u8; MAC_LEN],
    /// The TAC.
    pub tac: [u8; MAC_LEN],
}

impl PurseState {
    /// A fresh purse with a zero balance.
    pub fn new(public: PublicData, keys: CardKeys, max_balance: u32) -> Self {
        assert!(
            max_balance <= MAX_BALANCE_CEILING,
            "maximum balance above the ceiling"
        );
        Self {
            public,
            keys,
            max_balance,
            balance: 0,
            online_counter: 0,
            offline_counter: 0,
            log: Vec::new(),
            trips: Vec::new(),
            last_purchase: None,
            tunion: None,
        }
    }

    /// The same purse with the T-Union keys of a member card.
    pub fn with_tunion(mut self, keys: TunionCardKeys) -> Self {
        self.tunion = Some(keys);
        self
    }

    /// The purchase and TAC keys of `key_index`, if the card holds it.
    fn purchase_keys(&self, key_index: u8) -> Option<(&PurseKey, &PurseKey)> {
        match key_index {
            KEY_INDEX => Some((&self.keys.purchase, &self.keys.tac)),
            TUNION_KEY_INDEX => self.tunion.as_ref().map(|t| (&t.purchase, &t.tac)),
            _ => None,
        }
    }

    fn push_log(&mut self, r: LogRecord) {
        self.log.insert(0, r);
        self.log.truncate(LOG_RECORDS);
    }

    fn push_trip(&mut self, r: TripRecord) {
        self.trips.insert(0, r);
        self.trips.truncate(TRIP_RECORDS);
    }
}

/// A transaction between INITIALIZE and its completion (volatile: lost with the field).
#[derive(Clone, Debug)]
enum Pending {
    Load {
        sk: SessionKey,
        init: Init,
        counter: u16,
    },
    Purchase {
        kind: PurchaseKind,
        init: Init,
        random: [u8; 4],
        counter: u16,
        trip: Option<TripRecord>,
    },
}

/// The purse application: persistent state plus the volatile session.
#[derive(Clone, Debug)]
pub struct Purse {
    state: PurseState,
    selected: bool,
    pending: Option<Pending>,
}

/// Why a state could not be persisted (the card answers [`sw::MEMORY_FAILURE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("purse state could not be persisted")]
pub struct PersistFailed;

fn ok(mut data: Vec<u8>) -> Vec<u8> {
    data.extend_from_slice(&Sw::SUCCESS.to_bytes());
    data
}

fn status(s: Sw) -> Vec<u8> {
    s.to_bytes().to_vec()
}

impl Purse {
    /// A purse over a (restored or fresh) state, not selected.
    pub fn new(state: PurseState) -> Self {
        Self {
            state,
            selected: false,
            pending: None,
        }
    }

    /// The persistent state.
    pub fn state(&self) -> &PurseState {
        &self.state
    }

    /// The field was lost or the application deselected: the session is gone.
    pub fn reset(&mut self) {
        self.selected = false;
        self.pending = None;
    }

    /// Processes one command APDU without persistence (tests, tools).
    pub fn process(&mut self, apdu: &[u8], random: [u8; 4]) -> Vec<u8> {
        self.process_with(apdu, random, |_| Ok(()))
    }

    /// Processes one command APDU. `random` is four fresh random bytes (used by
    /// INITIALIZE). A command that changes the persistent state calls `persist`
    /// with the new state before answering; if it fails, nothing changes and the
    /// card answers 6581.
    pub fn process_with(
        &mut self,
        apdu: &[u8],
        random: [u8; 4],
        persist: impl FnOnce(&PurseState) -> Result<(), PersistFailed>,
    ) -> Vec<u8> {
        let cmd = match command::parse(apdu) {
            Ok(c) => c,
            Err(s) => return status(s),
        };
        if let Command::Select { aid } = &cmd {
            return self.select(aid);
        }
        if !self.selected {
            return status(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let next = match self.step(cmd, random) {
            Ok(Step::Answer(data)) => return ok(data),
            Ok(Step::Commit(state, data)) => (state, data),
            Err(s) => return status(s),
        };
        self.commit(next, persist)
    }

    fn commit(
        &mut self,
        (state, data): (PurseState, Vec<u8>),
        persist: impl FnOnce(&PurseState) -> Result<(), PersistFailed>,
    ) -> Vec<u8> {
        self.pending = None;
        match persist(&state) {
            Ok(()) => {
                self.state = state;
                ok(data)
            }
            Err(PersistFailed) => status(sw::MEMORY_FAILURE),
        }
    }

    fn select(&mut self, aid: &[u8]) -> Vec<u8> {
        self.pending = None;
        if aid != TUNION_AID {
            self.selected = false;
            return status(Sw::FILE_NOT_FOUND);
        }
        self.selected = true;
        let mut fci = vec![
            0x6F,
            (TUNION_AID.len() + 2) as u8,
            0x84,
            TUNION_AID.len() as u8,
        ];
        fci.extend_from_slice(&TUNION_AID);
        ok(fci)
    }

    fn step(&mut self, cmd: Command, random: [u8; 4]) -> Result<Step, Sw> {
        match cmd {
            Command::Select { .. } => Err(Sw::CONDITIONS_NOT_SATISFIED),
            Command::ReadBinary { sfi, offset, le } => {
                self.read_binary(sfi, offset, le).map(Step::Answer)
            }
            Command::ReadRecord { sfi, record } => self.read_record(sfi, record).map(Step::Answer),
            Command::GetBalance => Ok(Step::Answer(self.state.balance.to_be_bytes().to_vec())),
            Command::InitLoad(init) => self.init_load(init, random).map(Step::Answer),
            Command::CreditLoad { at, mac2 } => self.credit(at, mac2),
            Command::InitPurchase(kind, init) => {
                self.init_purchase(kind, init, random).map(Step::Answer)
            }
            Command::UpdateCappCache { record, sfi, data } => {
                self.update_capp(record, sfi, &data).map(Step::Answer)
            }
            Command::Debit {
                terminal_seq,
                at,
                mac1,
            } => self.debit(terminal_seq, at, mac1),
            Command::Prove { kind, counter } => self.prove(kind, counter).map(Step::Answer),
        }
    }

    fn read_binary(&self, sfi: u8, offset: u8, le: usize) -> Result<Vec<u8>, Sw> {
        if sfi != SFI_PUBLIC {
            return Err(Sw::FILE_NOT_FOUND);
        }
        let file = self.state.public.encode();
        let rest = file
            .get(usize::from(offset)..)
            .filter(|r| !r.is_empty())
            .ok_or(Sw::WRONG_P1P2)?;
        let n = if le == 0 {
            rest.len()
        } else {
            le.min(rest.len())
        };
        Ok(rest[..n].to_vec())
    }

    fn read_record(&self, sfi: u8, record: u8) -> Result<Vec<u8>, Sw> {
        let idx = usize::from(record).saturating_sub(1);
        match sfi {
            SFI_LOG => self
                .state
                .log
                .get(idx)
                .map(|r| r.encode().to_vec())
                .ok_or(Sw::RECORD_NOT_FOUND),
            SFI_TRIPS => self
                .state
                .trips
                .get(idx)
                .map(|r| r.encode().to_vec())
                .ok_or(Sw::RECORD_NOT_FOUND),
            _ => Err(Sw::FILE_NOT_FOUND),
        }
    }

    fn init_load(&mut self, init: Init, random: [u8; 4]) -> Result<Vec<u8>, Sw> {
        self.pending = None;
        if init.key_index != KEY_INDEX {
            return Err(sw::KEY_INDEX_NOT_SUPPORTED);
        }
        check_init(&init, false)?;
        let s = &self.state;
        if s.online_counter == COUNTER_LIMIT {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        if s.balance
            .checked_add(init.amount)
            .is_none_or(|b| b > s.max_balance)
        {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let sk = crypto::session_key(
            &s.keys.load,
            crypto::load_session_input(random, s.online_counter),
        );
        let mac1 = crypto::mac(
            &sk,
            &load_mac1_input(s.balance, init.amount, &init.terminal),
        );
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&s.balance.to_be_bytes());
        out.extend_from_slice(&s.online_counter.to_be_bytes());
        out.extend_from_slice(&[KEY_VERSION, ALGORITHM_ID]);
        out.extend_from_slice(&random);
        out.extend_from_slice(&mac1);
        self.pending = Some(Pending::Load {
            sk,
            init,
            counter: s.online_counter,
        });
        Ok(out)
    }

    fn credit(&mut self, at: DateTime, mac2: [u8; 4]) -> Result<Step, Sw> {
        let Some(Pending::Load { sk, init, counter }) = self.pending.take() else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        let expect = crypto::mac(&sk, &load_mac2_input(init.amount, &init.terminal, &at));
        if !bool::from(expect.ct_eq(&mac2)) {
            return Err(sw::MAC_INVALID);
        }
        let mut next = self.state.clone();
        assert_eq!(
            counter, next.online_counter,
            "a load completes on the counter it began with"
        );
        next.balance = next
            .balance
            .checked_add(init.amount)
            .filter(|b| *b <= next.max_balance)
            .ok_or(Sw::CONDITIONS_NOT_SATISFIED)?;
        next.online_counter = counter + 1;
        next.push_log(LogRecord {
            counter,
            overdraft: 0,
            amount: init.amount,
            kind: TYPE_LOAD,
            terminal: init.terminal,
            at,
        });
        let tac = crypto::tac(
            &next.keys.tac,
            &load_tac_input(next.balance, counter, init.amount, &init.terminal, &at),
        );
        Ok(Step::Commit(next, tac.to_vec()))
    }

    fn init_purchase(
        &mut self,
        kind: PurchaseKind,
        init: Init,
        random: [u8; 4],
    ) -> Result<Vec<u8>, Sw> {
        self.pending = None;
        if self.state.purchase_keys(init.key_index).is_none() {
            return Err(sw::KEY_INDEX_NOT_SUPPORTED);
        }
        check_init(&init, kind == PurchaseKind::Compound)?;
        let s = &self.state;
        if s.offline_counter == COUNTER_LIMIT {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        if init.amount > s.balance {
            return Err(sw::INSUFFICIENT_BALANCE);
        }
        let mut out = Vec::with_capacity(15);
        out.extend_from_slice(&s.balance.to_be_bytes());
        out.extend_from_slice(&s.offline_counter.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, KEY_VERSION, ALGORITHM_ID]);
        out.extend_from_slice(&random);
        // The session key needs the terminal's sequence, which comes with DEBIT.
        self.pending = Some(Pending::Purchase {
            kind,
            init,
            random,
            counter: s.offline_counter,
            trip: None,
        });
        Ok(out)
    }

    fn update_capp(&mut self, record: u8, sfi: u8, data: &[u8]) -> Result<Vec<u8>, Sw> {
        let Some(Pending::Purchase {
            kind: PurchaseKind::Compound,
            trip,
            ..
        }) = self.pending.as_mut()
        else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        if sfi != SFI_TRIPS {
            return Err(Sw::FILE_NOT_FOUND);
        }
        if record != 1 {
            return Err(Sw::RECORD_NOT_FOUND);
        }
        *trip = Some(TripRecord::decode(data).ok_or(Sw::WRONG_DATA)?);
        Ok(Vec::new())
    }

    fn debit(&mut self, terminal_seq: u32, at: DateTime, mac1: [u8; 4]) -> Result<Step, Sw> {
        let Some(Pending::Purchase {
            kind,
            init,
            random,
            counter,
            trip,
            ..
        }) = self.pending.take()
        else {
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        };
        if init.amount == 0 && trip.is_none_or(|t| t.kind != crate::records::TRIP_ENTRY) {
            // A zero purchase is only the entry of a trip priced at its exit.
            return Err(Sw::CONDITIONS_NOT_SATISFIED);
        }
        let type_id = purchase_type(kind);
        let (purchase_key, tac_key) = self
            .state
            .purchase_keys(init.key_index)
            .map(|(p, t)| (p.clone(), t.clone()))
            .ok_or(sw::KEY_INDEX_NOT_SUPPORTED)?;
        let sk = crypto::session_key(
            &purchase_key,
            crypto::purchase_session_input(random, counter, terminal_seq),
        );
        let expect = crypto::mac(
            &sk,
            &purchase_mac1_input(init.amount, type_id, &init.terminal, &at),
        );
        if !bool::from(expect.ct_eq(&mac1)) {
            return Err(sw::MAC_INVALID);
        }
        let mut next = self.state.clone();
        assert_eq!(
            counter, next.offline_counter,
            "a purchase completes on the counter it began with"
        );
        next.balance = next
            .balance
            .checked_sub(init.amount)
            .ok_or(sw::INSUFFICIENT_BALANCE)?;
        next.offline_counter = counter + 1;
        next.push_log(LogRecord {
            counter,
            overdraft: 0,
            amount: init.amount,
            kind: type_id,
            terminal: init.terminal,
            at,
        });
        if let Some(t) = trip {
            next.push_trip(TripRecord {
                balance: next.balance,
                ..t
            });
        }
        let mac2 = crypto::mac(&sk, &init.amount.to_be_bytes());
        let tac = crypto::tac(
            &tac_key,
            &purchase_tac_input(init.amount, type_id, &init.terminal, terminal_seq, &at),
        );
        next.last_purchase = Some(Proof {
            kind: type_id,
            counter,
            mac2,
            tac,
        });
        let mut out = tac.to_vec();
        out.extend_from_slice(&mac2);
        Ok(Step::Commit(next, out))
    }

    fn prove(&self, kind: u8, counter: u16) -> Result<Vec<u8>, Sw> {
        if !matches!(kind, TYPE_PURCHASE | TYPE_COMPOUND) {
            return Err(Sw::INCORRECT_P1P2);
        }
        match self.state.last_purchase {
            Some(p) if p.kind == kind && p.counter == counter => {
                let mut out = p.mac2.to_vec();
                out.extend_from_slice(&p.tac);
                Ok(out)
            }
            _ => Err(sw::PROVE_UNAVAILABLE),
        }
    }
}

enum Step {
    Answer(Vec<u8>),
    Commit(PurseState, Vec<u8>),
}

/// Checks an INITIALIZE's amount (its key index is checked by the
/// caller against the keys the card holds); only a compound purchase may
/// be of zero (a metro entry, priced at the exit), and its DEBIT then
/// needs an entry trip record.
fn check_init(init: &Init, zero_allowed: bool) -> Result<(), Sw> {
    if init.amount == 0 && !zero_allowed {
        return Err(Sw::WRONG_DATA);
    }
    Ok(())
}

/// The transaction type of a purchase variant.
pub fn purchase_type(kind: PurchaseKind) -> u8 {
    match kind {
        PurchaseKind::Simple => TYPE_PURCHASE,
        PurchaseKind::Compound => TYPE_COMPOUND,
    }
}

/// Load MAC1 input: balance(4) ‖ amount(4) ‖ type(1) ‖ terminal(6).
pub fn load_mac1_input(balance: u32, amount: u32, terminal: &[u8; TERMINAL_ID_LEN]) -> Vec<u8> {
    let mut d = balance.to_be_bytes().to_vec();
    d.extend_from_slice(&amount.to_be_bytes());
    d.push(TYPE_LOAD);
    d.extend_from_slice(terminal);
    d
}

/// Load MAC2 input: amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4) ‖ time(3).
pub fn load_mac2_input(amount: u32, terminal: &[u8; TERMINAL_ID_LEN], at: &DateTime) -> Vec<u8> {
    purchase_mac1_input(amount, TYPE_LOAD, terminal, at)
}

/// Load TAC input: new balance(4) ‖ online counter used(2) ‖ amount(4) ‖ type(1) ‖
/// terminal(6) ‖ date(4) ‖ time(3).
pub fn load_tac_input(
    new_balance: u32,
    counter: u16,
    amount: u32,
    terminal: &[u8; TERMINAL_ID_LEN],
    at: &DateTime,
) -> Vec<u8> {
    let mut d = new_balance.to_be_bytes().to_vec();
    d.extend_from_slice(&counter.to_be_bytes());
    d.extend_from_slice(&load_mac2_input(amount, terminal, at));
    d
}

/// Purchase MAC1 input: amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4) ‖ time(3).
pub fn purchase_mac1_input(
    amount: u32,
    type_id: u8,
    terminal: &[u8; TERMINAL_ID_LEN],
    at: &DateTime,
) -> Vec<u8> {
    let mut d = amount.to_be_bytes().to_vec();
    d.push(type_id);
    d.extend_from_slice(terminal);
    d.extend_from_slice(&at.date);
    d.extend_from_slice(&at.time);
    d
}

/// Purchase TAC input: amount(4) ‖ type(1) ‖ terminal(6) ‖ terminal sequence(4) ‖
/// date(4) ‖ time(3).
pub fn purchase_tac_input(
    amount: u32,
    type_id: u8,
    terminal: &[u8; TERMINAL_ID_LEN],
    terminal_seq: u32,
    at: &DateTime,
) -> Vec<u8> {
    let mut d = amount.to_be_bytes().to_vec();
    d.push(type_id);
    d.extend_from_slice(terminal);
    d.extend_from_slice(&terminal_seq.to_be_bytes());
    d.extend_from_slice(&at.date);
    d.extend_from_slice(&at.time);
    d
}

/// Version byte of [`PurseState::encode`]'s format for a card without
/// T-Union keys.
pub const STATE_FORMAT: u8 = 1;
/// Version byte of the format of a member card: [`STATE_FORMAT`]'s bytes
/// followed by its T-Union purchase and TAC keys.
pub const STATE_FORMAT_TUNION: u8 = 2;

/// Why a stored purse state could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored purse state is corrupt: {0}")]
pub struct CorruptState(pub &'static str);

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CorruptState> {
        if self.0.len() < n {
            return Err(CorruptState("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CorruptState> {
        self.take(N)?
            .try_into()
            .map_err(|_| CorruptState("truncated"))
    }

    fn byte(&mut self) -> Result<u8, CorruptState> {
        Ok(self.array::<1>()?[0])
    }
}

impl PurseState {
    /// The state as bytes, for the device's encrypted keystore (holds keys: seal it).
    pub fn encode(&self) -> Vec<u8> {
        let format = match self.tunion {
            Some(_) => STATE_FORMAT_TUNION,
            None => STATE_FORMAT,
        };
        let mut b = vec![format];
        b.extend_from_slice(&self.public.encode());
        for k in [&self.keys.load, &self.keys.purchase, &self.keys.tac] {
            b.extend_from_slice(k.expose());
        }
        b.extend_from_slice(&self.max_balance.to_be_bytes());
        b.extend_from_slice(&self.balance.to_be_bytes());
        b.extend_from_slice(&self.online_counter.to_be_bytes());
        b.extend_from_slice(&self.offline_counter.to_be_bytes());
        b.push(self.log.len() as u8);
        self.log
            .iter()
            .for_each(|r| b.extend_from_slice(&r.encode()));
        b.push(self.trips.len() as u8);
        self.trips
            .iter()
            .for_each(|r| b.extend_from_slice(&r.encode()));
        match self.last_purchase {
            None => b.push(0),
            Some(p) => {
                b.extend_from_slice(&[1, p.kind]);
                b.extend_from_slice(&p.counter.to_be_bytes());
                b.extend_from_slice(&p.mac2);
                b.extend_from_slice(&p.tac);
            }
        }
        if let Some(t) = &self.tunion {
            b.extend_from_slice(t.purchase.expose());
            b.extend_from_slice(t.tac.expose());
        }
        b
    }

    /// Reads [`PurseState::encode`]'s bytes, checking every invariant.
    pub fn decode(b: &[u8]) -> Result<Self, CorruptState> {
        let mut r = Reader(b);
        let format = r.byte()?;
        if format != STATE_FORMAT && format != STATE_FORMAT_TUNION {
            return Err(CorruptState("unknown format"));
        }
        let public = PublicData::decode(r.take(crate::records::PUBLIC_DATA_LEN)?)
            .ok_or(CorruptState("public data"))?;
        let keys = CardKeys {
            load: PurseKey::new(r.array()?),
            purchase: PurseKey::new(r.array()?),
            tac: PurseKey::new(r.array()?),
        };
        let max_balance = u32::from_be_bytes(r.array()?);
        let balance = u32::from_be_bytes(r.array()?);
        if max_balance > MAX_BALANCE_CEILING || balance > max_balance {
            return Err(CorruptState("balance"));
        }
        let online_counter = u16::from_be_bytes(r.array()?);
        let offline_counter = u16::from_be_bytes(r.array()?);
        let log = read_list(
            &mut r,
            LOG_RECORDS,
            crate::records::LOG_RECORD_LEN,
            LogRecord::decode,
        )?;
        let trips = read_list(
            &mut r,
            TRIP_RECORDS,
            crate::records::TRIP_RECORD_LEN,
            TripRecord::decode,
        )?;
        let last_purchase = match r.byte()? {
            0 => None,
            1 => Some(Proof {
                kind: r.byte()?,
                counter: u16::from_be_bytes(r.array()?),
                mac2: r.array()?,
                tac: r.array()?,
            }),
            _ => return Err(CorruptState("proof")),
        };
        let tunion = match format {
            STATE_FORMAT_TUNION => Some(TunionCardKeys {
                purchase: PurseKey::new(r.array()?),
                tac: PurseKey::new(r.array()?),
            }),
            _ => None,
        };
        if !r.0.is_empty() {
            return Err(CorruptState("trailing bytes"));
        }
        Ok(Self {
            public,
            keys,
            max_balance,
            balance,
            online_counter,
            offline_counter,
            log,
            trips,
            last_purchase,
            tunion,
        })
    }
}

fn read_list<T>(
    r: &mut Reader<'_>,
    max: usize,
    len: usize,
    decode: fn(&[u8]) -> Option<T>,
) -> Result<Vec<T>, CorruptState> {
    let n = usize::from(r.byte()?);
    if n > max {
        return Err(CorruptState("too many records"));
    }
    (0..n)
        .map(|_| decode(r.take(len)?).ok_or(CorruptState("record")))
        .collect()
}
