//! paytap's web site for the account holder, served by the wallet service
//! at `/` (the wallet's JSON API lives beside it under `/api/v1`).
//!
//! What a person can do here: sign in with their wallet account, see their
//! phones, watches and bands (type, last seen time and place, the cards on
//! each), **turn off payments on a lost or stolen device** (after a
//! confirmation step; it takes effect at once because the wallet suspends
//! every token of the device at the token service), turn them back on,
//! remove a device's cards, see their cards (brand-neutral card art with
//! the bank's name and the last four digits; default card; remove), and
//! follow their payments, newest first, updating live.
//!
//! Module map:
//! * [`port`]: the wallet's service layer as the site uses it
//!   ([`AccountPort`]) and the view types (which cannot hold a card number);
//! * [`wallet`]: [`AccountPort`] over [`paytap_wallet::Wallet`];
//! * [`session`]: session cookie (the wallet's own session token) and CSRF
//!   synchronizer tokens;
//! * [`i18n`]: English and Simplified Chinese;
//! * [`pages`]: the server-rendered HTML; `assets/site.css` the styles.
//!
//! Security choices, stated once:
//! * Cookies are `HttpOnly; SameSite=Strict; Path=/`, `Secure` (and the
//!   `__Host-` prefix) when served over https.
//! * Every POST checks its CSRF token before anything else; a bad or
//!   missing token answers 403 and changes nothing.
//! * Another account's device or card id, in a URL or a form, answers the
//!   same 404 as an id that does not exist, and changes nothing (the wallet
//!   checks ownership on every call).
//! * Responses carry a Content Security Policy with no inline script but
//!   the one the payments page needs (per-response nonce), `frame-ancestors
//!   'none'`, `nosniff`, `Referrer-Policy: same-origin`, and pages that show
//!   account data are `Cache-Control: no-store`.
//! * Form bodies are capped at 16 KiB; passwords are wiped after use and
//!   never logged.

pub mod i18n;
pub mod pages;
pub mod port;
pub mod session;
pub mod wallet;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use maud::Markup;
use paytap_wallet::TrustedProxies;
use paytap_wallet::client_addr::client_address;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use i18n::Lang;
pub use port::{AccountPort, PortError};
pub use session::CsrfKey;
pub use wallet::WalletPort;

use pages::Ctx;
use port::{DeviceView, LossReason, Viewer};
use session::{
    FLASH_COOKIE, LANG_COOKIE, LOGIN_COOKIE, cookie, random_nonce, session_cookie_name,
    session_from, set_cookie,
};

/// Largest form body accepted.
pub const FORM_LIMIT: usize = 16 * 1024;
/// Payments per history page.
pub const PAGE_SIZE: u32 = 25;

/// Options of the site.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// `Some(true)`: always mark cookies `Secure`; `Some(false)`: never;
    /// `None` (default): when the request came over https (directly or as
    /// a proxy's `X-Forwarded-Proto` / `Forwarded` says).
    pub secure_cookies: Option<bool>,
    /// The CSRF key; a fresh random one when `None`.
    pub csrf_key: Option<CsrfKey>,
    /// Proxies whose `X-Forwarded-For` names the client (default none):
    /// the address the sign-in throttle counts.
    pub trusted_proxies: TrustedProxies,
}

#[derive(Clone)]
struct App {
    port: Arc<dyn AccountPort>,
    csrf: Arc<CsrfKey>,
    secure_cookies: Option<bool>,
    trusted_proxies: Arc<TrustedProxies>,
}

/// The web site over the wallet service, to merge at `/` beside the
/// wallet's API router.
pub fn router(wallet: paytap_wallet::Wallet) -> Router {
    let config = WebConfig {
        trusted_proxies: wallet.config().trusted_proxies.clone(),
        ..WebConfig::default()
    };
    router_with(Arc::new(WalletPort::new(wallet)), config)
}

