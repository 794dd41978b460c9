//! The device's side of a transit top-up, sans network: the operator's
//! host is reached by the caller (`paytap device transit load`).
//!
//! A top-up is INITIALIZE FOR LOAD on the device's own purse (its balance,
//! online counter, random and MAC1), the operator's MAC2 for it, then
//! CREDIT FOR LOAD, all in one session with the card (the load session
//! is volatile in the purse). The request sent to the operator is kept in
//! the keystore ([`PendingLoad`]) before it leaves, so a post retried
//! after a lost answer carries the same load id and body and the operator
//! answers the MAC2 it already gave: a top-up is paid once and credited
//! once. It is dropped once the card took it.

use paytap_apdu::StatusWord;
use paytap_purse::PurseState;
use paytap_purse::records::{DateTime, TERMINAL_ID_LEN};
use paytap_purse::terminal;
use serde::{Deserialize, Serialize};

use crate::{Device, DeviceError};

/// The terminal id a device loads its own purse with (the purse's log
/// shows it beside each load).
pub const DEVICE_LOADER: [u8; TERMINAL_ID_LEN] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Random bytes in a load id (hex).
const LOAD_ID_BYTES: usize = 16;
/// Length of the card's answer to INITIALIZE FOR LOAD (no status word).
const INIT_LOAD_LEN: usize = 16;
/// Where the online counter sits in that answer.
const INIT_COUNTER: std::ops::Range<usize> = 4..6;

/// A top-up sent (or about to be sent) to the operator and not yet
/// credited on the card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize)]
pub struct PendingLoad {
    /// The load id the operator knows it by.
    pub load_id: String,
    /// The card number, 20 digits.
    pub card_number: String,
    /// Amount, minor units.
    pub amount: u32,
    /// The loading terminal id, hex.
    pub terminal: String,
    /// The card's answer to INITIALIZE FOR LOAD, hex.
    pub init: String,
    /// The card's online counter the load uses.
    pub online_counter: u16,
}

/// Why a top-up could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The secure element failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The device holds no transit card.
    #[error("the device holds no transit card")]
    NoPurse,
    /// The card refused a command.
    #[error("the card refused {0}: status {1:04X}")]
    Card(&'static str, u16),
}

/// The purse a top-up is for (the one answering the T-Union AID).
fn first_purse(device: &Device) -> Result<PurseState, LoadError> {
    device
        .purses()?
        .into_iter()
        .next()
        .ok_or(LoadError::NoPurse)
}

fn card_data(resp: &[u8], what: &'static str) -> Result<Vec<u8>, LoadError> {
    let (data, sw) = terminal::split(resp).ok_or(LoadError::Card(what, 0))?;
    if sw.is_success() {
        Ok(data.to_vec())
    } else {
        Err(LoadError::Card(what, sw.0))
    }
}

/// What the operator answered a load with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadAnswer {
    /// MAC2 for CREDIT FOR LOAD.
    pub mac2: [u8; 4],
    /// The host's date-time the card logs the load under.
    pub at: DateTime,
}

/// A top-up of `amount` in one session with the purse: INITIALIZE FOR
/// LOAD, the request kept in the keystore, `post` (the operator's answer;
/// it may resend the same request as often as it likes), CREDIT FOR LOAD,
/// the request dropped. Returns the card's new balance. The load session
/// lives in the card only while it stays in the field: a request left
/// behind by a crash was paid and not credited ([`Device::pending_load`]
/// names it, for the operator to complete or refund).
pub async fn top_up<E, F>(
    device: &mut Device,
    amount: u32,
    post: impl FnOnce(PendingLoad) -> F,
) -> Result<u32, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<LoadAnswer, E>>,
{
    let purse = first_purse(device)?;
    let mut id = [0u8; LOAD_ID_BYTES];
    getrandom::fill(&mut id).map_err(|_| LoadError::Device(DeviceError::Random))?;
    let mut tap = device.tap(None).map_err(LoadError::from)?;
    card_data(&tap.process(&terminal::select()), "SELECT")?;
    let init = card_data(
        &tap.process(&terminal::init_load(amount, &DEVICE_LOADER)),
        "INITIALIZE FOR LOAD",
    )?;
    if init.len() != INIT_LOAD_LEN {
        return Err(LoadError::Card("INITIALIZE FOR LOAD", StatusWord::WRONG_LENGTH.0).into());
    }
    let pending = PendingLoad {
        load_id: format!("load-{}", hex::encode(id)),
        card_number: hex::encode(purse.public.serial),
        amount,
        terminal: hex::encode(DEVICE_LOADER),
        init: hex::encode(&init),
        online_counter: u16::from_be_bytes([
            init[INIT_COUNTER.start],
            init[INIT_COUNTER.start + 1],
        ]),
    };
    tap.set_pending_load(Some(pending.clone()))
        .map_err(LoadError::from)?;
    let answer = post(pending).await?;
    let credited = tap.process(&terminal::credit_load(&answer.at, &answer.mac2));
    card_data(&credited, "CREDIT FOR LOAD")?;
    drop(tap);
    device.set_pending_load(None).map_err(LoadError::from)?;
    Ok(first_purse(device)?.balance)
}
