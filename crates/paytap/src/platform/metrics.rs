//! `GET /metrics`: the platform's metrics in the Prometheus text format
//! (version 0.0.4), written by `prometheus-client`.
//!
//! Every metric family the platform exports is named here, in one
//! registry. The services count in their own atomics as things happen
//! (an authorization costs one atomic add and one histogram observation,
//! see `paytap_switch::counts`), and the collectors below read them only
//! when Prometheus scrapes:
//!
//! * the switch ([`SwitchCollector`]): answers to `0100` and `0200` by
//!   message, channel (from DE 22) and response code, their latency,
//!   stand-ins, reversals received and sent, advices, duplicates, format
//!   errors, and its queues (the message log's, each issuer's
//!   store-and-forward);
//! * each SQLite file's direct writer ([`DatabaseCollector`]): jobs queued
//!   and group-commit round times, by database;
//! * sign-ins ([`SignInCollector`]): by outcome, and lockouts begun by
//!   counter;
//! * every HTTP request of the wallet API and the web site
//!   ([`Metrics::count_requests`]), by method, matched route template
//!   (`/api/v1/devices/:device_id`, never the raw path, which holds ids;
//!   `unmatched` when no route matched) and status.
//!
//! Public like `/healthz`: nothing in it is secret. No label carries a
//! card or token number, an account, device or session id, a login or an
//! address; the only free-form label values are route templates, issuer
//! ids from `banks.toml` and the database names.

use std::fmt;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paytap_store::Db;
use paytap_switch::Switch;
use paytap_types::HistogramSnapshot;
use paytap_wallet::Wallet;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Every metric's name starts with this (and `_`).
pub const PREFIX: &str = "paytap";

/// What `/metrics` answers with: the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of a request no route matched (its path is not used:
/// anyone can make up paths).
pub const UNMATCHED: &str = "unmatched";

/// What the metrics read.
pub struct Sources {
    /// The card network's switch.
    pub switch: Switch,
    /// Named databases (the network's, each wallet region's).
    pub databases: Vec<(String, Db)>,
    /// The wallet service (its sign-ins).
    pub wallet: Wallet,
}

/// The registry and the one family counted as requests arrive. Cheap to
/// clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    http: Family<HttpLabels, Counter>,
}

/// The labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

impl Metrics {
    /// The registry over `sources`.
    pub fn new(sources: Sources) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "wallet_http_requests",
            "HTTP requests of the wallet API and the web site, by method, \
             matched route template and status",
            http.clone(),
        );
        registry.register_collector(Box::new(SwitchCollector(sources.switch)));
        registry.register_collector(Box::new(DatabaseCollector(sources.databases)));
        registry.register_collector(Box::new(SignInCollector(sources.wallet)));
        Metrics {
            registry: Arc::new(registry),
            http,
        }
    }

    /// `GET /metrics`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/metrics", get(scrape))
            .with_state(self.clone())
    }

    /// `app` with every request counted in `paytap_wallet_http_requests`.
    /// Call it once every route (and the fallback) is in `app`: a route
    /// added afterwards is not counted.
    pub fn count_requests(&self, app: axum::Router) -> axum::Router {
        app.layer(axum::middleware::from_fn_with_state(
            self.clone(),
            count_request,
        ))
    }

    /// The text of a scrape.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

async fn scrape(State(m): State<Metrics>) -> Response {
    match m.encode() {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            text,
        )
            .into_response(),
        Err(_) => {
            tracing::error!("the metrics could not be written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts the request once its answer is known, under the route template
/// the router matched.
async fn count_request(State(m): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| route_label(p.as_str()));
    let method = method_label(req.method());
    let res = next.run(req).await;
    m.http
        .get_or_create(&HttpLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// A route template as a label value, its parameters written `:name`
/// (`/api/v1/devices/:device_id`) rather than the router's
/// `{device_id}`: a brace inside a label value trips line-based readers
/// of the text format that take the first `}` as the end of the labels.
fn route_label(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for c in template.chars() {
        match c {
            '{' => out.push(':'),
            '}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The method's label: the standard ones by name, any other as `other`,
/// so a client cannot add label values.
fn method_label(m: &Method) -> &'static str {
    static KNOWN: [Method; 7] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|k| *k == m)
        .map_or("other", Method::as_str)
}

/// A counter family written from values read at scrape time.
fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter without labels.
fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// A gauge family written from values read at scrape time.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, i64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A histogram family (seconds) from snapshots taken at scrape time.
fn histograms<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, HistogramSnapshot)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, s) in rows {
        family
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(s.sum_seconds(), s.count, &s.buckets_seconds(), None)?;
    }
    Ok(())
}

/// A count as a gauge's value (a queue never holds 2^63 items).
fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The switch's counters and queues.
struct SwitchCollector(Switch);

impl fmt::Debug for SwitchCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SwitchCollector")
    }
}

