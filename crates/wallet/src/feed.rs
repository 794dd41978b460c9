//! The live feed of an account's payments (`GET /api/v1/events`, the web
//! site's payments page) across every instance of the wallet.
//!
//! On SQLite one process owns the database, so a payment it records goes
//! straight to its own subscribers. On PostgreSQL several instances may
//! share the database and an account holder's feed may be open on any of
//! them: a recorded payment is sent with `NOTIFY` on its region's
//! database, and every instance that has a subscriber listens there and
//! hands what it hears to its own (the recording instance hears its own
//! notification, so nobody gets a payment twice). An instance starts
//! listening when its first feed opens, and the feed is answered only
//! once it listens.

use std::sync::Arc;
use std::time::Duration;

use paytap_store::Db;
use serde::{Deserialize, Serialize};

use crate::error::WalletError;
use crate::model::Transaction;
use crate::service::Wallet;

/// The notification channel's base name.
const FEED_CHANNEL: &str = "paytap_wallet_feed";
/// How long a listener that lost its connection waits before it connects
/// again (the payments sent meanwhile stay in the history).
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// One payment on the wire between instances.
#[derive(Serialize, Deserialize)]
struct Note {
    account: String,
    transaction: Transaction,
}

impl Wallet {
    /// Sends one of `account`'s payments, recorded in the region database
    /// `db`, to every subscriber of the account. A payment nobody hears
    /// is not an error: it is in the history.
    pub(crate) async fn publish(&self, db: &Db, account: String, transaction: Transaction) {
        if db.channel(FEED_CHANNEL).is_none() {
            let _ = self.inner.events.send(Arc::new((account, transaction)));
            return;
        }
        let note = Note {
            account,
            transaction,
        };
        let sent = match serde_json::to_string(&note) {
            Ok(payload) => db
                .notify(FEED_CHANNEL, &payload)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "a payment was not sent to the live feed; it is in the history");
        }
    }

    /// Listens on every PostgreSQL region database (each database and
    /// schema once), the first time a feed opens; answers once listening.
    pub(crate) async fn listen_for_feed(&self) -> Result<(), WalletError> {
        self.inner
            .feed_listening
            .get_or_try_init(|| async {
                let mut heard = std::collections::HashSet::new();
                for (region, db) in self.inner.regions.iter() {
                    let Some(channel) = db.channel(FEED_CHANNEL) else {
                        continue;
                    };
                    if !heard.insert(channel) {
                        continue;
                    }
                    let listener = db.listener(FEED_CHANNEL).await?;
                    let events = self.inner.events.clone();
                    let db = db.clone();
                    let region = region.to_owned();
                    tokio::spawn(relay(db, region, listener, events));
                }
                Ok::<(), WalletError>(())
            })
            .await?;
        Ok(())
    }
}

/// Hands every payment heard on `db` to this instance's subscribers, for
/// as long as anyone could subscribe; connects again when the connection
/// drops.
async fn relay(
    db: Db,
    region: String,
    mut listener: Option<sqlx::postgres::PgListener>,
    events: tokio::sync::broadcast::Sender<Arc<(String, Transaction)>>,
) {
    loop {
        if let Some(l) = listener.as_mut() {
            match l.recv().await {
                Ok(n) => match serde_json::from_str::<Note>(n.payload()) {
                    Ok(note) => {
                        let _ = events.send(Arc::new((note.account, note.transaction)));
                    }
                    Err(e) => {
                        tracing::warn!(region, error = %e, "an unreadable live feed notification");
                    }
                },
                Err(e) => {
                    tracing::warn!(region, error = %e, "the live feed's listener lost its connection");
                    listener = None;
                }
            }
            continue;
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
        match db.listener(FEED_CHANNEL).await {
            Ok(l) => listener = l,
            Err(e) => tracing::warn!(region, error = %e, "the live feed's listener cannot connect"),
        }
    }
}
