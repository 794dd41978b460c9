//! "Find my device" on the device.
//!
//! * [`Position`]: where the device is, as its location service says; kept
//!   in the keystore ([`crate::Device::set_position`]) and sent with every
//!   sync and after every payment ([`WalletClient::report_place`]).
//! * [`obey`]: what the device does with a command, without any I/O of its
//!   own: "locate" answers with the position (or fails without a fix),
//!   "sound" rings through the caller's `ring`, "erase" wipes the secure
//!   element ([`crate::Device::erase`]), "verify_payment" (a payment the
//!   risk engine stepped up) shows the payment and asks the owner's
//!   biometric through the caller's `touch`: the owner's finger arms the
//!   next tap with the consumer device CVM ([`crate::Device::verify_owner`])
//!   and answers `verified`; anything else answers `refused`.
//! * [`CommandChannel`]: the server-sent event stream the device keeps open
//!   to the wallet; [`listen`] obeys what arrives and answers each command.
//!   The wallet sends an unanswered command again after a reconnection, so
//!   [`listen`] answers a command it already obeyed with the same outcome
//!   instead of obeying twice.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::se::DeviceAccess;
use crate::wallet::{DeviceInfo, WalletClient, WalletClientError};
use crate::{Device, Finger};

/// The wallet sends a keep-alive every 15 s: three missed and the channel
/// is taken for dead and opened again.
pub const CHANNEL_READ_TIMEOUT: Duration = Duration::from_secs(45);

/// Pause before opening a channel again after it closed or failed.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Largest event the device accepts from its channel; a command is a few
/// hundred bytes.
const MAX_EVENT_BYTES: usize = 16 * 1024;

/// Commands remembered by id in one [`listen`] run, to answer a
/// re-delivered one without obeying it twice.
const MAX_REMEMBERED: usize = 256;

/// Where the device is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    /// Radius of the 68 % confidence circle, metres.
    pub accuracy_m: f64,
    pub place: Option<String>,
}

/// Why the device reports its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Heartbeat,
    Sync,
    Payment,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Heartbeat => "heartbeat",
            Reason::Sync => "sync",
            Reason::Payment => "payment",
        }
    }
}

/// A command from the wallet, as the channel delivers it.
#[derive(Clone, Debug, Deserialize)]
pub struct CommandInfo {
    pub id: String,
    pub device_id: String,
    /// `locate`, `sound` or `erase`.
    pub kind: String,
    /// `queued`, `delivered`, `acknowledged` or `failed`.
    pub state: String,
    pub created_at: i64,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub location: Option<Position>,
    /// The payment a "verify_payment" asks about.
    #[serde(default)]
    pub payment: Option<PaymentPrompt>,
}

/// What the phone shows when the wallet asks it to verify a payment.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PaymentPrompt {
    /// The payment's id in the wallet's history.
    pub payment_id: String,
    pub merchant_name: String,
    pub amount: paytap_types::Money,
    /// Decimal amount, e.g. `12.50`.
    pub amount_display: String,
}

/// What obeying a command came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// "locate": here.
    Located(Position),
    /// "sound": the device rang.
    Rang,
    /// "erase": the secure element is empty (this many cards and purses
    /// were removed).
    Erased(usize),
    /// "verify_payment": the owner's finger; the next tap is verified.
    Verified,
    /// "verify_payment": the owner did not verify (no finger, or not the
    /// enrolled one); nothing is armed.
    Refused,
    /// Could not: why, in the device's words.
    Failed(String),
}

impl Outcome {
    /// The body of the answer to the wallet. Every answer is a contact,
    /// so it carries where the device is (`here`) when it knows; a
    /// "locate" carries the place it found.
    fn answer(&self, here: Option<&Position>) -> serde_json::Value {
        let (mut body, place) = match self {
            Outcome::Located(p) => (json!({ "ok": true }), Some(p)),
            Outcome::Rang => (json!({ "ok": true, "detail": "rang" }), here),
            Outcome::Erased(n) => (
                json!({ "ok": true, "detail": format!("secure element wiped ({n} removed)") }),
                here,
            ),
            Outcome::Verified => (json!({ "ok": true, "detail": "verified" }), here),
            Outcome::Refused => (json!({ "ok": false, "detail": "refused" }), here),
            Outcome::Failed(why) => (json!({ "ok": false, "detail": why }), here),
        };
        if let (Some(p), Some(fields)) = (place, body.as_object_mut()) {
            fields.insert("lat".into(), json!(p.lat));
            fields.insert("lon".into(), json!(p.lon));
            fields.insert("accuracy_m".into(), json!(p.accuracy_m));
            if let Some(name) = &p.place {
                fields.insert("place".into(), json!(name));
            }
        }
        body
    }
}

