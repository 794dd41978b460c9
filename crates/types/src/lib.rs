//! The vocabulary every paytap service shares.
//!
//! * [`Pan`]: a primary account number (a card number or a payment token's
//!   number). It validates itself (digits, length, Luhn), prints only as
//!   `476173******0119`, is wiped from memory on drop and has no `Display`,
//!   so it cannot slip into a log line by accident. Code that must put the
//!   digits on the wire or into the vault calls [`Pan::expose`] by name.
//! * [`Money`] and [`Currency`]: amounts are integer minor units with an
//!   ISO 4217 currency; arithmetic is checked and refuses to mix currencies.
//! * [`PaymentEvent`]: the network's word to the wallet after an authorization.
//! * [`Expiry`]: a validated `YYMM` card or token expiry, valid through the
//!   end of its month, read and written as `"YYMM"` by serde and parsed
//!   from what a person types by [`Expiry::parse_typed`].
//! * [`DeviceKind`] and its [`Capabilities`]: phone, watch or band, and
//!   which credentials each holds (a band does transit and QR, no cards).
//! * [`PaymentFacts`]: what every payment kind tells the risk and offers
//!   engines (channel, amount, masked card, device, account, UPI id,
//!   merchant, region, place, time).
//! * [`Secret`]: the one wrapper for keys, PINs, passwords and tokens:
//!   `Debug` prints `Secret([REDACTED] <type>)`, the value is opened only
//!   by [`Secret::expose`] or [`Secret::into_inner`], and it is wiped on
//!   drop.
//! * [`Clock`]: the injectable time source of services, with
//!   [`SystemClock`] and the test [`ManualClock`].
//! * [`DurationHistogram`]: a lock-free histogram of durations with the
//!   platform's fixed buckets, for the metrics of the hot paths.
//! * [`PaymentGuard`]: the port every payment kind calls so that the risk
//!   and offers services see it.
//! * [`DeviceStatus`] and [`TokenState`]: the wallet's device and card
//!   statuses, read the same by the wallet service and the device.
//! * [`text_enum!`]: statuses as enums with one text per value, the same
//!   in the database and in the API ([`UnknownText`] for anything else).
//! * [`throttle`]: failed sign-ins buy growing waits ([`throttle::Backoff`]
//!   over a [`throttle::Failures`] count), the rule the account holders'
//!   and the operators' sign-ins share.
//! * [`sync`]: lock helpers that keep a poisoned lock's state only where
//!   that is safe, and say so in the log.

mod clock;
mod device;
mod event;
mod expiry;
mod facts;
mod guard;
mod histogram;
mod money;
mod pan;
mod secret;
mod status;
pub mod sync;
mod text_enum;
pub mod throttle;
mod xorshift;

pub use clock::{Clock, ManualClock, SystemClock, system_millis};
pub use device::{Capabilities, DeviceKind};
pub use event::PaymentEvent;
pub use expiry::{Expiry, ExpiryError, year_month};
pub use facts::{
    COMMUTER_TRANSPORT_MCC, CardFacts, CardType, Channel, DeviceFacts, GeoPoint, MerchantFacts,
    PaymentFacts, UpiFacts, upi_payment_id,
};
pub use guard::{GuardAnswer, GuardFuture, GuardOutcome, PaymentGuard};
pub use histogram::{BUCKET_BOUNDS_MICROS, BUCKETS, DurationHistogram, HistogramSnapshot};
pub use money::{Currency, Money, MoneyError};
pub use pan::{Pan, PanError, luhn_check_digit, luhn_valid, mask_digits};
pub use secret::Secret;
pub use status::{DeviceStatus, TokenState};
pub use text_enum::UnknownText;
pub use xorshift::XorShift64;

/// DE 32 of the acquirer every fresh platform knows (`acquirers.toml`
/// starts with it, with a random key), used by the demo, the benches and
/// the emulated terminals unless told otherwise.
pub const DEMO_ACQUIRER_ID: &str = "10000000001";
