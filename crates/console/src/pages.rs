//! The console's pages under `/console`, server-rendered, in English and
//! Chinese. The session is the operator's `op_` token in its own cookie
//! (`pt_console`, `__Host-pt_console` over https; `HttpOnly`,
//! `SameSite=Strict`); every form carries a CSRF token derived from it (the
//! sign-in form's from a pre-session cookie), checked before anything else.
//! A page asked without an operator's session goes to the sign-in form and
//! shows nothing; a form posted without one is `401` and changes nothing.
//! Every page works on one region's risk and offers (`?region=in`, the
//! first region without it), names it in its heading and offers the other
//! regions in the navigation; every link and form keeps the region.

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use paytap_types::{Money, Secret};
use paytap_web::Lang;
use paytap_web::session::{LANG_COOKIE, cookie, is_https, random_nonce, set_cookie};
use serde::Deserialize;
use std::sync::Arc;

use crate::api::status_of;
use crate::i18n::{Words, region_name, words};
use crate::operators::SESSION_TTL_MS;
use crate::{Console, ConsoleError, RegionGuard, RegionQuery};

/// The operator's session cookie over plain http (loopback, development).
pub const CONSOLE_COOKIE: &str = "pt_console";
/// The operator's session cookie over https.
pub const CONSOLE_COOKIE_SECURE: &str = "__Host-pt_console";
/// The pre-session cookie the sign-in form's CSRF token is tied to.
pub const CONSOLE_LOGIN_COOKIE: &str = "pt_console_login";
/// How long the sign-in form stays valid, seconds.
const LOGIN_FORM_SECS: i64 = 3_600;
/// A language choice is kept a year, seconds.
const LANG_SECS: i64 = 365 * 86_400;

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/signin", post(sign_in))
        .route("/console/signout", post(sign_out))
        .route("/console/language", get(language))
        .route("/console/offers", get(offers).post(save_offer))
        .route("/console/offers/{id}", get(offer))
        .route("/console/offers/{id}/pause", post(pause))
        .route("/console/offers/{id}/resume", post(resume))
        .route("/console/risk", get(decisions))
        .route("/console/rules", get(rules).post(save_rules))
        .route("/console/rules/{name}/shadow", post(shadow))
}

/// The console speaks English and Chinese: a site language it has no
/// words for (Hindi) is shown in English.
fn console_lang(lang: Lang) -> Lang {
    match lang {
        Lang::Zh => Lang::Zh,
        Lang::En | Lang::Hi => Lang::En,
    }
}

/// The console's other language, for its switch.
fn other_lang(lang: Lang) -> Lang {
    match console_lang(lang) {
        Lang::Zh => Lang::En,
        Lang::En | Lang::Hi => Lang::Zh,
    }
}

/// What every page needs to know about its request.
struct Req {
    lang: Lang,
    secure: bool,
    token: Option<String>,
}

impl Req {
    fn of(headers: &HeaderMap) -> Req {
        let secure = is_https(headers, None);
        let lang = console_lang(
            cookie(headers, LANG_COOKIE)
                .and_then(Lang::parse)
                .unwrap_or_else(|| {
                    headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .map_or(Lang::En, Lang::from_accept_language)
                }),
        );
        let token = cookie(headers, cookie_name(secure))
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Req {
            lang,
            secure,
            token,
        }
    }

    fn w(&self) -> &'static Words {
        words(self.lang)
    }
}

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        CONSOLE_COOKIE_SECURE
    } else {
        CONSOLE_COOKIE
    }
}

/// A signed-in operator's page context: who, and the region the page
/// works on.
struct Op<'c> {
    req: Req,
    login: String,
    csrf: String,
    region: &'c RegionGuard,
    regions: &'c [RegionGuard],
}

impl Op<'_> {
    /// `path` in the page's region.
    fn at(&self, path: &str) -> String {
        format!("{path}?region={}", self.region.code)
    }

    /// The region's name, for headings.
    fn region_name(&self) -> String {
        region_name(self.req.w(), &self.region.code)
    }
}

/// The list page a page belongs to: where the region switch leads.
#[derive(Clone, Copy)]
enum Section {
    Offers,
    Risk,
    Rules,
}

impl Section {
    fn path(self) -> &'static str {
        match self {
            Section::Offers => "/console/offers",
            Section::Risk => "/console/risk",
            Section::Rules => "/console/rules",
        }
    }
}

