//! A sans-IO purchase driver for a gate: it produces the next command APDU from
//! the previous response, with the SAM for MAC1/MAC2, and recovers a torn
//! purchase (answer to DEBIT lost) with GET TRANSACTION PROVE instead of
//! charging again: when the gate holds a [`Torn`] record for the card, it reads
//! the card's newest log record; if that is the torn purchase (same counter, type
//! and terminal), it asks for its MAC2 and TAC, otherwise it starts afresh.

use crate::card::{KEY_INDEX, purchase_type};
use crate::command::{PurchaseKind, SFI_LOG, SFI_PUBLIC, SFI_TRIPS, Sw, TUNION_AID};
use crate::records::{
    DateTime, LogRecord, PublicData, SERIAL_LEN, TERMINAL_ID_LEN, TRIP_RECORD_LEN, TripRecord,
};
use crate::sam::{PurchaseInit, Sam, SamError};

/// Builds a command APDU with data and Le.
fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: u8) -> Vec<u8> {
    debug_assert!(data.len() <= usize::from(u8::MAX));
    let mut b = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        b.push(data.len() as u8);
        b.extend_from_slice(data);
    }
    b.push(le);
    b
}

/// SELECT the T-Union application.
pub fn select() -> Vec<u8> {
    apdu(0x00, 0xA4, 0x04, 0x00, &TUNION_AID, 0x00)
}

/// READ BINARY of a whole file by SFI.
pub fn read_binary(sfi: u8) -> Vec<u8> {
    apdu(0x00, 0xB0, 0x80 | sfi, 0x00, &[], 0x00)
}

/// READ RECORD `record` of file `sfi`.
pub fn read_record(sfi: u8, record: u8) -> Vec<u8> {
    apdu(0x00, 0xB2, record, (sfi << 3) | 0x04, &[], 0x00)
}

/// GET BALANCE.
pub fn get_balance() -> Vec<u8> {
    apdu(0x80, 0x5C, 0x00, 0x02, &[], 0x04)
}

fn init_data(key_index: u8, amount: u32, terminal: &[u8; TERMINAL_ID_LEN]) -> Vec<u8> {
    let mut d = vec![key_index];
    d.extend_from_slice(&amount.to_be_bytes());
    d.extend_from_slice(terminal);
    d
}

/// INITIALIZE FOR LOAD.
pub fn init_load(amount: u32, terminal: &[u8; TERMINAL_ID_LEN]) -> Vec<u8> {
    apdu(
        0x80,
        0x50,
        0x00,
        0x02,
        &init_data(KEY_INDEX, amount, terminal),
        0x10,
    )
}

/// CREDIT FOR LOAD.
pub fn credit_load(at: &DateTime, mac2: &[u8; 4]) -> Vec<u8> {
    let mut d = at.date.to_vec();
    d.extend_from_slice(&at.time);
    d.extend_from_slice(mac2);
    apdu(0x80, 0x52, 0x00, 0x00, &d, 0x04)
}

/// INITIALIZE FOR PURCHASE (simple or compound) under the card's own
/// city's key.
pub fn init_purchase(kind: PurchaseKind, amount: u32, terminal: &[u8; TERMINAL_ID_LEN]) -> Vec<u8> {
    init_purchase_with(kind, KEY_INDEX, amount, terminal)
}

/// INITIALIZE FOR PURCHASE under the key of `key_index` ([`KEY_INDEX`],
/// or [`crate::card::TUNION_KEY_INDEX`] at a member gate of another city).
pub fn init_purchase_with(
    kind: PurchaseKind,
    key_index: u8,
    amount: u32,
    terminal: &[u8; TERMINAL_ID_LEN],
) -> Vec<u8> {
    let p1 = match kind {
        PurchaseKind::Simple => 0x01,
        PurchaseKind::Compound => 0x03,
    };
    apdu(
        0x80,
        0x50,
        p1,
        0x02,
        &init_data(key_index, amount, terminal),
        0x0F,
    )
}

/// UPDATE CAPP DATA CACHE of trip record 1.
pub fn update_capp(trip: &TripRecord) -> Vec<u8> {
    let rec: [u8; TRIP_RECORD_LEN] = trip.encode();
    apdu(0x80, 0xDC, 0x01, SFI_TRIPS << 3, &rec, 0x00)
}

/// DEBIT FOR PURCHASE.
pub fn debit(terminal_seq: u32, at: &DateTime, mac1: &[u8; 4]) -> Vec<u8> {
    let mut d = terminal_seq.to_be_bytes().to_vec();
    d.extend_from_slice(&at.date);
    d.extend_from_slice(&at.time);
    d.extend_from_slice(mac1);
    apdu(0x80, 0x54, 0x01, 0x00, &d, 0x08)
}

