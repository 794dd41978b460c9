//! What a rider sees of their cards, and a device reported lost.
//!
//! The wallet knows a rider's devices, the operator the cards it issued
//! to each (`operator_issued`). [`OperatorHost::device_cards`] answers,
//! for one device, every card the operator issued to it with what the
//! operator knows of it: the balance as loads and cleared fares make it
//! (the same sum a move after loss uses, [`OperatorHost::movable`]), its
//! newest cleared trips and top-ups, and whether it is on the hotlist.
//! Fares a gate still holds are not in it until uploaded: the view says
//! so by the time of its newest cleared trip.
//!
//! [`OperatorHost::report_device_lost`] puts every card issued to a
//! device on the hotlist (reason lost), as the wallet asks when its owner
//! reports the device lost or stolen. It is idempotent, and a card stays
//! on the hotlist when the device is found: its balance moves instead.
//!
//! A card is named by its keyed fingerprint (`card_id`) and its last four
//! digits; the number itself stays with the operator and the device.

use paytap_purse::records::{SERIAL_LEN, TYPE_COMPOUND, TYPE_PURCHASE};
use serde::Serialize;

use crate::issue::nth_serial;
use crate::load::LoadState;
use crate::tunion::TripRow;
use crate::{HotlistReason, OperatorError, OperatorHost, check_id};

/// Most cards of one operator a device's view lists (newest first).
pub const MAX_CARDS_PER_DEVICE: i64 = 16;
/// Newest cleared trips listed per card.
pub const RECENT_TRIPS: i64 = 10;
/// Newest top-ups listed per card.
pub const RECENT_LOADS: i64 = 5;
/// Digits of a card number a rider is shown.
pub const SHOWN_DIGITS: usize = 4;

paytap_types::text_enum! {
    /// Where a card stands at its operator.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CardStatus {
        /// Gates accept it.
        Active = "active",
        /// Reported lost with its device: gates refuse it; its balance may move.
        Lost = "lost",
        /// Clearing found it cloned: gates refuse it.
        Blocked = "blocked",
    }
}

paytap_types::text_enum! {
    /// What a cleared trip was.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum TripKind {
        /// A flat fare (a bus).
        Fare = "fare",
        /// A metro entry (nothing charged yet).
        Entry = "entry",
        /// A metro exit, charged by distance.
        Exit = "exit",
        /// A record of another type.
        Other = "other",
    }
}

impl TripKind {
    fn of(type_id: i64, amount: i64) -> TripKind {
        match u8::try_from(type_id) {
            Ok(TYPE_PURCHASE) => TripKind::Fare,
            Ok(TYPE_COMPOUND) if amount == 0 => TripKind::Entry,
            Ok(TYPE_COMPOUND) => TripKind::Exit,
            _ => TripKind::Other,
        }
    }
}

/// One cleared trip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trip {
    /// When the card made it, `YYYYMMDDhhmmss` in the operator's time.
    pub at: String,
    /// The gate's terminal id, hex.
    pub terminal: String,
    /// What it was.
    pub kind: TripKind,
    /// The fare, minor units.
    pub amount: i64,
    /// The card's balance after it, minor units.
    pub balance_after: i64,
    /// The T-Union member whose gate took it, for a trip in another
    /// city; `None` at our own gates.
    pub accepted_by: Option<String>,
}

paytap_types::text_enum! {
    /// Where a top-up stands.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum TopUpState {
        /// Paid and answered; the card has not yet been seen with it.
        Paid = "paid",
        /// The card was seen past it: it took it.
        OnCard = "on_card",
        /// Given back to the card that paid.
        Refunded = "refunded",
    }
}

/// One top-up (a balance moved from a lost card included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopUp {
    /// When the operator answered it, `YYYYMMDDhhmmss`.
    pub at: String,
    /// Minor units.
    pub amount: i64,
    /// Where it stands.
    pub state: TopUpState,
}