/// The owner's side of the device's commands.
pub struct Owner<'a> {
    /// Makes the sound ("sound").
    pub ring: &'a mut dyn FnMut(),
    /// Shows the payment and reads the sensor ("verify_payment"): the
    /// finger presented, or `None` when the owner declines.
    pub touch: &'a mut dyn FnMut(&PaymentPrompt) -> Option<Finger>,
}

/// Does what a command asks, with the owner when it needs them.
pub fn obey_command(device: &mut Device, c: &CommandInfo, owner: &mut Owner<'_>) -> Outcome {
    match (c.kind.as_str(), &c.payment) {
        ("verify_payment", Some(p)) => verify_payment(device, p, owner.touch),
        ("verify_payment", None) => Outcome::Failed("no payment to verify".into()),
        (kind, _) => obey(device, kind, owner.ring),
    }
}

/// Asks the owner's biometric for a stepped-up payment.
fn verify_payment(
    device: &mut Device,
    p: &PaymentPrompt,
    touch: &mut dyn FnMut(&PaymentPrompt) -> Option<Finger>,
) -> Outcome {
    let finger = touch(p);
    match device.verify_owner(finger.as_ref()) {
        Ok(true) => Outcome::Verified,
        Ok(false) => Outcome::Refused,
        Err(e) => Outcome::Failed(format!("could not arm the next tap: {e}")),
    }
}

/// Does what a command asks. `ring` makes the sound.
pub fn obey(device: &mut Device, kind: &str, ring: &mut dyn FnMut()) -> Outcome {
    match kind {
        "locate" => match device.position() {
            Some(p) => Outcome::Located(p.clone()),
            None => Outcome::Failed("no location fix".into()),
        },
        "sound" => {
            ring();
            Outcome::Rang
        }
        "erase" => match device.erase() {
            Ok(n) => Outcome::Erased(n),
            Err(e) => Outcome::Failed(format!("wipe failed: {e}")),
        },
        other => {
            tracing::warn!(kind = other, "unknown command");
            Outcome::Failed(format!("unknown command {other:?}"))
        }
    }
}

impl WalletClient {
    /// Reports the device alive at `here`, saying why.
    pub async fn report_place(
        &self,
        device_id: &str,
        why: Reason,
        here: &Position,
    ) -> Result<DeviceInfo, WalletClientError> {
        let body = json!({ "lat": here.lat, "lon": here.lon, "accuracy_m": here.accuracy_m,
                           "place": here.place, "source": why.as_str() });
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/heartbeat"),
            Some(body),
        )
        .await
    }

    /// Asks the device to do something (what the owner's buttons do).
    pub async fn send_command(
        &self,
        device_id: &str,
        kind: &str,
    ) -> Result<CommandInfo, WalletClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/commands"),
            Some(json!({ "kind": kind })),
        )
        .await
    }

    /// The commands sent to the device, newest first.
    pub async fn commands(&self, device_id: &str) -> Result<Vec<CommandInfo>, WalletClientError> {
        #[derive(Deserialize)]
        struct List {
            commands: Vec<CommandInfo>,
        }
        let l: List = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/devices/{device_id}/commands"),
                None,
            )
            .await?;
        Ok(l.commands)
    }

    /// Answers a command with its outcome, and where the device is
    /// (`here`) when it knows.
    pub async fn answer(
        &self,
        device_id: &str,
        command_id: &str,
        outcome: &Outcome,
        here: Option<&Position>,
    ) -> Result<CommandInfo, WalletClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/commands/{command_id}/ack"),
            Some(outcome.answer(here)),
        )
        .await
    }

    /// Opens the device's command channel.
    pub async fn open_channel(&self, device_id: &str) -> Result<CommandChannel, WalletClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(CHANNEL_READ_TIMEOUT)
            .build()
            .map_err(|e| self.unreachable(e))?;
        let mut rb = http.get(format!(
            "{}/api/v1/devices/{device_id}/commands/stream",
            self.base
        ));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(WalletClientError::Api {
                status: resp.status().as_u16(),
                code: "channel_refused".into(),
                message: format!("the command channel was refused ({})", resp.status()),
            });
        }
        Ok(CommandChannel {
            resp,
            buf: Vec::new(),
        })
    }
}

