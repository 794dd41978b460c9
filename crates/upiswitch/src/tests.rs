use super::*;
use paytap_upi::Vpa;
use paytap_upi::xml::*;

const NOW: i64 = 1_796_538_600_000;
const DAY: i64 = 86_400_000;

fn vpa(s: &str) -> Vpa {
    Vpa::new(s).unwrap()
}

fn account(ifsc: &str, n: &str) -> Account {
    Account {
        ifsc: Ifsc::new(ifsc).unwrap(),
        number: AccountNumber::new(n).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

fn asha() -> Party {
    let mut p = Party::person(vpa("asha@paytap"));
    p.account = Some(account("ICIC0000001", "100000000001"));
    p.creds = vec![Cred {
        kind: "PIN".into(),
        sub_type: "MPIN".into(),
        data: EncData {
            code: "NPCI".into(),
            ki: "1".into(),
            value: "AAAA".into(),
        },
    }];
    p
}

fn ravi() -> Party {
    Party::person(vpa("ravi@okhdfc"))
}

fn shop() -> Party {
    let mut p = Party::person(vpa("chai@payu"));
    p.kind = PartyType::Entity;
    p.code = Mcc::new("5814").unwrap();
    p
}

fn ravi_account() -> Account {
    account("HDFC0000002", "200000000002")
}

fn head(org: &str, msg: &str) -> Head {
    Head {
        ver: "2.0".into(),
        ts: Timestamp::from_unix_millis(NOW),
        org_id: OrgId::new(org).unwrap(),
        msg_id: MsgId::new(msg).unwrap(),
    }
}

fn req(id: &str, kind: TxnType, payer: Party, mut payee: Party, paise: u64) -> ReqPay {
    payee.amount = Some(Amount { paise });
    ReqPay {
        head: head("PAYTAP", &format!("M{id}")),
        txn: Txn::new(
            TxnId::new(id).unwrap(),
            Timestamp::from_unix_millis(NOW),
            kind,
        ),
        payer,
        payees: vec![payee],
    }
}

fn old_binding() -> PayerFacts {
    PayerFacts {
        bound_at: Some(NOW - 30 * DAY),
        p2p_paid_today: 0,
    }
}

fn pay(sw: &mut Switch, r: ReqPay, payee_account: Option<Account>) -> Vec<Action> {
    sw.handle(
        NOW,
        Event::Request {
            req: r,
            payee_account,
            payer: old_binding(),
        },
    )
    .unwrap()
}

fn switch() -> Switch {
    Switch::new(OrgId::new("NPCI").unwrap(), 1)
}

/// The messages sent, with where to.
fn sent(actions: &[Action]) -> Vec<(&Dest, &Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((to, msg)),
            _ => None,
        })
        .collect()
}

fn only_leg(actions: &[Action]) -> (&Dest, &ReqPay) {
    let s = sent(actions);
    assert_eq!(s.len(), 1, "{actions:#?}");
    let Message::ReqPay(m) = s[0].1 else {
        panic!("not a ReqPay: {:?}", s[0].1)
    };
    (s[0].0, m)
}

fn timer(actions: &[Action]) -> (i64, Timer) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::SetTimer { at, timer } => Some((*at, timer.clone())),
            _ => None,
        })
        .expect("a timer")
}

fn answer_leg(leg: &ReqPay, result: ResultCode, code: Option<&str>) -> Event {
    let mut resp = Resp::new(leg.head.msg_id.clone(), result);
    resp.err_code = code.map(|c| ErrCode::new(c).unwrap());
    Event::BankResponse(RespPay {
        head: head("BANK", "B1"),
        txn: leg.txn.clone(),
        resp,
    })
}

fn resp_of(actions: &[Action]) -> (ResultCode, Option<String>) {
    let s = sent(actions);
    let resp = s
        .iter()
        .find_map(|(_, m)| match m {
            Message::RespPay(r) => Some(&r.resp),
            _ => None,
        })
        .expect("a RespPay");
    (
        resp.result,
        resp.err_code.as_ref().map(|c| c.as_str().to_owned()),
    )
}

fn finished(actions: &[Action]) -> Option<&Outcome> {
    actions.iter().find_map(|a| match a {
        Action::Finished { outcome, .. } => Some(outcome),
        _ => None,
    })
}

fn code(s: &str) -> ErrCode {
    ErrCode::new(s).unwrap()
}

