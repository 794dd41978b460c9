use super::*;
use crate::Vpa;

const REQ_PAY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:ReqPay xmlns:ns2="http://npci.org/upi/schema/" xmlns:ns3="http://npci.org/cm/schema/">
  <Head ver="2.0" ts="2026-12-06T10:30:00.000+05:30" orgId="400021" msgId="PTP8f3a9c2d41e0"/>
  <Meta><Tag name="PAYREQSTART" value="2026-12-06T10:29:58+05:30"/></Meta>
  <Txn id="PTP0a1b2c3d4e5f60718293a4b5c6d7e8f9" note="Dinner &amp; chai" refId="ORDER-77"
       refUrl="https://shop.example/o/77" ts="2026-12-06T10:30:00.000+05:30" type="PAY"
       custRef="634010000123">
    <RiskScores/>
  </Txn>
  <Payer addr="asha@paytap" name="Asha Rao" seqNum="1" type="PERSON" code="0000">
    <Info><Identity id="x" type="ACCOUNT"/></Info>
    <Device>
      <Tag name="MOBILE" value="919800000001"/>
      <Tag name="APP" value="com.paytap"/>
    </Device>
    <Ac addrType="ACCOUNT">
      <Detail name="IFSC" value="ICIC0000123"/>
      <Detail name="ACNUM" value="012345678901"/>
      <Detail name="ACTYPE" value="SAVINGS"/>
    </Ac>
    <Creds>
      <Cred type="PIN" subType="MPIN"><Data code="NPCI" ki="20261201">q83vEjRWeJA=</Data></Cred>
    </Creds>
    <Amount value="250.50" curr="INR"/>
  </Payer>
  <Payees>
    <Payee addr="ravi@okhdfc" name="Ravi" seqNum="1" type="PERSON" code="0000">
      <Amount value="250.50" curr="INR"/>
    </Payee>
  </Payees>
</ns2:ReqPay>"#;

fn ts() -> Timestamp {
    Timestamp::new("2026-12-06T10:30:00+05:30").unwrap()
}

fn head(id: &str) -> Head {
    Head {
        ver: "2.0".into(),
        ts: ts(),
        org_id: OrgId::new("400021").unwrap(),
        msg_id: MsgId::new(id).unwrap(),
    }
}

fn txn(kind: TxnType) -> Txn {
    let mut t = Txn::new(TxnId::new("PTP0001").unwrap(), ts(), kind);
    t.cust_ref = Some(Rrn::new("634010000123").unwrap());
    t
}

