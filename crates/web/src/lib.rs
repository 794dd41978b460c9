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
//! * the handlers call the wallet's service layer ([`paytap_wallet::Wallet`])
//!   in-process with the wallet's own session, so the site and the JSON API
//!   share accounts, sessions, lockouts and ownership checks; pages are
//!   rendered from the wallet's own model types (none holds a card number);
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
pub mod session;

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
use paytap_wallet::client_addr::client_address;
use paytap_wallet::{Account, Card, Principal, SuspendReason, TrustedProxies, Wallet, WalletError};
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use i18n::Lang;
pub use session::CsrfKey;

use pages::{Ctx, DeviceCards};
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

/// The web site over the wallet service, to merge at `/` beside the
/// wallet's API router.
pub fn router(wallet: Wallet) -> Router {
    let config = WebConfig {
        trusted_proxies: wallet.config().trusted_proxies.clone(),
        ..WebConfig::default()
    };
    router_with(wallet, config)
}

/// The web site over the wallet service, with explicit options.
pub fn router_with(wallet: Wallet, config: WebConfig) -> Router {
    let app = App {
        wallet,
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

// ----- state and request context ---------------------------------------------

/// The site's state: the wallet service and the site's own keys and options.
#[derive(Clone)]
struct App {
    wallet: Wallet,
    csrf: Arc<CsrfKey>,
    secure_cookies: Option<bool>,
    trusted_proxies: Arc<TrustedProxies>,
}

impl App {
    /// The wallet's clock (Unix milliseconds).
    fn now_millis(&self) -> i64 {
        self.wallet.config().clock.now_millis()
    }

    /// The account a session token belongs to.
    async fn account_of(&self, token: &str) -> Result<(Principal, Account), WalletError> {
        let principal = self.wallet.authenticate(token).await?;
        let account = self.wallet.account(&principal).await?;
        Ok((principal, account))
    }

    /// One of the account's devices with its cards.
    async fn device_cards(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<DeviceCards, WalletError> {
        let device = self.wallet.device(p, device_id).await?;
        self.with_cards(p, device).await
    }

    /// The account's devices with their cards, newest first.
    async fn devices_cards(&self, p: &Principal) -> Result<Vec<DeviceCards>, WalletError> {
        let list = self.wallet.devices(p).await?;
        let mut out = Vec::with_capacity(list.len());
        for device in list {
            out.push(self.with_cards(p, device).await?);
        }
        Ok(out)
    }

    async fn with_cards(
        &self,
        p: &Principal,
        device: paytap_wallet::Device,
    ) -> Result<DeviceCards, WalletError> {
        let cards = if device.capabilities.card_tokens {
            self.wallet.cards(p, &device.id).await?
        } else {
            Vec::new()
        };
        Ok(DeviceCards { device, cards })
    }
}

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
    fn lang(&self, account: Option<Lang>) -> Lang {
        cookie(&self.headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .or(account)
            .unwrap_or_else(|| {
                Lang::from_accept_language(
                    self.headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                )
            })
    }

    /// The context of a page shown before (or without) signing in.
    fn ctx(&self, csrf: String, notice: Option<String>) -> Ctx {
        Ctx {
            lang: self.lang(None),
            account: None,
            csrf,
            nonce: random_nonce(),
            path: self.path.clone(),
            notice,
        }
    }

    /// A message page for this request, shown without an account.
    fn fail(&self, status: StatusCode) -> Failure {
        Failure::page(self.ctx(String::new(), None), status)
    }
}

/// A signed-in request.
struct Signed {
    principal: Principal,
    account: Account,
    token: Zeroizing<String>,
    lang: Lang,
    csrf: String,
    path: String,
    secure: bool,
}

impl Signed {
    /// The context of a page shown to the account.
    fn ctx(&self, notice: Option<String>) -> Ctx {
        Ctx {
            lang: self.lang,
            account: Some(self.account.clone()),
            csrf: self.csrf.clone(),
            nonce: random_nonce(),
            path: self.path.clone(),
            notice,
        }
    }

    /// A message page for this account.
    fn fail(&self, status: StatusCode) -> Failure {
        Failure::page(self.ctx(None), status)
    }

    /// The page for a wallet call that failed on behalf of this account.
    fn refused(&self, e: WalletError) -> Failure {
        let status = match &e {
            WalletError::Unauthenticated => {
                return Failure::Expired {
                    secure: self.secure,
                };
            }
            WalletError::NotFound(_) => StatusCode::NOT_FOUND,
            WalletError::Network(n) => {
                tracing::warn!(error = %n, "wallet unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            WalletError::Store(s) => {
                tracing::error!(error = %s, "wallet error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            WalletError::Internal(m) => {
                tracing::error!(error = %m, "wallet error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            WalletError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            WalletError::InvalidCredentials | WalletError::TooManyAttempts { .. } => {
                StatusCode::FORBIDDEN
            }
            other => return Failure::refusal(self.ctx(None), other.public_message()),
        };
        self.fail(status).retry_after(e.retry_after_secs())
    }
}

/// A wallet call's result, its failure answered with the account's page.
trait ForSigned<T> {
    fn for_signed(self, signed: &Signed) -> Result<T, Failure>;
}

impl<T> ForSigned<T> for Result<T, WalletError> {
    fn for_signed(self, signed: &Signed) -> Result<T, Failure> {
        self.map_err(|e| signed.refused(e))
    }
}

// ----- failures ---------------------------------------------------------------

/// Why a request is not answered with its page: an `IntoResponse` error, so
/// handlers return `Result<Response, Failure>` and use `?`. A message page
/// carries the page context it is shown in (the account's header and
/// language, or the browser's before signing in), as every error page is
/// localized.
enum Failure {
    /// No session: to the sign-in page.
    SignIn,
    /// The session is unknown or expired: to the sign-in page saying so,
    /// with the session cookie cleared.
    Expired { secure: bool },
    /// A message page.
    Page(Box<MessagePage>),
}

/// A message page: the standard words for `status`, or the wallet's
/// refusal (409) in its own words.
struct MessagePage {
    ctx: Ctx,
    status: StatusCode,
    refusal: Option<String>,
    retry_after: Option<u64>,
}

impl Failure {
    fn page(ctx: Ctx, status: StatusCode) -> Failure {
        Failure::Page(Box::new(MessagePage {
            ctx,
            status,
            refusal: None,
            retry_after: None,
        }))
    }

    fn refusal(ctx: Ctx, message: String) -> Failure {
        Failure::Page(Box::new(MessagePage {
            ctx,
            status: StatusCode::CONFLICT,
            refusal: Some(message),
            retry_after: None,
        }))
    }

    /// Adds `Retry-After` (the wallet's throttle or hashing bound said how
    /// long to wait).
    fn retry_after(mut self, secs: Option<u64>) -> Failure {
        if let Failure::Page(p) = &mut self {
            p.retry_after = secs;
        }
        self
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::SignIn => redirect("/login", Vec::new()),
            Failure::Expired { secure } => {
                redirect("/login?expired=1", vec![clear_session(secure)])
            }
            Failure::Page(p) => {
                let resp = message_response(&p.ctx, p.status, p.refusal.as_deref());
                with_retry_after(resp, p.retry_after)
            }
        }
    }
}

/// The localized message page of a failure.
fn message_response(c: &Ctx, status: StatusCode, refusal: Option<&str>) -> Response {
    let s = c.s();
    let (title, body) = match (refusal, status) {
        (Some(message), _) => (s.error_title, message),
        (None, StatusCode::NOT_FOUND) => (s.not_found_title, s.not_found_body),
        (None, StatusCode::FORBIDDEN) => (s.forbidden_title, s.forbidden_body),
        (None, StatusCode::BAD_REQUEST) => (s.bad_request_title, s.bad_request_body),
        (None, _) => (s.error_title, s.error_body),
    };
    let body = pages::message_page(c, title, body);
    page(c, status, body, Vec::new())
}

fn with_retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(secs) = secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

// ----- responses ----------------------------------------------------------------

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

fn page(c: &Ctx, status: StatusCode, body: Markup, cookies: Vec<HeaderValue>) -> Response {
    Page {
        status,
        body,
        nonce: c.nonce.clone(),
        cookies,
    }
    .into_response()
}

fn clear_session(secure: bool) -> HeaderValue {
    set_cookie(session_cookie_name(secure), "", 0, secure)
}

// ----- signed-in requests ---------------------------------------------------------

/// The signed-in account of the request, or the failure to answer instead
/// (the sign-in page).
async fn signed_in(app: &App, req: &Req) -> Result<Signed, Failure> {
    let Some(token) = session_from(&req.headers) else {
        return Err(Failure::SignIn);
    };
    match app.account_of(&token).await {
        Ok((principal, account)) => {
            let lang = req.lang(Some(principal.language.into()));
            let csrf = app.csrf.session_token(&token);
            Ok(Signed {
                principal,
                account,
                token,
                lang,
                csrf,
                path: req.path.clone(),
                secure: req.secure,
            })
        }
        Err(WalletError::Unauthenticated) => Err(Failure::Expired { secure: req.secure }),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a session");
            Err(req.fail(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

/// Signed in and the form's CSRF token matches the session.
async fn signed_form(app: &App, req: &Req, csrf: &str) -> Result<Signed, Failure> {
    let signed = signed_in(app, req).await?;
    if !app.csrf.verify_session(&signed.token, csrf) {
        tracing::warn!(account = %signed.principal.account_id, path = %req.path, "form with a bad CSRF token refused");
        return Err(signed.fail(StatusCode::FORBIDDEN));
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
    type Rejection = Failure;

    async fn from_request(req: axum::extract::Request, app: &App) -> Result<Self, Failure> {
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
                Err(info.fail(StatusCode::BAD_REQUEST))
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
    devices: &[DeviceCards],
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
            .find(|d| d.device.id == arg)
            .map(|d| d.device.name.as_str())
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

// ----- sign-in and sign-out ------------------------------------------------------

async fn home(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    signed_in(&app, &req).await?;
    Ok(redirect("/devices", Vec::new()))
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

/// The sign-in page: `status`, the login typed so far, an error above the
/// form, or a notice.
struct LoginPage<'a> {
    status: StatusCode,
    login_value: &'a str,
    error: Option<String>,
    notice: Option<String>,
}

fn render_login(app: &App, req: &Req, p: LoginPage<'_>) -> Response {
    let (nonce, cookies) = login_nonce(req);
    let c = req.ctx(app.csrf.login_token(&nonce), p.notice);
    let body = pages::login_page(&c, p.login_value, p.error.as_deref());
    page(&c, p.status, body, cookies)
}

async fn login_form(State(app): State<App>, req: Req, Query(q): Query<LoginQuery>) -> Response {
    if let Some(token) = session_from(&req.headers)
        && app.account_of(&token).await.is_ok()
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
    let login = LoginPage {
        status: StatusCode::OK,
        login_value: "",
        error: None,
        notice,
    };
    render_login(&app, &req, login)
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
        let login = LoginPage {
            status: StatusCode::FORBIDDEN,
            login_value: &form.login,
            error: Some(s.forbidden_body.to_string()),
            notice: None,
        };
        return render_login(&app, &req, login);
    }
    match app
        .wallet
        .login(&form.login, &form.password, req.client)
        .await
    {
        Ok(session) => signed_in_cookies(
            &app,
            &req,
            &Zeroizing::new(session.token),
            session.expires_at,
        ),
        Err(e) => {
            let (status, message, retry_after) = sign_in_refusal(&e, req.lang(None));
            let login = LoginPage {
                status,
                login_value: &form.login,
                error: Some(message),
                notice: None,
            };
            with_retry_after(render_login(&app, &req, login), retry_after)
        }
    }
}

/// To the devices page with the new session's cookie (and the sign-in
/// form's cookie cleared).
fn signed_in_cookies(app: &App, req: &Req, token: &str, expires_at: i64) -> Response {
    let max_age = (expires_at - app.now_millis()) / 1000;
    let cookies = vec![
        set_cookie(session_cookie_name(req.secure), token, max_age, req.secure),
        set_cookie(LOGIN_COOKIE, "", 0, req.secure),
    ];
    redirect("/devices", cookies)
}

/// What the sign-in page says when the wallet refuses a sign-in: the status,
/// the message, and how long to wait when the throttle or the hashing bound
/// says so.
fn sign_in_refusal(e: &WalletError, lang: Lang) -> (StatusCode, String, Option<u64>) {
    let s = lang.strings();
    match e {
        // A malformed login is a wrong login to the person signing in.
        WalletError::InvalidCredentials | WalletError::Invalid { .. } => {
            (StatusCode::UNAUTHORIZED, s.login_wrong.to_string(), None)
        }
        WalletError::TooManyAttempts { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            i18n::fill(s.login_locked, &wait_text(lang, *retry_after_secs)),
            Some(*retry_after_secs),
        ),
        WalletError::Busy { retry_after_secs } => (
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

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    app.wallet.logout(&signed.token).await.for_signed(&signed)?;
    Ok(redirect(
        "/login?signed_out=1",
        vec![clear_session(req.secure)],
    ))
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

/// Whether the language form comes from a signed-in page (its token then
/// must be the session's) or from the sign-in page (the pre-session's).
async fn language_form_from(app: &App, req: &Req, csrf: &str) -> Result<bool, Failure> {
    if let Some(token) = session_from(&req.headers)
        && app.account_of(&token).await.is_ok()
    {
        if !app.csrf.verify_session(&token, csrf) {
            return Err(req.fail(StatusCode::FORBIDDEN));
        }
        return Ok(true);
    }
    let nonce = cookie(&req.headers, LOGIN_COOKIE).unwrap_or("");
    if !app.csrf.verify_login(nonce, csrf) {
        return Err(req.fail(StatusCode::FORBIDDEN));
    }
    Ok(false)
}

async fn language(
    State(app): State<App>,
    req: Req,
    Submitted(form): Submitted<LanguageForm>,
) -> Result<Response, Failure> {
    let Some(lang) = Lang::parse(&form.lang) else {
        return Err(req.fail(StatusCode::BAD_REQUEST));
    };
    let signed_in_now = language_form_from(&app, &req, &form.csrf).await?;
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
    Ok(redirect(next, cookies))
}

// ----- devices ---------------------------------------------------------------------

async fn devices(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let list = app
        .devices_cards(&signed.principal)
        .await
        .for_signed(&signed)?;
    let (notice, cookies) = take_notice(&req, signed.lang, &list);
    let c = signed.ctx(notice);
    let body = pages::devices_page(&c, &list);
    Ok(page(&c, StatusCode::OK, body, cookies))
}

/// Signed in, and the device is the account's.
async fn own_device(
    app: &App,
    req: &Req,
    device_id: &str,
) -> Result<(Signed, DeviceCards), Failure> {
    let signed = signed_in(app, req).await?;
    if !valid_id(device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let d = app
        .device_cards(&signed.principal, device_id)
        .await
        .for_signed(&signed)?;
    Ok((signed, d))
}

async fn device(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    let (notice, cookies) = take_notice(&req, signed.lang, std::slice::from_ref(&d));
    let c = signed.ctx(notice);
    let body = pages::device_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, cookies))
}

async fn turn_off_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    if d.payments_off() {
        return Ok(redirect(&format!("/devices/{}", d.device.id), Vec::new()));
    }
    let c = signed.ctx(None);
    let body = pages::turn_off_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

#[derive(Deserialize, Default)]
struct TurnOffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Signed in through a form of the session, and the device id can exist.
async fn device_form(app: &App, req: &Req, csrf: &str, device_id: &str) -> Result<Signed, Failure> {
    let signed = signed_form(app, req, csrf).await?;
    if !valid_id(device_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    Ok(signed)
}

async fn turn_off(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<TurnOffForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    let reason = match form.reason.as_str() {
        "" => SuspendReason::Lost,
        r => SuspendReason::parse(r).ok_or_else(|| signed.fail(StatusCode::BAD_REQUEST))?,
    };
    app.wallet
        .suspend_device(&signed.principal, &device_id, reason)
        .await
        .for_signed(&signed)?;
    tracing::info!(account = %signed.principal.account_id, device = %device_id, reason = reason.as_str(), "payments turned off from the web site");
    Ok(redirect(
        "/devices",
        vec![flash("off", &device_id, req.secure)],
    ))
}

async fn turn_on(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    app.wallet
        .resume_device(&signed.principal, &device_id)
        .await
        .for_signed(&signed)?;
    tracing::info!(account = %signed.principal.account_id, device = %device_id, "payments turned back on from the web site");
    Ok(redirect(
        "/devices",
        vec![flash("on", &device_id, req.secure)],
    ))
}

async fn remove_all_form(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
) -> Result<Response, Failure> {
    let (signed, d) = own_device(&app, &req, &device_id).await?;
    if d.cards.is_empty() {
        return Ok(redirect(&format!("/devices/{}", d.device.id), Vec::new()));
    }
    let c = signed.ctx(None);
    let body = pages::remove_all_page(&c, &d);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

async fn remove_all(
    State(app): State<App>,
    req: Req,
    Path(device_id): Path<String>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = device_form(&app, &req, &form.csrf, &device_id).await?;
    let p = &signed.principal;
    let before = app.wallet.device(p, &device_id).await.for_signed(&signed)?;
    let after = app
        .wallet
        .wipe_device(p, &device_id)
        .await
        .for_signed(&signed)?;
    let removed = before.card_count.saturating_sub(after.card_count);
    Ok(redirect(
        "/devices",
        vec![flash("rmall", &removed.to_string(), req.secure)],
    ))
}

// ----- cards -------------------------------------------------------------------------

/// The card is on one of the signed-in account's devices.
async fn own_card(
    app: &App,
    signed: &Signed,
    device_id: &str,
    card_id: &str,
) -> Result<Card, Failure> {
    if !valid_id(device_id) || !valid_id(card_id) {
        return Err(signed.fail(StatusCode::NOT_FOUND));
    }
    let d = app
        .device_cards(&signed.principal, device_id)
        .await
        .for_signed(signed)?;
    d.cards
        .into_iter()
        .find(|c| c.id == card_id)
        .ok_or_else(|| signed.fail(StatusCode::NOT_FOUND))
}

async fn make_default(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    app.wallet
        .set_default_card(&signed.principal, &device_id, &card_id)
        .await
        .for_signed(&signed)?;
    Ok(redirect(
        "/cards",
        vec![flash("default", &card.card_last4, req.secure)],
    ))
}

async fn remove_card_form(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    let c = signed.ctx(None);
    let body = pages::remove_card_page(&c, &card);
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

async fn remove_card(
    State(app): State<App>,
    req: Req,
    Path((device_id, card_id)): Path<(String, String)>,
    Submitted(form): Submitted<CsrfForm>,
) -> Result<Response, Failure> {
    let signed = signed_form(&app, &req, &form.csrf).await?;
    let card = own_card(&app, &signed, &device_id, &card_id).await?;
    app.wallet
        .remove_card(&signed.principal, &device_id, &card_id)
        .await
        .for_signed(&signed)?;
    Ok(redirect(
        "/cards",
        vec![flash("rmcard", &card.card_last4, req.secure)],
    ))
}

async fn cards(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let list = app
        .devices_cards(&signed.principal)
        .await
        .for_signed(&signed)?;
    let (notice, cookies) = take_notice(&req, signed.lang, &list);
    let c = signed.ctx(notice);
    let body = pages::cards_page(&c, &list);
    Ok(page(&c, StatusCode::OK, body, cookies))
}

// ----- payments ------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct PaymentsQuery {
    #[serde(default)]
    before: Option<String>,
}

async fn payments(
    State(app): State<App>,
    req: Req,
    q: Result<Query<PaymentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let signed = signed_in(&app, &req).await?;
    let Ok(Query(q)) = q else {
        return Err(signed.fail(StatusCode::BAD_REQUEST));
    };
    let cursor = q.before.as_deref().filter(|c| !c.is_empty());
    let history = match app
        .wallet
        .transactions(&signed.principal, PAGE_SIZE, cursor)
        .await
    {
        Ok(h) => h,
        // A cursor that is not one of the wallet's.
        Err(WalletError::Invalid { .. }) => return Err(signed.fail(StatusCode::BAD_REQUEST)),
        Err(e) => return Err(signed.refused(e)),
    };
    let c = signed.ctx(None);
    let body = pages::payments_page(&c, &history.items, history.next_cursor.as_deref());
    Ok(page(&c, StatusCode::OK, body, Vec::new()))
}

/// Server-sent events (WHATWG HTML §9.2): one `payment` event per new
/// payment of the account, its data the rendered history row. The stream
/// ends when the session expires.
async fn payment_events(State(app): State<App>, req: Req) -> Response {
    let Some(token) = session_from(&req.headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok((principal, _)) = app.account_of(&token).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let feed = app.wallet.subscribe_payments(&principal);
    let lang = req.lang(Some(principal.language.into()));
    let left_ms = (principal.session_expires_at - app.now_millis()).max(0);
    let expiry = tokio::time::sleep(Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)));
    let region = principal.region;
    let stream = feed
        .into_stream()
        .map(move |t| {
            let row = pages::payment_row(lang, &region, &t).into_string();
            Ok::<Event, Infallible>(Event::default().event("payment").id(t.id.clone()).data(row))
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

// ----- static files ----------------------------------------------------------------------

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