/// Why a page is not shown: to the sign-in form, or a message page.
enum Refusal {
    SignIn,
    Page(StatusCode, String),
}

impl Refusal {
    fn respond(self, req: &Req) -> Response {
        match self {
            Refusal::SignIn => redirect("/console", vec![]),
            Refusal::Page(status, message) => message_page(req, status, &message),
        }
    }
}

/// The operator of a page request in the region it asked for, or the
/// sign-in form (or, for a region the console does not have, a `404`).
async fn signed_in<'c>(
    c: &'c Console,
    headers: &HeaderMap,
    q: &RegionQuery,
) -> Result<Op<'c>, (Req, Refusal)> {
    let req = Req::of(headers);
    let Some(token) = req.token.clone() else {
        return Err((req, Refusal::SignIn));
    };
    let login = match c.operators.operator(&token, c.now_ms()).await {
        Ok(Some(login)) => login,
        Ok(None) => {
            tracing::warn!("console page asked without an operator's session");
            return Err((req, Refusal::SignIn));
        }
        Err(e) => {
            let (status, m) = status_of(&e);
            return Err((req, Refusal::Page(status, m)));
        }
    };
    let region = match c.region(q) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(operator = %login, error = %e, "console page of an unknown region");
            let m = req.w().no_region.to_owned();
            return Err((req, Refusal::Page(StatusCode::NOT_FOUND, m)));
        }
    };
    Ok(Op {
        csrf: c.csrf.session_token(&token),
        req,
        login,
        region,
        regions: c.regions(),
    })
}

/// The operator of a form post, its CSRF token checked; `401` or `403`
/// otherwise, and nothing changes.
async fn posted<'c>(
    c: &'c Console,
    headers: &HeaderMap,
    q: &RegionQuery,
    csrf: &str,
) -> Result<Op<'c>, Response> {
    let op = match signed_in(c, headers, q).await {
        Ok(op) => op,
        Err((req, Refusal::SignIn)) => {
            let w = req.w();
            return Err(message_page(&req, StatusCode::UNAUTHORIZED, w.sign_in));
        }
        Err((req, r)) => return Err(r.respond(&req)),
    };
    let token = op.req.token.as_deref().unwrap_or("");
    if !c.csrf.verify_session(token, csrf) {
        tracing::warn!(operator = %op.login, "console form with a bad CSRF token refused");
        return Err(message_page(
            &op.req,
            StatusCode::FORBIDDEN,
            op.req.w().forbidden,
        ));
    }
    Ok(op)
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

fn page(status: StatusCode, body: Markup, cookies: Vec<HeaderValue>) -> Response {
    let mut resp = (status, body.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(h);
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

fn redirect(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/console")),
    );
    security_headers(h);
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

/// The frame of every page: title, navigation when signed in (the
/// sections of the page's region, and the region switch leading to the
/// same section of another), language.
fn layout(req: &Req, nav: Option<(&Op, Section)>, heading: &str, body: Markup) -> Markup {
    let w = req.w();
    let region = nav.map(|(op, _)| op.region_name());
    let back = nav.map_or_else(String::new, |(op, _)| format!("&region={}", op.region.code));
    html! {
        (DOCTYPE)
        html lang=(req.lang.html_tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (heading) @if let Some(r) = &region { " · " (r) } " · " (w.title) }
                link rel="stylesheet" href="/assets/site.css";
            }
            body {
                header {
                    strong { (w.title) }
                    @if let Some((op, section)) = nav {
                        nav {
                            a href=(op.at("/console/offers")) { (w.offers) } " · "
                            a href=(op.at("/console/risk")) { (w.risk) } " · "
                            a href=(op.at("/console/rules")) { (w.rules) }
                        }
                        nav aria-label=(w.region) {
                            (w.region) ": "
                            @for (i, r) in op.regions.iter().enumerate() {
                                @if i > 0 { " · " }
                                @if r.code == op.region.code {
                                    strong aria-current="page" { (region_name(w, &r.code)) }
                                } @else {
                                    a href={ (section.path()) "?region=" (r.code) } { (region_name(w, &r.code)) }
                                }
                            }
                        }
                        form method="post" action="/console/signout" {
                            input type="hidden" name="csrf" value=(op.csrf);
                            span { (op.login) " " }
                            button type="submit" { (w.sign_out) }
                        }
                    }
                    a href={ "/console/language?to=" (other_lang(req.lang).code()) (back) } lang=(other_lang(req.lang).html_tag()) { (w.other_language) }
                }
                main {
                    h1 { (heading) @if let Some(r) = &region { " · " (r) } }
                    (body)
                }
            }
        }
    }
}

