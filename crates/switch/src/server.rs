//! The acquirer side over TCP: ISO 8583 messages in 2-byte big-endian
//! length-prefixed frames (`paytap_iso8583::frame`).
//!
//! Per connection: one reader that reassembles frames (frames above
//! [`crate::SwitchConfig::max_frame`] close the connection), requests
//! processed concurrently (up to `max_in_flight_per_connection`), one writer
//! that sends answers as they complete (terminals match them by DE 41 +
//! DE 11). A frame whose MTI is readable but whose data elements are not
//! gets the response MTI with DE 39 `30`; a frame without a readable MTI
//! closes the connection. [`RunningSwitch::shutdown`] stops accepting, stops
//! reading, lets in-flight requests finish and flushes the message log.
//!
//! Who may talk: [`crate::admission`] decides whether an accepted
//! connection is kept (and which anonymous one it evicts), [`crate::auth`]
//! what each message of a connection may do: until its MAC-signed sign-on
//! a connection is anonymous, has `first_frame_deadline` per frame and
//! gets `63` for anything but a sign-on; signed on, it has `idle_timeout`,
//! every request must carry its DE 32 and a valid MAC, and every answer is
//! signed. This file is only the I/O around those decisions.

use crate::Switch;
use crate::admission::{Admission, AdmissionLimits, Admit, ConnId, PeerGroup};
use crate::auth::{self, Acquirers, ConnAuth, SignedOn, Verdict};
use crate::frames::{Burst, WRITER_QUEUE_FRAMES, spawn_frame_writer};
use paytap_iso8583::{FrameDecoder, Message, Mti, encode_frame};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
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
        self.stop.send_replace(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "switch accept loop failed");
        }
        self.switch.shutdown().await;
    }
}

/// Bind `addr` and serve the acquirers of `acquirers` with `switch`.
pub async fn serve(
    switch: Switch,
    addr: SocketAddr,
    acquirers: Acquirers,
) -> std::io::Result<RunningSwitch> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(switch, listener, acquirers)
}

/// Serve the acquirers of `acquirers` with `switch` on a listener bound
/// earlier (`paytap up` binds its ports before it writes any file).
pub fn serve_on(
    switch: Switch,
    listener: TcpListener,
    acquirers: Acquirers,
) -> std::io::Result<RunningSwitch> {
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let limits = AdmissionLimits {
        max_authenticated: switch.config().max_connections,
        ..AdmissionLimits::default()
    };
    let gate = Arc::new(Gate {
        acquirers,
        state: Mutex::new(GateState {
            admission: Admission::new(limits),
            evict: HashMap::new(),
        }),
    });
    let task = tokio::spawn(accept_loop(listener, switch.clone(), gate, stop_rx));
    tracing::info!(%addr, "switch listening for acquirers");
    Ok(RunningSwitch {
        addr,
        switch,
        stop,
        task,
    })
}

/// What every connection shares: the acquirer registry (read at sign-on)
/// and the admission counts (locked on accept, sign-on and close only).
struct Gate {
    acquirers: Acquirers,
    state: Mutex<GateState>,
}

struct GateState {
    admission: Admission,
    /// How to tell a connection it was evicted.
    evict: HashMap<ConnId, Arc<Notify>>,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        paytap_types::sync::lock(&self.state, "switch admission")
    }

    /// Admit a connection from `peer`: its id and eviction signal, or
    /// `None` when its address has its share of anonymous slots.
    fn admit(&self, peer: SocketAddr) -> Option<(ConnId, Arc<Notify>)> {
        let mut st = self.lock();
        let Admit::Accept { id, evict } = st.admission.admit(PeerGroup::of(peer.ip())) else {
            return None;
        };
        if let Some(old) = evict.and_then(|old| st.evict.remove(&old)) {
            old.notify_one();
        }
        let notify = Arc::new(Notify::new());
        st.evict.insert(id, notify.clone());
        Some((id, notify))
    }
}

/// A connection's place in the counts, given back when it ends.
struct Slot {
    gate: Arc<Gate>,
    id: ConnId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        st.admission.close(self.id);
        st.evict.remove(&self.id);
    }
}

