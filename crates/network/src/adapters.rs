//! The switch's ports, implemented over the services that answer them.
//!
//! The switch reaches the token service and the banks only through its
//! [`TokenService`] and [`IssuerLink`] traits; `paytap-tsp` and
//! `paytap-issuer` know nothing of the switch. The adapters that join them
//! live here, in the crate that assembles the network:
//!
//! * [`TokenServiceAdapter`]: [`Tsp`] as the switch's token service (a
//!   detokenized request with its ARPC completion, or a refusal with its
//!   DE 39 and DE 63);
//! * [`IssuerAdapter`]: [`Issuer`] as an in-process issuer link;
//! * [`IssuerServer`]: an issuer behind its own TCP endpoint (ISO 8583:1987
//!   with the 2-byte length prefix, served by [`paytap_switch::serve_issuer`]).
//!
//! Each adapter is a newtype over the service, so the hot path holds the
//! same `Arc<dyn …>` and boxed completion it would hold for the service
//! itself: no extra allocation or dynamic call per message.

use futures::future::BoxFuture;
use paytap_iso8583::Message;
use paytap_issuer::Issuer;
use paytap_switch::{
    Detokenized, IssuerLink, LinkError, TokenCompletion, TokenDecision, TokenHolder, TokenRefusal,
    TokenService,
};
use paytap_tsp::{Refused, TokenContext, Tsp, finish_write, refusal_verification};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// [`Tsp`] as the switch's [`TokenService`].
#[derive(Clone)]
pub struct TokenServiceAdapter(pub Tsp);

impl TokenService for TokenServiceAdapter {
    fn detokenize<'a>(&'a self, request: &'a Message) -> BoxFuture<'a, TokenDecision> {
        Box::pin(async move {
            match self.0.detokenize_deferred(request).await {
                Ok((d, write)) => TokenDecision::Approved(Detokenized {
                    issuer_request: d.request,
                    token_ref: d.context.token_ref.clone(),
                    holder: TokenHolder {
                        card: d.context.card_vault_id.clone(),
                        account_id: d.context.account_id.clone(),
                        added_at_ms: Some(d.context.provisioned_at_ms),
                        first_use: d.context.first_use,
                        cdcvm_performed: d.context.cdcvm_performed,
                    },
                    completion: Box::new(Completion(d.context)),
                    durable: Some(Box::pin(finish_write(write))),
                }),
                Err(refused) => TokenDecision::Refused(token_refusal(refused)),
            }
        })
    }
}

/// The switch's word for a token service refusal.
fn token_refusal(Refused { refusal, token_ref }: Refused) -> TokenRefusal {
    TokenRefusal {
        code: refusal.response_code(),
        reason: refusal.reason().to_owned(),
        token_ref,
        verification: refusal_verification(refusal),
    }
}

/// A detokenized authorization's [`TokenContext`] as the switch's
/// [`TokenCompletion`]: the ARPC and DE 63 on the acquirer's answer.
struct Completion(TokenContext);

impl TokenCompletion for Completion {
    fn complete_response(&self, response: &mut Message) -> Result<(), paytap_iso8583::Error> {
        self.0.complete_response(response)
    }
}

/// [`Issuer`] as the switch's in-process [`IssuerLink`].
#[derive(Clone)]
pub struct IssuerAdapter(pub Issuer);

impl IssuerLink for IssuerAdapter {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            self.0.handle(&request).await.ok_or_else(|| {
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
    /// The address it listens on.
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
        let link: Arc<dyn IssuerLink> = Arc::new(IssuerAdapter(issuer));
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
        // The server may have stopped on its own already.
        let _ = self.shutdown.send(true);
        // A server task that panicked has nothing left to stop.
        let _ = self.task.await;
    }
}
