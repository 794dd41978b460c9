//! The band's offline account on `paytap up` ([`paytap_acquirer::bands`]).
//!
//! For the cash registers, signed as the merchant API is
//! (`platform/merchants.rs`; `401` and nothing read or written otherwise):
//!
//! * `PUT /acquirer/v1/band-batches/{batch_id}`: a register's band codes
//!   taken offline (`{"operations": [{"register", "merchant", "code",
//!   "amount_minor", "taken_at"}, …]}`, at most
//!   [`paytap_acquirer::bands::upload::MAX_BAND_BATCH_OPERATIONS`]), settled:
//!   `200` with `{"batch_id", "results": [{"band_id", "counter", "merchant",
//!   "register", "paid", "source", "reason", "double_spend", "transfer"}]}`,
//!   the same again for the same batch; `422` the id uploaded before with
//!   other operations (`batch_altered`) or a malformed batch.
//! * `GET /acquirer/v1/band-revocations`: `{"platform_key", "revoked"}`,
//!   the key a register verifies certificates with and the revoked bands.
//!
//! For the band's owner, with the wallet's bearer session (`401` without):
//!
//! * `GET /api/v1/bands`: `{"bands": [<view>]}`: limit, balance, offline
//!   spending not yet uploaded, status.
//! * `POST /api/v1/bands` `{"device_id", "band_key", "limit_minor"?}`: opens
//!   the account of one of the owner's band devices (its id is derived from
//!   the device id, [`band_id_of`]), with the public key its secure element
//!   made (hex); `201`, or `200` for the same again.
//! * `POST /api/v1/bands/{band_id}/fund` `{"payment_key"}`: funds it with an
//!   approved scan-to-pay payment to the platform's band funding merchant
//!   ([`FUNDING_MERCHANT`]) whose dynamic code carried the band's
//!   `funding_reference` (`BAND-` and 16 hex digits of its id, in the
//!   band's view) as its bill reference: the card authorization went
//!   through the network; its amount moves from that merchant's settlement
//!   account onto the band account, once per payment. A payment made for
//!   another band, or for no band, funds nothing (`422 no_payment`), so a
//!   payment key someone else learns cannot move their money to a band of
//!   one's own.
//! * `POST /api/v1/bands/{band_id}/sync` `{"reported": [[counter, amount], …]}`:
//!   the band's codes since its last sync, relayed by the phone; answers
//!   `{"certificate"}` (Base64) with its restored allowance.
//! * `POST /api/v1/bands/{band_id}/off`: turns the band off (revoked).
//!
//! [`WebBands`] gives the web site the same accounts (its `/bands` page:
//! limit, balance, offline spending not yet uploaded, QR payments, turning
//! the band off); [`WalletBands`] gives the wallet each band's settled or
//! refused operations for its owner's payment history.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use paytap_acquirer::bands::upload::BandBatch;
use paytap_acquirer::bands::{
    BAND_CURRENCY, BandAccounts, BandError, BandOperationView, BandView, OperationsBefore,
    funding_reference, parse_band_id,
};
use paytap_acquirer::payments::QrPayments;
use paytap_network::RunningNetwork;
use paytap_qr::offline::{BAND_ID_LEN, BandId, PUBLIC_KEY_LEN};
use paytap_types::{DeviceKind, Money};
use paytap_wallet::{BandBound, BandHistory, BandOperation, Principal, Wallet};
use paytap_web::bands::{BandPayment, BandPort, BandSummary};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::merchants::{authenticate_request, signed_json, unauthenticated};
use super::scan::error;

