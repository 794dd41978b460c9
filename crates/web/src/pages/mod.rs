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

mod bands;
mod bills;
mod cards;
mod devices;
mod locate;
mod map;
mod payments;
mod recharge;
mod signin;
mod transit;
mod upi;

use std::sync::Arc;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use paytap_wallet::Account;

use crate::i18n::{Banks, Lang, Strings};

pub use bands::{band_turn_off_page, bands_page};
pub use bills::{BillsHome, bill_page, biller_page, bills_page, receipt_page};
pub use cards::{art_class, card_art, cards_page, remove_card_page};
pub use devices::{
    DeviceCards, device_page, device_panel, devices_page, kind_label, remove_all_page,
    turn_off_page,
};
pub use locate::{FindView, erase_page, find_section};
pub use map::{MapPoint, map_svg};
pub use payments::{RowCtx, UNKNOWN_DEVICE, payment_row, payments_page, urlencode};
pub use recharge::{PlansView, masked_mobile, plans_page, recharge_page};
pub use signin::login_page;
pub use transit::transit_page;
pub use upi::{UpiView, upi_page};

/// Cache-busting version of the stylesheet URL.
pub const CSS_PATH: &str = concat!("/assets/site.css?v=", env!("CARGO_PKG_VERSION"), "-6");

/// The site's icon (SVG).
pub const FAVICON_PATH: &str = "/assets/favicon.svg";

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
    /// The network's banks: names in each language, currencies.
    pub banks: Arc<Banks>,
}

impl Ctx {
    pub fn s(&self) -> &'static Strings {
        self.lang.strings()
    }

    /// A bank's name in the page's language.
    pub fn bank_name<'a>(&'a self, english_name: &'a str) -> &'a str {
        self.banks.name(self.lang, english_name)
    }

    pub(crate) fn region(&self) -> &str {
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
    /// Bills and recharge (accounts of India).
    Bills,
    /// UPI (accounts of India).
    Upi,
    Bands,
    /// Transit cards.
    Transit,
}

pub(crate) fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// The page frame: head, header with navigation, language switch and
/// sign-out, the notice, the content and the footer.
pub fn layout(ctx: &Ctx, title: &str, nav: Nav, content: Markup, script: Option<&str>) -> Markup {
    let s = ctx.s();
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html_tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                meta name="referrer" content="same-origin";
                title { (title) " · " (s.site_name) }
                link rel="icon" type="image/svg+xml" href=(FAVICON_PATH);
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
                                    @if crate::bills::shown_to(ctx.region()) {
                                        li { a href="/upi" aria-current=[(nav == Nav::Upi).then_some("page")] { (ctx.lang.upi().nav) } }
                                        li { a href="/bills" aria-current=[(nav == Nav::Bills).then_some("page")] { (ctx.lang.bills().nav_bills) } }
                                    }
                                    li { a href="/bands" aria-current=[(nav == Nav::Bands).then_some("page")] { (crate::i18n::band_strings(ctx.lang).nav_bands) } }
                                    @if !crate::bills::shown_to(ctx.region()) {
                                        li { a href="/transit" aria-current=[(nav == Nav::Transit).then_some("page")] { (crate::i18n::transit_strings(ctx.lang).nav) } }
                                    }
                                }
                            }
                        }
                        div class="top-tools" {
                            @for other in ctx.lang.others() {
                                form class="lang-switch" method="post" action="/language" {
                                    (csrf_field(ctx))
                                    input type="hidden" name="next" value=(ctx.path);
                                    input type="hidden" name="lang" value=(other.code());
                                    button class="link-button" type="submit" lang=(other.html_tag())
                                        aria-label=(format!("{}: {}", other.strings().language_label, other.endonym())) {
                                        (globe()) " " (other.endonym())
                                    }
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
