//! `paytap tools tlv` and `paytap tools emv`: known-answer outputs and clear
//! failures on bad input.

mod common;

use common::{fails, ok, paytap};

const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";

/// `paytap tools emv args…`, which must succeed: its output, trimmed.
fn emv(args: &[&str]) -> String {
    ok(&[&["tools", "emv"], args].concat(), None)
}

/// Known answers: each command line gives its expected output.
fn check(cases: &[(&[&str], &str)]) {
    for (args, expect) in cases {
        assert_eq!(emv(args), *expect, "{args:?}");
    }
}

#[test]
fn icc_master_key_options() {
    // pyemv's published examples.
    check(&[
        (
            &[
                "icc-mk",
                "--imk",
                IMK,
                "--pan",
                "99012345678901234",
                "--psn",
                "45",
            ],
            "67F8292358083E5EA7AB7FDA58D53B6B",
        ),
        (
            &[
                "icc-mk",
                "--imk",
                IMK,
                "--pan",
                "12345678901234567",
                "--psn",
                "01",
            ],
            "73AD54688CEF2934B0979857E3C719F1",
        ),
    ]);
    let j = ok(
        &[
            "tools",
            "emv",
            "icc-mk",
            "--imk",
            IMK,
            "--pan",
            "12345678901234567",
            "--psn",
            "01",
            "--option",
            "b",
            "--json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["icc_mk"], "AD406D7F6D7570916D75E5DCAB8CF737");
    let aes = ok(
        &[
            "tools",
            "emv",
            "icc-mk",
            "--imk",
            "2b7e151628aed2a6abf7158809cf4f3c",
            "--pan",
            "6212345678901234",
            "--psn",
            "1",
            "--aes",
        ],
        None,
    );
    assert_eq!(aes.len(), 32);
}

#[test]
fn session_key_ac_arpc() {
    let sk = "29B33180E567CE38EA4CBC9D753B0E61";
    check(&[
        (
            &["session-key", "--icc-mk", IMK, "--atc", "001C"],
            "E9FB384AF807B940FEDCEA613461B0C4",
        ),
        (
            &[
                "ac",
                "--session-key",
                sk,
                "--data",
                "0123456789ABCDEF0123456789ABCDEF",
            ],
            "FA624250B008B59A",
        ),
        (
            &[
                "arpc",
                "--session-key",
                sk,
                "--arqc",
                "FA624250B008B59A",
                "--arc",
                "0000",
            ],
            "45D4255EEF10C920",
        ),
    ]);
    let j = ok(
        &[
            "tools",
            "emv",
            "arpc",
            "--session-key",
            sk,
            "--arqc",
            "FA624250B008B59A",
            "--method",
            "2",
            "--csu",
            "00000000",
            "--json",
        ],
        None,
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&j).unwrap()["arpc"],
        "CB56FA40"
    );
    // AES-CMAC, NIST SP 800-38B example 2, truncated to 8 bytes.
    assert_eq!(
        ok(
            &[
                "tools",
                "emv",
                "ac",
                "--session-key",
                "2b7e151628aed2a6abf7158809cf4f3c",
                "--data",
                "6bc1bee22e409f96e93d7e117393172a",
                "--aes"
            ],
            None
        ),
        "070A16B46B4D4144"
    );
}

#[test]
fn emv_bad_input() {
    assert!(
        fails(
            &["tools", "emv", "ac", "--session-key", "12", "--data", "00"],
            None
        )
        .contains("16 bytes")
    );
    assert!(
        fails(
            &[
                "tools", "emv", "icc-mk", "--imk", IMK, "--pan", "12AB", "--psn", "01"
            ],
            None
        )
        .contains("PAN")
    );
    assert!(
        fails(
            &[
                "tools",
                "emv",
                "icc-mk",
                "--imk",
                IMK,
                "--pan",
                "6212345678901234",
                "--psn",
                "100"
            ],
            None
        )
        .contains("psn")
    );
    assert!(
        fails(
            &[
                "tools",
                "emv",
                "session-key",
                "--icc-mk",
                IMK,
                "--atc",
                "1C"
            ],
            None
        )
        .contains("atc")
    );
    assert!(
        fails(
            &[
                "tools",
                "emv",
                "arpc",
                "--session-key",
                IMK,
                "--arqc",
                "FA624250B008B59A"
            ],
            None
        )
        .contains("--arc")
    );
    fails(
        &[
            "tools",
            "emv",
            "arpc",
            "--session-key",
            IMK,
            "--arqc",
            "FA62",
            "--arc",
            "0000",
        ],
        None,
    );
}

#[test]
fn tlv_decode_and_encode() {
    let fci = "6F1A840E325041592E5359532E4444463031A508BF0C059F0A020001";
    let text = ok(&["tools", "tlv", "decode", fci], None);
    assert!(
        text.contains("84 Dedicated File (DF) Name [14]: 325041592E5359532E4444463031"),
        "{text}"
    );
    assert!(text.contains("      9F0A "), "{text}");
    let json = ok(&["tools", "tlv", "decode", fci, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["tag"], "6F");
    assert_eq!(v[0]["value"][0]["hex"], "325041592E5359532E4444463031");
    // decode --json output is valid encode input
    let out = paytap(&["tools", "tlv", "encode"], Some(&json));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), fci);
    let out = paytap(
        &["tools", "tlv", "encode", "--json"],
        Some(r#"[{"tag":"9F02","hex":"000000001234"},{"tag":"50","ascii":"PAY"}]"#),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"hex":"9F02060000000012345003504159"}"#
    );
}

#[test]
fn tlv_bad_input() {
    assert!(fails(&["tools", "tlv", "decode", "6F1A840E"], None).contains("malformed BER-TLV"));
    assert!(fails(&["tools", "tlv", "decode", "ZZ"], None).contains("hex"));
    for bad in [
        "",
        "{",
        r#"[{"tag":"9F"}]"#,
        r#"[{"tag":"84","value":[]}]"#,
        r#"[{"tag":"6F","hex":"00"}]"#,
        "[1]",
    ] {
        let out = paytap(&["tools", "tlv", "encode"], Some(bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}
