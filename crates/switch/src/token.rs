//! The switch's port to the token service (EMV Payment Tokenisation
//! Specification, Technical Framework v2.x, §5 "token processing": the
//! network sends every authorization whose DE 2 falls in a token BIN range to
//! the token service provider before the issuer sees it).
//!
//! The switch calls [`TokenService::detokenize`] with the acquirer's request
//! (DE 62 and DE 63 already stripped, so only the token service can set
//! them). The token service checks lifecycle state, domain (DE 22), expiry
//! (DE 14), ATC and ARQC (DE 55) and answers either
//!
//! * [`TokenDecision::Approved`]: the request rewritten for the issuer (DE 2,
//!   DE 14, DE 35 of the funding card, DE 62 token data, DE 63 verification
//!   results) and a [`TokenCompletion`] that later turns the switch's answer
//!   for the acquirer into its final form (ARPC over the final DE 39 in
//!   DE 55 tag 91, DE 63), or
//! * [`TokenDecision::Refused`]: a response code and a plain-language reason.
//!
//! The switch never forwards a token refusal to the issuer.

use futures::future::BoxFuture;
use paytap_iso8583::{Message, ResponseCode, VerificationResults};

/// The token service's writes for one authorization, under way: done when
/// they are durable (see [`Detokenized::durable`]).
pub type TokenWrites = BoxFuture<'static, Result<(), String>>;

/// The token service as the switch sees it. Implemented by the token service
/// (or an adaptor in the network assembly); in tests by small fakes.
pub trait TokenService: Send + Sync + 'static {
    /// Detokenize and verify one authorization request (MTI 0100) whose
    /// DE 2 is a token.
    fn detokenize<'a>(&'a self, request: &'a Message) -> BoxFuture<'a, TokenDecision>;
}

/// The token service's answer to one authorization. (The approved variant
/// carries the rewritten message inline; it is moved once per
/// authorization, so boxing it would only add an allocation.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TokenDecision {
    /// Every token check passed.
    Approved(Detokenized),
    /// A token check failed; the switch answers the acquirer with `code`.
    Refused(TokenRefusal),
}

/// A request that passed every token check, ready for the issuer.
pub struct Detokenized {
    /// The request for the issuer: DE 2 (and DE 14/35) of the funding card,
    /// DE 62 token data, DE 63 verification results.
    pub issuer_request: Message,
    /// The token service's reference of the token (goes into
    /// [`paytap_types::PaymentEvent::token_ref`]; never the token number).
    pub token_ref: String,
    /// Completes the acquirer's answer once the outcome is known.
    pub completion: Box<dyn TokenCompletion>,
    /// The token service's own writes for this authorization (the accepted
    /// ATC), already under way. They become durable while the issuer
    /// decides; the switch awaits them before it answers, and if they fail
    /// it answers `96` and reverses whatever the issuer held. `None`: the
    /// writes were durable before the decision was returned.
    pub durable: Option<TokenWrites>,
    /// What the token service knows of the card and its holder, for the
    /// risk and offers services (read from the token record it already
    /// loaded, so the guard needs no lookup of its own).
    pub holder: TokenHolder,
}

/// The card and account behind a token, as the token service knows them:
/// never a card number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenHolder {
    /// The funding card's vault id: one card in every device's token.
    pub card: String,
    /// The wallet account the token was provisioned for, if known.
    pub account_id: Option<String>,
    /// When the card was added to the device (the token provisioned), Unix ms.
    pub added_at_ms: Option<i64>,
    /// Whether this is the token's first payment.
    pub first_use: bool,
    /// Whether the cryptogram vouches that the holder passed the device's
    /// own check (CDCVM: on paytap's devices, the fingerprint or face).
    pub cdcvm_performed: bool,
}

/// Written out because the completion and the durable writes are boxed
/// trait objects, which have no `Debug`; nothing here is secret (the
/// message's own `Debug` masks card numbers).
impl std::fmt::Debug for Detokenized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detokenized")
            .field("issuer_request", &self.issuer_request)
            .field("token_ref", &self.token_ref)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// Why the token service refused an authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    /// DE 39 for the acquirer.
    pub code: ResponseCode,
    /// A sentence for receipts and the wallet's history (no card data).
    pub reason: String,
    /// The token's reference when the token is known (suspended, deleted,
    /// replayed ...), so the wallet can show the refusal on the right card.
    pub token_ref: Option<String>,
    /// DE 63 for the acquirer (which check failed), when the token service
    /// has something to say.
    pub verification: Option<VerificationResults>,
}

/// Finishes the switch's answer to the acquirer for a token transaction.
pub trait TokenCompletion: Send + Sync {
    /// `response` is the acquirer's answer with its final DE 39 (from the
    /// issuer or from stand-in processing) and DE 2 = the token. The token
    /// service adds its issuer authentication data (DE 55 tag 91: ARPC over
    /// DE 39, EMV Book 2 §8.2) and DE 63.
    fn complete_response(&self, response: &mut Message) -> Result<(), paytap_iso8583::Error>;
}
