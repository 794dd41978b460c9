//! Each rule, table by table; the velocity windows and shadow mode as
//! properties.

use paytap_risk::config::{ConfigError, KeyKind};
use paytap_risk::engine::{BlockError, ListKind};
use paytap_risk::{Action, Outcome, ReasonCode, RiskEngine, RiskRules, StepUpMethod, Verdict};
use paytap_types::{
    CardFacts, CardType, Channel, Currency, DeviceFacts, DeviceKind, GeoPoint, MerchantFacts,
    Money, PaymentFacts, UpiFacts,
};
use proptest::prelude::*;

const T0: i64 = 1_796_428_800_000;
const MIN: i64 = 60_000;
const BEIJING: (f64, f64) = (39.9042, 116.4074);
const SHANGHAI: (f64, f64) = (31.2304, 121.4737);

fn pay(at_ms: i64, minor: i64) -> PaymentFacts {
    let mut f = PaymentFacts::new("p", Channel::Nfc, Money::new(minor, Currency::CNY), at_ms);
    f.account_id = Some("acct-a".into());
    f.card = Some(CardFacts {
        fingerprint: "fp-a".into(),
        bin: "622588".into(),
        bank: "cmb".into(),
        card_type: CardType::Debit,
        added_at_ms: None,
        first_use: false,
    });
    f.device = Some(DeviceFacts {
        id: "dev-a".into(),
        kind: DeviceKind::Phone,
        enrolled_at_ms: None,
    });
    f.merchant = Some(MerchantFacts {
        id: "m-1".into(),
        mcc: 5411,
    });
    f
}

fn at(f: PaymentFacts, place: (f64, f64)) -> PaymentFacts {
    PaymentFacts {
        place: Some(GeoPoint {
            lat: place.0,
            lon: place.1,
        }),
        ..f
    }
}

fn engine(toml: &str) -> RiskEngine {
    RiskEngine::new(RiskRules::from_toml(toml).unwrap())
}

fn approve_all(e: &mut RiskEngine, payments: &[PaymentFacts]) {
    for p in payments {
        e.record(p, Outcome::Approved);
    }
}

/// Approved payments before (ms after T0, amount), this payment, the verdict.
type VelocityCase = (Vec<(i64, i64)>, (i64, i64), Verdict);
/// Device, card and binding ages, amount, currency, the rules expected to fire.
type CoolingCase = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Currency,
    Vec<&'static str>,
);

const STEP_BIO: Verdict = Verdict::StepUp {
    method: StepUpMethod::Biometric,
    reason: ReasonCode::Velocity,
};

#[test]
fn the_default_rules_load() {
    let r = RiskRules::default_rules();
    assert!(r.rules.len() >= 10);
    assert!(
        r.rules.iter().any(|r| r.shadow),
        "the merchant surge rule ships in shadow mode"
    );
}

#[test]
fn bad_rules_files_are_refused_with_the_reason() {
    let check = |toml: &str, expect: &str| {
        let e = RiskRules::from_toml(toml).unwrap_err();
        assert!(e.to_string().contains(expect), "{toml}: {e}");
    };
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\nmax_count=3\naction='decline'\ncolour='red'",
        "unknown field",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\nmax_sum={CNY='-1.00'}\naction='decline'",
        "never negative",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\naction='decline'",
        "max_count or max_sum",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=0\nmax_count=3\naction='decline'",
        "window_secs",
    );
    check(
        "[[velocity]]\nname='a'\nkey='pan'\nwindow_secs=60\nmax_count=3\naction='decline'",
        "unknown variant",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\nmax_count=3\naction='allow'",
        "unknown variant",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\nmax_count=100000\naction='decline'",
        "max_count",
    );
    check(
        "[[velocity]]\nname='a'\nkey='card'\nwindow_secs=60\nmax_sum={XXX='1'}\naction='decline'",
        "unknown currency",
    );
    check(
        "[[declines]]\nname='a'\nkey='card'\nmax_in_row=3\naction='decline'\n[[declines]]\nname='a'\nkey='device'\nmax_in_row=3\naction='decline'",
        "two risk rules",
    );
    check(
        "[blocklist]\ncards=['4761739001010119']",
        "never card numbers",
    );
    check("[limits]\nkeys_per_kind=0", "keys_per_kind");
    assert!(matches!(
        RiskRules::from_toml("not toml ["),
        Err(ConfigError::Toml(_))
    ));
}

