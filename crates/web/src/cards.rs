//! The account's cards: the list (device by device), making a card its
//! device's default, and removing one card after a confirmation step.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use paytap_wallet::Card;

use crate::app::{
    App, CsrfForm, Failure, ForSigned, Req, Signed, Submitted, signed_form, signed_in, valid_id,
};
use crate::notice::flash;
use crate::pages;
use crate::respond::{page, redirect};

/// The card is on one of the signed-in account's devices.
async fn own_card(
    app: &App,
    signed: &Signed,
    device_id: &str,
    card_id: &str,
) -> Result<Card, Failure> {
    if !valid_id(device_id) || !valid_id(card_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let d = app
        .device_cards(&signed.principal, device_id)
        .await
        .for_signed(signed)?;
    d.cards
        .into_iter()
        .find(|c| c.id == card_id)
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))
}

pub(crate) async fn make_default(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    app.wallet
        .set_default_card(&signed.principal, &device_id, &card_id)
        .await
        .for_signed(&signed)?;
    Ok(redirect(
        "/cards",
        vec![flash("default", &card.card_last4, req.secure)],
    ))
}

pub(crate) async fn remove_card_form(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    let c = signed.ctx(None);
    let body = pages::remove_card_page(&c, &card);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

pub(crate) async fn remove_card(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    app.wallet
        .remove_card(&signed.principal, &device_id, &card_id)
        .await
        .for_signed(&signed)?;
    Ok(redirect(
        "/cards",
        vec![flash("rmcard", &card.card_last4, req.secure)],
    ))
}

pub(crate) async fn cards(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    crate::devices::all_devices_page(&app, &req, pages::cards_page).await
}
