//! An online load, paid with the rider's bank card: the card's MAC1
//! checked, the payment approved through the network ([`crate::pay`]), the
//! money moved from the operator's merchant account onto its float, MAC2
//! answered; idempotent by the caller's load id.
//!
//! **Order.** MAC2 exists only once the payment is approved: the payment
//! (idempotent by a key made of the load id), then the ledger transfer onto
//! the float (idempotent by an id made of the load id), then the load's
//! row with its MAC2. A crash anywhere before the row leaves a retry that
//! pays nothing twice and moves nothing twice; a stored MAC2 always has
//! its money on the float.
//!
//! **One top-up in flight per card.** A load's row keeps the online
//! counter its MAC2 was made for, and a load stays `answered` until the
//! host sees the card past that counter (the card's counter moves only
//! when it takes a CREDIT FOR LOAD, and every MAC2 for that counter was
//! answered to this load): then it is `credited`. While one is
//! `answered`, another load id for the same card is refused
//! ([`OperatorError::LoadPending`]), so a counter is never promised to two
//! payments.
//!
//! **A load that fails after payment** (the card left the field, the
//! device crashed before CREDIT FOR LOAD) is completed or refunded, never
//! lost: the device sends the same load id again with a fresh INITIALIZE
//! FOR LOAD; at the same counter the host answers a MAC2 for the new
//! session (the old session's random is gone from the card, so its MAC2
//! can no longer be taken), past it the load was taken
//! ([`OperatorError::AlreadyCredited`]). Or the device asks for a refund
//! ([`OperatorHost::refund_load`]) with a fresh INITIALIZE FOR LOAD that
//! proves the card is still at the counter: the load is marked `refunded`
//! (never answered again), the float gives the money back and the payment
//! is reversed.
//!
//! Loads without a payment are the operator's own counters (cash taken at
//! a ticket office): funded from `transit:<op>:receipts`, and only
//! in-process; the HTTP API requires a payment.

use std::collections::HashSet;
use std::sync::Mutex;

use paytap_ledger::Transfer;
use paytap_purse::crypto::MAC_LEN;
use paytap_purse::host::{Host, LoadInit, LoadSession};
use paytap_purse::records::{DateTime, SERIAL_LEN, TERMINAL_ID_LEN};
use paytap_types::Money;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::day::BUSINESS_DAY_UTC_OFFSET_SECS;
use crate::pay::{CardPayment, PaymentRequest, payment_key};
use crate::{OperatorError, OperatorHost, check_id};

/// What a load asks of the host.
#[derive(Clone, Debug)]
pub struct LoadRequest {
    /// The caller's id for this load (its retries carry the same).
    pub load_id: String,
    /// The card number (application serial), BCD.
    pub serial: [u8; SERIAL_LEN],
    /// Amount to load, minor units of the operator's currency.
    pub amount: u32,
    /// The loading terminal's id (as sent in INITIALIZE FOR LOAD).
    pub terminal: [u8; TERMINAL_ID_LEN],
    /// The card's answer to INITIALIZE FOR LOAD.
    pub init: LoadInit,
    /// The rider's bank card paying for it; `None` for a load at the
    /// operator's own counter (cash, `transit:<op>:receipts`).
    pub payment: Option<CardPayment>,
}

/// The host's answer: what CREDIT FOR LOAD carries to the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoadAnswer {
    /// MAC2 over amount, type, terminal and the host's date-time.
    pub mac2: [u8; MAC_LEN],
    /// The host's date-time (CREDIT FOR LOAD carries it to the card).
    #[serde(skip)]
    pub at: DateTime,
    /// The card's balance once it has taken the load.
    pub new_balance: u32,
}

/// Where a load's money comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Funding {
    /// The request's payment (or cash at the operator's counter).
    Paid,
    /// A lost card's balance, already on the float ([`crate::moves`]).
    Moved,
}

/// Where a load stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadState {
    /// Paid, MAC2 answered, not yet seen on the card.
    Answered,
    /// The card was seen past the load's counter: it took it.
    Credited,
    /// Given back: never answered again.
    Refunded,
}

