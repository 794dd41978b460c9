//! The switch's port to an issuer: ISO 8583:1987 in, ISO 8583:1987 out.
//!
//! An issuer endpoint is anything that implements [`IssuerLink`]: an
//! in-process issuer processor (the default), or a remote one reached over
//! TCP with [`TcpIssuerLink`] (2-byte length-prefixed frames, the same
//! framing as the acquirer side). [`serve_issuer`] exposes any
//! [`IssuerLink`] on a TCP listener, so an in-process issuer can be made
//! remote without code of its own.
//!
//! ## What the switch sends an issuer (and expects back)
//!
//! Every message carries DE 37, the retrieval reference number the switch
//! assigned to the authorization: it is unique network-wide and is the
//! issuer's handle for the hold. DE 90 (original data elements) carries the
//! original MTI, so the issuer can tell a normal authorization's hold
//! (`0100`) from a stand-in advice's hold (`0120`) under the same DE 37.
//!
//! | MTI | when | data elements | answer |
//! |---|---|---|---|
//! | `0100` | authorization | 2, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 25, 32, 37, 41, 42, 43, 49, 55 (card transactions), 62 + 63 (token transactions, verified by the token service) | `0110` with DE 39, optional 38 and 55 (ARPC, card transactions) |
//! | `0120` | stand-in advice, after the switch decided on the issuer's behalf | the `0100`'s elements + DE 39 (the stand-in decision), DE 38 (approval code when approved), DE 60 = [`STAND_IN_INDICATOR`] | `0130`; when DE 39 = `00` the issuer places a hold for DE 37 (original MTI `0120`) |
//! | `0400` | reversal: acquirer reversal, or the issuer did not answer in time, or answered too late | 3, 4, 7, 11, 32, 37, 41, 42, 49, 90 (original MTI `0100` or `0120`) — no DE 2: the issuer finds the hold by DE 37 | `0410`; the issuer releases the hold, and remembers the reversal so that an original still in progress never leaves a hold (a reversal may arrive before the original finished) |
//! | `0220` | clearing capture (end of day) | 3, 4, 7, 11, 32, 37, 41, 49, 90 | `0230`; the issuer posts (captures) the hold |
//!
//! Every advice and reversal is stored and forwarded: the switch repeats it
//! until it gets an answer, so issuers must treat repeats as no-ops.
//! Both are also kept in the network database (`switch_forwards`) and
//! re-sent after a restart, and the acquirer hears of a stand-in decision
//! only once its reversal and advice are written. Reversals carry no card
//! number; advices carry DE 2, so they are stored sealed under the switch's
//! [`crate::ForwardKey`] (`paytap up` derives it from the vault's keyring),
//! and kept in memory only when the switch has none (an advice lost in a
//! restart leaves the stand-in approval uncaptured, which clearing reports
//! as pending).

use crate::frames::{Burst, WRITER_QUEUE_FRAMES, spawn_frame_writer};
use futures::future::BoxFuture;
use paytap_iso8583::{FrameDecoder, Message, Mti, encode_frame};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// DE 60 value marking an advice or answer as decided by stand-in processing
/// (paytap network use of the national-use element: subelement 01, length
/// 001, value `S`).
pub const STAND_IN_INDICATOR: &str = "01001S";

/// Largest frame an issuer link accepts.
pub const LINK_MAX_FRAME: usize = 8192;

/// Why an issuer could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The issuer cannot be reached (connection refused, closed, down).
    #[error("issuer unavailable: {0}")]
    Unavailable(String),
    /// The issuer answered with something that is not a valid answer.
    #[error("issuer protocol error: {0}")]
    Protocol(String),
    /// The request could not be encoded or lacks what the link needs to
    /// match the answer (DE 37).
    #[error("request not sendable: {0}")]
    BadRequest(String),
}

/// One issuer endpoint, in-process or remote.
pub trait IssuerLink: Send + Sync + 'static {
    /// Send a request or advice and wait for its answer. The switch puts its
    /// own time limit around this call.
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>>;
}

type Key = ([u8; 4], Vec<u8>);

fn match_key(m: &Message, mti: Mti) -> Option<Key> {
    Some((*mti.as_bytes(), m.get(37)?.to_vec()))
}

struct Conn {
    tx: mpsc::Sender<Vec<u8>>,
    waiting: Arc<Mutex<HashMap<Key, oneshot::Sender<Message>>>>,
    closed: watch::Receiver<bool>,
}

/// An issuer reached over TCP. Many requests share one connection; answers
/// are matched by (response MTI, DE 37). The connection is opened on first
/// use and re-opened after a failure.
pub struct TcpIssuerLink {
    addr: SocketAddr,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
}

