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

mod event;
mod money;
mod pan;

pub use event::PaymentEvent;
pub use money::{Currency, Money, MoneyError};
pub use pan::{Pan, PanError, luhn_check_digit, luhn_valid, mask_digits};

/// DE 32 of the acquirer every fresh platform knows (`acquirers.toml`
/// starts with it, with a random key), used by the demo, the benches and
/// the emulated terminals unless told otherwise.
pub const DEMO_ACQUIRER_ID: &str = "10000000001";