impl LoadState {
    fn as_str(self) -> &'static str {
        match self {
            LoadState::Answered => "answered",
            LoadState::Credited => "credited",
            LoadState::Refunded => "refunded",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<LoadState> {
        match s {
            "answered" => Some(LoadState::Answered),
            "credited" => Some(LoadState::Credited),
            "refunded" => Some(LoadState::Refunded),
            _ => None,
        }
    }
}

/// A stored load.
struct StoredLoad {
    digest: String,
    answer: LoadAnswer,
    amount: u32,
    counter: u16,
    /// The card session the MAC2 was made for: random and MAC1, hex.
    session: String,
    state: LoadState,
    /// The account the money came from.
    funds: String,
}

/// A stored load's row: digest, MAC2, date-time, new balance, amount,
/// counter, session, state, funds.
type LoadRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    String,
);

/// Cards with a load being decided now, so two loads of one card never
/// interleave (released when the guard drops).
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashSet<[u8; SERIAL_LEN]>>);

struct InFlightGuard<'a> {
    set: &'a InFlight,
    serial: [u8; SERIAL_LEN],
}

impl InFlight {
    fn enter(&self, serial: [u8; SERIAL_LEN]) -> Option<InFlightGuard<'_>> {
        let mut set = paytap_types::sync::lock(&self.0, "loads in flight");
        set.insert(serial)
            .then_some(InFlightGuard { set: self, serial })
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        paytap_types::sync::lock(&self.set.0, "loads in flight").remove(&self.serial);
    }
}

/// What a refund answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Refunded {
    /// The load id.
    pub load_id: String,
    /// The amount given back, minor units.
    pub amount: u32,
}

impl OperatorHost {
    /// Checks a load and answers its MAC2 (see the module documentation).
    pub async fn load(&self, req: &LoadRequest) -> Result<LoadAnswer, OperatorError> {
        self.load_funded(req, Funding::Paid).await
    }

    /// [`OperatorHost::load`], the money from `funding`.
    pub(crate) async fn load_funded(
        &self,
        req: &LoadRequest,
        funding: Funding,
    ) -> Result<LoadAnswer, OperatorError> {
        check_id("load id", &req.load_id)?;
        let _guard = self.in_flight.enter(req.serial).ok_or_else(|| {
            tracing::info!(operator = %self.operator.id, "a second load of a card while one is decided");
            OperatorError::LoadPending(req.load_id.clone())
        })?;
        let digest = load_digest(req);
        if self.stored_load(&req.load_id).await?.is_none() {
            self.first_load(req, &digest, funding).await?;
        }
        let stored = self.stored_load(&req.load_id).await?;
        let stored =
            stored.ok_or_else(|| OperatorError::Corrupt("a stored load vanished".into()))?;
        self.resume_load(req, &digest, stored).await
    }

    /// A load id seen for the first time: checks, pays, moves the money
    /// onto the float and stores the load with its MAC2.
    async fn first_load(
        &self,
        req: &LoadRequest,
        digest: &str,
        funding: Funding,
    ) -> Result<(), OperatorError> {
        self.check_loadable(req).await?;
        let session = self.begin(req, req.amount)?;
        self.check_counter_free(req).await?;
        let funds = match (&req.payment, funding) {
            // A moved balance is on the float already: nothing moves.
            (_, Funding::Moved) => self.accounts.float.clone(),
            (Some(card), Funding::Paid) => self.pay_load(req, card).await?,
            (None, Funding::Paid) => self.accounts.receipts.clone(),
        };
        if funds != self.accounts.float {
            self.post_load(req, &funds).await?;
        }
        let answer = self.answer(&session);
        self.store_load(req, digest, &answer, &funds).await
    }

    /// A load id seen before: the stored answer, a MAC2 for the card's new
    /// session at the same counter, or why not.
    async fn resume_load(
        &self,
        req: &LoadRequest,
        digest: &str,
        s: StoredLoad,
    ) -> Result<LoadAnswer, OperatorError> {
        if s.digest != digest {
            tracing::warn!(operator = %self.operator.id, "load id reused for another load");
            return Err(OperatorError::LoadConflict(req.load_id.clone()));
        }
        match s.state {
            LoadState::Refunded => return Err(OperatorError::LoadRefunded(req.load_id.clone())),
            LoadState::Credited => {
                return Err(OperatorError::AlreadyCredited(req.load_id.clone()));
            }
            LoadState::Answered => {}
        }
        if session_of(&req.init) == s.session {
            return Ok(s.answer);
        }
        self.check_same_counter(&req.load_id, &req.init, &s).await?;
        let session = self.begin(req, s.amount)?;
        let answer = self.answer(&session);
        self.renew_load(&req.load_id, &req.init, &answer, &s.session)
            .await?;
        tracing::info!(operator = %self.operator.id, "load completed in a new card session");
        let stored = self.stored_load(&req.load_id).await?;
        let stored =
            stored.ok_or_else(|| OperatorError::Corrupt("a stored load vanished".into()))?;
        Ok(stored.answer)
    }

