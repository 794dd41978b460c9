//! The card pages: card art (bank name and last four digits, never more),
//! the card list and the confirmation to remove a card.

use maud::{Markup, html};
use paytap_wallet::{Card, TokenState};

use super::{Ctx, DeviceCards, Nav, csrf_field, layout};
use crate::i18n::fill;

fn contactless() -> Markup {
    html! {
        svg class="ca-contactless" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false" {
            path d="M7 8.5a5 5 0 0 1 0 7 M10.5 6a8.5 8.5 0 0 1 0 12 M14 3.5a12 12 0 0 1 0 17"
                fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" {}
        }
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
    let paused = card.token_state == TokenState::Suspended;
    let bank = ctx.bank_name(&card.bank_name);
    // One badge fits beside the digits: a paused card says so even when it
    // is the default one; the label names both.
    let ending = fill(s.card_ending, &card.card_last4);
    let mut parts = vec![bank, ending.as_str()];
    if card.is_default {
        parts.push(s.default_card);
    }
    if paused {
        parts.push(s.card_suspended);
    }
    let label = parts.join(s.list_sep);
    let class = if small {
        format!("{} small", art_class(&card.bank_name))
    } else {
        art_class(&card.bank_name)
    };
    html! {
        div class=(class) role="img" aria-label=(label) data-last4=(card.card_last4) {
            span class="ca-bank" { (bank) }
            span class="ca-chip" {}
            (contactless())
            span class="ca-number" { "•••• " (card.card_last4) }
            @if paused {
                span class="ca-flag ca-paused" { (s.card_suspended) }
            } @else if card.is_default {
                span class="ca-flag" { (s.default_card) }
            }
        }
    }
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
