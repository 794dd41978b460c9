//! The message log rows of authorizations and reversals, written before the
//! acquirer hears the answer where a crash must not lose them.
//!
//! Invariant: **an approval is answered only after its log row is durable**,
//! and a reversal only after its row and its original's `reversed` mark
//! are. Clearing reads only the log, and a reversal that arrives after a
//! restart finds its original only there; an approval whose row was still
//! queued when the process died was in the issuer's records and held in the
//! ledger, but could never be cleared nor reversed. A decline holds nothing
//! and is logged behind the answer.
//!
//! If the row cannot be written (after the log writer's retries), the
//! approval is not told: its hold is reversed at the issuer (stored and
//! forwarded like any reversal) and the acquirer hears `96`, as when the
//! token service cannot record the authorization.

use super::{
    ACQUIRER, AuthContext, AuthRecord, Meta, OWN_RRN, Switch, answer_code, must, trim, utc_day,
};
use crate::log::{LogKind, LogRow, LogStatus};
use paytap_iso8583::{Message, ResponseCode};
use paytap_store::now_millis;
use std::sync::atomic::Ordering;

/// What the log row of a reversal is made of.
pub(super) struct ReversalLog<'a> {
    pub request: &'a Message,
    pub response: &'a Message,
    pub original: &'a AuthRecord,
    /// The reversal's own retrieval reference number.
    pub rrn: &'a str,
    pub acquirer: String,
    pub terminal: &'a str,
    pub started: i64,
}

impl Switch {
    /// Logs an authorization: an approval durably before it is answered (or,
    /// if that fails, undone into a `96`), a decline behind.
    pub(super) async fn log_authorization(
        &self,
        request: &Message,
        ctx: &AuthContext,
        response: &mut Message,
        record: &mut AuthRecord,
        meta: &Meta,
    ) {
        let row = auth_row(request, response, record, meta, ctx);
        if !record.approved {
            self.inner.log.insert(row).await;
            return;
        }
        let Err(e) = self.inner.log.insert_durable(row).await else {
            return;
        };
        tracing::error!(rrn = %ctx.rrn, error = %e, "approval could not be logged; its hold is reversed and the answer is 96");
        self.undo_approval(request, ctx, record).await;
        // The issuer's chip answer (ARPC) was for the approval.
        response.remove(38);
        response.remove(55);
        answer_code(response, ResponseCode::SystemMalfunction);
        // Behind, like any decline; if the approval's row did land after
        // all, it stays (same RRN) and its reversal is on its way.
        self.inner
            .log
            .insert(auth_row(request, response, record, meta, ctx))
            .await;
    }

    /// Reverses what an approval holds at its issuer (the `0100` hold, or
    /// the one a stand-in advice asks for) and turns the record into a
    /// decline.
    async fn undo_approval(&self, request: &Message, ctx: &AuthContext, record: &mut AuthRecord) {
        if let (Some(issuer), Some(held)) = (&record.issuer, record.hold_mti)
            && let Some(entry) = self.inner.issuers.get(issuer)
        {
            // What the issuer keys the hold by: DE 37, DE 32 and the
            // original's DE 11 / DE 7 (all in the acquirer's request).
            let mut basis = request.clone();
            must(basis.set_rrn(&ctx.rrn), OWN_RRN);
            must(basis.set_acquirer_id(&ctx.acquirer), ACQUIRER);
            self.queue_reversal(entry, &basis, held).await;
        }
        record.approved = false;
        record.hold_mti = None;
    }

    /// Marks the original reversed and logs the reversal, durably; `false`
    /// if that failed: the original is then not taken as reversed, so the
    /// acquirer's repeat (it hears `96`) does it again (the issuer's
    /// reversal is idempotent).
    pub(super) async fn log_reversal(&self, r: ReversalLog<'_>) -> bool {
        let original_rrn = r.original.rrn.clone();
        let row = reversal_row(&r);
        match self
            .inner
            .log
            .reversal_durable(&original_rrn, r.started, row)
            .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(rrn = %r.rrn, original = %original_rrn, error = %e, "reversal could not be logged; answered 96");
                r.original.reversed.store(false, Ordering::SeqCst);
                false
            }
        }
    }
}

