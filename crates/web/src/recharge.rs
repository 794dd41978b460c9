//! Prepaid mobile recharge of an India account: a number, its operator and
//! circle (detected from the number's series, or chosen), the plans sold
//! there, and the payment over UPI, idempotent by a key in the form; the
//! receipt is the bills' receipt page. The number is posted, never put in
//! a URL, and pages show it masked but for the pay form's hidden field.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use paytap_bills::RechargeRequest;
use serde::Deserialize;

use crate::app::{App, Failure, Req, Submitted, signed_form, signed_in};
use crate::bills::{bills_failure, payer, service, upi_method};
use crate::pages::{self, PlansView};
use crate::respond::{page, redirect};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/recharge", get(form))
        .route("/recharge/plans", post(plans))
        .route("/recharge/pay", post(pay))
}

/// A number, and the operator and circle when the person chose them.
#[derive(Deserialize, Default)]
pub(crate) struct PlansForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    circle: String,
}

/// The pay form: the number, its operator, circle and plan, the payer's
/// UPI id and the key that makes the payment idempotent.
#[derive(Deserialize, Default)]
pub(crate) struct RechargeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mobile: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    circle: String,
    #[serde(default)]
    plan_id: String,
    #[serde(default)]
    vpa: String,
    #[serde(default)]
    key: String,
}

fn chosen(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

async fn form(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let s = service(&app, &signed)?;
    let c = signed.ctx(None);
    let body = pages::recharge_page(&c, s.recharges());
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// The number's operator and circle (as chosen, else as its series says)
/// and the plans sold there, with the pay form.
async fn plans(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<PlansForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let s = service(&app, &signed)?;
    let r = s.recharges();
    let mobile = form.mobile.trim();
    let detected = r
        .detect(mobile)
        .map_err(|e| bills_failure(&signed, e.into()))?;
    let operator = chosen(&form.operator).or_else(|| detected.as_ref().map(|d| d.operator.clone()));
    let circle = chosen(&form.circle).or_else(|| detected.as_ref().map(|d| d.circle.clone()));
    let plans = match (&operator, &circle) {
        (Some(o), Some(c)) => r
            .plans(o, c)
            .map_err(|e| bills_failure(&signed, e.into()))?,
        _ => Vec::new(),
    };
    let c = signed.ctx(None);
    let view = PlansView {
        recharges: r,
        mobile,
        operator: operator.as_deref(),
        circle: circle.as_deref(),
        plans: &plans,
        key: &crate::session::random_nonce(),
    };
    let body = pages::plans_page(&c, &view);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Recharges the number over UPI; to the receipt. The same form sent again
/// (its key) pays once.
async fn pay(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<RechargeForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let s = service(&app, &signed)?;
    let method = upi_method(&s, &signed, &form.vpa).await?;
    let order = RechargeRequest {
        mobile: form.mobile.trim().to_owned(),
        operator: chosen(&form.operator),
        circle: chosen(&form.circle),
        plan_id: form.plan_id,
    };
    let r = s
        .recharge(payer(&signed), &form.key, &order, method)
        .await
        .map_err(|e| bills_failure(&signed, e))?;
    Ok(redirect(
        &format!("/bills/receipts/{}", pages::urlencode(&r.payment_id)),
        Vec::new(),
    ))
}
