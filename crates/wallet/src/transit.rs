//! An account's transit cards: what the rider sees, and a lost device's
//! cards put on the operators' hotlists.
//!
//! The cards live at the transit operators, which know the device each
//! card was issued to; the wallet knows the account's devices. The
//! platform attaches the operators as [`TransitCards`] with
//! [`Wallet::attach_transit`]:
//!
//! * `GET /api/v1/transit/cards` ([`Wallet::transit_cards`]): every card
//!   issued to the account's devices (at most [`MAX_DEVICES`]), with the
//!   balance, trips and top-ups its operator knows of: top-ups paid and
//!   not refunded less fares cleared. A fare a gate has not yet uploaded
//!   is not in it; the card's own balance is what the device shows.
//! * [`Wallet::suspend_device`] (a device reported lost or stolen) asks
//!   the operators to hotlist every card issued to the device, so its next
//!   tap at a gate that downloaded the hotlist is refused. A card stays
//!   hotlisted when the device is found; its balance moves to a card on
//!   another device instead. If an operator cannot be reached the report
//!   fails and is made again by the next report of the device, and by a
//!   listing of the account's cards that finds a card of a suspended
//!   device still active.
//!
//! * `POST /api/v1/transit/cards/{card_id}/move` (`{"to_card_id"}`,
//!   [`Wallet::order_transit_move`]): the balance of a card lost with its
//!   device ordered onto a card of the same operator on another of the
//!   account's devices; that device completes it at its next sync, once
//!   every gate has uploaded what it holds (`paytap device transit sync`).
//!
//! Each card also carries its balance as its device last read it
//! ([`crate::transit_readings`]).
//!
//! Only the account's own devices are asked about; without a port the
//! account has no transit cards.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use paytap_types::{DeviceKind, DeviceStatus};
use serde::{Deserialize, Serialize};

use crate::WalletError;
use crate::http::{ApiError, Authed, to_value};
use crate::idempotency::Fingerprinted;
use crate::model::{Device, Principal};
use crate::port::{BoxFuture, NetworkError};
use crate::service::Wallet;
use crate::transit_readings::TransitReading;

/// Most devices of one account whose transit cards are listed.
pub const MAX_DEVICES: usize = 32;
/// [`TransitCard::status`] of a card gates accept.
pub const STATUS_ACTIVE: &str = "active";

/// One trip the operator cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitTrip {
    /// When the card made it, `YYYYMMDDhhmmss` in the operator's time.
    pub at: String,
    /// The gate's terminal id, hex.
    pub terminal: String,
    /// `fare` (flat, a bus), `entry` or `exit` (metro), `other`.
    pub kind: String,
    /// Minor units of the card's currency.
    pub amount: i64,
    /// The card's balance after it.
    pub balance_after: i64,
    /// The T-Union member whose gate took it, where that is not the card's
    /// own operator (a ride in another city).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<TransitAcceptor>,
}

/// The operator whose gate took a trip in another city.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitAcceptor {
    /// Its id (`shanghai`).
    pub operator: String,
    /// Its name (`Shanghai Public Transportation Card`).
    pub name: String,
}

/// One top-up of a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitTopUp {
    /// When the operator answered it, `YYYYMMDDhhmmss`.
    pub at: String,
    /// Minor units.
    pub amount: i64,
    /// `paid` (the card not yet seen with it), `on_card` or `refunded`.
    pub state: String,
}

