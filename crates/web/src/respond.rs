//! Building responses: HTML pages with the site's security headers and
//! Content Security Policy, redirects, and the session cookie's removal.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;

use crate::pages::Ctx;
use crate::session::{session_cookie_name, set_cookie};

/// An HTML response under construction.
struct Page {
    status: StatusCode,
    body: Markup,
    nonce: String,
    cookies: Vec<HeaderValue>,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{}'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            self.nonce
        );
        let mut resp = (self.status, self.body.into_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        security_headers(h);
        for c in self.cookies {
            h.append(header::SET_COOKIE, c);
        }
        resp
    }
}

pub(crate) fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// `303 See Other` to `to`, setting `cookies`.
pub(crate) fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(h);
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

pub(crate) fn page(
    c: &Ctx,
    status: StatusCode,
    body: Markup,
    cookies: Vec<HeaderValue>,
) -> Response {
    Page {
        status,
        body,
        nonce: c.nonce.clone(),
        cookies,
    }
    .into_response()
}

pub(crate) fn clear_session(secure: bool) -> HeaderValue {
    set_cookie(session_cookie_name(secure), "", 0, secure)
}

/// Adds `Retry-After: secs` when there is a wait to tell.
pub(crate) fn with_retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
