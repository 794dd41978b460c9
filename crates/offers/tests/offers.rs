//! The default offers, eligibility, limits, stacking, the redemption state
//! machine and budgets, points; budgets and funder spend as properties.

use paytap_offers::config::ConfigError;
use paytap_offers::engine::Refusal;
use paytap_offers::{
    BenefitKind, FunderKind, OfferEngine, OfferError, OffersFile, PaymentState, PointsError,
    RawOffer,
};
use paytap_types::{
    CardFacts, CardType, Channel, Currency, DeviceFacts, DeviceKind, MerchantFacts, Money,
    PaymentFacts, UpiFacts,
};
use proptest::prelude::*;

/// 2026-12-07 10:00 in China (a Monday).
const MONDAY_10H_CN: i64 = 1_796_572_800_000 + 10 * 3_600_000;
const ICBC: &str = "01020000";
const SUPERMARKET: &str = "icbc-supermarket-10-off-50";
const FIRST_CARD: &str = "first-card-payment-5pc";
const FIRST_UPI_BILL: &str = "first-upi-bill-50-inr";

fn cny(id: &str, minor: i64, at_ms: i64) -> PaymentFacts {
    let mut f = PaymentFacts::new(id, Channel::Nfc, Money::new(minor, Currency::CNY), at_ms);
    f.account_id = Some("acct-li".into());
    f.card = Some(CardFacts {
        fingerprint: "fp-li-icbc".into(),
        bin: "620101".into(),
        bank: ICBC.into(),
        card_type: CardType::Debit,
        added_at_ms: None,
        first_use: false,
    });
    f.device = Some(DeviceFacts {
        id: "dev-li".into(),
        kind: DeviceKind::Phone,
        enrolled_at_ms: None,
    });
    f.merchant = Some(MerchantFacts {
        id: "wumart-001".into(),
        mcc: 5411,
    });
    f.region = Some("cn".into());
    f
}

fn upi_bill(id: &str, minor: i64, first: bool) -> PaymentFacts {
    let mut f = PaymentFacts::new(
        id,
        Channel::Bills,
        Money::new(minor, Currency::INR),
        MONDAY_10H_CN,
    );
    f.account_id = Some("acct-asha".into());
    f.upi = Some(UpiFacts {
        vpa: "asha@paytap".into(),
        bound_at_ms: None,
    });
    f.merchant = Some(MerchantFacts {
        id: "bescom".into(),
        mcc: 4900,
    });
    f.region = Some("in".into());
    f.first_on_channel = first;
    f
}

fn defaults() -> OfferEngine {
    OfferEngine::new(OffersFile::default_offers())
}

fn applied(e: &mut OfferEngine, f: &PaymentFacts) -> Vec<(String, i64)> {
    e.authorize(f)
        .unwrap()
        .applied
        .into_iter()
        .map(|a| (a.offer.to_string(), a.amount.minor))
        .collect()
}

#[test]
fn the_three_default_offers_ship() {
    let f = OffersFile::default_offers();
    let ids: Vec<&str> = f.offers.iter().map(|o| &*o.id).collect();
    assert_eq!(ids, [SUPERMARKET, FIRST_CARD, FIRST_UPI_BILL]);
    assert_eq!(f.offers[0].limits.budget, 10_000_000);
    assert_eq!(f.offers[0].funder.kind, FunderKind::Bank);
    assert_eq!(f.offers[0].funder.ledger_account(), "offers:bank:01020000");
    assert_eq!(f.offers[1].kind, BenefitKind::Cashback);
    assert_eq!(f.offers[2].eligibility.currency, Some(Currency::INR));
    assert!(!f.points.rules.is_empty());
}

