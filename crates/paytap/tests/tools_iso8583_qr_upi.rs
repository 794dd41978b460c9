//! End-to-end tests of `paytap tools iso8583|qr|upi` through the real binary.

mod common;

use common::{fails, ok};

#[test]
fn iso8583_encode_then_decode() {
    let req = r#"{"mti":"0100","fields":{"2":"4761739001010010","3":"000000","4":"000000001000","11":"000042","55":"9F2608C3A1B2D4E5F60718"}}"#;
    let hex = ok(&["tools", "iso8583", "encode"], Some(req));
    assert!(hex.starts_with("30313030"), "{hex}");
    let json = ok(
        &["tools", "iso8583", "decode", &hex, "--json", "--show-pan"],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["mti"], "0100");
    assert_eq!(v["fields"]["2"], "4761739001010010");
    assert_eq!(v["fields"]["4"], "000000001000");
    assert_eq!(v["fields"]["55"], "9F2608C3A1B2D4E5F60718");
    // masked by default
    let text = ok(&["tools", "iso8583", "decode", &hex], None);
    assert!(text.contains("476173******0010"), "{text}");
    assert!(!text.contains("4761739001010010"), "{text}");
    // framed
    let framed = ok(&["tools", "iso8583", "encode", "--framed"], Some(req));
    assert_eq!(&framed[4..], hex);
    let again = ok(
        &["tools", "iso8583", "decode", "--framed", &framed, "--json"],
        None,
    );
    assert!(again.contains("\"0100\""));
}

#[test]
fn iso8583_known_echo_message() {
    let req = r#"{"mti":"0800","fields":{"7":"1123093000","11":"000001","70":"301"}}"#;
    let hex = ok(&["tools", "iso8583", "encode"], Some(req));
    assert_eq!(
        hex,
        "303830308220000000000000040000000000000031313233303933303030303030303031333031"
    );
}

#[test]
fn iso8583_fields_table_is_the_published_one() {
    let out = ok(&["tools", "iso8583", "fields", "--json"], None);
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let published: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/iso8583-fields.json")).unwrap();
    assert_eq!(printed, published);
    let text = ok(&["tools", "iso8583", "fields"], None);
    assert!(text.contains("Primary account number (PAN)"));
}

