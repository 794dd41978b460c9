//! End-to-end tests of `paytap tools qr render|read` through the real binary:
//! a payload through a PNG file and back, the terminal drawing, bad images.

mod common;

use common::{ok_raw, paytap};

/// paytap's static code for merchant M0000001 (Tea House, Beijing).
const STATIC_CODE: &str = "00020101021126260010com.paytap0108M00000015204581453031565802CN5909Tea House6007Beijing6304C9AF";

#[test]
fn render_to_png_and_read_back_with_fields() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("shop.png");
    let png = png.to_str().unwrap();
    ok_raw(
        &[
            "tools",
            "qr",
            "render",
            "--payload",
            STATIC_CODE,
            "--png",
            png,
        ],
        None,
    );
    let out = ok_raw(&["tools", "qr", "read", "--image", png, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["payload"], STATIC_CODE);
    assert_eq!(v["mode"], "mpm");
    assert_eq!(v["fields"]["paytap_merchant_id"], "M0000001");
    assert_eq!(v["fields"]["merchant_name"], "Tea House");
    assert_eq!(v["fields"]["point_of_initiation"], "static");
}

#[test]
fn any_payload_reads_back_with_unknown_mode() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("any.png");
    let png = png.to_str().unwrap();
    ok_raw(
        &[
            "tools",
            "qr",
            "render",
            "--payload",
            "hello, 你好",
            "--png",
            png,
        ],
        None,
    );
    let out = ok_raw(&["tools", "qr", "read", "--image", png, "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["payload"], "hello, 你好");
    assert_eq!(v["mode"], "unknown");
}

#[test]
fn terminal_drawing_without_png() {
    let out = ok_raw(&["tools", "qr", "render", "--payload", STATIC_CODE], None);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() > 10);
    assert!(
        lines
            .iter()
            .all(|l| l.chars().count() == lines[0].chars().count())
    );
    assert!(out.chars().all(|c| " ▀▄█\n".contains(c)));
}

#[test]
fn bad_images_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    let out = paytap(
        &["tools", "qr", "read", "--image", junk.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a readable PNG image"), "{err}");
    let missing = dir.path().join("missing.png");
    let out = paytap(
        &["tools", "qr", "read", "--image", missing.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.png"));
    let out = paytap(&["tools", "qr", "render", "--payload", ""], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("payload is empty"));
}
