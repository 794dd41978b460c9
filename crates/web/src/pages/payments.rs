//! The payments page: the history table, one row per payment (also what
//! the live feed sends), and the small live-update script.

use maud::{Markup, html};
use paytap_wallet::Transaction;

use super::{Ctx, Nav, layout};
use crate::i18n::{Banks, Lang, Paid, approved_note, fill, reason_text, show_time};

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

/// The payment as far as its reason goes: its code and words, and the
/// currency its card's bank pays in.
fn paid<'a>(banks: &Banks, p: &'a Transaction) -> Paid<'a> {
    Paid {
        response_code: &p.response_code,
        reason: &p.reason,
        currency: p.amount.currency,
        card_currency: banks.currency(&p.bank_name),
    }
}

/// What the history shows for a device that is no longer in the account.
pub const UNKNOWN_DEVICE: &str = "—";

/// Who a history row is shown to: the language, the account's region
/// and the network's banks.
#[derive(Clone, Copy)]
pub struct RowCtx<'a> {
    pub lang: Lang,
    pub region: &'a str,
    pub banks: &'a Banks,
}

/// One history row (also what the live feed sends); `device` is the name
/// of the device that paid.
pub fn payment_row(rc: RowCtx<'_>, p: &Transaction, device: &str) -> Markup {
    let (lang, s) = (rc.lang, rc.lang.strings());
    let t = show_time(p.at, rc.region, lang);
    let code = p.amount.currency.code();
    let result = if p.approved { s.approved } else { s.declined };
    let amount = format!("{}{} {}", currency_symbol(code), p.amount.grouped(), code);
    let announce = [
        fill(s.new_payment, &p.merchant_name),
        amount,
        result.to_string(),
    ]
    .join(s.list_sep);
    let why = paid(rc.banks, p);
    html! {
        tr id=(format!("pay-{}", p.id)) data-result=(if p.approved { "approved" } else { "declined" }) data-announce=(announce) {
            td data-label=(s.col_date) { span class="v" { time datetime=(t.iso) { (t.text) } } }
            td data-label=(s.col_merchant) class="merchant" { span class="v" { (p.merchant_name) } }
            td data-label=(s.col_card) {
                span class="v" {
                    @if p.band_outcome.is_some() {
                        (super::bands::history_channel(lang))
                    } @else {
                        span class="bank" { (rc.banks.name(lang, &p.bank_name)) } " "
                        span class="last4" aria-label=(fill(s.card_ending, &p.card_last4)) { "•••• " (p.card_last4) }
                    }
                }
            }
            td data-label=(s.col_device) class="device" { span class="v" { (device) } }
            td data-label=(s.col_amount) class="num" {
                span class="v" {
                    span class="amt" { (currency_symbol(code)) (p.amount.grouped()) } " "
                    span class="cur" { (code) }
                }
            }
            td data-label=(s.col_result) {
                span class="v" {
                    @if let Some(outcome) = p.band_outcome {
                        (super::bands::history_result(lang, outcome, p))
                    } @else if p.approved {
                        span class="badge badge-on" { span class="dot" {} (s.approved) }
                        @if let Some(note) = approved_note(lang, &why) {
                            span class="reason reason-note" { (note) }
                        }
                        @if p.saved.minor > 0 {
                            span class="reason offer-note" { (fill(s.saved_note, &format!("{}{}", currency_symbol(code), p.saved.grouped()))) }
                        }
                        @if p.earned.minor > 0 {
                            span class="reason offer-note" { (fill(s.earned_note, &format!("{}{}", currency_symbol(code), p.earned.grouped()))) }
                        }
                    } @else {
                        span class="badge badge-off" { span class="dot" {} (s.declined) }
                        span class="reason" { (reason_text(lang, &why)) }
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

/// The history page; `device_name` names the device each payment came
/// from; `points`, the account's rewards points when the network keeps
/// them.
pub fn payments_page(
    ctx: &Ctx,
    items: &[Transaction],
    points: Option<u64>,
    next_cursor: Option<&str>,
    device_name: impl Fn(&str) -> String,
) -> Markup {
    let s = ctx.s();
    let rc = RowCtx {
        lang: ctx.lang,
        region: ctx.region(),
        banks: &ctx.banks,
    };
    let content = html! {
        div class="page-head" {
            h1 { (s.payments_title) }
            p class="lead" { (s.payments_intro) }
            @if let Some(n) = points {
                p id="points" { (crate::i18n::fill(s.payments_points, &n.to_string())) }
            }
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
                        th scope="col" { (s.col_device) }
                        th scope="col" class="num" { (s.col_amount) }
                        th scope="col" { (s.col_result) }
                    }
                }
                tbody id="payments-body" {
                    @for p in items { (payment_row(rc, p, &device_name(&p.device_id))) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_types::{Currency, Money};

    fn payment(minor: i64) -> Transaction {
        let amount = Money::new(minor, Currency::CNY);
        Transaction {
            id: "t1".into(),
            device_id: "d1".into(),
            card_id: "c1".into(),
            card_last4: "4242".into(),
            bank_name: "Bank".into(),
            merchant_name: "Shop".into(),
            merchant_id: "m1".into(),
            terminal_id: "term1".into(),
            amount,
            amount_display: amount.decimal(),
            approved: true,
            response_code: "00".into(),
            reason: String::new(),
            kind: "purchase".into(),
            at: 1_764_979_200_000,
            saved: Money::new(0, Currency::CNY),
            earned: Money::new(0, Currency::CNY),
            channel: "card".into(),
            band_outcome: None,
        }
    }

    fn row_ctx(banks: &Banks, lang: Lang) -> RowCtx<'_> {
        RowCtx {
            lang,
            region: "cn",
            banks,
        }
    }

    #[test]
    fn a_payment_shows_what_it_saved_and_earned_in_both_languages() {
        let banks = Banks::new();
        let mut p = payment(5_000);
        p.saved = Money::new(1_000, Currency::CNY);
        p.earned = Money::new(250, Currency::CNY);
        for (lang, saved, earned) in [
            (Lang::En, "You saved ¥10.00", "¥2.50 cashback"),
            (Lang::Zh, "已优惠 ¥10.00", "返现 ¥2.50"),
        ] {
            let html = payment_row(row_ctx(&banks, lang), &p, "Phone").into_string();
            assert!(html.contains(saved), "{html}");
            assert!(html.contains(earned), "{html}");
        }
        let plain = payment_row(row_ctx(&banks, Lang::En), &payment(5_000), "Phone").into_string();
        assert!(!plain.contains("offer-note"), "{plain}");
    }

    #[test]
    fn amounts_show_thousands_separators_in_both_languages() {
        let banks = Banks::new();
        for lang in [Lang::En, Lang::Zh] {
            let rc = RowCtx {
                lang,
                region: "cn",
                banks: &banks,
            };
            let row = payment_row(rc, &payment(1_234_550), "Mi Band 9").into_string();
            assert!(row.contains("12,345.50"), "{row}");
            assert!(row.contains("Mi Band 9"), "{row}");
            assert!(!row.contains("12345.50"), "{row}");
        }
    }
}
