//! Session cookies and cross-site request forgery (CSRF) tokens.
//!
//! * The session cookie holds the wallet's own session token (the web site
//!   keeps no session store of its own): `HttpOnly`, `SameSite=Strict`,
//!   `Path=/`, and `Secure` with the `__Host-` name prefix (RFC 6265bis
//!   §4.1.3.2) when the site is served over https. It lives as long as the
//!   wallet session.
//! * Every form that changes something carries a synchronizer token tied to
//!   the session (OWASP CSRF Prevention Cheat Sheet, "Synchronizer Token
//!   Pattern", with the token derived instead of stored): HMAC-SHA-256
//!   under a per-process 256-bit key of the session token, base64url. A
//!   token from another session or from before a logout does not verify;
//!   comparison is constant-time. The sign-in form is protected the same way
//!   against login CSRF with a random pre-session cookie.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use paytap_types::Secret;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Session cookie name over plain http (loopback, development).
pub const SESSION_COOKIE: &str = "pt_session";
/// Session cookie name over https (`__Host-` prefix: Secure, Path=/, no Domain).
pub const SESSION_COOKIE_SECURE: &str = "__Host-pt_session";
/// Pre-session cookie the sign-in form's CSRF token is tied to.
pub const LOGIN_COOKIE: &str = "pt_login";
/// The language chosen before signing in.
pub const LANG_COOKIE: &str = "pt_lang";
/// A one-shot notice shown after a redirect.
pub const FLASH_COOKIE: &str = "pt_flash";

/// The key CSRF tokens are computed under. Wiped on drop, never printed.
#[derive(Debug)]
pub struct CsrfKey(Secret<[u8; 32]>);

impl CsrfKey {
    /// A fresh random key (tokens do not survive a restart; forms in open
    /// tabs then ask for a reload).
    pub fn random() -> CsrfKey {
        let mut k = Secret::new([0u8; 32]);
        rand::fill(k.expose_mut());
        CsrfKey(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> CsrfKey {
        CsrfKey(Secret::new(bytes))
    }

    fn mac(&self, purpose: &[u8], binding: &str) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose()) else {
            return [0u8; 32];
        };
        mac.update(purpose);
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The token for forms of the session `session_token`.
    pub fn session_token(&self, session_token: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"paytap-web csrf v1 session", session_token))
    }

    /// The token for the sign-in form of the pre-session `login_nonce`.
    pub fn login_token(&self, login_nonce: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"paytap-web csrf v1 login", login_nonce))
    }

    /// Constant-time check of a submitted session form token.
    pub fn verify_session(&self, session_token: &str, submitted: &str) -> bool {
        ct_eq(&self.session_token(session_token), submitted)
    }

    /// Constant-time check of a submitted sign-in form token.
    pub fn verify_login(&self, login_nonce: &str, submitted: &str) -> bool {
        !login_nonce.is_empty() && ct_eq(&self.login_token(login_nonce), submitted)
    }
}

fn ct_eq(expected: &str, submitted: &str) -> bool {
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// A random value for a pre-session cookie or a script nonce (128 bits,
/// base64url).
pub fn random_nonce() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265
/// §5.4 syntax: `a=b; c=d`), the first one when repeated.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// The session token from the request's cookies, if any.
pub fn session_from(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    cookie(headers, SESSION_COOKIE_SECURE)
        .or_else(|| cookie(headers, SESSION_COOKIE))
        .filter(|t| !t.is_empty() && t.len() <= 256 && t.bytes().all(is_token_byte))
        .map(|t| Zeroizing::new(t.to_string()))
}

/// Bytes allowed in a cookie value we set or accept (RFC 6265 cookie-octet
/// minus the quote): base64url and the few separators our values use.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Whether the request reached the site over https (directly, or through a
/// proxy that says so with `X-Forwarded-Proto` / `Forwarded: proto=`).
pub fn is_https(headers: &HeaderMap, uri_scheme: Option<&str>) -> bool {
    if uri_scheme == Some("https") {
        return true;
    }
    if let Some(p) = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        && p.split(',')
            .next()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("https"))
    {
        return true;
    }
    headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').next().is_some_and(|first| {
                first.split(';').any(|kv| {
                    kv.trim().split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("proto")
                            && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                    })
                })
            })
        })
}

/// Builds a `Set-Cookie` value: always `Path=/; HttpOnly; SameSite=Strict`,
/// `Secure` when `secure`; `max_age` in seconds (0 deletes the cookie).
pub fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let mut s = format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
        max_age.max(0)
    );
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("pt_invalid=; Max-Age=0"))
}

/// The session cookie's name for this scheme.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_to_their_session() {
        let key = CsrfKey::from_bytes([7u8; 32]);
        let t = key.session_token("pt_cn_aaaa");
        assert_eq!(t.len(), 43);
        assert!(key.verify_session("pt_cn_aaaa", &t));
        assert!(!key.verify_session("pt_cn_aaab", &t));
        assert!(!key.verify_session("pt_cn_aaaa", ""));
        assert!(!key.verify_session("pt_cn_aaaa", &t[..42]));
        // The login purpose is domain-separated from the session purpose.
        assert!(!key.verify_login("pt_cn_aaaa", &t));
        assert!(key.verify_login("n1", &key.login_token("n1")));
        assert!(!key.verify_login("", &key.login_token("")));
        // Another key gives other tokens.
        let other = CsrfKey::from_bytes([8u8; 32]);
        assert!(!other.verify_session("pt_cn_aaaa", &t));
    }

    #[test]
    fn csrf_token_is_hmac_sha256_known_answer() {
        // HMAC-SHA-256(key = 32 x 0x00, "paytap-web csrf v1 session" || u64be(1) || "x")
        let key = CsrfKey::from_bytes([0u8; 32]);
        let mut mac = Hmac::<Sha256>::new_from_slice(&[0u8; 32]).unwrap();
        mac.update(b"paytap-web csrf v1 session\0\0\0\0\0\0\0\x01x");
        let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(key.session_token("x"), expected);
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; pt_session=pt_cn_abc ; b=2"),
        );
        h.append(COOKIE, HeaderValue::from_static("pt_lang=zh"));
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "pt_lang"), Some("zh"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(
            session_from(&h).as_deref().map(String::as_str),
            Some("pt_cn_abc")
        );
        let mut bad = HeaderMap::new();
        bad.append(COOKIE, HeaderValue::from_static("pt_session=a<b"));
        assert!(session_from(&bad).is_none());
    }

    #[test]
    fn https_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_https(&h, None));
        assert!(is_https(&h, Some("https")));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(is_https(&h, None));
        let mut f = HeaderMap::new();
        f.insert(
            "forwarded",
            HeaderValue::from_static("for=1.2.3.4;proto=https;by=x"),
        );
        assert!(is_https(&f, None));
        f.insert(
            "forwarded",
            HeaderValue::from_static("for=1.2.3.4;proto=http"),
        );
        assert!(!is_https(&f, None));
    }

    #[test]
    fn set_cookie_attributes() {
        let v = set_cookie("pt_session", "t", 60, true);
        let s = v.to_str().unwrap();
        assert_eq!(
            s,
            "pt_session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let d = set_cookie("pt_session", "", -5, false);
        assert_eq!(
            d.to_str().unwrap(),
            "pt_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
    }
}
