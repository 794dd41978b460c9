//! The bills pages of an India account: billers by category with the bills
//! due soon and the receipts, a biller's form, the fetched bill with its
//! pay form, and the receipt.

use maud::{Markup, html};
use paytap_bbps::{Biller, Catalogue, Category};
use paytap_bills::{DueBill, FetchedBill, Receipt};

use super::{Ctx, Nav, csrf_field, layout, urlencode};
use crate::i18n::{category_name, fill, reminder_text, rupees, state_name};

/// What the bills home page shows.
pub struct BillsHome<'a> {
    pub catalogue: &'a Catalogue,
    pub due: &'a [DueBill],
    pub receipts: &'a [Receipt],
}

/// Billers by category, the unpaid bills due soon, the receipts.
pub fn bills_page(ctx: &Ctx, v: &BillsHome<'_>) -> Markup {
    let b = ctx.lang.bills();
    let content = html! {
        div class="page-head" {
            h1 { (b.bills_title) }
            p class="lead" { (b.bills_intro) }
            p { a class="btn btn-secondary" href="/recharge" { (b.recharge_title) } }
        }
        section class="panel" id="reminders" aria-labelledby="reminders-title" {
            h2 id="reminders-title" { (b.reminders_title) }
            @if v.due.is_empty() {
                p class="empty" { (b.reminders_none) }
            } @else {
                ul {
                    @for d in v.due {
                        li class="reminder" {
                            strong { (d.bill.biller_name) } " · " (rupees(d.bill.amount))
                            " · " (reminder_text(ctx.lang, d.reminder))
                            " · " a href=(biller_href(&d.bill.biller_id)) { (b.fetch_button) }
                        }
                    }
                }
            }
        }
        section class="panel" id="billers" aria-labelledby="billers-title" {
            h2 id="billers-title" { (b.billers_title) }
            @for c in Category::ALL {
                h3 { (category_name(ctx.lang, c)) }
                ul class="billers" data-category=(c.as_str()) {
                    @for biller in v.catalogue.in_category(c) {
                        li { a href=(biller_href(&biller.id)) { (biller.name) } }
                    }
                }
            }
        }
        section class="panel" id="receipts" aria-labelledby="receipts-title" {
            h2 id="receipts-title" { (b.receipts_title) }
            @if v.receipts.is_empty() {
                p class="empty" { (b.receipts_none) }
            } @else {
                ul {
                    @for r in v.receipts {
                        li {
                            a href=(format!("/bills/receipts/{}", urlencode(&r.payment_id))) { (r.payee_name) }
                            " · " (rupees(r.amount)) " · " (state_name(ctx.lang, r.state))
                        }
                    }
                }
            }
        }
    };
    layout(ctx, b.bills_title, Nav::Bills, content, None)
}

fn biller_href(id: &str) -> String {
    format!("/bills/billers/{}", urlencode(id))
}

/// A biller's form: one field per customer parameter, with its rule.
pub fn biller_page(ctx: &Ctx, biller: &Biller) -> Markup {
    let b = ctx.lang.bills();
    let title = fill(b.fetch_title, &biller.name);
    let action = format!("{}/fetch", biller_href(&biller.id));
    let content = html! {
        div class="page-head" { h1 { (title) } }
        form class="panel" method="post" action=(action) {
            (csrf_field(ctx))
            @for p in &biller.params {
                div class="field" {
                    label for=(p.name) { (p.label) }
                    input id=(p.name) name=(p.name) required autocomplete="off"
                        minlength=(p.min) maxlength=(p.max)
                        aria-describedby=(format!("{}-rule", p.name));
                    p class="hint" id=(format!("{}-rule", p.name)) { (fill(b.param_rule, &p.rule())) }
                }
            }
            button class="btn" type="submit" { (b.fetch_button) }
        }
        p { a href="/bills" { (b.back_to_bills) } }
    };
    layout(ctx, &title, Nav::Bills, content, None)
}

/// The fetched bill and, while unpaid, its pay form; `key` makes this
/// form's payment idempotent.
pub fn bill_page(ctx: &Ctx, bill: &FetchedBill, key: &str) -> Markup {
    let b = ctx.lang.bills();
    let content = html! {
        div class="page-head" { h1 { (b.bill_title) } p class="lead" { (bill.biller_name) } }
        dl class="panel bill" {
            dt { (b.customer_name) } dd { (bill.customer_name) }
            dt { (b.bill_number) } dd id="bill-number" { (bill.bill_number) }
            dt { (b.bill_date) } dd { time datetime=(bill.bill_date) { (bill.bill_date) } }
            dt { (b.due_date) } dd { time datetime=(bill.due_date) { (bill.due_date) } }
            dt { (b.amount) } dd class="num" id="bill-amount" { (rupees(bill.amount)) }
        }
        @if bill.paid {
            p class="notice" role="status" { (b.already_paid) }
        } @else {
            form class="panel" method="post" action="/bills/pay" {
                (csrf_field(ctx))
                input type="hidden" name="fetch_id" value=(bill.fetch_id);
                input type="hidden" name="key" value=(key);
                div class="field" {
                    label for="vpa" { (b.vpa_field) }
                    input id="vpa" name="vpa" required autocomplete="off" aria-describedby="vpa-hint";
                    p class="hint" id="vpa-hint" { (b.vpa_hint) }
                }
                button class="btn" type="submit" { (b.pay_button) " " (rupees(bill.amount)) }
            }
        }
        p { a href="/bills" { (b.back_to_bills) } }
    };
    layout(ctx, b.bill_title, Nav::Bills, content, None)
}

/// A payment's receipt: the biller's reference once confirmed, the UPI
/// reference, the state and, when refunded, why.
pub fn receipt_page(ctx: &Ctx, r: &Receipt) -> Markup {
    let b = ctx.lang.bills();
    let method = if r.method == "card" {
        b.method_card
    } else {
        b.method_upi
    };
    let content = html! {
        div class="page-head" { h1 { (b.receipt_title) } p class="lead" { (r.payee_name) } }
        dl class="panel receipt" data-state=(r.state.as_str()) {
            dt { (b.amount) } dd class="num" { (rupees(r.amount)) }
            dt { (b.state) } dd id="receipt-state" { (state_name(ctx.lang, r.state)) }
            @if let Some(reference) = &r.biller_ref {
                dt { (b.biller_ref) } dd id="biller-ref" { (reference) }
            }
            @if let Some(number) = &r.bill_number {
                dt { (b.bill_number) } dd { (number) }
            }
            @if let Some(due) = &r.due_date {
                dt { (b.due_date) } dd { (due) }
            }
            @if let Some(mobile) = &r.mobile {
                dt { (b.recharged_number) } dd { (mobile) }
            }
            @if let Some(plan) = &r.plan_id {
                dt { (b.plan) } dd { (plan) }
            }
            dt { (b.paid_by) } dd { (method) }
            @if let Some(rrn) = &r.rail_ref {
                dt { (b.rail_ref) } dd { (rrn) }
            }
            @if let Some(why) = &r.refund_reason {
                dt { (b.refund_reason) } dd { (why) }
            }
        }
        p { a href="/bills" { (b.back_to_bills) } }
    };
    layout(ctx, b.receipt_title, Nav::Bills, content, None)
}
