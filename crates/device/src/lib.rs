//! # paytap-device: the emulated phone, watch or band
//!
//! A device is a form factor ([`DeviceKind`]), the id the wallet gave it, an
//! X25519 key pair ([`paytap_seal::DeviceKey`]) the token service seals
//! provisioning payloads to, an enrolled user-verification secret (the
//! emulated fingerprint or face, [`Finger`]) and a **secure element
//! emulator** ([`Device`]):
//!
//! * [`keystore`]: the secure element's memory, one file encrypted at rest
//!   (ChaCha20-Poly1305; key from a device-bound `0600` key file or a
//!   passphrase through Argon2id). Nothing in it is readable in clear: no
//!   key, no token number, no ICC master key.
//! * [`se`]: the secure element API. It installs sealed
//!   [`paytap_seal::ProvisioningPayload`]s (up to eight cards, the default
//!   one first in the PPSE), runs the EMV contactless card applications of
//!   [`paytap_emv::card`] for a tap ([`Tap`], a [`paytap_emv::Transport`]),
//!   persists every ATC *before* the cryptogram that uses it leaves the
//!   card (write-ahead, so a crash never lets an ATC be used twice), checks
//!   the user's finger before reporting CDCVM, applies the low-value
//!   no-CVM path, and verifies the issuer's ARPC (EXTERNAL AUTHENTICATE,
//!   EMV Book 3 §6.5.4). No function returns a key or a token master key,
//!   and every `Debug` is redacted.
//! * [`field`]: the NFC field over TCP (2-byte big-endian length-prefixed
//!   APDUs; the device is the server, the POS the client).
//! * [`wallet`]: the HTTP client of the wallet service (enrol, add card,
//!   OTP, sync provisioning, heartbeat).
//! * [`scan`]: scan to pay: the secure element's chip data for a merchant
//!   code the owner scanned (every such payment needs the owner's finger),
//!   and the payment posted to the acquirer.
//! * [`transit`]: the device's side of a transit top-up (INITIALIZE FOR
//!   LOAD on its own purse, the operator's MAC2, CREDIT FOR LOAD), the
//!   pending load kept in the keystore so a retry resends the same request.
//! * [`band`]: the band's offline payment application: its own Ed25519
//!   key, the platform's certificate, and a signed code per payment with a
//!   counter persisted before the code leaves.
//! * [`locate`]: "find my device" on the device: where it is (kept in the
//!   keystore), the wallet's command channel, and obeying its commands
//!   (report the place, ring, wipe the secure element, ask the owner's
//!   finger for a stepped-up payment), each answered.

pub mod band;
pub mod field;
pub mod keystore;
pub mod locate;
pub mod scan;
pub mod se;
pub mod transit;
pub mod upi;
pub mod wallet;

pub use field::{FieldTransport, read_frame, serve_field, serve_tap, write_frame};
pub use keystore::KeystoreKey;
pub use locate::{Outcome, Owner, PaymentPrompt, Position, obey, obey_command};
pub use se::{CardInfo, Device, DeviceAccess, DeviceKind, Finger, Tap, TapReport};
pub use wallet::{SyncError, SyncReport, WalletClient, WalletClientError, sync_device};

/// Everything that can go wrong in the device and its secure element.
/// Messages never carry a key, a token number or a passcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot {what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("the secure element {0} is in use by another process")]
    Busy(String),
    #[error("a keystore already exists at {0}")]
    Exists(String),
    #[error("the key file {0} is readable by group or others (chmod 600 it)")]
    KeyFilePermissions(String),
    #[error("this keystore is unlocked with {0}")]
    WrongKeyKind(&'static str),
    #[error("the keystore does not open with this key (wrong key or tampered file)")]
    Unlock,
    #[error("the keystore is damaged: {0}")]
    Corrupt(&'static str),
    #[error("the system random number generator failed")]
    Random,
    #[error("the provisioning payload does not open on this device: {0}")]
    Payload(String),
    #[error("the secure element already holds {0} cards")]
    Full(usize),
    #[error("a {0} holds no payment card tokens")]
    NoCardTokens(&'static str),
    #[error("no card with token reference {0} on this device")]
    NoSuchCard(String),
    #[error("token domain {0:?} cannot be used for contactless payments")]
    Domain(String),
    #[error("the device is not enrolled with a wallet yet")]
    NotEnrolled,
    #[error("the secure element holds no card")]
    NoCards,
    #[error("band offline payments: {0}")]
    Band(String),
}
