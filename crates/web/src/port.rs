//! The site's port to the wallet service: [`AccountPort`], and the view
//! types the pages are rendered from.
//!
//! The web site owns no data. Every page asks the wallet's service layer,
//! acting for the logged-in account (the wallet's own session), and the
//! wallet decides what that account may see and change: asking about
//! another account's device or card yields [`PortError::NotFound`], exactly
//! as for an id that does not exist, and changes nothing.
//!
//! None of these types can hold a card number: a card is its bank's name
//! and the last four digits of the funding card, nothing more.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use futures::Stream;
use paytap_types::Money;
use zeroize::Zeroizing;

use crate::i18n::Lang;

/// A boxed, sendable future, the return type of every port method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The live feed of one account's new payments (ends when the wallet stops).
pub type PaymentFeed = Pin<Box<dyn Stream<Item = PaymentView> + Send>>;

/// Why the port refused or failed. Messages never carry a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// No session, or one that is unknown, logged out or expired.
    #[error("not logged in or the session has expired")]
    Unauthenticated,
    /// Wrong login or password.
    #[error("wrong login or password")]
    InvalidCredentials,
    /// Sign-in from here is held back after repeated wrong passwords.
    #[error("too many attempts, try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    /// Password checks are at capacity; try again shortly.
    #[error("busy, try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    /// The thing does not exist or belongs to another account.
    #[error("not found")]
    NotFound,
    /// The request was refused; the message is fit to show to the person.
    #[error("{0}")]
    Refused(String),
    /// The wallet or the card network could not be reached.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

/// The logged-in account a page is rendered for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub account_id: String,
    /// The login (e-mail or phone), shown in the header.
    pub login: String,
    pub display_name: String,
    pub language: Lang,
    /// `"cn"`, `"in"`: also picks the time zone dates are shown in.
    pub region: String,
    /// Session expiry, Unix milliseconds.
    pub session_expires_at: i64,
}

/// A fresh wallet session. The token is the bearer secret the cookie holds.
pub struct SignedIn {
    pub token: Zeroizing<String>,
    pub expires_at: i64,
    pub language: Lang,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("language", &self.language)
            .finish()
    }
}

/// Phone, watch or band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Phone,
    Watch,
    Band,
}

/// Why payments were turned off on a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    Lost,
    Stolen,
}

impl LossReason {
    pub fn parse(s: &str) -> Option<LossReason> {
        match s {
            "lost" => Some(LossReason::Lost),
            "stolen" => Some(LossReason::Stolen),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LossReason::Lost => "lost",
            LossReason::Stolen => "stolen",
        }
    }
}

/// Where a device was last seen.
#[derive(Clone, Debug, PartialEq)]
pub struct LastSeen {
    /// Unix milliseconds.
    pub at: i64,
    /// A place name, when the device reported one.
    pub place: Option<String>,
    /// Coordinates in degrees, when the device reported them.
    pub coordinates: Option<(f64, f64)>,
}

/// A device of the account, with its cards.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceView {
    pub id: String,
    pub kind: DeviceKind,
    pub name: String,
    pub model: String,
    /// `None` while payments are on; the reason once they are turned off.
    pub payments_off: Option<LossReason>,
    pub last_seen: Option<LastSeen>,
    /// Whether this kind of device can hold payment cards at all.
    pub holds_cards: bool,
    /// The cards on the device that are not removed.
    pub cards: Vec<CardView>,
}

/// One card on one device (a token at the token service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardView {
    pub id: String,
    pub device_id: String,
    pub device_name: String,
    pub bank_name: String,
    /// Exactly four digits of the funding card.
    pub last4: String,
    pub is_default: bool,
    /// The token is suspended (its device's payments are off).
    pub suspended: bool,
}

/// One payment from the account's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentView {
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    pub merchant_name: String,
    pub amount: Money,
    pub approved: bool,
    /// ISO 8583 DE 39.
    pub response_code: String,
    /// The network's plain-language reason.
    pub reason: String,
    pub card_last4: String,
    pub bank_name: String,
    pub device_id: String,
}

/// A page of history, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PaymentPage {
    pub items: Vec<PaymentView>,
    /// Opaque cursor of the next (older) page.
    pub next_cursor: Option<String>,
}

/// The wallet's service layer as the web site uses it. Every method but
/// `login` and `authenticate` acts for a [`Viewer`] that `authenticate`
/// returned, and must answer [`PortError::NotFound`] (changing nothing)
/// for ids that are not that account's.
pub trait AccountPort: Send + Sync + 'static {
    /// Checks a login and password; opens a wallet session.
    fn login<'a>(
        &'a self,
        login: &'a str,
        password: &'a str,
        client: Option<IpAddr>,
    ) -> BoxFuture<'a, Result<SignedIn, PortError>>;

    /// The account a session token belongs to.
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Viewer, PortError>>;

    /// Ends a session (idempotent).
    fn logout<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), PortError>>;

    /// The account's devices with their cards, newest first.
    fn devices<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<Vec<DeviceView>, PortError>>;

    /// One of the account's devices.
    fn device<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<DeviceView, PortError>>;

    /// Suspends every token on the device at once (lost or stolen).
    fn turn_off_payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        reason: LossReason,
    ) -> BoxFuture<'a, Result<(), PortError>>;

    /// Resumes the device's tokens.
    fn turn_on_payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>>;

    /// Deletes every token on the device; returns how many cards went.
    fn remove_all_cards<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<u32, PortError>>;

    /// Makes a card the default card of its device.
    fn set_default_card<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        card_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>>;

    /// Removes one card (its token is deleted).
    fn remove_card<'a>(
        &'a self,
        viewer: &'a Viewer,
        device_id: &'a str,
        card_id: &'a str,
    ) -> BoxFuture<'a, Result<(), PortError>>;

    /// The account's payments, newest first.
    fn payments<'a>(
        &'a self,
        viewer: &'a Viewer,
        cursor: Option<&'a str>,
        limit: u32,
    ) -> BoxFuture<'a, Result<PaymentPage, PortError>>;

    /// New payments of the account as they happen.
    fn payment_feed<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<PaymentFeed, PortError>>;
}
