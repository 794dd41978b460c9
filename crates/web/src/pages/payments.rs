//! The payments page: the history table, one row per payment (also what
//! the live feed sends), and the small live-update script.

use maud::{Markup, html};
use paytap_wallet::Transaction;

use super::{Ctx, Nav, layout};
use crate::i18n::{Lang, fill, reason_zh, show_time};

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

/// What the history shows for a device that is no longer in the account.
pub const UNKNOWN_DEVICE: &str = "—";

/// One history row (also what the live feed sends); `device` is the name
/// of the device that paid.
pub fn payment_row(lang: Lang, region: &str, p: &Transaction, device: &str) -> Markup {
    let s = lang.strings();
    let t = show_time(p.at, region, lang);
    let code = p.amount.currency.code();
    let result = if p.approved { s.approved } else { s.declined };
    let announce = format!(
        "{}, {}{} {}, {}",
        fill(s.new_payment, &p.merchant_name),
        currency_symbol(code),
        p.amount.grouped(),
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
            td data-label=(s.col_device) class="device" { span class="v" { (device) } }
            td data-label=(s.col_amount) class="num" {
                span class="v" {
                    span class="amt" { (currency_symbol(code)) (p.amount.grouped()) } " "
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

/// The history page; `device_name` names the device each payment came from.
pub fn payments_page(
    ctx: &Ctx,
    items: &[Transaction],
    next_cursor: Option<&str>,
    device_name: impl Fn(&str) -> String,
) -> Markup {
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
                        th scope="col" { (s.col_device) }
                        th scope="col" class="num" { (s.col_amount) }
                        th scope="col" { (s.col_result) }
                    }
                }
                tbody id="payments-body" {
                    @for p in items { (payment_row(ctx.lang, &region, p, &device_name(&p.device_id))) }
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
        }
    }

    #[test]
    fn amounts_show_thousands_separators_in_both_languages() {
        for lang in [Lang::En, Lang::Zh] {
            let row = payment_row(lang, "cn", &payment(1_234_550), "Mi Band 9").into_string();
            assert!(row.contains("12,345.50"), "{row}");
            assert!(row.contains("Mi Band 9"), "{row}");
            assert!(!row.contains("12345.50"), "{row}");
        }
    }
}
