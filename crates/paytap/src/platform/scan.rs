//! Scan to pay on `paytap up`: `POST /acquirer/v1/qr-payments`, where a
//! phone sends the payment for a merchant code it scanned
//! ([`paytap_acquirer::payments::ScanPayment`]: the code's text, the amount,
//! its token and the chip data its secure element made for the QR channel,
//! an idempotency key it chose).
//!
//! The request needs no acquirer signature: the phone is not an acquirer,
//! and what authorizes the payment is the token's one-time cryptogram,
//! which the token service verifies. The acquirer sends the `0200` through
//! the switch signed on as the merchant's acquirer ([`NetworkSwitch`]).
//!
//! Answers: `200` with the outcome (approved or declined by the network),
//! `404` unknown merchant, `422` unreadable code, wrong amount, a key used
//! for another payment or a malformed body, `504` no answer in time (retry
//! with the same key), `503` a failure of the acquirer's own storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paytap_acquirer::payments::{BoxFuture, PaymentError, QrPayments, ScanPayment, SwitchPort};
use paytap_iso8583::Message;
use paytap_network::RunningNetwork;
use paytap_network::terminal::AcquirerClient;
use serde_json::json;

/// Where the phone posts a scanned-code payment.
pub const QR_PAYMENTS_PATH: &str = "/acquirer/v1/qr-payments";
/// Largest request body: a code (≤ 512 characters) and the chip data.
const MAX_BODY_BYTES: usize = 8192;
/// How long the switch may take to answer a `0200`.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(15);

/// The acquirer's side of the switch: one signed-on connection per
/// acquirer, opened on first use and opened again after a failure.
pub struct NetworkSwitch {
    net: Arc<RunningNetwork>,
    clients: Mutex<HashMap<String, AcquirerClient>>,
}

impl NetworkSwitch {
    /// Over the running network.
    pub fn new(net: Arc<RunningNetwork>) -> NetworkSwitch {
        NetworkSwitch {
            net,
            clients: Mutex::default(),
        }
    }

    async fn client(&self, acquirer: &str) -> Result<AcquirerClient, String> {
        let known = paytap_types::sync::lock(&self.clients, "acquirer clients")
            .get(acquirer)
            .cloned();
        if let Some(c) = known {
            return Ok(c);
        }
        let key = self
            .net
            .acquirer_key(acquirer)
            .ok_or_else(|| format!("the switch does not know acquirer {acquirer}"))?;
        let c = AcquirerClient::connect(self.net.switch_addr(), acquirer, key)
            .await
            .map_err(|e| e.to_string())?;
        paytap_types::sync::lock(&self.clients, "acquirer clients")
            .insert(acquirer.to_owned(), c.clone());
        Ok(c)
    }
}

impl SwitchPort for NetworkSwitch {
    fn send<'a>(
        &'a self,
        acquirer: &'a str,
        request: Message,
    ) -> BoxFuture<'a, Result<Message, String>> {
        Box::pin(async move {
            let client = self.client(acquirer).await?;
            match tokio::time::timeout(SWITCH_TIMEOUT, client.send(&request)).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => {
                    // The connection is suspect: the next payment opens another.
                    paytap_types::sync::lock(&self.clients, "acquirer clients").remove(acquirer);
                    Err(e.to_string())
                }
                Err(_) => Err(format!("no answer within {SWITCH_TIMEOUT:?}")),
            }
        })
    }

    fn payer_account(&self, token: &str) -> Option<String> {
        let bank = self.net.tsp().issuer_of(token)?;
        Some(format!("issuer:{bank}:settlement"))
    }
}

#[derive(Clone)]
struct Api {
    payments: QrPayments,
    switch: Arc<NetworkSwitch>,
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let body = json!({ "error": { "code": code, "message": message.to_string() } });
    (status, axum::Json(body)).into_response()
}

pub(crate) fn failure(e: &PaymentError) -> Response {
    use PaymentError as E;
    let status = match e {
        E::Invalid(_)
        | E::Code(_)
        | E::WrongAmount { .. }
        | E::KeyReused(_)
        | E::Stale(_)
        | E::BatchAltered(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::UnknownMerchant(_) | E::NotYourMerchant(_) | E::UnknownPayment(_) => {
            StatusCode::NOT_FOUND
        }
        E::ReversalRefused(_) => StatusCode::CONFLICT,
        E::CodeReused => StatusCode::CONFLICT,
        E::NoAnswer(_) => StatusCode::GATEWAY_TIMEOUT,
        E::Acquirer(_) => {
            tracing::error!(error = %e, "QR payment failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    error(status, e.code(), e)
}

async fn pay(State(api): State<Api>, body: Bytes) -> Response {
    let p: ScanPayment = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "scanned-code payment with a malformed body");
            return error(StatusCode::UNPROCESSABLE_ENTITY, "malformed", e);
        }
    };
    match api.payments.pay(&p, api.switch.as_ref()).await {
        Ok(o) => (StatusCode::OK, axum::Json(o)).into_response(),
        Err(e) => {
            tracing::info!(key = %p.idempotency_key, error = %e, "scanned-code payment refused");
            failure(&e)
        }
    }
}

/// The scan-to-pay route (module documentation).
pub fn router(net: Arc<RunningNetwork>, payments: QrPayments) -> axum::Router {
    axum::Router::new()
        .route(QR_PAYMENTS_PATH, axum::routing::post(pay))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api {
            payments,
            switch: Arc::new(NetworkSwitch::new(net)),
        })
}
