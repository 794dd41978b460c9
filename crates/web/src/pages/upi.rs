//! The UPI page (accounts of India): UPI IDs, the merchants' requests
//! waiting (approved on the bound phone, where the PIN is typed), and the
//! UPI payments.

use maud::{Markup, html};
use paytap_types::{Currency, Money};
use paytap_upipsp::{Collect, Payment, UpiId};

use super::{Ctx, Nav, layout};
use crate::i18n::{fill, show_time};

/// What the page shows.
pub struct UpiView<'a> {
    pub ids: &'a [UpiId],
    pub collects: &'a [Collect],
    pub payments: &'a [Payment],
}

fn rupees(paise: u64) -> String {
    let m = Money::new(i64::try_from(paise).unwrap_or(i64::MAX), Currency::INR);
    format!("₹{}", m.grouped())
}

pub fn upi_page(ctx: &Ctx, v: &UpiView<'_>) -> Markup {
    let u = ctx.lang.upi();
    let content = html! {
        h1 { (u.title) }
        p class="intro" { (u.intro) }
        section class="panel" aria-labelledby="upi-ids" {
            h2 id="upi-ids" { (u.ids_title) }
            @if v.ids.is_empty() {
                p { (u.no_ids) }
            } @else {
                ul class="upi-ids" {
                    @for id in v.ids {
                        li { span class="vpa" { (id.vpa) } }
                    }
                }
            }
        }
        section class="panel" aria-labelledby="upi-collects" {
            h2 id="upi-collects" { (u.collects_title) }
            @if v.collects.is_empty() {
                p { (u.no_collects) }
            } @else {
                p class="note" { (u.approve_on_phone) }
                ul class="upi-collects" {
                    @for c in v.collects {
                        li id=(format!("collect-{}", c.txn_id)) {
                            span class="merchant" { (c.payee_name.as_deref().unwrap_or(&c.payee_vpa)) } " · "
                            span class="amt" { (rupees(c.amount_paise)) } " · "
                            @if let Some(n) = &c.note { span class="note" { (n) } " · " }
                            span class="expires" { (fill(u.expires, &show_time(c.expires_at, ctx.region(), ctx.lang).text)) }
                        }
                    }
                }
            }
        }
        section class="panel" aria-labelledby="upi-payments" {
            h2 id="upi-payments" { (u.payments_title) }
            @if v.payments.is_empty() {
                p { (u.no_payments) }
            } @else {
                table class="history" {
                    thead { tr {
                        th scope="col" { (u.col_date) } th scope="col" { (u.col_to) }
                        th scope="col" class="num" { (u.col_amount) } th scope="col" { (u.col_status) }
                        th scope="col" { (u.col_reference) }
                    } }
                    tbody {
                        @for p in v.payments { (payment_row(ctx, p)) }
                    }
                }
            }
        }
    };
    layout(ctx, u.title, Nav::Upi, content, None)
}

fn payment_row(ctx: &Ctx, p: &Payment) -> Markup {
    let u = ctx.lang.upi();
    let t = show_time(p.created_at, ctx.region(), ctx.lang);
    let status = match p.status.as_str() {
        "success" => u.status_success,
        "failed" => u.status_failed,
        "deemed" => u.status_deemed,
        _ => u.status_pending,
    };
    html! {
        tr id=(format!("upi-{}", p.txn_id)) data-status=(p.status) {
            td data-label=(u.col_date) { time datetime=(t.iso) { (t.text) } }
            td data-label=(u.col_to) {
                (p.payee_name.as_deref().unwrap_or(&p.payee_vpa)) " "
                span class="vpa" { (p.payee_vpa) }
                @if p.kind == "collect" { " (" (u.collect_kind) ")" }
            }
            td data-label=(u.col_amount) class="num" { (rupees(p.amount_paise)) " INR" }
            td data-label=(u.col_status) {
                (status)
                @if let Some(c) = &p.error_code { " · " span class="code" { (fill(u.code, c)) } }
                @if let Some(e) = p.earned_paise {
                    " · " span class="reason offer-note earned" { (fill(ctx.s().earned_note, &rupees(e))) }
                }
            }
            td data-label=(u.col_reference) { (p.rrn.as_deref().unwrap_or("—")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn ctx(lang: Lang) -> Ctx {
        Ctx {
            lang,
            account: None,
            csrf: String::new(),
            nonce: String::new(),
            path: "/upi".into(),
            notice: None,
            banks: Default::default(),
        }
    }

    fn bill(status: &str, earned_paise: Option<u64>) -> Payment {
        Payment {
            txn_id: "BP1".into(),
            kind: "collect".into(),
            payer_vpa: "asha@paytap".into(),
            payee_vpa: "bescom@payu".into(),
            payee_name: Some("BESCOM".into()),
            mcc: "4900".into(),
            amount_paise: 76_073,
            currency: "INR",
            note: None,
            reference: None,
            status: status.into(),
            error_code: None,
            rrn: None,
            created_at: 1_796_617_800_000,
            updated_at: 1_796_617_800_000,
            earned_paise,
        }
    }

    #[test]
    fn a_payment_shows_the_cashback_it_earned_in_each_language() {
        for (lang, earned) in [
            (Lang::En, "₹50.00 cashback"),
            (Lang::Zh, "返现 ₹50.00"),
            (Lang::Hi, "₹50.00 कैशबैक"),
        ] {
            let html = payment_row(&ctx(lang), &bill("success", Some(50_00))).into_string();
            assert!(html.contains(earned), "{html}");
        }
        let plain = payment_row(&ctx(Lang::En), &bill("success", None)).into_string();
        assert!(!plain.contains("offer-note"), "{plain}");
    }
}