const VELOCITY: &str = "
[[velocity]]
name = 'card-3-per-minute'
key = 'card'
window_secs = 60
max_count = 3
action = 'step_up_biometric'

[[velocity]]
name = 'account-100-per-hour'
key = 'account'
window_secs = 3600
max_sum = { CNY = '100.00' }
action = 'step_up_otp'
";

#[test]
fn velocity_counts_and_sums_approved_payments_in_the_window() {
    // (approved before: (offset ms, amount)), this payment (offset, amount), expected verdict
    let otp = Verdict::StepUp {
        method: StepUpMethod::Otp,
        reason: ReasonCode::Velocity,
    };
    let cases: Vec<VelocityCase> = vec![
        (vec![], (0, 100), Verdict::Approve),
        (vec![(0, 100), (1, 100)], (2, 100), Verdict::Approve),
        (vec![(0, 100), (1, 100), (2, 100)], (3, 100), STEP_BIO),
        // The oldest left the window: exactly one minute later it is out.
        (
            vec![(0, 100), (1, 100), (2, 100)],
            (MIN, 100),
            Verdict::Approve,
        ),
        (vec![(0, 100), (1, 100), (2, 100)], (MIN - 1, 100), STEP_BIO),
        // The sum: 99.00 + 1.00 is at the limit, 1.01 over it.
        (vec![(0, 9_900)], (MIN * 2, 100), Verdict::Approve),
        (vec![(0, 9_900)], (MIN * 2, 101), otp),
        // Both fire: OTP is the stronger action.
        (vec![(0, 3_000), (1, 3_000), (2, 3_000)], (3, 3_000), otp),
        // One payment alone over the sum.
        (vec![], (0, 10_001), otp),
    ];
    for (before, (offset, amount), expect) in cases {
        let mut e = engine(VELOCITY);
        let payments: Vec<_> = before.iter().map(|(o, a)| pay(T0 + o, *a)).collect();
        approve_all(&mut e, &payments);
        let d = e.decide(&pay(T0 + offset, amount));
        assert_eq!(
            d.verdict, expect,
            "{before:?} then {offset} {amount}: {:?}",
            d.fired
        );
    }
}

#[test]
fn a_biometric_step_up_is_met_by_the_devices_own_check_and_an_otp_one_is_not() {
    // (amounts approved before, this payment's amount, verified on the device, expected)
    let otp = Verdict::StepUp {
        method: StepUpMethod::Otp,
        reason: ReasonCode::Velocity,
    };
    let three = [100, 100, 100];
    let cases: [(&[i64], i64, bool, Verdict); 5] = [
        (&three, 100, false, STEP_BIO),
        (&three, 100, true, Verdict::Approve),
        (&[], 10_001, false, otp),
        (&[], 10_001, true, otp),
        (&[], 100, true, Verdict::Approve),
    ];
    for (before, amount, verified, expect) in cases {
        let mut e = engine(VELOCITY);
        let payments: Vec<_> = (0..).zip(before).map(|(i, a)| pay(T0 + i, *a)).collect();
        approve_all(&mut e, &payments);
        let mut f = pay(T0 + 10, amount);
        f.biometric_verified = verified;
        let d = e.decide(&f);
        assert_eq!(
            d.verdict, expect,
            "{before:?} then {amount}, verified {verified}"
        );
        // Whatever the verdict, the rules that fired are explained.
        assert_eq!(d.fired.is_empty(), before.is_empty() && amount <= 10_000);
    }
}

