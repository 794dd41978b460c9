//! Credentials: password hashing, session tokens and login normalisation
//! (failed-login throttling is [`crate::throttle`]).
//!
//! * Passwords are hashed with Argon2id (RFC 9106), version 0x13, a fresh
//!   16-byte random salt per account and, by default, the OWASP Password
//!   Storage Cheat Sheet's first recommended setting: m = 19 MiB,
//!   t = 2 passes, p = 1 lane, 32-byte output, stored as a PHC string
//!   (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Verification reads
//!   the parameters from the stored string, so they can be raised later
//!   without invalidating existing hashes.
//! * A session token is 256 random bits (the thread-local CSPRNG, seeded
//!   from the OS), base64url without padding, prefixed with the account's
//!   region (`pt_cn_...`) so the service knows which regional database to
//!   look in. Only its SHA-256 is stored.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::WalletError;
use crate::model::LoginKind;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for PasswordParams {
    /// m = 19 MiB, t = 2, p = 1 (OWASP's first Argon2id recommendation).
    fn default() -> Self {
        PasswordParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl PasswordParams {
    fn hasher(&self) -> Result<Argon2<'static>, WalletError> {
        let params = Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| WalletError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes `password` with a fresh random salt; returns the PHC string.
/// CPU- and memory-heavy: call from a blocking thread.
pub fn hash_password(password: &str, params: &PasswordParams) -> Result<String, WalletError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let hash = params
        .hasher()?
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| WalletError::Internal(format!("argon2: {e}")))?;
    Ok(hash.to_string())
}

/// True when `password` matches the stored PHC string. A malformed stored
/// string counts as a mismatch.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A new session token for an account in `region`.
pub fn new_session_token(region: &str) -> Zeroizing<String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::fill(&mut raw[..]);
    Zeroizing::new(format!("pt_{region}_{}", URL_SAFE_NO_PAD.encode(&raw[..])))
}

/// The region a token was issued in, if the token is well-formed.
pub fn token_region(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("pt_")?;
    let (region, secret) = rest.split_once('_')?;
    let region_ok =
        !region.is_empty() && region.len() <= 8 && region.bytes().all(|b| b.is_ascii_lowercase());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (region_ok && secret_ok).then_some(region)
}

/// Hex SHA-256 of a token, the form stored at rest.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Normalises a login: e-mail addresses are trimmed and lower-cased; phone
/// numbers must be E.164 (`+` then 8 to 15 digits; spaces and dashes are
/// dropped).
pub fn normalize_login(input: &str) -> Result<(String, LoginKind), WalletError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(WalletError::invalid(
            "login",
            "enter an e-mail address or a phone number",
        ));
    }
    if let Some(digits) = s.strip_prefix('+') {
        let mut out = String::from("+");
        for c in digits.chars() {
            match c {
                '0'..='9' => out.push(c),
                ' ' | '-' => {}
                _ => {
                    return Err(WalletError::invalid(
                        "login",
                        "a phone number may contain only digits after the +",
                    ));
                }
            }
        }
        let n = out.len() - 1;
        if !(8..=15).contains(&n) {
            return Err(WalletError::invalid(
                "login",
                "a phone number must have 8 to 15 digits after the country code +",
            ));
        }
        return Ok((out, LoginKind::Phone));
    }
    let lower = s.to_lowercase();
    let valid = lower.chars().count() <= 254
        && lower.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !lower.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok((lower, LoginKind::Email))
    } else {
        Err(WalletError::invalid(
            "login",
            "enter a valid e-mail address or a phone number starting with + and the country code",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash_password("correct horse", &cheap()).unwrap();
        let b = hash_password("correct horse", &cheap()).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "per-account salt");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsf", &a));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn default_parameters_are_documented_values() {
        let p = PasswordParams::default();
        assert_eq!((p.m_cost_kib, p.t_cost, p.p_cost), (19456, 2, 1));
    }

    #[test]
    fn tokens_carry_region_and_hash() {
        let t = new_session_token("cn");
        assert_eq!(token_region(&t), Some("cn"));
        assert_ne!(*t, *new_session_token("cn"));
        assert_eq!(token_hash(&t).len(), 64);
        for bad in [
            "",
            "pt_",
            "pt_cn_short",
            "xx_cn_0123",
            "pt__aaaa",
            "pt_CN_x",
        ] {
            assert_eq!(token_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn logins_normalise() {
        assert_eq!(
            normalize_login("  Li.Lei@Example.COM ").unwrap(),
            ("li.lei@example.com".into(), LoginKind::Email)
        );
        assert_eq!(
            normalize_login("+86 138-0013-8000").unwrap(),
            ("+8613800138000".into(), LoginKind::Phone)
        );
        for bad in [
            "",
            "lilei",
            "a@b",
            "@x.com",
            "+12",
            "+86abc",
            "a b@c.com",
            "x@.com",
        ] {
            assert!(normalize_login(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn login_normalisation_never_panics_and_is_idempotent(s in ".{0,60}") {
            if let Ok((l, kind)) = normalize_login(&s) {
                prop_assert_eq!(normalize_login(&l).unwrap(), (l.clone(), kind));
            }
        }

        #[test]
        fn token_region_never_panics(s in ".{0,60}") {
            let _ = token_region(&s);
        }
    }
}
