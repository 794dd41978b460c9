use super::*;

const LINK: &str = "upi://pay?pa=shop.42@okaxis&pn=Corner%20Shop%20%26%20Co&mc=5411&tid=TXN0001&tr=ORDER-77&tn=Groceries%20%E2%82%B9&am=150.50&mam=100&cu=INR&url=https%3A%2F%2Fshop.example%2Fo%2F77&mode=01&purpose=00&sign=abc%3D";

#[test]
fn parse_full_link() {
    let p = UpiPay::parse(LINK).unwrap();
    assert_eq!(p.payee.as_str(), "shop.42@okaxis");
    assert_eq!(p.payee.psp(), "okaxis");
    assert_eq!(p.payee_name.as_deref(), Some("Corner Shop & Co"));
    assert_eq!(p.mcc.as_deref(), Some("5411"));
    assert_eq!(p.tid.as_deref(), Some("TXN0001"));
    assert_eq!(p.tr.as_deref(), Some("ORDER-77"));
    assert_eq!(p.note.as_deref(), Some("Groceries ₹"));
    assert_eq!(p.amount, Some(15050));
    assert_eq!(p.min_amount, Some(10000));
    assert!(p.currency_inr);
    assert_eq!(p.url.as_deref(), Some("https://shop.example/o/77"));
    assert_eq!(p.mode.as_deref(), Some("01"));
    assert_eq!(p.purpose.as_deref(), Some("00"));
    assert_eq!(p.other, vec![("sign".to_owned(), "abc=".to_owned())]);
    let again = p.to_uri().unwrap();
    assert_eq!(UpiPay::parse(&again).unwrap(), p);
}

#[test]
fn build_known_text() {
    let mut p = UpiPay::new(Vpa::new("merchant@ybl").unwrap());
    p.payee_name = Some("Tea Stall".into());
    p.amount = Some(2000);
    p.currency_inr = true;
    p.note = Some("chai+biscuit".into());
    assert_eq!(
        p.to_uri().unwrap(),
        "upi://pay?pa=merchant@ybl&pn=Tea%20Stall&tn=chai%2Bbiscuit&am=20.00&cu=INR"
    );
}

#[test]
fn minimal_and_case_insensitive_scheme() {
    let p = UpiPay::parse("UPI://PAY?pa=a@b").unwrap();
    assert_eq!(p.payee.as_str(), "a@b");
    assert_eq!(p.amount, None);
    assert!(!p.currency_inr);
}

#[test]
fn amounts() {
    assert_eq!(parse_amount("am", "1"), Ok(100));
    assert_eq!(parse_amount("am", "1.5"), Ok(150));
    assert_eq!(parse_amount("am", "0.01"), Ok(1));
    assert_eq!(
        parse_amount("am", "999999999999.99"),
        Ok(99_999_999_999_999)
    );
    for bad in [
        "0",
        "0.00",
        "1.234",
        "1.",
        ".5",
        "-1",
        "1e2",
        "",
        "1,00",
        "1000000000000",
    ] {
        assert!(parse_amount("am", bad).is_err(), "{bad}");
    }
    assert_eq!(format_amount(15050), "150.50");
    assert_eq!(format_amount(1), "0.01");
}

#[test]
fn vpa_rules() {
    for ok in ["a@b", "first.last-1_x@oksbi", "9876543210@paytm"] {
        assert!(Vpa::new(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "ab",
        "@psp",
        "user@",
        "a@b@c",
        "us er@psp",
        "user@ps_p",
        "user@-psp",
        "üser@psp",
        "a+b@psp",
    ] {
        assert!(Vpa::new(bad).is_err(), "{bad}");
    }
    assert!(Vpa::new(&format!("{}@psp", "a".repeat(260))).is_err());
    assert!(Vpa::new(&format!("a@{}", "b".repeat(65))).is_err());
}

#[test]
fn errors() {
    let e = |s: &str| UpiPay::parse(s).unwrap_err();
    assert_eq!(e("https://pay?pa=a@b"), UpiError::NotUpiPay);
    assert_eq!(e("upi://mandate?pa=a@b"), UpiError::NotUpiPay);
    assert_eq!(e("upi://payx?pa=a@b"), UpiError::NotUpiPay);
    assert_eq!(e("upi://pay?pn=x"), UpiError::MissingPayee);
    assert_eq!(
        e("upi://pay?pa=a@b&pa=c@d"),
        UpiError::Duplicate("pa".into())
    );
    assert_eq!(e("upi://pay?pa=a@b&cu=USD"), UpiError::InvalidCurrency);
    assert!(matches!(
        e("upi://pay?pa=a@b&am=1.999"),
        UpiError::InvalidAmount { param: "am", .. }
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&am=0"),
        UpiError::InvalidAmount { .. }
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&mam=x"),
        UpiError::InvalidAmount { param: "mam", .. }
    ));
    assert_eq!(
        e("upi://pay?pa=a@b&am=1&mam=2"),
        UpiError::MinimumExceedsAmount
    );
    assert!(matches!(e("upi://pay?pa=a%40"), UpiError::InvalidVpa(_)));
    assert!(matches!(
        e("upi://pay?pa=a@b&pn=%ZZ"),
        UpiError::BadEncoding(_)
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&pn=%C3"),
        UpiError::BadEncoding(_)
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&pn=%4"),
        UpiError::BadEncoding(_)
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&mc=54"),
        UpiError::InvalidParam { param: "mc", .. }
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&mode=1"),
        UpiError::InvalidParam { param: "mode", .. }
    ));
    assert!(matches!(
        e("upi://pay?pa=a@b&tn=a%0Ab"),
        UpiError::InvalidParam { param: "tn", .. }
    ));
    let long = format!("upi://pay?pa=a@b&tr={}", "x".repeat(36));
    assert!(matches!(
        e(&long),
        UpiError::InvalidParam { param: "tr", .. }
    ));
    // an unknown parameter's name never appears in an error
    assert_eq!(
        e("upi://pay?pa=a@b&secret%ZZ=1"),
        UpiError::BadEncoding("(unknown parameter)".into())
    );
    let mut p = UpiPay::new(Vpa::new("a@b").unwrap());
    p.other.push(("am".into(), "5".into()));
    assert!(p.to_uri().is_err());
}

#[test]
fn percent_coding() {
    let mut s = String::new();
    percent_encode("a b&c=d/é@", &mut s);
    assert_eq!(s, "a%20b%26c%3Dd%2F%C3%A9@");
    assert_eq!(percent_decode(&s).as_deref(), Some("a b&c=d/é@"));
    assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
    assert_eq!(percent_decode("%zz"), None);
}