#[test]
fn velocity_ignores_declined_payments_and_other_currencies() {
    let mut e = engine(VELOCITY);
    for i in 0..5 {
        e.record(&pay(T0 + i, 100), Outcome::Declined);
    }
    assert_eq!(e.decide(&pay(T0 + 10, 100)).verdict, Verdict::Approve);
    let mut usd = pay(T0, 9_000);
    usd.amount = Money::new(9_000, Currency::USD);
    e.record(&usd, Outcome::Approved);
    assert_eq!(e.decide(&pay(T0 + 10, 9_000)).verdict, Verdict::Approve);
}

const COOLING: &str = "
[[cooling_off]]
name = 'new-device'
subject = 'device'
period_secs = 86400
above = { CNY = '500.00' }
action = 'step_up_otp'

[[cooling_off]]
name = 'new-card'
subject = 'card'
period_secs = 3600
action = 'step_up_biometric'

[[cooling_off]]
name = 'new-binding'
subject = 'binding'
period_secs = 86400
above = { INR = '5000.00' }
action = 'decline'
";

#[test]
fn cooling_off_acts_on_new_devices_cards_and_bindings() {
    let hour = 60 * MIN;
    // (device age, card age, binding age, amount, currency), expected rules fired
    let cases: Vec<CoolingCase> = vec![
        (None, None, None, 100_000, Currency::CNY, vec![]),
        (Some(hour), None, None, 50_000, Currency::CNY, vec![]),
        (
            Some(hour),
            None,
            None,
            50_001,
            Currency::CNY,
            vec!["new-device"],
        ),
        (Some(24 * hour), None, None, 50_001, Currency::CNY, vec![]),
        // A device enrolled "in the future" (clock skew) is new.
        (
            Some(-hour),
            None,
            None,
            50_001,
            Currency::CNY,
            vec!["new-device"],
        ),
        // No threshold for the currency: every amount.
        (None, Some(MIN), None, 1, Currency::CNY, vec!["new-card"]),
        (None, Some(hour), None, 1, Currency::CNY, vec![]),
        (
            None,
            None,
            Some(hour),
            500_001,
            Currency::INR,
            vec!["new-binding"],
        ),
        (None, None, Some(hour), 500_000, Currency::INR, vec![]),
        // A device threshold in CNY only: an INR payment is acted on at any amount.
        (Some(hour), None, None, 1, Currency::INR, vec!["new-device"]),
    ];
    let e = engine(COOLING);
    for (dev, card, bind, minor, cur, expect) in cases {
        let now = T0;
        let mut f = pay(now, minor);
        f.amount = Money::new(minor, cur);
        f.device.as_mut().unwrap().enrolled_at_ms = dev.map(|a| now - a);
        f.card.as_mut().unwrap().added_at_ms = card.map(|a| now - a);
        f.upi = bind.map(|a| UpiFacts {
            vpa: "asha@paytap".into(),
            bound_at_ms: Some(now - a),
        });
        let d = e.decide(&f);
        let fired: Vec<&str> = d.fired.iter().map(|f| &*f.rule).collect();
        assert_eq!(fired, expect, "{dev:?} {card:?} {bind:?} {minor} {cur}");
    }
}

const TRAVEL: &str = "
[[travel]]
name = 'impossible-travel'
key = 'account'
max_speed_kmh = 900
min_distance_km = 100
horizon_secs = 86400
action = 'decline'
";

