//! `Idempotency-Key` for the API's POSTs and DELETEs.
//!
//! A key is scoped to its caller: the logged-in account, or, for
//! registration (which has no caller yet), the fingerprint of the request
//! body itself. So one caller's key can never return another caller's
//! stored response: a registration replayed with someone else's key and a
//! different body is simply a new registration.
//!
//! A stored record remembers the method, the path and the body's
//! fingerprint. The same key on another method or path is refused with
//! 409; on the same route with a different body, with 422 (as the IETF
//! `Idempotency-Key` header draft asks). The fingerprint is an
//! HMAC-SHA256 of the raw body under a server key (`WalletConfig::
//! request_key`), not a plain hash: bodies hold passwords and card
//! numbers, and a plain hash at rest could be searched by brute force.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;

use crate::error::WalletError;
use crate::http::{ApiError, ApiJson};
use crate::service::Wallet;

const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest accepted key (the documented maximum; UUIDs need 36).
pub const MAX_KEY_LEN: usize = 255;
/// Separates the route from the body's fingerprint in a stored record.
const FINGERPRINT_TAG: &str = " body-hmac=";

/// Hex HMAC-SHA256 of `body` under `key`.
pub fn fingerprint(key: &[u8; 32], body: &[u8]) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes a key of any length; a 32-byte key cannot fail.
        Err(_) => unreachable!("HMAC accepts 32-byte keys"),
    }
}

/// A JSON body with the fingerprint of its raw bytes.
pub struct Fingerprinted<T> {
    pub body: T,
    pub fingerprint: String,
}

impl<T: DeserializeOwned> FromRequest<Wallet> for Fingerprinted<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, wallet: &Wallet) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), wallet)
            .await
            .map_err(|rej| ApiError::from_bytes_rejection(rej.status(), rej.body_text()))?;
        let fingerprint = wallet.fingerprint(&bytes);
        let req = Request::from_parts(parts, Body::from(bytes));
        let ApiJson(body) = ApiJson::<T>::from_request(req, wallet).await?;
        Ok(Fingerprinted { body, fingerprint })
    }
}

/// The `Idempotency-Key` header, if sent and valid.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let s = v.to_str().map_err(|_| bad())?;
    if s.is_empty() || s.len() > MAX_KEY_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// Who a key belongs to and what request it names.
pub struct Call<'a> {
    pub region: &'a str,
    /// The account id, or `register:<fingerprint>` for a registration.
    pub scope: &'a str,
    pub method: Method,
    pub path: &'a str,
    pub fingerprint: &'a str,
}

impl Call<'_> {
    fn record(&self) -> String {
        format!(
            "{} {}{FINGERPRINT_TAG}{}",
            self.method, self.path, self.fingerprint
        )
    }
}

/// Whether a stored record answers this request: 409 for another route,
/// 422 for the same route with another body. Records written before
/// fingerprints were kept name only the route.
pub(crate) fn check_record(stored: &str, wanted: &str) -> Result<(), WalletError> {
    let (stored_route, stored_fp) = split_record(stored);
    let (route, fp) = split_record(wanted);
    if stored_route != route {
        return Err(WalletError::IdempotencyMismatch);
    }
    match (stored_fp, fp) {
        (Some(a), Some(b)) if a != b => Err(WalletError::IdempotencyBodyMismatch),
        _ => Ok(()),
    }
}

fn split_record(r: &str) -> (&str, Option<&str>) {
    match r.rsplit_once(FINGERPRINT_TAG) {
        Some((route, fp)) => (route, Some(fp)),
        None => (r, None),
    }
}

/// Runs `f` once per `Idempotency-Key` of `call`'s caller.
pub async fn idempotent<F, Fut>(
    wallet: &Wallet,
    call: Call<'_>,
    headers: &HeaderMap,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = idempotency_key(headers)? else {
        let (status, body) = f().await?;
        return Ok(json_response(status, &body, false));
    };
    let record = call.record();
    if let Some((status, body)) = wallet
        .idempotent_lookup(call.region, call.scope, &key, &record)
        .await?
    {
        return Ok(stored_response(status, body));
    }
    let (status, body) = f().await?;
    let text = body.to_string();
    if status.is_success()
        && let Some((s, b)) = wallet
            .idempotent_store(
                call.region,
                call.scope,
                &key,
                &record,
                status.as_u16(),
                &text,
            )
            .await?
    {
        return Ok(stored_response(s, b));
    }
    Ok(json_response(status, &body, false))
}

pub(crate) fn json_response(status: StatusCode, body: &Value, replayed: bool) -> Response {
    let mut resp = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, axum::Json(body)).into_response()
    };
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    resp
}

fn stored_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    json_response(status, &value, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_match_by_route_then_body() {
        let a = format!("POST /x{FINGERPRINT_TAG}aa");
        assert!(check_record(&a, &a).is_ok());
        assert!(matches!(
            check_record(&a, &format!("POST /x{FINGERPRINT_TAG}bb")),
            Err(WalletError::IdempotencyBodyMismatch)
        ));
        assert!(matches!(
            check_record(&a, &format!("POST /y{FINGERPRINT_TAG}aa")),
            Err(WalletError::IdempotencyMismatch)
        ));
        // A record from before fingerprints: the route decides.
        assert!(check_record("POST /x", &a).is_ok());
        let k = [7u8; 32];
        assert_eq!(fingerprint(&k, b"{}"), fingerprint(&k, b"{}"));
        assert_ne!(fingerprint(&k, b"{}"), fingerprint(&[8u8; 32], b"{}"));
        assert_eq!(fingerprint(&k, b"").len(), 64);
    }
}