/// The web site over any [`AccountPort`].
pub fn router_with(port: Arc<dyn AccountPort>, config: WebConfig) -> Router {
    let app = App {
        port,
        csrf: Arc::new(config.csrf_key.unwrap_or_else(CsrfKey::random)),
        secure_cookies: config.secure_cookies,
        trusted_proxies: Arc::new(config.trusted_proxies),
    };
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", post(logout))
        .route("/language", post(language))
        .route("/devices", get(devices))
        .route("/devices/{device_id}", get(device))
        .route(
            "/devices/{device_id}/turn-off",
            get(turn_off_form).post(turn_off),
        )
        .route("/devices/{device_id}/turn-on", post(turn_on))
        .route(
            "/devices/{device_id}/remove-cards",
            get(remove_all_form).post(remove_all),
        )
        .route(
            "/devices/{device_id}/cards/{card_id}/default",
            post(make_default),
        )
        .route(
            "/devices/{device_id}/cards/{card_id}/remove",
            get(remove_card_form).post(remove_card),
        )
        .route("/cards", get(cards))
        .route("/payments", get(payments))
        .route("/payments/events", get(payment_events))
        .route("/assets/site.css", get(stylesheet))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .with_state(app)
}

// ----- request context ---------------------------------------------------------

/// What every handler reads from the request besides its own input.
struct Req {
    headers: HeaderMap,
    secure: bool,
    client: Option<IpAddr>,
    path: String,
}

impl FromRequestParts<App> for Req {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Infallible> {
        let secure = app
            .secure_cookies
            .unwrap_or_else(|| session::is_https(&parts.headers, parts.uri.scheme_str()));
        Ok(Req {
            headers: parts.headers.clone(),
            secure,
            client: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ci| client_address(ci.0.ip(), &parts.headers, &app.trusted_proxies)),
            path: parts.uri.path().to_string(),
        })
    }
}

impl Req {
    /// Language: the switch's cookie, else the account's, else the browser's.
    fn lang(&self, viewer: Option<&Viewer>) -> Lang {
        cookie(&self.headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .or(viewer.map(|v| v.language))
            .unwrap_or_else(|| {
                Lang::from_accept_language(
                    self.headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                )
            })
    }
}

/// A signed-in request.
struct Signed {
    viewer: Viewer,
    token: Zeroizing<String>,
    lang: Lang,
    csrf: String,
}

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

fn security_headers(h: &mut HeaderMap) {
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
fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
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

fn ctx<'a>(req: &Req, signed: Option<&'a Signed>, csrf: String, notice: Option<String>) -> Ctx<'a> {
    Ctx {
        lang: signed.map_or_else(|| req.lang(None), |s| s.lang),
        viewer: signed.map(|s| &s.viewer),
        csrf,
        nonce: random_nonce(),
        path: req.path.clone(),
        notice,
    }
}

fn page(c: &Ctx<'_>, status: StatusCode, body: Markup, cookies: Vec<HeaderValue>) -> Response {
    Page {
        status,
        body,
        nonce: c.nonce.clone(),
        cookies,
    }
    .into_response()
}

/// An error page for a signed-in (or not) request.
fn error_page(req: &Req, signed: Option<&Signed>, status: StatusCode) -> Response {
    let csrf = signed.map(|s| s.csrf.clone()).unwrap_or_default();
    let c = ctx(req, signed, csrf, None);
    let s = c.s();
    let (title, body) = match status {
        StatusCode::NOT_FOUND => (s.not_found_title, s.not_found_body),
        StatusCode::FORBIDDEN => (s.forbidden_title, s.forbidden_body),
        StatusCode::BAD_REQUEST => (s.bad_request_title, s.bad_request_body),
        _ => (s.error_title, s.error_body),
    };
    let body = pages::message_page(&c, title, body);
    page(&c, status, body, Vec::new())
}

fn refused_page(req: &Req, signed: &Signed, message: &str) -> Response {
    let c = ctx(req, Some(signed), signed.csrf.clone(), None);
    let title = c.s().error_title;
    let body = pages::message_page(&c, title, message);
    page(&c, StatusCode::CONFLICT, body, Vec::new())
}

