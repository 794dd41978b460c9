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
//! The thread takes the pool's pragmas (WAL, foreign keys) but commits
//! without waiting for storage (`synchronous=NORMAL`): a second thread (the
//! `Syncer`, which says why nobody hears of a commit that is not durable)
//! syncs the WAL after each commit and only then answers, while the writer
//! goes on with the next transaction. It shares the file's write lock with
//! the pool's write connection through SQLite itself: `BEGIN IMMEDIATE`,
//! and a busy handler that retries in short sleeps (tens of microseconds,
//! then up to a millisecond) for at most [`BUSY_LIMIT`]. The pool's writer sleeps in
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
use paytap_types::DurationHistogram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Most jobs waiting for the writer thread. A job is a few hundred bytes
/// and the thread runs thousands a second, so a full queue means seconds of
/// backlog: a new job is refused with [`StoreError::Overloaded`] (its
/// caller answers "try later") instead of growing memory.
pub const MAX_JOBS_QUEUED: usize = 16_384;

/// Most commits written but not yet handed to the sync thread. Full, the
/// writer thread waits for the sync thread (storage is the bottleneck then,
/// and committing more would only queue more answers).
const MAX_COMMITS_UNSYNCED: usize = 4_096;

enum Job {
    /// A closure that runs alone on the connection.
    Run(Box<dyn RunJob>),
    /// A queue's batch: joins the other batches waiting at that moment in
    /// one transaction (see [`round`]).
    Part(Box<dyn Part>),
}

/// What a queue's batch does once the round's commit is known: `Ok` when
/// it is durable, the commit's error when nothing of the round was kept.
pub type AfterCommit = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;

/// A closure that runs alone on the connection ([`DirectWriter::run`]).
trait RunJob: Send {
    /// Runs; returns what answers the caller once whatever it committed is
    /// durable.
    fn run(self: Box<Self>, conn: &mut rusqlite::Connection) -> AfterCommit;
    /// The writer refuses work (see [`Syncer`]).
    fn fail(self: Box<Self>, error: Arc<StoreError>);
}

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

/// What a writer thread counts for the operator's metrics: relaxed
/// atomics, so counting costs its callers and its thread next to nothing.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Jobs sent to the thread and not yet taken (at most
    /// [`MAX_JOBS_QUEUED`]).
    queued: AtomicU64,
    /// How long each group-commit round took, from `BEGIN` to its commit
    /// (before the WAL sync, which the sync thread does).
    pub rounds: DurationHistogram,
}