async fn accept_loop(
    listener: TcpListener,
    switch: Switch,
    gate: Arc<Gate>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some((id, evicted)) = gate.admit(peer) else {
                    tracing::warn!(%peer, "acquirer connection refused: too many anonymous connections from its address");
                    drop(stream);
                    continue;
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::warn!(%peer, error = %e, "TCP_NODELAY not set; small frames may wait");
                }
                tracing::debug!(%peer, "acquirer connected");
                let slot = Slot {
                    gate: gate.clone(),
                    id,
                };
                conns.spawn(connection(
                    stream,
                    peer,
                    switch.clone(),
                    slot,
                    evicted,
                    stop.clone(),
                ));
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

/// Whether an acquirer connection goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Close,
}

/// One acquirer connection: reads frames, authenticates them, and answers
/// each request in a task of its own (at most `max_in_flight_per_connection`
/// at once), through the connection's frame writer.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    switch: Switch,
    slot: Slot,
    evicted: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let cfg = switch.config();
    let permits = Arc::new(Semaphore::new(cfg.max_in_flight_per_connection.max(1)));
    let mut dec = FrameDecoder::new(cfg.max_frame);
    let (mut rd, wr) = stream.into_split();
    // Answers come in bursts (a group commit answers all its callers at
    // once): one write carries a burst.
    let (tx, writer) = spawn_frame_writer(wr, WRITER_QUEUE_FRAMES, Burst::YieldFirst);
    let mut conn = AcquirerConn {
        peer,
        permits,
        switch,
        slot,
        tx,
        tasks: JoinSet::new(),
        auth: ConnAuth::default(),
    };
    let mut buf = vec![0u8; 16 * 1024];
    while let Some(n) = conn.read(&mut rd, &mut buf, &evicted, &mut stop).await {
        dec.push(buf.get(..n).unwrap_or(&[]));
        if conn.handle_frames(&mut dec).await == Flow::Close {
            break;
        }
    }
    conn.close(writer).await;
}

/// The state of one acquirer connection's reader.
struct AcquirerConn {
    peer: SocketAddr,
    switch: Switch,
    slot: Slot,
    /// The connection's frame writer.
    tx: mpsc::Sender<Vec<u8>>,
    /// Requests being answered.
    tasks: JoinSet<()>,
    permits: Arc<Semaphore>,
    auth: ConnAuth,
}

impl AcquirerConn {
    /// Reads more bytes; `None` when the connection ends: closed by the
    /// peer, an error, the switch stopping, an anonymous connection evicted
    /// for a newer one, or no frame within the deadline (the first frame's
    /// while anonymous, the idle timeout once signed on).
    async fn read(
        &mut self,
        rd: &mut (impl tokio::io::AsyncRead + Unpin),
        buf: &mut [u8],
        evicted: &Notify,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<usize> {
        let cfg = self.switch.config();
        let anonymous = self.auth.signed_on().is_none();
        let wait = if anonymous {
            cfg.first_frame_deadline
        } else {
            cfg.idle_timeout
        };
        let read = loop {
            tokio::select! {
                r = tokio::time::timeout(wait, rd.read(buf)) => break r,
                _ = stop.wait_for(|s| *s) => return None,
                _ = evicted.notified(), if anonymous => {
                    tracing::info!(peer = %self.peer, "anonymous acquirer connection evicted for a newer one");
                    return None;
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => continue,
            }
        };
        match read {
            Ok(Ok(0)) => None,
            Ok(Ok(n)) => Some(n),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "acquirer connection error");
                None
            }
            Err(_) if anonymous => {
                tracing::info!(peer = %self.peer, "anonymous acquirer connection closed: no frame in time");
                None
            }
            Err(_) => {
                tracing::info!("idle acquirer connection closed");
                None
            }
        }
    }

