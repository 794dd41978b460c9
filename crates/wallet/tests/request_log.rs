//! One log line per HTTP request, naming the route's pattern (never the
//! path with its ids), the status and the request id. The log is captured
//! into a buffer by a process-wide subscriber (this file holds one test, so
//! nothing else writes to it).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use paytap_testkit::LogCapture;
use paytap_wallet::server::request_id::{REQUEST_ID_HEADER, UNMATCHED_ROUTE, track_requests};
use tower::ServiceExt;

/// The status and `X-Request-Id` of a GET on `uri`, sent with `id`.
async fn get_with_id(app: &Router, uri: &str, id: &str) -> (StatusCode, String) {
    let req = Request::get(uri)
        .header(REQUEST_ID_HEADER, id)
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let header = res.headers()[&REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    (res.status(), header)
}

#[tokio::test]
async fn one_line_per_request_names_the_route_not_the_path() {
    let log = LogCapture::install_global(tracing::Level::INFO);
    let app = track_requests(Router::new().route(
        "/items/{id}",
        get(|| async {
            tracing::info!("inside the handler");
            "item"
        }),
    ));
    assert_eq!(
        get_with_id(&app, "/items/42", "first").await,
        (StatusCode::OK, "first".to_owned())
    );
    assert_eq!(
        get_with_id(&app, "/nowhere/7", "second").await,
        (StatusCode::NOT_FOUND, "second".to_owned())
    );

    let text = log.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("request{request_id=first}") && lines[0].contains("inside the handler"),
        "a handler's line carries the id in its span: {}",
        lines[0]
    );
    for (line, id, route, status) in [
        (lines[1], "first", "/items/{id}", 200),
        (lines[2], "second", UNMATCHED_ROUTE, 404),
    ] {
        for field in [
            format!(": request request_id={id} "),
            "method=GET ".to_owned(),
            format!("route=\"{route}\" "),
            format!("status={status} "),
            "latency_us=".to_owned(),
        ] {
            assert!(line.contains(&field), "{field} in {line}");
        }
        assert!(
            !line.contains("/items/42") && !line.contains("/nowhere"),
            "{line}"
        );
    }
}
