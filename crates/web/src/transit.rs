//! The transit cards page: every card issued to the account's devices,
//! read through the wallet ([`paytap_wallet::Wallet::transit_cards`]), and
//! a lost card's balance ordered onto a card on another device
//! ([`paytap_wallet::Wallet::order_transit_move`]), which that device takes
//! at its next sync.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use serde::Deserialize;

use crate::app::{App, Failure, ForSigned, Req, Submitted, signed_form, signed_in, valid_id};
use crate::pages;
use crate::respond::{page, redirect};

pub(crate) async fn transit(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let list = app
        .wallet
        .transit_cards(&signed.principal)
        .await
        .for_signed(&signed)?;
    let c = signed.ctx(None);
    let body = pages::transit_page(&c, &list.cards);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// The move form: the card the lost card's balance goes to.
#[derive(Deserialize)]
pub(crate) struct MoveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to_card_id: String,
}

pub(crate) async fn order_move(
    State(app): State<App>,
    req: Req,
    Path(card_id): Path<String>,
    Submitted(form): Submitted<MoveForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    if !valid_id(&card_id) || !valid_id(&form.to_card_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    app.wallet
        .order_transit_move(&signed.principal, &card_id, &form.to_card_id)
        .await
        .for_signed(&signed)?;
    Ok(redirect("/transit", Vec::new()))
}