impl WriterStats {
    /// Jobs waiting for the writer thread now.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handle to a database file's writer thread. Dropping the last handle ends
/// the thread (after the jobs already sent) and closes its connection.
pub struct DirectWriter {
    jobs: mpsc::SyncSender<Job>,
    stats: Arc<WriterStats>,
    path: PathBuf,
    /// How far commits are durable (`None`: each commit syncs itself).
    sync: Option<Arc<SyncState>>,
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
        let (conn, wal) = open_connection(path)?;
        let syncer = match wal {
            Some(wal) => Some(Syncer::start(wal)?),
            None => None,
        };
        let sync = syncer.as_ref().map(|s| Arc::clone(&s.state));
        let (jobs, rx) = mpsc::sync_channel::<Job>(MAX_JOBS_QUEUED);
        let stats = Arc::new(WriterStats::default());
        let counted = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let mut conn = conn;
                let mut next: Option<Job> = None;
                loop {
                    let job = match next.take() {
                        Some(job) => job,
                        None => match rx.recv() {
                            Ok(job) => {
                                counted.taken();
                                job
                            }
                            Err(_) => break,
                        },
                    };
                    let held = Instant::now();
                    while pool_writers.load(Ordering::SeqCst) > 0 && held.elapsed() < YIELD_LIMIT {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    let refused = syncer.as_ref().and_then(Syncer::refused);
                    match job {
                        Job::Run(job) => {
                            if let Some(e) = refused {
                                job.fail(e);
                                continue;
                            }
                            if let Some(s) = &syncer {
                                s.starting();
                            }
                            // A job that panics loses only its own answer.
                            let run = std::panic::AssertUnwindSafe(|| job.run(&mut conn));
                            match std::panic::catch_unwind(run) {
                                Ok(answer) => answer_when_durable(syncer.as_ref(), vec![answer]),
                                Err(_) => {
                                    tracing::error!("a direct SQLite job panicked");
                                    // It may have committed: count it.
                                    answer_when_durable(syncer.as_ref(), Vec::new());
                                }
                            }
                        }
                        Job::Part(first) => {
                            // Every batch already waiting joins this round;
                            // a plain job waits for the round's commit.
                            let mut parts = vec![first];
                            while parts.len() < MAX_PARTS {
                                let taken = rx.try_recv();
                                if taken.is_ok() {
                                    counted.taken();
                                }
                                match taken {
                                    Ok(Job::Part(p)) => parts.push(p),
                                    Ok(other) => {
                                        next = Some(other);
                                        break;
                                    }
                                    Err(_) => break,
                                }
                            }
                            if let Some(e) = refused {
                                for p in parts {
                                    p.fail(Arc::clone(&e));
                                }
                                continue;
                            }
                            let started = Instant::now();
                            let run = std::panic::AssertUnwindSafe(|| {
                                round(&mut conn, parts, syncer.as_ref())
                            });
                            if std::panic::catch_unwind(run).is_err() {
                                tracing::error!("a group commit round panicked");
                            }
                            counted.rounds.observe(started.elapsed());
                        }
                    }
                }
            })?;
        Ok(DirectWriter {
            jobs,
            stats,
            path: path.to_owned(),
            sync,
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
        self.send(Job::Run(Box::new(OneRun { f, tx })))?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Runs `f` inside the next round (see [`round`]), under a savepoint of
    /// its own, beside the queues' batches waiting then: its writes share
    /// their commit (one fsync) instead of paying one of their own. `Ok`
    /// keeps the writes and is returned once they are durable; `Err` rolls
    /// back only them. A commit that fails returns [`StoreError::Round`].
    pub async fn in_round<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.send_in_round(f)?.await
    }

    /// [`DirectWriter::in_round`], sent to the thread at once: the returned
    /// future only waits for the outcome. Jobs sent one after another run
    /// in that order, so a caller can have several in flight (each is
    /// durable no later than the ones sent after it).
    pub fn send_in_round<R, F>(
        &self,
        f: F,
    ) -> Result<impl Future<Output = Result<R, StoreError>> + Send + use<R, F>, StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Part(Box::new(OnePart { f, tx })))?;
        Ok(async move { rx.await.map_err(|_| StoreError::WriterStopped)? })
    }

    /// Waits until every commit this writer made before the call is on
    /// storage. A commit is visible to the file's other connections as soon
    /// as it is written, a little before its sync (see [`Syncer`]); a reader
    /// that answers someone from such a row waits here first.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let Some(state) = &self.sync else {
            return Ok(());
        };
        // A row another connection sees is from a commit that had started
        // before the reader looked.
        let target = state.started.load(Ordering::SeqCst);
        let mut synced = state.synced.subscribe();
        loop {
            if let Some(e) = state.failed() {
                return Err(StoreError::Round(e));
            }
            if *synced.borrow_and_update() >= target {
                return Ok(());
            }
            synced
                .changed()
                .await
                .map_err(|_| StoreError::WriterStopped)?;
        }
    }

    /// What the writer counted (see [`WriterStats`]).
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        // Counted before the send, so the thread never takes a job that
        // is not counted yet.
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.try_send(job);
        if sent.is_err() {
            self.stats.taken();
        }
        sent.map_err(|e| match e {
            mpsc::TrySendError::Full(_) => {
                tracing::warn!(
                    limit = MAX_JOBS_QUEUED,
                    "the SQLite writer's queue is full; a write is refused"
                );
                StoreError::Overloaded
            }
            mpsc::TrySendError::Disconnected(_) => StoreError::WriterStopped,
        })
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

/// A closure run alone ([`DirectWriter::run`]).
struct OneRun<F, R> {
    f: F,
    tx: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> RunJob for OneRun<F, R>
where
    F: FnOnce(&mut rusqlite::Connection) -> R + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut rusqlite::Connection) -> AfterCommit {
        let OneRun { f, tx } = *self;
        let r = f(conn);
        Box::new(move |durable| {
            // The caller may have given up waiting; its answer is then not needed.
            let _ = tx.send(durable.map(|()| r).map_err(StoreError::Round));
        })
    }

    fn fail(self: Box<Self>, error: Arc<StoreError>) {
        // The caller may have given up waiting; its answer is then not needed.
        let _ = self.tx.send(Err(StoreError::Round(error)));
    }
}