#[test]
fn a_p2p_payment_debits_then_credits() {
    let mut sw = switch();
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 25_050),
        Some(ravi_account()),
    );
    let (to, debit) = only_leg(&a);
    assert_eq!(*to, Dest::Bank("ICIC".into()));
    assert_eq!(debit.txn.kind, TxnType::Debit);
    let rrn = debit.txn.cust_ref.clone().expect("an RRN");
    assert_eq!(rrn.as_str().len(), 12);
    assert_eq!(
        debit.payer.creds.len(),
        1,
        "the PIN goes to the remitter bank"
    );
    assert_eq!(debit.payees[0].amount, Some(Amount { paise: 25_050 }));
    assert_eq!(timer(&a).0, NOW + crate::limits::DEBIT_TIMEOUT_MS);
    encode(&Message::ReqPay(debit.clone())).expect("the debit is a valid message");

    let a = sw
        .handle(NOW + 10, answer_leg(debit, ResultCode::Success, None))
        .unwrap();
    let (to, credit) = only_leg(&a);
    assert_eq!(*to, Dest::Bank("HDFC".into()));
    assert_eq!(credit.txn.kind, TxnType::Credit);
    assert_eq!(credit.txn.cust_ref.as_ref(), Some(&rrn));
    assert!(credit.payer.creds.is_empty(), "the PIN goes nowhere else");
    assert_eq!(credit.payees[0].account, Some(ravi_account()));

    let a = sw
        .handle(NOW + 20, answer_leg(credit, ResultCode::Success, None))
        .unwrap();
    assert_eq!(resp_of(&a), (ResultCode::Success, None));
    assert_eq!(
        sent(&a)[0].0,
        &Dest::Requester(OrgId::new("PAYTAP").unwrap())
    );
    assert_eq!(finished(&a), Some(&Outcome::Success));
    let Message::RespPay(r) = sent(&a)[0].1 else {
        unreachable!()
    };
    assert_eq!(r.resp.req_msg_id.as_str(), "MT1");
    assert_eq!(r.txn.cust_ref.as_ref(), Some(&rrn));
}

#[test]
fn a_declined_debit_passes_the_bank_code_on() {
    let mut sw = switch();
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 100),
        Some(ravi_account()),
    );
    let (_, debit) = only_leg(&a);
    let a = sw
        .handle(NOW, answer_leg(debit, ResultCode::Failure, Some("ZM")))
        .unwrap();
    assert_eq!(resp_of(&a), (ResultCode::Failure, Some("ZM".into())));
    assert_eq!(finished(&a), Some(&Outcome::Failed(code("ZM"))));
}

#[test]
fn a_refused_credit_reverses_the_debit() {
    let mut sw = switch();
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 100),
        Some(ravi_account()),
    );
    let (_, debit) = only_leg(&a);
    let a = sw
        .handle(NOW, answer_leg(debit, ResultCode::Success, None))
        .unwrap();
    let (_, credit) = only_leg(&a);
    let a = sw
        .handle(NOW, answer_leg(credit, ResultCode::Failure, Some("B1")))
        .unwrap();
    let (to, reversal) = only_leg(&a);
    assert_eq!(*to, Dest::Bank("ICIC".into()));
    assert_eq!(reversal.txn.kind, TxnType::Reversal);
    assert_eq!(reversal.txn.org_txn_id.as_ref().unwrap().as_str(), "T1");
    assert!(finished(&a).is_none());
    let a = sw
        .handle(NOW, answer_leg(reversal, ResultCode::Success, None))
        .unwrap();
    assert_eq!(
        resp_of(&a),
        (ResultCode::Failure, Some(codes::CREDIT_FAILED.into()))
    );
    assert_eq!(
        finished(&a),
        Some(&Outcome::Reversed(code(codes::CREDIT_FAILED)))
    );
}

