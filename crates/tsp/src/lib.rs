//! paytap-tsp: the token service provider (EMV Payment Tokenisation
//! Specification, Technical Framework v2.x) of the paytap card network.
//!
//! It owns the `tsp_tokens` and `tsp_token_events` tables and:
//!
//! * issues tokens from per-issuer token BIN ranges ([`number`]): Luhn-valid,
//!   never equal to a card number or another token (checked against the
//!   vault's keyed fingerprints), one live token per (card, device), each
//!   bound to a token requestor (the wallet, an 11-digit TRID) and a device;
//! * restricts each token to its domain ([`domain`]): a device token only
//!   with contactless chip entry (DE 22 `07x`), a QR token only with QR
//!   (`03x`), never magnetic stripe or key entry;
//! * runs the lifecycle inactive → active ⇄ suspended → deleted with an
//!   event row per change ([`lifecycle`], [`Tsp::set_state`],
//!   [`Tsp::events`]);
//! * derives each token's ICC master key from the issuer's token IMK (EMV
//!   Book 2 A1.4.1 Option A, [`keys`]) and sends it only inside a
//!   [`paytap_seal::ProvisioningPayload`] sealed to the device key;
//! * detokenizes and verifies authorizations ([`Tsp::detokenize`]): state,
//!   domain, expiry, ARQC (EMV Book 2 §8.1 via `paytap_emv::verify`), ATC
//!   window ([`atc`]), then maps DE 2/14/35 to the funding card, sets DE 62
//!   (token data) and DE 63 (verification results), and later answers with
//!   an ARPC over the issuer's response code ([`TokenContext::complete_response`]).
//!
//! Token rows are cached in memory (this process owns `tsp_tokens`; every
//! lifecycle change invalidates the entry). The accepted ATC is written
//! through a group-commit writer (one durable commit for many concurrent
//! authorizations; each answer waits for it) as a compare-and-set
//! (`last_atc < new`), so a cryptogram is accepted once even across
//! processes sharing the database.
//!
//! ## Refusal response codes (ISO 8583:1987 DE 39)
//!
//! | refusal | DE 39 | meaning |
//! |---|---|---|
//! | unknown token | `14` | invalid card number |
//! | token inactive (step-up pending) | `01` | refer to card issuer |
//! | token suspended | `57` | transaction not permitted to cardholder |
//! | token deleted | `62` | restricted card |
//! | entry mode outside the token's domain | `58` | transaction not permitted to terminal |
//! | token expired (or DE 14 not the token's expiry) | `54` | expired card |
//! | ATC replayed or outside the window (DE 63 `03=N` tells which check) | `05` | do not honour |
//! | ARQC does not verify | `63` | security violation |
//! | DE 2 / DE 22 / DE 55 missing or malformed | `30` | format error |
//! | internal failure | `96` | system malfunction |
//!
//! ## What the issuer receives (paytap private elements, docs/wire-format.md)
//!
//! * DE 62 subelement 01: token requestor id (n11); 03: funding PAN last 4.
//! * DE 63 subelements 01 (cryptogram), 02 (CDCVM), 03 (ATC), each `Y`/`N`/`U`:
//!   `01=Y` and `03=Y` mean "token verified by the TSP"; the issuer then
//!   does not verify the ARQC itself (it has no token keys). The switch must
//!   strip DE 62/63 from acquirer requests so only the TSP can set them.

pub mod atc;
use paytap_store::batch;
use paytap_store::cache;
pub mod domain;
mod error;
pub mod keys;
pub mod lifecycle;
pub mod number;
mod service;

pub use domain::Domain;
pub use error::{Refusal, TspError, refusal_verification};
pub use keys::TokenKeys;
pub use lifecycle::{Actor, TokenState};
pub use number::TokenRange;
pub use paytap_types::{Clock, year_month};
pub use service::{
    Detokenized, MIGRATIONS, PendingWrite, ProvisionRequest, Provisioned, Refused, TokenContext,
    TokenEvent, TokenInfo, Tsp, TspConfig, finish_write,
};