/// Maps a port failure of a signed-in request to a response.
fn port_failure(req: &Req, signed: &Signed, e: PortError) -> Response {
    match e {
        PortError::NotFound => error_page(req, Some(signed), StatusCode::NOT_FOUND),
        PortError::Unauthenticated => to_login_expired(req),
        PortError::Refused(m) => refused_page(req, signed, &m),
        PortError::Unavailable(m) => {
            tracing::warn!(error = %m, "wallet unavailable");
            error_page(req, Some(signed), StatusCode::SERVICE_UNAVAILABLE)
        }
        PortError::Internal(m) => {
            tracing::error!(error = %m, "wallet error");
            error_page(req, Some(signed), StatusCode::INTERNAL_SERVER_ERROR)
        }
        PortError::Busy { .. } => error_page(req, Some(signed), StatusCode::SERVICE_UNAVAILABLE),
        PortError::InvalidCredentials | PortError::Locked { .. } => {
            error_page(req, Some(signed), StatusCode::FORBIDDEN)
        }
    }
}

fn clear_session(req: &Req) -> HeaderValue {
    set_cookie(session_cookie_name(req.secure), "", 0, req.secure)
}

fn to_login_expired(req: &Req) -> Response {
    redirect("/login?expired=1", vec![clear_session(req)])
}