/// One transit card as its rider sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitCard {
    /// The operator (`beijing`, `shanghai`, …).
    pub operator: String,
    /// The card's name, its operator's (`Beijing Yikatong`).
    pub card_name: String,
    /// The card's name outside the operator (a keyed fingerprint).
    pub card_id: String,
    /// The card number's last digits.
    pub last_digits: String,
    /// The device it was issued to.
    pub device_id: String,
    /// That device's name and kind (filled in by the wallet).
    #[serde(default)]
    pub device_name: String,
    /// The device's kind (filled in by the wallet).
    #[serde(default = "default_kind")]
    pub device_kind: DeviceKind,
    /// When it was issued, Unix milliseconds.
    pub issued_at: i64,
    /// ISO 4217 code of its balance.
    pub currency: String,
    /// Top-ups paid and not refunded less fares cleared, minor units.
    pub balance: i64,
    /// The card's own balance as its device last read it (every tap
    /// counted, uploaded or not), minor units; absent until the device
    /// reports ([`crate::transit_readings`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_balance: Option<i64>,
    /// When the device read it, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_read_at: Option<i64>,
    /// `active`, `lost` (hotlisted with its device) or `blocked` (cloned).
    pub status: String,
    /// Its balance was moved to another card after a loss.
    pub moved: bool,
    /// The card (`card_id`) its holder ordered the balance moved to.
    #[serde(default)]
    pub move_ordered_to: Option<String>,
    /// The newest cleared trips, newest first.
    pub trips: Vec<TransitTrip>,
    /// The newest top-ups, newest first.
    pub top_ups: Vec<TransitTopUp>,
}

fn default_kind() -> DeviceKind {
    DeviceKind::Phone
}

/// A lost card's balance ordered to another card, as the operator
/// recorded it (`POST /api/v1/transit/cards/{card_id}/move`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitMoveOrder {
    /// The id the receiving device completes it under.
    pub move_id: String,
    /// The lost card.
    pub from_card_id: String,
    /// The receiving card.
    pub to_card_id: String,
    /// What moves: top-ups paid and not refunded less fares cleared, minor
    /// units, as of now.
    pub amount: i64,
    /// Gates that have not yet confirmed the hotlist with everything
    /// uploaded; the move waits for them.
    pub gates_waiting: u64,
    /// The balance was moved already.
    pub moved: bool,
}

/// Why the operators did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitFailure {
    /// The operator refused, saying why (a card not lost, already moved,
    /// ordered to another card, a hotlisted target).
    Refused(String),
    /// The operator did not answer.
    Unavailable(String),
}

/// The transit operators, as the wallet reaches them.
pub trait TransitCards: Send + Sync {
    /// Orders the lost card `from_card`'s balance onto `to_card`, both of
    /// `operator`. Idempotent: the same order answers the same.
    fn order_move<'a>(
        &'a self,
        operator: &'a str,
        from_card: &'a str,
        to_card: &'a str,
    ) -> BoxFuture<'a, Result<TransitMoveOrder, TransitFailure>>;

    /// Every card any operator issued to `device_id`, newest first.
    fn device_cards<'a>(
        &'a self,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TransitCard>, String>>;

    /// Puts every card issued to `device_id` on its operator's hotlist as
    /// lost; how many. Idempotent.
    fn device_lost<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Result<usize, String>>;
}

/// The account's transit cards, as `GET /api/v1/transit/cards` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitCardList {
    /// Newest device first, each device's cards newest first.
    pub cards: Vec<TransitCard>,
}

fn unavailable(why: String) -> WalletError {
    tracing::warn!(%why, "the transit operators did not answer");
    WalletError::Network(NetworkError::Unavailable("transit operators".into()))
}

impl Wallet {
    /// Attaches the transit operators (once; later calls are ignored).
    pub fn attach_transit(&self, port: Arc<dyn TransitCards>) {
        if self.inner.transit.set(port).is_err() {
            tracing::warn!("transit operators were already attached");
        }
    }

    /// Every transit card issued to the account's devices. A suspended
    /// device whose cards are not all hotlisted is reported lost again
    /// (module docs).
    pub async fn transit_cards(&self, p: &Principal) -> Result<TransitCardList, WalletError> {
        let Some(port) = self.inner.transit.get() else {
            return Ok(TransitCardList { cards: Vec::new() });
        };
        let mut devices = self.devices(p).await?;
        devices.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        devices.truncate(MAX_DEVICES);
        let mut cards = Vec::new();
        for device in &devices {
            let mut mine = port.device_cards(&device.id).await.map_err(unavailable)?;
            // A suspended device's card still active: its operator missed
            // the report; it is made again.
            let missed = mine.iter().any(|c| c.status == STATUS_ACTIVE);
            if device.status == DeviceStatus::Suspended && missed {
                port.device_lost(&device.id).await.map_err(unavailable)?;
                mine = port.device_cards(&device.id).await.map_err(unavailable)?;
            }
            let read = self.transit_readings(p, &device.id).await?;
            cards.extend(mine.into_iter().map(|c| as_read(named(c, device), &read)));
        }
        Ok(TransitCardList { cards })
    }