/// Where a register uploads a band batch (`/{batch_id}` after it).
pub const BAND_BATCHES_PATH: &str = "/acquirer/v1/band-batches";
/// Where a register downloads the revocation list and the platform key.
pub const BAND_REVOCATIONS_PATH: &str = "/acquirer/v1/band-revocations";
/// The owner's band accounts.
pub const BANDS_PATH: &str = "/api/v1/bands";
/// The merchant whose approved payments fund band accounts.
pub const FUNDING_MERCHANT: &str = "PAYTAP-BANDS";
/// The keyring subkey's purpose for the platform's certificate key.
pub const PLATFORM_KEY_PURPOSE: &str = "band offline certificate signing key";
/// The risk reserve the platform puts aside for band double spends when it
/// first starts (1,000 CNY, once: the transfer's key is fixed): enough for
/// a few copied codes at the highest band limit, small enough that a
/// deployment tops it up by decision.
pub const RESERVE_AT_START_MINOR: i64 = 100_000;
/// Largest request body: a batch of 500 operations of a band code (356
/// characters) and a few fields each.
const MAX_BODY_BYTES: usize = 320 * 1024;

#[derive(Clone)]
struct Api {
    net: Arc<RunningNetwork>,
    bands: BandAccounts,
    wallet: Wallet,
    payments: QrPayments,
}

/// A band's id: the first bytes of the SHA-256 of its wallet device id.
pub fn band_id_of(device_id: &str) -> BandId {
    let digest = Sha256::digest([b"paytap band id\0".as_slice(), device_id.as_bytes()].concat());
    let mut id = [0u8; BAND_ID_LEN];
    id.copy_from_slice(&digest[..BAND_ID_LEN]);
    id
}

