//! One `paytap up` per data directory.
//!
//! Two platforms on the same SQLite files would each believe they own every
//! token's ATC, every card's spend and every ledger balance in memory
//! (ARCHITECTURE.md, "state with one owner"): both would approve against
//! the same money. So `paytap up` takes an exclusive advisory lock
//! (`flock`) on [`LOCK_FILE`] in its data directory before it opens a
//! database, and refuses to start if another process holds it. It binds its
//! ports first, so a start that fails on a busy port writes nothing (a
//! second platform on the same ports is then refused by the port, one on
//! other ports by the lock). The kernel
//! drops the lock when the process ends, however it ends (a `kill -9`
//! included), so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;

/// The lock file's name inside the data directory; it holds the owner's pid.
pub const LOCK_FILE: &str = "paytap.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Takes the data directory's lock, creating the directory if needed.
///
/// Fails with a message naming the directory and the running process when
/// another `paytap up` holds it.
#[allow(unsafe_code, reason = "flock(2) has no safe wrapper")]
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<InstanceLock> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            anyhow::bail!(
                "another paytap is already running on the data directory {} ({}); \
                 stop it first, or give this one its own --data-dir",
                data_dir.display(),
                holder(&path)
            );
        }
        return Err(err).with_context(|| format!("locking {}", path.display()));
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(InstanceLock { _file: file })
}

/// "pid N" as the lock file says, or why it cannot say.
fn holder(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => format!("pid {}", s.trim()),
        _ => "its pid is not written yet".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = lock_data_dir(&data).unwrap();
        assert_eq!(
            std::fs::read_to_string(data.join(LOCK_FILE))
                .unwrap()
                .trim(),
            std::process::id().to_string()
        );

        let err = lock_data_dir(&data).unwrap_err().to_string();
        assert!(err.contains("already running"), "{err}");
        assert!(err.contains(&data.display().to_string()), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );

        drop(first);
        let _again = lock_data_dir(&data).unwrap();
    }

    #[test]
    fn other_directories_do_not_share_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _a = lock_data_dir(&dir.path().join("a")).unwrap();
        let _b = lock_data_dir(&dir.path().join("b")).unwrap();
    }
}
