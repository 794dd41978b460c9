//! What an operator's probes ask: `GET /healthz` (the process answers HTTP)
//! and `GET /readyz` (every database answers and the switch answers a
//! sign-on on its acquirer port).
//!
//! Both are public and carry nothing secret: a load balancer or an
//! orchestrator calls them without a session. A listening socket accepts
//! connections into its backlog even when nobody serves it, so the switch
//! is asked the way an acquirer asks: a MAC-signed `0800` sign-on over
//! TCP, answered `0810` with `00` ([`SwitchCheck`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paytap_store::Db;
use serde_json::{Map, Value, json};

/// Longest wait for one database's answer before it counts as not ready:
/// a probe must answer well inside the few seconds orchestrators allow.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the switch whether it serves acquirers: `Ok` when it answered,
/// else why not.
pub type SwitchCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Probes {
    /// Named databases (the network's, each wallet region's).
    pub databases: Vec<(String, Db)>,
    /// The switch's acquirer address.
    pub switch_addr: SocketAddr,
    /// The switch's answer to a sign-on.
    pub switch: SwitchCheck,
}

/// A [`SwitchCheck`] that signs on to the network's switch as its demo
/// acquirer over TCP.
pub fn sign_on_check(net: Arc<paytap_network::RunningNetwork>) -> SwitchCheck {
    Arc::new(move || {
        let net = net.clone();
        Box::pin(async move {
            net.demo_acquirer()
                .await
                .map(drop)
                .map_err(|e| format!("no sign-on: {e}"))
        })
    })
}

/// `/healthz` and `/readyz`.
pub fn health_router(probes: Probes) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(probes)
}

async fn healthz() -> Response {
    no_store(StatusCode::OK, json!({ "status": "up" }))
}

async fn readyz(State(probes): State<Probes>) -> Response {
    let mut databases = Map::new();
    let mut ready = true;
    for (name, db) in &probes.databases {
        let state = ping(db).await;
        if let Err(why) = &state {
            tracing::warn!(database = %name, error = %why, "not ready");
            ready = false;
        }
        databases.insert(
            name.clone(),
            Value::from(state.err().unwrap_or("ok".into())),
        );
    }
    let switch = in_time((probes.switch)()).await;
    if let Err(why) = &switch {
        tracing::warn!(switch = %probes.switch_addr, error = %why, "not ready");
        ready = false;
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "databases": databases,
        "switch": switch.err().unwrap_or("ok".into()),
        "switch_addr": probes.switch_addr.to_string(),
    });
    no_store(status, body)
}

/// `Ok` when the database answered in time, else why not.
async fn ping(db: &Db) -> Result<(), String> {
    in_time(async { db.ping().await.map_err(|e| e.to_string()) }).await
}

/// `check`'s answer, or why there was none within [`PING_TIMEOUT`].
async fn in_time(check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, check).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} ms", PING_TIMEOUT.as_millis())),
    }
}

fn no_store(status: StatusCode, body: Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_json(app: axum::Router, path: &str) -> (StatusCode, Value) {
        let res = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn probes(databases: Vec<(String, Db)>) -> Probes {
        Probes {
            databases,
            switch_addr: "127.0.0.1:8583".parse().unwrap(),
            switch: Arc::new(|| Box::pin(async { Ok(()) })),
        }
    }

    #[tokio::test]
    async fn healthz_answers_up() {
        let (status, body) = get_json(health_router(probes(vec![])), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "up");
    }

    #[tokio::test]
    async fn readyz_is_ready_when_every_database_answers() {
        let db = Db::for_tests().await.unwrap();
        let app = health_router(probes(vec![("network".into(), db)]));
        let (status, body) = get_json(app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "ready");
        assert_eq!(body["databases"]["network"], "ok");
        assert_eq!(body["switch"], "ok");
        assert_eq!(body["switch_addr"], "127.0.0.1:8583");
    }

    #[tokio::test]
    async fn readyz_is_503_when_the_switch_does_not_answer_a_sign_on() {
        let db = Db::for_tests().await.unwrap();
        let mut p = probes(vec![("network".into(), db)]);
        p.switch = Arc::new(|| Box::pin(async { Err("no sign-on: connection refused".into()) }));
        let (status, body) = get_json(health_router(p), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["databases"]["network"], "ok");
        assert_eq!(body["switch"], "no sign-on: connection refused");
    }

    #[tokio::test]
    async fn a_switch_that_never_answers_is_not_ready_within_the_timeout() {
        // A socket that is bound and listening, whose connections nobody
        // serves: the kernel accepts them, no sign-on is ever answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let check: SwitchCheck = Arc::new(move || {
            Box::pin(async move {
                let mut s = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut b = [0u8; 1];
                tokio::io::AsyncReadExt::read(&mut s, &mut b)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            })
        });
        let answer = in_time(check()).await;
        assert!(answer.unwrap_err().starts_with("no answer within"));
    }

    #[tokio::test]
    async fn readyz_is_503_and_names_a_database_that_does_not_answer() {
        let up = Db::for_tests().await.unwrap();
        let down = Db::for_tests().await.unwrap();
        down.pool().close().await;
        let app = health_router(probes(vec![
            ("network".into(), up),
            ("wallet-in".into(), down),
        ]));
        let (status, body) = get_json(app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "not ready");
        assert_eq!(body["databases"]["network"], "ok");
        assert_ne!(body["databases"]["wallet-in"], "ok");
    }
}
