//! An online load: the card's MAC1 checked, the money moved onto the
//! operator's float, MAC2 answered; idempotent by the caller's load id.
//!
//! The order makes a crash harmless: the ledger transfer's id is made of
//! the load id, so a retry after a crash between the transfer and the
//! load's row moves nothing twice; the row is written only after the
//! transfer, so a stored MAC2 always has its money on the float. A replay
//! of a stored load id answers the stored MAC2, which the card accepts only
//! for the online counter it was made for: once the card has taken it,
//! the counter has moved on and a replay loads nothing.

use paytap_ledger::Transfer;
use paytap_purse::crypto::MAC_LEN;
use paytap_purse::host::{Host, LoadInit};
use paytap_purse::records::{DateTime, SERIAL_LEN, TERMINAL_ID_LEN};
use paytap_types::Money;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::day::BUSINESS_DAY_UTC_OFFSET_SECS;
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

/// A stored load: digest, MAC2 (hex), date-time (14 digits), new balance.
type LoadRow = (String, String, String, i64);

impl OperatorHost {
    /// Checks a load and answers its MAC2 (see the module documentation).
    pub async fn load(&self, req: &LoadRequest) -> Result<LoadAnswer, OperatorError> {
        check_id("load id", &req.load_id)?;
        let digest = load_digest(req);
        if let Some(done) = self.stored_load(&req.load_id, &digest).await? {
            tracing::info!(operator = %self.operator.id, "load replayed: stored MAC2 answered");
            return Ok(done);
        }
        self.check_loadable(req).await?;
        let host = Host::new(self.masters.clone());
        let session = host
            .begin_load(&req.serial, req.init, req.amount, req.terminal)
            .map_err(|e| {
                tracing::warn!(operator = %self.operator.id, error = %e, "load refused");
                OperatorError::Mac1Invalid
            })?;
        let at = host_time(self.clock.now_millis());
        let answer = LoadAnswer {
            mac2: session.mac2(&at),
            at,
            new_balance: session.new_balance(),
        };
        self.post_load(req).await?;
        self.store_load(req, &digest, &answer).await?;
        // A concurrent retry may have stored its answer first: the stored
        // one is the answer for good.
        let stored = self.stored_load(&req.load_id, &digest).await?;
        stored.ok_or_else(|| OperatorError::Corrupt("a stored load vanished".into()))
    }

    /// Refuses a load the host must not make: another operator's card, a
    /// load of nothing, a balance above the maximum, a hotlisted card.
    async fn check_loadable(&self, req: &LoadRequest) -> Result<(), OperatorError> {
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

    /// The load's money onto the float, under an id made of the load id.
    async fn post_load(&self, req: &LoadRequest) -> Result<(), OperatorError> {
        let id = format!("transit:{}:load:{}", self.operator.id, req.load_id);
        let amount = Money::new(i64::from(req.amount), self.operator.currency);
        let t = Transfer::single(
            id.clone(),
            self.accounts.receipts.as_str(),
            self.accounts.float.as_str(),
            amount,
        )
        .with_reference(id);
        self.ledger.transfer(t).await?;
        Ok(())
    }

    async fn store_load(
        &self,
        req: &LoadRequest,
        digest: &str,
        a: &LoadAnswer,
    ) -> Result<(), OperatorError> {
        sqlx::query(
            "INSERT INTO operator_loads (operator, load_id, card, amount, digest, mac2, at, \
             new_balance, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
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
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The stored answer of this load id, if it was answered before; a
    /// conflict if it was for another load.
    async fn stored_load(
        &self,
        load_id: &str,
        digest: &str,
    ) -> Result<Option<LoadAnswer>, OperatorError> {
        let row: Option<LoadRow> = sqlx::query_as(
            "SELECT digest, mac2, at, new_balance FROM operator_loads \
             WHERE operator = $1 AND load_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(load_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((stored, mac2, at, new_balance)) = row else {
            return Ok(None);
        };
        if stored != digest {
            tracing::warn!(operator = %self.operator.id, "load id reused for another load");
            return Err(OperatorError::LoadConflict(load_id.to_owned()));
        }
        let corrupt = || OperatorError::Corrupt(format!("stored load {load_id:?}"));
        let mac2 = hex::decode(&mac2)
            .ok()
            .and_then(|m| <[u8; MAC_LEN]>::try_from(m).ok())
            .ok_or_else(corrupt)?;
        let at = parse_date_time(&at).ok_or_else(corrupt)?;
        let new_balance = u32::try_from(new_balance).map_err(|_| corrupt())?;
        Ok(Some(LoadAnswer {
            mac2,
            at,
            new_balance,
        }))
    }
}

/// What identifies a load's content: card, amount, terminal and the card's
/// INITIALIZE FOR LOAD answer (its counter, random and MAC1).
fn load_digest(req: &LoadRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.serial);
    h.update(req.amount.to_be_bytes());
    h.update(req.terminal);
    h.update(req.init.balance.to_be_bytes());
    h.update(req.init.online_counter.to_be_bytes());
    h.update(req.init.random);
    h.update(req.init.mac1);
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
