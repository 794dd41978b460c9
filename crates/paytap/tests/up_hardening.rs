//! `paytap up` as a process: its data directory is private (0700, every
//! file 0600, also one left world-readable by an earlier version), and it
//! raises its soft open-file limit to the hard limit.

#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_paytap");

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn wait_for(path: &Path) {
    for _ in 0..600 {
        if std::fs::metadata(path).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
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

    let mut cmd = Command::new(BIN);
    cmd.args([
        "up",
        "--data-dir",
        data.to_str().unwrap(),
        "--wallet-addr",
        "127.0.0.1:0",
        "--switch-addr",
        "127.0.0.1:0",
    ])
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // Start it with a low soft limit, as a default shell would.
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
    wait_for(&data.join("endpoints.json"));

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
        "wallet-in.db",
        "keys.toml",
        "sms-outbox.jsonl",
        "endpoints.json",
    ] {
        assert!(seen.iter().any(|s| s == f), "{f} missing from {seen:?}");
    }

    let st = Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(up.wait().unwrap().success());
}
