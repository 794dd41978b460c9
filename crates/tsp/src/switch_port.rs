//! The switch's [`paytap_switch::TokenService`] port, implemented by [`Tsp`].

use crate::error::Refusal;
use crate::service::{Refused, TokenContext, Tsp};
use futures::future::BoxFuture;
use paytap_iso8583::{CheckResult, Message, VerificationResults};
use paytap_switch::{Detokenized, TokenCompletion, TokenDecision, TokenRefusal, TokenService};

impl TokenCompletion for TokenContext {
    fn complete_response(&self, response: &mut Message) -> Result<(), paytap_iso8583::Error> {
        TokenContext::complete_response(self, response)
    }
}

/// DE 63 for a refusal: which check failed, when one did.
pub fn refusal_verification(refusal: Refusal) -> Option<VerificationResults> {
    let failed = Some(CheckResult::Failed);
    match refusal {
        Refusal::CryptogramInvalid => Some(VerificationResults {
            cryptogram: failed,
            ..Default::default()
        }),
        Refusal::AtcReplayed | Refusal::AtcOutOfWindow => Some(VerificationResults {
            cryptogram: Some(CheckResult::Passed),
            atc: failed,
            ..Default::default()
        }),
        _ => None,
    }
}

impl TokenService for Tsp {
    fn detokenize<'a>(&'a self, request: &'a Message) -> BoxFuture<'a, TokenDecision> {
        Box::pin(async move {
            match Tsp::detokenize_deferred(self, request).await {
                Ok((d, write)) => TokenDecision::Approved(Detokenized {
                    issuer_request: d.request,
                    token_ref: d.context.token_ref.clone(),
                    completion: Box::new(d.context),
                    durable: Some(Box::pin(crate::service::finish_write(write))),
                }),
                Err(Refused { refusal, token_ref }) => TokenDecision::Refused(TokenRefusal {
                    code: refusal.response_code(),
                    reason: refusal.reason().to_owned(),
                    token_ref,
                    verification: refusal_verification(refusal),
                }),
            }
        })
    }
}
