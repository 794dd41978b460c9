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
//!
//! The top-up is paid with a bank card (the payment, as the operator's
//! wire carries it, travels and is kept with the request). A top-up that
//! failed after payment (the card left the field, the device crashed
//! before CREDIT FOR LOAD) is finished on the next sync: [`resume`] reads
//! the card (past the request's online counter, it took the load; at it,
//! a new INITIALIZE FOR LOAD is sent under the same load id and the
//! operator answers a MAC2 for the new session), or [`cancel`] asks the
//! operator to refund it with a fresh INITIALIZE FOR LOAD that proves the
//! card never took it. While one is pending no other top-up starts.
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

/// A card issue sent (or about to be sent) to the operator and not yet
/// installed: asked again with the same id and body (its fee's payment
/// included, which the network knows by its chip data) until the card is
/// in the secure element or the operator refuses it, so a fee is never
/// paid twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize)]
pub struct PendingIssue {
    /// The operator asked.
    pub operator: String,
    /// The issue id the operator knows it by.
    pub issue_id: String,
    /// How the card fee is paid, as the operator's wire carries it (JSON);
    /// absent where the card is free.
    #[serde(default)]
    pub payment: Option<String>,
}

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
    /// How the load is paid, as the operator's wire carries it (JSON); sent
    /// again with a completion or a refund.
    #[serde(default)]
    pub payment: Option<String>,
    /// The ordered move whose balance this load carries (no payment: the
    /// money is at the operator already), completed under this id.
    #[serde(default)]
    pub move_id: Option<String>,
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
    /// A top-up sent earlier is not finished (named): sync or cancel it
    /// first.
    #[error("top-up {0} is not finished: sync to complete it, or cancel it")]
    Pending(String),
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

/// What became of a pending top-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Nothing was pending.
    Nothing,
    /// The card had taken it before: balance now.
    AlreadyCredited(u32),
    /// Credited now: balance now.
    Credited(u32),
    /// Refunded by the operator: the amount given back.
    Refunded(u32),
}

/// INITIALIZE FOR LOAD of `amount` on the open card session; the answer.
fn init_load(tap: &mut crate::Tap<'_>, amount: u32) -> Result<Vec<u8>, LoadError> {
    card_data(&tap.process(&terminal::select()), "SELECT")?;
    let init = card_data(
        &tap.process(&terminal::init_load(amount, &DEVICE_LOADER)),
        "INITIALIZE FOR LOAD",
    )?;
    if init.len() != INIT_LOAD_LEN {
        return Err(LoadError::Card(
            "INITIALIZE FOR LOAD",
            StatusWord::WRONG_LENGTH.0,
        ));
    }
    Ok(init)
}

fn counter_of(init: &[u8]) -> u16 {
    u16::from_be_bytes([init[INIT_COUNTER.start], init[INIT_COUNTER.start + 1]])
}

/// A top-up of `amount` paid by `payment` in one session with the purse:
/// INITIALIZE FOR LOAD, the request kept in the keystore, `post` (the
/// operator's answer; it may resend the same request as often as it
/// likes), CREDIT FOR LOAD, the request dropped. Returns the card's new
/// balance. The load session lives in the card only while it stays in the
/// field: a request left behind (a crash, a lost answer) is finished by
/// [`resume`] or [`cancel`].
pub async fn top_up<E, F>(
    device: &mut Device,
    amount: u32,
    payment: Option<String>,
    post: impl FnOnce(PendingLoad) -> F,
) -> Result<u32, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<LoadAnswer, E>>,
{
    load(device, amount, (payment, None), post).await
}

/// A lost card's balance ordered onto this device's card, loaded as a
/// top-up is (`post` sends it under `move_id`, unpaid); the new balance.
pub async fn take_move<E, F>(
    device: &mut Device,
    amount: u32,
    move_id: String,
    post: impl FnOnce(PendingLoad) -> F,
) -> Result<u32, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<LoadAnswer, E>>,
{
    load(device, amount, (None, Some(move_id)), post).await
}

