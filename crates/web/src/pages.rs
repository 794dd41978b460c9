//! The site's pages, rendered on the server with `maud` (every value is
//! HTML-escaped by the template engine; nothing is concatenated as markup).
//!
//! Accessibility (WCAG 2.2 AA): one `h1` per page, landmarks (`header`,
//! `nav`, `main`, `footer`) and a skip link, every form control has a
//! `label` (or a `legend` for radio groups), notices are `role="status"`,
//! the live payment list announces new rows through an `aria-live` region,
//! card art is an image with a text alternative, and focus is always
//! visible (see `assets/site.css`). The only script is the small inline
//! live-update script of the payments page, allowed by a per-response CSP
//! nonce; without it the page works with its refresh link.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use paytap_wallet::{
    Account, Card, Device, DeviceKind, DeviceStatus, SuspendReason, TokenState, Transaction,
};

use crate::i18n::{Lang, Strings, fill, reason_zh, show_time};

/// Cache-busting version of the stylesheet URL.
pub const CSS_PATH: &str = concat!("/assets/site.css?v=", env!("CARGO_PKG_VERSION"), "-3");

/// A device of the account with its cards that are not removed (none for
/// a device that cannot hold cards).
pub struct DeviceCards {
    pub device: Device,
    pub cards: Vec<Card>,
}

impl DeviceCards {
    /// Whether payments are turned off on the device (lost or stolen).
    pub fn payments_off(&self) -> bool {
        self.device.status == DeviceStatus::Suspended
    }
}

/// What every page needs besides its own content.
pub struct Ctx {
    pub lang: Lang,
    /// The signed-in account (`None` on the sign-in page).
    pub account: Option<Account>,
    /// The CSRF token for this page's forms (the session's, or the sign-in
    /// form's before login).
    pub csrf: String,
    /// The CSP nonce of this response's inline script.
    pub nonce: String,
    /// The path the language switch returns to.
    pub path: String,
    /// A notice to show once (after a redirect).
    pub notice: Option<String>,
}

impl Ctx {
    pub fn s(&self) -> &'static Strings {
        self.lang.strings()
    }

    fn region(&self) -> &str {
        self.account.as_ref().map_or("cn", |a| a.region.as_str())
    }
}

/// Which navigation entry is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Devices,
    Cards,
    Payments,
}

fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// The page frame: head, header with navigation, language switch and
/// sign-out, the notice, the content and the footer.
pub fn layout(ctx: &Ctx, title: &str, nav: Nav, content: Markup, script: Option<&str>) -> Markup {
    let s = ctx.s();
    let other = ctx.lang.other();
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html_tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                meta name="referrer" content="same-origin";
                title { (title) " · " (s.site_name) }
                link rel="stylesheet" href=(CSS_PATH);
            }
            body {
                a class="skip" href="#main" { (s.skip_to_content) }
                header class="top" {
                    div class="top-inner" {
                        a class="brand" href="/" aria-label=(s.site_name) {
                            (logo())
                            span class="brand-name" { (s.site_name) }
                        }
                        @if ctx.account.is_some() {
                            nav class="main-nav" aria-label=(s.nav_label) {
                                ul {
                                    li { a href="/devices" aria-current=[(nav == Nav::Devices).then_some("page")] { (s.nav_devices) } }
                                    li { a href="/cards" aria-current=[(nav == Nav::Cards).then_some("page")] { (s.nav_cards) } }
                                    li { a href="/payments" aria-current=[(nav == Nav::Payments).then_some("page")] { (s.nav_payments) } }
                                }
                            }
                        }
                        div class="top-tools" {
                            form class="lang-switch" method="post" action="/language" {
                                (csrf_field(ctx))
                                input type="hidden" name="next" value=(ctx.path);
                                input type="hidden" name="lang" value=(other.code());
                                button class="link-button" type="submit" lang=(other.html_tag())
                                    aria-label=(format!("{}: {}", other.strings().language_label, other.endonym())) {
                                    (globe()) " " (other.endonym())
                                }
                            }
                            @if let Some(v) = &ctx.account {
                                span class="who" {
                                    span class="sr-only" { (s.signed_in_as) " " }
                                    span class="who-name" { (v.display_name) }
                                }
                                form method="post" action="/logout" {
                                    (csrf_field(ctx))
                                    button class="btn btn-quiet btn-small" type="submit" id="sign-out" { (s.sign_out) }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    @if let Some(n) = &ctx.notice {
                        p class="notice" role="status" id="notice" { (n) }
                    }
                    (content)
                }
                footer class="foot" {
                    p { (s.footer_safety) }
                }
                @if let Some(js) = script {
                    script nonce=(ctx.nonce) { (PreEscaped(js)) }
                }
            }
        }
    }
}

fn logo() -> Markup {
    html! {
        svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false" {
            rect x="1" y="1" width="30" height="30" rx="8" fill="#0b4f8a" {}
            path d="M11 9 a9 9 0 0 1 0 14 M15.5 6.5 a13 13 0 0 1 0 19 M20 4 a17 17 0 0 1 0 24"
                fill="none" stroke="#ffffff" stroke-width="2.4" stroke-linecap="round" {}
        }
    }
}

