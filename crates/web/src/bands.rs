//! The band account pages: the owner's bands (limit, balance held, offline
//! spending not yet uploaded, their QR payments) and turning a band off,
//! after a confirmation step. The band accounts live in another service:
//! the site reaches them through [`BandPort`], which the binary implements;
//! without one, the page lists no band.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use paytap_wallet::BoxFuture;

use crate::app::{App, CsrfForm, Failure, Req, Signed, Submitted, signed_form, signed_in};
use crate::pages;
use crate::respond::{page, redirect};

/// One band account as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandSummary {
    /// The band's id, hex.
    pub band_id: String,
    /// Minor units of CNY.
    pub limit_minor: i64,
    pub balance_minor: i64,
    pub not_uploaded_minor: i64,
    /// Pays offline (not revoked).
    pub on: bool,
    /// Why it is off (`turned_off`, `double_spend`).
    pub status_reason: Option<String>,
    /// Its uploaded QR payments, newest first.
    pub payments: Vec<BandPayment>,
}

/// One QR payment the band made offline, as uploaded by a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandPayment {
    pub merchant: String,
    pub amount_minor: i64,
    /// When the band made the code (Unix milliseconds).
    pub made_at_millis: i64,
    pub paid: bool,
    /// Paid by the platform's risk reserve, not the band account.
    pub from_reserve: bool,
    /// A copied code, or spending over the limit across registers.
    pub double_spend: bool,
}

/// How the site reaches the band accounts.
pub trait BandPort: Send + Sync {
    /// The band accounts of the wallet account `owner`.
    fn bands<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, Result<Vec<BandSummary>, String>>;
    /// Turns `band_id` off if it is `owner`'s; `false` when it is not.
    fn turn_off<'a>(
        &'a self,
        owner: &'a str,
        band_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>>;
}

/// The site's band port, if the platform has band accounts.
#[derive(Clone, Default)]
pub struct Bands(pub Option<Arc<dyn BandPort>>);

impl std::fmt::Debug for Bands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bands(on)"
        } else {
            "Bands(off)"
        })
    }
}

fn port(app: &App, signed: &Signed) -> Result<Arc<dyn BandPort>, Failure> {
    app.bands
        .0
        .clone()
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))
}

fn unavailable(signed: &Signed, e: String) -> Failure {
    tracing::error!(error = %e, "band accounts unavailable");
    signed.fail(StatusCode::SERVICE_UNAVAILABLE)
}

async fn own_band(app: &App, signed: &Signed, band_id: &str) -> Result<BandSummary, Failure> {
    let list = port(app, signed)?
        .bands(&signed.principal.account_id)
        .await
        .map_err(|e| unavailable(signed, e))?;
    list.into_iter()
        .find(|b| b.band_id == band_id)
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))
}

pub(crate) async fn bands(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let list = match &app.bands.0 {
        Some(port) => port
            .bands(&signed.principal.account_id)
            .await
            .map_err(|e| unavailable(&signed, e))?,
        None => Vec::new(),
    };
    let c = signed.ctx(None);
    let body = pages::bands_page(&c, &list);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

pub(crate) async fn turn_off_form(
    State(app): State<App>,
    req: Req,
    Path(band_id): Path<String>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let band = own_band(&app, &signed, &band_id).await?;
    if !band.on {
        return Ok(redirect("/bands", Vec::new()));
    }
    let c = signed.ctx(None);
    let body = pages::band_turn_off_page(&c, &band);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

pub(crate) async fn turn_off(
    State(app): State<App>,
    req: Req,
    Path(band_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let done = port(&app, &signed)?
        .turn_off(&signed.principal.account_id, &band_id)
        .await
        .map_err(|e| unavailable(&signed, e))?;
    if !done {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    tracing::info!(account = %signed.principal.account_id, band = %band_id, "band turned off from the web site");
    Ok(redirect("/bands", Vec::new()))
}
