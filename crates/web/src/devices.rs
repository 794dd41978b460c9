//! The account's devices: the list, one device, and the lost-device
//! switch (turn payments off as lost or stolen after a confirmation step,
//! turn them back on), and removing every card of a device. Where a device
//! was last seen is shown on its panel.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use paytap_wallet::{Device, Principal, SuspendReason, WalletError};
use serde::Deserialize;

use crate::app::{
    App, CsrfForm, Failure, ForSigned, Req, Signed, Submitted, signed_form, signed_in, valid_id,
};
use crate::notice::{flash, take_notice};
use crate::pages::{self, DeviceCards};
use crate::respond::{page, redirect};

impl App {
    /// One of the account's devices with its cards.
    pub(crate) async fn device_cards(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<DeviceCards, WalletError> {
        let device = self.wallet.device(p, device_id).await?;
        self.with_cards(p, device).await
    }

    /// The account's devices with their cards, newest first.
    pub(crate) async fn devices_cards(
        &self,
        p: &Principal,
    ) -> Result<Vec<DeviceCards>, WalletError> {
        let list = self.wallet.devices(p).await?;
        let mut out = Vec::with_capacity(list.len());
        for device in list {
            out.push(self.with_cards(p, device).await?);
        }
        Ok(out)
    }

    async fn with_cards(&self, p: &Principal, device: Device) -> Result<DeviceCards, WalletError> {
        let cards = if device.capabilities.card_tokens {
            self.wallet.cards(p, &device.id).await?
        } else {
            Vec::new()
        };
        Ok(DeviceCards { device, cards })
    }
}

pub(crate) async fn devices(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    all_devices_page(&app, &req, pages::devices_page).await
}

/// A page over every device of the account with its cards (the device
/// list, the card list), with the notice a redirect left for it.
pub(crate) async fn all_devices_page(
    app: &App,
    req: &Req,
    render: fn(&pages::Ctx, &[DeviceCards]) -> maud::Markup,
) -> Result<Response, Failure> {
    let signed = signed_in(app, req).await?;
    let list = app
        .devices_cards(&signed.principal)
        .await
        .for_signed(&signed)?;
    let (notice, cookies) = take_notice(req, signed.lang, &list);
    let c = signed.ctx(notice);
    let body = render(&c, &list);
    Ok(page(&c, StatusCode::OK, body, cookies))
}

/// Signed in, and the device is the account's.
async fn own_device(
    app: &App,
    req: &Req,
    device_id: &str,
) -> Result<(Signed, DeviceCards), Failure> {
    let signed = signed_in(app, req).await?;
    if !valid_id(device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let d = app
        .device_cards(&signed.principal, device_id)
        .await
        .for_signed(&signed)?;
    Ok((signed, d))
}

pub(crate) async fn device(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    let find = app
        .find_view(&signed.principal, &device_id)
        .await
        .for_signed(&signed)?;
    let (notice, cookies) = take_notice(&req, signed.lang, std::slice::from_ref(&d));
    let c = signed.ctx(notice);
    let body = pages::device_page(&c, &d, &find);
    Ok(page(&c, StatusCode::OK, body, cookies))
}

pub(crate) async fn turn_off_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    if d.payments_off() {
        return Ok(redirect(&format!("/devices/{}", d.device.id), Vec::new()));
    }
    let c = signed.ctx(None);
    let body = pages::turn_off_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

#[derive(Deserialize, Default)]
pub(crate) struct TurnOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Signed in through a form of the session, and the device id can exist.
async fn device_form(app: &App, req: &Req, csrf: &str, device_id: &str) -> Result<Signed, Failure> {
    let signed = signed_form(app, req, csrf).await?;
    if !valid_id(device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    Ok(signed)
}

pub(crate) async fn turn_off(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<TurnOffForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    let reason = match form.reason.as_str() {
        "" => SuspendReason::Lost,
        r => r
            .parse()
            .map_err(|_| signed.fail(StatusCode::BAD_REQUEST))?,
    };
    app.wallet
        .suspend_device(&signed.principal, &device_id, reason)
        .await
        .for_signed(&signed)?;
    tracing::info!(account = %signed.principal.account_id, device = %device_id, reason = reason.as_str(), "payments turned off from the web site");
    Ok(redirect(
        "/devices",
        vec![flash("off", &device_id, req.secure)],
    ))
}

pub(crate) async fn turn_on(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    app.wallet
        .resume_device(&signed.principal, &device_id)
        .await
        .for_signed(&signed)?;
    tracing::info!(account = %signed.principal.account_id, device = %device_id, "payments turned back on from the web site");
    Ok(redirect(
        "/devices",
        vec![flash("on", &device_id, req.secure)],
    ))
}

pub(crate) async fn remove_all_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    if d.cards.is_empty() {
        return Ok(redirect(&format!("/devices/{}", d.device.id), Vec::new()));
    }
    let c = signed.ctx(None);
    let body = pages::remove_all_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

pub(crate) async fn remove_all(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    let p = &signed.principal;
    let before = app.wallet.device(p, &device_id).await.for_signed(&signed)?;
    let after = app
        .wallet
        .wipe_device(p, &device_id)
        .await
        .for_signed(&signed)?;
    let removed = before.card_count.saturating_sub(after.card_count);
    Ok(redirect(
        "/devices",
        vec![flash("rmall", &removed.to_string(), req.secure)],
    ))
}
