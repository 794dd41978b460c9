//! Rewards points as the wallet asks for them, from a region's own risk and
//! offers services (`paytap-guard`): [`GuardPoints`] answers the wallet's
//! two points calls over one region's [`Guard`]. The card network's
//! `NetworkPort` answers them over the network's guard (China's accounts);
//! the platform attaches India's guard for the `in` region
//! (`Wallet::attach_points`), so an India account's points are the ones
//! India's guard gave on its UPI and bill payments, kept in the `in`
//! database, and a redemption pays its cashback on the INR ledger there.

use paytap_guard::{Guard, GuardError, OffersService};
use paytap_types::{Currency, Money};
use paytap_wallet::points::{Points, PointsEntry, PointsKeeper};
use paytap_wallet::{BoxFuture, NetworkError};
use std::sync::Arc;

/// One region's points over its guard (`None`: risk and offers are off
/// there, and so are points).
pub struct GuardPoints(pub Option<Arc<Guard>>);

impl GuardPoints {
    /// The offers service, which keeps the points.
    fn offers(&self) -> Result<&OffersService, NetworkError> {
        offers_of(self.0.as_deref())
    }
}

/// The offers service of `guard`, or why there are no points.
pub fn offers_of(guard: Option<&Guard>) -> Result<&OffersService, NetworkError> {
    guard
        .and_then(|g| g.offers.as_ref())
        .ok_or_else(|| NetworkError::Unavailable("offers and points are off".into()))
}

/// An account's points, as the wallet shows them.
pub async fn points(offers: &OffersService, account_id: &str) -> Result<Points, NetworkError> {
    let held = offers
        .points(account_id)
        .await
        .map_err(|e| NetworkError::Unavailable(e.to_string()))?;
    Ok(Points {
        points: held.points,
        entries: held
            .entries
            .into_iter()
            .map(|e| PointsEntry {
                kind: e.kind,
                points: e.points,
                payment_id: e.payment_id,
                cashback: e.cashback,
                at: e.at_ms,
            })
            .collect(),
    })
}

/// A redemption: the cashback paid, the holder's mistake as `Rejected`.
pub async fn redeem(
    offers: &OffersService,
    account_id: &str,
    points: u64,
    currency: Currency,
    key: &str,
) -> Result<Money, NetworkError> {
    match offers
        .redeem_points(account_id, points, currency, key)
        .await
    {
        Ok(cashback) => Ok(cashback),
        Err(e @ (GuardError::Points(_) | GuardError::Invalid(_))) => {
            Err(NetworkError::Rejected(e.to_string()))
        }
        Err(e) => Err(NetworkError::Unavailable(e.to_string())),
    }
}

impl PointsKeeper for GuardPoints {
    fn points<'a>(&'a self, account_id: &'a str) -> BoxFuture<'a, Result<Points, NetworkError>> {
        Box::pin(async move { points(self.offers()?, account_id).await })
    }

    fn redeem_points<'a>(
        &'a self,
        account_id: &'a str,
        points: u64,
        currency: Currency,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Money, NetworkError>> {
        Box::pin(async move { redeem(self.offers()?, account_id, points, currency, key).await })
    }
}
