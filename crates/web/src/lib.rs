//! paytap's web site for the account holder, served by the wallet service
//! at `/` (the wallet's JSON API lives beside it under `/api/v1`).
//!
//! What a person can do here: sign in with their wallet account, see their
//! phones, watches and bands (type, last seen time and place, the cards on
//! each), **turn off payments on a lost or stolen device** (after a
//! confirmation step; it takes effect at once because the wallet suspends
//! every token of the device at the token service), turn them back on,
//! remove a device's cards, see their cards (brand-neutral card art with
//! the bank's name and the last four digits; default card; remove), and
//! follow their payments, newest first, updating live.
//!
//! The handlers call the wallet's service layer ([`paytap_wallet::Wallet`])
//! in-process with the wallet's own session, so the site and the JSON API
//! share accounts, sessions, lockouts and ownership checks; pages are
//! rendered from the wallet's own model types (none holds a card number).
//!
//! Module map:
//! * `app`: the state, the request context, the signed-in account, and
//!   `Failure`, the handlers' error (an `IntoResponse`: the localized
//!   message page, its status and `Retry-After`), so handlers use `?`;
//! * `signin`: sign-in and sign-out (through the wallet's throttle and
//!   hashing bound), the language switch;
//! * `devices`: the device list and page, payments off (lost, stolen) and
//!   back on, removing a device's cards;
//! * `cards`: the card list, default card, removing a card;
//! * [`bands`]: the band offline accounts (limit, balance, offline spending
//!   not yet uploaded, QR payments) and turning a band off, through the
//!   [`bands::BandPort`] the binary gives in [`WebConfig::bands`];
//! * `payments`: the history and its live feed;
//! * `transit`: the transit cards on the account's devices (balance as the
//!   operator knows it, status, trips, top-ups), through the wallet's
//!   attached operators (`paytap_wallet::transit`); a device turned off as
//!   lost has its cards hotlisted by the wallet;
//! * `bills`: an India account's bills (billers by category, fetch, pay
//!   over UPI, receipts, reminders); `recharge`: prepaid recharge (operator
//!   and circle detected from the number, plans, pay over UPI);
//! * `assets`: the stylesheet and the icon; `respond`: pages, redirects and security
//!   headers; `notice`: one-shot notices after a redirect;
//! * [`session`]: session cookie (the wallet's own session token) and CSRF
//!   synchronizer tokens;
//! * [`i18n`]: English, Simplified Chinese and Hindi;
//! * [`pages`]: the server-rendered HTML, by domain; `assets/site.css` the
//!   styles.
//!
//! Security choices, stated once:
//! * Cookies are `HttpOnly; SameSite=Strict; Path=/`, `Secure` (and the
//!   `__Host-` prefix) when served over https.
//! * Every POST checks its CSRF token before anything else; a bad or
//!   missing token answers 403 and changes nothing.
//! * Another account's device or card id, in a URL or a form, answers the
//!   same 404 as an id that does not exist, and changes nothing (the wallet
//!   checks ownership on every call).
//! * Responses carry a Content Security Policy with no inline script but
//!   the one the payments page needs (per-response nonce), `frame-ancestors
//!   'none'`, `nosniff`, `Referrer-Policy: same-origin`, and pages that show
//!   account data are `Cache-Control: no-store`.
//! * Form bodies are capped at 16 KiB; passwords are wiped after use and
//!   never logged.

mod app;
mod assets;
pub mod bands;
mod bills;
mod cards;
mod devices;
pub mod i18n;
mod locate;
mod notice;
pub mod pages;
mod payments;
mod recharge;
mod respond;
pub mod session;
mod signin;
mod transit;
mod upi;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use paytap_wallet::Wallet;

pub use app::WebConfig;
pub use i18n::Lang;
pub use session::CsrfKey;

use app::App;
use pages::FAVICON_PATH;

/// Largest form body accepted.
pub const FORM_LIMIT: usize = 16 * 1024;
/// Payments per history page.
pub const PAGE_SIZE: u32 = 25;

/// The web site over the wallet service, to merge at `/` beside the
/// wallet's API router.
pub fn router(wallet: Wallet) -> Router {
    let config = WebConfig {
        trusted_proxies: wallet.config().trusted_proxies.clone(),
        ..WebConfig::default()
    };
    router_with(wallet, config)
}

/// The web site over the wallet service, with explicit options.
pub fn router_with(wallet: Wallet, config: WebConfig) -> Router {
    let app = App::new(wallet, config);
    Router::new()
        .route("/", get(signin::home))
        .route("/login", get(signin::login_form).post(signin::login_submit))
        .route("/logout", post(signin::logout))
        .route("/language", post(signin::language))
        .route("/devices", get(devices::devices))
        .route("/devices/{device_id}", get(devices::device))
        .route(
            "/devices/{device_id}/turn-off",
            get(devices::turn_off_form).post(devices::turn_off),
        )
        .route("/devices/{device_id}/turn-on", post(devices::turn_on))
        .route(
            "/devices/{device_id}/remove-cards",
            get(devices::remove_all_form).post(devices::remove_all),
        )
        .route(
            "/devices/{device_id}/cards/{card_id}/default",
            post(cards::make_default),
        )
        .route(
            "/devices/{device_id}/cards/{card_id}/remove",
            get(cards::remove_card_form).post(cards::remove_card),
        )
        .route("/cards", get(cards::cards))
        .route("/bands", get(bands::bands))
        .route(
            "/bands/{band_id}/turn-off",
            get(bands::turn_off_form).post(bands::turn_off),
        )
        .route("/payments", get(payments::payments))
        .route("/payments/events", get(payments::payment_events))
        .route("/upi", get(upi::upi))
        .route("/transit", get(transit::transit))
        .route("/transit/{card_id}/move", post(transit::order_move))
        .route("/assets/site.css", get(assets::stylesheet))
        .route(FAVICON_PATH, get(assets::favicon))
        .merge(locate::routes())
        .merge(bills::routes())
        .merge(recharge::routes())
        .fallback(app::not_found)
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .with_state(app)
}