/// [`top_up`] or [`take_move`], by how the load is funded.
async fn load<E, F>(
    device: &mut Device,
    amount: u32,
    (payment, move_id): (Option<String>, Option<String>),
    post: impl FnOnce(PendingLoad) -> F,
) -> Result<u32, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<LoadAnswer, E>>,
{
    if let Some(p) = device.pending_load() {
        return Err(LoadError::Pending(p.load_id.clone()).into());
    }
    let purse = first_purse(device)?;
    let mut id = [0u8; LOAD_ID_BYTES];
    getrandom::fill(&mut id).map_err(|_| LoadError::Device(DeviceError::Random))?;
    let mut tap = device.tap(None).map_err(LoadError::from)?;
    let init = init_load(&mut tap, amount)?;
    let pending = PendingLoad {
        load_id: format!("load-{}", hex::encode(id)),
        card_number: hex::encode(purse.public.serial),
        amount,
        terminal: hex::encode(DEVICE_LOADER),
        init: hex::encode(&init),
        online_counter: counter_of(&init),
        payment,
        move_id,
    };
    tap.set_pending_load(Some(pending.clone()))
        .map_err(LoadError::from)?;
    let answer = post(pending).await?;
    credit(tap, &answer)?;
    device.set_pending_load(None).map_err(LoadError::from)?;
    Ok(first_purse(device)?.balance)
}

/// CREDIT FOR LOAD with the operator's answer, ending the card session.
fn credit(mut tap: crate::Tap<'_>, answer: &LoadAnswer) -> Result<(), LoadError> {
    let credited = tap.process(&terminal::credit_load(&answer.at, &answer.mac2));
    card_data(&credited, "CREDIT FOR LOAD")?;
    Ok(())
}

/// Whether the card took the pending top-up already (its online counter
/// is past the request's): then the request is dropped.
fn took_it(device: &mut Device, pending: &PendingLoad) -> Result<bool, LoadError> {
    if first_purse(device)?.online_counter <= pending.online_counter {
        return Ok(false);
    }
    tracing::info!(load = %pending.load_id, "the card took the pending top-up before");
    device.set_pending_load(None)?;
    Ok(true)
}

/// The pending top-up renewed with a fresh INITIALIZE FOR LOAD, kept in
/// the keystore, and the open card session.
fn renew(
    device: &mut Device,
    pending: PendingLoad,
) -> Result<(PendingLoad, crate::Tap<'_>), LoadError> {
    let mut tap = device.tap(None)?;
    let init = init_load(&mut tap, pending.amount)?;
    let renewed = PendingLoad {
        init: hex::encode(&init),
        online_counter: counter_of(&init),
        ..pending
    };
    tap.set_pending_load(Some(renewed.clone()))?;
    Ok((renewed, tap))
}

/// Finishes the pending top-up on a sync (module documentation): the
/// same load id in a new card session, `post` the operator's MAC2 for it.
pub async fn resume<E, F>(
    device: &mut Device,
    post: impl FnOnce(PendingLoad) -> F,
) -> Result<Finished, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<LoadAnswer, E>>,
{
    let Some(pending) = device.pending_load().cloned() else {
        return Ok(Finished::Nothing);
    };
    if took_it(device, &pending)? {
        return Ok(Finished::AlreadyCredited(first_purse(device)?.balance));
    }
    let (pending, tap) = renew(device, pending)?;
    let answer = post(pending).await?;
    credit(tap, &answer)?;
    device.set_pending_load(None).map_err(LoadError::from)?;
    Ok(Finished::Credited(first_purse(device)?.balance))
}

/// Asks the operator to refund the pending top-up (`refund` posts the
/// renewed request, proving the card never took it); dropped once the
/// operator answered.
pub async fn cancel<E, F>(
    device: &mut Device,
    refund: impl FnOnce(PendingLoad) -> F,
) -> Result<Finished, E>
where
    E: From<LoadError>,
    F: std::future::Future<Output = Result<(), E>>,
{
    let Some(pending) = device.pending_load().cloned() else {
        return Ok(Finished::Nothing);
    };
    if took_it(device, &pending)? {
        return Ok(Finished::AlreadyCredited(first_purse(device)?.balance));
    }
    let (pending, tap) = renew(device, pending)?;
    // The card session is left open and unused: no MAC2 will come for it.
    drop(tap);
    let amount = pending.amount;
    refund(pending).await?;
    device.set_pending_load(None).map_err(LoadError::from)?;
    Ok(Finished::Refunded(amount))
}
