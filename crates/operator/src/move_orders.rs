//! A rider's order to move a lost card's balance to a card on another
//! device, and the receiving device completing it.
//!
//! The back office can move a balance itself ([`crate::moves`]); a rider
//! does it through the wallet, which knows both cards are theirs:
//!
//! 1. [`OperatorHost::order_move`] records the order (`operator_move_orders`,
//!    one per lost card, under a move id made of the lost card's id). The
//!    lost card must be reported lost and not yet moved; the card it goes
//!    to must be another card of this operator, not on the hotlist.
//!    Ordering again to the same card answers the same order; to another
//!    card is [`OperatorError::MoveOrdered`].
//! 2. The receiving device asks which moves wait for its card
//!    ([`OperatorHost::ordered_moves`], by card number, with the amount and
//!    the gates still to confirm the hotlist), starts a load of that amount
//!    on its card (INITIALIZE FOR LOAD, MAC1) and sends it under the move
//!    id ([`OperatorHost::complete_move`]): the load must be for the
//!    ordered card, and is then exactly a back-office move
//!    ([`OperatorHost::move_balance`]): it waits for the gates, moves the
//!    balance once, and a lost answer is completed in a new card session
//!    under the same move and load ids.
//!
//! Cards are named by their fingerprints (what the wallet knows), never
//! by number, except by the receiving device, which holds its card.

use paytap_purse::records::SERIAL_LEN;
use serde::Serialize;

use crate::{LoadAnswer, LoadRequest, OperatorError, OperatorHost, check_id};

/// Hex digits of the lost card's id in its move id.
const MOVE_ID_CARD_DIGITS: usize = 32;

/// A recorded order, as the wallet sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MoveOrder {
    /// The move id the receiving device completes it under.
    pub move_id: String,
    /// The lost card's id.
    pub from_card: String,
    /// The receiving card's id.
    pub to_card: String,
    /// What moves: loads not refunded less fares cleared, minor units.
    pub amount: u32,
    /// Gates that have not yet confirmed the hotlist since the loss: the
    /// move waits for them.
    pub gates_waiting: usize,
    /// The balance was moved already.
    pub moved: bool,
}

/// A move waiting for a card, as its device sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderedMove {
    /// The id to complete it under.
    pub move_id: String,
    /// What it loads, minor units.
    pub amount: u32,
    /// Gates still to confirm the hotlist (the device tries again later).
    pub gates_waiting: usize,
}

impl OperatorHost {
    /// Orders the lost card `from_card`'s balance onto `to_card` (both by
    /// id). See the module documentation.
    pub async fn order_move(
        &self,
        from_card: &str,
        to_card: &str,
    ) -> Result<MoveOrder, OperatorError> {
        check_id("card id", from_card)?;
        check_id("card id", to_card)?;
        let from = self.issued_card(from_card).await?;
        let to = self.issued_card(to_card).await?;
        if from == to {
            return Err(OperatorError::MoveTarget(
                "a card's balance cannot move onto itself",
            ));
        }
        if self.is_hotlisted(&to).await? {
            return Err(OperatorError::MoveTarget(
                "the card to move to is on the hotlist",
            ));
        }
        let m = self.movable(&from).await?;
        let move_id = match self.order_of(from_card).await? {
            Some((ordered_to, _)) if ordered_to != to_card => {
                return Err(OperatorError::MoveOrdered);
            }
            // Moved, but by the back office under another move.
            Some((_, move_id)) if m.moved && !self.moved_by(from_card, &move_id).await? => {
                return Err(OperatorError::AlreadyMoved);
            }
            Some((_, move_id)) => move_id,
            // Moved by the back office, without an order: nothing to order.
            None if m.moved => return Err(OperatorError::AlreadyMoved),
            None => self.record_order(from_card, to_card).await?,
        };
        tracing::info!(operator = %self.operator.id, amount = m.balance, "a move ordered by the rider");
        Ok(MoveOrder {
            move_id,
            from_card: from_card.to_owned(),
            to_card: to_card.to_owned(),
            amount: m.balance,
            gates_waiting: m.gates_waiting,
            moved: m.moved,
        })
    }

