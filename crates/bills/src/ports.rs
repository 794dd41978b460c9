//! What the service talks to, each through a small trait so the service is
//! tested alone: the UPI switch ([`UpiSwitchPort`], over HTTP by
//! [`HttpSwitch`]), the card network ([`CardPort`]) and the billers and
//! operators ([`BillerHost`], emulated by [`EmulatedBillers`]).

use paytap_bbps::{Bill, Biller, CustomerParams, emulated_bill};
use paytap_types::{Money, Secret};
use paytap_upi::xml::{Message, ReqPay, RespPay, decode, encode};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

/// A boxed future, so the ports can be shared as `dyn` objects.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The UPI switch as a PSP reaches it.
pub trait UpiSwitchPort: Send + Sync {
    /// Sends a ReqPay; `Ok(None)` while the transaction is in flight (the
    /// same request, sent again, answers once it has an outcome); `Err` when
    /// the switch could not be reached or answered with no message.
    fn pay(&self, req: ReqPay) -> BoxFut<'_, Result<Option<RespPay>, String>>;
}

/// The payer's PSP: the account behind one of its users' UPI ids.
pub trait PayerAccounts: Send + Sync {
    /// The account `vpa` pays from, if the PSP knows the address.
    fn account_of<'a>(
        &'a self,
        vpa: &'a paytap_upi::Vpa,
    ) -> BoxFut<'a, Result<Option<paytap_upi::xml::Account>, String>>;
}

/// How long a request to the switch may take before its outcome counts as
/// not known (the payment is then asked about again, never charged twice).
pub const SWITCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The switch's XML endpoint `POST {base}/upi/switch/ReqPay`, each request
/// signed with the aggregator's key ([`paytap_upi::sign`]).
#[derive(Clone)]
pub struct HttpSwitch {
    url: String,
    client: reqwest::Client,
    org: String,
    key: Secret<[u8; 32]>,
}

impl std::fmt::Debug for HttpSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSwitch")
            .field("url", &self.url)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl HttpSwitch {
    /// The switch at `base` (`http://127.0.0.1:8080`), signed for as `org`
    /// with `key` (the key the switch registered for it).
    pub fn new(base: &str, org: &str, key: [u8; 32]) -> Result<HttpSwitch, String> {
        let client = reqwest::Client::builder()
            .timeout(SWITCH_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpSwitch {
            url: format!("{}/upi/switch/ReqPay", base.trim_end_matches('/')),
            client,
            org: org.to_owned(),
            key: Secret::new(key),
        })
    }

    async fn send(&self, req: ReqPay) -> Result<Option<RespPay>, String> {
        let body = encode(&Message::ReqPay(req)).map_err(|e| e.to_string())?;
        let signature = paytap_upi::sign::sign(&self.org, self.key.expose(), body.as_bytes());
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/xml")
            .header(paytap_upi::sign::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if status == reqwest::StatusCode::ACCEPTED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("switch answered {status}"));
        }
        match decode(&bytes).map_err(|e| e.to_string())? {
            Message::RespPay(r) => Ok(Some(r)),
            other => Err(format!("switch answered {}", other.name())),
        }
    }
}

impl UpiSwitchPort for HttpSwitch {
    fn pay(&self, req: ReqPay) -> BoxFut<'_, Result<Option<RespPay>, String>> {
        Box::pin(self.send(req))
    }
}

/// A card payment to a biller or operator as the merchant.
#[derive(Debug, Clone)]
pub struct CardCharge {
    /// The payment's id: the key the network is idempotent by.
    pub payment_id: String,
    /// The wallet account paying.
    pub account_id: String,
    /// The wallet's id of the card.
    pub card_id: String,
    /// The merchant: the biller's or operator's id.
    pub merchant_id: String,
    /// Its name, as on a statement.
    pub merchant_name: String,
    /// Its merchant category code.
    pub mcc: String,
    /// What is charged.
    pub amount: Money,
}

/// A rail's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeAnswer {
    /// Taken; the rail's reference (UPI RRN, card approval code).
    Charged(String),
    /// Refused, with the rail's code.
    Declined(String),
    /// Not known yet.
    Unknown,
}

