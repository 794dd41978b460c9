//! Find my device: where a device has been, and the commands its owner
//! sends it ("locate now", "play a sound", "erase").
//!
//! * **Contacts.** Every time a device reaches the wallet (a heartbeat, a
//!   sync, an answer to a command, a connection of its command channel) or
//!   pays (a payment event for one of its tokens), its "last seen" moves.
//!   A contact that carries a position also becomes the device's last
//!   place and a row of its short history, at most
//!   [`MAX_PLACES_PER_DEVICE`] rows (older ones are deleted in the same
//!   transaction).
//! * **Commands** are rows of `wallet_device_commands`, in one of four
//!   states: `queued` (waiting for the device), `delivered` (sent down the
//!   device's channel, not yet answered), then `acknowledged` or `failed`
//!   (the device's answer; final). Delivery is at least once: a command the
//!   device has not answered is sent again each time its channel opens, so
//!   the device recognises commands by id. An answer to a finished command
//!   changes nothing and returns it as it is; a contrary answer is refused
//!   (409).
//! * **Idempotent.** "Locate now" and "Erase" while one of the same kind is
//!   still open return that one: pressing the button twice asks once.
//!   "Play a sound" rings once per press. At most [`MAX_OPEN_COMMANDS`]
//!   open commands per device; beyond that the owner is told to wait (409).
//!   Finished commands are kept for the owner to read, the newest
//!   [`MAX_KEPT_COMMANDS`].
//! * **Erase** deletes every token of the device at the token service at
//!   once ([`Wallet::wipe_device`]), so a device that never comes back pays
//!   nothing; the queued command then makes the device wipe its secure
//!   element when it next connects.
//!
//! The device's channel is [`Wallet::command_feed`]: a stream of the
//! device's open commands, woken by [`CommandBell`] when one is queued in
//! this process and re-reading the queue every [`FEED_RECHECK`] for
//! commands queued by another instance.

use std::collections::HashSet;
use std::time::Duration;

use futures::Stream;
use paytap_store::{Db, Tx};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::{WalletError, stored_text};
use crate::model::{Heartbeat, Location, Principal};
use crate::service::{Wallet, new_id, text_field};
use crate::step_up::{PaymentToVerify, stored_payment};

/// Places kept per device: enough for a short trail on the map, few
/// enough that the history never grows with the device's age.
pub const MAX_PLACES_PER_DEVICE: i64 = 20;

/// Commands waiting for one device (queued or delivered, not answered).
/// A device that stays offline cannot make its queue grow without bound.
pub const MAX_OPEN_COMMANDS: i64 = 8;

/// Finished commands kept per device, newest first, for the owner's page.
pub const MAX_KEPT_COMMANDS: i64 = 20;

/// How often a device's open channel re-reads its queue without being
/// woken: commands queued by another wallet instance arrive within this.
pub const FEED_RECHECK: Duration = Duration::from_secs(5);

/// Queued-command notifications buffered for the channels of this
/// process; a channel that falls behind re-reads the queue anyway.
const BELL_CAPACITY: usize = 256;

/// Longest free-text detail a device may attach to its answer.
const MAX_DETAIL_CHARS: usize = 200;

paytap_types::text_enum! {
    /// What the owner asks the device to do.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CommandKind {
        /// Report where it is now.
        Locate = "locate",
        /// Ring, so someone nearby can find it.
        Sound = "sound",
        /// Wipe the secure element.
        Erase = "erase",
        /// Ask the owner's biometric for a payment the risk engine stepped
        /// up ([`crate::step_up`]); queued by the wallet, never the owner.
        VerifyPayment = "verify_payment",
    }
}

impl CommandKind {
    /// Asking again while one is open adds nothing: the open one answers.
    fn coalesces(self) -> bool {
        !matches!(self, CommandKind::Sound | CommandKind::VerifyPayment)
    }
}

paytap_types::text_enum! {
    /// Where a command is in its life (`wallet_commands.state`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum CommandState {
        Queued = "queued",
        Delivered = "delivered",
        Acknowledged = "acknowledged",
        Failed = "failed",
    }
}