#[test]
fn an_unanswered_credit_is_deemed_then_resolved_by_a_status_check() {
    for (check_result, expect) in [
        (ResultCode::Success, Outcome::Success),
        (
            ResultCode::Failure,
            Outcome::Reversed(code(codes::CREDIT_FAILED)),
        ),
    ] {
        let mut sw = switch();
        let a = pay(
            &mut sw,
            req("T1", TxnType::Pay, asha(), ravi(), 100),
            Some(ravi_account()),
        );
        let (_, debit) = only_leg(&a);
        let a = sw
            .handle(NOW, answer_leg(debit, ResultCode::Success, None))
            .unwrap();
        let (at, t) = timer(&a);
        let a = sw.handle(at, Event::Timer(t)).unwrap();
        assert_eq!(
            resp_of(&a),
            (ResultCode::Deemed, Some(codes::DEEMED.into()))
        );
        let s = sent(&a);
        let Message::ReqChkTxn(chk) = s[1].1 else {
            panic!("{s:?}")
        };
        assert_eq!(s[1].0, &Dest::Bank("HDFC".into()));
        assert_eq!(chk.txn.org_txn_id.as_ref().unwrap().as_str(), "T1");
        assert_eq!(chk.txn.sub_type, Some(TxnType::Credit));
        // Not known yet: asked again when the timer fires.
        let mut resp = Resp::new(chk.head.msg_id.clone(), ResultCode::Deemed);
        resp.err_code = Some(code("RB"));
        let unknown = RespChkTxn {
            head: head("HDFC", "H1"),
            txn: chk.txn.clone(),
            resp,
        };
        assert_eq!(
            sw.handle(at, Event::CheckResponse(unknown)).unwrap(),
            vec![]
        );
        let (at2, t2) = timer(&a);
        let a = sw.handle(at2, Event::Timer(t2)).unwrap();
        let Message::ReqChkTxn(chk) = sent(&a)[0].1 else {
            panic!()
        };
        let mut resp = Resp::new(chk.head.msg_id.clone(), check_result);
        if check_result == ResultCode::Failure {
            resp.err_code = Some(code("B1"));
        }
        let known = RespChkTxn {
            head: head("HDFC", "H2"),
            txn: chk.txn.clone(),
            resp,
        };
        let a = sw.handle(at2, Event::CheckResponse(known)).unwrap();
        let a = if check_result == ResultCode::Failure {
            let (_, reversal) = only_leg(&a);
            sw.handle(at2, answer_leg(reversal, ResultCode::Success, None))
                .unwrap()
        } else {
            a
        };
        assert_eq!(finished(&a), Some(&expect));
        assert!(
            sent(&a).is_empty(),
            "the requester was answered DEEMED already"
        );
        // A repeat of the request learns the final answer.
        let a = pay(
            &mut sw,
            req("T1", TxnType::Pay, asha(), ravi(), 100),
            Some(ravi_account()),
        );
        assert_eq!(resp_of(&a).0, expect.result().0);
    }
}

#[test]
fn an_unanswered_debit_is_reversed_until_the_reversal_lands() {
    let mut sw = switch();
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 100),
        Some(ravi_account()),
    );
    let (_, debit) = only_leg(&a);
    let debit = debit.clone();
    let (at, t) = timer(&a);
    let a = sw.handle(at, Event::Timer(t.clone())).unwrap();
    let (_, reversal) = only_leg(&a);
    assert_eq!(reversal.txn.kind, TxnType::Reversal);
    // The debit's late answer changes nothing: the reversal undoes it.
    assert_eq!(
        sw.handle(at, answer_leg(&debit, ResultCode::Success, None)),
        Err(SwitchError::Unexpected {
            leg: "DEBIT",
            state: "reversing"
        })
    );
    // The old timer is outlived.
    assert_eq!(sw.handle(at, Event::Timer(t)).unwrap(), vec![]);
    let (at2, t2) = timer(&a);
    let a = sw.handle(at2, Event::Timer(t2)).unwrap();
    let (_, again) = only_leg(&a);
    assert_eq!(again.txn.kind, TxnType::Reversal);
    let a = sw
        .handle(at2, answer_leg(again, ResultCode::Success, None))
        .unwrap();
    assert_eq!(
        finished(&a),
        Some(&Outcome::Reversed(code(codes::DEBIT_TIMEOUT)))
    );
    assert_eq!(
        resp_of(&a),
        (ResultCode::Failure, Some(codes::DEBIT_TIMEOUT.into()))
    );
}

#[test]
fn a_transaction_id_is_debited_once() {
    let mut sw = switch();
    let r = req("T1", TxnType::Pay, asha(), ravi(), 100);
    let a = pay(&mut sw, r.clone(), Some(ravi_account()));
    let (_, debit) = only_leg(&a);
    let debit = debit.clone();
    // In flight: the repeat waits for the answer the first will get.
    assert_eq!(pay(&mut sw, r.clone(), Some(ravi_account())), vec![]);
    // Another request under the same id is refused, and changes nothing.
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 999),
        Some(ravi_account()),
    );
    assert_eq!(
        resp_of(&a),
        (ResultCode::Failure, Some(codes::DUPLICATE_TXN_ID.into()))
    );
    assert!(finished(&a).is_none());
    let a = sw
        .handle(NOW, answer_leg(&debit, ResultCode::Success, None))
        .unwrap();
    let (_, credit) = only_leg(&a);
    sw.handle(NOW, answer_leg(credit, ResultCode::Success, None))
        .unwrap();
    // Done: the repeat gets the same answer, and no leg is sent.
    let a = pay(&mut sw, r, Some(ravi_account()));
    assert_eq!(resp_of(&a), (ResultCode::Success, None));
    assert_eq!(sent(&a).len(), 1);
    assert!(finished(&a).is_none());
}

