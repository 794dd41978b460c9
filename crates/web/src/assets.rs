//! The site's static files: its one stylesheet, compiled in.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const SITE_CSS: &str = include_str!("../assets/site.css");

pub(crate) async fn stylesheet() -> Response {
    let mut resp = SITE_CSS.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