/// GET TRANSACTION PROVE for a purchase of `type_id` on `counter`.
pub fn prove(type_id: u8, counter: u16) -> Vec<u8> {
    apdu(0x80, 0x5A, 0x00, type_id, &counter.to_be_bytes(), 0x08)
}

/// Splits a response into data and status word.
pub fn split(resp: &[u8]) -> Option<(&[u8], Sw)> {
    let n = resp.len().checked_sub(2)?;
    let (data, sw) = resp.split_at(n);
    Some((data, Sw::new(sw[0], sw[1])))
}

/// A completed purchase, as the gate stores it for upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Card serial.
    pub serial: [u8; SERIAL_LEN],
    /// Offline counter used.
    pub counter: u16,
    /// Terminal sequence used.
    pub terminal_seq: u32,
    /// Amount.
    pub amount: u32,
    /// Transaction type.
    pub type_id: u8,
    /// Balance after.
    pub balance_after: u32,
    /// TAC.
    pub tac: [u8; 4],
    /// Whether it was recovered with GET TRANSACTION PROVE.
    pub recovered: bool,
}

/// A purchase the gate started but whose DEBIT answer it never saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn {
    /// Card serial.
    pub serial: [u8; SERIAL_LEN],
    /// Offline counter the DEBIT used.
    pub counter: u16,
    /// Terminal sequence the DEBIT used.
    pub terminal_seq: u32,
    /// Balance before the DEBIT.
    pub balance_before: u32,
}

/// Why a purchase failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    /// The card answered an error status.
    #[error("card answered {0}")]
    Card(Sw),
    /// The card's answer is malformed.
    #[error("malformed card answer")]
    Malformed,
    /// The SAM refused.
    #[error("SAM: {0}")]
    Sam(#[from] SamError),
}

/// The driver's next move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send this APDU.
    Send(Vec<u8>),
    /// Done.
    Done(Receipt),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Select,
    ReadPublic,
    CheckLog,
    Init,
    Capp,
    Debit,
    Prove,
    Finished,
}

/// A purchase at a gate.
#[derive(Debug)]
pub struct PurchaseFlow {
    kind: PurchaseKind,
    key_index: u8,
    amount: u32,
    at: DateTime,
    trip: Option<TripRecord>,
    torn: Option<Torn>,
    stage: Stage,
    serial: [u8; SERIAL_LEN],
    init: Option<PurchaseInit>,
    seq: u32,
    recovered_amount: u32,
}

impl PurchaseFlow {
    /// A purchase of `amount`; a compound one carries its trip record; `torn` is
    /// the gate's record of a purchase whose answer was lost, if any.
    pub fn new(
        kind: PurchaseKind,
        amount: u32,
        at: DateTime,
        trip: Option<TripRecord>,
        torn: Option<Torn>,
    ) -> (Self, Vec<u8>) {
        let flow = Self {
            kind,
            key_index: KEY_INDEX,
            amount,
            at,
            trip,
            torn,
            stage: Stage::Select,
            serial: [0; SERIAL_LEN],
            init: None,
            seq: 0,
            recovered_amount: 0,
        };
        (flow, select())
    }

    /// Debits under the key of `key_index` rather than the card's own
    /// city's ([`crate::card::TUNION_KEY_INDEX`] for a member card of another city);
    /// set before the first answer is fed.
    pub fn use_key_index(&mut self, key_index: u8) {
        assert_eq!(self.stage, Stage::Select, "the key index is chosen first");
        self.key_index = key_index;
    }

    /// What to remember if the answer to the DEBIT just sent is lost.
    pub fn torn(&self) -> Option<Torn> {
        let init = self.init?;
        (self.stage == Stage::Debit).then_some(Torn {
            serial: self.serial,
            counter: init.offline_counter,
            terminal_seq: self.seq,
            balance_before: init.balance,
        })
    }