#[test]
fn payment_limits() {
    let check =
        |paise: u64, payee: Party, bound_days_ago: i64, paid_today: u64, expect: Option<&str>| {
            let mut sw = switch();
            let facts = PayerFacts {
                bound_at: Some(NOW - bound_days_ago * DAY / 24),
                p2p_paid_today: paid_today,
            };
            let r = req("T1", TxnType::Pay, asha(), payee, paise);
            let a = sw
                .handle(
                    NOW,
                    Event::Request {
                        req: r,
                        payee_account: Some(ravi_account()),
                        payer: facts,
                    },
                )
                .unwrap();
            match expect {
                None => assert_eq!(only_leg(&a).1.txn.kind, TxnType::Debit, "{paise}"),
                Some(c) => assert_eq!(finished(&a), Some(&Outcome::Failed(code(c))), "{paise}"),
            }
        };
    // (amount in paise, payee, hours since binding, paid to people today, refusal)
    let z8 = Some(codes::LIMIT_EXCEEDED);
    check(1_00_000_00, ravi(), 48, 0, None);
    check(1_00_000_01, ravi(), 48, 0, z8);
    check(60_000_00, ravi(), 48, 40_000_00, None);
    check(60_000_00, ravi(), 48, 40_000_01, z8);
    check(2_00_000_00, shop(), 48, 0, None);
    check(2_00_000_01, shop(), 48, 0, z8);
    check(1_50_000_00, shop(), 48, 1_00_000_00, None);
    check(5_000_00, ravi(), 23, 0, None);
    check(5_000_01, ravi(), 23, 0, z8);
    check(5_000_01, shop(), 23, 0, z8);
    check(5_000_01, ravi(), 24, 0, None);
}

#[test]
fn requests_the_switch_refuses() {
    let refused = |r: ReqPay, account: Option<Account>, expect: &str| {
        let mut sw = switch();
        let a = pay(&mut sw, r, account);
        assert_eq!(resp_of(&a), (ResultCode::Failure, Some(expect.into())));
        assert_eq!(finished(&a), Some(&Outcome::Failed(code(expect))));
        assert!(
            sent(&a)
                .iter()
                .all(|(to, _)| matches!(to, Dest::Requester(_))),
            "no bank is asked"
        );
    };
    refused(
        req("T1", TxnType::Pay, asha(), ravi(), 100),
        None,
        codes::INVALID_ADDRESS,
    );
    refused(
        req("T1", TxnType::Pay, asha(), ravi(), 0),
        Some(ravi_account()),
        codes::BAD_REQUEST,
    );
    refused(
        req("T1", TxnType::Pay, asha(), asha(), 100),
        Some(ravi_account()),
        codes::BAD_REQUEST,
    );
    refused(
        req("T1", TxnType::Debit, asha(), ravi(), 100),
        Some(ravi_account()),
        codes::BAD_REQUEST,
    );
    let mut no_account = asha();
    no_account.account = None;
    refused(
        req("T1", TxnType::Pay, no_account, ravi(), 100),
        Some(ravi_account()),
        codes::BAD_REQUEST,
    );
    let mut differ = req("T1", TxnType::Pay, asha(), ravi(), 100);
    differ.payer.amount = Some(Amount { paise: 99 });
    refused(differ, Some(ravi_account()), codes::BAD_REQUEST);
    let mut two = req("T1", TxnType::Pay, asha(), ravi(), 100);
    two.payees.push(two.payees[0].clone());
    refused(two, Some(ravi_account()), codes::BAD_REQUEST);
    // Only merchants collect.
    refused(
        req("T1", TxnType::Collect, asha(), ravi(), 100),
        Some(ravi_account()),
        codes::P2P_COLLECT_REFUSED,
    );
    let mut person_code = shop();
    person_code.code = Mcc::person();
    refused(
        req("T1", TxnType::Collect, asha(), person_code, 100),
        Some(ravi_account()),
        codes::P2P_COLLECT_REFUSED,
    );
    refused(
        req("T1", TxnType::Refund, shop_payer(), ravi(), 100),
        Some(ravi_account()),
        codes::REFUND_REFUSED,
    );
}