    /// Orders the balance of the account's lost card `from_card_id` onto
    /// its card `to_card_id` of the same operator, which that card's device
    /// completes at its next sync (module docs). Both must be the
    /// account's (else 404, as for a card that does not exist).
    pub async fn order_transit_move(
        &self,
        p: &Principal,
        from_card_id: &str,
        to_card_id: &str,
    ) -> Result<TransitMoveOrder, WalletError> {
        let port = self
            .inner
            .transit
            .get()
            .ok_or(WalletError::NotFound("transit card"))?;
        let cards = self.transit_cards(p).await?.cards;
        let find = |id: &str| {
            cards
                .iter()
                .find(|c| c.card_id == id)
                .ok_or(WalletError::NotFound("transit card"))
        };
        let (from, to) = (find(from_card_id)?, find(to_card_id)?);
        if from.operator != to.operator {
            return Err(WalletError::invalid(
                "to_card_id",
                "a balance moves to a card of the same city",
            ));
        }
        match port
            .order_move(&from.operator, from_card_id, to_card_id)
            .await
        {
            Ok(order) => {
                tracing::info!(account = %p.account_id, amount = order.amount, "transit balance move ordered");
                Ok(order)
            }
            Err(TransitFailure::Refused(why)) => Err(WalletError::TransitRefused(why)),
            Err(TransitFailure::Unavailable(why)) => Err(unavailable(why)),
        }
    }

    /// Hotlists the transit cards of a device reported lost (module docs).
    pub(crate) async fn transit_device_lost(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<(), WalletError> {
        let Some(port) = self.inner.transit.get() else {
            return Ok(());
        };
        let n = port.device_lost(device_id).await.map_err(unavailable)?;
        if n > 0 {
            tracing::info!(account = %p.account_id, device = %device_id, cards = n, "transit cards hotlisted");
        }
        Ok(())
    }
}

/// `card` with its balance as its device last read it, if the device
/// reported exactly one card of these last digits.
fn as_read(mut card: TransitCard, read: &[(TransitReading, i64)]) -> TransitCard {
    let mut same = read
        .iter()
        .filter(|(r, _)| r.last_digits == card.last_digits);
    if let (Some((r, at)), None) = (same.next(), same.next()) {
        card.device_balance = Some(r.balance);
        card.device_read_at = Some(*at);
    }
    card
}

fn named(mut card: TransitCard, device: &Device) -> TransitCard {
    card.device_name = device.name.clone();
    card.device_kind = device.kind;
    card
}

pub(crate) fn routes() -> Router<Wallet> {
    Router::new()
        .route("/api/v1/transit/cards", get(cards))
        .route("/api/v1/transit/cards/{card_id}/move", post(order_move))
        .route(
            "/api/v1/devices/{device_id}/transit-readings",
            put(crate::transit_readings::put_readings),
        )
}

async fn cards(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let list = w.transit_cards(&auth.principal).await?;
    Ok(axum::Json(to_value(&list)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    to_card_id: String,
}

async fn order_move(
    State(w): State<Wallet>,
    auth: Authed,
    Path(card_id): Path<String>,
    Fingerprinted { body, .. }: Fingerprinted<MoveBody>,
) -> Result<Response, ApiError> {
    let order = w
        .order_transit_move(&auth.principal, &card_id, &body.to_card_id)
        .await?;
    Ok(axum::Json(to_value(&order)?).into_response())
}