#[test]
fn bad_offers_are_refused_with_the_reason() {
    let base = |patch: &str| {
        format!(
            "[[offer]]\nid='a'\ntitle='A'\nfunder={{kind='bank',id='b'}}\norder=1\ncurrency='CNY'\n{patch}"
        )
    };
    let ok_tail =
        "[offer.benefit]\nkind='discount'\nfixed='1.00'\n[offer.limits]\nbudget='100.00'\n";
    let check = |text: String, expect: &str| {
        let e = OffersFile::from_toml(&text).unwrap_err();
        assert!(e.to_string().contains(expect), "{text}\n=> {e}");
    };
    assert!(OffersFile::from_toml(&base(ok_tail)).is_ok());
    check(base(&format!("colour='red'\n{ok_tail}")), "unknown field");
    check(
        base("[offer.benefit]\nkind='discount'\nfixed='-1.00'\n[offer.limits]\nbudget='100.00'\n"),
        "never negative",
    );
    check(
        base(
            "[offer.benefit]\nkind='cashback'\npercent='5'\ncap='-0.01'\n[offer.limits]\nbudget='100.00'\n",
        ),
        "never negative",
    );
    check(
        base("[offer.benefit]\nkind='cashback'\npercent='5'\n[offer.limits]\nbudget='100.00'\n"),
        "needs a cap",
    );
    check(
        base(
            "[offer.benefit]\nkind='cashback'\npercent='150'\ncap='1'\n[offer.limits]\nbudget='100.00'\n",
        ),
        "at most 100",
    );
    check(
        base("[offer.benefit]\nkind='discount'\nfixed='1.00'\n[offer.limits]\nbudget='-5.00'\n"),
        "never negative",
    );
    check(
        base("[offer.benefit]\nkind='discount'\nfixed='1.001'\n[offer.limits]\nbudget='5.00'\n"),
        "decimal places",
    );
    check(
        base(&format!("[offer.eligible]\ndays=['funday']\n{ok_tail}")),
        "funday",
    );
    check(
        base(&format!(
            "[offer.eligible]\nbin_ranges=[['6201','62']]\n{ok_tail}"
        )),
        "BIN range",
    );
    check(
        base(&format!(
            "[offer.eligible]\nstarts='2026-12-31T00:00:00Z'\nends='2026-12-01T00:00:00Z'\n{ok_tail}"
        )),
        "starts",
    );
    let two = format!(
        "{}{}",
        base(ok_tail),
        base(ok_tail).replace("id='a'", "id='b'")
    );
    assert!(matches!(
        OffersFile::from_toml(&two),
        Err(ConfigError::StackingOverlap(..))
    ));
    let same_id = format!(
        "{}{}",
        base(ok_tail),
        base(ok_tail).replace("order=1", "order=2")
    );
    assert!(matches!(
        OffersFile::from_toml(&same_id),
        Err(ConfigError::DuplicateId(..))
    ));
}

#[test]
fn the_supermarket_discount_needs_its_bank_mcc_and_amount() {
    type Edit = fn(&mut PaymentFacts);
    let cases: [(&str, Edit, bool); 7] = [
        ("as is", |_| {}, true),
        ("49.99", |f| f.amount.minor = 4_999, false),
        (
            "a restaurant",
            |f| f.merchant.as_mut().unwrap().mcc = 5812,
            false,
        ),
        (
            "another bank",
            |f| f.card.as_mut().unwrap().bank = "01030000".into(),
            false,
        ),
        ("no card", |f| f.card = None, false),
        ("in HKD", |f| f.amount.currency = Currency::HKD, false),
        ("by QR", |f| f.channel = Channel::Qr, true),
    ];
    for (what, edit, expect) in cases {
        let mut e = defaults();
        let mut f = cny("p1", 5_000, MONDAY_10H_CN);
        edit(&mut f);
        let got = applied(&mut e, &f).iter().any(|(id, _)| id == SUPERMARKET);
        assert_eq!(got, expect, "{what}");
    }
}