#[test]
fn impossible_travel_declines_a_payment_too_far_too_soon() {
    let near_beijing = (BEIJING.0 + 0.3, BEIJING.1);
    // (previous place, minutes later, this place, declined?)
    let cases = [
        (BEIJING, 10, SHANGHAI, true),
        (BEIJING, 0, SHANGHAI, true),
        // 1,067 km in three hours is 356 km/h: a flight.
        (BEIJING, 180, SHANGHAI, false),
        // 33 km is under the rule's minimum distance, however quick.
        (BEIJING, 1, near_beijing, false),
        // Beyond the horizon the old place is not compared.
        (BEIJING, 25 * 60, SHANGHAI, false),
    ];
    for (from, minutes, to, declined) in cases {
        let mut e = engine(TRAVEL);
        e.record(&at(pay(T0, 100), from), Outcome::Approved);
        let d = e.decide(&at(pay(T0 + minutes * MIN, 100), to));
        let expect = if declined {
            Verdict::Decline {
                reason: ReasonCode::ImpossibleTravel,
            }
        } else {
            Verdict::Approve
        };
        assert_eq!(d.verdict, expect, "{minutes} min: {:?}", d.fired);
        if declined {
            assert_eq!(d.verdict.response_code(), "59");
            assert!(d.fired[0].detail.contains("km/h"), "{}", d.fired[0].detail);
        }
    }
}

#[test]
fn impossible_travel_ignores_payments_without_a_valid_place() {
    let mut e = engine(TRAVEL);
    e.record(&at(pay(T0, 100), BEIJING), Outcome::Approved);
    assert_eq!(e.decide(&pay(T0 + MIN, 100)).verdict, Verdict::Approve);
    assert_eq!(
        e.decide(&at(pay(T0 + MIN, 100), (95.0, 0.0))).verdict,
        Verdict::Approve
    );
    // A declined payment's place is not where the account was.
    e.record(&at(pay(T0 + MIN, 100), SHANGHAI), Outcome::Declined);
    assert_eq!(
        e.decide(&at(pay(T0 + 2 * MIN, 100), BEIJING)).verdict,
        Verdict::Approve
    );
}

const UNUSUAL: &str = "
[[unusual_amount]]
name = 'far-above-history'
key = 'account'
multiple = 10
min_history = 5
floor = { CNY = '200.00' }
action = 'step_up_otp'
";

#[test]
fn an_amount_far_above_the_accounts_history_is_stepped_up() {
    // (approved history amounts, this amount, stepped up?)
    let cases: Vec<(Vec<i64>, i64, bool)> = vec![
        (vec![1_000; 5], 10_000, false),
        (vec![1_000; 5], 10_001, false), // below the floor of 200.00
        (vec![5_000; 5], 50_001, true),
        (vec![5_000; 5], 50_000, false),
        (vec![5_000; 4], 500_000, false), // too little history to judge
        (vec![100; 5], 20_001, true),     // the floor, not 10 x 1.00
    ];
    for (history, amount, stepped) in cases {
        let mut e = engine(UNUSUAL);
        let payments: Vec<_> = history
            .iter()
            .enumerate()
            .map(|(i, a)| pay(T0 + i as i64, *a))
            .collect();
        approve_all(&mut e, &payments);
        let d = e.decide(&pay(T0 + MIN, amount));
        assert_eq!(
            !d.fired.is_empty(),
            stepped,
            "{history:?} then {amount}: {:?}",
            d.fired
        );
    }
}

const DECLINES: &str = "
[[declines]]
name = 'card-declines'
key = 'card'
max_in_row = 3
action = 'decline'
";

#[test]
fn many_declines_in_a_row_decline_until_an_approval() {
    let mut e = engine(DECLINES);
    let declined = Verdict::Decline {
        reason: ReasonCode::DeclinesInRow,
    };
    for i in 0..3 {
        assert_eq!(
            e.decide(&pay(T0 + i, 100)).verdict,
            Verdict::Approve,
            "after {i}"
        );
        e.record(&pay(T0 + i, 100), Outcome::Declined);
    }
    assert_eq!(e.decide(&pay(T0 + 3, 100)).verdict, declined);
    // An approval (say, after the bank's own step-up) ends the run.
    e.record(&pay(T0 + 4, 100), Outcome::Approved);
    assert_eq!(e.decide(&pay(T0 + 5, 100)).verdict, Verdict::Approve);
    // Another card on the same device has its own count.
    for i in 0..3 {
        e.record(&pay(T0 + 10 + i, 100), Outcome::Declined);
    }
    let mut other = pay(T0 + 20, 100);
    other.card.as_mut().unwrap().fingerprint = "fp-b".into();
    assert_eq!(e.decide(&other).verdict, Verdict::Approve);
}

