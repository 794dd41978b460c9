//! A lost card's balance moved to a card on another device.
//!
//! The card was reported lost (hotlisted); its holder asks, through the
//! back office, for what it held to be loaded onto a card in another
//! device. What it held is what the operator knows: every load answered
//! and not refunded (the rider paid for it, whether or not the card took
//! it), less every fare clearing accepted. Fares a gate took before the
//! hotlist reached it count only once uploaded, so the move waits until
//! every gate the operator knows has, since the loss, downloaded the
//! hotlist with nothing left to upload ([`OperatorHost::gate_confirmed`],
//! told with each signed hotlist download): from then on no gate accepts
//! the card and none holds a record of it unsent. A T-Union member's card
//! also rides at the other members' gates, whose hotlist download names
//! it and whose fares of it are spent ([`crate::tunion`]): their gates are
//! waited for the same way.
//!
//! The move is a load onto the new card (its MAC1 checked, MAC2 answered,
//! completed in a new session like any load) whose money is already on
//! the float, so the ledger moves nothing; `operator_moves` is unique by
//! the lost card, so its balance moves once, whatever move id asks again.
//! A gate the operator has never heard from is not waited for: gates sign
//! every request, so one that ever uploaded or downloaded is known.

use paytap_purse::records::{SERIAL_LEN, TERMINAL_ID_LEN};
use serde::{Deserialize, Serialize};

use crate::load::Funding;
use crate::{HotlistReason, LoadAnswer, LoadRequest, OperatorError, OperatorHost, check_id};

/// What a lost card holds at the operator, and whether it may move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movable {
    /// Loads answered and not refunded, minor units.
    pub loaded: i64,
    /// Fares clearing accepted, minor units.
    pub spent: i64,
    /// What may move: loaded less spent (never below zero).
    pub balance: u32,
    /// Gates that have not confirmed the hotlist since the loss.
    pub gates_waiting: usize,
    /// The balance was moved already.
    pub moved: bool,
}

impl OperatorHost {
    /// A gate downloaded the hotlist with `unsent` records still in its
    /// store: remembered for moves (module documentation).
    pub async fn gate_confirmed(
        &self,
        terminal: &[u8; TERMINAL_ID_LEN],
        unsent: u64,
    ) -> Result<(), OperatorError> {
        let unsent = i64::try_from(unsent).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO operator_gates (operator, terminal, hotlist_at, unsent) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (operator, terminal) \
             DO UPDATE SET hotlist_at = excluded.hotlist_at, unsent = excluded.unsent",
        )
        .bind(self.operator.id.as_str())
        .bind(hex::encode(terminal))
        .bind(self.clock.now_millis())
        .bind(unsent)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// What the lost card `serial` holds and whether it may move yet.
    pub async fn movable(&self, serial: &[u8; SERIAL_LEN]) -> Result<Movable, OperatorError> {
        let lost_at = self.lost_at(serial).await?.ok_or(OperatorError::NotLost)?;
        let op = self.operator.id.as_str();
        let card = self.cipher.fingerprint(serial);
        let (loaded, spent) = self.loaded_and_spent(&card).await?;
        // What other members' gates took of it (T-Union) was spent too.
        let spent = spent + self.spent_elsewhere(serial).await?;
        // A member's cards ride at every member's gates, whose hotlist
        // names them: those gates are waited for too.
        let mut waiting = 0;
        for id in std::iter::once(op).chain(self.other_members()) {
            waiting += self.gates_waiting(id, lost_at).await?;
        }
        let moved = self.moved_from(&card).await?;
        Ok(Movable {
            loaded,
            spent,
            balance: u32::try_from((loaded - spent).max(0)).unwrap_or(u32::MAX),
            gates_waiting: usize::try_from(waiting).unwrap_or(usize::MAX),
            moved,
        })
    }

