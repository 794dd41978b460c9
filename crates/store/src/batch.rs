//! Group commit for a service's hot write path: statements are queued to
//! one writer that commits whatever is waiting in a single write
//! transaction, durable before it answers each caller (on a SQLite file
//! the direct writer's WAL sync, see [`crate::direct`]; PostgreSQL's
//! synchronous commit). Many concurrent authorizations share
//! one durable commit instead of paying one each. A batch that fails is
//! retried job by job, so one bad job never fails its neighbours.
//!
//! A job is a list of [`Write`]s: a plain statement, or a row for a
//! [`Bulk`] statement. The rows of consecutive jobs that go to the same bulk
//! statement are sent as one statement (see [`crate::bulk`]); a plain
//! statement first flushes the rows queued before it, so every job's writes
//! still apply in order.
//!
//! On a SQLite file the whole batch runs on the database's
//! [`crate::direct::DirectWriter`] thread, which also answers the callers;
//! on PostgreSQL it runs through the pool.

use crate::bulk::Bulk;
use crate::direct::{self, AfterCommit, DirectQueue, WriteQueue};
use crate::{Db, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(i64),
    Text(String),
    OptText(Option<String>),
    OptI64(Option<i64>),
}

/// One statement.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

/// One write of a job.
#[derive(Debug, Clone)]
pub enum Write {
    Stmt(Stmt),
    /// A row for a bulk statement (its rows affected are reported as 1).
    Row(&'static Bulk, Vec<Arg>),
}

/// Writes that commit together, answered with each one's rows affected.
struct Job {
    writes: Vec<Write>,
    reply: oneshot::Sender<Result<Vec<u64>, String>>,
}

/// Handle to the writer: the SQLite file's direct writer thread, or a
/// writer task on the pool.
#[derive(Clone)]
pub struct Batcher {
    queue: WriteQueue<Job>,
}

const MAX_BATCH: usize = 512;
const CAPACITY: usize = 4096;

impl Batcher {
    pub fn start(db: Db) -> Batcher {
        let queue = match db.direct() {
            Some(direct) => WriteQueue::Direct(Arc::new(DirectQueue::new(
                Arc::clone(direct),
                CAPACITY,
                MAX_BATCH,
                write_direct,
                fail_direct,
            ))),
            None => {
                let (tx, rx) = mpsc::channel(CAPACITY);
                tokio::spawn(run(db, rx));
                WriteQueue::Pool(tx)
            }
        };
        Batcher { queue }
    }