/// A closure's turn in a round ([`DirectWriter::in_round`]).
struct OnePart<F, R> {
    f: F,
    tx: oneshot::Sender<Result<R, StoreError>>,
}

impl<F, R> Part for OnePart<F, R>
where
    F: FnOnce(&rusqlite::Connection) -> Result<R, StoreError> + Send + 'static,
    R: Send + 'static,
{
    fn write(self: Box<Self>, conn: &rusqlite::Connection) -> Result<AfterCommit, AfterCommit> {
        let OnePart { f, tx } = *self;
        match f(conn) {
            Ok(r) => Ok(Box::new(move |committed| {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = tx.send(committed.map(|()| r).map_err(StoreError::Round));
            })),
            Err(e) => Err(Box::new(move |_| {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = tx.send(Err(e));
            })),
        }
    }

    fn fail(self: Box<Self>, error: Arc<StoreError>) {
        // The caller may have given up waiting; its answer is then not needed.
        let _ = self.tx.send(Err(StoreError::Round(error)));
    }
}

/// One round on the writer thread: one immediate transaction for every
/// batch in `parts`, each under its own savepoint, one commit (one fsync),
/// then each batch's answer. With one database for several components,
/// their batches commit together instead of one after another.
fn round(conn: &mut rusqlite::Connection, parts: Vec<Box<dyn Part>>, syncer: Option<&Syncer>) {
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
        if let Err(e) = run_cached(&tx, "SAVEPOINT part") {
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
            run_cached(&tx, "RELEASE part")
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
        None => {
            if let Some(s) = syncer {
                s.starting();
            }
            let r = tx.commit();
            if r.is_err() {
                // Counted as started: count it as ended too.
                answer_when_durable(syncer, Vec::new());
            }
            r.map_err(|e| Arc::new(StoreError::Sqlite(e)))
        }
    };
    match &committed {
        Ok(()) => answer_when_durable(syncer, afters),
        Err(e) => {
            tracing::error!(error = %e, "group commit round failed, nothing committed");
            for p in unwritten.into_iter().chain(parts) {
                p.fail(Arc::clone(e));
            }
            for after in afters {
                after(Err(Arc::clone(e)));
            }
        }
    }
}

/// Runs one statement without parameters through the statement cache: the
/// savepoints of every round are then parsed once, not once per round.
fn run_cached(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(|_| ())
}

