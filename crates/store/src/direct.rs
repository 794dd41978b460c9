//! SQLite group commits on a thread of their own.
//!
//! Through `sqlx`, every statement of a transaction is a round trip between
//! the async task and the connection's worker thread: a hand-off to that
//! thread, and one back to the task through the runtime's queue. On a busy
//! machine each hand-off waits for a core, so a ledger batch of seven
//! statements (begin, two reads, three writes, commit) spent about 2 ms
//! waiting and a fraction of that working, and the hot path's writers
//! committed at that pace.
//!
//! A [`DirectWriter`] is one OS thread per SQLite database file that owns a
//! `rusqlite` connection to it and runs whole transactions, given as
//! closures, synchronously: a batch costs one hand-off in and one out,
//! whatever its statements. A [`DirectQueue`] goes one step further: its
//! callers push items, the thread takes whatever is queued as one batch and
//! answers the callers itself (a `tokio::sync::oneshot` sends from any
//! thread), so no async task sits between them and the commit.
//!
//! The thread takes the same pragmas as the pool (WAL, `synchronous=FULL`,
//! foreign keys). It shares the file's write lock with the pool's write
//! connection through SQLite itself: `BEGIN IMMEDIATE`, and a busy handler
//! that retries in short sleeps (tens of microseconds, then up to a
//! millisecond) for at most [`BUSY_LIMIT`]. The pool's writer sleeps in
//! millisecond steps between its tries, and rounds that follow each other
//! back to back leave gaps of microseconds, so it could wait its whole busy
//! timeout under load: while one is trying to begin (counted by
//! [`crate::Db::begin_write`]), the thread starts nothing new, for at most
//! [`YIELD_LIMIT`] a job. Work runs in the order it was
//! sent; the queues' batches that are waiting together share one
//! transaction and one commit (a round, see [`DirectQueue`]). PostgreSQL
//! has no direct writer; its services use [`crate::Db::begin_write`],
//! where a round trip is a network one.

use crate::StoreError;
use crate::batch::Arg;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Longest the thread holds a job back for a pool writer trying to begin.
pub const YIELD_LIMIT: Duration = Duration::from_millis(50);

/// How long a direct transaction waits for the file's write lock before it
/// fails with "database is locked".
pub const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// Most queue batches one round's transaction takes.
const MAX_PARTS: usize = 64;

enum Job {
    /// A closure that runs alone on the connection.
    Run(Box<dyn FnOnce(&mut rusqlite::Connection) + Send>),
    /// A queue's batch: joins the other batches waiting at that moment in
    /// one transaction (see [`round`]).
    Part(Box<dyn Part>),
}

/// What a queue's batch does once the round's commit is known: `Ok` when
/// it is durable, the commit's error when nothing of the round was kept.
pub type AfterCommit = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;

/// A queue's batch in a round.
trait Part: Send {
    /// Writes inside the round's transaction, under a savepoint of its own:
    /// `Ok` keeps the writes, `Err` rolls them back (the other batches of
    /// the round are not affected). Either way the answer is given after
    /// the commit.
    fn write(self: Box<Self>, conn: &rusqlite::Connection) -> Result<AfterCommit, AfterCommit>;
    /// The round could not start.
    fn fail(self: Box<Self>, error: Arc<StoreError>);
}

/// Handle to a database file's writer thread. Dropping the last handle ends
/// the thread (after the jobs already sent) and closes its connection.
pub struct DirectWriter {
    jobs: mpsc::Sender<Job>,
    path: PathBuf,
}