    /// Gives back a load the card never took (module documentation): the
    /// card's fresh INITIALIZE FOR LOAD (for the load's amount) proves it
    /// is still at the load's counter. The payment's card data comes again
    /// for the reversal. A repeat completes what a crash interrupted and
    /// moves nothing twice.
    pub async fn refund_load(&self, req: &LoadRequest) -> Result<Refunded, OperatorError> {
        check_id("load id", &req.load_id)?;
        let _guard = self
            .in_flight
            .enter(req.serial)
            .ok_or_else(|| OperatorError::LoadPending(req.load_id.clone()))?;
        let digest = load_digest(req);
        let Some(s) = self.stored_load(&req.load_id).await? else {
            return Err(OperatorError::UnknownLoad(req.load_id.clone()));
        };
        if s.digest != digest {
            return Err(OperatorError::LoadConflict(req.load_id.clone()));
        }
        if s.state == LoadState::Credited {
            return Err(OperatorError::AlreadyCredited(req.load_id.clone()));
        }
        if s.funds == self.accounts.float {
            // A moved balance has nowhere to go back to: it is completed.
            return Err(OperatorError::NotRefundable(req.load_id.clone()));
        }
        if s.state == LoadState::Answered && self.is_hotlisted(&req.serial).await? {
            // A lost card's loads move with its balance, never also back.
            tracing::warn!(operator = %self.operator.id, "refund asked for a hotlisted card");
            return Err(OperatorError::Hotlisted);
        }
        if s.state == LoadState::Answered {
            self.check_same_counter(&req.load_id, &req.init, &s).await?;
            self.begin(req, s.amount)?;
            self.set_state(&req.load_id, LoadState::Answered, LoadState::Refunded)
                .await?;
        }
        self.give_back(req, &s).await?;
        tracing::info!(operator = %self.operator.id, amount = s.amount, "load refunded");
        Ok(Refunded {
            load_id: req.load_id.clone(),
            amount: s.amount,
        })
    }

    /// The money of a refunded load back where it came from, then the
    /// payment reversed (each idempotent).
    async fn give_back(&self, req: &LoadRequest, s: &StoredLoad) -> Result<(), OperatorError> {
        let id = format!("transit:{}:refund:{}", self.operator.id, req.load_id);
        let amount = Money::new(i64::from(s.amount), self.operator.currency);
        let t = Transfer::single(
            id.clone(),
            self.accounts.float.as_str(),
            s.funds.as_str(),
            amount,
        )
        .with_reference(id);
        self.ledger.transfer(t).await?;
        if let Some(card) = &req.payment {
            let payments = self
                .payments
                .as_ref()
                .ok_or(OperatorError::PaymentsUnavailable)?;
            let p = PaymentRequest {
                operator: &self.operator,
                key: payment_key(&self.operator.id, &req.load_id),
                amount,
                card,
            };
            payments.refund(&p).await?;
        }
        Ok(())
    }

