//! The recharge pages: the number's form, and the operator, circle and
//! plans with the pay form.

use maud::{Markup, html};
use paytap_bbps::{Plan, Recharges};
use paytap_types::{Currency, Money};

use super::{Ctx, Nav, csrf_field, layout};
use crate::i18n::{fill, rupees};

/// Digits of a mobile number a page shows; the rest are masked.
const MOBILE_SHOWN: usize = 4;

/// What the plans page shows.
pub struct PlansView<'a> {
    pub recharges: &'a Recharges,
    pub mobile: &'a str,
    pub operator: Option<&'a str>,
    pub circle: Option<&'a str>,
    pub plans: &'a [&'a Plan],
    /// Makes this page's payment idempotent.
    pub key: &'a str,
}

/// `******3456`.
pub fn masked_mobile(m: &str) -> String {
    let shown = m.len().saturating_sub(MOBILE_SHOWN);
    let tail: String = m.chars().skip(shown).collect();
    format!("{}{tail}", "*".repeat(shown))
}

fn price(p: &Plan) -> String {
    let paise = i64::try_from(p.price).unwrap_or(i64::MAX);
    rupees(Money::new(paise, Currency::INR))
}

/// The number's form.
pub fn recharge_page(ctx: &Ctx, r: &Recharges) -> Markup {
    let b = ctx.lang.bills();
    let content = html! {
        div class="page-head" { h1 { (b.recharge_title) } p class="lead" { (b.recharge_intro) } }
        form class="panel" method="post" action="/recharge/plans" {
            (csrf_field(ctx))
            div class="field" {
                label for="mobile" { (b.mobile_field) }
                input id="mobile" name="mobile" type="tel" inputmode="numeric" required
                    minlength="10" maxlength="10" autocomplete="tel-national";
            }
            (operator_circle(ctx, r, None, None))
            button class="btn" type="submit" { (b.show_plans) }
        }
    };
    layout(ctx, b.recharge_title, Nav::Bills, content, None)
}

/// The operator and circle choices, `operator` and `circle` selected.
fn operator_circle(
    ctx: &Ctx,
    r: &Recharges,
    operator: Option<&str>,
    circle: Option<&str>,
) -> Markup {
    let b = ctx.lang.bills();
    html! {
        div class="field" {
            label for="operator" { (b.operator_field) }
            select id="operator" name="operator" {
                option value="" { "—" }
                @for o in r.operators() {
                    option value=(o.id) selected[operator == Some(o.id.as_str())] { (o.name) }
                }
            }
        }
        div class="field" {
            label for="circle" { (b.circle_field) }
            select id="circle" name="circle" {
                option value="" { "—" }
                @for c in r.circles() {
                    option value=(c.code) selected[circle == Some(c.code.as_str())] { (c.name) }
                }
            }
        }
    }
}

/// The operator and circle, the plans, and the pay form.
pub fn plans_page(ctx: &Ctx, v: &PlansView<'_>) -> Markup {
    let b = ctx.lang.bills();
    let content = html! {
        div class="page-head" {
            h1 { (b.recharge_title) }
            p class="lead" { (b.recharged_number) ": " (masked_mobile(v.mobile)) }
        }
        form class="panel" method="post" action="/recharge/plans" {
            (csrf_field(ctx))
            input type="hidden" name="mobile" value=(v.mobile);
            @if v.plans.is_empty() { p class="notice" role="status" { (b.not_detected) } }
            (operator_circle(ctx, v.recharges, v.operator, v.circle))
            button class="btn btn-secondary" type="submit" { (b.show_plans) }
        }
        @if !v.plans.is_empty() {
            form class="panel" method="post" action="/recharge/pay" {
                (csrf_field(ctx))
                input type="hidden" name="mobile" value=(v.mobile);
                input type="hidden" name="operator" value=(v.operator.unwrap_or(""));
                input type="hidden" name="circle" value=(v.circle.unwrap_or(""));
                input type="hidden" name="key" value=(v.key);
                fieldset {
                    legend { (b.plans_legend) }
                    @for (i, p) in v.plans.iter().enumerate() {
                        div class="plan" {
                            input type="radio" name="plan_id" id=(format!("plan-{}", p.id)) value=(p.id) required checked[i == 0];
                            label for=(format!("plan-{}", p.id)) {
                                strong { (price(p)) } " · " (fill(b.validity, &p.validity_days.to_string()))
                                " · " (p.data) " · " (p.description)
                            }
                        }
                    }
                }
                div class="field" {
                    label for="vpa" { (b.vpa_field) }
                    input id="vpa" name="vpa" required autocomplete="off";
                }
                button class="btn" type="submit" { (b.recharge_button) }
            }
        }
    };
    layout(ctx, b.recharge_title, Nav::Bills, content, None)
}