#[test]
fn the_supermarket_discount_is_once_per_user_per_local_day() {
    let mut e = defaults();
    let q = e.authorize(&cny("p1", 8_800, MONDAY_10H_CN)).unwrap();
    assert_eq!(q.charge, Money::new(7_800, Currency::CNY));
    assert_eq!(q.applied[0].kind, BenefitKind::Discount);
    let q = e
        .authorize(&cny("p2", 8_800, MONDAY_10H_CN + 3_600_000))
        .unwrap();
    assert!(q.applied.is_empty());
    assert_eq!(
        q.refused,
        [Refusal {
            offer: SUPERMARKET.into(),
            why: "per-user limit reached"
        }]
    );
    // 23:59 Monday in China is still Monday; 00:01 Tuesday is a new day.
    let monday_late = MONDAY_10H_CN + 14 * 3_600_000 - 60_000;
    assert!(applied(&mut e, &cny("p3", 8_800, monday_late)).is_empty());
    assert_eq!(
        applied(&mut e, &cny("p4", 8_800, monday_late + 120_000)),
        [(SUPERMARKET.to_string(), 1_000)]
    );
    // A declined payment gives its use back.
    e.release("p4").unwrap();
    assert_eq!(
        applied(&mut e, &cny("p5", 8_800, monday_late + 180_000)).len(),
        1
    );
}

#[test]
fn a_cards_first_payment_gets_five_percent_back_up_to_20() {
    for (minor, first, expect) in [
        (10_000, true, Some(500)),
        (100_000, true, Some(2_000)),
        (10_000, false, None),
    ] {
        let mut e = defaults();
        let mut f = cny("p1", minor, MONDAY_10H_CN);
        f.merchant.as_mut().unwrap().mcc = 5812;
        f.card.as_mut().unwrap().first_use = first;
        let got = applied(&mut e, &f)
            .into_iter()
            .find(|(id, _)| id == FIRST_CARD)
            .map(|(_, a)| a);
        assert_eq!(got, expect, "{minor} first={first}");
    }
    // Once per card, even if the wallet says "first" again.
    let mut e = defaults();
    let mut f = cny("p1", 10_000, MONDAY_10H_CN);
    f.card.as_mut().unwrap().first_use = true;
    e.authorize(&f).unwrap();
    f.payment_id = "p2".into();
    let q = e.authorize(&f).unwrap();
    assert!(
        q.refused
            .iter()
            .any(|r| &*r.offer == FIRST_CARD && r.why == "per-card limit reached")
    );
}

#[test]
fn a_first_upi_bill_gets_50_rupees_back() {
    let mut e = defaults();
    assert_eq!(
        applied(&mut e, &upi_bill("b1", 120_000, true)),
        [(FIRST_UPI_BILL.to_string(), 5_000)]
    );
    assert!(applied(&mut e, &upi_bill("b2", 120_000, false)).is_empty());
    let mut no_upi = upi_bill("b3", 120_000, true);
    no_upi.upi = None;
    assert!(applied(&mut OfferEngine::new(OffersFile::default_offers()), &no_upi).is_empty());
    // A bill of 30 rupees gets 30 back, never more than was paid.
    assert_eq!(
        applied(&mut defaults(), &upi_bill("b4", 3_000, true)),
        [(FIRST_UPI_BILL.to_string(), 3_000)]
    );
}

