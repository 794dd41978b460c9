//! The wallet's typed errors. Each has a stable machine code (the API's
//! `error.code`) and a message fit to show to a person; none carries a card
//! number, CVV, password, passcode or session token.

use paytap_store::StoreError;

use crate::port::NetworkError;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A request field is missing or invalid; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// No session, or a session that is unknown, logged out or expired.
    #[error("not logged in or the session has expired")]
    Unauthenticated,
    #[error("wrong login or password")]
    InvalidCredentials,
    /// Sign-in from this address is held back after repeated wrong
    /// passwords ([`crate::throttle`]); it may try again after the wait.
    #[error("too many attempts, try again in {}", wait_text(*retry_after_secs))]
    TooManyAttempts { retry_after_secs: u64 },
    /// Password hashing is at capacity ([`crate::limits`]).
    #[error("the service is busy, try again in {}", wait_text(*retry_after_secs))]
    Busy { retry_after_secs: u64 },
    /// The thing does not exist or belongs to another account (the API does
    /// not tell the two apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("an account with this login already exists")]
    LoginTaken,
    #[error(
        "this device already holds {limit} cards, the most it can hold; remove a card before adding another"
    )]
    CardLimit { limit: u32 },
    /// The device type cannot hold this credential (a band holds no card token).
    #[error("a {kind} cannot hold payment cards; add the card to a phone or watch")]
    CardsNotSupported { kind: &'static str },
    #[error("payments are turned off on this device; turn them back on first")]
    DeviceSuspended,
    /// The issuer refused the card (red ID&V path).
    #[error("the bank declined to add this card: {reason}")]
    CardDeclined { reason: String },
    #[error("this card is already on this device")]
    DuplicateCard,
    #[error("the one-time passcode is incorrect; {attempts_left} attempts left")]
    OtpIncorrect { attempts_left: u32 },
    #[error("the one-time passcode has expired; add the card again")]
    OtpExpired,
    #[error("too many incorrect passcodes; add the card again")]
    OtpLocked,
    /// The `Idempotency-Key` was already used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyMismatch,
    /// The `Idempotency-Key` was already used on this route with another body.
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyBodyMismatch,
    #[error("{limit} commands are already waiting for this device; wait until it answers them")]
    CommandQueueFull { limit: u32 },
    #[error("the device already answered this command: it is {state}")]
    CommandFinished { state: &'static str },
    /// A transit operator refused a request about a card, saying why.
    #[error("the transit operator refused: {0}")]
    TransitRefused(String),
    #[error("the card network is unavailable, please try again")]
    Network(#[from] NetworkError),
    #[error("internal storage error")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(String),
}

/// A stored status text the wallet does not know: a row written by
/// something else, answered as an internal error rather than guessed at.
pub(crate) fn stored_text(e: paytap_types::UnknownText) -> WalletError {
    WalletError::Internal(format!("stored {e}"))
}

impl From<sqlx::Error> for WalletError {
    fn from(e: sqlx::Error) -> Self {
        WalletError::Store(StoreError::Sql(e))
    }
}

impl WalletError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        WalletError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WalletError::Invalid { .. } => "invalid_request",
            WalletError::Unauthenticated => "unauthenticated",
            WalletError::InvalidCredentials => "invalid_credentials",
            WalletError::TooManyAttempts { .. } => "too_many_attempts",
            WalletError::Busy { .. } => "busy",
            WalletError::NotFound(_) => "not_found",
            WalletError::LoginTaken => "login_taken",
            WalletError::CardLimit { .. } => "card_limit_reached",
            WalletError::CardsNotSupported { .. } => "device_cannot_hold_cards",
            WalletError::DeviceSuspended => "device_suspended",
            WalletError::CardDeclined { .. } => "card_declined",
            WalletError::DuplicateCard => "duplicate_card",
            WalletError::OtpIncorrect { .. } => "otp_incorrect",
            WalletError::OtpExpired => "otp_expired",
            WalletError::OtpLocked => "otp_locked",
            WalletError::IdempotencyMismatch => "idempotency_key_reused",
            WalletError::IdempotencyBodyMismatch => "idempotency_body_mismatch",
            WalletError::CommandQueueFull { .. } => "command_queue_full",
            WalletError::CommandFinished { .. } => "command_finished",
            WalletError::TransitRefused(_) => "transit_refused",
            WalletError::Network(_) => "network_unavailable",
            WalletError::Store(_) | WalletError::Internal(_) => "internal",
        }
    }

    /// The HTTP status the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            WalletError::Invalid { .. } => 422,
            WalletError::Unauthenticated | WalletError::InvalidCredentials => 401,
            WalletError::TooManyAttempts { .. } => 429,
            WalletError::Busy { .. } => 503,
            WalletError::NotFound(_) => 404,
            WalletError::LoginTaken
            | WalletError::CardLimit { .. }
            | WalletError::DeviceSuspended
            | WalletError::DuplicateCard
            | WalletError::CommandQueueFull { .. }
            | WalletError::CommandFinished { .. }
            | WalletError::TransitRefused(_)
            | WalletError::IdempotencyMismatch => 409,
            WalletError::CardsNotSupported { .. }
            | WalletError::CardDeclined { .. }
            | WalletError::OtpIncorrect { .. }
            | WalletError::IdempotencyBodyMismatch => 422,
            WalletError::OtpExpired | WalletError::OtpLocked => 410,
            WalletError::Network(_) => 502,
            WalletError::Store(_) | WalletError::Internal(_) => 500,
        }
    }

    /// Seconds the caller should wait before retrying (`Retry-After`).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            WalletError::TooManyAttempts { retry_after_secs }
            | WalletError::Busy { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The message for the person (internal details stay in the log).
    pub fn public_message(&self) -> String {
        self.to_string()
    }
}

/// "N seconds" below two minutes, else "N minutes" (rounded up).
pub fn wait_text(secs: u64) -> String {
    match secs {
        1 => "1 second".into(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}
