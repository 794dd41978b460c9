//! "Find my device" from the web site: the buttons of the device page
//! ("Locate now", "Play a sound", "Erase" after its confirmation step),
//! each a CSRF-checked form of the session that queues a command through
//! the wallet ([`paytap_wallet::locate`]) and returns to the device page
//! with a notice; and the places and commands the device page shows.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use paytap_wallet::{CommandKind, Principal, WalletError};

use crate::app::{
    App, CsrfForm, Failure, ForSigned, Req, Submitted, signed_form, signed_in, valid_id,
};
use crate::notice::flash;
use crate::pages::{self, FindView};
use crate::respond::{page, redirect};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/devices/{device_id}/locate", post(locate))
        .route("/devices/{device_id}/sound", post(sound))
        .route("/devices/{device_id}/erase", get(erase_form).post(erase))
}

impl App {
    /// The device's places and commands, for its page.
    pub(crate) async fn find_view(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<FindView, WalletError> {
        Ok(FindView {
            places: self.wallet.places(p, device_id).await?,
            commands: self.wallet.commands(p, device_id).await?,
        })
    }
}

async fn send(
    app: &App,
    req: &Req,
    device_id: &str,
    csrf: &str,
    kind: CommandKind,
) -> Result<Response, Failure> {
    let signed = signed_form(app, req, csrf).await?;
    if !valid_id(device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let (c, _) = app
        .wallet
        .send_command(&signed.principal, device_id, kind)
        .await
        .for_signed(&signed)?;
    tracing::info!(account = %signed.principal.account_id, device = %device_id, command = %c.id, kind = kind.as_str(), "command sent from the web site");
    Ok(redirect(
        &format!("/devices/{device_id}#find"),
        vec![flash(kind.as_str(), device_id, req.secure)],
    ))
}

async fn locate(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    send(&app, &req, &device_id, &form.csrf, CommandKind::Locate).await
}

async fn sound(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    send(&app, &req, &device_id, &form.csrf, CommandKind::Sound).await
}

async fn erase_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    if !valid_id(&device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let d = app
        .device_cards(&signed.principal, &device_id)
        .await
        .for_signed(&signed)?;
    let c = signed.ctx(None);
    let body = pages::erase_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

async fn erase(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    send(&app, &req, &device_id, &form.csrf, CommandKind::Erase).await
}
