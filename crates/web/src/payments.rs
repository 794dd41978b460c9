//! The account's payments: the history, newest first, a page at a time,
//! and its live feed (server-sent events) that the payments page's script
//! puts on top of the list.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use paytap_wallet::WalletError;
use serde::Deserialize;

use crate::PAGE_SIZE;
use crate::app::{App, Failure, Req, signed_in};
use crate::pages;
use crate::respond::{page, security_headers};
use crate::session::session_from;

#[derive(Deserialize, Default)]
pub(crate) struct PaymentsQuery {
    #[serde(default)]
    before: Option<String>,
}

pub(crate) async fn payments(
    State(app): State<App>,
    req: Req,
    q: Result<Query<PaymentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let Ok(Query(q)) = q else {
        return Err(signed.fail(StatusCode::BAD_REQUEST));
    };
    let cursor = q.before.as_deref().filter(|c| !c.is_empty());
    let history = match app
        .wallet
        .transactions(&signed.principal, PAGE_SIZE, cursor)
        .await
    {
        Ok(h) => h,
        // A cursor that is not one of the wallet's.
        Err(WalletError::Invalid { .. }) => return Err(signed.fail(StatusCode::BAD_REQUEST)),
        Err(e) => return Err(signed.refused(e)),
    };
    let names = device_names(&app, &signed.principal).await;
    let points = match app.wallet.points(&signed.principal).await {
        Ok(p) => Some(p.points),
        Err(e) => {
            tracing::debug!(error = %e, "no rewards points to show");
            None
        }
    };
    let c = signed.ctx(None);
    let body = pages::payments_page(
        &c,
        &history.items,
        points,
        history.next_cursor.as_deref(),
        |id| device_name(&names, id),
    );
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Server-sent events (WHATWG HTML §9.2): one `payment` event per new
/// payment of the account, its data the rendered history row. The stream
/// ends when the session expires.
pub(crate) async fn payment_events(State(app): State<App>, req: Req) -> Response {
    let Some(token) = session_from(&req.headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok((principal, _)) = app.account_of(&token).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let feed = match app.wallet.subscribe_payments(&principal).await {
        Ok(feed) => feed,
        Err(e) => {
            tracing::error!(error = %e, "the live feed could not open");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let lang = req.lang(Some(principal.language.into()));
    let left_ms = (principal.session_expires_at - app.now_millis()).max(0);
    let expiry = tokio::time::sleep(Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)));
    let region = principal.region.clone();
    let stream = feed
        .into_stream()
        .then(move |t| {
            let (app, principal, region) = (app.clone(), principal.clone(), region.clone());
            async move {
                // Looked up per payment: a device enrolled after the page
                // opened is named too.
                let names = device_names(&app, &principal).await;
                let device = device_name(&names, &t.device_id);
                let rc = pages::RowCtx {
                    lang,
                    region: &region,
                    banks: &app.banks,
                };
                let row = pages::payment_row(rc, &t, &device).into_string();
                Ok::<Event, Infallible>(
                    Event::default().event("payment").id(t.id.clone()).data(row),
                )
            }
        })
        .take_until(expiry);
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(h);
    resp
}

/// The account's devices by id, with their names; empty (and logged) if
/// the wallet cannot list them, so the history still shows.
async fn device_names(
    app: &App,
    principal: &paytap_wallet::Principal,
) -> std::collections::HashMap<String, String> {
    match app.wallet.devices(principal).await {
        Ok(devices) => devices.into_iter().map(|d| (d.id, d.name)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "payments: device names unavailable");
            std::collections::HashMap::new()
        }
    }
}

fn device_name(names: &std::collections::HashMap<String, String>, id: &str) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| pages::UNKNOWN_DEVICE.to_string())
}