    /// The moves ordered onto the card `serial` and not yet made.
    pub async fn ordered_moves(
        &self,
        serial: &[u8; SERIAL_LEN],
    ) -> Result<Vec<OrderedMove>, OperatorError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT o.from_card, o.move_id FROM operator_move_orders o \
             WHERE o.operator = $1 AND o.to_card = $2 AND NOT EXISTS (\
               SELECT 1 FROM operator_moves m \
               WHERE m.operator = o.operator AND m.from_card = o.from_card) \
             ORDER BY o.created_at, o.move_id",
        )
        .bind(self.operator.id.as_str())
        .bind(self.cipher.fingerprint(serial))
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (from_card, move_id) in rows {
            let m = self.movable(&self.issued_card(&from_card).await?).await?;
            out.push(OrderedMove {
                move_id,
                amount: m.balance,
                gates_waiting: m.gates_waiting,
            });
        }
        Ok(out)
    }

    /// Completes the ordered move `move_id` with `load`, a load of the
    /// ordered card (see the module documentation).
    pub async fn complete_move(
        &self,
        move_id: &str,
        load: &LoadRequest,
    ) -> Result<LoadAnswer, OperatorError> {
        check_id("move id", move_id)?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT from_card, to_card FROM operator_move_orders \
             WHERE operator = $1 AND move_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(move_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((from_card, to_card)) = row else {
            return Err(OperatorError::UnknownMove(move_id.to_owned()));
        };
        if self.cipher.fingerprint(&load.serial) != to_card {
            tracing::warn!(operator = %self.operator.id, "a move completed by another card than ordered");
            return Err(OperatorError::MoveTarget(
                "the load is not for the card the move was ordered to",
            ));
        }
        let from = self.issued_card(&from_card).await?;
        self.move_balance(move_id, &from, load).await
    }

    /// The number of the card this operator issued under id (fingerprint)
    /// `card`.
    async fn issued_card(&self, card: &str) -> Result<[u8; SERIAL_LEN], OperatorError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT number FROM operator_issued WHERE operator = $1 AND card = $2")
                .bind(self.operator.id.as_str())
                .bind(card)
                .fetch_optional(self.db.pool())
                .await?;
        let (number,) = row.ok_or_else(|| OperatorError::UnknownCard(card.to_owned()))?;
        self.issued_serial(number)
    }

    /// Records the order of `from_card` onto `to_card`; its move id. Two
    /// orders at once for one lost card: the first written stands, the
    /// other is [`OperatorError::MoveOrdered`].
    async fn record_order(&self, from_card: &str, to_card: &str) -> Result<String, OperatorError> {
        let move_id = format!(
            "order-{}",
            &from_card[..from_card.len().min(MOVE_ID_CARD_DIGITS)]
        );
        sqlx::query(
            "INSERT INTO operator_move_orders (operator, from_card, to_card, move_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(self.operator.id.as_str())
        .bind(from_card)
        .bind(to_card)
        .bind(&move_id)
        .bind(self.clock.now_millis())
        .execute(self.db.pool())
        .await?;
        match self.order_of(from_card).await? {
            Some((to, id)) if to == to_card => Ok(id),
            Some(_) => Err(OperatorError::MoveOrdered),
            None => Err(OperatorError::Corrupt(
                "a move order written is not there".into(),
            )),
        }
    }

    /// The card and move id the lost card `from_card` is ordered to.
    async fn order_of(&self, from_card: &str) -> Result<Option<(String, String)>, OperatorError> {
        Ok(sqlx::query_as(
            "SELECT to_card, move_id FROM operator_move_orders \
             WHERE operator = $1 AND from_card = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(from_card)
        .fetch_optional(self.db.pool())
        .await?)
    }

    /// Whether the lost card's balance moved under `move_id`.
    async fn moved_by(&self, from_card: &str, move_id: &str) -> Result<bool, OperatorError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_moves \
             WHERE operator = $1 AND from_card = $2 AND move_id = $3",
        )
        .bind(self.operator.id.as_str())
        .bind(from_card)
        .bind(move_id)
        .fetch_one(self.db.pool())
        .await?;
        Ok(n > 0)
    }

    /// The receiving card's id the lost card `from_card` is ordered to, if
    /// it is.
    pub(crate) async fn ordered_to(
        &self,
        from_card: &str,
    ) -> Result<Option<String>, OperatorError> {
        Ok(self.order_of(from_card).await?.map(|(to, _)| to))
    }
}
