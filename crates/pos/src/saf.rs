//! Store and forward of reversals, as real terminals keep them.
//!
//! A `0100` whose answer the terminal does not hear (timeout, lost link,
//! the switch gone) may have placed a hold at the issuer. Its `0400` is
//! therefore built and written durably *before* the `0100` leaves
//! ([`ReversalStore::keep`]: the file and its directory are synced), and
//! removed only when the outcome is known:
//!
//! * a definitive answer (approved and the card accepted the ARPC, or
//!   declined): nothing to reverse, the stored reversal is dropped;
//! * otherwise the terminal sends it, and removes it only when the switch
//!   acknowledges it (`0410` with DE 39 `00`); until then it stays, and is
//!   resent at the terminal's start and before each new charge
//!   ([`Pos::flush_reversals`]), across restarts of the terminal.
//!
//! On disk: `DIR/reversals/<original transmission time>-<original STAN>.rev`,
//! each the encoded `0400` sealed with AES-256-GCM (paytap-seal `at_rest`)
//! under `DIR/terminal.key`, so the token number and ICC data it carries
//! are not kept in clear. The key file (32 random bytes, mode 0600) stands
//! in for the key a real terminal keeps in its secure hardware. A file that
//! does not open (a different key, a torn write before its rename cannot
//! happen, but a foreign file can) is logged and left in place.
//!
//! Without a directory ([`ReversalStore::memory`], what a bare [`Pos::new`]
//! uses) reversals are kept in memory only and the receipt says so.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paytap_iso8583::{Message, ResponseCode};

use crate::{Pos, PosError, SwitchLink};

/// Associated data binding a sealed reversal to its file name.
const AAD_PREFIX: &str = "paytap-pos-reversal:";

/// At most this many stored reversals are resent in one flush, so a
/// terminal with a long backlog still gets to its charge; the rest wait
/// for the next flush (every charge starts one).
pub const MAX_RESENDS_PER_FLUSH: usize = 64;

/// Where a terminal keeps reversals it still owes the switch.
#[derive(Debug, Clone)]
pub struct ReversalStore {
    inner: Backing,
}

#[derive(Debug, Clone)]
enum Backing {
    Dir { dir: PathBuf, key: [u8; 32] },
    Memory(Arc<Mutex<BTreeMap<String, Vec<u8>>>>),
}

/// What became of a reversal the terminal owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReversalFate {
    /// The switch acknowledged it (0410, 00); it is no longer stored.
    Acknowledged,
    /// Not acknowledged; kept (durably, with a directory) and resent later.
    Stored,
    /// Not acknowledged and could not be kept: nothing will resend it.
    Lost,
}