/// The signed-in account of the request, or the response to send instead
/// (the sign-in page).
async fn signed_in(app: &App, req: &Req) -> Result<Signed, Response> {
    let Some(token) = session_from(&req.headers) else {
        return Err(redirect("/login", Vec::new()));
    };
    match app.port.authenticate(&token).await {
        Ok(viewer) => {
            let lang = req.lang(Some(&viewer));
            let csrf = app.csrf.session_token(&token);
            Ok(Signed {
                viewer,
                token,
                lang,
                csrf,
            })
        }
        Err(PortError::Unauthenticated) => Err(to_login_expired(req)),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a session");
            Err(error_page(req, None, StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

/// Signed in and the form's CSRF token matches the session.
async fn signed_form(app: &App, req: &Req, csrf: &str) -> Result<Signed, Response> {
    let signed = signed_in(app, req).await?;
    if !app.csrf.verify_session(&signed.token, csrf) {
        tracing::warn!(account = %signed.viewer.account_id, path = %req.path, "form with a bad CSRF token refused");
        return Err(error_page(req, Some(&signed), StatusCode::FORBIDDEN));
    }
    Ok(signed)
}

/// Ids the wallet hands out are UUIDs; anything else cannot exist.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A submitted `application/x-www-form-urlencoded` form; anything else (a
/// wrong content type, a body that does not parse, one over the size
/// limit) answers with the site's 400 page instead of a bare error.
struct Submitted<T>(T);

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<App> for Submitted<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, app: &App) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let info = match Req::from_request_parts(&mut parts, app).await {
            Ok(info) => info,
            Err(never) => match never {},
        };
        let req = axum::extract::Request::from_parts(parts, body);
        match Form::<T>::from_request(req, app).await {
            Ok(Form(v)) => Ok(Submitted(v)),
            Err(rejection) => {
                tracing::debug!(error = %rejection, path = %info.path, "unreadable form");
                Err(error_page(&info, None, StatusCode::BAD_REQUEST))
            }
        }
    }
}

// ----- one-shot notices --------------------------------------------------------

fn flash(kind: &str, arg: &str, secure: bool) -> HeaderValue {
    let arg: String = arg
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    set_cookie(FLASH_COOKIE, &format!("{kind}.{arg}"), 60, secure)
}

/// The notice of the request's flash cookie (and the cookie that clears it).
fn take_notice(
    req: &Req,
    lang: Lang,
    devices: &[DeviceView],
) -> (Option<String>, Vec<HeaderValue>) {
    let Some(raw) = cookie(&req.headers, FLASH_COOKIE) else {
        return (None, Vec::new());
    };
    let clear = vec![set_cookie(FLASH_COOKIE, "", 0, req.secure)];
    let s = lang.strings();
    let (kind, arg) = raw.split_once('.').unwrap_or((raw, ""));
    let device_name = || {
        devices
            .iter()
            .find(|d| d.id == arg)
            .map(|d| d.name.as_str())
    };
    let four = arg.len() == 4 && arg.bytes().all(|b| b.is_ascii_digit());
    let text = match kind {
        "off" => device_name().map(|n| i18n::fill(s.notice_off, n)),
        "on" => device_name().map(|n| i18n::fill(s.notice_on, n)),
        "rmall" if arg.parse::<u32>().is_ok() => Some(i18n::fill(s.notice_removed_all, arg)),
        "rmcard" if four => Some(i18n::fill(s.notice_card_removed, arg)),
        "default" if four => Some(i18n::fill(s.notice_default, arg)),
        "lang" => Some(s.notice_language.to_string()),
        _ => None,
    };
    (text, clear)
}

// ----- handlers ------------------------------------------------------------------

async fn home(State(app): State<App>, req: Req) -> Response {
    match signed_in(&app, &req).await {
        Ok(_) => redirect("/devices", Vec::new()),
        Err(resp) => resp,
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

/// The pre-session value the sign-in form's token is bound to: the
/// request's, or a fresh one with the cookie that sets it.
fn login_nonce(req: &Req) -> (String, Vec<HeaderValue>) {
    match cookie(&req.headers, LOGIN_COOKIE)
        .filter(|v| v.len() == 22 && v.bytes().all(session::is_token_byte))
    {
        Some(n) => (n.to_string(), Vec::new()),
        None => {
            let n = random_nonce();
            let c = set_cookie(LOGIN_COOKIE, &n, 3600, req.secure);
            (n, vec![c])
        }
    }
}

fn render_login(
    app: &App,
    req: &Req,
    status: StatusCode,
    login_value: &str,
    error: Option<String>,
    notice: Option<String>,
    mut cookies: Vec<HeaderValue>,
) -> Response {
    let (nonce, set) = login_nonce(req);
    cookies.extend(set);
    let c = ctx(req, None, app.csrf.login_token(&nonce), notice);
    let body = pages::login_page(&c, login_value, error.as_deref());
    page(&c, status, body, cookies)
}

async fn login_form(State(app): State<App>, req: Req, Query(q): Query<LoginQuery>) -> Response {
    if let Some(token) = session_from(&req.headers)
        && app.port.authenticate(&token).await.is_ok()
    {
        return redirect("/devices", Vec::new());
    }
    let s = req.lang(None).strings();
    let notice = if q.expired.is_some() {
        Some(s.login_expired.to_string())
    } else if q.signed_out.is_some() {
        Some(s.login_signed_out.to_string())
    } else {
        None
    };
    render_login(&app, &req, StatusCode::OK, "", None, notice, Vec::new())
}

#[derive(Deserialize, Default, Zeroize, ZeroizeOnDrop)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

async fn login_submit(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<LoginForm>,
) -> Response {
    let nonce = cookie(&req.headers, LOGIN_COOKIE).unwrap_or("");
    if !app.csrf.verify_login(nonce, &form.csrf) {
        tracing::warn!("sign-in form with a bad CSRF token refused");
        let s = req.lang(None).strings();
        return render_login(
            &app,
            &req,
            StatusCode::FORBIDDEN,
            &form.login,
            Some(s.forbidden_body.to_string()),
            None,
            Vec::new(),
        );
    }
    match app
        .port
        .login(&form.login, &form.password, req.client)
        .await
    {
        Ok(signed) => {
            let now = unix_millis_now();
            let max_age = (signed.expires_at - now) / 1000;
            let cookies = vec![
                set_cookie(
                    session_cookie_name(req.secure),
                    &signed.token,
                    max_age,
                    req.secure,
                ),
                set_cookie(LOGIN_COOKIE, "", 0, req.secure),
            ];
            redirect("/devices", cookies)
        }
        Err(e) => {
            let (status, message, retry_after) = sign_in_refusal(&e, req.lang(None));
            let page = render_login(
                &app,
                &req,
                status,
                &form.login,
                Some(message),
                None,
                Vec::new(),
            );
            match retry_after {
                Some(secs) => with_retry_after(page, secs),
                None => page,
            }
        }
    }
}

/// What the sign-in page says when the wallet refuses a sign-in: the status,
/// the message, and how long to wait when the refusal says so.
fn sign_in_refusal(e: &PortError, lang: Lang) -> (StatusCode, String, Option<u64>) {
    let s = lang.strings();
    match e {
        PortError::InvalidCredentials => {
            (StatusCode::UNAUTHORIZED, s.login_wrong.to_string(), None)
        }
        PortError::Locked { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            i18n::fill(s.login_locked, &wait_text(lang, *retry_after_secs)),
            Some(*retry_after_secs),
        ),
        PortError::Busy { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            s.login_unavailable.to_string(),
            Some(*retry_after_secs),
        ),
        other => {
            tracing::warn!(error = %other, "sign-in failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                s.login_unavailable.to_string(),
                None,
            )
        }
    }
}

/// The wait in a sign-in refusal: English words, or seconds in Chinese.
fn wait_text(lang: Lang, secs: u64) -> String {
    match lang {
        Lang::En => paytap_wallet::error::wait_text(secs),
        Lang::Zh => secs.to_string(),
    }
}

fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

fn unix_millis_now() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .saturating_mul(1000)
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<CsrfForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if let Err(e) = app.port.logout(&signed.token).await {
        return port_failure(&req, &signed, e);
    }
    redirect("/login?signed_out=1", vec![clear_session(&req)])
}

#[derive(Deserialize, Default)]
struct LanguageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    next: String,
}

/// A path on this site to return to (never another origin).
fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    ok.then_some(next)
}

