//! `paytap up --log-format json` as a process: every line it logs on
//! stderr is a JSON object; each HTTP request gets an `X-Request-Id` (the
//! client's when it is fit) and one log line with its method, route,
//! status and id; migration lines name their region.

#![cfg(target_os = "linux")]

mod common;

use common::{KillOnDrop, http_get, up_on_test_storage, wait_for_endpoints};

use std::process::{Command, Stdio};

use serde_json::Value;

/// The value of `name` in an HTTP answer's head.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn up_logs_json_lines_with_a_request_id_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let stderr = dir.path().join("stderr");
    let mut up = KillOnDrop(
        up_on_test_storage(&data)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for_endpoints(&data);

    let supplied = http_get(&data, "/healthz", "X-Request-Id: probe-7:a\r\n");
    assert!(supplied.starts_with("HTTP/1.1 200"), "{supplied}");
    assert_eq!(header(&supplied, "x-request-id"), Some("probe-7:a"));
    let first = http_get(&data, "/healthz", "");
    let second = http_get(&data, "/healthz", "X-Request-Id: two words\r\n");
    let first_id = header(&first, "x-request-id").unwrap().to_owned();
    let second_id = header(&second, "x-request-id").unwrap().to_owned();
    assert_ne!(first_id, second_id);
    assert_ne!(second_id, "two words", "an id with a space is replaced");

    let st = Command::new("kill")
        .args(["-TERM", &up.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(up.0.wait().unwrap().success());

    let text = std::fs::read_to_string(&stderr).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(l.get(key).is_some(), "{key} missing: {l}");
        }
    }
    let with = |message: &str| -> Vec<&Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };
    assert_eq!(with("paytap is up").len(), 1, "{text}");

    let requests = with("request");
    assert_eq!(requests.len(), 3, "one line per request: {text}");
    for (line, id) in requests.iter().zip(["probe-7:a", &first_id, &second_id]) {
        assert_eq!(line["request_id"], id, "{line}");
        assert_eq!(line["method"], "GET", "{line}");
        assert_eq!(line["route"], "/healthz", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        assert!(line["latency_us"].is_u64(), "{line}");
    }

    let migrations = with("migration applied");
    let regions: std::collections::BTreeSet<&str> = migrations
        .iter()
        .map(|l| {
            l["region"]
                .as_str()
                .unwrap_or_else(|| panic!("no region: {l}"))
        })
        .collect();
    assert_eq!(
        regions.into_iter().collect::<Vec<_>>(),
        ["cn", "global", "in"],
        "{text}"
    );
}