#[test]
fn a_redemption_moves_through_its_states_and_refuses_every_other_move() {
    let mut e = defaults();
    let f = cny("p1", 5_000, MONDAY_10H_CN);
    e.authorize(&f).unwrap();
    let b = e.budget(SUPERMARKET).unwrap();
    assert_eq!((b.reserved, b.spent), (1_000, 0));
    assert_eq!(e.authorize(&f), Err(OfferError::Replayed("p1".into())));
    assert!(matches!(
        e.refund("p1"),
        Err(OfferError::WrongState {
            state: PaymentState::Authorized,
            ..
        })
    ));
    let s = e.capture("p1").unwrap();
    assert_eq!(s.spent.len(), 1);
    let b = e.budget(SUPERMARKET).unwrap();
    assert_eq!((b.reserved, b.spent), (0, 1_000));
    assert!(matches!(
        e.capture("p1"),
        Err(OfferError::WrongState { .. })
    ));
    assert!(matches!(
        e.release("p1"),
        Err(OfferError::WrongState { .. })
    ));
    let r = e.refund("p1").unwrap();
    assert_eq!(r.returned[0].amount.minor, 1_000);
    assert_eq!(
        e.budget(SUPERMARKET).unwrap(),
        paytap_offers::Budget::new(10_000_000)
    );
    assert!(matches!(
        e.refund("p1"),
        Err(OfferError::WrongState {
            state: PaymentState::Refunded,
            ..
        })
    ));
    assert_eq!(
        e.capture("nope"),
        Err(OfferError::UnknownPayment("nope".into()))
    );
    // The replayed authorization moved nothing.
    assert_eq!(e.state("p1"), Some(PaymentState::Refunded));
}

#[test]
fn the_last_of_a_budget_goes_to_one_payment_and_never_beyond() {
    let text = "[[offer]]\nid='tiny'\ntitle='T'\nfunder={kind='merchant',id='wumart'}\norder=1\ncurrency='CNY'\n\
                [offer.benefit]\nkind='discount'\nfixed='10.00'\n[offer.limits]\nbudget='25.00'\n";
    let mut e = OfferEngine::new(OffersFile::from_toml(text).unwrap());
    let got: Vec<usize> = (0..5)
        .map(|i| {
            e.authorize(&cny(&format!("p{i}"), 5_000, MONDAY_10H_CN))
                .unwrap()
                .applied
                .len()
        })
        .collect();
    assert_eq!(got, [1, 1, 0, 0, 0]);
    let b = e.budget("tiny").unwrap();
    assert_eq!((b.reserved, b.spent, b.left()), (2_000, 0, 500));
    // A decline returns its reservation, and the next payment gets it.
    e.release("p0").unwrap();
    assert_eq!(
        e.authorize(&cny("p5", 5_000, MONDAY_10H_CN))
            .unwrap()
            .applied
            .len(),
        1
    );
}

#[test]
fn offers_stack_in_order_and_an_exclusive_one_stops_the_rest() {
    let offer = |id: &str, order: u32, exclusive: bool, fixed: &str| {
        format!(
            "[[offer]]\nid='{id}'\ntitle='T'\nfunder={{kind='platform',id='paytap'}}\norder={order}\nexclusive={exclusive}\n\
             currency='CNY'\n[offer.benefit]\nkind='discount'\nfixed='{fixed}'\n[offer.limits]\nbudget='1000.00'\n"
        )
    };
    let text = [
        offer("c", 30, false, "5.00"),
        offer("a", 10, false, "30.00"),
        offer("b", 20, true, "30.00"),
    ]
    .concat();
    let mut e = OfferEngine::new(OffersFile::from_toml(&text).unwrap());
    // 50.00: a takes 30.00, b the remaining 20.00 (never below zero), c
    // is stopped by b's exclusivity.
    let q = e.authorize(&cny("p1", 5_000, MONDAY_10H_CN)).unwrap();
    let got: Vec<(&str, i64)> = q
        .applied
        .iter()
        .map(|a| (&*a.offer, a.amount.minor))
        .collect();
    assert_eq!(got, [("a", 3_000), ("b", 2_000)]);
    assert_eq!(q.charge.minor, 0);
}