#[test]
fn blocklists_decline_devices_cards_upi_ids_and_merchants() {
    let toml =
        "[blocklist]\ndevices=['dev-x']\ncards=['fp-x']\nupi_ids=['mule@bank']\nmerchants=['m-x']";
    let e = engine(toml);
    let blocked = Verdict::Decline {
        reason: ReasonCode::Blocklisted,
    };
    let edits: [fn(&mut PaymentFacts); 5] = [
        |_| {},
        |f| f.device.as_mut().unwrap().id = "dev-x".into(),
        |f| f.card.as_mut().unwrap().fingerprint = "fp-x".into(),
        |f| {
            f.upi = Some(UpiFacts {
                vpa: "mule@bank".into(),
                bound_at_ms: None,
            })
        },
        |f| f.merchant.as_mut().unwrap().id = "m-x".into(),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut f = pay(T0, 100);
        edit(&mut f);
        let expect = if i == 0 { Verdict::Approve } else { blocked };
        let d = e.decide(&f);
        assert_eq!(d.verdict, expect, "case {i}");
        if i > 0 {
            assert_eq!(d.verdict.response_code(), "62");
        }
    }
}

#[test]
fn blocklists_change_at_run_time_and_refuse_card_numbers() {
    let mut e = engine("");
    assert_eq!(e.block(ListKind::Devices, "dev-a"), Ok(true));
    assert_eq!(e.block(ListKind::Devices, "dev-a"), Ok(false));
    assert!(matches!(
        e.decide(&pay(T0, 1)).verdict,
        Verdict::Decline { .. }
    ));
    assert!(e.unblock(ListKind::Devices, "dev-a"));
    assert_eq!(e.decide(&pay(T0, 1)).verdict, Verdict::Approve);
    assert_eq!(
        e.block(ListKind::Cards, "4761739001010119"),
        Err(BlockError::CardNumber)
    );
    assert_eq!(e.block(ListKind::Merchants, ""), Err(BlockError::Empty));
}

#[test]
fn a_shadow_rule_is_recorded_and_not_acted_on() {
    let toml = format!("{TRAVEL}shadow = true\n[blocklist]\nshadow = true\ndevices = ['dev-a']\n");
    let mut e = engine(&toml);
    e.record(&at(pay(T0, 100), BEIJING), Outcome::Approved);
    let d = e.decide(&at(pay(T0 + MIN, 100), SHANGHAI));
    assert_eq!(d.verdict, Verdict::Approve);
    let fired: Vec<(&str, Action, bool)> = d
        .fired
        .iter()
        .map(|f| (&*f.rule, f.action, f.shadow))
        .collect();
    assert_eq!(
        fired,
        [
            ("blocklist", Action::Decline, true),
            ("impossible-travel", Action::Decline, true)
        ]
    );
}

#[test]
fn the_strongest_action_wins_and_every_rule_is_explained() {
    let toml = format!("{VELOCITY}{DECLINES}");
    let mut e = engine(&toml);
    for i in 0..3 {
        e.record(&pay(T0 + i, 100), Outcome::Approved);
    }
    for i in 3..6 {
        e.record(&pay(T0 + i, 100), Outcome::Declined);
    }
    let d = e.decide(&pay(T0 + 7, 100));
    assert_eq!(
        d.verdict,
        Verdict::Decline {
            reason: ReasonCode::DeclinesInRow
        }
    );
    let rules: Vec<&str> = d.fired.iter().map(|f| &*f.rule).collect();
    assert_eq!(rules, ["card-3-per-minute", "card-declines"]);
    assert_eq!(d.fired[0].detail, "4 payments in 60 s (at most 3)");
}