/// One card as its rider sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RiderCard {
    /// The operator's id (`beijing`, …).
    pub operator: String,
    /// The card's keyed fingerprint: its name outside the operator.
    pub card_id: String,
    /// The card number's last [`SHOWN_DIGITS`] digits.
    pub last_digits: String,
    /// The device it was issued to.
    pub device_id: String,
    /// When it was issued, Unix milliseconds.
    pub issued_at: i64,
    /// Top-ups paid and not refunded less fares cleared, minor units.
    pub balance: i64,
    /// Gates accept it, or why not.
    pub status: CardStatus,
    /// Its balance was moved to another card (after a loss).
    pub moved: bool,
    /// The card (id) its holder ordered its balance moved to, if any.
    pub move_ordered_to: Option<String>,
    /// The newest cleared trips, newest first.
    pub trips: Vec<Trip>,
    /// The newest top-ups, newest first.
    pub top_ups: Vec<TopUp>,
}

impl OperatorHost {
    /// Every card this operator issued to `device_id` (newest first, at
    /// most [`MAX_CARDS_PER_DEVICE`]), as its rider sees it.
    pub async fn device_cards(&self, device_id: &str) -> Result<Vec<RiderCard>, OperatorError> {
        check_id("device id", device_id)?;
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT number, card, created_at FROM operator_issued \
             WHERE operator = $1 AND device_id = $2 ORDER BY number DESC LIMIT $3",
        )
        .bind(self.operator.id.as_str())
        .bind(device_id)
        .bind(MAX_CARDS_PER_DEVICE)
        .fetch_all(self.db.pool())
        .await?;
        let mut cards = Vec::with_capacity(rows.len());
        for (number, card, issued_at) in rows {
            cards.push(self.rider_card(device_id, number, card, issued_at).await?);
        }
        Ok(cards)
    }

    /// Puts every card issued to `device_id` on the hotlist as lost; the
    /// number of cards it holds. Idempotent.
    pub async fn report_device_lost(&self, device_id: &str) -> Result<usize, OperatorError> {
        check_id("device id", device_id)?;
        let numbers: Vec<(i64,)> = sqlx::query_as(
            "SELECT number FROM operator_issued WHERE operator = $1 AND device_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(device_id)
        .fetch_all(self.db.pool())
        .await?;
        for (number,) in &numbers {
            let serial = self.issued_serial(*number)?;
            self.report_lost(&serial).await?;
        }
        Ok(numbers.len())
    }

    /// The serial of the operator's `number`-th card, which it issued: a
    /// number outside its range in its own table is a broken invariant.
    pub(crate) fn issued_serial(&self, number: i64) -> Result<[u8; SERIAL_LEN], OperatorError> {
        nth_serial(&self.operator, number).ok_or_else(|| {
            tracing::error!(operator = %self.operator.id, number, "an issued number outside the range");
            OperatorError::Corrupt(format!("issued number {number} out of range"))
        })
    }

    async fn rider_card(
        &self,
        device_id: &str,
        number: i64,
        card: String,
        issued_at: i64,
    ) -> Result<RiderCard, OperatorError> {
        let serial = self.issued_serial(number)?;
        let digits = paytap_transit::config::serial_digits(&serial);
        let last_digits = digits[digits.len().saturating_sub(SHOWN_DIGITS)..].to_owned();
        let (loaded, spent) = self.loaded_and_spent(&card).await?;
        let spent = spent + self.spent_elsewhere(&serial).await?;
        Ok(RiderCard {
            operator: self.operator.id.clone(),
            last_digits,
            device_id: device_id.to_owned(),
            issued_at,
            balance: (loaded - spent).max(0),
            status: self.card_status(&card).await?,
            moved: self.moved_from(&card).await?,
            move_ordered_to: self.ordered_to(&card).await?,
            trips: self.recent_trips(&card, &serial).await?,
            top_ups: self.recent_top_ups(&card).await?,
            card_id: card,
        })
    }

    /// Top-ups paid and not refunded, and fares cleared, of the card with
    /// fingerprint `card`.
    pub(crate) async fn loaded_and_spent(&self, card: &str) -> Result<(i64, i64), OperatorError> {
        let op = self.operator.id.as_str();
        let (loaded,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM operator_loads \
             WHERE operator = $1 AND card = $2 AND state <> 'refunded'",
        )
        .bind(op)
        .bind(card)
        .fetch_one(self.db.pool())
        .await?;
        let (spent,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM operator_records \
             WHERE operator = $1 AND card = $2",
        )
        .bind(op)
        .bind(card)
        .fetch_one(self.db.pool())
        .await?;
        Ok((loaded.unwrap_or(0), spent.unwrap_or(0)))
    }

    async fn card_status(&self, card: &str) -> Result<CardStatus, OperatorError> {
        let reasons: Vec<(String, i64)> = sqlx::query_as(
            "SELECT reason, counter FROM operator_hotlist WHERE operator = $1 AND card = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(card)
        .fetch_all(self.db.pool())
        .await?;
        let reasons: Vec<_> = reasons
            .iter()
            .filter_map(|(r, c)| HotlistReason::from_code(r, *c))
            .collect();
        Ok(if reasons.contains(&HotlistReason::Lost) {
            CardStatus::Lost
        } else if reasons.is_empty() {
            CardStatus::Active
        } else {
            CardStatus::Blocked
        })
    }

    /// Whether the balance of the card with fingerprint `card` moved.
    pub(crate) async fn moved_from(&self, card: &str) -> Result<bool, OperatorError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_moves \
             WHERE operator = $1 AND from_card = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(card)
        .fetch_one(self.db.pool())
        .await?;
        Ok(n > 0)
    }

    /// The newest trips of the card, by its offline counter: at our gates
    /// and, for a member card, at other members' ([`crate::tunion`]).
    async fn recent_trips(
        &self,
        card: &str,
        serial: &[u8; SERIAL_LEN],
    ) -> Result<Vec<Trip>, OperatorError> {
        let rows: Vec<TripRow> = sqlx::query_as(
            "SELECT counter, at, terminal, type_id, amount, balance_before, '' \
             FROM operator_records \
             WHERE operator = $1 AND card = $2 ORDER BY counter DESC LIMIT $3",
        )
        .bind(self.operator.id.as_str())
        .bind(card)
        .bind(RECENT_TRIPS)
        .fetch_all(self.db.pool())
        .await?;
        let mut rows = [rows, self.trips_elsewhere(serial, RECENT_TRIPS).await?].concat();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        rows.truncate(usize::try_from(RECENT_TRIPS).unwrap_or(0));
        Ok(rows
            .into_iter()
            .map(
                |(_, at, terminal, type_id, amount, before, acceptor)| Trip {
                    at,
                    terminal,
                    kind: TripKind::of(type_id, amount),
                    amount,
                    balance_after: before - amount,
                    accepted_by: (!acceptor.is_empty()).then_some(acceptor),
                },
            )
            .collect())
    }

    async fn recent_top_ups(&self, card: &str) -> Result<Vec<TopUp>, OperatorError> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT at, amount, state FROM operator_loads \
             WHERE operator = $1 AND card = $2 ORDER BY created_at DESC, load_id DESC LIMIT $3",
        )
        .bind(self.operator.id.as_str())
        .bind(card)
        .bind(RECENT_LOADS)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, amount, state)| TopUp {
                at,
                amount,
                state: match LoadState::parse(&state) {
                    Some(LoadState::Credited) => TopUpState::OnCard,
                    Some(LoadState::Refunded) => TopUpState::Refunded,
                    Some(LoadState::Answered) => TopUpState::Paid,
                    None => {
                        tracing::error!(state, "a stored load in an unknown state");
                        TopUpState::Paid
                    }
                },
            })
            .collect())
    }
}
