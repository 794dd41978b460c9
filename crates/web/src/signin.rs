//! Signing in and out, and the language switch. Sign-in goes through the
//! wallet's throttle and password-hashing bound; a refusal re-renders the
//! form with the right status (401, 429, 503), the wait in the reader's
//! language, and `Retry-After` when the wallet gives one.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use paytap_wallet::WalletError;
use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::app::{App, CsrfForm, Failure, ForSigned, Req, Submitted, signed_form, signed_in};
use crate::i18n::{self, Lang};
use crate::notice::flash;
use crate::pages;
use crate::respond::{clear_session, page, redirect, with_retry_after};
use crate::session::{
    self, LANG_COOKIE, LOGIN_COOKIE, cookie, random_nonce, session_cookie_name, session_from,
    set_cookie,
};

pub(crate) async fn home(State(app): State<App>, req: Req) -> Result<Response, Failure> {
    signed_in(&app, &req).await?;
    Ok(redirect("/devices", Vec::new()))
}

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
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

pub(crate) async fn login_form(
    State(app): State<App>,
    req: Req,
    Query(q): Query<LoginQuery>,
) -> Response {
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
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn login_submit(
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
        Ok(session) => signed_in_cookies(&app, &req, session.token.expose(), session.expires_at),
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

/// The wait in a sign-in refusal: English words, or seconds in Chinese
/// and Hindi.
fn wait_text(lang: Lang, secs: u64) -> String {
    match lang {
        Lang::En => paytap_wallet::error::wait_text(secs),
        Lang::Zh | Lang::Hi => secs.to_string(),
    }
}

pub(crate) async fn logout(
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
pub(crate) struct LanguageForm {
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

pub(crate) async fn language(
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
}
