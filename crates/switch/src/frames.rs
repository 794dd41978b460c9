//! The writing half of every ISO 8583 TCP connection (acquirer side,
//! issuer links, the test terminal): a task that takes framed messages from
//! a bounded queue and coalesces whatever is waiting into one write.

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Most bytes one write carries: frames beyond it wait for the next write.
pub const MAX_WRITE_BYTES: usize = 64 * 1024;

/// Frames a connection queues for its writer before its senders wait.
pub const WRITER_QUEUE_FRAMES: usize = 1024;

/// How a writer gathers a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Burst {
    /// Take only what is queued already.
    Drain,
    /// Yield once first, so that the other tasks of a burst (a group
    /// commit answers all its callers at once) queue theirs and one write
    /// carries them all.
    YieldFirst,
}

/// Spawns the writer of `wr`: returns the queue's sender (bounded by
/// `queue` frames) and the task, which ends, shutting `wr` down, when every
/// sender is dropped or a write fails.
pub fn spawn_frame_writer<W>(
    mut wr: W,
    queue: usize,
    burst: Burst,
) -> (mpsc::Sender<Vec<u8>>, JoinHandle<()>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(queue.max(1));
    let task = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(16 * 1024);
        while let Some(frame) = rx.recv().await {
            buf.clear();
            buf.extend_from_slice(&frame);
            if burst == Burst::YieldFirst {
                tokio::task::yield_now().await;
            }
            while buf.len() < MAX_WRITE_BYTES {
                match rx.try_recv() {
                    Ok(more) => buf.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if let Err(e) = wr.write_all(&buf).await {
                tracing::debug!(error = %e, "connection closed while writing");
                break;
            }
        }
        if let Err(e) = wr.shutdown().await {
            tracing::debug!(error = %e, "connection already closed");
        }
    });
    (tx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Frames queued together arrive in order, and the task ends once the
    /// senders are gone.
    #[tokio::test]
    async fn frames_arrive_in_order_and_the_writer_ends_with_its_senders() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let (tx, task) = spawn_frame_writer(client, 8, Burst::YieldFirst);
        for i in 0u8..5 {
            tx.send(vec![i; 3]).await.unwrap();
        }
        drop(tx);
        task.await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        let want: Vec<u8> = (0u8..5).flat_map(|i| [i; 3]).collect();
        assert_eq!(got, want);
    }
}