fn message_page(req: &Req, status: StatusCode, message: &str) -> Response {
    let w = req.w();
    let body = html! { p role="alert" { (message) } p { a href="/console" { (w.title) } } };
    page(status, layout(req, None, w.title, body), vec![])
}

/// The sign-in form, its CSRF token tied to a fresh pre-session cookie.
fn sign_in_page(c: &Console, req: &Req, status: StatusCode, error: Option<&str>) -> Response {
    let w = req.w();
    let nonce = random_nonce();
    let csrf = c.csrf.login_token(&nonce);
    let body = html! {
        @if let Some(e) = error { p role="alert" { (e) } }
        form method="post" action="/console/signin" {
            input type="hidden" name="csrf" value=(csrf);
            label { (w.login) " " input name="login" autocomplete="username" required; }
            label { (w.password) " " input name="password" type="password" autocomplete="current-password" required; }
            button type="submit" { (w.sign_in) }
        }
    };
    let cookie = set_cookie(CONSOLE_LOGIN_COOKIE, &nonce, LOGIN_FORM_SECS, req.secure);
    page(status, layout(req, None, w.sign_in, body), vec![cookie])
}

async fn home(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Response {
    match signed_in(&c, &headers, &q).await {
        Ok(op) => redirect(&op.at("/console/offers"), vec![]),
        Err((req, Refusal::SignIn)) => sign_in_page(&c, &req, StatusCode::OK, None),
        Err((req, r)) => r.respond(&req),
    }
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    login: String,
    password: String,
}

async fn sign_in(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let req = Req::of(&headers);
    let w = req.w();
    let nonce = cookie(&headers, CONSOLE_LOGIN_COOKIE).unwrap_or("");
    if !c.csrf.verify_login(nonce, &form.csrf) {
        tracing::warn!("console sign-in form with a bad CSRF token refused");
        return sign_in_page(&c, &req, StatusCode::FORBIDDEN, Some(w.forbidden));
    }
    let password = Secret::new(form.password);
    match c
        .operators
        .sign_in(&form.login, &password, c.now_ms())
        .await
    {
        Ok(Some(s)) => {
            let cookies = vec![
                set_cookie(
                    cookie_name(req.secure),
                    s.token.expose(),
                    SESSION_TTL_MS / 1000,
                    req.secure,
                ),
                set_cookie(CONSOLE_LOGIN_COOKIE, "", 0, req.secure),
            ];
            redirect("/console/offers", cookies)
        }
        Ok(None) => sign_in_page(&c, &req, StatusCode::UNAUTHORIZED, Some(w.wrong_login)),
        Err(ConsoleError::Busy) => {
            sign_in_page(&c, &req, StatusCode::SERVICE_UNAVAILABLE, Some(w.busy))
        }
        Err(ConsoleError::TooManyAttempts { retry_after_secs }) => {
            let wait = match req.lang {
                Lang::En | Lang::Hi => paytap_wallet::error::wait_text(retry_after_secs),
                Lang::Zh => retry_after_secs.to_string(),
            };
            let message = paytap_web::i18n::fill(w.cooling_down, &wait);
            let mut resp = sign_in_page(&c, &req, StatusCode::TOO_MANY_REQUESTS, Some(&message));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Err(e) => {
            let (status, m) = status_of(&e);
            message_page(&req, status, &m)
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn sign_out(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let op = match posted(&c, &headers, &RegionQuery::default(), &form.csrf).await {
        Ok(op) => op,
        Err(r) => return r,
    };
    if let Some(t) = &op.req.token
        && let Err(e) = c.operators.sign_out(t, c.now_ms()).await
    {
        tracing::error!(error = %e, "console session not ended");
    }
    let clear = set_cookie(cookie_name(op.req.secure), "", 0, op.req.secure);
    redirect("/console", vec![clear])
}

#[derive(Deserialize)]
struct LanguageQuery {
    to: String,
    /// The region of the page the switch was on, to go back to.
    region: Option<String>,
}

async fn language(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<LanguageQuery>,
) -> Response {
    let req = Req::of(&headers);
    let lang = Lang::parse(&q.to).map_or(req.lang, console_lang);
    // Back to a region the console has, never to whatever was asked.
    let back = q
        .region
        .as_deref()
        .and_then(|code| c.regions().iter().find(|r| r.code == code))
        .map_or_else(
            || "/console".to_owned(),
            |r| format!("/console?region={}", r.code),
        );
    redirect(
        &back,
        vec![set_cookie(LANG_COOKIE, lang.code(), LANG_SECS, req.secure)],
    )
}

/// A page for a signed-in operator in the region it asked for, or the
/// refusal.
macro_rules! operator_or_refuse {
    ($c:expr, $headers:expr, $q:expr) => {
        match signed_in(&$c, &$headers, &$q).await {
            Ok(op) => op,
            Err((req, r)) => return r.respond(&req),
        }
    };
}

fn money(minor: i64, code: &str) -> String {
    match paytap_types::Currency::from_code(code) {
        Ok(c) => Money::new(minor, c).to_string(),
        Err(_) => format!("{minor} {code}"),
    }
}

fn utc(at_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| at_ms.to_string())
}

fn pause_form(op: &Op, id: &str, paused: bool) -> Markup {
    let w = op.req.w();
    let (action, label) = if paused {
        ("resume", w.resume)
    } else {
        ("pause", w.pause)
    };
    html! {
        form method="post" action=(op.at(&format!("/console/offers/{id}/{action}"))) {
            input type="hidden" name="csrf" value=(op.csrf);
            button type="submit" { (label) }
        }
    }
}

fn offer_editor(op: &Op, text: &str, error: Option<&str>) -> Markup {
    let w = op.req.w();
    html! {
        @if let Some(e) = error { p role="alert" { (w.refused) ": " (e) } }
        form method="post" action=(op.at("/console/offers")) {
            input type="hidden" name="csrf" value=(op.csrf);
            p { (w.new_offer_hint) }
            textarea name="toml" rows="22" cols="80" spellcheck="false" { (text) }
            button type="submit" { (w.save) }
        }
    }
}

/// A signed-in operator's page of `section`, in the page's region.
fn op_page(op: &Op, status: StatusCode, section: Section, heading: &str, body: Markup) -> Response {
    page(
        status,
        layout(&op.req, Some((op, section)), heading, body),
        vec![],
    )
}

/// A section's page saying the region's service is off.
fn off_page(op: &Op, status: StatusCode, section: Section, heading: &str) -> Response {
    let body = html! { p { (op.req.w().off) } };
    op_page(op, status, section, heading, body)
}

/// A failed call's message page, in the region it was about.
fn failed(op: &Op, e: paytap_guard::GuardError) -> Response {
    let (status, m) = status_of(&ConsoleError::Guard(e));
    message_page(&op.req, status, &m)
}

fn offers_page(op: &Op, status: StatusCode, text: &str, error: Option<&str>) -> Response {
    let w = op.req.w();
    let Some(offers) = op.region.offers() else {
        return off_page(op, status, Section::Offers, w.offers);
    };
    let list = offers.offers_view();
    let body = html! {
        table {
            thead { tr {
                th { (w.offer) } th { (w.funder) } th { (w.benefit) } th { (w.order) }
                th { (w.budget) } th { (w.spent) } th { (w.reserved) } th { (w.left) }
                th { (w.state) } th {}
            } }
            tbody {
                @for o in &list {
                    tr {
                        td { a href=(op.at(&format!("/console/offers/{}", o.id))) { (o.id) } br; small { (o.title) } }
                        td { (o.funder) }
                        td { (o.kind) " " (o.benefit) }
                        td { (o.order) }
                        td { (money(o.total_minor, &o.currency)) }
                        td { (money(o.spent_minor, &o.currency)) }
                        td { (money(o.reserved_minor, &o.currency)) }
                        td { (money(o.left_minor, &o.currency)) }
                        td { @if o.paused { (w.paused) } @else { (w.live) } }
                        td { (pause_form(op, &o.id, o.paused)) }
                    }
                }
            }
        }
        h2 { (w.new_offer) }
        (offer_editor(op, text, error))
    };
    op_page(op, status, Section::Offers, w.offers, body)
}

async fn offers(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Response {
    let op = operator_or_refuse!(c, headers, q);
    offers_page(&op, StatusCode::OK, "", None)
}

async fn offer(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let op = operator_or_refuse!(c, headers, q);
    let w = op.req.w();
    let Some(offers) = op.region.offers() else {
        return off_page(&op, StatusCode::NOT_FOUND, Section::Offers, w.offers);
    };
    let Some(view) = offers.offers_view().into_iter().find(|o| o.id == id) else {
        return message_page(&op.req, StatusCode::NOT_FOUND, w.not_found);
    };
    let list = match offers.redemptions_of_offer(&id).await {
        Ok(l) => l,
        Err(e) => return failed(&op, e),
    };
    let body = html! {
        p { (view.title) }
        p {
            (w.budget) ": " (money(view.total_minor, &view.currency)) " · "
            (w.spent) ": " (money(view.spent_minor, &view.currency)) " · "
            (w.reserved) ": " (money(view.reserved_minor, &view.currency)) " · "
            (w.left) ": " (money(view.left_minor, &view.currency)) " · "
            @if view.paused { (w.paused) } @else { (w.live) }
        }
        (pause_form(&op, &view.id, view.paused))
        h2 { (w.redemptions) }
        @if list.is_empty() { p { (w.none) } } @else {
            table {
                thead { tr { th { (w.payment) } th { (w.account) } th { (w.time) } th { (w.benefit) } th { (w.amount) } th { (w.state) } } }
                tbody { @for r in &list { tr {
                    td { (r.payment_id) } td { (r.account.as_deref().unwrap_or("-")) } td { (utc(r.at_ms)) }
                    td { (r.kind) } td { (r.amount) } td { (r.state) }
                } } }
            }
        }
        h2 { (w.edit) }
        (offer_editor(&op, &view.source, None))
    };
    op_page(&op, StatusCode::OK, Section::Offers, &view.id, body)
}

/// A form that sends one TOML text (an offer, the rules).
#[derive(Deserialize)]
struct TextForm {
    csrf: String,
    toml: String,
}

async fn save_offer(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Form(form): Form<TextForm>,
) -> Response {
    let op = match posted(&c, &headers, &q, &form.csrf).await {
        Ok(op) => op,
        Err(r) => return r,
    };
    let Some(offers) = op.region.offers() else {
        return off_page(
            &op,
            StatusCode::NOT_FOUND,
            Section::Offers,
            op.req.w().offers,
        );
    };
    match offers.put_offer(&form.toml).await {
        Ok(view) => {
            tracing::info!(operator = %op.login, region = %op.region.code, offer = %view.id, "offer written");
            redirect(&op.at(&format!("/console/offers/{}", view.id)), vec![])
        }
        Err(e) => {
            tracing::warn!(operator = %op.login, region = %op.region.code, error = %e, "offer refused");
            let (status, m) = status_of(&ConsoleError::Guard(e));
            offers_page(&op, status, &form.toml, Some(&m))
        }
    }
}

async fn set_paused(
    c: &Console,
    headers: &HeaderMap,
    q: &RegionQuery,
    csrf: &str,
    id: &str,
    paused: bool,
) -> Response {
    let op = match posted(c, headers, q, csrf).await {
        Ok(op) => op,
        Err(r) => return r,
    };
    let Some(offers) = op.region.offers() else {
        return off_page(
            &op,
            StatusCode::NOT_FOUND,
            Section::Offers,
            op.req.w().offers,
        );
    };
    match offers.set_paused(id, paused).await {
        Ok(()) => {
            tracing::info!(operator = %op.login, region = %op.region.code, offer = id, paused, "offer paused or resumed");
            redirect(&op.at("/console/offers"), vec![])
        }
        Err(e) => failed(&op, e),
    }
}

async fn pause(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_paused(&c, &headers, &q, &form.csrf, &id, true).await
}

async fn resume(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    set_paused(&c, &headers, &q, &form.csrf, &id, false).await
}

async fn decisions(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Response {
    let op = operator_or_refuse!(c, headers, q);
    let w = op.req.w();
    let Some(risk) = op.region.risk() else {
        return off_page(&op, StatusCode::OK, Section::Risk, w.risk);
    };
    let list = match risk.recent().await {
        Ok(l) => l,
        Err(e) => return failed(&op, e),
    };
    let body = html! {
        @if list.is_empty() { p { (w.none) } } @else {
            table {
                thead { tr { th { (w.payment) } th { (w.account) } th { (w.time) } th { (w.verdict) } th { (w.fired) } th { (w.outcome) } } }
                tbody { @for d in &list { tr {
                    td { (d.stored.payment_id) }
                    td { (d.account.as_deref().unwrap_or("-")) }
                    td { (utc(d.stored.at_ms)) }
                    td { (verdict_text(&d.stored.decision.verdict)) }
                    td { ul { @for f in &d.stored.decision.fired {
                        li { strong { (f.rule) } " " (f.action.as_str()) @if f.shadow { " (" (w.shadow) ")" } ": " (f.detail) }
                    } } }
                    td { (d.stored.outcome.as_deref().unwrap_or("-")) }
                } } }
            }
        }
    };
    op_page(&op, StatusCode::OK, Section::Risk, w.risk, body)
}

fn verdict_text(v: &paytap_risk::Verdict) -> String {
    use paytap_risk::Verdict;
    match v {
        Verdict::Approve => "approve".into(),
        Verdict::StepUp { reason, .. } => format!("step up ({})", reason.as_str()),
        Verdict::Decline { reason } => format!("decline ({})", reason.as_str()),
    }
}

fn rules_page(op: &Op, status: StatusCode, text: Option<&str>, error: Option<&str>) -> Response {
    let w = op.req.w();
    let Some(risk) = op.region.risk() else {
        return off_page(op, status, Section::Rules, w.rules);
    };
    let view = risk.rules_view();
    let body = html! {
        table {
            thead { tr { th { (w.rules) } th { (w.action) } th { (w.thresholds) } th { (w.shadow) } th {} } }
            tbody { @for r in &view.rules { tr {
                td { (r.name) br; small { (r.kind) } }
                td { (r.action) }
                td { (r.thresholds) }
                td { @if r.shadow { (w.shadow) } @else { "-" } }
                td { form method="post" action=(op.at(&format!("/console/rules/{}/shadow", r.name))) {
                    input type="hidden" name="csrf" value=(op.csrf);
                    input type="hidden" name="shadow" value=(if r.shadow { "0" } else { "1" });
                    button type="submit" { @if r.shadow { (w.shadow_off) } @else { (w.shadow_on) } }
                } }
            } } }
        }
        h2 { (w.rules_text) }
        @if let Some(e) = error { p role="alert" { (w.refused) ": " (e) } }
        form method="post" action=(op.at("/console/rules")) {
            input type="hidden" name="csrf" value=(op.csrf);
            p { (w.rules_hint) }
            textarea name="toml" rows="30" cols="80" spellcheck="false" { (text.unwrap_or(&view.source)) }
            button type="submit" { (w.save) }
        }
    };
    op_page(op, status, Section::Rules, w.rules, body)
}

async fn rules(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
) -> Response {
    let op = operator_or_refuse!(c, headers, q);
    rules_page(&op, StatusCode::OK, None, None)
}

async fn save_rules(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Form(form): Form<TextForm>,
) -> Response {
    let op = match posted(&c, &headers, &q, &form.csrf).await {
        Ok(op) => op,
        Err(r) => return r,
    };
    let Some(risk) = op.region.risk() else {
        return off_page(&op, StatusCode::NOT_FOUND, Section::Rules, op.req.w().rules);
    };
    match risk.replace_rules(&form.toml, c.now_ms()).await {
        Ok(()) => {
            tracing::info!(operator = %op.login, region = %op.region.code, "risk rules replaced");
            redirect(&op.at("/console/rules"), vec![])
        }
        Err(e) => {
            tracing::warn!(operator = %op.login, region = %op.region.code, error = %e, "risk rules refused");
            let (status, m) = status_of(&ConsoleError::Guard(e));
            rules_page(&op, status, Some(&form.toml), Some(&m))
        }
    }
}

#[derive(Deserialize)]
struct ShadowForm {
    csrf: String,
    shadow: String,
}

async fn shadow(
    State(c): State<Arc<Console>>,
    Query(q): Query<RegionQuery>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<ShadowForm>,
) -> Response {
    let op = match posted(&c, &headers, &q, &form.csrf).await {
        Ok(op) => op,
        Err(r) => return r,
    };
    let Some(risk) = op.region.risk() else {
        return off_page(&op, StatusCode::NOT_FOUND, Section::Rules, op.req.w().rules);
    };
    let on = form.shadow == "1";
    match risk.set_shadow(&name, on).await {
        Ok(()) => {
            tracing::info!(operator = %op.login, region = %op.region.code, rule = %name, shadow = on, "rule's shadow mode set");
            redirect(&op.at("/console/rules"), vec![])
        }
        Err(e) => failed(&op, e),
    }
}
