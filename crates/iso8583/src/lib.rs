//! # paytap-iso8583
//!
//! ISO 8583:1987 ("Financial transaction card originated messages — Interchange
//! message specifications") as spoken on paytap's card network, sans-IO:
//!
//! - [`spec`]: the data element table (clause 4.3) as data; the codec reads nothing else.
//! - [`Message`]: MTI, primary/secondary bitmaps, validation of every element on
//!   `set` and on `decode`, typed accessors for the elements paytap uses.
//! - [`frame`]: the TCP framing (2-byte big-endian length prefix) with a
//!   [`FrameDecoder`] for byte streams.
//! - [`fields`]: paytap's private-use element layouts (DE 48, DE 62, DE 63) and DE 90.
//! - [`mac`]: the acquirer's message authentication code (AES-CMAC in DE 64/128).
//!
//! The wire format is published in `docs/wire-format.md` and `docs/iso8583-fields.json`.
#![deny(missing_docs)]

mod error;
pub mod fields;
pub mod frame;
pub mod mac;
mod message;
mod mti;
mod pan;
pub mod spec;

pub use error::{Error, FieldError};
pub use fields::{
    AMOUNT_DIGITS, CheckResult, MAX_AMOUNT_MINOR, OriginalData, Subelements, TokenData,
    VerificationResults,
};
pub use frame::{FrameDecoder, MAX_FRAME, decode_frame, encode_frame};
pub use mac::{AcquirerKey, MacError};
pub use message::{Message, validate};
pub use mti::Mti;
pub use pan::Pan;
pub use spec::{Encoding, FIELDS, FieldSpec, LengthKind, field_spec};

/// The published field table as JSON (the content of `docs/iso8583-fields.json`).
pub fn field_table_json() -> serde_json::Value {
    let rows: Vec<_> = FIELDS.iter().map(FieldSpec::doc).collect();
    serde_json::json!({
        "standard": "ISO 8583:1987",
        "length_units": "characters; bytes for encoding b",
        "fields": rows,
    })
}

macro_rules! codes {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $c:literal, $desc:literal;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* #[doc = concat!("`", $c, "`: ", $desc, ".")] $v,)* }
        impl $name {
            /// Every code paytap uses.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// The code as sent on the wire.
            pub const fn code(self) -> &'static str { match self { $($name::$v => $c,)* } }
            /// A short description.
            pub const fn description(self) -> &'static str { match self { $($name::$v => $desc,)* } }
            /// Look a wire code up.
            pub fn from_code(c: &str) -> Option<$name> { match c { $($c => Some($name::$v),)* _ => None } }
        }
    };
}

codes!(
    /// DE 39 response codes used by paytap (ISO 8583:1987 annex A values).
    ResponseCode {
        Approved = "00", "Approved or completed successfully";
        ReferToIssuer = "01", "Refer to card issuer";
        DoNotHonour = "05", "Do not honour";
        InvalidTransaction = "12", "Invalid transaction";
        InvalidAmount = "13", "Invalid amount";
        InvalidCardNumber = "14", "Invalid card number (no such number)";
        FormatError = "30", "Format error";
        LostCard = "41", "Lost card, pick up";
        StolenCard = "43", "Stolen card, pick up";
        InsufficientFunds = "51", "Not sufficient funds";
        ExpiredCard = "54", "Expired card";
        IncorrectPin = "55", "Incorrect PIN";
        NotPermittedToCardholder = "57", "Transaction not permitted to cardholder";
        /// A risk decline: the payment looks like fraud.
        SuspectedFraud = "59", "Suspected fraud";
        NotPermittedToTerminal = "58", "Transaction not permitted to terminal";
        ExceedsWithdrawalLimit = "61", "Exceeds withdrawal amount limit";
        RestrictedCard = "62", "Restricted card";
        SecurityViolation = "63", "Security violation";
        ExceedsFrequencyLimit = "65", "Exceeds withdrawal frequency limit";
        IssuerUnavailable = "91", "Issuer or switch inoperative";
        RoutingError = "92", "Financial institution or intermediate network facility cannot be found for routing";
        DuplicateTransmission = "94", "Duplicate transmission";
        SystemMalfunction = "96", "System malfunction";
        /// A risk step-up: verify the account holder again (biometric or OTP), then retry.
        AdditionalAuthenticationRequired = "1A", "Additional customer authentication required";
    }
);

impl ResponseCode {
    /// Is this an approval?
    pub const fn is_approved(self) -> bool {
        matches!(self, ResponseCode::Approved)
    }
}

codes!(
    /// DE 70 network management information codes used by paytap in 0800/0810.
    NetworkManagementCode {
        SignOn = "001", "Sign-on";
        SignOff = "002", "Sign-off";
        KeyChange = "161", "Key change (new working key in DE 48)";
        EchoTest = "301", "Echo test";
    }
);

#[cfg(test)]
mod tests;