    /// The card must still be at the load's counter: past it, it took the
    /// load (marked credited); behind it, the request is not this card's.
    async fn check_same_counter(
        &self,
        load_id: &str,
        init: &LoadInit,
        s: &StoredLoad,
    ) -> Result<(), OperatorError> {
        match init.online_counter.cmp(&s.counter) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => {
                self.set_state(load_id, LoadState::Answered, LoadState::Credited)
                    .await?;
                tracing::info!(operator = %self.operator.id, "the card took the load earlier");
                Err(OperatorError::AlreadyCredited(load_id.to_owned()))
            }
            std::cmp::Ordering::Less => {
                tracing::warn!(operator = %self.operator.id, "a load session behind the stored counter");
                Err(OperatorError::StaleCounter)
            }
        }
    }

    /// Verifies the card's MAC1 for `amount`.
    pub(crate) fn begin(
        &self,
        req: &LoadRequest,
        amount: u32,
    ) -> Result<LoadSession, OperatorError> {
        let host = Host::new(self.masters.clone());
        host.begin_load(&req.serial, req.init, amount, req.terminal)
            .map_err(|e| {
                tracing::warn!(operator = %self.operator.id, error = %e, "load refused");
                OperatorError::Mac1Invalid
            })
    }

    /// MAC2 for a verified session, at the host's time.
    fn answer(&self, session: &LoadSession) -> LoadAnswer {
        let at = host_time(self.clock.now_millis());
        LoadAnswer {
            mac2: session.mac2(&at),
            at,
            new_balance: session.new_balance(),
        }
    }

    /// Refuses a load the host must not make: another operator's card, a
    /// load of nothing, a balance above the maximum, a hotlisted card.
    pub(crate) async fn check_loadable(&self, req: &LoadRequest) -> Result<(), OperatorError> {
        if !self.operator.owns_card(&req.serial) {
            tracing::warn!(operator = %self.operator.id, "load for a card not ours");
            return Err(OperatorError::NotOurCard);
        }
        if req.amount == 0 {
            return Err(OperatorError::ZeroLoad);
        }
        let max = self.operator.max_balance;
        if req
            .init
            .balance
            .checked_add(req.amount)
            .is_none_or(|b| b > max)
        {
            tracing::warn!(operator = %self.operator.id, amount = req.amount, "load above the maximum balance");
            return Err(OperatorError::AboveMaximum { max });
        }
        if self.is_hotlisted(&req.serial).await? {
            tracing::warn!(operator = %self.operator.id, "load for a hotlisted card");
            return Err(OperatorError::Hotlisted);
        }
        Ok(())
    }

    /// No other load of the card may be waiting at this counter; loads
    /// the card went past are marked credited.
    async fn check_counter_free(&self, req: &LoadRequest) -> Result<(), OperatorError> {
        let open: Vec<(String, i64)> = sqlx::query_as(
            "SELECT load_id, counter FROM operator_loads \
             WHERE operator = $1 AND card = $2 AND state = $3",
        )
        .bind(self.operator.id.as_str())
        .bind(self.cipher.fingerprint(&req.serial))
        .bind(LoadState::Answered.as_str())
        .fetch_all(self.db.pool())
        .await?;
        for (load_id, counter) in open {
            if counter < i64::from(req.init.online_counter) {
                self.set_state(&load_id, LoadState::Answered, LoadState::Credited)
                    .await?;
            } else {
                tracing::info!(operator = %self.operator.id, "a load refused: another is unfinished");
                return Err(OperatorError::LoadPending(load_id));
            }
        }
        Ok(())
    }

    /// Pays the load through the network; the account holding the money.
    async fn pay_load(
        &self,
        req: &LoadRequest,
        card: &CardPayment,
    ) -> Result<String, OperatorError> {
        let payments = self
            .payments
            .as_ref()
            .ok_or(OperatorError::PaymentsUnavailable)?;
        let p = PaymentRequest {
            operator: &self.operator,
            key: payment_key(&self.operator.id, &req.load_id),
            amount: Money::new(i64::from(req.amount), self.operator.currency),
            card,
        };
        let paid = payments.pay(&p).await.inspect_err(|e| {
            tracing::info!(operator = %self.operator.id, error = %e, "top-up payment not approved");
        })?;
        Ok(paid.account)
    }

    /// The load's money from `funds` onto the float, under an id made of
    /// the load id.
    async fn post_load(&self, req: &LoadRequest, funds: &str) -> Result<(), OperatorError> {
        let id = format!("transit:{}:load:{}", self.operator.id, req.load_id);
        let amount = Money::new(i64::from(req.amount), self.operator.currency);
        let t = Transfer::single(id.clone(), funds, self.accounts.float.as_str(), amount)
            .with_reference(id);
        self.ledger.transfer(t).await?;
        Ok(())
    }

    async fn store_load(
        &self,
        req: &LoadRequest,
        digest: &str,
        a: &LoadAnswer,
        funds: &str,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "INSERT INTO operator_loads (operator, load_id, card, amount, digest, mac2, at, \
             new_balance, created_at, state, counter, session, funds) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT DO NOTHING",
        )
        .bind(self.operator.id.as_str())
        .bind(req.load_id.as_str())
        .bind(self.cipher.fingerprint(&req.serial))
        .bind(i64::from(req.amount))
        .bind(digest)
        .bind(hex::encode(a.mac2))
        .bind(date_time_digits(&a.at))
        .bind(i64::from(a.new_balance))
        .bind(self.clock.now_millis())
        .bind(LoadState::Answered.as_str())
        .bind(i64::from(req.init.online_counter))
        .bind(session_of(&req.init))
        .bind(funds)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// A new MAC2 for the card's new session, if the load is still
    /// answered in the session it replaces.
    async fn renew_load(
        &self,
        load_id: &str,
        init: &LoadInit,
        a: &LoadAnswer,
        old_session: &str,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "UPDATE operator_loads SET session = $1, mac2 = $2, at = $3, new_balance = $4 \
             WHERE operator = $5 AND load_id = $6 AND state = $7 AND session = $8",
        )
        .bind(session_of(init))
        .bind(hex::encode(a.mac2))
        .bind(date_time_digits(&a.at))
        .bind(i64::from(a.new_balance))
        .bind(self.operator.id.as_str())
        .bind(load_id)
        .bind(LoadState::Answered.as_str())
        .bind(old_session)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    async fn set_state(
        &self,
        load_id: &str,
        from: LoadState,
        to: LoadState,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "UPDATE operator_loads SET state = $1 WHERE operator = $2 AND load_id = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(self.operator.id.as_str())
        .bind(load_id)
        .bind(from.as_str())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The stored load of this id, if any.
    async fn stored_load(&self, load_id: &str) -> Result<Option<StoredLoad>, OperatorError> {
        let row: Option<LoadRow> = sqlx::query_as(
            "SELECT digest, mac2, at, new_balance, amount, counter, session, state, funds \
             FROM operator_loads WHERE operator = $1 AND load_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(load_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((digest, mac2, at, new_balance, amount, counter, session, state, funds)) = row
        else {
            return Ok(None);
        };
        let corrupt = || OperatorError::Corrupt(format!("stored load {load_id:?}"));
        let mac2 = hex::decode(&mac2)
            .ok()
            .and_then(|m| <[u8; MAC_LEN]>::try_from(m).ok())
            .ok_or_else(corrupt)?;
        Ok(Some(StoredLoad {
            digest,
            answer: LoadAnswer {
                mac2,
                at: parse_date_time(&at).ok_or_else(corrupt)?,
                new_balance: u32::try_from(new_balance).map_err(|_| corrupt())?,
            },
            amount: u32::try_from(amount).map_err(|_| corrupt())?,
            counter: u16::try_from(counter).map_err(|_| corrupt())?,
            session,
            state: LoadState::parse(&state).ok_or_else(corrupt)?,
            funds,
        }))
    }
}

/// A card session's identity: its random and MAC1, hex.
fn session_of(init: &LoadInit) -> String {
    format!("{}{}", hex::encode(init.random), hex::encode(init.mac1))
}

/// What identifies a load's content: card, amount, terminal and how it is
/// paid (the card session is not part of it: a load completed in a new
/// session is the same load).
fn load_digest(req: &LoadRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.serial);
    h.update(req.amount.to_be_bytes());
    h.update(req.terminal);
    // Whether a card pays, not which: no card data at rest, even hashed
    // (the acquirer refuses the payment key with another card).
    h.update([u8::from(req.payment.is_some())]);
    hex::encode(h.finalize())
}

