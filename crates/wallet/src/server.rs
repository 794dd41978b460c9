//! The HTTP/1.1 server the wallet API and the web site run on: hyper with
//! deadlines a slow or silent client cannot stretch, and a bounded number
//! of connections.
//!
//! * **Headers**: a connection that has not sent a request's complete
//!   header block within [`HEADER_READ_TIMEOUT`] of opening (or of its
//!   previous response) is closed, so a silent, half-sent or trickled
//!   header does not hold a socket.
//! * **Body**: [`BODY_READ_TIMEOUT`] without a new piece of the body ends
//!   the request (bodies are small: 64 KiB at most).
//! * **Request**: a request not answered within [`REQUEST_TIMEOUT`]
//!   (reading its body included) gets 503. A response that streams (the
//!   payment event feed) is not cut: the deadline is on producing its
//!   head.
//! * **Connections**: at most `max_connections` at once
//!   ([`MAX_CONNECTIONS`] by default); beyond it the server stops
//!   accepting until one closes, and further clients wait in the kernel's
//!   backlog instead of taking file descriptors.
//!
//! Every request carries the peer's address as axum's
//! `ConnectInfo<SocketAddr>`, and a request id with one log line
//! ([`request_id`]).

pub mod request_id;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// Time to send a request's whole header block: a real client sends it in
/// one go; ten seconds covers a slow mobile link, not a trickle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause between pieces of a request body (at most 64 KiB).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to answer a request, body included; the slowest honest path (ID&V
/// and provisioning at the card network) takes a few seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections at once: well below a default open-file limit of
/// 1,024 after `paytap up` raises it, with room left for the databases and
/// the switch's acquirer connections.
pub const MAX_CONNECTIONS: usize = 512;
/// Pause after a failed `accept` (e.g. out of file descriptors), so the
/// loop does not spin while the condition lasts.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// How long a stopping server lets open requests finish before it drops
/// the connections (an event stream never finishes on its own).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The server's deadlines and connection bound.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// requests finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    assert!(limits.max_connections > 0, "a server needs a connection");
    let app = app
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    let app = request_id::track_requests(app);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "accept error");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let conn = connection(stream, peer, app.clone(), limits, stop_rx.clone());
        conns.spawn(async move {
            conn.await;
            drop(slot);
        });
    }
    // The server may have stopped on its own already.
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open = conns.len(),
            "closing connections still open at shutdown"
        );
        conns.abort_all();
    }
}

/// One connection, until the client closes it, a deadline passes or the
/// server stops (then after its request in progress).
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ServerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// Completes once the server is stopping (never if it cannot tell).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
