//! What an operator's probes ask: `GET /healthz` (the process answers HTTP)
//! and `GET /readyz` (every database answers and the switch is listening).
//!
//! Both are public and carry nothing secret: a load balancer or an
//! orchestrator calls them without a session. The switch serves its
//! acquirer port before the HTTP server starts (`Platform::start_on`), so
//! an HTTP answer means the switch was listening; `/readyz` names its
//! address.

use std::net::SocketAddr;
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

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Probes {
    /// Named databases (the network's, each wallet region's).
    pub databases: Vec<(String, Db)>,
    /// The switch's acquirer address.
    pub switch_addr: SocketAddr,
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
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "databases": databases,
        "switch": probes.switch_addr.to_string(),
    });
    no_store(status, body)
}

/// `Ok` when the database answered in time, else why not.
async fn ping(db: &Db) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
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
        assert_eq!(body["switch"], "127.0.0.1:8583");
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