/// The device's open command channel (server-sent events).
pub struct CommandChannel {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl CommandChannel {
    /// The next command; `None` when the wallet closed the channel.
    pub async fn next(&mut self) -> Result<Option<CommandInfo>, WalletClientError> {
        loop {
            while let Some(frame) = take_frame(&mut self.buf) {
                if let Some(c) = command_of(&frame)? {
                    return Ok(Some(c));
                }
            }
            if self.buf.len() > MAX_EVENT_BYTES {
                return Err(WalletClientError::Decode(
                    "an event larger than 16 KiB".into(),
                ));
            }
            let chunk = self
                .resp
                .chunk()
                .await
                .map_err(|e| WalletClientError::Transport {
                    url: "the command channel".into(),
                    reason: e.without_url().to_string(),
                })?;
            match chunk {
                Some(c) => self.buf.extend_from_slice(&c),
                None => return Ok(None),
            }
        }
    }
}

/// Takes one event (up to its blank line) off the front of `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Option<String> {
    let end = buf.windows(2).position(|w| w == b"\n\n")?;
    let frame: Vec<u8> = buf.drain(..end + 2).collect();
    Some(String::from_utf8_lossy(&frame).into_owned())
}

/// The command in an event; `None` for keep-alives and other events.
fn command_of(frame: &str) -> Result<Option<CommandInfo>, WalletClientError> {
    let mut event = "message";
    let mut data = String::new();
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if event != "command" || data.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&data)
        .map(Some)
        .map_err(|e| WalletClientError::Decode(e.to_string()))
}

/// Keeps the channel open and obeys ([`obey_command`]): each command is
/// obeyed once and answered; `on` hears every (command, outcome). Returns after `limit`
/// commands when given, else runs until the wallet refuses the channel
/// (the session ended, the device is gone).
pub async fn listen(
    device: &mut impl DeviceAccess,
    client: &WalletClient,
    limit: Option<usize>,
    owner: &mut Owner<'_>,
    on: &mut dyn FnMut(&CommandInfo, &Outcome),
) -> Result<usize, WalletClientError> {
    let device_id = device
        .with(|d| d.device_id().map(str::to_owned))
        .ok_or_else(|| WalletClientError::Decode("the device is not enrolled".into()))?;
    let mut done: HashMap<String, Outcome> = HashMap::new();
    let mut handled = 0usize;
    while limit.is_none_or(|l| handled < l) {
        let mut channel = match client.open_channel(&device_id).await {
            Ok(c) => c,
            Err(e @ WalletClientError::Api { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "command channel unavailable; retrying");
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        while limit.is_none_or(|l| handled < l) {
            let c = match channel.next().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "command channel broken; reopening");
                    break;
                }
            };
            let (outcome, here) = device.with(|d| {
                let outcome = match done.get(&c.id) {
                    Some(o) => o.clone(),
                    None => obey_command(d, &c, owner),
                };
                (outcome, d.position().cloned())
            });
            client
                .answer(&device_id, &c.id, &outcome, here.as_ref())
                .await?;
            on(&c, &outcome);
            if done.len() >= MAX_REMEMBERED {
                done.clear();
            }
            done.insert(c.id.clone(), outcome);
            handled += 1;
        }
        if limit.is_none_or(|l| handled < l) {
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_and_parsed() {
        let mut buf = b": keep-alive\n\nevent: command\nid: c1\ndata: {\"id\":\"c1\",\"device_id\":\"d\",\"kind\":\"sound\",\"state\":\"delivered\",\"created_at\":5}\n\nevent: comm".to_vec();
        let f1 = take_frame(&mut buf).unwrap();
        assert_eq!(command_of(&f1).unwrap().map(|c| c.id), None);
        let f2 = take_frame(&mut buf).unwrap();
        let c = command_of(&f2).unwrap().unwrap();
        assert_eq!((c.id.as_str(), c.kind.as_str()), ("c1", "sound"));
        // The rest waits for more bytes.
        assert_eq!(take_frame(&mut buf), None);
        assert_eq!(buf, b"event: comm");
        assert!(command_of("event: command\ndata: {not json}\n\n").is_err());
        assert_eq!(
            command_of("event: payment\ndata: {}\n\n")
                .unwrap()
                .map(|c| c.id),
            None
        );
    }
}
