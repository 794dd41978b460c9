//! A request id on every HTTP request, and one log line per request.
//!
//! Each request gets an id: the client's own `X-Request-Id` when it is
//! short printable ASCII ([`MAX_REQUEST_ID_LEN`] bytes at most, no spaces
//! or control characters), otherwise a new random UUID. The handlers see
//! it in the request's `X-Request-Id` header and inside the `request` span
//! every line they log carries; the answer echoes it in `X-Request-Id`.
//! When the answer's head is ready, one info line says `request_id`,
//! `method`, `route` (the matched route pattern, never the path with its
//! ids; [`UNMATCHED_ROUTE`] for a path no route matched), `status` and
//! `latency_us`.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-supplied id kept; a longer one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 64;
/// What the log line says for the route of a path no route matched.
pub const UNMATCHED_ROUTE: &str = "-";

/// `app` with a request id and a log line on each of its requests; the
/// outermost layer, so answers of the inner layers (a timeout's 503) are
/// logged and carry the id too.
pub fn track_requests(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(track))
}

/// The client's id when it is acceptable ([`acceptable`]).
fn client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(&REQUEST_ID_HEADER)?.to_str().ok()?;
    acceptable(value).then(|| value.to_owned())
}

/// Whether a client's id is kept: 1 to [`MAX_REQUEST_ID_LEN`] bytes of
/// printable ASCII without spaces.
pub fn acceptable(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A new random id.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn track(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = client_id(req.headers()).unwrap_or_else(new_id);
    let value = HeaderValue::from_str(&id).expect("an accepted or new id is a valid header value");
    req.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = next.run(req).instrument(span).await;
    res.headers_mut().insert(REQUEST_ID_HEADER, value);
    tracing::info!(
        request_id = %id,
        method = %method,
        route = route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        status = res.status().as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        track_requests(Router::new().route(
            "/items/{id}",
            get(|headers: HeaderMap| async move {
                // The handler sees the id the answer carries.
                headers
                    .get(&REQUEST_ID_HEADER)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        ))
    }

    /// The answer's status, its `X-Request-Id`, and its body.
    async fn call(id: Option<&[u8]>) -> (StatusCode, String, String) {
        let mut req = Request::builder().uri("/items/42");
        if let Some(id) = id {
            req = req.header(REQUEST_ID_HEADER, HeaderValue::from_bytes(id).unwrap());
        }
        let res = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let header = res.headers()[&REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        (status, header, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn every_answer_carries_an_id_and_two_requests_get_two() {
        let (status, a, seen) = call(None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(acceptable(&a), "{a}");
        assert_eq!(seen, a, "the handler sees the id it answers with");
        let (_, b, _) = call(None).await;
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_short_printable_client_id_is_echoed() {
        let (_, id, seen) = call(Some(b"client-7f3a:retry.2")).await;
        assert_eq!(id, "client-7f3a:retry.2");
        assert_eq!(seen, id);
        let longest = "x".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(call(Some(longest.as_bytes())).await.1, longest);
    }

    #[tokio::test]
    async fn an_unfit_client_id_is_replaced() {
        let too_long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        for bad in [
            too_long.as_bytes(),
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"",
        ] {
            let (_, id, seen) = call(Some(bad)).await;
            assert_ne!(id.as_bytes(), bad);
            assert!(acceptable(&id), "{id}");
            assert_eq!(seen, id);
        }
    }

    #[tokio::test]
    async fn a_path_no_route_matches_gets_an_id_too() {
        let res = app()
            .oneshot(Request::get("/nowhere").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(acceptable(
            res.headers()[&REQUEST_ID_HEADER].to_str().unwrap()
        ));
    }
}
