//! The UPI page's handler: for an account of India, its UPI IDs, the
//! merchants' requests waiting and its UPI payments from the wallet's UPI
//! app; other accounts have no UPI page (404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::{App, Failure, Req, signed_in};
use crate::pages;
use crate::respond::page;

/// The region whose accounts pay with UPI.
const UPI_REGION: &str = "in";

pub(crate) async fn upi(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let p = &signed.principal;
    if p.region != UPI_REGION {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let Some(psp) = app.wallet.upi() else {
        return Err(signed.fail(StatusCode::SERVICE_UNAVAILABLE));
    };
    let owner = &p.account_id;
    let read = async {
        Ok::<_, paytap_upipsp::PspError>((
            psp.ids(owner).await?,
            psp.collects(owner).await?,
            psp.payments(owner).await?,
        ))
    };
    let (ids, collects, payments) = match read.await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "the UPI page could not be read");
            return Err(signed.fail(StatusCode::SERVICE_UNAVAILABLE));
        }
    };
    let c = signed.ctx(None);
    let view = pages::UpiView {
        ids: &ids,
        collects: &collects,
        payments: &payments,
    };
    Ok(page(
        &c,
        StatusCode::OK,
        pages::upi_page(&c, &view),
        Vec::new(),
    ))
}