/// The log row of an authorization as answered.
fn auth_row(
    request: &Message,
    response: &Message,
    record: &AuthRecord,
    meta: &Meta,
    ctx: &AuthContext,
) -> LogRow {
    let code = response
        .response_code()
        .unwrap_or(ResponseCode::SystemMalfunction);
    LogRow {
        rrn: ctx.rrn.clone(),
        day: utc_day(ctx.started),
        kind: LogKind::Authorization,
        request_mti: request.mti().to_string(),
        response_mti: response.mti().to_string(),
        acquirer: ctx.acquirer.clone(),
        terminal: ctx.terminal.trim().to_owned(),
        merchant: trim(request.merchant_id()),
        stan: request.stan().unwrap_or(0),
        transmission: ctx.transmission.clone(),
        masked_pan: request
            .pan()
            .map(|p| p.masked())
            .unwrap_or_else(|| "unreadable".into()),
        token_ref: record.token_ref.clone(),
        issuer: record.issuer.clone(),
        amount: ctx.amount,
        currency: ctx.currency,
        response_code: code.code().to_owned(),
        approval_code: response.auth_id_response().map(str::to_owned),
        stand_in: meta.stand_in,
        hold_mti: record.hold_mti.map(|m| m.to_string()),
        original_rrn: None,
        status: if record.approved {
            LogStatus::Approved
        } else {
            LogStatus::Declined
        },
        requested_at: ctx.started,
        responded_at: now_millis(),
    }
}

/// The log row of a reversal as answered.
fn reversal_row(r: &ReversalLog<'_>) -> LogRow {
    acknowledged_reversal_row(
        ReversalRequest {
            rrn: r.rrn.to_owned(),
            request: r.request,
            response: r.response,
            acquirer: &r.acquirer,
            terminal: r.terminal,
            started: r.started,
        },
        ReversedOriginal {
            token_ref: r.original.token_ref.clone(),
            issuer: r.original.issuer.clone(),
            amount: r.original.amount,
            currency: r.original.currency,
            rrn: Some(r.original.rrn.clone()),
        },
    )
}

/// The reversal as the acquirer sent it and the switch answered it.
pub(super) struct ReversalRequest<'a> {
    /// The reversal's own retrieval reference number.
    pub rrn: String,
    pub request: &'a Message,
    pub response: &'a Message,
    pub acquirer: &'a str,
    pub terminal: &'a str,
    pub started: i64,
}

/// What a reversal's log row says of the authorization it reverses: the
/// switch's own record of it, or what DE 2 and the `0400` tell when the
/// switch has none (`crate::switch::unlogged`).
pub(super) struct ReversedOriginal {
    pub token_ref: Option<String>,
    pub issuer: Option<String>,
    pub amount: i64,
    pub currency: paytap_types::Currency,
    /// The original's RRN, when the switch logged the original.
    pub rrn: Option<String>,
}

/// The log row of a reversal the switch acknowledged (`00`, done).
pub(super) fn acknowledged_reversal_row(
    r: ReversalRequest<'_>,
    original: ReversedOriginal,
) -> LogRow {
    LogRow {
        rrn: r.rrn,
        day: utc_day(r.started),
        kind: LogKind::Reversal,
        request_mti: r.request.mti().to_string(),
        response_mti: r.response.mti().to_string(),
        acquirer: r.acquirer.to_owned(),
        terminal: r.terminal.trim().to_owned(),
        merchant: trim(r.request.merchant_id()),
        stan: r.request.stan().unwrap_or(0),
        transmission: trim(r.request.transmission_datetime()),
        masked_pan: r
            .request
            .pan()
            .map(|p| p.masked())
            .unwrap_or_else(|| "-".into()),
        token_ref: original.token_ref,
        issuer: original.issuer,
        amount: original.amount,
        currency: original.currency,
        response_code: "00".into(),
        approval_code: None,
        stand_in: false,
        hold_mti: None,
        original_rrn: original.rrn,
        status: LogStatus::Done,
        requested_at: r.started,
        responded_at: now_millis(),
    }
}