impl Collector for SwitchCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = self.0.stats();
        counters(
            &mut encoder,
            "switch_authorizations",
            "Answers to authorization (0100) and financial (0200) requests, by \
             request, card entry channel (DE 22) and response code (DE 39)",
            stats.answers.answers().into_iter().map(|a| {
                let labels = [
                    ("message", a.kind.as_str()),
                    ("channel", a.channel.as_str()),
                    ("code", a.code.code()),
                ];
                (labels, a.count)
            }),
        )?;
        histograms(
            &mut encoder,
            "switch_authorization_duration_seconds",
            "Time from a 0100 or 0200 arriving to its answer, by request and channel",
            stats
                .answers
                .latencies()
                .into_iter()
                .map(|(kind, channel, s)| {
                    let labels = [("message", kind.as_str()), ("channel", channel.as_str())];
                    (labels, s)
                }),
        )?;
        let plain = [
            (
                "switch_stand_in",
                "Authorizations the switch decided on an issuer's behalf",
                &stats.stand_in,
            ),
            (
                "switch_reversals_received",
                "Reversal requests (0400, 0420) answered to acquirers",
                &stats.reversals_received,
            ),
            (
                "switch_reversals_sent",
                "Reversals the issuers acknowledged",
                &stats.reversals_sent,
            ),
            (
                "switch_advices_sent",
                "Stand-in advices (0120) the issuers acknowledged",
                &stats.advices_sent,
            ),
            (
                "switch_duplicates",
                "Requests answered with an earlier request's answer",
                &stats.duplicates,
            ),
            (
                "switch_format_errors",
                "Requests answered 30 because their data elements could not be read",
                &stats.format_errors,
            ),
        ];
        for (name, help, value) in plain {
            counter(&mut encoder, name, help, value.load(Relaxed))?;
        }
        self.encode_queues(&mut encoder)
    }
}

impl SwitchCollector {
    fn encode_queues(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let mut by_issuer: Vec<(&str, u64)> = self.0.forwards_by_issuer().collect();
        by_issuer.sort_unstable();
        gauges(
            encoder,
            "switch_forwards_queued",
            "Reversals and advices waiting for an issuer's acknowledgement \
             (store and forward), by issuer",
            by_issuer
                .into_iter()
                .map(|(issuer, n)| ([("issuer", issuer)], gauge_value(n))),
        )?;
        let log = encoder.encode_descriptor(
            "switch_log_queued",
            "Message log writes waiting for the log writer",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(gauge_value(self.0.log().queued() as u64)).encode(log)
    }
}

/// Each SQLite file's direct writer.
struct DatabaseCollector(Vec<(String, Db)>);

impl fmt::Debug for DatabaseCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseCollector")
    }
}

impl Collector for DatabaseCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        // PostgreSQL databases have no direct writer and no series here.
        let writers: Vec<_> = self
            .0
            .iter()
            .filter_map(|(name, db)| Some((name.as_str(), db.direct()?.stats())))
            .collect();
        gauges(
            &mut encoder,
            "sqlite_writer_queued",
            "Jobs waiting for the SQLite writer thread, by database",
            writers
                .iter()
                .map(|(name, s)| ([("database", *name)], gauge_value(s.queued()))),
        )?;
        histograms(
            &mut encoder,
            "sqlite_writer_round_duration_seconds",
            "Time of each group-commit round of the SQLite writer, from BEGIN \
             to its commit, by database",
            writers
                .iter()
                .map(|(name, s)| ([("database", *name)], s.rounds.snapshot())),
        )
    }
}

/// Sign-ins of the API and the web site.
struct SignInCollector(Wallet);

impl fmt::Debug for SignInCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInCollector")
    }
}

impl Collector for SignInCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let c = self.0.sign_in_counts();
        counters(
            &mut encoder,
            "wallet_logins",
            "Sign-ins by outcome: succeeded, failed (wrong password or unknown \
             login), throttled (refused while a wait after failures ran)",
            [
                ([("outcome", "succeeded")], c.succeeded),
                ([("outcome", "failed")], c.failed),
                ([("outcome", "throttled")], c.throttled),
            ],
        )?;
        counters(
            &mut encoder,
            "wallet_lockouts",
            "Sign-in waits begun, by the counter whose free failures ran out: \
             pair (login and address), address, login (from unknown addresses)",
            [
                ([("counter", "pair")], c.pair_lockouts),
                ([("counter", "address")], c.address_lockouts),
                ([("counter", "login")], c.login_lockouts),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_parameters_are_written_with_a_colon() {
        assert_eq!(
            route_label("/api/v1/devices/{device_id}/cards/{card_id}"),
            "/api/v1/devices/:device_id/cards/:card_id"
        );
        assert_eq!(route_label("/assets/{*path}"), "/assets/:*path");
        assert_eq!(route_label("/healthz"), "/healthz");
    }

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
    }
}