#[test]
fn decode_npci_shaped_req_pay() {
    let Message::ReqPay(m) = decode(REQ_PAY.as_bytes()).unwrap() else {
        panic!("not a ReqPay");
    };
    assert_eq!(m.head.msg_id.as_str(), "PTP8f3a9c2d41e0");
    assert_eq!(m.txn.kind, TxnType::Pay);
    assert_eq!(m.txn.note.as_deref(), Some("Dinner & chai"));
    assert_eq!(m.txn.cust_ref.as_ref().unwrap().as_str(), "634010000123");
    assert_eq!(m.payer.addr.as_str(), "asha@paytap");
    assert_eq!(m.payer.amount, Some(Amount { paise: 25050 }));
    let ac = m.payer.account.as_ref().unwrap();
    assert_eq!(ac.ifsc.bank(), "ICIC");
    assert_eq!(ac.number.as_str(), "012345678901");
    assert_eq!(m.payer.creds[0].data.ki, "20261201");
    assert_eq!(m.payer.device[0], ("MOBILE".into(), "919800000001".into()));
    assert_eq!(m.payees.len(), 1);
    assert_eq!(m.payees[0].addr.as_str(), "ravi@okhdfc");
    // And it writes back to something that reads as the same message.
    let msg = Message::ReqPay(m);
    let xml = encode(&msg).unwrap();
    assert!(xml.contains(r#"<upi:ReqPay xmlns:upi="http://npci.org/upi/schema/">"#));
    assert_eq!(decode(xml.as_bytes()).unwrap(), msg);
}

#[test]
fn unprefixed_root_in_the_namespace_is_read() {
    let xml = r#"<Ack xmlns="http://npci.org/upi/schema/" api="ReqPay" reqMsgId="M1" ts="2026-12-06T10:30:00+05:30"/>"#;
    let Message::Ack(a) = decode(xml.as_bytes()).unwrap() else {
        panic!("not an Ack");
    };
    assert_eq!(a.api, "ReqPay");
    assert_eq!(a.err, None);
}

fn every_message() -> Vec<Message> {
    let mut payer = Party::person(Vpa::new("asha@paytap").unwrap());
    payer.account = Some(Account {
        ifsc: Ifsc::new("ICIC0000123").unwrap(),
        number: AccountNumber::new("012345678901").unwrap(),
        kind: None,
    });
    payer.creds = vec![Cred {
        kind: "PIN".into(),
        sub_type: "MPIN".into(),
        data: EncData {
            code: "NPCI".into(),
            ki: "20261201".into(),
            value: "AAEC".into(),
        },
    }];
    payer.amount = Some(Amount { paise: 100 });
    let mut shop = Party::person(Vpa::new("shop@payu").unwrap());
    shop.kind = PartyType::Entity;
    shop.code = Mcc::new("5411").unwrap();
    shop.name = Some("Corner <Shop> & \"Co\"".into());
    let mut collect = txn(TxnType::Collect);
    collect.expire_after_minutes = Some(30);
    let mut chk = txn(TxnType::ChkTxn);
    chk.org_txn_id = Some(TxnId::new("PTP0000").unwrap());
    chk.sub_type = Some(TxnType::Credit);
    let mut failed = Resp::new(MsgId::new("M1").unwrap(), ResultCode::Failure);
    failed.err_code = Some(ErrCode::new("U30").unwrap());
    let mut ok = Resp::new(MsgId::new("M1").unwrap(), ResultCode::Success);
    ok.approval_num = Some("A12345".into());
    ok.mask_name = Some("A*** R**".into());
    vec![
        Message::ReqPay(ReqPay {
            head: head("M1"),
            txn: collect,
            payer: payer.clone(),
            payees: vec![shop.clone()],
        }),
        Message::RespPay(RespPay {
            head: head("M2"),
            txn: txn(TxnType::Pay),
            resp: failed.clone(),
        }),
        Message::ReqValAdd(ReqValAdd {
            head: head("M3"),
            txn: txn(TxnType::ValAdd),
            payer: payer.clone(),
            payee: shop.clone(),
        }),
        Message::RespValAdd(RespValAdd {
            head: head("M4"),
            txn: txn(TxnType::ValAdd),
            resp: ok.clone(),
            code: Some(Mcc::new("5411").unwrap()),
            kind: Some(PartyType::Entity),
            ifsc: Some(Ifsc::new("HDFC0001234").unwrap()),
        }),
        Message::ReqChkTxn(ReqChkTxn {
            head: head("M5"),
            txn: chk.clone(),
        }),
        Message::RespChkTxn(RespChkTxn {
            head: head("M6"),
            txn: chk,
            resp: Resp::new(MsgId::new("M5").unwrap(), ResultCode::Deemed),
        }),
        Message::ReqListKeys(ReqListKeys {
            head: head("M7"),
            txn: txn(TxnType::ListKeys),
        }),
        Message::RespListKeys(RespListKeys {
            head: head("M8"),
            txn: txn(TxnType::ListKeys),
            resp: ok.clone(),
            keys: vec![Key {
                code: "NPCI".into(),
                owner: "NPCI".into(),
                kind: "PKI".into(),
                ki: "20261201".into(),
                value: "MCowBQYDK2VuAyEA".into(),
            }],
        }),
        Message::ReqBalEnq(ReqBalEnq {
            head: head("M9"),
            txn: txn(TxnType::BalEnq),
            payer: payer.clone(),
        }),
        Message::RespBalEnq(RespBalEnq {
            head: head("M10"),
            txn: txn(TxnType::BalEnq),
            resp: ok,
            payer,
            balance: Some(EncData {
                code: "ICIC".into(),
                ki: "1".into(),
                value: "AAEC".into(),
            }),
        }),
        Message::Ack(Ack {
            api: "ReqPay".into(),
            req_msg_id: MsgId::new("M1").unwrap(),
            err: Some(ErrCode::new("XB").unwrap()),
            ts: ts(),
        }),
    ]
}

#[test]
fn every_message_round_trips() {
    for msg in every_message() {
        let xml = encode(&msg).unwrap();
        assert_eq!(decode(xml.as_bytes()).unwrap(), msg, "{xml}");
    }
}

#[test]
fn encode_refuses_what_decode_would() {
    let mut msgs = every_message();
    let Message::ReqPay(m) = &mut msgs[0] else {
        unreachable!()
    };
    m.txn.note = Some("line\nbreak".into());
    assert!(matches!(
        encode(&msgs[0]),
        Err(XmlError::Invalid {
            field: "Txn@note",
            ..
        })
    ));
}

/// A `ReqPay` with one attribute or element replaced.
fn req_pay_with(from: &str, to: &str) -> String {
    assert!(REQ_PAY.contains(from), "{from}");
    REQ_PAY.replacen(from, to, 1)
}

fn check(input: &str, expect: XmlError) {
    let got = decode(input.as_bytes());
    if got != Err(expect.clone()) {
        eprintln!("MISMATCH {input}\n   got {got:?}\n  want {expect:?}");
        FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    use XmlError::*;
    let inv = |field, reason| Invalid { field, reason };
    check("", Empty);
    check("   ", Empty);
    check(
        "<a>",
        Malformed {
            at: 3,
            reason: "document ends inside an element",
        },
    );
    check(
        "<a></b>",
        Malformed {
            at: 3,
            reason: "not well-formed (mismatched or missing tags)",
        },
    );
    check("<a/><b/>", MoreThanOneRoot);
    check("hello", TextOutsideRoot);
    check(
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><upi:ReqPay xmlns:upi="http://npci.org/upi/schema/">&x;</upi:ReqPay>"#,
        DoctypeRefused,
    );
    check(
        r#"<!DOCTYPE lol [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>"#,
        DoctypeRefused,
    );
    check("<r>&x;</r>", UndeclaredEntity);
    check("<r>&#0;</r>", BadCharacterReference);
    check("<?php echo 1 ?><r/>", ProcessingInstructionRefused);
    check(r#"<r/><?xml version="1.0"?>"#, MisplacedDeclaration);
    check(
        r#"<upi:ReqPay xmlns:upi="http://example.com/"/>"#,
        WrongNamespace,
    );
    check(r#"<ReqPay/>"#, WrongNamespace);
    check(
        r#"<upi:ReqFoo xmlns:upi="http://npci.org/upi/schema/"/>"#,
        UnknownMessage,
    );
    check(
        r#"<upi:ReqPay xmlns:upi="http://npci.org/upi/schema/"/>"#,
        MissingElement { element: "Head" },
    );
    check(
        &req_pay_with("<Meta>", "<x:Meta>").replace("</Meta>", "</x:Meta>"),
        QualifiedChild,
    );
    check(
        &req_pay_with(r#" msgId="PTP8f3a9c2d41e0""#, ""),
        MissingAttr {
            element: "Head",
            attr: "msgId",
        },
    );
    check(
        &req_pay_with("PTP8f3a9c2d41e0", "PTP-8f3a"),
        inv("Head@msgId", "only letters and digits"),
    );
    check(
        &req_pay_with("custRef=\"634010000123\"", "custRef=\"63401000012\""),
        inv("Txn@custRef", "an RRN is exactly 12 digits"),
    );
    check(
        &req_pay_with("custRef=\"634010000123\"", "custRef=\"63401000012x\""),
        inv("Txn@custRef", "an RRN is exactly 12 digits"),
    );
    check(
        &req_pay_with("type=\"PAY\"", "type=\"STEAL\""),
        inv("Txn@type", "unknown transaction type"),
    );
    check(
        &req_pay_with(
            "ts=\"2026-12-06T10:30:00.000+05:30\" type",
            "ts=\"yesterday\" type",
        ),
        inv("ts", "not an RFC 3339 timestamp with offset"),
    );
    check(
        &req_pay_with("asha@paytap", "asha"),
        inv("addr", "not a UPI id (handle@psp)"),
    );
    check(
        &req_pay_with("ravi@okhdfc", "ravi@@okhdfc"),
        inv("addr", "not a UPI id (handle@psp)"),
    );
    let two = "an amount is written with exactly two decimals";
    check(
        &req_pay_with("value=\"250.50\"", "value=\"250.5\""),
        inv("Amount@value", two),
    );
    check(
        &req_pay_with("value=\"250.50\"", "value=\"250\""),
        inv("Amount@value", two),
    );
    check(
        &req_pay_with("value=\"250.50\"", "value=\"-250.50\""),
        inv("Amount@value", "not a decimal number"),
    );
    check(
        &req_pay_with("value=\"250.50\"", "value=\"1e3.00\""),
        inv("Amount@value", "not a decimal number"),
    );
    check(
        &req_pay_with("value=\"250.50\"", "value=\"0250.50\""),
        inv("Amount@value", "leading zeros"),
    );
    check(
        &req_pay_with("value=\"250.50\"", "value=\"9999999999999.00\""),
        inv("Amount@value", "too large"),
    );
    check(
        &req_pay_with("curr=\"INR\"", "curr=\"USD\""),
        inv("Amount@curr", "UPI amounts are in INR"),
    );
    let ifsc = "an IFSC is 4 capital letters, 0, then 6 capital letters or digits";
    check(
        &req_pay_with("ICIC0000123", "ICIC1000123"),
        inv("IFSC", ifsc),
    );
    check(
        &req_pay_with("ICIC0000123", "icic0000123"),
        inv("IFSC", ifsc),
    );
    check(
        &req_pay_with("ICIC0000123", "ICIC000012"),
        inv("IFSC", ifsc),
    );
    check(
        &req_pay_with("012345678901", "01234x678901"),
        inv("ACNUM", "an account number is 6 to 20 digits"),
    );
    check(
        &req_pay_with("code=\"0000\"", "code=\"00\""),
        inv("code", "a merchant category code is 4 digits"),
    );
    check(
        &req_pay_with("type=\"PERSON\"", "type=\"ROBOT\""),
        inv("type", "PERSON or ENTITY"),
    );
    check(
        &req_pay_with("q83vEjRWeJA=", "not base64!"),
        inv("Cred/Data", "not Base64"),
    );
    check(
        &req_pay_with("<Payees>", "<Payees><Payee/>"),
        MissingAttr {
            element: "Payee",
            attr: "addr",
        },
    );
    check(&req_pay_with("<Amount value=\"250.50\" curr=\"INR\"/>\n  </Payer>", "</Payer>").replace("<Payee addr=\"ravi@okhdfc\" name=\"Ravi\" seqNum=\"1\" type=\"PERSON\" code=\"0000\">\n      <Amount value=\"250.50\" curr=\"INR\"/>\n    </Payee>", ""), MissingElement { element: "Payees/Payee" });
    check(
        &req_pay_with(
            "<RiskScores/>",
            "<RiskScores/><Rules><Rule name=\"EXPIREAFTER\" value=\"0\"/></Rules>",
        ),
        inv("EXPIREAFTER", "minutes from 1 to 64800 (45 days)"),
    );
    check(
        &req_pay_with(
            "<Meta>",
            "<Txn id=\"A\" ts=\"2026-12-06T10:30:00+05:30\" type=\"PAY\"/><Meta>",
        ),
        Repeated { element: "Txn" },
    );
    check(
        &req_pay_with("note=\"Dinner &amp; chai\"", "note=\"&#10;\""),
        inv("Txn@note", "control characters are not allowed"),
    );
    check(
        &req_pay_with("note=\"Dinner &amp; chai\"", "note=\"&bogus;\""),
        Malformed {
            at: 302,
            reason: "bad escape or undeclared entity in an attribute",
        },
    );
    assert!(!FAILED.load(std::sync::atomic::Ordering::Relaxed));
}

#[test]
fn responses_keep_the_error_code_rule() {
    let resp = |attrs: &str| {
        format!(
            r#"<upi:RespPay xmlns:upi="http://npci.org/upi/schema/"><Head ver="2.0" ts="2026-12-06T10:30:00+05:30" orgId="NPCI" msgId="M2"/><Txn id="T1" ts="2026-12-06T10:30:00+05:30" type="PAY"/><Resp reqMsgId="M1" {attrs}/></upi:RespPay>"#
        )
    };
    check(
        &resp(r#"result="FAILURE""#),
        XmlError::invalid("Resp@errCode", "required on FAILURE"),
    );
    check(
        &resp(r#"result="SUCCESS" errCode="U30""#),
        XmlError::invalid("Resp@errCode", "not allowed on SUCCESS"),
    );
    check(
        &resp(r#"result="PARTIAL""#),
        XmlError::invalid("Resp@result", "SUCCESS, FAILURE or DEEMED"),
    );
    check(
        &resp(r#"result="FAILURE" errCode="u30""#),
        XmlError::invalid("errCode", "1 to 4 capital letters or digits"),
    );
    assert!(decode(resp(r#"result="DEEMED" errCode="RB""#).as_bytes()).is_ok());
    assert!(decode(resp(r#"result="SUCCESS" errCode="""#).as_bytes()).is_ok());
}

#[test]
fn limits_are_enforced() {
    let big = format!("<r>{}</r>", "a".repeat(MAX_MESSAGE_BYTES));
    check(
        &big,
        XmlError::TooLarge {
            limit: MAX_MESSAGE_BYTES,
        },
    );
    let deep = format!(
        "{}{}",
        "<a>".repeat(MAX_DEPTH + 1),
        "</a>".repeat(MAX_DEPTH + 1)
    );
    check(&deep, XmlError::TooDeep { limit: MAX_DEPTH });
    let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_ELEMENTS));
    check(
        &wide,
        XmlError::TooManyElements {
            limit: MAX_ELEMENTS,
        },
    );
    let attrs: String = (0..=MAX_ATTRIBUTES)
        .map(|i| format!(" a{i}=\"\""))
        .collect();
    check(
        &format!("<r{attrs}/>"),
        XmlError::TooManyAttributes {
            limit: MAX_ATTRIBUTES,
        },
    );
    assert_eq!(decode(&[0xff, 0xfe, b'<']), Err(XmlError::NotUtf8));
    // Exactly at the depth limit is fine as far as the reader goes.
    let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
    assert_eq!(decode(ok.as_bytes()), Err(XmlError::WrongNamespace));
}

#[test]
fn field_types_check_their_rules() {
    assert_eq!(Amount::parse("0.00").unwrap().paise, 0);
    assert_eq!(Amount::parse("100000.00").unwrap().paise, 10_000_000);
    assert_eq!(Amount { paise: 5 }.to_text(), "0.05");
    assert_eq!(Ifsc::new("SBIN0001234").unwrap().bank(), "SBIN");
    assert!(Rrn::new("000000000000").is_ok());
    assert!(TxnId::new(&"A".repeat(35)).is_ok());
    assert!(TxnId::new(&"A".repeat(36)).is_err());
    assert!(TxnId::new("").is_err());
    assert!(Mcc::new("5411").unwrap().is_merchant());
    assert!(!Mcc::person().is_merchant());
    let t = Timestamp::from_unix_millis(1_796_538_600_123);
    assert!(t.as_str().ends_with("+05:30"), "{}", t.as_str());
    assert_eq!(t.unix_millis(), 1_796_538_600_123);
    assert_eq!(Timestamp::new(t.as_str()).unwrap(), t);
}