impl std::fmt::Debug for DirectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DirectWriter {
    /// Opens `path` (which must exist: the pool created it) and starts the
    /// thread.
    ///
    /// `pool_writers` counts the pool's writers trying to begin a
    /// transaction on this file.
    pub(crate) fn open(
        path: &Path,
        pool_writers: Arc<std::sync::atomic::AtomicUsize>,
    ) -> Result<DirectWriter, StoreError> {
        let conn = open_connection(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let mut conn = conn;
                let mut next: Option<Job> = None;
                loop {
                    let job = match next.take() {
                        Some(job) => job,
                        None => match rx.recv() {
                            Ok(job) => job,
                            Err(_) => break,
                        },
                    };
                    let held = Instant::now();
                    while pool_writers.load(Ordering::SeqCst) > 0 && held.elapsed() < YIELD_LIMIT {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    match job {
                        Job::Run(f) => {
                            // A job that panics loses only its own answer.
                            let run = std::panic::AssertUnwindSafe(|| f(&mut conn));
                            if std::panic::catch_unwind(run).is_err() {
                                tracing::error!("a direct SQLite job panicked");
                            }
                        }
                        Job::Part(first) => {
                            // Every batch already waiting joins this round;
                            // a plain job waits for the round's commit.
                            let mut parts = vec![first];
                            while parts.len() < MAX_PARTS {
                                match rx.try_recv() {
                                    Ok(Job::Part(p)) => parts.push(p),
                                    Ok(other) => {
                                        next = Some(other);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            let run = std::panic::AssertUnwindSafe(|| round(&mut conn, parts));
                            if std::panic::catch_unwind(run).is_err() {
                                tracing::error!("a group commit round panicked");
                            }
                        }
                    }
                }
            })?;
        Ok(DirectWriter {
            jobs,
            path: path.to_owned(),
        })
    }

    /// Runs `f` on the writer thread with the connection; returns its
    /// result. `f` must not block on async work of this process that could
    /// itself be waiting for this writer.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut rusqlite::Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Run(Box::new(
            move |conn: &mut rusqlite::Connection| {
                let _ = tx.send(f(conn));
            },
        )))?;
        rx.await.map_err(|_| StoreError::WriterStopped)
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).map_err(|_| StoreError::WriterStopped)
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) on the writer
    /// thread: committed durably if `f` returns `Ok`, rolled back if it
    /// returns `Err` or panics.
    pub async fn transaction<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(move |conn| transaction(conn, f))
            .await
            .map_err(E::from)?
    }
}

/// One round on the writer thread: one immediate transaction for every
/// batch in `parts`, each under its own savepoint, one commit (one fsync),
/// then each batch's answer. With one database for several components,
/// their batches commit together instead of one after another.
fn round(conn: &mut rusqlite::Connection, parts: Vec<Box<dyn Part>>) {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = Arc::new(StoreError::Sqlite(e));
            for p in parts {
                p.fail(Arc::clone(&e));
            }
            return;
        }
    };
    let mut afters: Vec<AfterCommit> = Vec::with_capacity(parts.len());
    let mut broken: Option<rusqlite::Error> = None;
    // Batches that did not get to write: failed with the round's error.
    let mut unwritten: Vec<Box<dyn Part>> = Vec::new();
    let mut parts = parts.into_iter();
    for p in parts.by_ref() {
        if let Err(e) = tx.execute_batch("SAVEPOINT part") {
            broken = Some(e);
            unwritten.push(p);
            break;
        }
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.write(&tx)));
        let (keep, after) = match written {
            Ok(Ok(after)) => (true, Some(after)),
            Ok(Err(after)) => (false, Some(after)),
            Err(_) => {
                tracing::error!("a group commit batch panicked; its writes are rolled back");
                (false, None)
            }
        };
        afters.extend(after);
        let end = if keep {
            tx.execute_batch("RELEASE part")
        } else {
            tx.execute_batch("ROLLBACK TO part; RELEASE part")
        };
        if let Err(e) = end {
            broken = Some(e);
            break;
        }
    }
    let committed = match broken {
        // The transaction is in no known state: keep nothing.
        Some(e) => {
            drop(tx);
            Err(Arc::new(StoreError::Sqlite(e)))
        }
        None => tx.commit().map_err(|e| Arc::new(StoreError::Sqlite(e))),
    };
    if let Err(e) = &committed {
        tracing::error!(error = %e, "group commit round failed, nothing committed");
        for p in unwritten.into_iter().chain(parts) {
            p.fail(Arc::clone(e));
        }
    }
    for after in afters {
        after(committed.clone());
    }
}