#[test]
fn each_kind_remembers_at_most_its_configured_keys() {
    let mut e = engine(&format!("[limits]\nkeys_per_kind = 64\n{VELOCITY}"));
    for i in 0..1_000 {
        let mut f = pay(T0 + i, 100);
        f.card.as_mut().unwrap().fingerprint = format!("fp-{i}");
        e.record(&f, Outcome::Approved);
    }
    let (kept, evicted) = e.keys(KeyKind::Card);
    assert!(kept <= 64, "{kept}");
    assert_eq!(kept as u64 + evicted, 1_000);
    // The most recent key is kept.
    assert!(e.state(KeyKind::Card, "fp-999").is_some());
    // Kinds no rule reads keep nothing.
    assert_eq!(e.keys(KeyKind::Device), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The window counts exactly the approved payments in (now - window, now],
    /// whatever order they were recorded in, and the rule fires exactly when
    /// this payment would be one too many.
    #[test]
    fn velocity_windows_count_exactly_the_payments_in_the_window(
        events in proptest::collection::vec((0i64..600_000, 1i64..10_000), 0..200),
        window_secs in 1u32..300,
        max_count in 1u32..50,
        after in 0i64..400_000,
    ) {
        let toml = format!(
            "[[velocity]]\nname='v'\nkey='card'\nwindow_secs={window_secs}\nmax_count={max_count}\naction='decline'\n"
        );
        let mut e = engine(&toml);
        let payments: Vec<_> = events.iter().map(|(o, a)| pay(T0 + o, *a)).collect();
        approve_all(&mut e, &payments);
        let newest = events.iter().map(|(o, _)| *o).max().unwrap_or(0);
        let now = T0 + newest + after;
        let window = i64::from(window_secs) * 1000;
        let inside: Vec<_> = events.iter().filter(|(o, _)| T0 + o > now - window && T0 + o <= now).collect();
        let t = e.window_totals(KeyKind::Card, "fp-a", window, now, Currency::CNY);
        prop_assert_eq!(t.count as usize, inside.len());
        prop_assert_eq!(t.sum, inside.iter().map(|(_, a)| i128::from(*a)).sum::<i128>());
        prop_assert!(!t.saturated);
        let fires = inside.len() + 1 > max_count as usize;
        prop_assert_eq!(e.decide(&pay(now, 1)).verdict != Verdict::Approve, fires);
    }

    /// Running rules in shadow mode gives the same verdicts as not having
    /// them at all, over any stream of payments.
    #[test]
    fn shadow_rules_never_change_the_decision(
        shadow_mask in any::<u32>(),
        stream in proptest::collection::vec((0i64..120_000, 1i64..2_000_000, 0usize..3, 0usize..3, any::<bool>()), 1..80),
    ) {
        let all = RiskRules::default_rules();
        let mut with_shadow = all.clone();
        for (i, r) in with_shadow.rules.iter_mut().enumerate() {
            r.shadow = r.shadow || shadow_mask & (1 << (i % 32)) != 0;
        }
        let mut without = with_shadow.clone();
        without.rules.retain(|r| !r.shadow);
        let mut a = RiskEngine::new(with_shadow);
        let mut b = RiskEngine::new(without);
        let cities = [BEIJING, SHANGHAI, (22.5431, 114.0579)];
        let mut now = T0;
        for (step, minor, card, city, bank_declines) in stream {
            now += step;
            let mut f = at(pay(now, minor), cities[city]);
            f.card.as_mut().unwrap().fingerprint = format!("fp-{card}");
            f.card.as_mut().unwrap().added_at_ms = Some(T0);
            let da = a.decide(&f);
            let db = b.decide(&f);
            prop_assert_eq!(da.verdict, db.verdict);
            prop_assert!(da.fired.len() >= db.fired.len());
            let outcome = if bank_declines || matches!(da.verdict, Verdict::Decline { .. }) {
                Outcome::Declined
            } else {
                Outcome::Approved
            };
            a.record(&f, outcome);
            b.record(&f, outcome);
        }
    }
}