async fn language(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<LanguageForm>,
) -> Response {
    let Some(lang) = Lang::parse(&form.lang) else {
        return error_page(&req, None, StatusCode::BAD_REQUEST);
    };
    let signed_in_now = match session_from(&req.headers) {
        Some(token) => match app.port.authenticate(&token).await {
            Ok(_) => {
                if !app.csrf.verify_session(&token, &form.csrf) {
                    return error_page(&req, None, StatusCode::FORBIDDEN);
                }
                true
            }
            Err(_) => false,
        },
        None => false,
    };
    if !signed_in_now {
        let nonce = cookie(&req.headers, LOGIN_COOKIE).unwrap_or("");
        if !app.csrf.verify_login(nonce, &form.csrf) {
            return error_page(&req, None, StatusCode::FORBIDDEN);
        }
    }
    let fallback = if signed_in_now { "/devices" } else { "/login" };
    let next = safe_next(&form.next).unwrap_or(fallback);
    let mut cookies = vec![set_cookie(
        LANG_COOKIE,
        lang.code(),
        365 * 24 * 3600,
        req.secure,
    )];
    if signed_in_now {
        cookies.push(flash("lang", "", req.secure));
    }
    redirect(next, cookies)
}

async fn devices(State(app): State<App>, req: Req) -> Response {
    let signed = match signed_in(&app, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match app.port.devices(&signed.viewer).await {
        Ok(list) => {
            let (notice, cookies) = take_notice(&req, signed.lang, &list);
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), notice);
            let body = pages::devices_page(&c, &list);
            page(&c, StatusCode::OK, body, cookies)
        }
        Err(e) => port_failure(&req, &signed, e),
    }
}

/// Signed in, and the device is the account's.
async fn own_device(
    app: &App,
    req: &Req,
    device_id: &str,
) -> Result<(Signed, DeviceView), Response> {
    let signed = signed_in(app, req).await?;
    if !valid_id(device_id) {
        return Err(error_page(req, Some(&signed), StatusCode::NOT_FOUND));
    }
    match app.port.device(&signed.viewer, device_id).await {
        Ok(d) => Ok((signed, d)),
        Err(e) => Err(port_failure(req, &signed, e)),
    }
}