/// Runs `f` under a savepoint of the open transaction on `conn`: its writes
/// are kept if it returns `Ok`, rolled back if it returns `Err`.
pub fn savepoint<R, E, F>(conn: &rusqlite::Connection, f: F) -> Result<R, E>
where
    F: FnOnce(&rusqlite::Connection) -> Result<R, E>,
    E: From<StoreError>,
{
    conn.execute_batch("SAVEPOINT inner")
        .map_err(|e| E::from(StoreError::Sqlite(e)))?;
    let out = f(conn);
    let end = match out {
        Ok(_) => conn.execute_batch("RELEASE inner"),
        Err(_) => conn.execute_batch("ROLLBACK TO inner; RELEASE inner"),
    };
    end.map_err(|e| E::from(StoreError::Sqlite(e)))?;
    out
}

/// A group-commit queue served by a [`DirectWriter`]: callers push items
/// (waiting only when `capacity` items are already queued), and the
/// writer's thread takes everything queued, up to `max_batch`, as one batch
/// into its next round (with whatever other queues of the same database
/// have waiting), hands it to the queue's `write` function inside the
/// round's transaction, and after the commit calls what `write` returned,
/// which answers the items' callers. If the round cannot start, `fail`
/// answers them. Whatever arrives while one round commits goes into the
/// next. No async task sits between the callers and the thread: a batch
/// costs the thread's wake-up at most, and nothing when it is busy.
pub struct DirectQueue<T> {
    sender: tokio::sync::mpsc::Sender<T>,
    inner: Arc<QueueInner<T>>,
}

type WriteBatch<T> =
    Box<dyn Fn(&rusqlite::Connection, Vec<T>) -> Result<AfterCommit, AfterCommit> + Send + Sync>;
type FailBatch<T> = Box<dyn Fn(Vec<T>, Arc<StoreError>) + Send + Sync>;

struct QueueInner<T> {
    receiver: Mutex<tokio::sync::mpsc::Receiver<T>>,
    /// A drain is queued on the writer (or running and not yet past the
    /// point where it looks at the queue).
    scheduled: AtomicBool,
    writer: Arc<DirectWriter>,
    max_batch: usize,
    write: WriteBatch<T>,
    fail: FailBatch<T>,
}

impl<T: Send + 'static> DirectQueue<T> {
    pub fn new(
        writer: Arc<DirectWriter>,
        capacity: usize,
        max_batch: usize,
        write: impl Fn(&rusqlite::Connection, Vec<T>) -> Result<AfterCommit, AfterCommit>
        + Send
        + Sync
        + 'static,
        fail: impl Fn(Vec<T>, Arc<StoreError>) + Send + Sync + 'static,
    ) -> DirectQueue<T> {
        let (sender, receiver) = tokio::sync::mpsc::channel(capacity.max(1));
        DirectQueue {
            sender,
            inner: Arc::new(QueueInner {
                receiver: Mutex::new(receiver),
                scheduled: AtomicBool::new(false),
                writer,
                max_batch: max_batch.max(1),
                write: Box::new(write),
                fail: Box::new(fail),
            }),
        }
    }

    /// Queues `item` for the next batch.
    pub async fn push(&self, item: T) -> Result<(), StoreError> {
        self.sender
            .send(item)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        if let Err(e) = QueueInner::schedule(&self.inner) {
            // Nothing will take the queue: drop its items, so that their
            // callers hear that the writer stopped instead of waiting.
            while self.inner.receiver().try_recv().is_ok() {}
            return Err(e);
        }
        Ok(())
    }
}

/// Where a service's group-commit requests go: the SQLite file's
/// [`DirectQueue`], or the channel of the service's writer task on the pool
/// (PostgreSQL). The ledger and [`crate::batch::Batcher`] each hold one.
pub enum WriteQueue<T> {
    Direct(Arc<DirectQueue<T>>),
    Pool(tokio::sync::mpsc::Sender<T>),
}

impl<T> Clone for WriteQueue<T> {
    fn clone(&self) -> Self {
        match self {
            WriteQueue::Direct(q) => WriteQueue::Direct(Arc::clone(q)),
            WriteQueue::Pool(tx) => WriteQueue::Pool(tx.clone()),
        }
    }
}

impl<T: Send + 'static> WriteQueue<T> {
    /// Queues `item` for its writer; `Err` once the writer has stopped.
    pub async fn push(&self, item: T) -> Result<(), StoreError> {
        match self {
            WriteQueue::Direct(q) => q.push(item).await,
            WriteQueue::Pool(tx) => tx.send(item).await.map_err(|_| StoreError::WriterStopped),
        }
    }
}