    /// Runs `stmts` in one transaction shared with other callers' jobs;
    /// returns once it is durable.
    pub async fn commit(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, String> {
        self.write(stmts.into_iter().map(Write::Stmt).collect())
            .await
    }

    /// Like [`Batcher::commit`], with bulk rows among the writes.
    pub async fn write(&self, writes: Vec<Write>) -> Result<Vec<u64>, String> {
        let (reply, answer) = oneshot::channel();
        let job = Job { writes, reply };
        if self.queue.push(job).await.is_err() {
            return Err("writer stopped".to_owned());
        }
        answer.await.map_err(|_| "writer stopped".to_owned())?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        commit_pool(&db, jobs).await;
    }
}

/// One batch in a round on the direct writer's thread: all jobs under one
/// savepoint, or, if that fails, each job under its own; the answers go out
/// after the round's commit.
fn write_direct(conn: &rusqlite::Connection, jobs: Vec<Job>) -> Result<AfterCommit, AfterCommit> {
    let all: Vec<&[Write]> = jobs.iter().map(|j| j.writes.as_slice()).collect();
    let results: Vec<Result<Vec<u64>, String>> =
        match direct::savepoint(conn, |c| execute_direct(c, &all)) {
            Ok(counts) => counts.into_iter().map(Ok).collect(),
            Err(_) if jobs.len() > 1 => jobs
                .iter()
                .map(|job| {
                    direct::savepoint(conn, |c| execute_direct(c, &[job.writes.as_slice()]))
                        .map(|mut v| v.pop().unwrap_or_default())
                        .map_err(|e: StoreError| e.to_string())
                })
                .collect(),
            Err(e) => vec![Err(e.to_string())],
        };
    drop(all);
    Ok(Box::new(move |committed| {
        for (job, result) in jobs.into_iter().zip(results) {
            let result = match &committed {
                Ok(()) => result,
                Err(e) => Err(e.to_string()),
            };
            // The caller may have given up waiting; its answer is then not needed.
            let _ = job.reply.send(result);
        }
    }))
}

fn fail_direct(jobs: Vec<Job>, error: Arc<StoreError>) {
    for job in jobs {
        // The caller may have given up waiting; its answer is then not needed.
        let _ = job.reply.send(Err(error.to_string()));
    }
}

fn execute_direct(
    tx: &rusqlite::Connection,
    jobs: &[&[Write]],
) -> Result<Vec<Vec<u64>>, StoreError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut queued: Queued = Vec::new();
    let flush = |queued: &mut Queued| -> Result<(), StoreError> {
        for (bulk, rows) in queued.drain(..) {
            bulk.execute_direct(tx, rows)?;
        }
        Ok(())
    };
    for writes in jobs {
        let mut counts = Vec::with_capacity(writes.len());
        for w in *writes {
            match w {
                Write::Row(bulk, args) => {
                    queue_row(&mut queued, bulk, args);
                    counts.push(1);
                }
                Write::Stmt(s) => {
                    flush(&mut queued)?;
                    counts.push(direct::execute(tx, s.sql, &s.args)?);
                }
            }
        }
        out.push(counts);
    }
    flush(&mut queued)?;
    Ok(out)
}

/// Bulk rows waiting to be sent, grouped by statement in first-use order.
type Queued<'a> = Vec<(&'static Bulk, Vec<&'a [Arg]>)>;

fn queue_row<'a>(queued: &mut Queued<'a>, bulk: &'static Bulk, args: &'a [Arg]) {
    match queued.iter_mut().find(|(b, _)| std::ptr::eq(*b, bulk)) {
        Some((_, rows)) => rows.push(args),
        None => queued.push((bulk, vec![args])),
    }
}

async fn commit_pool(db: &Db, jobs: Vec<Job>) {
    let all: Vec<&[Write]> = jobs.iter().map(|j| j.writes.as_slice()).collect();
    match execute(db, &all).await {
        Ok(counts) => {
            for (job, c) in jobs.into_iter().zip(counts) {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = job.reply.send(Ok(c));
            }
        }
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let r = execute(db, &[job.writes.as_slice()])
                    .await
                    .map(|mut v| v.pop().unwrap_or_default());
                // The caller may have given up waiting; its answer is then not needed.
                let _ = job.reply.send(r);
            }
        }
        Err(e) => {
            for job in jobs {
                // The caller may have given up waiting; its answer is then not needed.
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

async fn execute(db: &Db, jobs: &[&[Write]]) -> Result<Vec<Vec<u64>>, String> {
    let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(jobs.len());
    let mut queued: Queued = Vec::new();
    for writes in jobs {
        let mut counts = Vec::with_capacity(writes.len());
        for w in *writes {
            match w {
                Write::Row(bulk, args) => {
                    queue_row(&mut queued, bulk, args);
                    counts.push(1);
                }
                Write::Stmt(s) => {
                    flush(&mut tx, db, &mut queued).await?;
                    let mut q = sqlx::query(s.sql);
                    for a in &s.args {
                        q = match a {
                            Arg::I64(v) => q.bind(*v),
                            Arg::Text(v) => q.bind(v.clone()),
                            Arg::OptText(v) => q.bind(v.clone()),
                            Arg::OptI64(v) => q.bind(*v),
                        };
                    }
                    let r = q.execute(&mut *tx).await.map_err(|e| e.to_string())?;
                    counts.push(r.rows_affected());
                }
            }
        }
        out.push(counts);
    }
    flush(&mut tx, db, &mut queued).await?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(out)
}

async fn flush(tx: &mut crate::Tx, db: &Db, queued: &mut Queued<'_>) -> Result<(), String> {
    for (bulk, rows) in queued.drain(..) {
        bulk.execute(tx, db.backend(), rows)
            .await
            .map_err(|e| format!("{}: {e}", bulk.name))?;
    }
    Ok(())
}