impl TcpIssuerLink {
    /// A link to the issuer listening at `addr` (connects lazily).
    pub fn new(addr: SocketAddr) -> TcpIssuerLink {
        TcpIssuerLink {
            addr,
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<Arc<Conn>, LinkError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref()
            && !*c.closed.borrow()
        {
            return Ok(c.clone());
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| LinkError::Unavailable(e.to_string()))?;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY not set; small frames may wait");
        }
        let (mut rd, wr) = stream.into_split();
        let (tx, writer) = spawn_frame_writer(wr, WRITER_QUEUE_FRAMES, Burst::Drain);
        let waiting: Arc<Mutex<HashMap<Key, oneshot::Sender<Message>>>> = Arc::default();
        let (closed_tx, closed_rx) = watch::channel(false);
        let closed_tx = Arc::new(closed_tx);
        // The link is closed once its writer has stopped.
        let ctx = closed_tx.clone();
        tokio::spawn(async move {
            if let Err(e) = writer.await {
                tracing::error!(error = %e, "issuer link writer failed");
            }
            ctx.send_replace(true);
        });
        let w = waiting.clone();
        tokio::spawn(async move {
            let mut dec = FrameDecoder::new(LINK_MAX_FRAME);
            let mut buf = vec![0u8; 16 * 1024];
            'outer: loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                dec.push(buf.get(..n).unwrap_or(&[]));
                loop {
                    match dec.next_frame() {
                        Ok(Some(frame)) => match Message::decode(&frame) {
                            Ok(msg) => {
                                let key = match_key(&msg, msg.mti());
                                let waiter = key.and_then(|k| {
                                    paytap_types::sync::lock(&w, "issuer link waiters").remove(&k)
                                });
                                match waiter {
                                    Some(s) => {
                                        if s.send(msg).is_err() {
                                            tracing::debug!(
                                                "issuer answer after its caller gave up"
                                            );
                                        }
                                    }
                                    None => {
                                        tracing::warn!(mti = %msg.mti(), "unmatched answer from issuer")
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "undecodable answer from issuer"),
                        },
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "issuer link framing error");
                            break 'outer;
                        }
                    }
                }
            }
            closed_tx.send_replace(true);
            paytap_types::sync::lock(&w, "issuer link waiters").clear();
        });
        let conn = Arc::new(Conn {
            tx,
            waiting,
            closed: closed_rx,
        });
        *guard = Some(conn.clone());
        Ok(conn)
    }
}

impl IssuerLink for TcpIssuerLink {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let resp_mti = request
                .mti()
                .response()
                .ok_or_else(|| LinkError::BadRequest("not a request".into()))?;
            let key = match_key(&request, resp_mti)
                .ok_or_else(|| LinkError::BadRequest("DE 37 missing".into()))?;
            let mut frame = Vec::new();
            encode_frame(&request.encode(), &mut frame)
                .map_err(|e| LinkError::BadRequest(e.to_string()))?;
            let conn = self.connection().await?;
            let (tx, rx) = oneshot::channel();
            paytap_types::sync::lock(&conn.waiting, "issuer link waiters").insert(key.clone(), tx);
            if conn.tx.send(frame).await.is_err() {
                paytap_types::sync::lock(&conn.waiting, "issuer link waiters").remove(&key);
                return Err(LinkError::Unavailable("connection closed".into()));
            }
            let mut closed = conn.closed.clone();
            let result = tokio::select! {
                r = rx => r.map_err(|_| LinkError::Unavailable("connection closed".into())),
                _ = closed.wait_for(|c| *c) => Err(LinkError::Unavailable("connection closed".into())),
            };
            if result.is_err() {
                paytap_types::sync::lock(&conn.waiting, "issuer link waiters").remove(&key);
            }
            result
        })
    }
}

/// Serve `link` on `listener` (ISO 8583, 2-byte length prefix, requests
/// processed concurrently) until `shutdown` turns true. Used to run an
/// issuer as a separate TCP endpoint.
pub async fn serve_issuer(
    listener: TcpListener,
    link: Arc<dyn IssuerLink>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "TCP_NODELAY not set; small frames may wait");
        }
        let link = link.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(serve_issuer_conn(stream, link, shutdown));
    }
}

async fn serve_issuer_conn(
    stream: TcpStream,
    link: Arc<dyn IssuerLink>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut rd, wr) = stream.into_split();
    let (tx, writer) = spawn_frame_writer(wr, WRITER_QUEUE_FRAMES, Burst::Drain);
    let mut dec = FrameDecoder::new(LINK_MAX_FRAME);
    let mut buf = vec![0u8; 16 * 1024];
    'outer: loop {
        let n = tokio::select! {
            r = rd.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        dec.push(buf.get(..n).unwrap_or(&[]));
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    let Ok(msg) = Message::decode(&frame) else {
                        tracing::warn!("undecodable request on issuer endpoint");
                        continue;
                    };
                    let link = link.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        if let Ok(resp) = link.exchange(msg).await {
                            let mut out = Vec::new();
                            if let Err(e) = encode_frame(&resp.encode(), &mut out) {
                                tracing::error!(error = %e, "issuer answer not framed; dropped");
                            } else if tx.send(out).await.is_err() {
                                tracing::debug!(
                                    "issuer endpoint closed before its answer was written"
                                );
                            }
                        }
                    });
                }
                Ok(None) => break,
                Err(_) => break 'outer,
            }
        }
    }
    drop(tx);
    if let Err(e) = writer.await {
        tracing::error!(error = %e, "issuer endpoint writer failed");
    }
}