/// Runs `f` under a savepoint of the open transaction on `conn`: its writes
/// are kept if it returns `Ok`, rolled back if it returns `Err`.
pub fn savepoint<R, E, F>(conn: &rusqlite::Connection, f: F) -> Result<R, E>
where
    F: FnOnce(&rusqlite::Connection) -> Result<R, E>,
    E: From<StoreError>,
{
    run_cached(conn, "SAVEPOINT inner").map_err(|e| E::from(StoreError::Sqlite(e)))?;
    let out = f(conn);
    let end = match out {
        Ok(_) => run_cached(conn, "RELEASE inner"),
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
        paytap_types::sync::lock(&self.receiver, "direct queue receiver")
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

/// Opens the writer's connection. In WAL mode it commits with
/// `synchronous = NORMAL` (the commit writes its frames to the WAL without
/// waiting for storage) and returns the WAL's path: the [`Syncer`] makes
/// each commit durable before anyone hears of it. In any other journal mode
/// each commit syncs itself (`synchronous = FULL`), as the pool's do.
fn open_connection(path: &Path) -> Result<(rusqlite::Connection, Option<PathBuf>), StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_handler(Some(busy))?;
    // Same settings as the pool's connections (see `Db::connect`), but a
    // smaller page cache: see `WRITER_CACHE_KIB`.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    let wal = mode.eq_ignore_ascii_case("wal");
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -{WRITER_CACHE_KIB};",
        if wal { "NORMAL" } else { "FULL" }
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    let wal_path = wal.then(|| {
        let mut p = path.as_os_str().to_owned();
        p.push("-wal");
        PathBuf::from(p)
    });
    Ok((conn, wal_path))
}

/// The writer connection's page cache. Its hot pages are few (the last
/// pages of each table and index, the balance and token rows), and SQLite
/// scans the whole cache at every commit once a B-tree split has moved a
/// page through the lock-byte page's number (`balance_nonroot` renumbers
/// pages that way, and the cache remembers that key as its largest, so
/// each commit's truncation of pages past the end of the file walks the
/// entire hash table): with 64 MiB that walk was about 4 % of the
/// authorization path's CPU.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// Answers `afters` once what was committed before them is durable: at
/// once when each commit syncs itself, else through the syncer.
fn answer_when_durable(syncer: Option<&Syncer>, afters: Vec<AfterCommit>) {
    match syncer {
        Some(s) => s.after_sync(afters),
        None => {
            for after in afters {
                after(Ok(()));
            }
        }
    }
}

/// Group commit with the fsync taken off the writer thread.
///
/// The writer's connection commits without syncing (WAL, `synchronous =
/// NORMAL`), hands the round's answers here and goes on with the next
/// round; this thread syncs the WAL file (`fdatasync`) and only then
/// answers. A sync covers every commit written before it started, so one
/// sync often answers two rounds, and the writer thread never waits for
/// storage. Nobody hears of a commit before it is on storage, which is
/// what `synchronous = FULL` gives; a crash loses at most commits nobody
/// was told of. SQLite's recovery keeps a prefix of the commits (frames
/// carry chained checksums), and in `NORMAL` mode it still syncs the WAL
/// before each checkpoint and after rewriting the WAL header, which is what
/// keeps the file consistent. A sync that fails leaves storage in an
/// unknown state: its callers get the error, and the writer refuses all
/// further work, as a database server stops on a failed fsync.
struct Syncer {
    tx: mpsc::SyncSender<Vec<AfterCommit>>,
    state: Arc<SyncState>,
}

/// Commits counted from the writer's start: begun (counted just before
/// `COMMIT`, or before a plain job that may commit runs), ended (their frames
/// written, or failed), and known durable. Commits end in the order they
/// begin (one thread makes them all).
struct SyncState {
    started: std::sync::atomic::AtomicU64,
    written: std::sync::atomic::AtomicU64,
    synced: tokio::sync::watch::Sender<u64>,
    failed: Mutex<Option<Arc<StoreError>>>,
}

impl SyncState {
    fn failed(&self) -> Option<Arc<StoreError>> {
        paytap_types::sync::lock(&self.failed, "sqlite sync state").clone()
    }
}

impl Syncer {
    fn start(wal: PathBuf) -> Result<Syncer, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<Vec<AfterCommit>>(MAX_COMMITS_UNSYNCED);
        let state = Arc::new(SyncState {
            started: std::sync::atomic::AtomicU64::new(0),
            written: std::sync::atomic::AtomicU64::new(0),
            synced: tokio::sync::watch::Sender::new(0),
            failed: Mutex::new(None),
        });
        let shared = Arc::clone(&state);
        std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || {
                let state = shared;
                let mut file = WalFile::new(wal);
                while let Ok(first) = rx.recv() {
                    let mut afters = first;
                    while let Ok(more) = rx.try_recv() {
                        afters.extend(more);
                    }
                    // Every commit ended so far has written its frames.
                    let upto = state.written.load(Ordering::SeqCst);
                    let result = match state.failed() {
                        Some(e) => Err(e),
                        None => match file.sync() {
                            Ok(()) => {
                                state.synced.send_if_modified(|s| {
                                    let newer = upto > *s;
                                    *s = (*s).max(upto);
                                    newer
                                });
                                Ok(())
                            }
                            Err(e) => {
                                let e = Arc::new(StoreError::SyncFailed(e.to_string()));
                                tracing::error!(error = %e, "WAL sync failed; the writer takes no more work");
                                *paytap_types::sync::lock(&state.failed, "sqlite sync state") =
                                    Some(Arc::clone(&e));
                                // Wake whoever waits in `durable`.
                                state.synced.send_modify(|_| {});
                                Err(e)
                            }
                        },
                    };
                    for after in afters {
                        after(result.clone());
                    }
                }
            })?;
        Ok(Syncer { tx, state })
    }

    /// Called by the writer thread just before a commit (see [`SyncState`]).
    fn starting(&self) {
        self.state.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Called by the writer thread once a commit counted by [`Self::starting`]
    /// has ended, with what answers it.
    fn after_sync(&self, afters: Vec<AfterCommit>) {
        self.state.written.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::SendError(afters)) = self.tx.send(afters) {
            let e = Arc::new(StoreError::WriterStopped);
            for after in afters {
                after(Err(Arc::clone(&e)));
            }
        }
    }

    /// The error that stopped the writer, once a sync has failed.
    fn refused(&self) -> Option<Arc<StoreError>> {
        self.state.failed()
    }
}