    /// Handles every whole frame `dec` holds.
    async fn handle_frames(&mut self, dec: &mut FrameDecoder) -> Flow {
        loop {
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return Flow::Go,
                Err(e) => {
                    tracing::warn!(error = %e, "acquirer framing error, closing connection");
                    return Flow::Close;
                }
            };
            if self.handle_frame(&frame).await == Flow::Close {
                return Flow::Close;
            }
        }
    }

    async fn handle_frame(&mut self, frame: &[u8]) -> Flow {
        let msg = match Message::decode(frame) {
            Ok(m) => m,
            Err(e) => return self.malformed(frame, &e).await,
        };
        match self.auth.check(&self.slot.gate.acquirers, msg) {
            Verdict::Pass(msg) => self.dispatch(msg).await,
            Verdict::SignOn(who, request) => self.sign_on(who, &request).await,
            Verdict::Refuse { answer, close, why } => {
                tracing::warn!(peer = %self.peer, mti = %mti_of(&answer), reason = %why, "acquirer request refused (63)");
                if let Some(answer) = answer {
                    send(&self.tx, &answer).await;
                }
                if close {
                    tracing::warn!(peer = %self.peer, "acquirer connection closed after repeated refusals");
                    return Flow::Close;
                }
                Flow::Go
            }
        }
    }

    /// A frame that is no ISO 8583 message: a signed-on acquirer is told
    /// (the format error answer of its MTI, when the MTI is a request);
    /// anything else closes the connection.
    async fn malformed(&mut self, frame: &[u8], e: &paytap_iso8583::Error) -> Flow {
        let mti = frame.get(..4).and_then(|b| Mti::from_bytes(b).ok());
        tracing::warn!(error = %e, mti = ?mti, peer = %self.peer, "malformed message from acquirer");
        let Some(who) = self.auth.signed_on() else {
            return Flow::Close;
        };
        match mti
            .filter(Mti::is_request)
            .and_then(|m| self.switch.format_error(m))
        {
            Some(mut answer) => {
                auth::sign_answer(&mut answer, who);
                send(&self.tx, &answer).await;
                Flow::Go
            }
            None => Flow::Close,
        }
    }

    /// A valid sign-on: answered, and the connection signed on when a slot
    /// is left (closed otherwise).
    async fn sign_on(&mut self, who: SignedOn, request: &Message) -> Flow {
        let admitted = sign_on(&self.slot, &who, self.peer);
        if let Some(answer) = auth::sign_on_answer(request, &who, admitted) {
            send(&self.tx, &answer).await;
        }
        if !admitted {
            return Flow::Close;
        }
        self.auth.accept(who);
        Flow::Go
    }

    /// An authenticated request: answered by a task of its own once a
    /// permit is free.
    async fn dispatch(&mut self, msg: Message) -> Flow {
        let Some(who) = self.auth.signed_on().cloned() else {
            // `Pass` only comes once signed on.
            return Flow::Close;
        };
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Flow::Close;
        };
        let switch = self.switch.clone();
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            // Boxed: the task then holds a pointer instead of the whole
            // authorization state (several messages), which tokio would
            // otherwise copy on spawn and again on completion.
            if let Some(mut answer) = Box::pin(switch.handle(msg)).await {
                auth::sign_answer(&mut answer, &who);
                send(&tx, &answer).await;
            }
            drop(permit);
        });
        Flow::Go
    }

    /// Lets in-flight requests answer, then closes the writer and frees the
    /// connection's slot.
    async fn close(mut self, writer: tokio::task::JoinHandle<()>) {
        while self.tasks.join_next().await.is_some() {}
        drop(self.tx);
        if let Err(e) = writer.await {
            tracing::error!(peer = %self.peer, error = %e, "acquirer connection writer failed");
        }
        drop(self.slot);
    }
}

/// Take an authenticated slot for `who`; false when none is left.
fn sign_on(slot: &Slot, who: &SignedOn, peer: SocketAddr) -> bool {
    let result = slot
        .gate
        .lock()
        .admission
        .sign_on(slot.id, &who.acquirer_id);
    match result {
        Ok(()) => {
            tracing::info!(%peer, acquirer = %who.acquirer_id, "acquirer signed on");
            true
        }
        Err(e) => {
            tracing::warn!(%peer, acquirer = %who.acquirer_id, reason = %e, "acquirer sign-on refused (91)");
            false
        }
    }
}

fn mti_of(answer: &Option<Message>) -> String {
    answer
        .as_ref()
        .map(|a| a.mti().to_string())
        .unwrap_or_else(|| "-".into())
}

/// Frame and queue `answer` for the writer.
async fn send(tx: &mpsc::Sender<Vec<u8>>, answer: &Message) {
    let mut out = Vec::with_capacity(answer.encoded_len() + 2);
    if let Err(e) = encode_frame(&answer.encode(), &mut out) {
        tracing::error!(mti = %answer.mti(), error = %e, "answer not framed; dropped");
    } else if tx.send(out).await.is_err() {
        tracing::debug!("acquirer connection closed before its answer was written");
    }
}
