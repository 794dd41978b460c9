//! The bound on password hashing: at most [`MAX_CONCURRENT_HASHES`]
//! Argon2id computations run at once and at most [`MAX_WAITING_HASHES`]
//! more wait for a turn; a request beyond that is answered at once with
//! 503 and `Retry-After` ([`WalletError::Busy`]) instead of queueing
//! without end. Each hash holds its memory (19 MiB by default) and a core,
//! so this is what keeps a burst of logins or registrations from taking
//! the process's memory with it.
//!
//! The permits are moved into the blocking task that computes the hash, so
//! a request whose client gives up (its future dropped) still holds its
//! place until the hash it started has finished.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::WalletError;

/// Argon2id hashes computed at once: each holds m = 19 MiB and one core for
/// tens of milliseconds; four use the cores a small server has and bound
/// the hashing memory to about 76 MiB.
pub const MAX_CONCURRENT_HASHES: usize = 4;

/// Hash requests allowed to wait for a turn: 64 waiting behind 4 running
/// is well under a second of queue on one core at the default cost; more
/// would only lengthen every caller's wait.
pub const MAX_WAITING_HASHES: usize = 64;

/// What a refused caller is told to wait before retrying: the queue above
/// drains in about this time.
pub const HASH_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Admission to password hashing (see the module doc).
#[derive(Clone, Debug)]
pub struct HashGate {
    /// Hashes running or waiting.
    admitted: Arc<Semaphore>,
    /// Hashes running.
    running: Arc<Semaphore>,
}

/// A place in the hashing queue; dropped when the hash is done.
#[derive(Debug)]
pub struct HashTicket {
    _admitted: OwnedSemaphorePermit,
}

impl HashGate {
    /// A gate letting `concurrent` hashes run and `waiting` more wait.
    pub fn new(concurrent: usize, waiting: usize) -> HashGate {
        assert!(concurrent > 0, "at least one hash must be able to run");
        HashGate {
            admitted: Arc::new(Semaphore::new(concurrent + waiting)),
            running: Arc::new(Semaphore::new(concurrent)),
        }
    }

    /// A place in the queue, or [`WalletError::Busy`] when it is full.
    pub fn try_admit(&self) -> Result<HashTicket, WalletError> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(p) => Ok(HashTicket { _admitted: p }),
            Err(_) => {
                tracing::warn!("password hashing at capacity: request refused with 503");
                Err(WalletError::Busy {
                    retry_after_secs: HASH_RETRY_AFTER.as_secs(),
                })
            }
        }
    }

    /// Runs `f` (a password hash or verification) on a blocking thread
    /// once a turn is free; refused with [`WalletError::Busy`] when the
    /// queue is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, WalletError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ticket = self.try_admit()?;
        let turn = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| WalletError::Internal("hash gate closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop((turn, ticket));
            out
        })
        .await
        .map_err(|e| WalletError::Internal(e.to_string()))
    }
}

impl Default for HashGate {
    fn default() -> Self {
        HashGate::new(MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_and_frees_when_done() {
        let gate = HashGate::new(1, 1);
        let a = gate.try_admit().unwrap();
        let b = gate.try_admit().unwrap();
        let refused = gate.run(|| 1).await;
        assert!(matches!(
            refused,
            Err(WalletError::Busy {
                retry_after_secs: 1
            })
        ));
        drop((a, b));
        assert_eq!(gate.run(|| 7).await.unwrap(), 7);
        // The finished hash gave its places back.
        let _c = gate.try_admit().unwrap();
        let _d = gate.try_admit().unwrap();
    }
}