impl CommandState {
    /// Answered by the device: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, CommandState::Acknowledged | CommandState::Failed)
    }
}

/// A command to a device and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceCommand {
    pub id: String,
    pub device_id: String,
    pub kind: CommandKind,
    pub state: CommandState,
    /// Unix milliseconds.
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// When the device answered.
    pub finished_at: Option<i64>,
    /// The device's words on a failure (or a note on success).
    pub detail: Option<String>,
    /// Where the device was when it answered a "locate".
    pub location: Option<Location>,
    /// The payment a "verify_payment" asks about (absent for other kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentToVerify>,
}

paytap_types::text_enum! {
    /// How a place reached the wallet.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ContactKind {
        Heartbeat = "heartbeat",
        Sync = "sync",
        Payment = "payment",
        Command = "command",
    }
}

/// One place of a device's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Place {
    #[serde(flatten)]
    pub location: Location,
    pub source: ContactKind,
}

/// The device's answer to a command.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CommandAnswer {
    /// Done (`acknowledged`) or not (`failed`).
    pub ok: bool,
    pub detail: Option<String>,
    /// Where the device is: required for a successful "locate".
    pub position: Heartbeat,
}

/// Wakes the command channels of this process when a command is queued
/// (the message is the device id).
#[derive(Debug)]
pub struct CommandBell(broadcast::Sender<String>);

impl Default for CommandBell {
    fn default() -> Self {
        CommandBell(broadcast::channel(BELL_CAPACITY).0)
    }
}

/// A checked position in storage units: 1e-7 degrees, centimetres.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Fix {
    lat_e7: i64,
    lon_e7: i64,
    accuracy_cm: i64,
}

/// Checks a reported position: `None` when none was given.
fn checked_fix(hb: &Heartbeat) -> Result<Option<(Fix, Option<String>)>, WalletError> {
    // The accuracy is checked whenever it is given, with or without a
    // position, as the API's schema says.
    let acc = hb.accuracy_m.unwrap_or(0.0);
    if !acc.is_finite() || !(0.0..=1.0e7).contains(&acc) {
        return Err(WalletError::invalid(
            "accuracy_m",
            "must be between 0 and 10000000 metres",
        ));
    }
    let fix = match (hb.lat, hb.lon) {
        (Some(lat), Some(lon)) => {
            if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
                return Err(WalletError::invalid("lat", "must be between -90 and 90"));
            }
            if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
                return Err(WalletError::invalid("lon", "must be between -180 and 180"));
            }
            Fix {
                lat_e7: (lat * 1e7).round() as i64,
                lon_e7: (lon * 1e7).round() as i64,
                accuracy_cm: (acc * 100.0).round() as i64,
            }
        }
        (None, None) if hb.place.is_some() => {
            return Err(WalletError::invalid(
                "place",
                "a place name needs lat and lon",
            ));
        }
        (None, None) => return Ok(None),
        _ => {
            return Err(WalletError::invalid(
                "lat",
                "lat and lon must be given together",
            ));
        }
    };
    let place = match &hb.place {
        Some(pl) => Some(text_field("place", pl, 1, 128)?),
        None => None,
    };
    Ok(Some((fix, place)))
}

fn location_of(
    lat: Option<i64>,
    lon: Option<i64>,
    acc: Option<i64>,
    place: Option<String>,
    at: Option<i64>,
) -> Option<Location> {
    Some(Location {
        lat: lat? as f64 / 1e7,
        lon: lon? as f64 / 1e7,
        accuracy_m: acc? as f64 / 100.0,
        place,
        at: at?,
    })
}

type CommandRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

const COMMAND_COLS: &str = "id, device_id, kind, state, created_at, delivered_at, finished_at, detail, \
     lat_e7, lon_e7, accuracy_cm, place, payment";

fn command_from_row(r: CommandRow) -> Result<DeviceCommand, WalletError> {
    let kind: CommandKind = r.2.parse().map_err(stored_text)?;
    let state: CommandState = r.3.parse().map_err(stored_text)?;
    Ok(DeviceCommand {
        id: r.0,
        device_id: r.1,
        kind,
        state,
        created_at: r.4,
        delivered_at: r.5,
        finished_at: r.6,
        detail: r.7,
        location: location_of(r.8, r.9, r.10, r.11, r.6),
        payment: stored_payment(r.12)?,
    })
}

