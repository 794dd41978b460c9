//! A reversal whose original the switch has no record of.
//!
//! The switch can crash after the issuer placed a hold and before the
//! authorization's log row was written. The terminal heard nothing, so it
//! resends its stored `0400` (see `paytap_pos::saf`) after the restart, and
//! the switch finds no original. It still knows where the hold would be:
//! DE 2 routes the reversal by a card range, or by a token range to the
//! issuer the range belongs to (a token service's range funds cards of its
//! own issuer; no detokenization is needed). The issuer is sent a `0400`
//! without DE 37 (the switch's RRN of the original is what was lost), so it
//! matches the original by its data elements: DE 90 (original STAN,
//! transmission time, acquirer) and DE 41, the transaction key it keeps
//! with every authorization. An original the issuer never saw is
//! remembered there as reversed (it will not hold later) and acknowledged.
//!
//! The terminal is answered `00` only once the reversal's log row is
//! durable, and with it the reversal stored for the switch's own store and
//! forward if the issuer did not acknowledge at once: nothing the terminal
//! stops resending is lost. If the row cannot be written the answer is
//! `96` and the terminal resends. A DE 2 that no range routes cannot have held anything (such a
//! `0100` is declined with `92`) and is acknowledged; a `0400` without DE 2
//! is a format error.

use super::logged::{ReversalRequest, ReversedOriginal, acknowledged_reversal_row};
use super::{ACQUIRER, COPIED, NOW, ORIGINAL, OWN_STAN, Switch, answer_code, must};
use crate::log::LogRow;
use crate::routing::Route;
use paytap_iso8583::{Message, Mti, OriginalData, ResponseCode};

/// The original request's identity as the terminal's `0400` gives it.
pub(super) struct Unlogged<'a> {
    pub request: &'a Message,
    pub acquirer: &'a str,
    pub terminal: &'a str,
    pub original: &'a OriginalData,
    pub started: i64,
}

impl Switch {
    pub(super) async fn reverse_unlogged(&self, u: Unlogged<'_>, mut response: Message) -> Message {
        let Some(digits) = u.request.get_str(2) else {
            tracing::warn!(terminal = %u.terminal, "reversal of an unknown original without DE 2");
            answer_code(&mut response, ResponseCode::FormatError);
            return response;
        };
        let issuer = match self.inner.routing.route(digits) {
            Some(Route::Card { issuer } | Route::Token { issuer }) => issuer,
            None => {
                tracing::info!(terminal = %u.terminal, "reversal of an unroutable original: nothing held");
                answer_code(&mut response, ResponseCode::Approved);
                return response;
            }
        };
        let Some(entry) = self.inner.issuers.get(&issuer) else {
            answer_code(&mut response, ResponseCode::Approved);
            return response;
        };
        let reversal = self.unlogged_reversal(&u);
        let done = self.reverse_now_or_forward(entry, reversal).await;
        tracing::warn!(terminal = %u.terminal, stan = u.original.stan, bank = %issuer, forwarded = !done, "reversal of an original the switch never logged sent to the issuer");
        // What the terminal stops resending once answered must be stored
        // (the forward, queued before the row, is durable with it).
        let row = self.unlogged_row(&u, &issuer, &response);
        if let Err(e) = self.inner.log.insert_durable(row).await {
            tracing::error!(terminal = %u.terminal, error = %e, "reversal could not be logged; answered 96 (the terminal resends it)");
            answer_code(&mut response, ResponseCode::SystemMalfunction);
            return response;
        }
        answer_code(&mut response, ResponseCode::Approved);
        response
    }

    /// The issuer's `0400`: no DE 37, the original by DE 90 and DE 41.
    fn unlogged_reversal(&self, u: &Unlogged<'_>) -> Message {
        let mut r = Message::new(Mti::REVERSAL_REQUEST);
        for f in [3u8, 4, 41, 42, 49] {
            if let Some(v) = u.request.get(f) {
                must(r.set(f, v), COPIED);
            }
        }
        must(r.set_acquirer_id(u.acquirer), ACQUIRER);
        must(r.set_stan(self.next_stan()), OWN_STAN);
        must(r.set(7, super::transmission_now()), NOW);
        must(
            r.set_original_data(&OriginalData {
                mti: Mti::AUTHORIZATION_REQUEST,
                stan: u.original.stan,
                transmission_datetime: u.original.transmission_datetime.clone(),
                // As the switch keyed the original: the acquirer it was sent
                // with, or the switch's default for an acquirer that sent none.
                acquirer_id: u.acquirer.to_owned(),
                forwarding_id: "0".into(),
            }),
            ORIGINAL,
        );
        r
    }

    fn unlogged_row(&self, u: &Unlogged<'_>, issuer: &str, response: &Message) -> LogRow {
        let request = ReversalRequest {
            rrn: self.next_rrn(),
            request: u.request,
            response,
            acquirer: u.acquirer,
            terminal: u.terminal,
            started: u.started,
        };
        let original = ReversedOriginal {
            token_ref: None,
            issuer: Some(issuer.to_owned()),
            amount: u
                .request
                .amount()
                .and_then(|a| i64::try_from(a).ok())
                .unwrap_or(0),
            currency: u
                .request
                .currency()
                .and_then(|c| paytap_types::Currency::from_numeric(c).ok())
                .unwrap_or(paytap_types::Currency::CNY),
            rrn: None,
        };
        acknowledged_reversal_row(request, original)
    }
}