/// The host's date-time at `millis`, in the operators' time zone.
pub fn host_time(millis: i64) -> DateTime {
    let offset =
        UtcOffset::from_whole_seconds(BUSINESS_DAY_UTC_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
    let t = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    let year = u16::try_from(t.year()).unwrap_or(0);
    DateTime::from_parts(
        year,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .unwrap_or_default()
}

/// A date-time as its 14 digits `YYYYMMDDhhmmss`.
pub fn date_time_digits(at: &DateTime) -> String {
    format!("{}{}", hex::encode(at.date), hex::encode(at.time))
}

/// 14 digits `YYYYMMDDhhmmss` as a date-time, `None` unless valid.
pub fn parse_date_time(s: &str) -> Option<DateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let b = hex::decode(s).ok()?;
    DateTime::parse(b[..4].try_into().ok()?, b[4..].try_into().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_is_china_standard_time() {
        // 2026-12-05 02:00 UTC is 10:00 in Beijing.
        let at = host_time(1_796_436_000_000);
        assert_eq!(date_time_digits(&at), "20261205100000");
        assert_eq!(parse_date_time("20261205100000"), Some(at));
    }

    #[test]
    fn date_times_that_are_not_dates_are_refused() {
        for bad in [
            "2026120510000",
            "20261305100000",
            "2026120510000x",
            "20261205250000",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }
}
