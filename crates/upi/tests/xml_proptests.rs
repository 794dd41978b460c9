//! Property tests of the UPI XML codec: any valid message encodes and decodes to
//! itself; arbitrary and mutated input never panics.
use paytap_upi::Vpa;
use paytap_upi::xml::*;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,35}"
}

fn ts() -> impl Strategy<Value = Timestamp> {
    (0i64..4_102_444_800_000).prop_map(Timestamp::from_unix_millis)
}

fn head() -> impl Strategy<Value = Head> {
    (ts(), "[A-Z0-9]{1,20}", id()).prop_map(|(ts, org, msg)| Head {
        ver: "2.0".into(),
        ts,
        org_id: OrgId::new(&org).unwrap(),
        msg_id: MsgId::new(&msg).unwrap(),
    })
}

fn txn_type() -> impl Strategy<Value = TxnType> {
    prop_oneof![
        Just(TxnType::Pay),
        Just(TxnType::Collect),
        Just(TxnType::Debit),
        Just(TxnType::Credit),
        Just(TxnType::Reversal),
        Just(TxnType::Refund),
        Just(TxnType::ChkTxn),
        Just(TxnType::BalEnq),
    ]
}

/// Text with no control characters and no outer whitespace.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[^\\p{{Cc}}\\s]([^\\p{{Cc}}]{{0,{}}}[^\\p{{Cc}}\\s])?",
        max.saturating_sub(2)
    ))
    .unwrap()
}

fn txn() -> BoxedStrategy<Txn> {
    (
        id(),
        ts(),
        txn_type(),
        proptest::option::of(text(50)),
        proptest::option::of("[A-Za-z0-9-]{1,35}"),
        proptest::option::of("[0-9]{12}"),
        proptest::option::of(id()),
        proptest::option::of(1u32..=64_800),
        proptest::option::of(txn_type()),
    )
        .prop_map(|(id, ts, kind, note, ref_id, rrn, org, expire, sub)| {
            let mut t = Txn::new(TxnId::new(&id).unwrap(), ts, kind);
            t.note = note;
            t.ref_id = ref_id;
            t.cust_ref = rrn.as_deref().map(|r| Rrn::new(r).unwrap());
            t.org_rrn = t.cust_ref.clone();
            t.org_txn_id = org.map(|o| TxnId::new(&o).unwrap());
            t.expire_after_minutes = expire;
            t.sub_type = sub;
            t
        })
        .boxed()
}

fn party() -> BoxedStrategy<Party> {
    (
        "[a-zA-Z0-9._-]{1,30}@[a-z][a-z0-9]{0,10}",
        proptest::option::of(text(99)),
        1u32..999,
        any::<bool>(),
        "[0-9]{4}",
        proptest::option::of(("[A-Z]{4}0[A-Z0-9]{6}", "[0-9]{6,20}")),
        proptest::option::of("[A-Za-z0-9+/]{4,64}"),
        proptest::option::of(0u64..10_000_000_000_000),
        proptest::collection::vec(
            (
                "[A-Za-z]{1,20}",
                "[ -~]{0,40}".prop_map(|s| s.trim().to_owned()),
            ),
            0..3,
        ),
    )
        .prop_map(|(addr, name, seq, entity, code, ac, pin, paise, device)| {
            let mut p = Party::person(Vpa::new(&addr).unwrap());
            p.name = name;
            p.seq_num = seq;
            if entity {
                p.kind = PartyType::Entity;
            }
            p.code = Mcc::new(&code).unwrap();
            p.account = ac.map(|(ifsc, n)| Account {
                ifsc: Ifsc::new(&ifsc).unwrap(),
                number: AccountNumber::new(&n).unwrap(),
                kind: Some("SAVINGS".into()),
            });
            p.creds = pin
                .into_iter()
                .map(|v| Cred {
                    kind: "PIN".into(),
                    sub_type: "MPIN".into(),
                    data: EncData {
                        code: "NPCI".into(),
                        ki: "20261201".into(),
                        value: v,
                    },
                })
                .collect();
            p.amount = paise.map(|paise| Amount { paise });
            p.device = device;
            p
        })
        .boxed()
}

fn resp() -> impl Strategy<Value = Resp> {
    (
        id(),
        0u8..3,
        "[A-Z0-9]{1,4}",
        proptest::option::of("[A-Z0-9]{6}"),
    )
        .prop_map(|(m, r, code, approval)| {
            let result = [ResultCode::Success, ResultCode::Failure, ResultCode::Deemed][r as usize];
            let mut resp = Resp::new(MsgId::new(&m).unwrap(), result);
            if result != ResultCode::Success {
                resp.err_code = Some(ErrCode::new(&code).unwrap());
            }
            resp.approval_num = approval;
            resp
        })
}

fn message() -> BoxedStrategy<Message> {
    prop_oneof![
        (
            head(),
            txn(),
            party(),
            proptest::collection::vec(party(), 1..4)
        )
            .prop_map(|(head, txn, payer, payees)| Message::ReqPay(ReqPay {
                head,
                txn,
                payer,
                payees
            }))
            .boxed(),
        (head(), txn(), resp())
            .prop_map(|(head, txn, resp)| Message::RespPay(RespPay { head, txn, resp }))
            .boxed(),
        (head(), txn(), party(), party())
            .prop_map(|(head, txn, payer, payee)| {
                Message::ReqValAdd(ReqValAdd {
                    head,
                    txn,
                    payer,
                    payee,
                })
            })
            .boxed(),
        (head(), txn(), id())
            .prop_map(|(head, mut txn, org)| {
                txn.org_txn_id = Some(TxnId::new(&org).unwrap());
                Message::ReqChkTxn(ReqChkTxn { head, txn })
            })
            .boxed(),
        (head(), txn(), resp())
            .prop_map(|(head, txn, resp)| Message::RespChkTxn(RespChkTxn { head, txn, resp }))
            .boxed(),
        (head(), txn(), party())
            .prop_map(|(head, txn, payer)| Message::ReqBalEnq(ReqBalEnq { head, txn, payer }))
            .boxed(),
        (id(), ts(), proptest::option::of("[A-Z0-9]{1,4}")).prop_map(|(m, ts, err)| Message::Ack(
            Ack {
                api: "RespPay".into(),
                req_msg_id: MsgId::new(&m).unwrap(),
                err: err.map(|e| ErrCode::new(&e).unwrap()),
                ts,
            }
        )),
    ]
    .boxed()
}

proptest! {
    #[test]
    fn messages_round_trip(msg in message()) {
        let xml = encode(&msg).unwrap();
        prop_assert_eq!(decode(xml.as_bytes()).unwrap(), msg);
    }

    #[test]
    fn mutated_messages_never_panic(msg in message(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut xml = encode(&msg).unwrap().into_bytes();
        let i = at.index(xml.len());
        if cut {
            xml.truncate(i);
        } else {
            xml[i] = byte;
        }
        let _ = decode(&xml);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes);
    }
}
