//! Group commit for a service's hot write path: statements are queued to
//! one writer task that commits whatever is waiting in a single write
//! transaction (SQLite `synchronous=FULL` / PostgreSQL synchronous commit)
//! and only then answers each caller. Many concurrent authorizations share
//! one durable commit instead of paying one each. A batch that fails is
//! retried job by job, so one bad job never fails its neighbours.

use crate::Db;
use tokio::sync::{mpsc, oneshot};

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(i64),
    Text(String),
    OptText(Option<String>),
}

/// One statement.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

/// Statements that commit together, answered with each one's rows affected.
struct Job {
    stmts: Vec<Stmt>,
    reply: oneshot::Sender<Result<Vec<u64>, String>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

const MAX_BATCH: usize = 512;

impl Batcher {
    pub fn start(db: Db) -> Batcher {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(db, rx));
        Batcher { tx }
    }

    /// Runs `stmts` in one transaction shared with other callers' jobs;
    /// returns once it is durable.
    pub async fn commit(&self, stmts: Vec<Stmt>) -> Result<Vec<u64>, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { stmts, reply })
            .await
            .map_err(|_| "writer stopped".to_owned())?;
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
        let all: Vec<&[Stmt]> = jobs.iter().map(|j| j.stmts.as_slice()).collect();
        match execute(&db, &all).await {
            Ok(counts) => {
                for (job, c) in jobs.into_iter().zip(counts) {
                    let _ = job.reply.send(Ok(c));
                }
            }
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let r = execute(&db, &[job.stmts.as_slice()])
                        .await
                        .map(|mut v| v.pop().unwrap_or_default());
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn execute(db: &Db, jobs: &[&[Stmt]]) -> Result<Vec<Vec<u64>>, String> {
    let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(jobs.len());
    for stmts in jobs {
        let mut counts = Vec::with_capacity(stmts.len());
        for s in *stmts {
            let mut q = sqlx::query(s.sql);
            for a in &s.args {
                q = match a {
                    Arg::I64(v) => q.bind(*v),
                    Arg::Text(v) => q.bind(v.clone()),
                    Arg::OptText(v) => q.bind(v.clone()),
                };
            }
            let r = q.execute(&mut *tx).await.map_err(|e| e.to_string())?;
            counts.push(r.rows_affected());
        }
        out.push(counts);
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(out)
}