/// The name a reversal is stored under: its original's DE 7 and DE 11.
pub fn reversal_id(reversal: &Message) -> Option<String> {
    let od = reversal.original_data()?;
    let dt = &od.transmission_datetime;
    if dt.len() != 10 || !dt.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{dt}-{:06}", od.stan))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> PosError {
    PosError::Store(format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<(), PosError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", dir, e))
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32], PosError> {
    match fs::read(path) {
        Ok(b) => {
            return <[u8; 32]>::try_from(b.as_slice())
                .map_err(|_| PosError::Store(format!("{} is not a 32-byte key", path.display())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("reading", path, e)),
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|_| PosError::Random)?;
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| io("creating", path, e))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(|e| io("writing", path, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(key)
}

impl ReversalStore {
    /// The store in `dir` (created if missing, with its key).
    pub fn open(dir: &Path) -> Result<ReversalStore, PosError> {
        let rev = dir.join("reversals");
        fs::create_dir_all(&rev).map_err(|e| io("creating", &rev, e))?;
        let key = load_or_create_key(&dir.join("terminal.key"))?;
        Ok(ReversalStore {
            inner: Backing::Dir { dir: rev, key },
        })
    }

    /// Reversals in memory only: lost when the terminal stops.
    pub fn memory() -> ReversalStore {
        ReversalStore {
            inner: Backing::Memory(Arc::default()),
        }
    }

    /// Whether what it keeps survives the terminal's restart.
    pub fn is_durable(&self) -> bool {
        matches!(self.inner, Backing::Dir { .. })
    }

    /// Keep `reversal`; with a directory, on storage when this returns.
    pub fn keep(&self, reversal: &Message) -> Result<String, PosError> {
        let id = reversal_id(reversal)
            .ok_or_else(|| PosError::Store("the reversal has no usable DE 90".into()))?;
        match &self.inner {
            Backing::Memory(m) => {
                lock(m).insert(id.clone(), reversal.encode());
            }
            Backing::Dir { dir, key } => {
                let sealed = paytap_seal::at_rest::seal(
                    key,
                    format!("{AAD_PREFIX}{id}").as_bytes(),
                    &reversal.encode(),
                )
                .map_err(|e| PosError::Store(format!("sealing the reversal: {e}")))?;
                let tmp = dir.join(format!("{id}.tmp"));
                let path = dir.join(format!("{id}.rev"));
                let mut f = File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
                f.write_all(&sealed)
                    .and_then(|()| f.sync_all())
                    .map_err(|e| io("writing", &tmp, e))?;
                fs::rename(&tmp, &path).map_err(|e| io("renaming", &tmp, e))?;
                sync_dir(dir)?;
            }
        }
        Ok(id)
    }

    /// Forget the reversal stored as `id` (its outcome is known).
    pub fn remove(&self, id: &str) -> Result<(), PosError> {
        match &self.inner {
            Backing::Memory(m) => {
                lock(m).remove(id);
            }
            Backing::Dir { dir, .. } => {
                let path = dir.join(format!("{id}.rev"));
                match fs::remove_file(&path) {
                    Ok(()) => sync_dir(dir)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("removing", &path, e)),
                }
            }
        }
        Ok(())
    }

    /// Every stored reversal, oldest original first. One that cannot be
    /// read is logged and skipped (it stays on disk for an operator).
    pub fn pending(&self) -> Result<Vec<(String, Message)>, PosError> {
        let mut out = Vec::new();
        match &self.inner {
            Backing::Memory(m) => {
                for (id, bytes) in lock(m).iter() {
                    if let Ok(msg) = Message::decode(bytes) {
                        out.push((id.clone(), msg));
                    }
                }
            }
            Backing::Dir { dir, key } => {
                let entries = fs::read_dir(dir).map_err(|e| io("reading", dir, e))?;
                let mut ids: Vec<String> = entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_suffix(".rev")
                            .map(str::to_owned)
                    })
                    .collect();
                ids.sort();
                for id in ids {
                    match read_sealed(dir, key, &id) {
                        Ok(msg) => out.push((id, msg)),
                        Err(why) => {
                            tracing::error!(%id, why, "stored reversal unreadable; left in place");
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn read_sealed(dir: &Path, key: &[u8; 32], id: &str) -> Result<Message, &'static str> {
    let sealed = fs::read(dir.join(format!("{id}.rev"))).map_err(|_| "cannot read")?;
    let clear = paytap_seal::at_rest::open(key, format!("{AAD_PREFIX}{id}").as_bytes(), &sealed)
        .map_err(|_| "does not open with this terminal's key")?;
    Message::decode(&clear).map_err(|_| "not an ISO 8583 message")
}

/// Each change under the terminal's locks is one complete step.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    paytap_types::sync::lock(m, "terminal store and forward")
}

/// The switch acknowledged `reversal` with `answer`: a `0410` (or `0430`)
/// for the same STAN and terminal, DE 39 `00`.
fn acknowledges(reversal: &Message, answer: &Message) -> bool {
    Some(answer.mti()) == reversal.mti().response()
        && answer.response_code() == Some(ResponseCode::Approved)
}

/// What a flush of stored reversals did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Acknowledged by the switch and removed.
    pub acknowledged: usize,
    /// Still stored (not acknowledged, or beyond this flush's limit).
    pub remaining: usize,
}

impl Pos {
    /// Use `store` for the reversals this terminal owes (see the module
    /// documentation); [`Pos::new`] keeps them in memory only.
    pub fn with_reversal_store(mut self, store: ReversalStore) -> Pos {
        self.saf = store;
        self
    }

    /// The reversals this terminal still owes the switch.
    pub fn reversal_store(&self) -> &ReversalStore {
        &self.saf
    }

    /// Send `reversal` (stored as `id`) on `link`, else on a fresh
    /// connection; removed from the store once the switch acknowledges it.
    pub(crate) fn settle_reversal(
        &self,
        link: Option<&mut SwitchLink>,
        id: &str,
        reversal: &Message,
    ) -> ReversalFate {
        if self.send_reversal(link, reversal) {
            match self.saf.remove(id) {
                Ok(()) => return ReversalFate::Acknowledged,
                Err(e) => {
                    // Acknowledged, but still stored: it will be resent and
                    // acknowledged again (the switch answers 00 once more).
                    tracing::error!(terminal = %self.profile.terminal_id, error = %e, "acknowledged reversal not removed");
                    return ReversalFate::Acknowledged;
                }
            }
        }
        if self.saf.is_durable() {
            tracing::warn!(terminal = %self.profile.terminal_id, %id, "reversal not acknowledged; stored, will be resent");
            ReversalFate::Stored
        } else {
            tracing::error!(terminal = %self.profile.terminal_id, %id, "reversal not acknowledged; kept in memory only");
            ReversalFate::Lost
        }
    }

    /// True when the switch acknowledged `reversal`.
    fn send_reversal(&self, link: Option<&mut SwitchLink>, reversal: &Message) -> bool {
        if let Some(l) = link
            && let Ok(Some(a)) = l.exchange(reversal, self.response_timeout)
        {
            return acknowledges(reversal, &a);
        }
        let timeout = self.response_timeout.min(FLUSH_TIMEOUT_CAP);
        match self
            .link(timeout)
            .and_then(|mut l| l.exchange(reversal, timeout))
        {
            Ok(Some(a)) => acknowledges(reversal, &a),
            _ => false,
        }
    }

    /// Resend every stored reversal (up to [`MAX_RESENDS_PER_FLUSH`]) on
    /// one connection, removing each the switch acknowledges. Stops at the
    /// first failure to reach the switch: the rest wait for the next flush.
    pub fn flush_reversals(&self) -> Result<Flushed, PosError> {
        let pending = self.saf.pending()?;
        let mut done = Flushed {
            acknowledged: 0,
            remaining: pending.len(),
        };
        if pending.is_empty() {
            return Ok(done);
        }
        let timeout = self.response_timeout.min(FLUSH_TIMEOUT_CAP);
        let Ok(mut link) = self.link(timeout) else {
            return Ok(done);
        };
        for (id, rev) in pending.iter().take(MAX_RESENDS_PER_FLUSH) {
            match link.exchange(rev, timeout) {
                Ok(Some(a)) if acknowledges(rev, &a) => {
                    self.saf.remove(id)?;
                    done.acknowledged += 1;
                    done.remaining -= 1;
                    tracing::info!(terminal = %self.profile.terminal_id, %id, "stored reversal acknowledged");
                }
                Ok(Some(a)) => {
                    tracing::warn!(terminal = %self.profile.terminal_id, %id, code = a.get_str(39).unwrap_or("-"), "stored reversal refused; kept");
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(done)
    }
}

/// A flush waits at most this long per message: the switch answers a
/// reversal at once (the issuer's part is its own store and forward).
const FLUSH_TIMEOUT_CAP: Duration = Duration::from_secs(10);

impl ReversalFate {
    /// What the receipt says happened.
    pub fn words(self) -> &'static str {
        match self {
            ReversalFate::Acknowledged => "the reversal was sent and acknowledged",
            ReversalFate::Stored => "the reversal is stored and will be resent",
            ReversalFate::Lost => "the reversal was not acknowledged and could not be stored",
        }
    }
}

impl crate::Receipt {
    pub(crate) fn record_reversal(&mut self, fate: ReversalFate) {
        self.reversed = fate == ReversalFate::Acknowledged;
        self.reversal_stored = fate == ReversalFate::Stored;
    }
}

impl Pos {
    /// Before a charge: what is owed goes first. A switch that cannot be
    /// reached now is no reason to refuse the charge (it will fail on its
    /// own); the reversals wait for the next flush.
    pub(crate) fn flush_before_charge(&self) {
        match self.flush_reversals() {
            Ok(Flushed { remaining: 0, .. }) => {}
            Ok(f) => {
                tracing::warn!(terminal = %self.profile.terminal_id, remaining = f.remaining, "stored reversals still owed")
            }
            Err(e) => {
                tracing::error!(terminal = %self.profile.terminal_id, error = %e, "stored reversals not read")
            }
        }
    }
}
