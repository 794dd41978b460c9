//! "Find my device" on the device page: the map, the last place with its
//! accuracy, the short history, the buttons (locate now, play a sound,
//! erase after a confirmation step) and each command with its state.

use maud::{Markup, html};
use paytap_wallet::{CommandKind, CommandState, ContactKind, DeviceCommand, Location, Place};

use super::map::{MapPoint, map_svg};
use super::{Ctx, DeviceCards, Nav, csrf_field, layout};
use crate::i18n::{FindStrings, fill, show_time};

/// What the device page shows of "find my device".
pub struct FindView {
    /// Newest first.
    pub places: Vec<Place>,
    /// Newest first.
    pub commands: Vec<DeviceCommand>,
}

fn point(l: &Location) -> MapPoint {
    MapPoint {
        lat: l.lat,
        lon: l.lon,
        accuracy_m: l.accuracy_m,
    }
}

/// "People's Square (31.23040, 121.47370)", or the coordinates alone.
fn place_text(l: &Location) -> String {
    let coords = format!("{:.5}, {:.5}", l.lat, l.lon);
    match &l.place {
        Some(p) => format!("{p} ({coords})"),
        None => coords,
    }
}

fn metres(m: f64) -> String {
    format!("{}", m.round() as i64)
}

fn source_label(f: &FindStrings, s: ContactKind) -> &'static str {
    match s {
        ContactKind::Heartbeat => f.source_heartbeat,
        ContactKind::Sync => f.source_sync,
        ContactKind::Payment => f.source_payment,
        ContactKind::Command => f.source_command,
    }
}

fn kind_label(f: &FindStrings, k: CommandKind) -> &'static str {
    match k {
        CommandKind::Locate => f.locate_now,
        CommandKind::Sound => f.play_sound,
        CommandKind::Erase => f.erase,
        CommandKind::VerifyPayment => f.verify_payment,
    }
}

fn state_label(f: &FindStrings, s: CommandState) -> &'static str {
    match s {
        CommandState::Queued => f.state_queued,
        CommandState::Delivered => f.state_delivered,
        CommandState::Acknowledged => f.state_acknowledged,
        CommandState::Failed => f.state_failed,
    }
}

fn when(ctx: &Ctx, at: i64) -> Markup {
    let t = show_time(at, ctx.region(), ctx.lang);
    html! { time datetime=(t.iso) { (t.text) } }
}

fn map(ctx: &Ctx, dc: &DeviceCards, find: &FindView) -> Markup {
    let f = ctx.lang.find();
    let Some(last) = &dc.device.location else {
        return html! { p class="muted" id="no-place" { (f.no_place) } };
    };
    // The history's older places, oldest first; the last place is drawn apart.
    let trail: Vec<MapPoint> = find
        .places
        .iter()
        .rev()
        .map(|p| point(&p.location))
        .filter(|p| *p != point(last))
        .collect();
    let title = fill(f.map_title, &dc.device.name);
    html! {
        figure class="map-figure" {
            @if let Some(svg) = map_svg(&trail, &point(last), &title) { (svg) }
            figcaption id="last-place" {
                strong { (place_text(last)) }
                " · " (fill(f.within, &metres(last.accuracy_m)))
                " · " (f.located) " " (when(ctx, last.at))
            }
        }
    }
}

fn history(ctx: &Ctx, find: &FindView) -> Markup {
    let f = ctx.lang.find();
    html! {
        @if !find.places.is_empty() {
            h3 class="sub" { (f.history) }
            ol class="places" id="places" {
                @for p in &find.places {
                    li data-source=(p.source.as_str()) {
                        (when(ctx, p.location.at)) " · " (place_text(&p.location))
                        " · " (fill(f.within, &metres(p.location.accuracy_m)))
                        " · " span class="muted" { (source_label(f, p.source)) }
                    }
                }
            }
        }
    }
}

fn buttons(ctx: &Ctx, dc: &DeviceCards) -> Markup {
    let f = ctx.lang.find();
    let id = &dc.device.id;
    html! {
        div class="actions" {
            form method="post" action=(format!("/devices/{id}/locate")) {
                (csrf_field(ctx))
                button class="btn btn-primary" type="submit" data-action="locate" { (f.locate_now) }
            }
            form method="post" action=(format!("/devices/{id}/sound")) {
                (csrf_field(ctx))
                button class="btn btn-secondary" type="submit" data-action="sound" { (f.play_sound) }
            }
            a class="btn btn-danger" href=(format!("/devices/{id}/erase")) data-action="erase" { (f.erase) }
        }
        p class="muted" { (f.actions_note) }
    }
}

fn commands(ctx: &Ctx, find: &FindView) -> Markup {
    let f = ctx.lang.find();
    html! {
        h3 class="sub" { (f.commands) }
        @if find.commands.is_empty() {
            p class="muted" { (f.no_commands) }
        } @else {
            ul class="commands" id="commands" {
                @for c in &find.commands {
                    li data-kind=(c.kind.as_str()) data-state=(c.state.as_str()) {
                        strong { (kind_label(f, c.kind)) } " · "
                        span class=(format!("badge cmd-{}", c.state.as_str())) { (state_label(f, c.state)) }
                        " · " (when(ctx, c.finished_at.unwrap_or(c.created_at)))
                        @if let Some(l) = &c.location {
                            " · " (fill(f.answered_from, &place_text(l)))
                        }
                        @if let Some(pay) = &c.payment {
                            " · " span class="payment" {
                                (pay.merchant_name) " · " (pay.amount_display) " " (pay.amount.currency.code())
                            }
                        }
                        @if let Some(d) = &c.detail {
                            " · " span class="muted" { (d) }
                        }
                    }
                }
            }
        }
    }
}

/// The "find my device" section of a device page.
pub fn find_section(ctx: &Ctx, dc: &DeviceCards, find: &FindView) -> Markup {
    let f = ctx.lang.find();
    html! {
        section class="panel find" id="find" aria-labelledby="find-title" {
            h2 id="find-title" { (f.title) }
            (map(ctx, dc, find))
            (buttons(ctx, dc))
            (history(ctx, find))
            (commands(ctx, find))
        }
    }
}

/// The confirmation step before "Erase".
pub fn erase_page(ctx: &Ctx, dc: &DeviceCards) -> Markup {
    let s = ctx.s();
    let f = ctx.lang.find();
    let d = &dc.device;
    let title = fill(f.erase_title, &d.name);
    let content = html! {
        section class="panel confirm" aria-labelledby="confirm-title" {
            h1 id="confirm-title" { (title) }
            p { (f.erase_body) }
            form method="post" action=(format!("/devices/{}/erase", d.id)) {
                (csrf_field(ctx))
                div class="actions" {
                    button class="btn btn-danger" type="submit" id="confirm-erase" { (f.erase_confirm) }
                    a class="btn btn-quiet" href=(format!("/devices/{}", d.id)) { (s.cancel) }
                }
            }
        }
    };
    layout(ctx, &title, Nav::Devices, content, None)
}
