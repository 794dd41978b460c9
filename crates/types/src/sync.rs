//! Locks whose poisoning is said out loud.
//!
//! A `std::sync` lock is poisoned when a thread panicked while holding it:
//! a bug of ours. paytap keeps such a lock's state only where every change
//! made under it is one complete step (an insert, a counter bump), so no
//! half-made change can be seen; it then logs the poisoning at error level
//! once per acquisition, so the bug is never silent, and goes on. A lock
//! whose changes take several steps must not use these helpers.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn poisoned(what: &'static str) {
    tracing::error!(
        lock = what,
        "lock poisoned by an earlier panic; its state is kept (each change under it is one complete step)"
    );
}

/// Locks `m` (named `what` in the log), keeping its state after a panic
/// elsewhere while it was held. See the module docs for when that is right.
pub fn lock<'a, T>(m: &'a Mutex<T>, what: &'static str) -> MutexGuard<'a, T> {
    m.lock().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}

/// [`lock`] for the read side of an `RwLock`.
pub fn read<'a, T>(l: &'a RwLock<T>, what: &'static str) -> RwLockReadGuard<'a, T> {
    l.read().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}

/// [`lock`] for the write side of an `RwLock`.
pub fn write<'a, T>(l: &'a RwLock<T>, what: &'static str) -> RwLockWriteGuard<'a, T> {
    l.write().unwrap_or_else(|p| {
        poisoned(what);
        p.into_inner()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_keeps_its_state() {
        let m = std::sync::Arc::new(Mutex::new(7));
        let held = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = held.lock().unwrap();
            panic!("a bug while holding the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m, "test"), 7);
        let l = RwLock::new(3);
        *write(&l, "test") += 1;
        assert_eq!(*read(&l, "test"), 4);
    }
}
