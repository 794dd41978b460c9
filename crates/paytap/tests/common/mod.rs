//! Shared set-up of the binary's end-to-end tests: running `paytap` with
//! arguments and an optional standard input and reading its answer, and
//! starting `paytap up` on free ports and waiting for its endpoints.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How many times [`wait_for_endpoints`] looks, [`ENDPOINTS_POLL`] apart
/// (30 s in all: a first start migrates every database).
const ENDPOINTS_TRIES: u32 = 600;
/// How long [`wait_for_endpoints`] sleeps between two looks.
const ENDPOINTS_POLL: Duration = Duration::from_millis(50);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_paytap");

/// `paytap args…`, with `stdin` written to its standard input (closed at
/// once when `None`), run to its end.
pub fn paytap(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn paytap");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

/// `paytap args…` as a device's owner runs it: the keystore unlocked with
/// `passphrase`, no account password or UPI PIN from the environment, no
/// standard input.
pub fn paytap_device(args: &[&str], passphrase: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PAYTAP_KEYSTORE_PASSPHRASE", passphrase)
        .env_remove("PAYTAP_PASSWORD")
        .env_remove("PAYTAP_UPI_PIN")
        .stdin(Stdio::null())
        .output()
        .expect("run paytap")
}

/// What a run printed, standard output then standard error.
pub fn printed(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The standard output of a run that must succeed, as it was printed.
pub fn ok_raw(args: &[&str], stdin: Option<&str>) -> String {
    let out = paytap(args, stdin);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The standard output of a run that must succeed, trimmed.
pub fn ok(args: &[&str], stdin: Option<&str>) -> String {
    ok_raw(args, stdin).trim().to_owned()
}

/// The standard error of a run that must fail with exit code 2 (bad input).
pub fn fails(args: &[&str], stdin: Option<&str>) -> String {
    let out = paytap(args, stdin);
    assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `paytap up` on `data_dir` with the wallet and the switch on free loopback
/// ports, logging warnings only; the caller sets its standard streams.
pub fn up_on_free_ports(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("up")
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--wallet-addr",
            "127.0.0.1:0",
            "--switch-addr",
            "127.0.0.1:0",
            "--transit-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn");
    cmd
}

/// [`up_on_free_ports`] on the tests' database: PostgreSQL schemas of its
/// own (`--database-url`, a fresh `--schema-prefix`) when
/// `PAYTAP_TEST_DATABASE_URL` names a PostgreSQL database, else SQLite
/// files in `data_dir`.
pub fn up_on_test_storage(data_dir: &Path) -> Command {
    let mut cmd = up_on_free_ports(data_dir);
    cmd.env_remove("PAYTAP_DATABASE_URL");
    if let Some(url) = paytap_store::test_postgres_url() {
        let prefix = paytap_store::test_schema_prefix();
        cmd.args(["--database-url", &url, "--schema-prefix", &prefix]);
    }
    cmd
}

/// The `endpoints.json` a starting `paytap up` writes in `data_dir`, once
/// it is there and whole.
///
/// # Panics
/// If it has not appeared after [`ENDPOINTS_TRIES`] looks.
pub fn wait_for_endpoints(data_dir: &Path) -> serde_json::Value {
    let path = data_dir.join("endpoints.json");
    for _ in 0..ENDPOINTS_TRIES {
        if let Ok(b) = std::fs::read(&path)
            && let Ok(v) = serde_json::from_slice(&b)
        {
            return v;
        }
        std::thread::sleep(ENDPOINTS_POLL);
    }
    panic!("{} never appeared", path.display());
}

/// A platform process that a failing test does not leave running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The whole answer to a GET of `path` on the wallet of the platform whose
/// `endpoints.json` is in `data_dir`, sent with the extra header lines
/// `headers` (each ending in CRLF).
pub fn http_get(data_dir: &Path, path: &str, headers: &str) -> String {
    http_get_from(data_dir, "wallet_url", path, headers)
}

/// [`http_get`] on the endpoint `key` of `endpoints.json` (`wallet_url`,
/// `transit_url`).
pub fn http_get_from(data_dir: &Path, key: &str, path: &str, headers: &str) -> String {
    let endpoints: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("endpoints.json")).unwrap()).unwrap();
    let url = endpoints[key].as_str().unwrap();
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}