type PlaceRow = (i64, i64, i64, Option<String>, String, i64);

fn place_from_row(r: PlaceRow) -> Result<Place, WalletError> {
    let source: ContactKind = r.4.parse().map_err(stored_text)?;
    Ok(Place {
        location: Location {
            lat: r.0 as f64 / 1e7,
            lon: r.1 as f64 / 1e7,
            accuracy_m: r.2 as f64 / 100.0,
            place: r.3,
            at: r.5,
        },
        source,
    })
}

/// Deletes the device's finished commands beyond the newest
/// [`MAX_KEPT_COMMANDS`] (after one more was queued).
pub(crate) async fn trim_finished(tx: &mut Tx, device_id: &str) -> Result<(), WalletError> {
    sqlx::query(
        "DELETE FROM wallet_device_commands WHERE device_id = $1 \
         AND state IN ('acknowledged', 'failed') AND id NOT IN \
         (SELECT id FROM wallet_device_commands WHERE device_id = $1 \
          AND state IN ('acknowledged', 'failed') ORDER BY created_at DESC, id DESC LIMIT $2)",
    )
    .bind(device_id)
    .bind(MAX_KEPT_COMMANDS)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A command the device's channel has not sent on this connection yet.
fn unsent(sent: &HashSet<String>, c: &DeviceCommand) -> bool {
    !sent.contains(&c.id)
}

impl Wallet {
    // ----- contacts --------------------------------------------------------

    /// Records a contact from the device: "last seen" is now and, when the
    /// contact carries a position, it becomes the device's last place and
    /// joins its history (bounded by [`MAX_PLACES_PER_DEVICE`]).
    pub async fn report_contact(
        &self,
        p: &Principal,
        device_id: &str,
        hb: &Heartbeat,
        source: ContactKind,
    ) -> Result<(), WalletError> {
        self.device(p, device_id).await?;
        let fix = checked_fix(hb)?;
        let now = self.now();
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_devices SET last_seen_at = $1 WHERE id = $2 AND account_id = $3",
        )
        .bind(now)
        .bind(device_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        if let Some((f, place)) = fix {
            sqlx::query(
                "UPDATE wallet_devices SET lat_e7 = $1, lon_e7 = $2, accuracy_cm = $3, place = $4, \
                 located_at = $5 WHERE id = $6 AND account_id = $7",
            )
            .bind(f.lat_e7)
            .bind(f.lon_e7)
            .bind(f.accuracy_cm)
            .bind(place.clone())
            .bind(now)
            .bind(device_id)
            .bind(&p.account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO wallet_device_places (id, account_id, device_id, lat_e7, lon_e7, accuracy_cm, \
                 place, source, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(new_id())
            .bind(&p.account_id)
            .bind(device_id)
            .bind(f.lat_e7)
            .bind(f.lon_e7)
            .bind(f.accuracy_cm)
            .bind(place)
            .bind(source.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM wallet_device_places WHERE device_id = $1 AND id NOT IN \
                 (SELECT id FROM wallet_device_places WHERE device_id = $1 ORDER BY at DESC, id DESC LIMIT $2)",
            )
            .bind(device_id)
            .bind(MAX_PLACES_PER_DEVICE)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A payment by the device at `at` (Unix milliseconds): "last seen"
    /// moves to it unless the device was seen later. `asked`: the payment
    /// queued a command ([`crate::step_up`]), so the device's open channel
    /// is woken.
    pub(crate) async fn seen_paying(
        &self,
        db: &Db,
        device_id: &str,
        at: i64,
        asked: bool,
    ) -> Result<(), WalletError> {
        if asked {
            // No open channel is not an error: the device gets it on return.
            let _ = self.inner.commands.0.send(device_id.to_owned());
        }
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_devices SET last_seen_at = $1 \
             WHERE id = $2 AND (last_seen_at IS NULL OR last_seen_at < $1)",
        )
        .bind(at)
        .bind(device_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The device's places, newest first (at most [`MAX_PLACES_PER_DEVICE`]).
    pub async fn places(&self, p: &Principal, device_id: &str) -> Result<Vec<Place>, WalletError> {
        self.device(p, device_id).await?;
        let db = self.db(&p.region)?;
        let rows: Vec<PlaceRow> = sqlx::query_as(
            "SELECT lat_e7, lon_e7, accuracy_cm, place, source, at FROM wallet_device_places \
             WHERE device_id = $1 AND account_id = $2 ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(device_id)
        .bind(&p.account_id)
        .bind(MAX_PLACES_PER_DEVICE)
        .fetch_all(db.pool())
        .await?;
        rows.into_iter().map(place_from_row).collect()
    }

    // ----- commands --------------------------------------------------------

    /// Queues a command for the device. Returns it and whether it is new
    /// (`false`: an open command of the same kind answers instead).
    pub async fn send_command(
        &self,
        p: &Principal,
        device_id: &str,
        kind: CommandKind,
    ) -> Result<(DeviceCommand, bool), WalletError> {
        self.device(p, device_id).await?;
        if kind == CommandKind::VerifyPayment {
            return Err(WalletError::invalid(
                "kind",
                "verify_payment is sent by the wallet after a step-up, not by the owner",
            ));
        }
        if kind == CommandKind::Erase {
            self.wipe_device(p, device_id).await?;
        }
        let (id, created) = self.queue_command(p, device_id, kind).await?;
        if created {
            tracing::info!(account = %p.account_id, device = %device_id, command = %id, kind = kind.as_str(), "command queued");
            // No open channel is not an error: the device gets it on return.
            let _ = self.inner.commands.0.send(device_id.to_owned());
        }
        Ok((self.command(p, device_id, &id).await?, created))
    }

    async fn queue_command(
        &self,
        p: &Principal,
        device_id: &str,
        kind: CommandKind,
    ) -> Result<(String, bool), WalletError> {
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        // Takes the device row's lock (PostgreSQL), so two requests for one
        // device queue in turn; on SQLite the write transaction is alone.
        sqlx::query("UPDATE wallet_devices SET id = id WHERE id = $1 AND account_id = $2")
            .bind(device_id)
            .bind(&p.account_id)
            .execute(&mut *tx)
            .await?;
        let open: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, kind FROM wallet_device_commands \
             WHERE device_id = $1 AND state IN ('queued', 'delivered') ORDER BY created_at, id",
        )
        .bind(device_id)
        .fetch_all(&mut *tx)
        .await?;
        if kind.coalesces()
            && let Some((id, _)) = open.iter().find(|(_, k)| k == kind.as_str())
        {
            return Ok((id.clone(), false));
        }
        if open.len() as i64 >= MAX_OPEN_COMMANDS {
            return Err(WalletError::CommandQueueFull {
                limit: MAX_OPEN_COMMANDS as u32,
            });
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO wallet_device_commands (id, account_id, device_id, kind, state, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5)",
        )
        .bind(&id)
        .bind(&p.account_id)
        .bind(device_id)
        .bind(kind.as_str())
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        trim_finished(&mut tx, device_id).await?;
        tx.commit().await?;
        Ok((id, true))
    }

    /// One command of the device (another account's: not found).
    pub async fn command(
        &self,
        p: &Principal,
        device_id: &str,
        command_id: &str,
    ) -> Result<DeviceCommand, WalletError> {
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM wallet_device_commands \
             WHERE id = $1 AND device_id = $2 AND account_id = $3"
        );
        let row: Option<CommandRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(command_id)
            .bind(device_id)
            .bind(&p.account_id)
            .fetch_optional(db.pool())
            .await?;
        command_from_row(row.ok_or(WalletError::NotFound("command"))?)
    }

    /// The device's commands, newest first: the open ones and the
    /// [`MAX_KEPT_COMMANDS`] newest finished ones.
    pub async fn commands(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Vec<DeviceCommand>, WalletError> {
        self.device(p, device_id).await?;
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM wallet_device_commands \
             WHERE device_id = $1 AND account_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<CommandRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(&p.account_id)
            .bind(MAX_KEPT_COMMANDS + MAX_OPEN_COMMANDS)
            .fetch_all(db.pool())
            .await?;
        rows.into_iter().map(command_from_row).collect()
    }

    /// The device's open commands, oldest first, each marked delivered
    /// (a delivered one keeps its first delivery time).
    pub async fn deliver_commands(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Vec<DeviceCommand>, WalletError> {
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_device_commands SET state = 'delivered', delivered_at = $1 \
             WHERE device_id = $2 AND account_id = $3 AND state = 'queued'",
        )
        .bind(self.now())
        .bind(device_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT {COMMAND_COLS} FROM wallet_device_commands \
             WHERE device_id = $1 AND account_id = $2 AND state = 'delivered' ORDER BY created_at, id"
        );
        let rows: Vec<CommandRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(&p.account_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter().map(command_from_row).collect()
    }

    /// The device's answer to a command. Answering is a contact (with the
    /// place, when given). A finished command is returned unchanged when
    /// the answer agrees with it and refused (409) when it does not.
    pub async fn answer_command(
        &self,
        p: &Principal,
        device_id: &str,
        command_id: &str,
        answer: &CommandAnswer,
    ) -> Result<DeviceCommand, WalletError> {
        let c = self.command(p, device_id, command_id).await?;
        let state = if answer.ok {
            CommandState::Acknowledged
        } else {
            CommandState::Failed
        };
        // The answer is checked whole first: a malformed repeat of a
        // finished command is refused like any malformed answer.
        let fix = checked_fix(&answer.position)?;
        let detail = match &answer.detail {
            Some(d) => Some(text_field("detail", d, 1, MAX_DETAIL_CHARS)?),
            None => None,
        };
        if c.state.is_final() {
            return if c.state == state {
                Ok(c)
            } else {
                Err(WalletError::CommandFinished {
                    state: c.state.as_str(),
                })
            };
        }
        if c.kind == CommandKind::Locate && answer.ok && fix.is_none() {
            return Err(WalletError::invalid(
                "lat",
                "an answer to \"locate\" carries lat and lon",
            ));
        }
        self.report_contact(p, device_id, &answer.position, ContactKind::Command)
            .await?;
        self.finish_command(p, &c, state, detail, fix).await?;
        tracing::info!(account = %p.account_id, device = %device_id, command = %c.id, kind = c.kind.as_str(), state = state.as_str(), "command answered");
        self.command(p, device_id, command_id).await
    }

    async fn finish_command(
        &self,
        p: &Principal,
        c: &DeviceCommand,
        state: CommandState,
        detail: Option<String>,
        fix: Option<(Fix, Option<String>)>,
    ) -> Result<(), WalletError> {
        let (lat, lon, acc, place) = match fix {
            Some((f, place)) => (Some(f.lat_e7), Some(f.lon_e7), Some(f.accuracy_cm), place),
            None => (None, None, None, None),
        };
        let now = self.now();
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        // Only an open command changes: of two answers racing, the first wins.
        sqlx::query(
            "UPDATE wallet_device_commands SET state = $1, finished_at = $2, \
             delivered_at = COALESCE(delivered_at, $2), detail = $3, lat_e7 = $4, lon_e7 = $5, \
             accuracy_cm = $6, place = $7 \
             WHERE id = $8 AND account_id = $9 AND state IN ('queued', 'delivered')",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(detail)
        .bind(lat)
        .bind(lon)
        .bind(acc)
        .bind(place)
        .bind(&c.id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The device's command channel: every open command (again after a
    /// reconnection, at least once), then each new one as it is queued.
    /// Opening it is a contact. The stream ends when the session does.
    pub async fn command_feed(
        &self,
        p: &Principal,
        device_id: &str,
        token: zeroize::Zeroizing<String>,
    ) -> Result<impl Stream<Item = DeviceCommand> + Send + 'static, WalletError> {
        self.report_contact(p, device_id, &Heartbeat::default(), ContactKind::Sync)
            .await?;
        let feed = Feed {
            wallet: self.clone(),
            principal: p.clone(),
            device_id: device_id.to_owned(),
            token,
            bell: self.inner.commands.0.subscribe(),
            sent: HashSet::new(),
            ready: Vec::new(),
        };
        Ok(futures::stream::unfold(feed, |mut f| async move {
            let c = f.next().await?;
            Some((c, f))
        }))
    }
}

/// The state of one open command channel.
struct Feed {
    wallet: Wallet,
    principal: Principal,
    device_id: String,
    token: zeroize::Zeroizing<String>,
    bell: broadcast::Receiver<String>,
    /// Commands sent on this connection (a reconnection starts empty).
    sent: HashSet<String>,
    /// Read, not yet sent, newest last.
    ready: Vec<DeviceCommand>,
}

impl Feed {
    async fn next(&mut self) -> Option<DeviceCommand> {
        loop {
            if let Some(c) = self.ready.pop() {
                self.sent.insert(c.id.clone());
                return Some(c);
            }
            // A channel does not outlive its session (expired or logged out).
            self.wallet.authenticate(&self.token).await.ok()?;
            match self
                .wallet
                .deliver_commands(&self.principal, &self.device_id)
                .await
            {
                Ok(list) => {
                    self.ready = list.into_iter().filter(|c| unsent(&self.sent, c)).collect();
                    self.ready.reverse();
                }
                Err(e) => {
                    tracing::warn!(device = %self.device_id, error = %e, "command channel closed: the queue could not be read");
                    return None;
                }
            }
            if self.ready.is_empty() {
                self.wait().await;
            }
        }
    }

    /// Until a command is queued for this device, or [`FEED_RECHECK`].
    async fn wait(&mut self) {
        // Timing out is the other way this wait ends.
        let _ = tokio::time::timeout(FEED_RECHECK, async {
            loop {
                match self.bell.recv().await {
                    Ok(d) if d == self.device_id => return,
                    Ok(_) => {}
                    // Fell behind: re-read the queue.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await;
                    }
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(lat: Option<f64>, lon: Option<f64>, acc: Option<f64>, place: Option<&str>) -> Heartbeat {
        Heartbeat {
            lat,
            lon,
            accuracy_m: acc,
            place: place.map(str::to_owned),
        }
    }

    #[test]
    fn positions_are_checked() {
        let check = |h: Heartbeat, expect: Result<Option<(i64, i64, i64)>, &str>| {
            let got = checked_fix(&h).map(|o| o.map(|(f, _)| (f.lat_e7, f.lon_e7, f.accuracy_cm)));
            match (got, expect) {
                (Ok(g), Ok(e)) => assert_eq!(g, e, "{h:?}"),
                (Err(WalletError::Invalid { field, .. }), Err(f)) => assert_eq!(field, f, "{h:?}"),
                (g, e) => panic!("{h:?}: got {g:?}, expected {e:?}"),
            }
        };
        check(hb(None, None, None, None), Ok(None));
        check(
            hb(Some(31.2304), Some(121.4737), Some(12.5), Some("Shanghai")),
            Ok(Some((312_304_000, 1_214_737_000, 1250))),
        );
        check(
            hb(Some(-90.0), Some(180.0), None, None),
            Ok(Some((-900_000_000, 1_800_000_000, 0))),
        );
        check(hb(Some(90.1), Some(0.0), None, None), Err("lat"));
        check(hb(Some(0.0), Some(-180.5), None, None), Err("lon"));
        check(hb(Some(f64::NAN), Some(0.0), None, None), Err("lat"));
        check(hb(Some(1.0), None, None, None), Err("lat"));
        check(hb(None, None, None, Some("Home")), Err("place"));
        check(hb(None, None, Some(-1.0), None), Err("accuracy_m"));
        check(
            hb(Some(1.0), Some(1.0), Some(f64::INFINITY), None),
            Err("accuracy_m"),
        );
        check(
            hb(Some(1.0), Some(1.0), None, Some("a\u{7}b")),
            Err("place"),
        );
    }

    #[test]
    fn kinds_and_states_round_trip() {
        crate::model::tests::check_texts(CommandKind::ALL);
        crate::model::tests::check_texts(CommandState::ALL);
        crate::model::tests::check_texts(ContactKind::ALL);
        assert!("explode".parse::<CommandKind>().is_err());
    }
}
