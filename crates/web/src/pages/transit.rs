//! The transit cards page: each card with its balance as the operator
//! knows it, its status, newest trips and top-ups.

use maud::{Markup, html};
use paytap_types::{Currency, Money};
use paytap_wallet::{TransitCard, TransitTopUp, TransitTrip};

use super::{Ctx, Nav, csrf_field, layout};
use crate::i18n::{TransitStrings, fill, show_time, transit_strings};

/// The amount in the card's currency (CNY when the code is unknown, which
/// the operators' configuration never gives).
fn amount(card: &TransitCard, minor: i64) -> String {
    let currency = Currency::from_code(&card.currency).unwrap_or(Currency::CNY);
    Money::new(minor, currency).to_string()
}

/// `YYYYMMDDhhmmss` as `YYYY-MM-DD hh:mm`, or as given when it is not.
fn when(at: &str) -> String {
    let digits = at.len() == 14 && at.bytes().all(|b| b.is_ascii_digit());
    if !digits {
        return at.to_owned();
    }
    format!(
        "{}-{}-{} {}:{}",
        &at[..4],
        &at[4..6],
        &at[6..8],
        &at[8..10],
        &at[10..12]
    )
}

fn status(t: &TransitStrings, card: &TransitCard) -> &'static str {
    match card.status.as_str() {
        "active" => t.active,
        "lost" => t.lost,
        _ => t.blocked,
    }
}

fn trip_kind(t: &TransitStrings, trip: &TransitTrip) -> &'static str {
    match trip.kind.as_str() {
        "fare" => t.fare,
        "entry" => t.entry,
        "exit" => t.exit,
        _ => t.other,
    }
}

fn top_up_state(t: &TransitStrings, top_up: &TransitTopUp) -> &'static str {
    match top_up.state.as_str() {
        "on_card" => t.on_card,
        "refunded" => t.refunded,
        _ => t.paid,
    }
}

fn trips_table(t: &TransitStrings, card: &TransitCard) -> Markup {
    html! {
        h3 { (t.trips) }
        @if card.trips.is_empty() {
            p class="muted" { (t.no_trips) }
        } @else {
            table class="history trips" {
                thead { tr {
                    th scope="col" { (t.col_time) }
                    th scope="col" { (t.col_trip) }
                    th scope="col" { (t.col_gate) }
                    th scope="col" class="num" { (t.col_amount) }
                    th scope="col" class="num" { (t.col_balance) }
                } }
                tbody {
                    @for trip in &card.trips {
                        tr {
                            td { (when(&trip.at)) }
                            td {
                                (trip_kind(t, trip))
                                @if let Some(a) = &trip.accepted_by {
                                    " · " (fill(t.in_other_city, &a.name))
                                }
                            }
                            td { code { (trip.terminal) } }
                            td class="num" { (amount(card, trip.amount)) }
                            td class="num" { (amount(card, trip.balance_after)) }
                        }
                    }
                }
            }
        }
    }
}

fn top_ups_table(t: &TransitStrings, card: &TransitCard) -> Markup {
    html! {
        h3 { (t.top_ups) }
        @if card.top_ups.is_empty() {
            p class="muted" { (t.no_top_ups) }
        } @else {
            table class="history top-ups" {
                thead { tr {
                    th scope="col" { (t.col_time) }
                    th scope="col" class="num" { (t.col_amount) }
                    th scope="col" { (t.col_state) }
                } }
                tbody {
                    @for top_up in &card.top_ups {
                        tr {
                            td { (when(&top_up.at)) }
                            td class="num" { (amount(card, top_up.amount)) }
                            td { (top_up_state(t, top_up)) }
                        }
                    }
                }
            }
        }
    }
}

fn card_panel(ctx: &Ctx, card: &TransitCard, all: &[TransitCard]) -> Markup {
    let t = transit_strings(ctx.lang);
    let title = fill(&fill(t.card, &card.card_name), &card.last_digits);
    html! {
        section class="panel transit-card" id=(format!("transit-{}", card.card_id))
            data-status=(card.status) {
            h2 { (title) }
            p class="muted" { (fill(t.on_device, &card.device_name)) }
            dl class="facts" {
                dt { (t.balance) } dd class="balance" { (amount(card, card.balance)) }
                @if let (Some(minor), Some(at)) = (card.device_balance, card.device_read_at) {
                    @let read = show_time(at, ctx.region(), ctx.lang);
                    dt { (t.device_balance) }
                    dd class="device-balance" {
                        (amount(card, minor)) " "
                        span class="muted small" title=(read.iso) { (fill(t.read_at, &read.text)) }
                    }
                }
                dt { (t.status) } dd class="status" { (status(t, card)) }
            }
            p class="muted small" { (t.balance_note) }
            @if card.moved {
                p class="notice" { (t.moved) }
            } @else if card.status == "lost" {
                p class="notice" { (t.lost_note) }
                (move_section(ctx, card, all))
            }
            (trips_table(t, card))
            (top_ups_table(t, card))
        }
    }
}

/// The cards a lost card's balance may move to: the same operator's,
/// active, on another device.
fn move_targets<'a>(card: &TransitCard, all: &'a [TransitCard]) -> Vec<&'a TransitCard> {
    all.iter()
        .filter(|c| {
            c.operator == card.operator && c.status == "active" && c.device_id != card.device_id
        })
        .collect()
}

/// A lost card's move: ordered (to which card), or the form to order it.
fn move_section(ctx: &Ctx, card: &TransitCard, all: &[TransitCard]) -> Markup {
    let t = transit_strings(ctx.lang);
    let digits = |c: &TransitCard| fill(&fill(t.card, &c.card_name), &c.last_digits);
    if let Some(to) = &card.move_ordered_to {
        let target = all
            .iter()
            .find(|c| &c.card_id == to)
            .map_or_else(|| t.another_card.to_owned(), &digits);
        return html! { p class="move-ordered" { (fill(t.move_ordered, &target)) } };
    }
    let targets = move_targets(card, all);
    if targets.is_empty() {
        return html! { p class="muted" { (t.move_no_target) } };
    }
    html! {
        form class="move-form" method="post" action=(format!("/transit/{}/move", card.card_id)) {
            (csrf_field(ctx))
            label for=(format!("to-{}", card.card_id)) { (t.move_to) }
            select id=(format!("to-{}", card.card_id)) name="to_card_id" {
                @for c in &targets {
                    option value=(c.card_id) { (digits(c)) " · " (fill(t.on_device, &c.device_name)) }
                }
            }
            button class="btn btn-primary" type="submit" { (t.move_button) }
        }
    }
}

/// Every transit card on the signed-in account's devices.
pub fn transit_page(ctx: &Ctx, cards: &[TransitCard]) -> Markup {
    let t = transit_strings(ctx.lang);
    let content = html! {
        div class="page-head" {
            h1 { (t.title) }
            p class="lead" { (t.intro) }
        }
        @if cards.is_empty() {
            p class="panel empty" { (t.empty) }
        }
        @for card in cards {
            (card_panel(ctx, card, cards))
        }
    };
    layout(ctx, t.title, Nav::Transit, content, None)
}
