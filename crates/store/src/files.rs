//! File modes of what paytap keeps on disk: private to the user running it.
//!
//! The databases hold password hashes, sessions and card tokens, so a
//! SQLite file is created 0600 before SQLite opens it (SQLite gives its
//! `-wal` and `-shm` files the database file's mode), and an existing
//! file and its companions are set to 0600 when opened.
//! [`secure_dir`] sets a data directory to 0700 and everything under it to
//! 0600 (directories 0700), for directories made by earlier versions.

use std::io;
use std::path::{Path, PathBuf};

/// Mode of every file paytap writes: owner read and write only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of a data directory: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// The file of a `sqlite:` URL, if it names one (not `:memory:`).
pub(crate) fn sqlite_path(url_rest: &str) -> Option<PathBuf> {
    let path = url_rest.strip_prefix("//").unwrap_or(url_rest);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Creates `db` 0600 if it does not exist, and sets it and its `-wal`,
/// `-shm` and `-journal` files to 0600 if they do.
pub fn private_sqlite_file(db: &Path) -> io::Result<()> {
    create_private(db)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        set_mode_if_exists(Path::new(&p), PRIVATE_FILE_MODE)?;
    }
    set_mode_if_exists(db, PRIVATE_FILE_MODE)
}

fn create_private(path: &Path) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(PRIVATE_FILE_MODE);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn set_mode_if_exists(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Ok(()),
        Ok(m) if m.permissions().mode() & 0o777 == mode => Ok(()),
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn set_mode_if_exists(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` if needed and makes it and everything under it private:
/// directories 0700, files 0600 (symbolic links are left alone).
pub fn secure_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    set_mode_if_exists(dir, PRIVATE_DIR_MODE)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            secure_dir(&entry.path())?;
        } else if kind.is_file() {
            set_mode_if_exists(&entry.path(), PRIVATE_FILE_MODE)?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_data_directory_and_its_files_become_private() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("data");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for d in [&dir, &dir.join("sub")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in [dir.join("wallet-cn.db"), dir.join("sub/x.jsonl")] {
            std::fs::write(&f, b"x").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        secure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("sub")), 0o700);
        assert_eq!(mode(&dir.join("wallet-cn.db")), 0o600);
        assert_eq!(mode(&dir.join("sub/x.jsonl")), 0o600);
        assert_eq!(
            sqlite_path("//a/b.db?mode=rwc"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(sqlite_path("::memory:"), None);
    }
}