/// A queue's turn in a round.
struct Drain<T>(Arc<QueueInner<T>>);

impl<T: Send + 'static> Part for Drain<T> {
    fn write(self: Box<Self>, conn: &rusqlite::Connection) -> Result<AfterCommit, AfterCommit> {
        let batch = self.0.take();
        if batch.is_empty() {
            return Ok(Box::new(|_| {}));
        }
        (self.0.write)(conn, batch)
    }

    fn fail(self: Box<Self>, error: Arc<StoreError>) {
        let batch = self.0.take();
        if !batch.is_empty() {
            (self.0.fail)(batch, error);
        }
    }
}

impl<T: Send + 'static> QueueInner<T> {
    fn receiver(&self) -> std::sync::MutexGuard<'_, tokio::sync::mpsc::Receiver<T>> {
        self.receiver.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn schedule(this: &Arc<Self>) -> Result<(), StoreError> {
        if this.scheduled.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        this.writer
            .send(Job::Part(Box::new(Drain(Arc::clone(this)))))
    }

    /// On the writer thread: the next batch. Anything left beyond
    /// `max_batch` gets a turn of its own.
    fn take(self: &Arc<Self>) -> Vec<T> {
        // From here on a push schedules another drain: an item sent before
        // this store is taken below, one sent after it by the next drain.
        self.scheduled.store(false, Ordering::SeqCst);
        let (batch, more) = {
            let mut rx = self.receiver();
            let mut batch = Vec::new();
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            (batch, !rx.is_empty())
        };
        if more && let Err(e) = Self::schedule(self) {
            tracing::error!(error = %e, "group commit queue left items behind");
        }
        batch
    }
}

/// `f` in one immediate transaction on `conn`, committed on `Ok`.
pub fn transaction<R, E, F>(conn: &mut rusqlite::Connection, f: F) -> Result<R, E>
where
    F: FnOnce(&rusqlite::Transaction<'_>) -> Result<R, E>,
    E: From<StoreError>,
{
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| E::from(StoreError::Sqlite(e)))?;
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tx)));
    match out {
        Ok(Ok(r)) => {
            tx.commit().map_err(|e| E::from(StoreError::Sqlite(e)))?;
            Ok(r)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(E::from(StoreError::WriterPanicked)),
    }
}

