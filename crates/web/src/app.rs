//! The site's state ([`App`]: the wallet service, the CSRF key and the
//! cookie options), what a handler reads from every request ([`Req`], and
//! [`Signed`] once the session checks out), and [`Failure`], the error
//! handlers return: an `IntoResponse` that answers with the localized
//! message page (or the sign-in page), so handlers use `?` on the wallet's
//! calls.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paytap_wallet::client_addr::client_address;
use paytap_wallet::{Account, Principal, TrustedProxies, Wallet, WalletError};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::i18n::{Banks, Lang};
use crate::pages::{self, Ctx};
use crate::respond::{clear_session, page, redirect, with_retry_after};
use crate::session::{self, CsrfKey, LANG_COOKIE, cookie, random_nonce, session_from};

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
    /// The network's banks (names in each language, currencies); none by
    /// default, and then banks are shown by the names the wallet recorded.
    pub banks: Banks,
    /// The band accounts (none by default: no band pages).
    pub bands: crate::bands::Bands,
}

/// The site's state: the wallet service and the site's own keys and options.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) wallet: Wallet,
    pub(crate) csrf: Arc<CsrfKey>,
    pub(crate) secure_cookies: Option<bool>,
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    pub(crate) banks: Arc<Banks>,
    pub(crate) bands: crate::bands::Bands,
}

impl App {
    /// The site's state over `wallet` with `config`'s options.
    pub(crate) fn new(wallet: Wallet, config: WebConfig) -> App {
        App {
            wallet,
            csrf: Arc::new(config.csrf_key.unwrap_or_else(CsrfKey::random)),
            secure_cookies: config.secure_cookies,
            trusted_proxies: Arc::new(config.trusted_proxies),
            banks: Arc::new(config.banks),
            bands: config.bands,
        }
    }

    /// The wallet's clock (Unix milliseconds).
    pub(crate) fn now_millis(&self) -> i64 {
        self.wallet.config().clock.now_millis()
    }

    /// The account a session token belongs to.
    pub(crate) async fn account_of(
        &self,
        token: &str,
    ) -> Result<(Principal, Account), WalletError> {
        let principal = self.wallet.authenticate(token).await?;
        let account = self.wallet.account(&principal).await?;
        Ok((principal, account))
    }
}

/// What every handler reads from the request besides its own input.
pub(crate) struct Req {
    pub(crate) headers: HeaderMap,
    pub(crate) secure: bool,
    pub(crate) client: Option<IpAddr>,
    pub(crate) path: String,
    pub(crate) banks: Arc<Banks>,
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
            banks: app.banks.clone(),
        })
    }
}

impl Req {
    /// Language: the switch's cookie, else the account's, else the browser's.
    pub(crate) fn lang(&self, account: Option<Lang>) -> Lang {
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
    pub(crate) fn ctx(&self, csrf: String, notice: Option<String>) -> Ctx {
        Ctx {
            lang: self.lang(None),
            account: None,
            csrf,
            nonce: random_nonce(),
            path: self.path.clone(),
            notice,
            banks: self.banks.clone(),
        }
    }

    /// A message page for this request, shown without an account.
    pub(crate) fn fail(&self, status: StatusCode) -> Failure {
        Failure::page(self.ctx(String::new(), None), status)
    }
}

/// A signed-in request.
pub(crate) struct Signed {
    pub(crate) principal: Principal,
    pub(crate) account: Account,
    pub(crate) token: Zeroizing<String>,
    pub(crate) lang: Lang,
    pub(crate) csrf: String,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) banks: Arc<Banks>,
}

impl Signed {
    /// The context of a page shown to the account.
    pub(crate) fn ctx(&self, notice: Option<String>) -> Ctx {
        Ctx {
            lang: self.lang,
            account: Some(self.account.clone()),
            csrf: self.csrf.clone(),
            nonce: random_nonce(),
            path: self.path.clone(),
            notice,
            banks: self.banks.clone(),
        }
    }

    /// A message page for this account.
    pub(crate) fn fail(&self, status: StatusCode) -> Failure {
        Failure::page(self.ctx(None), status)
    }

    /// The page for a wallet call that failed on behalf of this account.
    pub(crate) fn refused(&self, e: WalletError) -> Failure {
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
pub(crate) trait ForSigned<T> {
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
pub(crate) enum Failure {
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
pub(crate) struct MessagePage {
    pub(crate) ctx: Ctx,
    pub(crate) status: StatusCode,
    pub(crate) refusal: Option<String>,
    pub(crate) retry_after: Option<u64>,
}

impl Failure {
    pub(crate) fn page(ctx: Ctx, status: StatusCode) -> Failure {
        Failure::Page(Box::new(MessagePage {
            ctx,
            status,
            refusal: None,
            retry_after: None,
        }))
    }

    pub(crate) fn refusal(ctx: Ctx, message: String) -> Failure {
        Failure::Page(Box::new(MessagePage {
            ctx,
            status: StatusCode::CONFLICT,
            refusal: Some(message),
            retry_after: None,
        }))
    }

    /// Adds `Retry-After` (the wallet's throttle or hashing bound said how
    /// long to wait).
    pub(crate) fn retry_after(mut self, secs: Option<u64>) -> Failure {
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

// ----- signed-in requests ---------------------------------------------------------

/// The signed-in account of the request, or the failure to answer instead
/// (the sign-in page).
pub(crate) async fn signed_in(app: &App, req: &Req) -> Result<Signed, Failure> {
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
                banks: req.banks.clone(),
            })
        }
        Err(WalletError::Unauthenticated) => Err(Failure::Expired { secure: req.secure }),
        Err(e) => {
            tracing::warn!(error = %e, "could not check a session");
            Err(req.fail(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

/// Any path the site (and the API beside it) does not serve: the site's
/// 404 page, in the account's header and language when signed in. Unknown
/// API paths stay a bare 404, as before.
pub(crate) async fn not_found(State(app): State<App>, req: Req) -> Response {
    if req.path == "/api" || req.path.starts_with("/api/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match signed_in(&app, &req).await {
        Ok(signed) => signed.fail(StatusCode::NOT_FOUND),
        Err(_) => req.fail(StatusCode::NOT_FOUND),
    }
    .into_response()
}

/// Signed in and the form's CSRF token matches the session.
pub(crate) async fn signed_form(app: &App, req: &Req, csrf: &str) -> Result<Signed, Failure> {
    let signed = signed_in(app, req).await?;
    if !app.csrf.verify_session(&signed.token, csrf) {
        tracing::warn!(account = %signed.principal.account_id, path = %req.path, "form with a bad CSRF token refused");
        return Err(signed.fail(StatusCode::FORBIDDEN));
    }
    Ok(signed)
}

/// Ids the wallet hands out are UUIDs; anything else cannot exist.
pub(crate) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A submitted `application/x-www-form-urlencoded` form; anything else (a
/// wrong content type, a body that does not parse, one over the size
/// limit) answers with the site's 400 page instead of a bare error.
pub(crate) struct Submitted<T>(pub(crate) T);

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

/// A form that carries only its CSRF token.
#[derive(Deserialize, Default)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_use() {
        assert!(valid_id("0193a5b4-1c2d-7e8f-9a0b-1c2d3e4f5a6b"));
        for bad in ["", "../etc", "a b", "x'--", &"a".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
