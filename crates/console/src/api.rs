//! The console's JSON API under `/console/api/v1`. Every call but signing
//! in needs `Authorization: Bearer <operator token>`; anything else (no
//! token, an expired one, an account holder's) is `401` and nothing is
//! read or changed. Offers and rules are written as TOML in the files'
//! schema, in the body as `text/plain`. Every call but signing in and
//! out works on one region's risk and offers (`?region=in`; the first
//! region without it, `404` for a region the console does not have);
//! `GET /console/api/v1/regions` lists them.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use paytap_guard::GuardError;
use paytap_types::Secret;
use serde::Deserialize;
use std::sync::Arc;

use crate::{Console, ConsoleError, RegionGuard, RegionQuery};

/// An API error: its status and a message for the caller.
pub(crate) struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        let (status, message) = status_of(&e);
        ApiError(status, message)
    }
}

impl From<GuardError> for ApiError {
    fn from(e: GuardError) -> Self {
        ConsoleError::Guard(e).into()
    }
}

/// The status and message of a failed console call; our own failures are
/// logged and told only as such.
pub(crate) fn status_of(e: &ConsoleError) -> (StatusCode, String) {
    use paytap_offers_error as oe;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    match e {
        ConsoleError::Invalid(m) => (unprocessable, m.clone()),
        ConsoleError::Busy => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        ConsoleError::UnknownRegion(_) => (StatusCode::NOT_FOUND, e.to_string()),
        ConsoleError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        ConsoleError::Guard(GuardError::Rules(r)) => (unprocessable, r.to_string()),
        ConsoleError::Guard(GuardError::UnknownRule(_)) => (StatusCode::NOT_FOUND, e.to_string()),
        ConsoleError::Guard(GuardError::Offer(o)) if oe::unknown(o) => {
            (StatusCode::NOT_FOUND, o.to_string())
        }
        ConsoleError::Guard(GuardError::Offer(o)) if oe::refused(o) => {
            (unprocessable, o.to_string())
        }
        other => {
            tracing::error!(error = %other, "console call failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    }
}

/// Which offers-engine refusals are the caller's.
mod paytap_offers_error {
    use paytap_guard::OfferError;

    /// No such offer.
    pub(crate) fn unknown(e: &OfferError) -> bool {
        matches!(e, OfferError::UnknownOffer(_))
    }

    /// An invalid offer, or a budget below what it has given.
    pub(crate) fn refused(e: &OfferError) -> bool {
        matches!(e, OfferError::Config(_) | OfferError::Budget(..))
    }
}

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/api/v1/sessions", post(sign_in).delete(sign_out))
        .route("/console/api/v1/regions", get(regions))
        .route("/console/api/v1/offers", get(offers).post(put_offer))
        .route("/console/api/v1/offers/{id}/pause", post(pause))
        .route("/console/api/v1/offers/{id}/resume", post(resume))
        .route("/console/api/v1/offers/{id}/redemptions", get(redemptions))
        .route("/console/api/v1/risk/decisions", get(decisions))
        .route("/console/api/v1/risk/rules", get(rules).put(replace_rules))
        .route("/console/api/v1/risk/rules/{name}/shadow", put(shadow))
}

/// The bearer token of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The operator making the request, or `401`.
async fn operator(c: &Console, headers: &HeaderMap) -> Result<String, ApiError> {
    let refused = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "an operator's session is needed".into(),
        )
    };
    let Some(token) = bearer(headers) else {
        tracing::warn!("console API call without a token refused");
        return Err(refused());
    };
    match c.operators.operator(token, c.now_ms()).await? {
        Some(login) => Ok(login),
        None => {
            tracing::warn!("console API call with a token that is not an operator's refused");
            Err(refused())
        }
    }
}

fn off(what: &str, region: &RegionGuard) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("{what} are off in region {}", region.code),
    )
}

/// The region a call asked for and its offers service, or why not.
fn offers_of<'c>(
    c: &'c Console,
    q: &RegionQuery,
) -> Result<(&'c RegionGuard, &'c paytap_guard::OffersService), ApiError> {
    let region = c.region(q)?;
    let offers = region.offers().ok_or_else(|| off("offers", region))?;
    Ok((region, offers))
}

/// The region a call asked for and its risk service, or why not.
fn risk_of<'c>(
    c: &'c Console,
    q: &RegionQuery,
) -> Result<(&'c RegionGuard, &'c paytap_guard::RiskService), ApiError> {
    let region = c.region(q)?;
    let risk = region.risk().ok_or_else(|| off("risk rules", region))?;
    Ok((region, risk))
}