async fn device(State(app): State<App>, req: Req, Path(device_id): Path<String>) -> Response {
    match own_device(&app, &req, &device_id).await {
        Ok((signed, d)) => {
            let (notice, cookies) = take_notice(&req, signed.lang, std::slice::from_ref(&d));
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), notice);
            let body = pages::device_page(&c, &d);
            page(&c, StatusCode::OK, body, cookies)
        }
        Err(resp) => resp,
    }
}

async fn turn_off_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Response {
    match own_device(&app, &req, &device_id).await {
        Ok((_, d)) if d.payments_off.is_some() => {
            redirect(&format!("/devices/{}", d.id), Vec::new())
        }
        Ok((signed, d)) => {
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), None);
            let body = pages::turn_off_page(&c, &d);
            page(&c, StatusCode::OK, body, Vec::new())
        }
        Err(resp) => resp,
    }
}

#[derive(Deserialize, Default)]
struct TurnOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn turn_off(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<TurnOffForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if !valid_id(&device_id) {
        return error_page(&req, Some(&signed), StatusCode::NOT_FOUND);
    }
    let reason = if form.reason.is_empty() {
        LossReason::Lost
    } else {
        match LossReason::parse(&form.reason) {
            Some(r) => r,
            None => return error_page(&req, Some(&signed), StatusCode::BAD_REQUEST),
        }
    };
    match app
        .port
        .turn_off_payments(&signed.viewer, &device_id, reason)
        .await
    {
        Ok(()) => {
            tracing::info!(account = %signed.viewer.account_id, device = %device_id, reason = reason.as_str(), "payments turned off from the web site");
            redirect("/devices", vec![flash("off", &device_id, req.secure)])
        }
        Err(e) => port_failure(&req, &signed, e),
    }
}

async fn turn_on(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if !valid_id(&device_id) {
        return error_page(&req, Some(&signed), StatusCode::NOT_FOUND);
    }
    match app.port.turn_on_payments(&signed.viewer, &device_id).await {
        Ok(()) => {
            tracing::info!(account = %signed.viewer.account_id, device = %device_id, "payments turned back on from the web site");
            redirect("/devices", vec![flash("on", &device_id, req.secure)])
        }
        Err(e) => port_failure(&req, &signed, e),
    }
}

async fn remove_all_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Response {
    match own_device(&app, &req, &device_id).await {
        Ok((_, d)) if d.cards.is_empty() => redirect(&format!("/devices/{}", d.id), Vec::new()),
        Ok((signed, d)) => {
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), None);
            let body = pages::remove_all_page(&c, &d);
            page(&c, StatusCode::OK, body, Vec::new())
        }
        Err(resp) => resp,
    }
}

async fn remove_all(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if !valid_id(&device_id) {
        return error_page(&req, Some(&signed), StatusCode::NOT_FOUND);
    }
    match app.port.remove_all_cards(&signed.viewer, &device_id).await {
        Ok(n) => redirect("/devices", vec![flash("rmall", &n.to_string(), req.secure)]),
        Err(e) => port_failure(&req, &signed, e),
    }
}

/// Signed in, and the card is on one of the account's devices.
async fn own_card(
    app: &App,
    req: &Req,
    device_id: &str,
    card_id: &str,
    signed: Option<Signed>,
) -> Result<(Signed, port::CardView), Response> {
    let signed = match signed {
        Some(s) => s,
        None => signed_in(app, req).await?,
    };
    if !valid_id(device_id) || !valid_id(card_id) {
        return Err(error_page(req, Some(&signed), StatusCode::NOT_FOUND));
    }
    let d = match app.port.device(&signed.viewer, device_id).await {
        Ok(d) => d,
        Err(e) => return Err(port_failure(req, &signed, e)),
    };
    match d.cards.into_iter().find(|c| c.id == card_id) {
        Some(c) => Ok((signed, c)),
        None => Err(error_page(req, Some(&signed), StatusCode::NOT_FOUND)),
    }
}

