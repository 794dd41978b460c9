//! `paytap up` as a process: its data directory is private (0700, every
//! file 0600, also one left world-readable by an earlier version), and it
//! raises its soft open-file limit to the hard limit; a second `paytap up` on
//! the same data directory refuses to start; a busy port is named with its
//! flag, and such a failed start writes nothing in the data directory.

#![cfg(target_os = "linux")]

mod common;

use common::{BIN, KillOnDrop, http_get, http_get_from, up_on_free_ports, wait_for_endpoints};

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// (soft, hard) "Max open files" of a running process.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut f = line["Max open files".len()..].split_whitespace();
    (f.next().unwrap().into(), f.next().unwrap().into())
}

#[test]
fn up_keeps_its_data_private_and_raises_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A directory an earlier version left readable by everyone.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let outbox = data.join("sms-outbox.jsonl");
    std::fs::write(&outbox, b"").unwrap();
    std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut cmd = up_on_free_ports(&data);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // Start it with a low soft limit, as a default shell would.
    #[allow(
        unsafe_code,
        reason = "pre_exec is unsafe: the closure runs between fork and exec"
    )]
    // SAFETY: getrlimit/setrlimit are async-signal-safe and touch only
    // the struct passed.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            lim.rlim_cur = lim.rlim_max.min(256);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
    let mut up = cmd.spawn().unwrap();
    wait_for_endpoints(&data);

    let (soft, hard) = open_file_limits(up.id());
    assert_eq!(soft, hard, "soft open-file limit raised to the hard one");

    assert_eq!(mode(&data), 0o700, "data directory");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(mode(&p), 0o600, "{name}");
        seen.push(name);
    }
    for f in [
        "network.db",
        "network.db-wal",
        "wallet-cn.db",
        "wallet-cn.db-wal",
        "transit.db",
        "wallet-in.db",
        "keys.toml",
        "sms-outbox.jsonl",
        "endpoints.json",
    ] {
        assert!(seen.iter().any(|s| s == f), "{f} missing from {seen:?}");
    }
    // The transit operators' hosts answer on their own port.
    let operators = http_get_from(&data, "transit_url", "/transit/v1/operators", "");
    assert!(operators.starts_with("HTTP/1.1 200"), "{operators}");
    for id in [
        "beijing",
        "shanghai",
        "shenzhen",
        "guangzhou",
        "wuhan",
        "lingnan",
    ] {
        assert!(
            operators.contains(&format!("\"id\":\"{id}")),
            "{id}: {operators}"
        );
    }

    let st = Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(up.wait().unwrap().success());
}

#[test]
fn a_second_up_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = KillOnDrop(
        up_on_free_ports(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_endpoints(&data);

    let mut second = up_on_free_ports(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second platform that starts would run until stopped: give it a
    // minute to refuse, then stop it and fail.
    let mut status = None;
    for _ in 0..600 {
        status = second.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = status else {
        second.kill().unwrap();
        panic!("a second paytap up started on a data directory in use");
    };
    assert!(!status.success(), "the second platform exited successfully");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains(&format!("pid {}", first.0.id())), "{err}");

    // The first one is untouched: still serving (its probes say ready),
    // and it stops cleanly.
    let ready = http_get(&data, "/readyz", "");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains(r#""status":"ready""#), "{ready}");
    assert!(ready.contains(r#""wallet-in":"ok""#), "{ready}");
    assert!(ready.contains(r#""switch":"ok""#), "{ready}");
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first platform stopped"
    );
    let st = Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(first.0.wait().unwrap().success());
}

#[test]
fn a_busy_port_is_named_with_the_flag_that_changes_it() {
    for (flag, other, third) in [
        ("--switch-addr", "--wallet-addr", "--transit-addr"),
        ("--wallet-addr", "--switch-addr", "--transit-addr"),
        ("--transit-addr", "--switch-addr", "--wallet-addr"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = busy.local_addr().unwrap().to_string();
        let out = Command::new(BIN)
            .args([
                "up",
                "--data-dir",
                dir.path().join("data").to_str().unwrap(),
            ])
            .args([flag, &addr, other, "127.0.0.1:0", third, "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag}: started on a busy port");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{addr} is already in use")), "{err}");
        assert!(
            err.contains(&format!("choose another with {flag}")),
            "{err}"
        );
        assert_eq!(err.matches("in use").count(), 1, "said once: {err}");
    }
}

#[test]
fn a_busy_port_leaves_the_data_directory_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    for (flag, other, third) in [
        ("--switch-addr", "--wallet-addr", "--transit-addr"),
        ("--wallet-addr", "--switch-addr", "--transit-addr"),
        ("--transit-addr", "--switch-addr", "--wallet-addr"),
    ] {
        for data in [&missing, &empty] {
            let out = Command::new(BIN)
                .args(["up", "--data-dir", data.to_str().unwrap()])
                .args([flag, &addr, other, "127.0.0.1:0", third, "127.0.0.1:0"])
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .output()
                .unwrap();
            assert!(!out.status.success(), "{flag}: started on a busy port");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("{addr} is already in use")), "{err}");
            assert!(!missing.exists(), "{flag}: the data directory was created");
            let left: Vec<_> = std::fs::read_dir(&empty).unwrap().collect();
            assert!(left.is_empty(), "{flag}: files written: {left:?}");
        }
    }
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = common::up_on_free_ports(&data)
        .args(["--database-url", "sqlite://elsewhere.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("paytap: error: --database-url"), "{err}");
    assert!(err.contains("postgres://"), "{err}");
    assert!(!data.exists(), "nothing written");
    let out = common::up_on_free_ports(&data)
        .args(["--database-url", "postgres://127.0.0.1:1/x"])
        .args(["--region-database-url", "in"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REGION=postgres://"), "{err}");
    assert!(!data.exists(), "nothing written");
}
