//! The transit cards page: every card issued to the account's devices,
//! read through the wallet ([`paytap_wallet::Wallet::transit_cards`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::app::{App, Failure, ForSigned, Req, signed_in};
use crate::pages;
use crate::respond::page;

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