    /// Gates of `operator` that have not downloaded the hotlist with
    /// nothing unsent since `lost_at`, or never did and uploaded records.
    async fn gates_waiting(&self, operator: &str, lost_at: i64) -> Result<i64, OperatorError> {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (\
               SELECT terminal FROM operator_gates \
               WHERE operator = $1 AND (hotlist_at < $2 OR unsent > 0) \
               UNION SELECT DISTINCT r.terminal FROM operator_records r \
               WHERE r.operator = $1 AND NOT EXISTS (SELECT 1 FROM operator_gates g \
                 WHERE g.operator = r.operator AND g.terminal = r.terminal)) w",
        )
        .bind(operator)
        .bind(lost_at)
        .fetch_one(self.db.pool())
        .await?;
        Ok(waiting)
    }

    /// Moves the lost card `from`'s balance onto the card `load` is for
    /// (its amount must be the balance), under `move_id`; the same move id
    /// again completes the same load. See the module documentation.
    pub async fn move_balance(
        &self,
        move_id: &str,
        from: &[u8; SERIAL_LEN],
        load: &LoadRequest,
    ) -> Result<LoadAnswer, OperatorError> {
        check_id("move id", move_id)?;
        if self.stored_move(move_id, from, &load.load_id).await? {
            return self.load_funded(load, Funding::Moved).await;
        }
        let m = self.movable(from).await?;
        if m.moved {
            return Err(OperatorError::AlreadyMoved);
        }
        if m.gates_waiting > 0 {
            return Err(OperatorError::MoveWaiting(m.gates_waiting));
        }
        if load.amount != m.balance || load.payment.is_some() {
            return Err(OperatorError::MoveAmount { balance: m.balance });
        }
        self.check_loadable(load).await?;
        self.begin(load, load.amount)?;
        self.claim_move(move_id, from, load).await?;
        tracing::info!(operator = %self.operator.id, amount = load.amount, "lost card's balance moved");
        self.load_funded(load, Funding::Moved).await
    }

    /// When the card was reported lost, if it was.
    async fn lost_at(&self, serial: &[u8; SERIAL_LEN]) -> Result<Option<i64>, OperatorError> {
        let (reason, counter) = HotlistReason::Lost.code();
        let (at,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(MIN(created_at) AS BIGINT) FROM operator_hotlist \
             WHERE operator = $1 AND card = $2 AND reason = $3 AND counter = $4",
        )
        .bind(self.operator.id.as_str())
        .bind(self.cipher.fingerprint(serial))
        .bind(reason)
        .bind(counter)
        .fetch_one(self.db.pool())
        .await?;
        Ok(at)
    }

    /// Whether `move_id` is stored, for this card and load; a conflict if
    /// for another.
    async fn stored_move(
        &self,
        move_id: &str,
        from: &[u8; SERIAL_LEN],
        load_id: &str,
    ) -> Result<bool, OperatorError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT from_card, load_id FROM operator_moves WHERE operator = $1 AND move_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(move_id)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            None => Ok(false),
            Some((card, id)) if card == self.cipher.fingerprint(from) && id == load_id => Ok(true),
            Some(_) => Err(OperatorError::LoadConflict(move_id.to_owned())),
        }
    }

    /// The lost card's one move, written before its load (unique by card:
    /// a concurrent second move fails here).
    async fn claim_move(
        &self,
        move_id: &str,
        from: &[u8; SERIAL_LEN],
        load: &LoadRequest,
    ) -> Result<(), OperatorError> {
        let done = sqlx::query(
            "INSERT INTO operator_moves (operator, move_id, from_card, load_id, amount, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(self.operator.id.as_str())
        .bind(move_id)
        .bind(self.cipher.fingerprint(from))
        .bind(load.load_id.as_str())
        .bind(i64::from(load.amount))
        .bind(self.clock.now_millis())
        .execute(self.db.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(OperatorError::AlreadyMoved);
        }
        Ok(())
    }
}