/// The card network as the billers' acquirer reaches it.
pub trait CardPort: Send + Sync {
    /// Authorizes and captures `charge` (idempotent by its payment id).
    fn charge(&self, charge: &CardCharge) -> BoxFut<'_, ChargeAnswer>;
    /// Reverses the charge of `charge.payment_id`; `true` once the money is
    /// back (or was never taken).
    fn reverse(&self, charge: &CardCharge) -> BoxFut<'_, bool>;
}

/// Why a biller or operator did not answer as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// It is not answering.
    #[error("the biller is not answering")]
    Down,
    /// It answered no.
    #[error("the biller refused: {0}")]
    Refused(String),
}

/// The billers and operators, as the bill service meets them.
pub trait BillerHost: Send + Sync {
    /// The bill `params` owe `biller` on the day of `now`.
    fn fetch<'a>(
        &'a self,
        biller: &'a Biller,
        params: &'a CustomerParams,
        now: i64,
    ) -> BoxFut<'a, Result<Bill, HostError>>;
    /// Tells biller or operator `payee` that payment `payment_id` of
    /// `amount` paise was made; its reference number. Idempotent by the
    /// payment id.
    fn confirm<'a>(
        &'a self,
        payee: &'a str,
        payment_id: &'a str,
        amount: u64,
    ) -> BoxFut<'a, Result<String, HostError>>;
}

/// The emulated billers and operators: each bill is the one
/// [`paytap_bbps::emulated_bill`] makes, each confirmation's reference is
/// derived from the payment id (the same on every retry), and any of them
/// can be made to be down or to refuse payments (tests, the demo, the lab).
#[derive(Debug, Default)]
pub struct EmulatedBillers {
    down: Mutex<HashSet<String>>,
    refusing: Mutex<HashSet<String>>,
}

/// Digits of hex in an emulated confirmation's reference after `BBPS`.
const REFERENCE_HEX: usize = 12;

impl EmulatedBillers {
    /// Every biller and operator up.
    pub fn new() -> EmulatedBillers {
        EmulatedBillers::default()
    }

    /// Makes biller or operator `id` stop answering, or answer again.
    pub fn set_down(&self, id: &str, down: bool) {
        toggle(&self.down, id, down);
    }

    /// Makes biller or operator `id` refuse payments, or take them again.
    pub fn set_refusing(&self, id: &str, refusing: bool) {
        toggle(&self.refusing, id, refusing);
    }

    fn state(&self, id: &str) -> Result<(), HostError> {
        if paytap_types::sync::lock(&self.down, "emulated billers down").contains(id) {
            return Err(HostError::Down);
        }
        if paytap_types::sync::lock(&self.refusing, "emulated billers refusing").contains(id) {
            return Err(HostError::Refused("payments are not accepted now".into()));
        }
        Ok(())
    }
}

fn toggle(set: &Mutex<HashSet<String>>, id: &str, on: bool) {
    let mut set = paytap_types::sync::lock(set, "emulated billers");
    if on {
        set.insert(id.to_owned());
    } else {
        set.remove(id);
    }
}

impl BillerHost for EmulatedBillers {
    fn fetch<'a>(
        &'a self,
        biller: &'a Biller,
        params: &'a CustomerParams,
        now: i64,
    ) -> BoxFut<'a, Result<Bill, HostError>> {
        let answer = match paytap_types::sync::lock(&self.down, "emulated billers down")
            .contains(&biller.id)
        {
            true => Err(HostError::Down),
            false => Ok(emulated_bill(biller, params, now)),
        };
        Box::pin(std::future::ready(answer))
    }

    fn confirm<'a>(
        &'a self,
        payee: &'a str,
        payment_id: &'a str,
        _amount: u64,
    ) -> BoxFut<'a, Result<String, HostError>> {
        let answer = self.state(payee).map(|()| {
            let digest = Sha256::digest(format!("{payee}:{payment_id}"));
            let hex = hex::encode_upper(digest);
            format!("BBPS{}", &hex[..REFERENCE_HEX])
        });
        Box::pin(std::future::ready(answer))
    }
}