fn shop_payer() -> Party {
    let mut p = shop();
    p.account = Some(account("HDFC0000009", "900000000009"));
    p
}

fn collect(sw: &mut Switch, id: &str, minutes: Option<u32>) -> Vec<Action> {
    let mut r = req(
        id,
        TxnType::Collect,
        Party::person(vpa("asha@paytap")),
        shop(),
        5_000,
    );
    r.txn.expire_after_minutes = minutes;
    r.head.org_id = OrgId::new("PAYU").unwrap();
    pay(sw, r, Some(account("HDFC0000009", "900000000009")))
}

#[test]
fn a_merchant_collect_waits_for_the_payer() {
    let mut sw = switch();
    let a = collect(&mut sw, "C1", Some(10));
    let (to, ask) = only_leg(&a);
    assert_eq!(*to, Dest::Psp("paytap".into()));
    assert_eq!(ask.txn.kind, TxnType::Collect);
    assert_eq!(timer(&a).0, NOW + 10 * 60_000);
    let id = TxnId::new("C1").unwrap();
    let a = sw
        .handle(
            NOW + 1000,
            Event::CollectApproved {
                txn_id: id.clone(),
                payer: asha(),
                facts: old_binding(),
            },
        )
        .unwrap();
    let (to, debit) = only_leg(&a);
    assert_eq!(*to, Dest::Bank("ICIC".into()));
    assert_eq!(debit.txn.kind, TxnType::Debit);
    assert_eq!(debit.payer.creds.len(), 1);
    // A second decision finds nothing to decide.
    assert_eq!(
        sw.handle(NOW + 2000, Event::CollectDeclined { txn_id: id }),
        Err(SwitchError::Unexpected {
            leg: "COLLECT",
            state: "debiting"
        })
    );
}

#[test]
fn a_collect_declined_or_expired_moves_nothing() {
    let mut sw = switch();
    collect(&mut sw, "C1", None);
    let a = sw
        .handle(
            NOW,
            Event::CollectDeclined {
                txn_id: TxnId::new("C1").unwrap(),
            },
        )
        .unwrap();
    assert_eq!(
        finished(&a),
        Some(&Outcome::Failed(code(codes::COLLECT_DECLINED)))
    );
    assert_eq!(sent(&a)[0].0, &Dest::Requester(OrgId::new("PAYU").unwrap()));

    let a = collect(&mut sw, "C2", None);
    let (at, t) = timer(&a);
    assert_eq!(
        at,
        NOW + i64::from(crate::limits::DEFAULT_COLLECT_EXPIRY_MINUTES) * 60_000
    );
    let a = sw.handle(at, Event::Timer(t)).unwrap();
    assert_eq!(
        finished(&a),
        Some(&Outcome::Failed(code(codes::COLLECT_EXPIRED)))
    );

    // Approved after its expiry, before the timer fired: expired all the same.
    collect(&mut sw, "C3", Some(1));
    let late = Event::CollectApproved {
        txn_id: TxnId::new("C3").unwrap(),
        payer: asha(),
        facts: old_binding(),
    };
    let a = sw.handle(NOW + 60_000, late).unwrap();
    assert_eq!(
        finished(&a),
        Some(&Outcome::Failed(code(codes::COLLECT_EXPIRED)))
    );

    // Approved by someone else, or over the new binding's cap: refused.
    collect(&mut sw, "C4", None);
    let mut other = asha();
    other.addr = vpa("mallory@paytap");
    let a = sw
        .handle(
            NOW,
            Event::CollectApproved {
                txn_id: TxnId::new("C4").unwrap(),
                payer: other,
                facts: old_binding(),
            },
        )
        .unwrap();
    assert_eq!(
        finished(&a),
        Some(&Outcome::Failed(code(codes::BAD_REQUEST)))
    );
}

/// Pay `paise` from asha to the shop and see it through.
fn paid(sw: &mut Switch, id: &str, paise: u64) {
    let a = pay(
        sw,
        req(id, TxnType::Pay, asha(), shop(), paise),
        Some(account("HDFC0000009", "900000000009")),
    );
    let (_, debit) = only_leg(&a);
    let a = sw
        .handle(NOW, answer_leg(debit, ResultCode::Success, None))
        .unwrap();
    let (_, credit) = only_leg(&a);
    let a = sw
        .handle(NOW, answer_leg(credit, ResultCode::Success, None))
        .unwrap();
    assert_eq!(finished(&a), Some(&Outcome::Success));
}