fn open_connection(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_handler(Some(busy))?;
    // Same settings as the pool's connections (see `Db::connect`).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Busy handler: `attempt` counts the calls for one lock request. Sleeps
/// 20 µs, doubling to at most 1 ms, until [`BUSY_LIMIT`] is spent.
fn busy(attempt: i32) -> bool {
    thread_local! {
        static STARTED: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }
    let started = STARTED.with(|s| {
        if attempt == 0 || s.get().is_none() {
            s.set(Some(Instant::now()));
        }
        s.get().unwrap_or_else(Instant::now)
    });
    if started.elapsed() >= BUSY_LIMIT {
        return false;
    }
    let shift = attempt.clamp(0, 6) as u32;
    std::thread::sleep(Duration::from_micros(20u64 << shift).min(Duration::from_millis(1)));
    true
}

/// Runs `sql` with `args` (bound in order to `$1, $2, ...`); returns the
/// rows changed.
pub fn execute(tx: &rusqlite::Connection, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    Ok(stmt.raw_execute()? as u64)
}

/// Binds `args` to a statement written with `$N` placeholders (the
/// portable form; see the crate docs): `$N` takes `args[N - 1]`.
pub fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> Result<(), StoreError> {
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .strip_prefix('$')
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Placeholder(name.to_owned()))?,
            None => i,
        };
        let arg = args
            .get(n - 1)
            .ok_or_else(|| StoreError::Placeholder(format!("${n}")))?;
        match arg {
            Arg::I64(v) | Arg::OptI64(Some(v)) => stmt.raw_bind_parameter(i, *v)?,
            Arg::Text(v) | Arg::OptText(Some(v)) => stmt.raw_bind_parameter(i, v.as_str())?,
            Arg::OptText(None) | Arg::OptI64(None) => {
                stmt.raw_bind_parameter(i, rusqlite::types::Null)?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Db;
    use crate::batch::Arg;
    use std::sync::{Arc, Mutex};

    /// Every pushed item is taken exactly once, in no batch larger than
    /// `max_batch`, and its caller answered from the writer thread, also
    /// when more is queued than one batch takes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queue_takes_everything_in_bounded_batches() {
        let db = Db::for_tests().await.unwrap();
        let Some(direct) = db.direct() else {
            return; // PostgreSQL: no direct writer
        };
        sqlx::query("CREATE TABLE q (id BIGINT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        type Item = (i64, tokio::sync::oneshot::Sender<usize>);
        let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = Arc::clone(&sizes);
        let queue = Arc::new(super::DirectQueue::new(
            Arc::clone(direct),
            1024,
            16,
            move |conn, batch: Vec<Item>| {
                let n = batch.len();
                seen.lock().unwrap().push(n);
                for (id, _) in &batch {
                    let r =
                        super::execute(conn, "INSERT INTO q (id) VALUES ($1)", &[Arg::I64(*id)]);
                    assert!(r.is_ok());
                }
                let after: super::AfterCommit = Box::new(move |committed| {
                    assert!(committed.is_ok());
                    for (_, reply) in batch {
                        let _ = reply.send(n);
                    }
                });
                Ok(after)
            },
            |_batch, error| panic!("the round could not start: {error}"),
        ));
        let mut callers = Vec::new();
        for id in 0..400 {
            let queue = Arc::clone(&queue);
            callers.push(tokio::spawn(async move {
                let (tx, rx) = tokio::sync::oneshot::channel();
                queue.push((id, tx)).await.unwrap();
                rx.await.unwrap()
            }));
        }
        let all = async {
            for c in callers {
                let n = c.await.unwrap();
                assert!((1..=16).contains(&n));
            }
        };
        // A guard against a lost wake-up hanging the run, not a speed check.
        tokio::time::timeout(std::time::Duration::from_secs(120), all)
            .await
            .expect("every caller answered");
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 400);
        assert!(sizes.iter().all(|&n| (1..=16).contains(&n)));
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM q")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count, 400);
    }

    /// Two queues' batches in rounds on one database: a batch that fails
    /// is rolled back alone, the other's writes are committed, and both are
    /// answered after the commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_batch_does_not_undo_another_queues_batch() {
        let db = Db::for_tests().await.unwrap();
        let Some(direct) = db.direct() else {
            return; // PostgreSQL: no direct writer
        };
        sqlx::query("CREATE TABLE r (id BIGINT PRIMARY KEY, queue TEXT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        type Item = (i64, tokio::sync::oneshot::Sender<Result<(), String>>);
        let queue = |name: &'static str| {
            Arc::new(super::DirectQueue::new(
                Arc::clone(direct),
                1024,
                1024,
                move |conn, batch: Vec<Item>| {
                    let mut failed = None;
                    for (id, _) in &batch {
                        let r = super::execute(
                            conn,
                            "INSERT INTO r (id, queue) VALUES ($1, $2)",
                            &[Arg::I64(*id), Arg::Text(name.into())],
                        );
                        if let Err(e) = r {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                    let ok = failed.is_none();
                    let after: super::AfterCommit = Box::new(move |committed| {
                        for (_, reply) in batch {
                            let r = match (&committed, &failed) {
                                (Err(e), _) => Err(e.to_string()),
                                (Ok(()), Some(f)) => Err(f.clone()),
                                (Ok(()), None) => Ok(()),
                            };
                            let _ = reply.send(r);
                        }
                    });
                    if ok { Ok(after) } else { Err(after) }
                },
                |batch, error| {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(error.to_string()));
                    }
                },
            ))
        };
        let good = queue("good");
        let bad = queue("bad");
        // "bad" re-uses an id that "good" writes: whichever batch comes
        // second fails on the primary key, and only its rows are undone.
        let mut calls = Vec::new();
        for id in 0..50 {
            for (q, id) in [(Arc::clone(&good), id), (Arc::clone(&bad), 1_000 + id % 10)] {
                calls.push(tokio::spawn(async move {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    q.push((id, tx)).await.unwrap();
                    rx.await.unwrap()
                }));
            }
        }
        let mut answers = Vec::new();
        for c in calls {
            answers.push(c.await.unwrap());
        }
        let (good_rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM r WHERE queue = 'good'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(good_rows, 50, "every good row is committed");
        let (bad_rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM r WHERE queue = 'bad'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!(bad_rows <= 10, "{bad_rows}");
        // Answers are in push order: good, bad, good, bad, ...
        assert!(answers.iter().step_by(2).all(Result::is_ok));
        let bad_ok = answers
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|a| a.is_ok())
            .count() as i64;
        assert_eq!(
            bad_ok, bad_rows,
            "an item is answered Ok exactly when its row is committed"
        );
        assert!(
            answers.iter().any(|a| a.is_err()),
            "duplicate ids were refused"
        );
    }

    /// A pool writer that wants to begin while the thread has a long queue
    /// of transactions gets the lock among them, not after all of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pool_writer_is_not_starved_by_a_busy_thread() {
        let db = Db::for_tests().await.unwrap();
        let Some(direct) = db.direct() else {
            return; // PostgreSQL: no direct writer
        };
        sqlx::query("CREATE TABLE flood (id BIGINT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        const FLOOD: i64 = 2_000;
        let mut jobs = Vec::new();
        for id in 0..FLOOD {
            let direct = Arc::clone(direct);
            jobs.push(tokio::spawn(async move {
                direct
                    .transaction(move |tx| {
                        super::execute(tx, "INSERT INTO flood (id) VALUES ($1)", &[Arg::I64(id)])
                    })
                    .await
                    .unwrap();
            }));
        }
        // Wait until the thread is well into the queue.
        loop {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flood")
                .fetch_one(db.pool())
                .await
                .unwrap();
            if n >= 10 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let mut tx = db.begin_write().await.unwrap();
        let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flood")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            seen < FLOOD,
            "the pool writer began only after all {FLOOD} jobs"
        );
        for j in jobs {
            j.await.unwrap();
        }
    }

    #[tokio::test]
    async fn commits_rolls_back_and_shares_the_lock_with_the_pool() {
        let db = Db::for_tests().await.unwrap();
        let Some(direct) = db.direct() else {
            return; // PostgreSQL: no direct writer
        };
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        // Committed: visible to the pool.
        let n = direct
            .transaction(|tx| {
                super::execute(
                    tx,
                    "INSERT INTO t (id, n) VALUES ($2, $1)",
                    &[Arg::I64(7), Arg::Text("a".into())],
                )
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
        let (n,): (i64,) = sqlx::query_as("SELECT n FROM t WHERE id = 'a'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 7);
        // An error rolls the whole transaction back.
        let r: Result<(), crate::StoreError> = direct
            .transaction(|tx| {
                super::execute(
                    tx,
                    "INSERT INTO t (id, n) VALUES ($1, $2)",
                    &[Arg::Text("b".into()), Arg::I64(1)],
                )?;
                super::execute(
                    tx,
                    "INSERT INTO t (id, n) VALUES ($1, $2)",
                    &[Arg::Text("a".into()), Arg::I64(2)],
                )?;
                Ok(())
            })
            .await;
        assert!(r.is_err(), "duplicate key must fail");
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count, 1, "the failed transaction left nothing");
        // While the pool's write connection holds the lock, a direct
        // transaction waits for it and then commits.
        let mut held = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO t (id, n) VALUES ('c', 3)")
            .execute(&mut *held)
            .await
            .unwrap();
        let waiting = {
            let direct = std::sync::Arc::clone(db.direct().unwrap());
            tokio::spawn(async move {
                direct
                    .transaction(|tx| {
                        super::execute(
                            tx,
                            "UPDATE t SET n = n + 10 WHERE id = $1",
                            &[Arg::Text("c".into())],
                        )
                    })
                    .await
            })
        };
        tokio::task::yield_now().await;
        held.commit().await.unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), 1);
        let (n,): (i64,) = sqlx::query_as("SELECT n FROM t WHERE id = 'c'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 13);
        // A placeholder without an argument is an error, not a panic.
        let r = direct
            .transaction(|tx| super::execute(tx, "UPDATE t SET n = $2 WHERE id = $1", &[]))
            .await;
        assert!(matches!(r, Err(crate::StoreError::Placeholder(_))));
    }
}
