//! Bills of an India account (in the style of Bharat BillPay): the billers
//! by category with the unpaid bills due soon and the receipts, a biller's
//! form (its customer parameters), the fetched bill with its pay form, and
//! the receipt with the biller's reference. Every page and form refuses an
//! account outside the `in` region with a page saying bills are for India
//! accounts; payments are idempotent by a key the pay form carries, so a
//! form sent twice pays once.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use paytap_bills::{BillService, BillsError, PayMethod, Payer};
use paytap_upi::Vpa;
use serde::Deserialize;

use crate::app::{App, Failure, MessagePage, Req, Signed, Submitted, signed_form, signed_in};
use crate::pages::{self, BillsHome};
use crate::respond::{page, redirect};

/// Customer parameters a form may carry: more than any biller asks for.
const MAX_PARAMS: usize = 8;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/bills", get(home))
        .route("/bills/billers/{biller_id}", get(biller_form))
        .route("/bills/billers/{biller_id}/fetch", post(fetch))
        .route("/bills/pay", post(pay))
        .route("/bills/receipts/{payment_id}", get(receipt))
}

/// The pay form: the fetched bill, the payer's UPI id and the key that
/// makes the payment idempotent.
#[derive(Deserialize, Default)]
pub(crate) struct PayForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    fetch_id: String,
    #[serde(default)]
    vpa: String,
    #[serde(default)]
    key: String,
}

/// A page with the account's words, refusing it in `status` with `message`.
fn refused(signed: &Signed, status: StatusCode, message: &str) -> Failure {
    Failure::Page(Box::new(MessagePage {
        ctx: signed.ctx(None),
        status,
        refusal: Some(message.to_owned()),
        retry_after: None,
    }))
}

/// The bill service, for an India account of a deployment that has one.
pub(crate) fn service(app: &App, signed: &Signed) -> Result<Arc<BillService>, Failure> {
    let payer = payer(signed);
    if payer.region_check().is_err() {
        let b = signed.lang.bills();
        return Err(refused(signed, StatusCode::FORBIDDEN, b.india_only_body));
    }
    app.wallet
        .bills()
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))
}

pub(crate) fn payer(signed: &Signed) -> Payer<'_> {
    Payer {
        account_id: &signed.principal.account_id,
        region: &signed.principal.region,
    }
}

/// A refusal of the bill service as the account's page: the rule broken
/// (422), the biller down (503), a bill already paid (409); a failure of
/// ours is logged and answered 500.
pub(crate) fn bills_failure(signed: &Signed, e: BillsError) -> Failure {
    let b = signed.lang.bills();
    let (status, message) = match &e {
        BillsError::Invalid(rule) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::i18n::fill(b.check_input, &rule.to_string()),
        ),
        BillsError::BillerRefused(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
        BillsError::BillerDown => (StatusCode::SERVICE_UNAVAILABLE, b.biller_down.to_owned()),
        BillsError::AlreadyPaid | BillsError::KeyReused => {
            (StatusCode::CONFLICT, b.already_paid_refusal.to_owned())
        }
        BillsError::UnknownBill => return signed.fail(StatusCode::NOT_FOUND),
        BillsError::BadKey | BillsError::CardsUnavailable => {
            return signed.fail(StatusCode::BAD_REQUEST);
        }
        BillsError::NotInIndia(_) => (StatusCode::FORBIDDEN, b.india_only_body.to_owned()),
        BillsError::Store(_)
        | BillsError::Corrupt(_)
        | BillsError::Seal(_)
        | BillsError::Payers(_)
        | BillsError::NoCollection(_) => {
            tracing::error!(error = %e, "web: bill service failed");
            return signed.fail(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    tracing::info!(account = %signed.principal.account_id, error = %e, "web: bill request refused");
    refused(signed, status, &message)
}

async fn home(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let s = service(&app, &signed)?;
    let account = &signed.principal.account_id;
    let due = s
        .reminders(account)
        .await
        .map_err(|e| bills_failure(&signed, e))?;
    let receipts = s
        .receipts(account)
        .await
        .map_err(|e| bills_failure(&signed, e))?;
    let c = signed.ctx(None);
    let view = BillsHome {
        catalogue: s.catalogue(),
        due: &due,
        receipts: &receipts,
    };
    let body = pages::bills_page(&c, &view);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

async fn biller_form(
    State(app): State<App>,
    req: Req,
    Path(biller_id): Path<String>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let s = service(&app, &signed)?;
    let Ok(biller) = s.catalogue().get(&biller_id) else {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    };
    let c = signed.ctx(None);
    let body = pages::biller_page(&c, biller);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Fetches the bill for the form's customer parameters (each checked
/// against the biller's rules by the service) and shows it with its pay
/// form. The parameters are never echoed back.
async fn fetch(
    State(app): State<App>,
    req: Req,
    Path(biller_id): Path<String>,
    Submitted(mut form): Submitted<BTreeMap<String, String>>,
) -> Result<Response, Failure> {
    let csrf = form.remove("csrf").unwrap_or_default();
    let signed = signed_form(&app, &req, &csrf).await?;
    let s = service(&app, &signed)?;
    if form.len() > MAX_PARAMS {
        return Err(signed.fail(StatusCode::BAD_REQUEST));
    }
    let bill = s
        .fetch(payer(&signed), &biller_id, &form)
        .await
        .map_err(|e| bills_failure(&signed, e))?;
    let c = signed.ctx(None);
    let key = crate::session::random_nonce();
    let body = pages::bill_page(&c, &bill, &key);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Pays a fetched bill over UPI from one of the account holder's UPI ids;
/// to the receipt. The same form sent again (its key) pays once and shows
/// the same receipt.
async fn pay(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<PayForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let s = service(&app, &signed)?;
    let method = upi_method(&s, &signed, &form.vpa).await?;
    let r = s
        .pay_bill(payer(&signed), &form.key, &form.fetch_id, method)
        .await
        .map_err(|e| bills_failure(&signed, e))?;
    Ok(redirect(
        &format!("/bills/receipts/{}", pages::urlencode(&r.payment_id)),
        Vec::new(),
    ))
}

/// The payer's UPI id and the account behind it, as the PSP's directory
/// has it; an id that is not the PSP's is refused.
pub(crate) async fn upi_method(
    s: &BillService,
    signed: &Signed,
    vpa: &str,
) -> Result<PayMethod, Failure> {
    let no_vpa = || {
        tracing::info!(account = %signed.principal.account_id, "web: bill payment from an unknown UPI id");
        refused(
            signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            signed.lang.bills().no_vpa,
        )
    };
    let vpa = Vpa::new(vpa.trim()).map_err(|_| no_vpa())?;
    let account = s
        .payer_account(&vpa)
        .await
        .map_err(|e| bills_failure(signed, e))?
        .ok_or_else(no_vpa)?;
    Ok(PayMethod::Upi {
        payer: vpa,
        account,
    })
}

async fn receipt(
    State(app): State<App>,
    req: Req,
    Path(payment_id): Path<String>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let s = service(&app, &signed)?;
    let r = s
        .receipt(&signed.principal.account_id, &payment_id)
        .await
        .map_err(|e| bills_failure(&signed, e))?
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))?;
    let c = signed.ctx(None);
    let body = pages::receipt_page(&c, &r);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Whether the navigation shows bills to an account of `region`.
pub(crate) fn shown_to(region: &str) -> bool {
    region == paytap_bills::REGION
}