#[test]
fn iso8583_bad_input() {
    assert!(fails(&["tools", "iso8583", "decode", "zz"], None).contains("not hex"));
    assert!(fails(&["tools", "iso8583", "decode", "30313030"], None).contains("truncated"));
    let e = fails(
        &["tools", "iso8583", "encode"],
        Some(r#"{"mti":"0100","fields":{"3":"12345"}}"#),
    );
    assert!(e.contains("data element 3"), "{e}");
    fails(&["tools", "iso8583", "encode"], Some("not json"));
    fails(
        &["tools", "iso8583", "decode", "--framed", "0005303130"],
        None,
    );
}

const MPM: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
const CPM: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

#[test]
fn qr_decode_and_encode() {
    let text = ok(&["tools", "qr", "decode", MPM], None);
    assert!(text.contains("A13A (valid)"), "{text}");
    let json = ok(&["tools", "qr", "decode", MPM, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["crc_valid"], true);
    assert_eq!(v["mpm"]["amount"], 2372);
    // re-encode what decode printed
    let mpm_in = serde_json::json!({"mpm": v["mpm"]}).to_string();
    let built = ok(&["tools", "qr", "encode"], Some(&mpm_in));
    let back = ok(&["tools", "qr", "decode", &built, "--json"], None);
    let bv: serde_json::Value = serde_json::from_str(&back).unwrap();
    assert_eq!(bv["mpm"], v["mpm"]);

    let cpm = ok(
        &["tools", "qr", "decode", CPM, "--json", "--show-pan"],
        None,
    );
    let c: serde_json::Value = serde_json::from_str(&cpm).unwrap();
    assert_eq!(c["mode"], "cpm");
    assert_eq!(c["cpm"]["common"]["data"]["5A"], "1234567890123458");
    assert_eq!(
        c["cpm"]["common"]["transparent"]["9F26"],
        "584FD385FA234BCC"
    );
    let masked = ok(&["tools", "qr", "decode", CPM], None);
    assert!(!masked.contains("1234567890123458"), "{masked}");
    let cpm_in = serde_json::json!({"cpm": c["cpm"]}).to_string();
    let rebuilt = ok(&["tools", "qr", "encode"], Some(&cpm_in));
    let again = ok(
        &["tools", "qr", "decode", &rebuilt, "--json", "--show-pan"],
        None,
    );
    let a: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(a["cpm"], c["cpm"]);
}

#[test]
fn qr_bad_input() {
    let bad = MPM.replace("A13A", "A13B");
    let e = fails(&["tools", "qr", "decode", &bad], None);
    assert!(e.contains("CRC invalid"), "{e}");
    assert!(e.contains("A13A"), "{e}");
    fails(&["tools", "qr", "decode", "!!notbase64!!"], None);
    fails(&["tools", "qr", "encode"], Some(r#"{"neither":1}"#));
    fails(
        &["tools", "qr", "encode"],
        Some(r#"{"mpm":{"merchant_accounts":[]}}"#),
    );
}

#[test]
fn upi_decode_and_encode() {
    let link = "upi://pay?pa=shop@okaxis&pn=Corner%20Shop&am=150.5&cu=INR&tr=ORD1";
    let json = ok(&["tools", "upi", "decode", link, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["params"]["pa"], "shop@okaxis");
    assert_eq!(v["params"]["pn"], "Corner Shop");
    assert_eq!(v["amount_paise"], 15050);
    let built = ok(&["tools", "upi", "encode"], Some(&v["params"].to_string()));
    assert_eq!(
        built,
        "upi://pay?pa=shop@okaxis&pn=Corner%20Shop&tr=ORD1&am=150.50&cu=INR"
    );
    let text = ok(&["tools", "upi", "decode", &built], None);
    assert!(text.contains("15050 paise"), "{text}");
}

#[test]
fn upi_bad_input() {
    assert!(fails(&["tools", "upi", "decode", "upi://pay?pn=x"], None).contains("pa"));
    fails(&["tools", "upi", "decode", "upi://pay?pa=a@b&cu=USD"], None);
    fails(
        &["tools", "upi", "decode", "upi://pay?pa=a@b&am=1.234"],
        None,
    );
    fails(&["tools", "upi", "encode"], Some(r#"{"pa":"no-at-sign"}"#));
    fails(&["tools", "upi", "encode"], Some(r#"["pa"]"#));
}

const REQ_PAY_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:ReqPay xmlns:ns2="http://npci.org/upi/schema/">
  <Head ver="2.0" ts="2026-12-06T10:30:00+05:30" orgId="PAYTAP" msgId="M1"/>
  <Txn id="T1" note="Tea" ts="2026-12-06T10:30:00+05:30" type="PAY" custRef="634010000123"/>
  <Payer addr="asha@paytap" seqNum="1" type="PERSON" code="0000">
    <Ac addrType="ACCOUNT"><Detail name="IFSC" value="ICIC0000123"/><Detail name="ACNUM" value="012345678901"/></Ac>
    <Amount value="20.00" curr="INR"/>
  </Payer>
  <Payees><Payee addr="chai@payu" seqNum="1" type="ENTITY" code="5814"><Amount value="20.00" curr="INR"/></Payee></Payees>
</ns2:ReqPay>"#;

#[test]
fn upi_xml_decode() {
    let json = ok(&["tools", "upi", "xml", "--decode", "-"], Some(REQ_PAY_XML));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["message"], "ReqPay");
    assert_eq!(v["txn"]["kind"], "PAY");
    assert_eq!(v["txn"]["cust_ref"], "634010000123");
    assert_eq!(v["payer"]["addr"], "asha@paytap");
    assert_eq!(v["payer"]["account"]["ifsc"], "ICIC0000123");
    assert_eq!(v["payees"][0]["amount"]["paise"], 2000);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reqpay.xml");
    std::fs::write(&file, REQ_PAY_XML).unwrap();
    let from_file = ok(
        &["tools", "upi", "xml", "--decode", file.to_str().unwrap()],
        None,
    );
    assert_eq!(from_file, json);
}

#[test]
fn upi_xml_bad_input() {
    let bad = |input: &str, says: &str| {
        let err = fails(&["tools", "upi", "xml", "--decode", "-"], Some(input));
        assert!(err.contains(says), "{input}: {err}");
    };
    bad(
        &REQ_PAY_XML.replace("20.00", "20.0"),
        "exactly two decimals",
    );
    bad(
        &REQ_PAY_XML.replace("634010000123", "6340100001"),
        "12 digits",
    );
    bad(
        &REQ_PAY_XML.replacen("<?xml", "<!DOCTYPE x [<!ENTITY e \"boom\">]><?xml", 1),
        "DOCTYPE",
    );
    bad(
        "<upi:ReqPay xmlns:upi=\"http://npci.org/upi/schema/\">",
        "ends inside an element",
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.xml");
    std::fs::write(&big, "<a>".repeat(100_000)).unwrap();
    let err = fails(
        &["tools", "upi", "xml", "--decode", big.to_str().unwrap()],
        None,
    );
    assert!(err.contains("larger than"), "{err}");
    let err = fails(
        &["tools", "upi", "xml", "--decode", "/nonexistent/x.xml"],
        None,
    );
    assert!(err.contains("/nonexistent/x.xml"), "{err}");
}