fn refund(sw: &mut Switch, id: &str, of: &str, paise: u64) -> Vec<Action> {
    let mut r = req(
        id,
        TxnType::Refund,
        shop_payer(),
        Party::person(vpa("asha@paytap")),
        paise,
    );
    r.txn.org_txn_id = Some(TxnId::new(of).unwrap());
    pay(sw, r, Some(account("ICIC0000001", "100000000001")))
}

#[test]
fn refunds_follow_their_payment() {
    let mut sw = switch();
    paid(&mut sw, "P1", 10_000);
    let refused = |a: &[Action]| finished(a) == Some(&Outcome::Failed(code(codes::REFUND_REFUSED)));
    assert!(refused(&refund(&mut sw, "R0", "NOPE", 100)));
    assert!(refused(&refund(&mut sw, "R1", "P1", 10_001)));
    let a = refund(&mut sw, "R2", "P1", 6_000);
    let (to, debit) = only_leg(&a);
    assert_eq!(
        *to,
        Dest::Bank("HDFC".into()),
        "the merchant's bank is debited"
    );
    let debit = debit.clone();
    // 6,000 of 10,000 are being refunded: 4,001 more is too much.
    assert!(refused(&refund(&mut sw, "R3", "P1", 4_001)));
    // The refund fails: its 6,000 are refundable again.
    let a = sw
        .handle(NOW, answer_leg(&debit, ResultCode::Failure, Some("Z9")))
        .unwrap();
    assert_eq!(finished(&a), Some(&Outcome::Failed(code("Z9"))));
    assert_eq!(
        sw.transaction(&TxnId::new("P1").unwrap()).unwrap().refunded,
        0
    );
    let a = refund(&mut sw, "R4", "P1", 10_000);
    assert_eq!(only_leg(&a).1.txn.kind, TxnType::Debit);
    // A refund of a failed payment, or from someone who was not paid, is refused.
    let a = pay(&mut sw, req("P2", TxnType::Pay, asha(), shop(), 100), None);
    assert!(finished(&a).is_some());
    assert!(refused(&refund(&mut sw, "R5", "P2", 100)));
}

#[test]
fn a_psp_asks_for_the_status() {
    let mut sw = switch();
    let a = pay(
        &mut sw,
        req("T1", TxnType::Pay, asha(), ravi(), 100),
        Some(ravi_account()),
    );
    let debit = only_leg(&a).1.clone();
    let ask = |sw: &mut Switch, of: &str| {
        let mut txn = Txn::new(
            TxnId::new("Q1").unwrap(),
            Timestamp::from_unix_millis(NOW),
            TxnType::ChkTxn,
        );
        txn.org_txn_id = Some(TxnId::new(of).unwrap());
        let a = sw
            .handle(
                NOW,
                Event::StatusRequest(ReqChkTxn {
                    head: head("PAYTAP", "Q1"),
                    txn,
                }),
            )
            .unwrap();
        let Message::RespChkTxn(r) = sent(&a)[0].1 else {
            panic!()
        };
        (
            r.resp.result,
            r.resp.err_code.as_ref().map(|c| c.as_str().to_owned()),
        )
    };
    assert_eq!(
        ask(&mut sw, "T1"),
        (ResultCode::Deemed, Some(codes::DEEMED.into()))
    );
    assert_eq!(
        ask(&mut sw, "T9"),
        (ResultCode::Failure, Some(codes::UNKNOWN_TXN.into()))
    );
    sw.handle(NOW, answer_leg(&debit, ResultCode::Failure, Some("ZM")))
        .unwrap();
    assert_eq!(ask(&mut sw, "T1"), (ResultCode::Failure, Some("ZM".into())));
    assert!(sw.forget(&TxnId::new("T1").unwrap()).is_some());
}

#[test]
fn answers_for_unknown_transactions_are_reported() {
    let mut sw = switch();
    let mut leg = req("T1", TxnType::Pay, asha(), ravi(), 100);
    leg.txn.kind = TxnType::Debit;
    assert_eq!(
        sw.handle(NOW, answer_leg(&leg, ResultCode::Success, None)),
        Err(SwitchError::UnknownTransaction)
    );
    assert_eq!(
        sw.handle(
            NOW,
            Event::CollectDeclined {
                txn_id: TxnId::new("T1").unwrap()
            }
        ),
        Err(SwitchError::UnknownTransaction)
    );
}
