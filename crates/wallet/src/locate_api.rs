//! The HTTP routes of "find my device" ([`crate::locate`]), merged into
//! [`crate::http::router`]:
//!
//! * `GET /api/v1/devices/{id}/places`: the short history of places;
//! * `GET|POST /api/v1/devices/{id}/commands`: the commands and their
//!   states; queue one (`{"kind": "locate" | "sound" | "erase"}`, 201 when
//!   new, 200 when an open one of the same kind answers; `verify_payment`
//!   is the wallet's own, [`crate::step_up`], and refused here);
//! * `GET /api/v1/devices/{id}/commands/stream`: the device's channel,
//!   server-sent events (`event: command`, the command as data, its id as
//!   the event id);
//! * `POST /api/v1/devices/{id}/commands/{command_id}/ack`: the device's
//!   answer (`ok`, `detail`, and its place: required for "locate").

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::http::{ApiError, Authed, call, to_value};
use crate::idempotency::{Fingerprinted, idempotent};
use crate::locate::{CommandAnswer, CommandKind, ContactKind};
use crate::model::Heartbeat;
use crate::service::Wallet;

/// Keep-alive comments on an idle command channel, so the device and any
/// proxy between see it alive (the device gives up after three missed).
pub const CHANNEL_KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) fn routes() -> Router<Wallet> {
    Router::new()
        .route("/api/v1/devices/{device_id}/places", get(places))
        .route(
            "/api/v1/devices/{device_id}/commands",
            get(list_commands).post(send_command),
        )
        .route(
            "/api/v1/devices/{device_id}/commands/stream",
            get(command_stream),
        )
        .route(
            "/api/v1/devices/{device_id}/commands/{command_id}/ack",
            post(ack_command),
        )
}

#[derive(Deserialize)]
struct CommandBody {
    kind: CommandKind,
}

#[derive(Deserialize)]
struct AckBody {
    ok: bool,
    #[serde(default, deserialize_with = "crate::body::present")]
    detail: Option<String>,
    #[serde(default, deserialize_with = "crate::body::present")]
    lat: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    lon: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    accuracy_m: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    place: Option<String>,
}

/// What a heartbeat may say about why it was sent.
#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HeartbeatSource {
    #[default]
    Heartbeat,
    Sync,
    Payment,
}

impl HeartbeatSource {
    pub(crate) fn contact(&self) -> ContactKind {
        match self {
            HeartbeatSource::Heartbeat => ContactKind::Heartbeat,
            HeartbeatSource::Sync => ContactKind::Sync,
            HeartbeatSource::Payment => ContactKind::Payment,
        }
    }
}

async fn places(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = w.places(&auth.principal, &id).await?;
    Ok(axum::Json(json!({ "device_id": id, "places": list })).into_response())
}

async fn list_commands(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = w.commands(&auth.principal, &id).await?;
    Ok(axum::Json(json!({ "commands": list })).into_response())
}

async fn send_command(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<CommandBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/commands");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let (command, created) = w.send_command(p, &id, body.kind).await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, to_value(&command)?))
    })
    .await
}

async fn ack_command(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path((id, command_id)): Path<(String, String)>,
    Fingerprinted { body, fingerprint }: Fingerprinted<AckBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/commands/{command_id}/ack");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let answer = CommandAnswer {
            ok: body.ok,
            detail: body.detail.clone(),
            position: Heartbeat {
                lat: body.lat,
                lon: body.lon,
                accuracy_m: body.accuracy_m,
                place: body.place.clone(),
            },
        };
        let command = w.answer_command(p, &id, &command_id, &answer).await?;
        Ok((StatusCode::OK, to_value(&command)?))
    })
    .await
}

async fn command_stream(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = zeroize::Zeroizing::new(auth.token.clone());
    let feed = w.command_feed(&auth.principal, &id, token).await?;
    tracing::info!(account = %auth.principal.account_id, device = %id, "command channel open");
    let events = feed.map(|c| {
        let ev = Event::default()
            .event("command")
            .id(c.id.clone())
            .json_data(&c)
            .unwrap_or_else(|_| Event::default().event("error"));
        Ok::<Event, Infallible>(ev)
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(CHANNEL_KEEP_ALIVE))
        .into_response())
}
