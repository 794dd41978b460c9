//! The site's static files, compiled in: its one stylesheet and its icon.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const SITE_CSS: &str = include_str!("../assets/site.css");
const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");

pub(crate) async fn stylesheet() -> Response {
    file(SITE_CSS, "text/css; charset=utf-8")
}

pub(crate) async fn favicon() -> Response {
    file(FAVICON_SVG, "image/svg+xml")
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