fn band_failure(e: &BandError) -> Response {
    let (status, code) = match e {
        BandError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        BandError::BatchAltered(_) => (StatusCode::UNPROCESSABLE_ENTITY, "batch_altered"),
        BandError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        BandError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        BandError::Revoked(_) => (StatusCode::CONFLICT, "revoked"),
        BandError::NoFunds(_) => (StatusCode::CONFLICT, "no_funds"),
        BandError::Declined(_) => (StatusCode::PAYMENT_REQUIRED, "declined"),
        BandError::Acquirer(_) => {
            tracing::error!(error = %e, "band account request failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    error(status, code, e)
}

async fn upload(
    State(api): State<Api>,
    method: Method,
    headers: HeaderMap,
    Path(batch_id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("{BAND_BATCHES_PATH}/{batch_id}");
    let (acquirer, b) = match signed_json::<BandBatch>(&api.net, &method, &path, &headers, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let now = paytap_store::now_millis() / 1000;
    match api.bands.upload(&batch_id, &b, &acquirer, now).await {
        Ok(results) => {
            publish(&api, &results).await;
            axum::Json(json!({ "batch_id": batch_id, "results": results })).into_response()
        }
        Err(e) => {
            tracing::info!(batch_id, error = %e, "band batch refused");
            band_failure(&e)
        }
    }
}

/// The uploaded operations reach their owners' live payment feeds
/// ([`Wallet::publish_band_operations`]), read back as the history keeps
/// them. A failure here loses nothing (the history holds them): it is
/// logged.
async fn publish(api: &Api, results: &[paytap_acquirer::bands::upload::BandResult]) {
    let mut bands: Vec<(&str, Vec<(u64, String)>)> = Vec::new();
    for r in results {
        let (Some(band), Some(counter)) = (r.band_id.as_deref(), r.counter) else {
            continue;
        };
        // Stored under the merchant's id and the register's, as the
        // history shows it (`TEA-01/till-1`).
        let register = format!("{}/{}", r.merchant, r.register);
        match bands.iter_mut().find(|(b, _)| *b == band) {
            Some((_, ops)) => ops.push((counter, register)),
            None => bands.push((band, vec![(counter, register)])),
        }
    }
    for (band, uploaded) in bands {
        if let Err(e) = publish_band(api, band, &uploaded).await {
            tracing::warn!(band, error = %e, "band payments not sent to the live feed");
        }
    }
}

/// One band's uploaded operations (counter, register) to its owner's feed.
async fn publish_band(api: &Api, band: &str, uploaded: &[(u64, String)]) -> anyhow::Result<()> {
    let id = paytap_acquirer::bands::parse_band_id(band)?;
    let owner = api.bands.view(&id).await?.owner;
    let keys: Vec<(i64, String)> = uploaded
        .iter()
        .filter_map(|(c, r)| Some((i64::try_from(*c).ok()?, r.clone())))
        .collect();
    let ops: Vec<BandOperation> = api
        .bands
        .operations_with(&id, &keys)
        .await?
        .into_iter()
        .map(history_operation)
        .collect();
    api.wallet
        .publish_band_operations(&owner, |device| band_id_of(device) == id, ops)
        .await?;
    Ok(())
}

async fn revocations(State(api): State<Api>, method: Method, headers: HeaderMap) -> Response {
    let path = BAND_REVOCATIONS_PATH;
    if let Err(why) = authenticate_request(&api.net, &method, path, &headers, b"") {
        return unauthenticated(path, why);
    }
    match api.bands.revocations().await {
        Ok(revoked) => axum::Json(json!({
            "platform_key": hex::encode(api.bands.platform_key().as_bytes()),
            "revoked": revoked,
        }))
        .into_response(),
        Err(e) => band_failure(&e),
    }
}

/// The session's owner, or the `401` answer.
async fn owner(api: &Api, headers: &HeaderMap) -> Result<Principal, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(token) = token else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "no bearer session",
        ));
    };
    api.wallet.authenticate(token).await.map_err(|e| {
        tracing::info!(error = %e, "band request without a valid session");
        error(StatusCode::UNAUTHORIZED, "unauthenticated", e)
    })
}

/// The owner's band by its hex id, or a `404` (another owner's included).
async fn owned(api: &Api, p: &Principal, band: &str) -> Result<(BandId, BandView), Response> {
    let id = parse_band_id(band).map_err(|e| band_failure(&e))?;
    match api.bands.view(&id).await {
        Ok(v) if v.owner == p.account_id => Ok((id, v)),
        Ok(_) => Err(band_failure(&BandError::NotFound(band.to_owned()))),
        Err(e) => Err(band_failure(&e)),
    }
}

/// An owner's request about one of their bands: the band and the body, or
/// the answer refusing it (`401`, `404`, `422`).
async fn band_request<T: serde::de::DeserializeOwned>(
    api: &Api,
    headers: &HeaderMap,
    band: &str,
    body: &[u8],
) -> Result<(BandId, T), Response> {
    let p = owner(api, headers).await?;
    let req = serde_json::from_slice(body).map_err(malformed)?;
    let (id, _) = owned(api, &p, band).await?;
    Ok((id, req))
}

/// The `422` of a body that is not the request's JSON.
fn malformed(e: serde_json::Error) -> Response {
    tracing::info!(error = %e, "band request with a malformed body");
    error(StatusCode::UNPROCESSABLE_ENTITY, "malformed", e)
}

async fn list(State(api): State<Api>, headers: HeaderMap) -> Response {
    let p = match owner(&api, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match api.bands.of_owner(&p.account_id).await {
        Ok(bands) => axum::Json(json!({ "bands": bands })).into_response(),
        Err(e) => band_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBand {
    device_id: String,
    band_key: String,
    #[serde(default)]
    limit_minor: Option<i64>,
}

async fn open(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let (p, req) = match (
        owner(&api, &headers).await,
        serde_json::from_slice::<OpenBand>(&body),
    ) {
        (Ok(p), Ok(req)) => (p, req),
        (Err(r), _) => return r,
        (_, Err(e)) => return malformed(e),
    };
    match api.wallet.device(&p, &req.device_id).await {
        Ok(d) if d.kind == DeviceKind::Band => {}
        Ok(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_band",
                "the device is not a band",
            );
        }
        Err(e) => return error(StatusCode::NOT_FOUND, "not_found", e),
    }
    let key: Option<[u8; PUBLIC_KEY_LEN]> = hex::decode(&req.band_key)
        .ok()
        .and_then(|k| k.try_into().ok());
    let Some(key) = key else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "band_key is 32 bytes in hex",
        );
    };
    let id = band_id_of(&req.device_id);
    let existed = api.bands.view(&id).await.is_ok();
    match api
        .bands
        .open_band(&p.account_id, &id, &key, req.limit_minor)
        .await
    {
        Ok(v) => {
            let status = if existed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (status, axum::Json(v)).into_response()
        }
        Err(e) => band_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fund {
    payment_key: String,
}

async fn fund(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(band): Path<String>,
    body: Bytes,
) -> Response {
    let (id, req) = match band_request::<Fund>(&api, &headers, &band, &body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let reference = funding_reference(&id);
    let paid = match api.payments.approved(&req.payment_key).await {
        Ok(Some(a))
            if a.merchant == FUNDING_MERCHANT
                && a.bill_reference.as_deref() == Some(reference.as_str()) =>
        {
            a.amount
        }
        Ok(_) => {
            tracing::info!(band, key = %req.payment_key, "band funding without an approved payment for this band to the funding merchant");
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_payment",
                format!(
                    "no approved payment to the band funding merchant with bill reference {reference} under this key"
                ),
            );
        }
        Err(e) => return super::scan::failure(&e),
    };
    let source = paytap_acquirer::settlement_account(FUNDING_MERCHANT);
    match api
        .bands
        .fund(&id, &req.payment_key, &source, paid.minor)
        .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => band_failure(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sync {
    #[serde(default)]
    reported: Vec<(u64, u64)>,
}

async fn sync(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(band): Path<String>,
    body: Bytes,
) -> Response {
    let (id, req) = match band_request::<Sync>(&api, &headers, &band, &body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let now = paytap_store::now_millis() / 1000;
    match api.bands.sync(&id, &req.reported, now).await {
        Ok(cert) => {
            let text = base64::engine::general_purpose::STANDARD.encode(cert.encode());
            axum::Json(json!({ "certificate": text, "serial": cert.serial, "limit_minor": cert.limit, "not_after": cert.not_after })).into_response()
        }
        Err(e) => band_failure(&e),
    }
}

async fn off(State(api): State<Api>, headers: HeaderMap, Path(band): Path<String>) -> Response {
    let (id, ()) = match band_request::<()>(&api, &headers, &band, b"null").await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let now = paytap_store::now_millis() / 1000;
    match api.bands.revoke(&id, "turned_off", now).await {
        Ok(()) => match api.bands.view(&id).await {
            Ok(v) => axum::Json(v).into_response(),
            Err(e) => band_failure(&e),
        },
        Err(e) => band_failure(&e),
    }
}

/// The platform's certificate key, derived from the vault's keyring.
pub fn platform_signer(keyring: &paytap_vault::Keyring) -> paytap_qr::offline::Platform {
    paytap_qr::offline::Platform::from_secret(&keyring.subkey(PLATFORM_KEY_PURPOSE))
}

/// The band routes (module documentation).
pub fn router(
    net: Arc<RunningNetwork>,
    bands: BandAccounts,
    wallet: Wallet,
    payments: QrPayments,
) -> axum::Router {
    axum::Router::new()
        .route(
            &format!("{BAND_BATCHES_PATH}/{{batch_id}}"),
            axum::routing::put(upload),
        )
        .route(BAND_REVOCATIONS_PATH, axum::routing::get(revocations))
        .route(BANDS_PATH, axum::routing::get(list).post(open))
        .route(
            &format!("{BANDS_PATH}/{{band}}/fund"),
            axum::routing::post(fund),
        )
        .route(
            &format!("{BANDS_PATH}/{{band}}/sync"),
            axum::routing::post(sync),
        )
        .route(
            &format!("{BANDS_PATH}/{{band}}/off"),
            axum::routing::post(off),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api {
            net,
            bands,
            wallet,
            payments,
        })
}

/// The web site's view of the band accounts ([`paytap_web::bands::BandPort`]).
pub struct WebBands(pub BandAccounts);

/// Payments the band page lists per band.
const WEB_LISTED_PAYMENTS: i64 = 20;

impl WebBands {
    async fn summaries(&self, owner: &str) -> Result<Vec<BandSummary>, BandError> {
        let mut out = Vec::new();
        for v in self.0.of_owner(owner).await? {
            let id = parse_band_id(&v.band_id)?;
            let payments = self
                .0
                .operations(&id, WEB_LISTED_PAYMENTS)
                .await?
                .into_iter()
                .map(|o| BandPayment {
                    merchant: o.merchant,
                    amount_minor: o.amount_minor,
                    made_at_millis: o.code_time.saturating_mul(1000),
                    paid: o.paid,
                    from_reserve: o.source.as_deref() == Some("reserve"),
                    double_spend: o.double_spend,
                })
                .collect();
            out.push(BandSummary {
                band_id: v.band_id,
                limit_minor: v.limit_minor,
                balance_minor: v.balance_minor,
                not_uploaded_minor: v.not_uploaded_minor,
                on: v.status == paytap_acquirer::bands::BandStatus::On,
                status_reason: v.status_reason,
                payments,
            });
        }
        Ok(out)
    }

    async fn off(&self, owner: &str, band: &str) -> Result<bool, BandError> {
        let Ok(id) = parse_band_id(band) else {
            return Ok(false);
        };
        match self.0.view(&id).await {
            Ok(v) if v.owner == owner => {}
            Ok(_) | Err(BandError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
        self.0
            .revoke(&id, "turned_off", paytap_store::now_millis() / 1000)
            .await?;
        Ok(true)
    }
}

impl BandPort for WebBands {
    fn bands<'a>(
        &'a self,
        owner: &'a str,
    ) -> paytap_wallet::BoxFuture<'a, Result<Vec<BandSummary>, String>> {
        Box::pin(async move { self.summaries(owner).await.map_err(|e| e.to_string()) })
    }

    fn turn_off<'a>(
        &'a self,
        owner: &'a str,
        band_id: &'a str,
    ) -> paytap_wallet::BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move { self.off(owner, band_id).await.map_err(|e| e.to_string()) })
    }
}

/// The wallet's view of the band accounts: the operations of an owner's
/// band for the payment history ([`paytap_wallet::BandHistory`]).
pub struct WalletBands(pub BandAccounts);

impl WalletBands {
    async fn history(
        &self,
        owner: &str,
        device_id: &str,
        before: BandBound,
        limit: u32,
    ) -> Result<Vec<BandOperation>, BandError> {
        let id = band_id_of(device_id);
        match self.0.view(&id).await {
            Ok(v) if v.owner == owner => {}
            Ok(_) | Err(BandError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let before = OperationsBefore {
            code_time: before.time,
            counter: before.counter,
            register: before.register,
        };
        let ops = self
            .0
            .operations_before(&id, &before, i64::from(limit))
            .await?;
        Ok(ops.into_iter().map(history_operation).collect())
    }
}

fn history_operation(o: BandOperationView) -> BandOperation {
    BandOperation {
        counter: o.counter,
        register: o.register,
        merchant: o.merchant,
        amount: Money::new(o.amount_minor, BAND_CURRENCY),
        code_time: o.code_time,
        paid: o.paid,
        from_reserve: o.source.as_deref() == Some("reserve"),
        double_spend: o.double_spend,
        reason: o.reason,
    }
}

impl BandHistory for WalletBands {
    fn operations<'a>(
        &'a self,
        owner: &'a str,
        device_id: &'a str,
        before: BandBound,
        limit: u32,
    ) -> paytap_wallet::BoxFuture<'a, Result<Vec<BandOperation>, String>> {
        Box::pin(async move {
            self.history(owner, device_id, before, limit)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
