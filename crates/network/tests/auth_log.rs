//! One authorization is logged once, at info, and every line that names a
//! bank calls the field `bank`. The log is captured into a buffer by a
//! process-wide subscriber (this file holds one test, so nothing else
//! writes to it).

mod common;

use common::*;
use paytap_issuer::Product;
use paytap_testkit::LogCapture;

#[tokio::test]
async fn one_authorization_is_one_info_line_naming_the_bank() {
    let log = LogCapture::install_global(tracing::Level::INFO);

    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let before = log.text().lines().count();
    assert_eq!(code(&n.pay(&mut phone, 1_250).await), "00");

    let text = log.text();
    let lines: Vec<&str> = text.lines().skip(before).collect();
    let auths: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(": authorization "))
        .collect();
    assert_eq!(auths.len(), 1, "one line per authorization: {lines:#?}");
    let line = auths[0];
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains(&format!("bank={ICBC}")), "{line}");
    assert!(
        line.contains("code=\"00\"") || line.contains("code=00"),
        "{line}"
    );
    assert!(line.contains("amount=1250"), "{line}");
    for l in text.lines() {
        assert!(!l.contains(" issuer="), "the bank is called `bank`: {l}");
    }
}