/// The WAL file, opened for syncing. Reopened if the path now names
/// another file (SQLite deletes the WAL when the last connection closes; the
/// writer's own connection keeps it open, so this is a safeguard).
struct WalFile {
    path: PathBuf,
    open: Option<(std::fs::File, u64)>,
}

impl WalFile {
    fn new(path: PathBuf) -> WalFile {
        WalFile { path, open: None }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata(&self.path)?.ino();
        let file = match self.open.take() {
            Some((f, i)) if i == ino => f,
            _ => std::fs::OpenOptions::new().write(true).open(&self.path)?,
        };
        let result = file.sync_data();
        self.open = Some((file, ino));
        result
    }
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

/// Binds `args` to a statement: `$N` (the portable form; see the crate
/// docs) or `?N` (SQLite's own) takes `args[N - 1]`. A statement uses one
/// form. `?N` is the fast one for statements run per row: SQLite numbers
/// `$N` parameters in the order they first occur, so each `$N` name is
/// looked up (a linear search in SQLite) and parsed, while `?N` is
/// parameter `N` itself.
pub fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> Result<(), StoreError> {
    let count = stmt.parameter_count();
    if count > 0 && stmt.parameter_name(1).is_none_or(|n| n.starts_with('?')) {
        for i in 1..=count {
            let arg = args
                .get(i - 1)
                .ok_or_else(|| StoreError::Placeholder(format!("?{i}")))?;
            bind_one(stmt, i, arg)?;
        }
        return Ok(());
    }
    for i in 1..=count {
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
        bind_one(stmt, i, arg)?;
    }
    Ok(())
}

fn bind_one(stmt: &mut rusqlite::Statement<'_>, i: usize, arg: &Arg) -> Result<(), StoreError> {
    match arg {
        Arg::I64(v) | Arg::OptI64(Some(v)) => stmt.raw_bind_parameter(i, *v)?,
        Arg::Text(v) | Arg::OptText(Some(v)) => stmt.raw_bind_parameter(i, v.as_str())?,
        Arg::OptText(None) | Arg::OptI64(None) => {
            stmt.raw_bind_parameter(i, rusqlite::types::Null)?
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
        let Some(db) = db_with("CREATE TABLE q (id BIGINT PRIMARY KEY)").await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = db.direct().unwrap();
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
        let Some(db) = db_with("CREATE TABLE r (id BIGINT PRIMARY KEY, queue TEXT NOT NULL)").await
        else {
            return; // PostgreSQL: no direct writer
        };
        let direct = db.direct().unwrap();
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
        let Some(db) = db_with("CREATE TABLE flood (id BIGINT PRIMARY KEY)").await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = db.direct().unwrap();
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

    /// With the writer thread busy, the queue takes `MAX_JOBS_QUEUED` jobs
    /// and refuses the next one with `Overloaded` at once; once the thread
    /// is free again every queued job runs and the queue takes work again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_writer_queue_refuses_instead_of_growing() {
        let Some(db) = db_with(TABLE_T).await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = std::sync::Arc::clone(db.direct().unwrap());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, is_started) = tokio::sync::oneshot::channel::<()>();
        let blocker = direct.send_in_round(move |_| {
            let _ = started.send(());
            let _ = released.recv();
            Ok(())
        });
        let blocker = blocker.unwrap();
        is_started.await.unwrap();
        let mut queued = Vec::with_capacity(super::MAX_JOBS_QUEUED);
        for _ in 0..super::MAX_JOBS_QUEUED {
            queued.push(
                direct
                    .send_in_round(|_| Ok(1u8))
                    .expect("room in the queue"),
            );
        }
        let refused = direct.send_in_round(|_| Ok(1u8)).err();
        assert!(
            matches!(refused, Some(crate::StoreError::Overloaded)),
            "a job beyond the bound is refused: {refused:?}"
        );
        // The metrics see the full queue, and the refused job is not in it.
        assert_eq!(direct.stats().queued(), super::MAX_JOBS_QUEUED as u64);
        let rounds_before = direct.stats().rounds.snapshot().count;
        release.send(()).unwrap();
        blocker.await.unwrap();
        for job in queued {
            assert_eq!(job.await.unwrap(), 1);
        }
        direct.in_round(|_| Ok(())).await.unwrap();
        assert_eq!(direct.stats().queued(), 0, "everything was taken");
        let rounds = direct.stats().rounds.snapshot();
        // The blocked round, then the queued jobs in rounds of at most
        // `MAX_PARTS`, then the last one.
        let least = (super::MAX_JOBS_QUEUED / super::MAX_PARTS) as u64 + 2;
        assert!(
            rounds.count - rounds_before >= least,
            "{} rounds timed, at least {least} ran",
            rounds.count - rounds_before
        );
    }

    /// A test database made by `create`, if it has a direct writer
    /// (`None` on PostgreSQL).
    async fn db_with(create: &'static str) -> Option<Db> {
        let db = Db::for_tests().await.unwrap();
        db.direct()?;
        sqlx::query(create).execute(db.pool()).await.unwrap();
        Some(db)
    }

    const TABLE_T: &str = "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)";

    /// A commit is visible to the pool before its sync. A reader that saw
    /// its row waits in `durable` until the commit is synced, here until
    /// the plain job that made it has ended (its answer goes out after the
    /// sync too).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn durable_waits_for_a_commit_the_reader_already_sees() {
        let Some(db) = db_with(TABLE_T).await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = std::sync::Arc::clone(db.direct().unwrap());
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (committed, is_committed) = tokio::sync::oneshot::channel::<()>();
        let job = tokio::spawn(async move {
            direct
                .run(move |conn| {
                    super::transaction(conn, |tx| {
                        super::execute(tx, "INSERT INTO t (id, n) VALUES ('x', 1)", &[])
                    })
                    .unwrap();
                    let _ = committed.send(());
                    let _ = released.recv();
                })
                .await
        });
        is_committed.await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1, "the pool sees the committed row");
        let waiting = {
            let db = db.clone();
            tokio::spawn(async move { db.durable().await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "durable() returned before the commit the reader saw was synced"
        );
        release.send(()).unwrap();
        waiting.await.unwrap().unwrap();
        job.await.unwrap().unwrap();
    }

    /// Nobody hears of a commit before the WAL is synced: when the sync
    /// fails, the caller of a round that did commit gets the error, and the
    /// writer refuses what comes after (a failed fsync leaves storage in an
    /// unknown state), rounds and plain jobs alike.
    #[tokio::test]
    async fn answers_wait_for_the_wal_sync_and_a_failed_sync_stops_the_writer() {
        let Some(db) = db_with(TABLE_T).await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = db.direct().unwrap();
        let insert = |id: &'static str| {
            move |c: &rusqlite::Connection| {
                super::execute(
                    c,
                    "INSERT INTO t (id, n) VALUES (?1, 1)",
                    &[Arg::Text(id.into())],
                )
            }
        };
        assert_eq!(direct.in_round(insert("a")).await.unwrap(), 1);
        db.durable().await.unwrap();
        // The WAL file vanishes under the writer: its next sync fails.
        let mut wal = direct.path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::remove_file(&wal).unwrap();
        let r = direct.in_round(insert("b")).await;
        assert!(
            matches!(&r, Err(crate::StoreError::Round(e)) if matches!(**e, crate::StoreError::SyncFailed(_))),
            "a commit whose sync failed is not reported done: {r:?}"
        );
        assert!(direct.in_round(insert("c")).await.is_err());
        assert!(direct.run(|_| ()).await.is_err());
        assert!(db.durable().await.is_err());
    }

    #[tokio::test]
    async fn commits_rolls_back_and_shares_the_lock_with_the_pool() {
        let Some(db) = db_with(TABLE_T).await else {
            return; // PostgreSQL: no direct writer
        };
        let direct = db.direct().unwrap();
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