fn globe() -> Markup {
    html! {
        svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" {
            circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="1.8" {}
            path d="M3 12h18 M12 3c2.6 2.6 3.8 5.6 3.8 9s-1.2 6.4-3.8 9 M12 3c-2.6 2.6-3.8 5.6-3.8 9s1.2 6.4 3.8 9"
                fill="none" stroke="currentColor" stroke-width="1.8" {}
        }
    }
}

fn kind_icon(kind: DeviceKind) -> Markup {
    let path = match kind {
        DeviceKind::Phone => {
            "M8 2.5h8a1.5 1.5 0 0 1 1.5 1.5v16a1.5 1.5 0 0 1-1.5 1.5H8A1.5 1.5 0 0 1 6.5 20V4A1.5 1.5 0 0 1 8 2.5z M10.5 18.5h3"
        }
        DeviceKind::Watch => {
            "M9 2.5h6l.8 4 M9 21.5h6l.8-4 M9 2.5l-.8 4 M9 21.5l-.8-4 M7.5 6.5h9a1.5 1.5 0 0 1 1.5 1.5v8a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 6 16V8a1.5 1.5 0 0 1 1.5-1.5z"
        }
        DeviceKind::Band => {
            "M9.5 2.5h5v5 M9.5 21.5h5v-5 M9.5 2.5v5 M9.5 21.5v-5 M8.5 7.5h7a1.5 1.5 0 0 1 1.5 1.5v6a1.5 1.5 0 0 1-1.5 1.5h-7A1.5 1.5 0 0 1 7 15V9a1.5 1.5 0 0 1 1.5-1.5z"
        }
    };
    html! {
        svg class="kind-icon" viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false" {
            path d=(path) fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round" {}
        }
    }
}

fn contactless() -> Markup {
    html! {
        svg class="ca-contactless" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" {
            path d="M7 8.5a5 5 0 0 1 0 7 M10.5 6a8.5 8.5 0 0 1 0 12 M14 3.5a12 12 0 0 1 0 17"
                fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" {}
        }
    }
}

pub fn kind_label(s: &Strings, kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Phone => s.kind_phone,
        DeviceKind::Watch => s.kind_watch,
        DeviceKind::Band => s.kind_band,
    }
}

/// One of eight card-art palettes, picked from the bank's name so a bank's
/// cards always look alike (FNV-1a; no brand colours are implied).
pub fn art_class(bank_name: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in bank_name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("card-art art-{}", h % 8)
}

/// A card as a picture of a card: bank name, chip, contactless mark and the
/// last four digits. Never more digits than four.
pub fn card_art(ctx: &Ctx, card: &Card, small: bool) -> Markup {
    let s = ctx.s();
    let label = format!(
        "{}, {}",
        card.bank_name,
        fill(s.card_ending, &card.card_last4)
    );
    let class = if small {
        format!("{} small", art_class(&card.bank_name))
    } else {
        art_class(&card.bank_name)
    };
    html! {
        div class=(class) role="img" aria-label=(label) data-last4=(card.card_last4) {
            span class="ca-bank" { (card.bank_name) }
            span class="ca-chip" {}
            (contactless())
            span class="ca-number" { "•••• " (card.card_last4) }
            @if card.is_default {
                span class="ca-flag" { (s.default_card) }
            }
            @if card.token_state == TokenState::Suspended {
                span class="ca-flag ca-paused" { (s.card_suspended) }
            }
        }
    }
}