    /// Feeds the card's response; returns the next APDU or the receipt.
    pub fn on_response(&mut self, resp: &[u8], sam: &mut Sam) -> Result<Next, PurchaseError> {
        let (data, sw) = split(resp).ok_or(PurchaseError::Malformed)?;
        if self.stage == Stage::CheckLog && sw == Sw::RECORD_NOT_FOUND {
            return self.send_init(sam);
        }
        if sw != Sw::SUCCESS {
            return Err(PurchaseError::Card(sw));
        }
        match self.stage {
            Stage::Select => self.go(Stage::ReadPublic, read_binary(SFI_PUBLIC)),
            Stage::ReadPublic => self.on_public(data, sam),
            Stage::CheckLog => self.on_log(data, sam),
            Stage::Init => self.on_init(data, sam),
            Stage::Capp => self.send_debit(sam),
            Stage::Debit => self.on_debit(data, sam),
            Stage::Prove => self.on_prove(data),
            Stage::Finished => Err(PurchaseError::Malformed),
        }
    }

    fn go(&mut self, stage: Stage, apdu: Vec<u8>) -> Result<Next, PurchaseError> {
        self.stage = stage;
        Ok(Next::Send(apdu))
    }

    fn on_public(&mut self, data: &[u8], sam: &Sam) -> Result<Next, PurchaseError> {
        self.serial = PublicData::decode(data)
            .ok_or(PurchaseError::Malformed)?
            .serial;
        if self.torn.is_some_and(|t| t.serial == self.serial) {
            // A purchase on this card was torn: its log tells whether the DEBIT happened.
            return self.go(Stage::CheckLog, read_record(SFI_LOG, 1));
        }
        self.send_init(sam)
    }

    fn send_init(&mut self, sam: &Sam) -> Result<Next, PurchaseError> {
        self.go(
            Stage::Init,
            init_purchase_with(self.kind, self.key_index, self.amount, &sam.terminal()),
        )
    }

    fn on_log(&mut self, data: &[u8], sam: &Sam) -> Result<Next, PurchaseError> {
        let newest = LogRecord::decode(data).ok_or(PurchaseError::Malformed)?;
        let type_id = purchase_type(self.kind);
        match self.torn {
            Some(t)
                if newest.counter == t.counter
                    && newest.kind == type_id
                    && newest.terminal == sam.terminal() =>
            {
                // The torn DEBIT went through: fetch its proof, never debit again.
                self.seq = t.terminal_seq;
                self.recovered_amount = newest.amount;
                self.go(Stage::Prove, prove(type_id, t.counter))
            }
            _ => self.send_init(sam),
        }
    }

    fn on_init(&mut self, data: &[u8], sam: &mut Sam) -> Result<Next, PurchaseError> {
        let init = PurchaseInit::decode(data).ok_or(PurchaseError::Malformed)?;
        self.init = Some(init);
        match self.trip {
            Some(trip) if self.kind == PurchaseKind::Compound => {
                self.go(Stage::Capp, update_capp(&trip))
            }
            _ => self.send_debit(sam),
        }
    }

    fn send_debit(&mut self, sam: &mut Sam) -> Result<Next, PurchaseError> {
        let init = self.init.ok_or(PurchaseError::Malformed)?;
        let (seq, mac1) = sam.mac1_with(
            self.key_index,
            &self.serial,
            &init,
            (self.amount, purchase_type(self.kind)),
            &self.at,
        )?;
        self.seq = seq;
        self.go(Stage::Debit, debit(seq, &self.at, &mac1))
    }

    fn on_debit(&mut self, data: &[u8], sam: &mut Sam) -> Result<Next, PurchaseError> {
        let d: &[u8; 8] = data.try_into().map_err(|_| PurchaseError::Malformed)?;
        sam.verify_mac2(self.amount, &[d[4], d[5], d[6], d[7]])?;
        self.finish([d[0], d[1], d[2], d[3]], false)
    }

    fn on_prove(&mut self, data: &[u8]) -> Result<Next, PurchaseError> {
        let d: &[u8; 8] = data.try_into().map_err(|_| PurchaseError::Malformed)?;
        self.finish([d[4], d[5], d[6], d[7]], true)
    }

    fn finish(&mut self, tac: [u8; 4], recovered: bool) -> Result<Next, PurchaseError> {
        self.stage = Stage::Finished;
        let (counter, amount, before) = match (recovered, self.torn, self.init) {
            (true, Some(t), _) => (t.counter, self.recovered_amount, t.balance_before),
            (false, _, Some(init)) => (init.offline_counter, self.amount, init.balance),
            _ => return Err(PurchaseError::Malformed),
        };
        let balance_after = before.checked_sub(amount).ok_or(PurchaseError::Malformed)?;
        let type_id = purchase_type(self.kind);
        Ok(Next::Done(Receipt {
            serial: self.serial,
            counter,
            terminal_seq: self.seq,
            amount,
            type_id,
            balance_after,
            tac,
            recovered,
        }))
    }
}
