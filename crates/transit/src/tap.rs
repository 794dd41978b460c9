//! In-process tap and load: a gate's purchase and an operator's load driven
//! against a [`Purse`] in memory (tests, benchmarks, demos). The real gate
//! and host talk to the card over a transport; the flow is the same.

use paytap_purse::Purse;
use paytap_purse::card::KEY_INDEX;
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::{Host, HostError, LoadInit};
use paytap_purse::records::{DateTime, TERMINAL_ID_LEN};
use paytap_purse::sam::Sam;
use paytap_purse::terminal::{self, Next, PurchaseError, PurchaseFlow, Receipt, split};

use crate::clearing::GateRecord;

/// Most command APDUs one purchase may take (SELECT, READ, INIT, CAPP, DEBIT,
/// with room for a torn-purchase recovery).
pub const MAX_PURCHASE_STEPS: usize = 8;

/// Why an in-process tap or load failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    /// The purchase driver stopped (card status, SAM, malformed answer).
    #[error("purchase: {0}")]
    Purchase(#[from] PurchaseError),
    /// The host refused the load.
    #[error("host: {0}")]
    Host(#[from] HostError),
    /// The card answered a load command with an error status.
    #[error("card refused the load: status {0:04X}")]
    LoadRefused(u16),
    /// The purchase took more steps than [`MAX_PURCHASE_STEPS`].
    #[error("purchase did not finish")]
    TooManySteps,
}

/// One simple or compound purchase of `amount` at the SAM's gate; returns the
/// record the gate keeps. `random` gives the card its four random bytes.
pub fn purchase(
    purse: &mut Purse,
    sam: &mut Sam,
    kind: PurchaseKind,
    amount: u32,
    at: DateTime,
    random: impl FnMut() -> [u8; 4],
) -> Result<GateRecord, TapError> {
    purchase_under(purse, sam, KEY_INDEX, (kind, amount), at, random)
}

/// [`purchase`] under the key of `key_index`: the card's own city's
/// ([`KEY_INDEX`]) or, at a member gate of another city, T-Union's
/// ([`paytap_purse::card::TUNION_KEY_INDEX`]).
pub fn purchase_under(
    purse: &mut Purse,
    sam: &mut Sam,
    key_index: u8,
    (kind, amount): (PurchaseKind, u32),
    at: DateTime,
    mut random: impl FnMut() -> [u8; 4],
) -> Result<GateRecord, TapError> {
    let (mut flow, mut apdu) = PurchaseFlow::new(kind, amount, at, None, None);
    flow.use_key_index(key_index);
    for _ in 0..MAX_PURCHASE_STEPS {
        let resp = purse.process(&apdu, random());
        match flow.on_response(&resp, sam)? {
            Next::Send(next) => apdu = next,
            Next::Done(r) => return Ok(record(&r, sam, at)),
        }
    }
    Err(TapError::TooManySteps)
}

fn record(r: &Receipt, sam: &Sam, at: DateTime) -> GateRecord {
    GateRecord::from_receipt(r, sam.terminal(), at)
}

/// An online load of `amount` through the operator's host.
pub fn load(
    purse: &mut Purse,
    host: &Host,
    amount: u32,
    terminal: [u8; TERMINAL_ID_LEN],
    at: DateTime,
    random: [u8; 4],
) -> Result<(), TapError> {
    card_ok(&purse.process(&terminal::select(), random))?;
    let init = card_ok(&purse.process(&terminal::init_load(amount, &terminal), random))?;
    let init = LoadInit::decode(&init)?;
    let session = host.begin_load(&purse.state().public.serial, init, amount, terminal)?;
    let tac = card_ok(&purse.process(&terminal::credit_load(&at, &session.mac2(&at)), random))?;
    let tac: [u8; 4] = tac.try_into().map_err(|_| HostError::Malformed)?;
    host.verify_load_tac(&session, &at, &tac)?;
    Ok(())
}

fn card_ok(resp: &[u8]) -> Result<Vec<u8>, TapError> {
    let (data, sw) = split(resp).ok_or(TapError::LoadRefused(0))?;
    if sw.is_success() {
        Ok(data.to_vec())
    } else {
        Err(TapError::LoadRefused(sw.0))
    }
}