/// The console's regions, the default first, and which of their services
/// run.
async fn regions(State(c): State<Arc<Console>>, headers: HeaderMap) -> Result<Response, ApiError> {
    operator(&c, &headers).await?;
    let list: Vec<serde_json::Value> = c
        .regions()
        .iter()
        .map(|r| {
            serde_json::json!({
                "region": r.code,
                "risk": r.risk().is_some(),
                "offers": r.offers().is_some(),
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    login: String,
    password: String,
}

/// Signs an operator in: `201` with the token; `401` for a wrong login
/// or password; `429` with `Retry-After` while the login's cooldown runs
/// (`crate::throttle`), whatever the password.
async fn sign_in(
    State(c): State<Arc<Console>>,
    Json(body): Json<SignIn>,
) -> Result<Response, ApiError> {
    let password = Secret::new(body.password);
    let signed = match c
        .operators
        .sign_in(&body.login, &password, c.now_ms())
        .await
    {
        Err(e @ ConsoleError::TooManyAttempts { retry_after_secs }) => {
            let mut resp = ApiError::from(e).into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return Ok(resp);
        }
        other => other?,
    };
    match signed {
        Some(s) => Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({
                "token": s.token.expose(),
                "login": s.login,
                "expires_ms": s.expires_ms,
            })),
        )
            .into_response()),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong login or password".into(),
        )),
    }
}

async fn sign_out(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    operator(&c, &headers).await?;
    if let Some(t) = bearer(&headers) {
        c.operators.sign_out(t, c.now_ms()).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn offers(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&c, &headers).await?;
    let (_, offers) = offers_of(&c, &q)?;
    Ok(Json(offers.offers_view()).into_response())
}

async fn put_offer(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let who = operator(&c, &headers).await?;
    let (region, offers) = offers_of(&c, &q)?;
    match offers.put_offer(&body).await {
        Ok(view) => {
            tracing::info!(operator = %who, region = %region.code, offer = %view.id, "offer written");
            Ok(Json(view).into_response())
        }
        Err(e) => {
            tracing::warn!(operator = %who, region = %region.code, error = %e, "offer refused");
            Err(e.into())
        }
    }
}

async fn set_paused(
    c: &Console,
    q: &RegionQuery,
    headers: &HeaderMap,
    id: &str,
    paused: bool,
) -> Result<Response, ApiError> {
    let who = operator(c, headers).await?;
    let (region, offers) = offers_of(c, q)?;
    offers.set_paused(id, paused).await?;
    tracing::info!(operator = %who, region = %region.code, offer = id, paused, "offer paused or resumed");
    let view = offers.offers_view().into_iter().find(|o| o.id == id);
    Ok(Json(view).into_response())
}

async fn pause(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_paused(&c, &q, &headers, &id, true).await
}

async fn resume(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_paused(&c, &q, &headers, &id, false).await
}

async fn redemptions(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    operator(&c, &headers).await?;
    let (region, offers) = offers_of(&c, &q)?;
    let view = offers
        .offers_view()
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("no offer {id:?} in region {}", region.code),
            )
        })?;
    let list = offers.redemptions_of_offer(&id).await?;
    Ok(Json(serde_json::json!({ "offer": view, "redemptions": list })).into_response())
}

async fn decisions(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&c, &headers).await?;
    let (_, risk) = risk_of(&c, &q)?;
    Ok(Json(risk.recent().await?).into_response())
}

async fn rules(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&c, &headers).await?;
    let (_, risk) = risk_of(&c, &q)?;
    Ok(Json(risk.rules_view()).into_response())
}

async fn replace_rules(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let who = operator(&c, &headers).await?;
    let (region, risk) = risk_of(&c, &q)?;
    if let Err(e) = risk.replace_rules(&body, c.now_ms()).await {
        tracing::warn!(operator = %who, region = %region.code, error = %e, "risk rules refused");
        return Err(e.into());
    }
    tracing::info!(operator = %who, region = %region.code, "risk rules replaced");
    Ok(Json(risk.rules_view()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shadow {
    shadow: bool,
}

async fn shadow(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Shadow>,
) -> Result<StatusCode, ApiError> {
    let who = operator(&c, &headers).await?;
    let (region, risk) = risk_of(&c, &q)?;
    risk.set_shadow(&name, body.shadow).await?;
    tracing::info!(operator = %who, region = %region.code, rule = %name, shadow = body.shadow, "rule's shadow mode set");
    Ok(StatusCode::NO_CONTENT)
}