fn status_badge(s: &Strings, d: &Device) -> Markup {
    html! {
        @match (d.status, d.suspend_reason) {
            (DeviceStatus::Active, _) => span class="badge badge-on" { span class="dot" {} (s.status_on) },
            (DeviceStatus::Suspended, Some(SuspendReason::Stolen)) => span class="badge badge-off" { span class="dot" {} (s.status_off_stolen) },
            (DeviceStatus::Suspended, _) => span class="badge badge-off" { span class="dot" {} (s.status_off_lost) },
        }
    }
}

fn last_seen(ctx: &Ctx, d: &Device) -> Markup {
    let s = ctx.s();
    html! {
        div class="meta" {
            span class="meta-label" { (s.last_seen) }
            " "
            @match d.last_seen_at {
                None => span { (s.never_seen) },
                Some(at) => {
                    @let t = show_time(at, ctx.region(), ctx.lang);
                    time datetime=(t.iso) { (t.text) }
                    @if let Some(place) = d.location.as_ref().and_then(|l| l.place.as_ref()) {
                        ", " span class="place" { (fill(s.near_place, place)) }
                    } @else if let Some(l) = &d.location {
                        ", " span class="place" { (format!("{:.4}, {:.4}", l.lat, l.lon)) }
                    }
                }
            }
        }
    }
}

/// One device: what it is, where it was last seen, its cards and the
/// lost-device controls.
pub fn device_panel(ctx: &Ctx, dc: &DeviceCards, heading_level_1: bool) -> Markup {
    let s = ctx.s();
    let d = &dc.device;
    let off = dc.payments_off();
    let title_id = format!("device-title-{}", d.id);
    html! {
        section class="panel device" id=(format!("device-{}", d.id)) aria-labelledby=(title_id)
            data-device-id=(d.id) data-payments=(if off { "off" } else { "on" }) {
            div class="device-head" {
                div class="device-id" {
                    (kind_icon(d.kind))
                    div {
                        @if heading_level_1 {
                            h1 id=(title_id) class="device-name" { (d.name) }
                        } @else {
                            h2 id=(title_id) class="device-name" {
                                a href=(format!("/devices/{}", d.id)) { (d.name) }
                            }
                        }
                        p class="device-model" { (kind_label(s, d.kind)) " · " (d.model) }
                    }
                }
                (status_badge(s, d))
            }
            (last_seen(ctx, d))
            @if off {
                p class="alert alert-off" { (s.status_off_explained) }
            }
            h3 class="sub" { (s.cards_on_device) }
            @if !d.capabilities.card_tokens {
                p class="muted" { (s.band_no_cards) }
            } @else if dc.cards.is_empty() {
                p class="muted" { (s.no_cards_on_device) }
            } @else {
                ul class="card-row" {
                    @for c in &dc.cards {
                        li { (card_art(ctx, c, true)) }
                    }
                }
            }
            div class="actions" {
                @if !off {
                    a class="btn btn-danger" href=(format!("/devices/{}/turn-off", d.id)) data-action="turn-off" { (s.turn_off) }
                } @else {
                    form method="post" action=(format!("/devices/{}/turn-on", d.id)) {
                        (csrf_field(ctx))
                        button class="btn btn-primary" type="submit" data-action="turn-on" { (s.turn_on) }
                    }
                }
                @if !dc.cards.is_empty() {
                    a class="btn btn-secondary" href=(format!("/devices/{}/remove-cards", d.id)) data-action="remove-cards" { (s.remove_all_cards) }
                }
            }
        }
    }
}

