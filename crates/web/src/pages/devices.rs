//! The device pages: the list, one device's panel (kind, last seen time
//! and place, cards, the lost-device controls) and the confirmation steps.

use maud::{Markup, html};
use paytap_wallet::{Card, Device, DeviceKind, DeviceStatus, SuspendReason};

use super::{Ctx, Nav, card_art, csrf_field, layout};
use crate::i18n::{Strings, fill, show_time};

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

pub fn kind_label(s: &Strings, kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Phone => s.kind_phone,
        DeviceKind::Watch => s.kind_watch,
        DeviceKind::Band => s.kind_band,
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
                        (s.list_sep) span class="place" { (fill(s.near_place, place)) }
                    } @else if let Some(l) = &d.location {
                        (s.list_sep) span class="place" { (format!("{:.4}, {:.4}", l.lat, l.lon)) }
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

pub fn device_page(ctx: &Ctx, d: &DeviceCards, find: &super::FindView) -> Markup {
    let s = ctx.s();
    let content = html! {
        p class="crumb" { a href="/devices" { "← " (s.devices_title) } }
        (device_panel(ctx, d, true))
        (super::find_section(ctx, d, find))
    };
    layout(ctx, &d.device.name, Nav::Devices, content, None)
}

/// The cards a confirmation step is about, under its form, so that on a
/// phone the confirmation is reached before the list.
fn cards_below(ctx: &Ctx, dc: &DeviceCards) -> Markup {
    html! {
        @if !dc.cards.is_empty() {
            h2 class="sub" id="confirm-cards" { (ctx.s().cards_on_device) }
            ul class="card-row" aria-labelledby="confirm-cards" {
                @for c in &dc.cards { li { (card_art(ctx, c, true)) } }
            }
        }
    }
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
            (cards_below(ctx, dc))
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
            form method="post" action=(format!("/devices/{}/remove-cards", d.id)) {
                (csrf_field(ctx))
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-remove-cards" { (s.remove_all_confirm) }
                    a class="btn btn-quiet" href="/devices" { (s.cancel) }
                }
            }
            (cards_below(ctx, dc))
        }
    };
    layout(ctx, &title, Nav::Devices, content, None)
}
