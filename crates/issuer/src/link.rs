//! The switch's [`IssuerLink`] port, implemented by [`Issuer`] in-process,
//! and the issuer's TCP server mode (ISO 8583:1987 with the 2-byte length
//! prefix, served by [`paytap_switch::serve_issuer`]).

use crate::service::Issuer;
use futures::future::BoxFuture;
use paytap_iso8583::Message;
use paytap_switch::{IssuerLink, LinkError};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

impl IssuerLink for Issuer {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            self.handle(&request).await.ok_or_else(|| {
                LinkError::BadRequest(format!(
                    "MTI {} is not a request the issuer answers",
                    request.mti()
                ))
            })
        })
    }
}

/// A running issuer TCP endpoint.
#[derive(Debug)]
pub struct IssuerServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl IssuerServer {
    /// Serves `issuer` on `addr` (port 0 picks a free port; see [`IssuerServer::addr`]).
    pub async fn bind(issuer: Issuer, addr: SocketAddr) -> std::io::Result<IssuerServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = watch::channel(false);
        let link: Arc<dyn IssuerLink> = Arc::new(issuer);
        let task = tokio::spawn(paytap_switch::serve_issuer(listener, link, rx));
        tracing::info!(%addr, "issuer endpoint listening");
        Ok(IssuerServer {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops accepting and closes connections.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
