//! Single-message financial requests (`0200` → `0210`): the authorization
//! and the capture are one message, so an approval moves the money at once.
//!
//! An approved `0200` takes the path of a `0100` (its checks, its hold and
//! its record, written in parallel and answered only once both are
//! durable), then posts the hold whole (transfer `capture:<hold key>`) and
//! marks the record `settled`. A crash between the two leaves a `held`
//! record: the acquirer's repeat of the `0200`, or the switch's clearing
//! `0220`, completes the capture (the post is idempotent by its id).
//!
//! A reversal (`0400`/`0420` naming the `0200`) of a settled record gives
//! the money back (transfer `refund:<hold key>`, settlement → cardholder)
//! and marks it `refunded`; a repeat of it moves nothing. A dual-message
//! capture (`captured`) is not reversed: that takes a refund.

use crate::auth::Stored;
use crate::error::IssuerError;
use crate::service::{Issuer, account_id};
use crate::state::AuthState;
use paytap_iso8583::{Message, Mti, ResponseCode};
use paytap_ledger::{LedgerError, Money, Rejection, Transfer};

/// Whether `req` is a single-message financial request.
pub(crate) fn is_financial(req: &Message) -> bool {
    req.mti() == Mti::FINANCIAL_REQUEST
}

impl Issuer {
    /// Posts the whole hold `hold_id` of an approved `0200` and marks its
    /// record settled. `Err` leaves the record `held` (a repeat or the
    /// clearing `0220` completes it).
    pub(crate) async fn settle_financial(
        &self,
        hold_key: &str,
        hold_id: &str,
    ) -> Result<(), IssuerError> {
        match self
            .ledger
            .post_pending(format!("capture:{hold_key}"), hold_id.to_owned(), None)
            .await
        {
            Ok(_) | Err(LedgerError::Rejected(Rejection::PendingAlreadyPosted)) => {}
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "UPDATE issuer_auths SET state = $1, updated_at = $2 \
             WHERE hold_key = $3 AND state = 'held'",
        )
        .bind(AuthState::Settled.as_str())
        .bind(self.now())
        .bind(hold_key)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Gives back the money of the settled `0200` `s` and marks its record
    /// refunded; its amount leaves the card's spend window. Answers `00`;
    /// a card the issuer no longer knows is a corrupt record.
    pub(crate) async fn refund_financial(
        &self,
        hold_key: &str,
        s: &Stored,
    ) -> Result<ResponseCode, IssuerError> {
        let (card_id, amount) = (s.card_id.as_str(), s.amount);
        let card = self.cached_card(card_id).await?.ok_or_else(|| {
            IssuerError::Corrupt(format!("settled record of unknown card {card_id}"))
        })?;
        let bank = self.bank(&card.bank_id)?;
        let refund = Transfer::single(
            format!("refund:{hold_key}"),
            account_id(&bank.id, "settlement"),
            card.account_id.clone(),
            Money::new(amount, bank.currency),
        )
        .with_reference("financial request reversed");
        // A repeat of the same transfer id moves nothing and answers the
        // same receipt.
        self.ledger.transfer(refund).await?;
        sqlx::query(
            "UPDATE issuer_auths SET state = $1, updated_at = $2 \
             WHERE hold_key = $3 AND state = $4",
        )
        .bind(AuthState::Refunded.as_str())
        .bind(self.now())
        .bind(hold_key)
        .bind(AuthState::Settled.as_str())
        .execute(self.db.pool())
        .await?;
        self.windows.remove(card_id, s.created_at, amount);
        tracing::info!(hold_key = %hold_key, "financial request reversed; money given back");
        Ok(ResponseCode::Approved)
    }
}