async fn make_default(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (signed, card) = match own_card(&app, &req, &device_id, &card_id, Some(signed)).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    match app
        .port
        .set_default_card(&signed.viewer, &device_id, &card_id)
        .await
    {
        Ok(()) => redirect("/cards", vec![flash("default", &card.last4, req.secure)]),
        Err(e) => port_failure(&req, &signed, e),
    }
}

async fn remove_card_form(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
) -> Response {
    match own_card(&app, &req, &device_id, &card_id, None).await {
        Ok((signed, card)) => {
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), None);
            let body = pages::remove_card_page(&c, &card);
            page(&c, StatusCode::OK, body, Vec::new())
        }
        Err(resp) => resp,
    }
}

async fn remove_card(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Response {
    let signed = match signed_form(&app, &req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (signed, card) = match own_card(&app, &req, &device_id, &card_id, Some(signed)).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    match app
        .port
        .remove_card(&signed.viewer, &device_id, &card_id)
        .await
    {
        Ok(()) => redirect("/cards", vec![flash("rmcard", &card.last4, req.secure)]),
        Err(e) => port_failure(&req, &signed, e),
    }
}

async fn cards(State(app): State<App>, req: Req) -> Response {
    let signed = match signed_in(&app, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match app.port.devices(&signed.viewer).await {
        Ok(list) => {
            let (notice, cookies) = take_notice(&req, signed.lang, &list);
            let all: Vec<port::CardView> = list.into_iter().flat_map(|d| d.cards).collect();
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), notice);
            let body = pages::cards_page(&c, &all);
            page(&c, StatusCode::OK, body, cookies)
        }
        Err(e) => port_failure(&req, &signed, e),
    }
}

#[derive(Deserialize, Default)]
struct PaymentsQuery {
    #[serde(default)]
    before: Option<String>,
}

async fn payments(
    State(app): State<App>,
    req: Req,
    q: Result<Query<PaymentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed = match signed_in(&app, &req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Ok(Query(q)) = q else {
        return error_page(&req, Some(&signed), StatusCode::BAD_REQUEST);
    };
    let cursor = q.before.as_deref().filter(|c| !c.is_empty());
    match app.port.payments(&signed.viewer, cursor, PAGE_SIZE).await {
        Ok(p) => {
            let c = ctx(&req, Some(&signed), signed.csrf.clone(), None);
            let body = pages::payments_page(&c, &p.items, p.next_cursor.as_deref());
            page(&c, StatusCode::OK, body, Vec::new())
        }
        Err(PortError::Refused(_)) => error_page(&req, Some(&signed), StatusCode::BAD_REQUEST),
        Err(e) => port_failure(&req, &signed, e),
    }
}

/// Server-sent events (WHATWG HTML §9.2): one `payment` event per new
/// payment of the account, its data the rendered history row. The stream
/// ends when the session expires.
async fn payment_events(State(app): State<App>, req: Req) -> Response {
    let Some(token) = session_from(&req.headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let viewer = match app.port.authenticate(&token).await {
        Ok(v) => v,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let feed = match app.port.payment_feed(&viewer).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "payment feed unavailable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let lang = req.lang(Some(&viewer));
    let region = viewer.region.clone();
    let left_ms = (viewer.session_expires_at - unix_millis_now()).max(0);
    let expiry = tokio::time::sleep(Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)));
    let stream = feed
        .map(move |p| {
            let row = pages::payment_row(lang, &region, &p).into_string();
            Ok::<Event, Infallible>(Event::default().event("payment").id(p.id.clone()).data(row))
        })
        .take_until(expiry);
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(h);
    resp
}

const SITE_CSS: &str = include_str!("../assets/site.css");

async fn stylesheet() -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_stay_on_this_site() {
        assert_eq!(safe_next("/payments"), Some("/payments"));
        assert_eq!(safe_next("/devices/abc?x=1"), Some("/devices/abc?x=1"));
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "devices",
            "/a b",
            "/\u{7f}",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ids_are_checked_before_use() {
        assert!(valid_id("0193a5b4-1c2d-7e8f-9a0b-1c2d3e4f5a6b"));
        for bad in ["", "../etc", "a b", "x'--", &"a".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
