//! The acquirer side over TCP: ISO 8583 messages in 2-byte big-endian
//! length-prefixed frames (`paytap_iso8583::frame`).
//!
//! Per connection: one reader that reassembles frames (frames above
//! [`crate::SwitchConfig::max_frame`] close the connection), requests
//! processed concurrently (up to `max_in_flight_per_connection`), one writer
//! that sends answers as they complete (terminals match them by DE 41 +
//! DE 11). A frame whose MTI is readable but whose data elements are not
//! gets the response MTI with DE 39 `30`; a frame without a readable MTI
//! closes the connection. Idle connections are closed after
//! `idle_timeout`; connections beyond `max_connections` are closed on
//! accept. [`RunningSwitch::shutdown`] stops accepting, stops
//! reading, lets in-flight requests finish and flushes the message log.

use crate::Switch;
use paytap_iso8583::{FrameDecoder, Message, Mti, encode_frame};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// A switch listening for acquirers.
pub struct RunningSwitch {
    addr: SocketAddr,
    switch: Switch,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSwitch {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The switch behind the listener.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Stop accepting, finish in-flight requests, close connections, flush
    /// the log, stop the forwarders.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.switch.shutdown().await;
    }
}

/// Bind `addr` and serve acquirers with `switch`.
pub async fn serve(switch: Switch, addr: SocketAddr) -> std::io::Result<RunningSwitch> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, switch.clone(), stop_rx));
    tracing::info!(%addr, "switch listening for acquirers");
    Ok(RunningSwitch {
        addr,
        switch,
        stop,
        task,
    })
}

async fn accept_loop(listener: TcpListener, switch: Switch, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                if conns.len() >= switch.config().max_connections {
                    tracing::warn!(%peer, "acquirer connection refused: too many connections");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "acquirer connected");
                conns.spawn(connection(stream, switch.clone(), stop.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn connection(stream: TcpStream, switch: Switch, mut stop: watch::Receiver<bool>) {
    let cfg = switch.config().clone();
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let writer = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(16 * 1024);
        while let Some(f) = rx.recv().await {
            buf.clear();
            buf.extend_from_slice(&f);
            // Answers come in bursts (a group commit answers all its
            // callers at once): let the others of the burst queue theirs
            // first, so that one write carries them all.
            tokio::task::yield_now().await;
            while buf.len() < 64 * 1024 {
                match rx.try_recv() {
                    Ok(more) => buf.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let permits = Arc::new(Semaphore::new(cfg.max_in_flight_per_connection.max(1)));
    let mut dec = FrameDecoder::new(cfg.max_frame);
    let mut buf = vec![0u8; 16 * 1024];
    let mut tasks = JoinSet::new();
    'conn: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(cfg.idle_timeout, rd.read(&mut buf)) => r,
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let n = match read {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "acquirer connection error");
                break;
            }
            Err(_) => {
                tracing::info!("idle acquirer connection closed");
                break;
            }
        };
        dec.push(buf.get(..n).unwrap_or(&[]));
        loop {
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "acquirer framing error, closing connection");
                    break 'conn;
                }
            };
            let msg = match Message::decode(&frame) {
                Ok(m) => m,
                Err(e) => {
                    let mti = frame.get(..4).and_then(|b| Mti::from_bytes(b).ok());
                    tracing::warn!(error = %e, mti = ?mti, "malformed message from acquirer");
                    match mti
                        .filter(Mti::is_request)
                        .and_then(|m| switch.format_error(m))
                    {
                        Some(answer) => {
                            let mut out = Vec::new();
                            if encode_frame(&answer.encode(), &mut out).is_ok() {
                                let _ = tx.send(out).await;
                            }
                            continue;
                        }
                        None => break 'conn,
                    }
                }
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break 'conn;
            };
            let switch = switch.clone();
            let tx = tx.clone();
            tasks.spawn(async move {
                // Boxed: the task then holds a pointer instead of the whole
                // authorization state (several messages), which tokio would
                // otherwise copy on spawn and again on completion.
                if let Some(answer) = Box::pin(switch.handle(msg)).await {
                    let mut out = Vec::with_capacity(answer.encoded_len() + 2);
                    if encode_frame(&answer.encode(), &mut out).is_ok() {
                        let _ = tx.send(out).await;
                    }
                }
                drop(permit);
            });
        }
    }
    // Let in-flight requests answer, then close.
    while tasks.join_next().await.is_some() {}
    drop(tx);
    let _ = writer.await;
}