#[test]
fn a_merchants_own_offer_applies_at_that_merchant_only_and_in_stacking_order() {
    let offer = |id: &str, order: u32, merchants: &str| {
        format!(
            "[[offer]]\nid='{id}'\ntitle='T'\nfunder={{kind='merchant',id='m'}}\norder={order}\ncurrency='CNY'\n\
             [offer.eligible]\nmerchants=[{merchants}]\n\
             [offer.benefit]\nkind='discount'\nfixed='1.00'\n[offer.limits]\nbudget='1000.00'\n"
        )
    };
    let text = [
        offer("late-general", 30, ""),
        offer("wumart-own", 20, "'wumart-001','wumart-001'"),
        offer("first-general", 10, ""),
        offer("other-shop", 15, "'carrefour-9'"),
    ]
    .concat();
    let mut e = OfferEngine::new(OffersFile::from_toml(&text).unwrap());
    let at_wumart: Vec<String> = applied(&mut e, &cny("p1", 5_000, MONDAY_10H_CN))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(at_wumart, ["first-general", "wumart-own", "late-general"]);
    let mut elsewhere = cny("p2", 5_000, MONDAY_10H_CN);
    elsewhere.merchant = None;
    let got: Vec<String> = e
        .eligible(&elsewhere)
        .iter()
        .map(|o| o.id.to_string())
        .collect();
    assert_eq!(got, ["first-general", "late-general"]);
}

#[test]
fn a_paused_offer_is_not_applied_and_an_edit_keeps_its_budget() {
    let mut e = defaults();
    e.authorize(&cny("p1", 5_000, MONDAY_10H_CN)).unwrap();
    e.capture("p1").unwrap();
    e.set_paused(SUPERMARKET, true).unwrap();
    let mut other = cny("p2", 5_000, MONDAY_10H_CN);
    other.account_id = Some("acct-wang".into());
    let q = e.authorize(&other).unwrap();
    assert!(
        q.applied.is_empty() && q.charge.minor == 5_000,
        "full price while paused"
    );
    e.set_paused(SUPERMARKET, false).unwrap();
    other.payment_id = "p3".into();
    assert_eq!(e.authorize(&other).unwrap().applied.len(), 1);
    assert_eq!(
        e.set_paused("nope", true),
        Err(OfferError::UnknownOffer("nope".into()))
    );
    // An edit to a total below what is spent and reserved is refused.
    let edit = |budget: &str, order: u32| {
        RawOffer::from_toml(&format!(
            "id='{SUPERMARKET}'\ntitle='T'\nfunder={{kind='bank',id='{ICBC}'}}\norder={order}\ncurrency='CNY'\n\
             [eligible]\nmccs=[5411]\n[benefit]\nkind='discount'\nfixed='10.00'\n[limits]\nbudget='{budget}'\n"
        ))
        .unwrap()
    };
    assert!(matches!(
        e.put(edit("19.99", 10)),
        Err(OfferError::Budget(..))
    ));
    assert!(matches!(
        e.put(edit("500.00", 20)),
        Err(OfferError::Config(ConfigError::StackingOverlap(..)))
    ));
    e.put(edit("20.00", 10)).unwrap();
    let b = e.budget(SUPERMARKET).unwrap();
    assert_eq!(
        (b.total, b.spent, b.reserved, b.left()),
        (2_000, 1_000, 1_000, 0)
    );
}

#[test]
fn points_are_earned_at_capture_reversed_on_refund_and_redeemed_as_cashback() {
    let mut e = defaults();
    // ICBC by NFC: 2 points per yuan; 88.00 CNY less the 10.00 discount.
    let q = e.authorize(&cny("p1", 8_800, MONDAY_10H_CN)).unwrap();
    assert_eq!(q.points, 156);
    assert_eq!(e.points().balance("acct-li"), 0, "nothing before capture");
    assert_eq!(e.capture("p1").unwrap().points, 156);
    assert_eq!(e.points().balance("acct-li"), 156);
    assert_eq!(
        e.points_mut().redeem("acct-li", 99, Currency::CNY),
        Err(PointsError::BelowMinimum(100))
    );
    assert_eq!(
        e.points_mut().redeem("acct-li", 100, Currency::CNY),
        Ok(Money::new(100, Currency::CNY))
    );
    // The refund takes back what is left; the redeemed 100 cannot be.
    let r = e.refund("p1").unwrap();
    assert_eq!((r.points, r.points_unrecovered), (56, 100));
    assert_eq!(e.points().balance("acct-li"), 0);
    // A bill falls to the catch-all rule: one point per rupee; a UPI
    // payment earns half a point per rupee.
    assert_eq!(
        e.authorize(&upi_bill("b1", 120_000, false)).unwrap().points,
        1_200
    );
    let mut upi = upi_bill("u1", 120_000, false);
    upi.channel = Channel::Upi;
    assert_eq!(e.authorize(&upi).unwrap().points, 600);
}

