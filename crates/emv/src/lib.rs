//! EMV for paytap: Book 2 cryptography, the contactless card application that
//! lives in a phone's secure element, the issuer-side verifier and the
//! terminal kernel (all sans-IO: bytes in, bytes or typed values out).
//!
//! * [`keys`]: zeroizing, redacting TDES/AES key types.
//! * [`crypto`]: EMV Book 2 Annex A1 key derivation, cryptograms, ARPC.
//! * [`card`]: the card application (one per token) and the
//!   [`card::SecureElement`] holding several of them behind a PPSE.
//! * [`verify`]: the issuer/TSP side: ARQC verification and ARPC.
//! * [`kernel`]: the terminal kernel that drives any card through a [`kernel::Transport`].
//! * [`cryptogram`]: the one definition of the cryptogram input, shared by card and host.
#![deny(missing_docs)]

pub mod card;
pub mod crypto;
pub mod cryptogram;
pub mod kernel;
pub mod keys;
pub mod pan;
pub mod verify;

pub use card::{CardProfile, ContactlessCard, Expiry, SecureElement};
pub use kernel::{
    DirectTransport, Kernel, Outcome, TerminalConfig, Transaction, Transport, TxnDate,
};
pub use keys::{AesKey, EmvKey, KeyError, TdesKey};
pub use pan::TokenPan;
pub use verify::{ArqcVerified, VerifyError, verify_arqc};
