//! The band account pages: each band's limit, balance held, offline
//! spending not yet uploaded, status and its QR payments; the turn-off
//! confirmation.

use maud::{Markup, html};
use paytap_types::{Currency, Money};

use super::{Ctx, Nav, csrf_field, layout};
use crate::bands::{BandPayment, BandSummary};
use crate::i18n::{Lang, band_reason_text, band_strings, fill, show_time};
use paytap_wallet::{BandOutcome, Transaction};

fn cny(minor: i64) -> String {
    Money::new(minor, Currency::CNY).to_string()
}

/// The short name a band is shown by: its id's first eight hex digits.
fn short(band_id: &str) -> &str {
    band_id.get(..8).unwrap_or(band_id)
}

fn result(ctx: &Ctx, p: &BandPayment) -> String {
    let b = band_strings(ctx.lang);
    let mut text = match (p.paid, p.from_reserve) {
        (true, false) => b.paid.to_owned(),
        (true, true) => b.paid_by_reserve.to_owned(),
        (false, _) => b.refused.to_owned(),
    };
    if p.double_spend {
        text = format!("{text} ({})", b.copied_code);
    }
    text
}

fn payments_table(ctx: &Ctx, band: &BandSummary) -> Markup {
    let b = band_strings(ctx.lang);
    html! {
        h3 { (b.payments) }
        @if band.payments.is_empty() {
            p class="muted" { (b.no_payments) }
        } @else {
            table class="history" {
                thead { tr {
                    th scope="col" { (b.col_time) }
                    th scope="col" { (b.col_merchant) }
                    th scope="col" class="num" { (b.col_amount) }
                    th scope="col" { (b.col_result) }
                } }
                tbody {
                    @for p in &band.payments {
                        @let t = show_time(p.made_at_millis, ctx.region(), ctx.lang);
                        tr class=(if p.paid { "ok" } else { "declined" }) {
                            td { time datetime=(t.iso) { (t.text) } }
                            td { (p.merchant) }
                            td class="num" { (cny(p.amount_minor)) }
                            td { (result(ctx, p)) }
                        }
                    }
                }
            }
        }
    }
}

fn band_panel(ctx: &Ctx, band: &BandSummary) -> Markup {
    let b = band_strings(ctx.lang);
    let status = match (band.on, band.status_reason.as_deref()) {
        (true, _) => b.on.to_owned(),
        (false, Some("double_spend")) => format!("{} ({})", b.off, b.reason_double_spend),
        (false, _) => format!("{} ({})", b.off, b.reason_turned_off),
    };
    html! {
        section class="panel band" id=(format!("band-{}", band.band_id)) {
            h2 { (fill(b.band, short(&band.band_id))) }
            dl class="facts" {
                dt { (b.limit) } dd class="limit" { (cny(band.limit_minor)) }
                dt { (b.balance) } dd class="balance" { (cny(band.balance_minor)) }
                dt { (b.not_uploaded) } dd class="not-uploaded" { (cny(band.not_uploaded_minor)) }
                dt { (b.status) } dd class="status" { (status) }
            }
            @if band.on {
                a class="btn btn-danger" href=(format!("/bands/{}/turn-off", band.band_id)) { (b.turn_off) }
            }
            (payments_table(ctx, band))
        }
    }
}

/// Every band account of the signed-in owner.
pub fn bands_page(ctx: &Ctx, bands: &[BandSummary]) -> Markup {
    let b = band_strings(ctx.lang);
    let content = html! {
        h1 { (b.title) }
        p class="muted" { (b.intro) }
        @if bands.is_empty() {
            p { (b.empty) }
        }
        @for band in bands {
            (band_panel(ctx, band))
        }
    };
    layout(ctx, b.title, Nav::Bands, content, None)
}

/// The confirmation before a band is turned off.
pub fn band_turn_off_page(ctx: &Ctx, band: &BandSummary) -> Markup {
    let b = band_strings(ctx.lang);
    let title = fill(b.turn_off_title, short(&band.band_id));
    let content = html! {
        section class="panel confirm" aria-labelledby="confirm-title" {
            h1 id="confirm-title" { (title) }
            p { (b.turn_off_body) }
            form method="post" action=(format!("/bands/{}/turn-off", band.band_id)) id="band-off-form" {
                (csrf_field(ctx))
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-band-off" { (b.turn_off_confirm) }
                    a class="btn btn-quiet" href="/bands" { (b.cancel) }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Bands, content, None)
}

/// The payments page's card cell for a band's offline payment: the
/// channel it was paid by.
pub(crate) fn history_channel(lang: Lang) -> Markup {
    html! { span class="channel channel-band" { (band_strings(lang).history_channel) } }
}

/// The payments page's result cell for a band's offline payment: its
/// outcome, and why when it was refused or a double spend.
pub(crate) fn history_result(lang: Lang, outcome: BandOutcome, p: &Transaction) -> Markup {
    let b = band_strings(lang);
    let text = match outcome {
        BandOutcome::Paid => b.paid,
        BandOutcome::PaidFromReserve => b.paid_by_reserve,
        BandOutcome::Refused => b.refused,
        BandOutcome::DoubleSpend => b.history_double_spend,
    };
    let badge = if p.approved {
        "badge badge-on"
    } else {
        "badge badge-off"
    };
    html! {
        span class=(badge) data-outcome=(outcome.as_str()) { span class="dot" {} (text) }
        @if matches!(outcome, BandOutcome::Refused | BandOutcome::DoubleSpend) {
            span class="reason" { (band_reason_text(lang, &p.reason)) }
        }
    }
}