pub fn devices_page(ctx: &Ctx, devices: &[DeviceCards]) -> Markup {
    let s = ctx.s();
    let content = html! {
        div class="page-head" {
            h1 { (s.devices_title) }
            p class="lead" { (s.devices_intro) }
        }
        @if devices.is_empty() {
            p class="panel empty" { (s.devices_none) }
        }
        div class="device-list" {
            @for d in devices {
                (device_panel(ctx, d, false))
            }
        }
    };
    layout(ctx, s.devices_title, Nav::Devices, content, None)
}

pub fn device_page(ctx: &Ctx, d: &DeviceCards) -> Markup {
    let s = ctx.s();
    let content = html! {
        p class="crumb" { a href="/devices" { "← " (s.devices_title) } }
        (device_panel(ctx, d, true))
    };
    layout(ctx, &d.device.name, Nav::Devices, content, None)
}

pub fn turn_off_page(ctx: &Ctx, dc: &DeviceCards) -> Markup {
    let s = ctx.s();
    let d = &dc.device;
    let title = fill(s.turn_off_title, &d.name);
    let content = html! {
        section class="panel confirm" aria-labelledby="confirm-title" {
            h1 id="confirm-title" { (title) }
            p { (s.turn_off_body) }
            p class="muted" { (s.turn_off_other_devices) }
            @if !dc.cards.is_empty() {
                ul class="card-row" {
                    @for c in &dc.cards { li { (card_art(ctx, c, true)) } }
                }
            }
            form method="post" action=(format!("/devices/{}/turn-off", d.id)) id="turn-off-form" {
                (csrf_field(ctx))
                fieldset {
                    legend { (s.reason_legend) }
                    div class="choice" {
                        input type="radio" id="reason-lost" name="reason" value="lost" checked;
                        label for="reason-lost" { (s.reason_lost) }
                    }
                    div class="choice" {
                        input type="radio" id="reason-stolen" name="reason" value="stolen";
                        label for="reason-stolen" { (s.reason_stolen) }
                    }
                }
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-turn-off" { (s.turn_off_confirm) }
                    a class="btn btn-quiet" href="/devices" { (s.cancel) }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Devices, content, None)
}

pub fn remove_all_page(ctx: &Ctx, dc: &DeviceCards) -> Markup {
    let s = ctx.s();
    let d = &dc.device;
    let title = fill(s.remove_all_title, &d.name);
    let content = html! {
        section class="panel confirm" aria-labelledby="confirm-title" {
            h1 id="confirm-title" { (title) }
            p { (s.remove_all_body) }
            ul class="card-row" {
                @for c in &dc.cards { li { (card_art(ctx, c, true)) } }
            }
            form method="post" action=(format!("/devices/{}/remove-cards", d.id)) {
                (csrf_field(ctx))
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-remove-cards" { (s.remove_all_confirm) }
                    a class="btn btn-quiet" href="/devices" { (s.cancel) }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Devices, content, None)
}

/// Every card of the account, device by device.
pub fn cards_page(ctx: &Ctx, devices: &[DeviceCards]) -> Markup {
    let s = ctx.s();
    let cards: Vec<(&Card, &str)> = devices
        .iter()
        .flat_map(|d| d.cards.iter().map(|c| (c, d.device.name.as_str())))
        .collect();
    let content = html! {
        div class="page-head" {
            h1 { (s.cards_title) }
            p class="lead" { (s.cards_intro) }
        }
        @if cards.is_empty() {
            p class="panel empty" { (s.cards_none) }
        } @else {
            ul class="card-grid" {
                @for (c, device_name) in &cards {
                    li class="panel card-item" id=(format!("card-{}", c.id)) data-card-id=(c.id) {
                        (card_art(ctx, c, false))
                        p class="card-caption" {
                            span class="card-caption-main" { (fill(s.card_ending, &c.card_last4)) }
                            span class="muted" { (fill(s.on_device, device_name)) }
                        }
                        div class="actions" {
                            @if !c.is_default {
                                form method="post" action=(format!("/devices/{}/cards/{}/default", c.device_id, c.id)) {
                                    (csrf_field(ctx))
                                    button class="btn btn-secondary btn-small" type="submit"
                                        aria-label=(format!("{}: {}", s.make_default, fill(s.card_ending, &c.card_last4))) { (s.make_default) }
                                }
                            }
                            a class="btn btn-quiet btn-small" href=(format!("/devices/{}/cards/{}/remove", c.device_id, c.id))
                                aria-label=(format!("{}: {}", s.remove, fill(s.card_ending, &c.card_last4))) { (s.remove) }
                        }
                    }
                }
            }
        }
    };
    layout(ctx, s.cards_title, Nav::Cards, content, None)
}

pub fn remove_card_page(ctx: &Ctx, c: &Card) -> Markup {
    let s = ctx.s();
    let title = fill(s.remove_card_title, &c.card_last4);
    let content = html! {
        section class="panel confirm" aria-labelledby="confirm-title" {
            h1 id="confirm-title" { (title) }
            (card_art(ctx, c, false))
            p { (s.remove_card_body) }
            form method="post" action=(format!("/devices/{}/cards/{}/remove", c.device_id, c.id)) {
                (csrf_field(ctx))
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-remove-card" { (s.remove_card_confirm) }
                    a class="btn btn-quiet" href="/cards" { (s.cancel) }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Cards, content, None)
}

/// The currency's symbol for the amount column (the ISO 4217 code is shown
/// beside it).
fn currency_symbol(code: &str) -> &'static str {
    match code {
        "CNY" | "JPY" => "¥",
        "INR" => "₹",
        "USD" => "$",
        "EUR" => "€",
        "HKD" => "HK$",
        "SGD" => "S$",
        "IDR" => "Rp",
        _ => "",
    }
}

/// The reason as the page shows it: the network's words, or the Chinese
/// text of the response code.
fn shown_reason(lang: Lang, p: &Transaction) -> String {
    match lang {
        Lang::Zh => {
            reason_zh(&p.response_code, &p.reason).map_or_else(|| p.reason.clone(), str::to_string)
        }
        Lang::En => sentence_case(&p.reason),
    }
}

/// The first letter in upper case (`"card suspended"` -> `"Card suspended"`).
fn sentence_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One history row (also what the live feed sends).
pub fn payment_row(lang: Lang, region: &str, p: &Transaction) -> Markup {
    let s = lang.strings();
    let t = show_time(p.at, region, lang);
    let code = p.amount.currency.code();
    let result = if p.approved { s.approved } else { s.declined };
    let announce = format!(
        "{}, {}{} {}, {}",
        fill(s.new_payment, &p.merchant_name),
        currency_symbol(code),
        p.amount.decimal(),
        code,
        result
    );
    html! {
        tr id=(format!("pay-{}", p.id)) data-result=(if p.approved { "approved" } else { "declined" }) data-announce=(announce) {
            td data-label=(s.col_date) { span class="v" { time datetime=(t.iso) { (t.text) } } }
            td data-label=(s.col_merchant) class="merchant" { span class="v" { (p.merchant_name) } }
            td data-label=(s.col_card) {
                span class="v" {
                    span class="bank" { (p.bank_name) } " "
                    span class="last4" aria-label=(fill(s.card_ending, &p.card_last4)) { "•••• " (p.card_last4) }
                }
            }
            td data-label=(s.col_amount) class="num" {
                span class="v" {
                    span class="amt" { (currency_symbol(code)) (p.amount.decimal()) } " "
                    span class="cur" { (code) }
                }
            }
            td data-label=(s.col_result) {
                span class="v" {
                    @if p.approved {
                        span class="badge badge-on" { span class="dot" {} (s.approved) }
                    } @else {
                        span class="badge badge-off" { span class="dot" {} (s.declined) }
                        span class="reason" { (shown_reason(lang, p)) }
                    }
                }
            }
        }
    }
}

/// The live-update script: opens an EventSource on the payments feed and
/// puts each new row (server-rendered, escaped HTML) at the top of the list.
const LIVE_SCRIPT: &str = r#"(function(){
var body=document.getElementById('payments-body');
if(!body||!window.EventSource){return;}
var live=document.getElementById('payments-live');
var es=new EventSource('/payments/events');
es.onopen=function(){document.body.setAttribute('data-live','open');};
es.onerror=function(){document.body.setAttribute('data-live','retrying');};
es.addEventListener('payment',function(e){
var tpl=document.createElement('template');tpl.innerHTML=String(e.data).trim();
var row=tpl.content.firstElementChild;
if(!row||row.tagName!=='TR'||document.getElementById(row.id)){return;}
row.classList.add('arrived');body.insertBefore(row,body.firstChild);
var empty=document.getElementById('payments-empty');if(empty){empty.hidden=true;}
var table=document.getElementById('payments-table');if(table){table.hidden=false;}
if(live){live.textContent=row.getAttribute('data-announce')||'';}
});
})();"#;

pub fn payments_page(ctx: &Ctx, items: &[Transaction], next_cursor: Option<&str>) -> Markup {
    let s = ctx.s();
    let region = ctx.region().to_string();
    let content = html! {
        div class="page-head" {
            h1 { (s.payments_title) }
            p class="lead" { (s.payments_intro) }
            p class="live-hint" {
                span class="pulse" aria-hidden="true" {}
                (s.payments_live) " "
                a href="/payments" id="refresh" { (s.payments_refresh) }
            }
        }
        div class="sr-only" aria-live="polite" id="payments-live" {}
        p class="panel empty" id="payments-empty" hidden[!items.is_empty()] { (s.payments_none) }
        div class="panel table-wrap" {
            table class="payments" id="payments-table" hidden[items.is_empty()] {
                caption class="sr-only" { (s.payments_title) }
                thead {
                    tr {
                        th scope="col" { (s.col_date) }
                        th scope="col" { (s.col_merchant) }
                        th scope="col" { (s.col_card) }
                        th scope="col" class="num" { (s.col_amount) }
                        th scope="col" { (s.col_result) }
                    }
                }
                tbody id="payments-body" {
                    @for p in items { (payment_row(ctx.lang, &region, p)) }
                }
            }
        }
        @if let Some(c) = next_cursor {
            p class="more" { a class="btn btn-secondary" href=(format!("/payments?before={}", urlencode(c))) { (s.payments_older) } }
        }
    };
    layout(
        ctx,
        s.payments_title,
        Nav::Payments,
        content,
        Some(LIVE_SCRIPT),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sign-in page; `error` is a message to show above the form.
pub fn login_page(ctx: &Ctx, login_value: &str, error: Option<&str>) -> Markup {
    let s = ctx.s();
    let content = html! {
        section class="panel login" aria-labelledby="login-title" {
            h1 id="login-title" { (s.login_title) }
            p class="lead" { (s.login_intro) }
            @if let Some(e) = error {
                p class="alert alert-off" role="alert" id="login-error" { (e) }
            }
            form method="post" action="/login" id="login-form" {
                (csrf_field(ctx))
                div class="field" {
                    label for="login" { (s.login_field) }
                    input type="text" id="login" name="login" value=(login_value) autocomplete="username"
                        inputmode="email" autocapitalize="none" spellcheck="false" required maxlength="254"
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=(if error.is_some() { "login-error login-hint" } else { "login-hint" });
                    p class="hint" id="login-hint" { (s.login_hint) }
                }
                div class="field" {
                    label for="password" { (s.password_field) }
                    input type="password" id="password" name="password" autocomplete="current-password" required maxlength="128"
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[error.map(|_| "login-error")];
                }
                button class="btn btn-primary btn-block" type="submit" id="sign-in" { (s.sign_in) }
            }
        }
    };
    layout(ctx, s.login_title, Nav::None, content, None)
}

/// An error page (404, 403, 400, 500).
pub fn message_page(ctx: &Ctx, title: &str, body: &str) -> Markup {
    let s = ctx.s();
    let content = html! {
        section class="panel message" aria-labelledby="message-title" {
            h1 id="message-title" { (title) }
            p { (body) }
            p { a class="btn btn-secondary" href="/devices" { (s.back_to_devices) } }
        }
    };
    layout(ctx, title, Nav::None, content, None)
}