#[derive(Debug, Clone)]
enum Op {
    Authorize { account: u8, minor: i64 },
    Capture(usize),
    Release(usize),
    Refund(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, 1_000i64..20_000).prop_map(|(account, minor)| Op::Authorize { account, minor }),
        2 => any::<usize>().prop_map(Op::Capture),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Refund),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random interleavings of authorizations, captures, releases and
    /// refunds over small budgets: no budget is ever overspent, each
    /// funder's spend is what the captured-and-not-refunded payments
    /// carried, and once everything is released or refunded every budget is
    /// whole again.
    #[test]
    fn budgets_are_never_overspent_and_sum_back(ops in proptest::collection::vec(op(), 1..120)) {
        let text = "[[offer]]\nid='d'\ntitle='D'\nfunder={kind='bank',id='01020000'}\norder=1\ncurrency='CNY'\n\
                    [offer.benefit]\nkind='discount'\npercent='10'\ncap='15.00'\n[offer.limits]\nbudget='60.00'\n\
                    per_user={count=2,period='day'}\n\
                    [[offer]]\nid='c'\ntitle='C'\nfunder={kind='platform',id='paytap'}\norder=2\ncurrency='CNY'\n\
                    [offer.benefit]\nkind='cashback'\nfixed='7.00'\n[offer.limits]\nbudget='30.00'\n";
        let mut e = OfferEngine::new(OffersFile::from_toml(text).unwrap());
        let mut ids: Vec<String> = Vec::new();
        let mut spent_by_payment: std::collections::HashMap<String, i64> = Default::default();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Authorize { account, minor } => {
                    let mut f = cny(&format!("p{n}"), minor, MONDAY_10H_CN + n as i64);
                    f.account_id = Some(format!("a{account}"));
                    let q = e.authorize(&f).unwrap();
                    let total: i64 = q.applied.iter().map(|a| a.amount.minor).sum();
                    prop_assert!(q.charge.minor >= 0);
                    spent_by_payment.insert(f.payment_id.clone(), total);
                    ids.push(f.payment_id);
                }
                _ if ids.is_empty() => {}
                Op::Capture(i) => { let _ = e.capture(&ids[i % ids.len()]); }
                Op::Release(i) => { let _ = e.release(&ids[i % ids.len()]); }
                Op::Refund(i) => { let _ = e.refund(&ids[i % ids.len()]); }
            }
            for id in ["d", "c"] {
                let b = e.budget(id).unwrap();
                prop_assert!(b.reserved >= 0 && b.spent >= 0 && b.reserved + b.spent <= b.total, "{id}: {b:?}");
            }
            let captured: i64 = ids.iter().filter(|p| e.state(p) == Some(PaymentState::Captured)).map(|p| spent_by_payment[p]).sum();
            let funders: i64 = e.spend_by_funder().iter().map(|s| s.spent).sum();
            prop_assert_eq!(funders, captured);
        }
        for id in &ids {
            match e.state(id) {
                Some(PaymentState::Authorized) => { e.release(id).unwrap(); }
                Some(PaymentState::Captured) => { e.refund(id).unwrap(); }
                _ => {}
            }
        }
        for (id, total) in [("d", 6_000), ("c", 3_000)] {
            prop_assert_eq!(e.budget(id).unwrap(), paytap_offers::Budget::new(total));
        }
    }
}
